// CampaignStore on SQLite: its own file `<dataDir>/scomo-campaigns.db` next to the job store
// (WAL, synchronous=NORMAL: a process crash loses no committed change; target states are re-read
// from the job store on start, so a power cut costs at most the last batch of target states).
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Campaign, CampaignState, CampaignStore, CampaignTarget } from './types.js';
import { TARGET_DONE } from './types.js';

export const CAMPAIGNS_DB_FILE = 'scomo-campaigns.db';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS campaigns (
    campaign_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS campaigns_state ON campaigns(state);
  CREATE TABLE IF NOT EXISTS campaign_targets (
    campaign_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    wave INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (campaign_id, device_id)
  );
  CREATE TABLE IF NOT EXISTS device_tags (
    device_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (device_id, tag)
  );
  CREATE INDEX IF NOT EXISTS device_tags_tag ON device_tags(tag);
`;

export class SqliteCampaignStore implements CampaignStore {
  private db: Database.Database;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, CAMPAIGNS_DB_FILE));
    this.db.pragma('journal_mode = WAL');
    // NORMAL: a process crash loses nothing (WAL); target states are re-read from the job store on start.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  async putCampaign(c: Campaign): Promise<void> {
    this.db.prepare(`INSERT INTO campaigns (campaign_id, state, data, created_at) VALUES (?, ?, ?, ?)
      ON CONFLICT(campaign_id) DO UPDATE SET state = excluded.state, data = excluded.data`)
      .run(c.campaignId, c.state, JSON.stringify(c), c.createdAt);
  }

  async getCampaign(campaignId: string): Promise<Campaign | undefined> {
    const r = this.db.prepare('SELECT data FROM campaigns WHERE campaign_id = ?').get(campaignId) as { data: string } | undefined;
    return r ? (JSON.parse(r.data) as Campaign) : undefined;
  }

  async listCampaigns(opts: { activeOnly?: boolean; limit?: number } = {}): Promise<Campaign[]> {
    const limit = opts.limit ?? 1000;
    const rows = (opts.activeOnly
      ? this.db.prepare(`SELECT data FROM campaigns WHERE state IN ('running', 'paused') ORDER BY created_at DESC, campaign_id DESC LIMIT ?`).all(limit)
      : this.db.prepare('SELECT data FROM campaigns ORDER BY created_at DESC, campaign_id DESC LIMIT ?').all(limit)) as { data: string }[];
    return rows.map((r) => JSON.parse(r.data) as Campaign);
  }

  async putTargets(campaignId: string, targets: CampaignTarget[]): Promise<void> {
    const st = this.db.prepare(`INSERT INTO campaign_targets (campaign_id, device_id, wave, data) VALUES (?, ?, ?, ?)
      ON CONFLICT(campaign_id, device_id) DO UPDATE SET wave = excluded.wave, data = excluded.data`);
    this.db.transaction(() => { for (const t of targets) st.run(campaignId, t.deviceId, t.wave, JSON.stringify(t)); })();
  }

  async listTargets(campaignId: string): Promise<CampaignTarget[]> {
    const rows = this.db.prepare('SELECT data FROM campaign_targets WHERE campaign_id = ? ORDER BY wave, device_id').all(campaignId) as { data: string }[];
    return rows.map((r) => JSON.parse(r.data) as CampaignTarget);
  }

  async setTags(deviceId: string, tags: string[]): Promise<void> {
    const del = this.db.prepare('DELETE FROM device_tags WHERE device_id = ?');
    const ins = this.db.prepare('INSERT OR IGNORE INTO device_tags (device_id, tag) VALUES (?, ?)');
    this.db.transaction(() => { del.run(deviceId); for (const t of tags) ins.run(deviceId, t); })();
  }

  async getTags(deviceId: string): Promise<string[]> {
    return (this.db.prepare('SELECT tag FROM device_tags WHERE device_id = ? ORDER BY tag').all(deviceId) as { tag: string }[]).map((r) => r.tag);
  }

  async unfinishedTargetsOf(deviceId: string): Promise<{ campaignId: string; campaignState: CampaignState; target: CampaignTarget }[]> {
    // Looked up per active campaign through the (campaign_id, device_id) key.
    const rows = this.db.prepare(`SELECT c.campaign_id AS id, c.state AS state, t.data AS data FROM campaigns c
      JOIN campaign_targets t ON t.campaign_id = c.campaign_id AND t.device_id = ?
      WHERE c.state IN ('running', 'paused') ORDER BY c.created_at, c.campaign_id`).all(deviceId) as { id: string; state: CampaignState; data: string }[];
    return rows.map((r) => ({ campaignId: r.id, campaignState: r.state, target: JSON.parse(r.data) as CampaignTarget }))
      .filter((x) => !TARGET_DONE.includes(x.target.state));
  }

  async devicesWithAnyTag(tags: string[]): Promise<string[]> {
    if (!tags.length) return [];
    const rows = this.db.prepare(`SELECT DISTINCT device_id FROM device_tags WHERE tag IN (${tags.map(() => '?').join(', ')}) ORDER BY device_id`).all(...tags) as { device_id: string }[];
    return rows.map((r) => r.device_id);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
