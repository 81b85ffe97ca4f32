// WebhookStore on PostgreSQL, in the database of the DM storage and the job store; same contract
// as store-sqlite.ts. Several server processes share the outbox: a delivery is claimed with one
// UPDATE over rows picked FOR UPDATE SKIP LOCKED whose lease is free or ran out, so one process
// sends it at a time and a crashed process's claim expires. (webhook, job, state) is unique, so
// the same job change seen by every process is written once.
import type pg from 'pg';
import { pgTransaction, type PgStorage } from '../storage/postgres.js';
import type { Migration } from '../storage/sqlite.js';
import { eventsColumn } from './types.js';
import type { AttemptResult, ClaimedDelivery, Delivery, DeliveryState, NewDelivery, Webhook, WebhookStore } from './types.js';
import { claimedOfRow, deliveryOfRow, newDeliveryId, webhookOfRow } from './store-sqlite.js';

export const PG_WEBHOOK_MIGRATIONS: Migration[] = [
  {
    id: 'webhooks-001',
    sql: `
      CREATE TABLE webhooks (
        webhook_id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        secret TEXT,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE webhook_deliveries (
        seq BIGSERIAL,
        delivery_id TEXT PRIMARY KEY,
        webhook_id TEXT NOT NULL REFERENCES webhooks(webhook_id) ON DELETE CASCADE,
        job_id TEXT NOT NULL,
        state TEXT NOT NULL,
        event TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error TEXT,
        next_at BIGINT,
        delivered_at BIGINT,
        lease_owner TEXT,
        lease_until BIGINT,
        created_at BIGINT NOT NULL,
        UNIQUE (webhook_id, job_id, state)
      );
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_at);
      CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, created_at);
    `,
  },
];

/** PostgreSQL's foreign_key_violation: the webhook was deleted while its delivery was written. */
const FK_VIOLATION = '23503';

export class PgWebhookStore implements WebhookStore {
  private readonly pool: pg.Pool;

  private constructor(storage: PgStorage) {
    this.pool = storage.pool;
  }

  static async open(storage: PgStorage): Promise<PgWebhookStore> {
    await storage.applyMigrations(PG_WEBHOOK_MIGRATIONS);
    return new PgWebhookStore(storage);
  }

  private async q(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    return (await this.pool.query(sql, params)).rows as Record<string, unknown>[];
  }

  async putWebhook(w: Webhook): Promise<void> {
    await this.q('INSERT INTO webhooks (webhook_id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5)',
      [w.webhookId, w.url, eventsColumn(w.events), w.secret ?? null, w.createdAt]);
  }

  async getWebhook(webhookId: string): Promise<Webhook | undefined> {
    const r = await this.q('SELECT * FROM webhooks WHERE webhook_id = $1', [webhookId]);
    return r[0] ? webhookOfRow(r[0]) : undefined;
  }

  async listWebhooks(): Promise<Webhook[]> {
    return (await this.q('SELECT * FROM webhooks ORDER BY created_at, webhook_id COLLATE "C"')).map(webhookOfRow);
  }

  async deleteWebhook(webhookId: string): Promise<boolean> {
    // ON DELETE CASCADE drops its deliveries; a process sending one of them finds it gone (finish is a no-op).
    return (await this.pool.query('DELETE FROM webhooks WHERE webhook_id = $1', [webhookId])).rowCount! > 0;
  }

  async enqueue(d: NewDelivery): Promise<number> {
    const hooks = await this.q(`SELECT webhook_id FROM webhooks WHERE (events LIKE $1 OR events = ',*,') AND created_at <= $2`,
      [`%,${d.state},%`, d.changedAt ?? Number.MAX_SAFE_INTEGER]);
    let n = 0;
    for (const h of hooks) {
      const id = newDeliveryId();
      const w = h.webhook_id as string;
      try {
        const r = await this.pool.query(`INSERT INTO webhook_deliveries (delivery_id, webhook_id, job_id, state, event, body, status, next_at, created_at)
          VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7) ON CONFLICT (webhook_id, job_id, state) DO NOTHING`,
        [id, w, d.jobId, d.state, 'job.' + d.state, d.body(id), d.at]);
        n += r.rowCount ?? 0;
      } catch (e) {
        if ((e as { code?: string }).code !== FK_VIOLATION) throw e;
      }
    }
    return n;
  }

  async claim(owner: string, now: number, leaseUntil: number, limit: number): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    return pgTransaction(this.pool, async (c) => {
      const rows = (await c.query(`WITH picked AS (
          SELECT delivery_id FROM webhook_deliveries
          WHERE status = 'pending' AND next_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
          ORDER BY next_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED
        ), taken AS (
          UPDATE webhook_deliveries d SET lease_owner = $1, lease_until = $3 FROM picked
          WHERE d.delivery_id = picked.delivery_id
          RETURNING d.delivery_id, d.webhook_id, d.event, d.body, d.attempts
        )
        SELECT taken.*, w.url, w.secret FROM taken JOIN webhooks w ON w.webhook_id = taken.webhook_id`,
      [owner, now, leaseUntil, limit])).rows as Record<string, unknown>[];
      return rows.map(claimedOfRow);
    });
  }

  async finish(deliveryId: string, owner: string, r: AttemptResult): Promise<boolean> {
    const status: DeliveryState = r.ok ? 'delivered' : r.nextAt === null ? 'failed' : 'pending';
    const res = await this.pool.query(`UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_status = $2, last_error = $3,
        next_at = $4, delivered_at = $5, lease_owner = NULL, lease_until = NULL
      WHERE delivery_id = $6 AND lease_owner = $7 AND status = 'pending'`,
    [status, r.status, r.error, status === 'pending' ? r.nextAt : null, r.ok ? r.at : null, deliveryId, owner]);
    return (res.rowCount ?? 0) > 0;
  }

  async release(owner: string): Promise<void> {
    await this.q('UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1', [owner]);
  }

  async prune(before: number): Promise<number> {
    return (await this.pool.query(`DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1`, [before])).rowCount ?? 0;
  }

  async listDeliveries(webhookId: string, limit: number): Promise<Delivery[]> {
    return (await this.q('SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_at DESC, seq DESC LIMIT $2', [webhookId, limit])).map(deliveryOfRow);
  }

  /** The pool belongs to the PgStorage it was opened on. */
  async close(): Promise<void> {}
}
