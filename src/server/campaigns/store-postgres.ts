// CampaignStore on PostgreSQL, in the database of the DM storage (PgStorage) and the job store;
// same contract as store-sqlite.ts. Tables are created by a numbered migration recorded in
// schema_migrations. Text ordering uses COLLATE "C" so lists come back in the byte order SQLite uses.
import type pg from 'pg';
import type { Campaign, CampaignState, CampaignStore, CampaignTarget } from './types.js';
import { TARGET_DONE } from './types.js';
import { pgTransaction, type PgStorage } from '../storage/postgres.js';
import type { Migration } from '../storage/sqlite.js';

export const PG_CAMPAIGN_MIGRATIONS: Migration[] = [
  {
    id: 'campaigns-001',
    sql: `
      CREATE TABLE campaigns (
        campaign_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX campaigns_state ON campaigns(state);
      CREATE TABLE campaign_targets (
        campaign_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        wave INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (campaign_id, device_id)
      );
      CREATE TABLE device_tags (
        device_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (device_id, tag)
      );
      CREATE INDEX device_tags_tag ON device_tags(tag);
    `,
  },
];

/** Targets per INSERT statement (PostgreSQL allows 65535 parameters). */
const BATCH = 1000;

export class PgCampaignStore implements CampaignStore {
  private readonly pool: pg.Pool;

  private constructor(storage: PgStorage) {
    this.pool = storage.pool;
  }

  /** Applies the campaign migrations to the storage's database. */
  static async open(storage: PgStorage): Promise<PgCampaignStore> {
    await storage.applyMigrations(PG_CAMPAIGN_MIGRATIONS);
    return new PgCampaignStore(storage);
  }

  private async q(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    return (await this.pool.query(sql, params)).rows as Record<string, unknown>[];
  }

  private async tx(fn: (c: pg.PoolClient) => Promise<void>): Promise<void> {
    await pgTransaction(this.pool, fn);
  }

  async putCampaign(c: Campaign): Promise<void> {
    await this.q(`INSERT INTO campaigns (campaign_id, state, data, created_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (campaign_id) DO UPDATE SET state = excluded.state, data = excluded.data`,
    [c.campaignId, c.state, JSON.stringify(c), c.createdAt]);
  }

  async getCampaign(campaignId: string): Promise<Campaign | undefined> {
    const r = await this.q('SELECT data FROM campaigns WHERE campaign_id = $1', [campaignId]);
    return r[0] ? (JSON.parse(r[0].data as string) as Campaign) : undefined;
  }

  async listCampaigns(opts: { activeOnly?: boolean; limit?: number } = {}): Promise<Campaign[]> {
    const limit = opts.limit ?? 1000;
    const rows = opts.activeOnly
      ? await this.q(`SELECT data FROM campaigns WHERE state IN ('running', 'paused') ORDER BY created_at DESC, campaign_id COLLATE "C" DESC LIMIT $1`, [limit])
      : await this.q('SELECT data FROM campaigns ORDER BY created_at DESC, campaign_id COLLATE "C" DESC LIMIT $1', [limit]);
    return rows.map((r) => JSON.parse(r.data as string) as Campaign);
  }

  async putTargets(campaignId: string, targets: CampaignTarget[]): Promise<void> {
    if (!targets.length) return;
    await this.tx(async (c) => {
      for (let i = 0; i < targets.length; i += BATCH) {
        const part = targets.slice(i, i + BATCH);
        const params: unknown[] = [campaignId];
        const values = part.map((t) => {
          params.push(t.deviceId, t.wave, JSON.stringify(t));
          const n = params.length;
          return `($1, $${n - 2}, $${n - 1}, $${n})`;
        });
        await c.query(`INSERT INTO campaign_targets (campaign_id, device_id, wave, data) VALUES ${values.join(', ')}
          ON CONFLICT (campaign_id, device_id) DO UPDATE SET wave = excluded.wave, data = excluded.data`, params);
      }
    });
  }

  async listTargets(campaignId: string): Promise<CampaignTarget[]> {
    const rows = await this.q('SELECT data FROM campaign_targets WHERE campaign_id = $1 ORDER BY wave, device_id COLLATE "C"', [campaignId]);
    return rows.map((r) => JSON.parse(r.data as string) as CampaignTarget);
  }

  async setTags(deviceId: string, tags: string[]): Promise<void> {
    await this.tx(async (c) => {
      await c.query('DELETE FROM device_tags WHERE device_id = $1', [deviceId]);
      if (tags.length) {
        await c.query('INSERT INTO device_tags (device_id, tag) SELECT $1, t FROM unnest($2::text[]) AS t ON CONFLICT DO NOTHING', [deviceId, tags]);
      }
    });
  }

  async getTags(deviceId: string): Promise<string[]> {
    return (await this.q('SELECT tag FROM device_tags WHERE device_id = $1 ORDER BY tag COLLATE "C"', [deviceId])).map((r) => r.tag as string);
  }

  async unfinishedTargetsOf(deviceId: string): Promise<{ campaignId: string; campaignState: CampaignState; target: CampaignTarget }[]> {
    const rows = await this.q(`SELECT c.campaign_id AS id, c.state AS state, t.data AS data FROM campaigns c
      JOIN campaign_targets t ON t.campaign_id = c.campaign_id AND t.device_id = $1
      WHERE c.state IN ('running', 'paused') ORDER BY c.created_at, c.campaign_id COLLATE "C"`, [deviceId]);
    return rows.map((r) => ({ campaignId: r.id as string, campaignState: r.state as CampaignState, target: JSON.parse(r.data as string) as CampaignTarget }))
      .filter((x) => !TARGET_DONE.includes(x.target.state));
  }

  async devicesWithAnyTag(tags: string[]): Promise<string[]> {
    if (!tags.length) return [];
    const rows = await this.q('SELECT DISTINCT device_id COLLATE "C" AS device_id FROM device_tags WHERE tag = ANY($1::text[]) ORDER BY 1', [tags]);
    return rows.map((r) => r.device_id as string);
  }

  /** The pool belongs to the PgStorage it was opened on. */
  async close(): Promise<void> {}
}
