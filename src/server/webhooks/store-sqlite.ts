// WebhookStore on SQLite: its own file `<dataDir>/scomo-webhooks.db` (WAL). One server process
// owns a data directory, so the leases of a previous run (a crash mid-request) are given back on open.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { eventsColumn, eventsFromColumn } from './types.js';
import type { AttemptResult, ClaimedDelivery, Delivery, DeliveryState, NewDelivery, Webhook, WebhookStore } from './types.js';

export const WEBHOOKS_DB_FILE = 'scomo-webhooks.db';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS webhooks (
    webhook_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS webhook_deliveries (
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
    next_at INTEGER,
    delivered_at INTEGER,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (webhook_id, job_id, state)
  );
  CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(status, next_at);
  CREATE INDEX IF NOT EXISTS webhook_deliveries_hook ON webhook_deliveries(webhook_id, created_at);
`;

export function newDeliveryId(): string {
  return 'dlv-' + randomBytes(10).toString('hex');
}

type Row = Record<string, unknown>;

export function webhookOfRow(r: Row): Webhook {
  return {
    webhookId: r.webhook_id as string, url: r.url as string, events: eventsFromColumn(r.events as string),
    ...(r.secret != null ? { secret: r.secret as string } : {}), createdAt: Number(r.created_at),
  };
}

export function deliveryOfRow(r: Row): Delivery {
  const n = (v: unknown): number | null => (v == null ? null : Number(v));
  return {
    deliveryId: r.delivery_id as string, webhookId: r.webhook_id as string, event: r.event as string, jobId: r.job_id as string,
    state: r.state as string, status: r.status as DeliveryState, attempts: Number(r.attempts), lastStatus: n(r.last_status),
    lastError: (r.last_error as string | null) ?? null, nextAt: n(r.next_at), deliveredAt: n(r.delivered_at), createdAt: Number(r.created_at),
  };
}

export function claimedOfRow(r: Row): ClaimedDelivery {
  return {
    deliveryId: r.delivery_id as string, webhookId: r.webhook_id as string, event: r.event as string, url: r.url as string,
    secret: (r.secret as string | null) ?? null, body: r.body as string, attempts: Number(r.attempts),
  };
}

export class SqliteWebhookStore implements WebhookStore {
  private db: Database.Database;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, WEBHOOKS_DB_FILE));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
    this.db.prepare('UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL').run();
  }

  async putWebhook(w: Webhook): Promise<void> {
    this.db.prepare('INSERT INTO webhooks (webhook_id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(w.webhookId, w.url, eventsColumn(w.events), w.secret ?? null, w.createdAt);
  }

  async getWebhook(webhookId: string): Promise<Webhook | undefined> {
    const r = this.db.prepare('SELECT * FROM webhooks WHERE webhook_id = ?').get(webhookId) as Row | undefined;
    return r ? webhookOfRow(r) : undefined;
  }

  async listWebhooks(): Promise<Webhook[]> {
    return (this.db.prepare('SELECT * FROM webhooks ORDER BY created_at, webhook_id').all() as Row[]).map(webhookOfRow);
  }

  async deleteWebhook(webhookId: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM webhook_deliveries WHERE webhook_id = ?').run(webhookId);
      return this.db.prepare('DELETE FROM webhooks WHERE webhook_id = ?').run(webhookId).changes > 0;
    })();
  }

  async enqueue(d: NewDelivery): Promise<number> {
    const hooks = this.db.prepare(`SELECT webhook_id FROM webhooks WHERE (events LIKE ? OR events = ',*,') AND created_at <= ?`)
      .all(`%,${d.state},%`, d.changedAt ?? Number.MAX_SAFE_INTEGER) as Row[];
    if (!hooks.length) return 0;
    const ins = this.db.prepare(`INSERT INTO webhook_deliveries (delivery_id, webhook_id, job_id, state, event, body, status, next_at, created_at)
      SELECT ?, ?, ?, ?, ?, ?, 'pending', ?, ? WHERE EXISTS (SELECT 1 FROM webhooks WHERE webhook_id = ?)
      ON CONFLICT (webhook_id, job_id, state) DO NOTHING`);
    let n = 0;
    this.db.transaction(() => {
      for (const h of hooks) {
        const id = newDeliveryId();
        const w = h.webhook_id as string;
        n += ins.run(id, w, d.jobId, d.state, 'job.' + d.state, d.body(id), d.at, d.at, w).changes;
      }
    })();
    return n;
  }

  async claim(owner: string, now: number, leaseUntil: number, limit: number): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    return this.db.transaction(() => {
      const rows = this.db.prepare(`SELECT d.delivery_id, d.webhook_id, d.event, d.body, d.attempts, w.url, w.secret
        FROM webhook_deliveries d JOIN webhooks w ON w.webhook_id = d.webhook_id
        WHERE d.status = 'pending' AND d.next_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?)
        ORDER BY d.next_at, d.delivery_id LIMIT ?`).all(now, now, limit) as Row[];
      const take = this.db.prepare('UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ? WHERE delivery_id = ?');
      for (const r of rows) take.run(owner, leaseUntil, r.delivery_id);
      return rows.map(claimedOfRow);
    }).immediate();
  }

  async finish(deliveryId: string, owner: string, r: AttemptResult): Promise<boolean> {
    const status: DeliveryState = r.ok ? 'delivered' : r.nextAt === null ? 'failed' : 'pending';
    return this.db.prepare(`UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, last_status = ?, last_error = ?,
        next_at = ?, delivered_at = ?, lease_owner = NULL, lease_until = NULL
      WHERE delivery_id = ? AND lease_owner = ? AND status = 'pending'`)
      .run(status, r.status, r.error, status === 'pending' ? r.nextAt : null, r.ok ? r.at : null, deliveryId, owner).changes > 0;
  }

  async release(owner: string): Promise<void> {
    if (!this.db.open) return;
    this.db.prepare('UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?').run(owner);
  }

  async prune(before: number): Promise<number> {
    return this.db.prepare(`DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ?`).run(before).changes;
  }

  async listDeliveries(webhookId: string, limit: number): Promise<Delivery[]> {
    return (this.db.prepare('SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?')
      .all(webhookId, limit) as Row[]).map(deliveryOfRow);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
