// PostgreSQL implementation of Storage (node-postgres), for several server processes on one
// database. What SQLite gets from being one process, this gets from PostgreSQL:
// - `exclusive(key, fn)`: fn runs in ONE transaction holding a transaction-scoped advisory lock
//   on the key (the DM server passes the device), so a device's requests are serialised across
//   processes and a process killed mid-request leaves nothing half-applied (the transaction is
//   rolled back when its connection drops). Storage calls made inside fn (found through
//   AsyncLocalStorage) go to that transaction.
// - queued entries are read `FOR UPDATE SKIP LOCKED`: an entry offered to one session is
//   invisible to any other until that transaction ends (no double delivery).
// - alerts carry a unique key (device, session, code, correlator, items): the same alert applied
//   twice (a request retried on another process after the first died) is stored once.
// - events between processes go over LISTEN/NOTIFY on one channel; a NOTIFY sent inside
//   `exclusive` is delivered only when its transaction commits.
import pg from 'pg';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import type { Command } from '../../codec/model.js';
import { toJson, fromJson } from './json.js';
import type { Migration } from './sqlite.js';
import type {
  Account, AccountPatch, CommandOutcome, QueueEntry, QueueState, ReceivedAlert, Storage, StorageEvent, StoredSession,
} from './types.js';


/** Runs `fn` in one transaction on a pooled client; a client whose ROLLBACK failed is discarded. */
export async function pgTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken = false;
  try {
    await c.query('BEGIN');
    const v = await fn(c);
    await c.query('COMMIT');
    return v;
  } catch (e) {
    try { await c.query('ROLLBACK'); } catch { broken = true; }
    throw e;
  } finally {
    c.release(broken);
  }
}
export const PG_DM_MIGRATIONS: Migration[] = [
  {
    id: 'dm-001-core',
    sql: `
      CREATE TABLE accounts (
        device_id TEXT PRIMARY KEY,
        client_user TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX accounts_user ON accounts(client_user);
      CREATE TABLE dm_sessions (
        key TEXT PRIMARY KEY,
        seq BIGSERIAL,
        device_id TEXT NOT NULL,
        device_uri TEXT NOT NULL DEFAULT '',
        session_id TEXT NOT NULL,
        state TEXT NOT NULL,
        last_reply TEXT,
        ended BOOLEAN NOT NULL DEFAULT FALSE,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX dm_sessions_dev ON dm_sessions(device_id, session_id);
      CREATE INDEX dm_sessions_uri ON dm_sessions(device_uri, session_id);
      CREATE INDEX dm_sessions_updated ON dm_sessions(updated_at);
      CREATE TABLE lo_chunks (
        session_key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (session_key, seq)
      );
      CREATE TABLE command_queue (
        id BIGSERIAL PRIMARY KEY,
        device_id TEXT NOT NULL,
        commands TEXT NOT NULL,
        tag TEXT,
        state TEXT NOT NULL,
        outcomes TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX command_queue_dev ON command_queue(device_id, state, id);
      CREATE INDEX command_queue_tag ON command_queue(tag);
      CREATE INDEX command_queue_state ON command_queue(state);
      CREATE TABLE alerts (
        id BIGSERIAL PRIMARY KEY,
        device_id TEXT NOT NULL,
        code INTEGER NOT NULL,
        correlator TEXT,
        items TEXT NOT NULL,
        session_key TEXT,
        received_at BIGINT NOT NULL,
        dedup_key TEXT NOT NULL UNIQUE
      );
      CREATE INDEX alerts_dev ON alerts(device_id, id);
    `,
  },
];

type Row = Record<string, unknown>;
type Queryable = pg.Pool | pg.PoolClient;

/** BIGINT/BIGSERIAL as JS numbers (ids and ms timestamps stay far below 2^53). */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Stable 64-bit advisory lock id for a string key. */
export function lockId(key: string): string {
  return createHash('sha256').update(key).digest().readBigInt64BE(0).toString();
}

const CHANNEL = 'scomo_events';

export interface PgEvent extends StorageEvent {
  from: string;
}

export class PgStorage implements Storage {
  readonly pool: pg.Pool;
  readonly shared = true;
  /** This process's id in events (its own notifications are not delivered back to it). */
  readonly processId = randomBytes(6).toString('hex');
  private readonly tx = new AsyncLocalStorage<pg.PoolClient>();
  private listener: pg.Client | undefined;
  private readonly subscribers = new Set<(e: StorageEvent) => void>();
  private closed = false;

  private constructor(readonly url: string, max: number) {
    this.pool = new pg.Pool({ connectionString: url, max, types: TYPES });
    // A connection that dies (database restart, shutdown) must not crash the process: the pool's
    // handler covers idle clients, this one the checked-out ones (the job store's owner-lock
    // client, a client held across a transaction); their next query reports the failure.
    this.pool.on('error', () => {});
    this.pool.on('connect', (c) => { c.on('error', () => {}); });
  }

  /** Connects, applies the DM migrations and starts listening for events. */
  static async open(url: string, opts: { max?: number } = {}): Promise<PgStorage> {
    const s = new PgStorage(url, opts.max ?? 20);
    try {
      await s.applyMigrations(PG_DM_MIGRATIONS);
      await s.listen();
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  private async listen(): Promise<void> {
    const c = new pg.Client({ connectionString: this.url, types: TYPES });
    c.on('error', () => {});
    // A lost listening connection (database restart) is re-opened; events sent meanwhile are
    // lost, which the pollers (waiting entries, alert cursor) cover.
    c.on('end', () => {
      if (this.listener !== c) return; // never became the listener: its opener retries
      this.listener = undefined;
      if (!this.closed) this.relisten();
    });
    await c.connect();
    c.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      let e: PgEvent;
      try { e = JSON.parse(n.payload) as PgEvent; } catch { return; }
      if (e.from === this.processId) return;
      for (const f of this.subscribers) f(e);
    });
    await c.query(`LISTEN ${CHANNEL}`);
    if (this.closed) { await c.end().catch(() => {}); return; }
    this.listener = c;
  }

  private relisten(): void {
    const t = setTimeout(() => {
      if (this.closed) return;
      this.listen().catch(() => this.relisten());
    }, 1000);
    t.unref();
  }

  /** The connection for a storage call: the current `exclusive` transaction's, else the pool. */
  private get db(): Queryable {
    return this.tx.getStore() ?? this.pool;
  }

  private async q(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.db.query(sql, params)).rows as Row[];
  }

  /** Applies the migrations not yet recorded, each in its own transaction, one process at a time. */
  async applyMigrations(list: Migration[]): Promise<void> {
    const c = await this.pool.connect();
    try {
      await c.query('SELECT pg_advisory_lock($1)', [lockId('scomo-migrations')]);
      try {
        await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
        for (const m of [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
          if ((await c.query('SELECT 1 FROM schema_migrations WHERE id = $1', [m.id])).rowCount) continue;
          await c.query('BEGIN');
          try {
            await c.query(m.sql);
            await c.query('INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)', [m.id, Date.now()]);
            await c.query('COMMIT');
          } catch (e) {
            await c.query('ROLLBACK');
            throw e;
          }
        }
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [lockId('scomo-migrations')]);
      }
    } finally {
      c.release();
    }
  }

  async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    if (this.tx.getStore()) return fn(); // already inside one (nested lock of the same work)
    const c = await this.pool.connect();
    let broken = false;
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [lockId('dm:' + key)]);
      const r = await this.tx.run(c, fn);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      try { await c.query('ROLLBACK'); } catch { broken = true; }
      throw e;
    } finally {
      c.release(broken);
    }
  }

  async publish(e: StorageEvent): Promise<void> {
    const payload: PgEvent = { ...e, from: this.processId };
    await this.q('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(payload)]);
  }

  subscribe(fn: (e: StorageEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => { this.subscribers.delete(fn); };
  }

  // ---- accounts ----

  async getAccount(deviceId: string): Promise<Account | undefined> {
    const r = await this.q('SELECT data FROM accounts WHERE device_id = $1', [deviceId]);
    return r[0] ? fromJson<Account>(r[0].data as string) : undefined;
  }

  async findAccountByUser(user: string): Promise<Account | undefined> {
    const r = await this.q('SELECT data FROM accounts WHERE client_user = $1 ORDER BY created_at LIMIT 1', [user]);
    return r[0] ? fromJson<Account>(r[0].data as string) : undefined;
  }

  async putAccount(a: Account): Promise<void> {
    await this.q(`INSERT INTO accounts (device_id, client_user, data, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (device_id) DO UPDATE SET client_user = excluded.client_user, data = excluded.data, updated_at = excluded.updated_at`,
    [a.deviceId, a.clientUser, toJson(a), a.createdAt, a.updatedAt]);
  }

  async updateAccount(deviceId: string, patch: AccountPatch): Promise<void> {
    const inTx = !!this.tx.getStore();
    const run = async (c: Queryable): Promise<void> => {
      const r = await c.query('SELECT data FROM accounts WHERE device_id = $1 FOR UPDATE', [deviceId]);
      if (!r.rows[0]) return;
      const cur = fromJson<Account>((r.rows[0] as Row).data as string);
      const next: Account = { ...cur, ...patch, deviceId, createdAt: cur.createdAt, updatedAt: Date.now() };
      await c.query('UPDATE accounts SET client_user = $1, data = $2, updated_at = $3 WHERE device_id = $4', [next.clientUser, toJson(next), next.updatedAt, deviceId]);
    };
    if (inTx) { await run(this.db); return; }
    await this.inTransaction(run);
  }

  private async inTransaction(fn: (c: pg.PoolClient) => Promise<void>): Promise<void> {
    await pgTransaction(this.pool, fn);
  }

  async listAccounts(): Promise<Account[]> {
    return (await this.q('SELECT data FROM accounts ORDER BY device_id COLLATE "C"')).map((r) => fromJson<Account>(r.data as string));
  }

  async deleteAccount(deviceId: string): Promise<boolean> {
    // One statement, so it is one unit inside or outside an `exclusive` transaction.
    const r = await this.q(`WITH s AS (DELETE FROM dm_sessions WHERE device_id = $1 RETURNING key),
      c AS (DELETE FROM lo_chunks WHERE session_key IN (SELECT key FROM s))
      DELETE FROM accounts WHERE device_id = $1 RETURNING device_id`, [deviceId]);
    return r.length === 1;
  }

  // ---- sessions ----

  private rowToSession(r: Row): StoredSession {
    const s: StoredSession = {
      key: r.key as string,
      deviceId: r.device_id as string,
      deviceUri: r.device_uri as string,
      sessionId: r.session_id as string,
      state: r.state as string,
      ended: r.ended === true,
      updatedAt: r.updated_at as number,
    };
    if (typeof r.last_reply === 'string') s.lastReply = fromJson(r.last_reply);
    return s;
  }

  async getSession(key: string): Promise<StoredSession | undefined> {
    const r = await this.q('SELECT * FROM dm_sessions WHERE key = $1', [key]);
    return r[0] ? this.rowToSession(r[0]) : undefined;
  }

  async findSession(deviceUri: string, sessionId: string): Promise<StoredSession | undefined> {
    const r = await this.q('SELECT * FROM dm_sessions WHERE device_uri = $1 AND session_id = $2 ORDER BY updated_at DESC, seq DESC LIMIT 1', [deviceUri, sessionId]);
    return r[0] ? this.rowToSession(r[0]) : undefined;
  }

  async putSession(s: StoredSession): Promise<void> {
    // A stored session's seq is kept (it orders sessions by creation for findSession ties).
    await this.q(`INSERT INTO dm_sessions (key, device_id, device_uri, session_id, state, last_reply, ended, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (key) DO UPDATE SET device_id = excluded.device_id, device_uri = excluded.device_uri, session_id = excluded.session_id,
        state = excluded.state, last_reply = excluded.last_reply, ended = excluded.ended, updated_at = excluded.updated_at`,
    [s.key, s.deviceId, s.deviceUri, s.sessionId, s.state, s.lastReply ? toJson(s.lastReply) : null, s.ended, s.updatedAt]);
  }

  async deleteSession(key: string): Promise<void> {
    await this.q('WITH d AS (DELETE FROM lo_chunks WHERE session_key = $1) DELETE FROM dm_sessions WHERE key = $1', [key]);
  }

  async openSessions(deviceId: string): Promise<StoredSession[]> {
    return (await this.q('SELECT * FROM dm_sessions WHERE device_id = $1 AND NOT ended ORDER BY seq', [deviceId])).map((r) => this.rowToSession(r));
  }

  async staleSessions(before: number): Promise<StoredSession[]> {
    return (await this.q('SELECT * FROM dm_sessions WHERE updated_at < $1 ORDER BY seq', [before])).map((r) => this.rowToSession(r));
  }

  // ---- large-object chunks ----

  async appendChunk(sessionKey: string, data: Uint8Array): Promise<void> {
    await this.q(`INSERT INTO lo_chunks (session_key, seq, data)
      SELECT $1, COALESCE(MAX(seq), -1) + 1, $2 FROM lo_chunks WHERE session_key = $1`, [sessionKey, Buffer.from(data)]);
  }

  async readChunks(sessionKey: string): Promise<Uint8Array> {
    const rows = await this.q('SELECT data FROM lo_chunks WHERE session_key = $1 ORDER BY seq', [sessionKey]);
    return new Uint8Array(Buffer.concat(rows.map((r) => r.data as Buffer)));
  }

  async clearChunks(sessionKey: string): Promise<void> {
    await this.q('DELETE FROM lo_chunks WHERE session_key = $1', [sessionKey]);
  }

  // ---- command queue ----

  private rowToEntry(r: Row): QueueEntry {
    const e: QueueEntry = {
      id: r.id as number,
      deviceId: r.device_id as string,
      commands: fromJson<Command[]>(r.commands as string),
      state: r.state as QueueState,
      createdAt: r.created_at as number,
      updatedAt: r.updated_at as number,
    };
    if (typeof r.tag === 'string') e.tag = r.tag;
    if (typeof r.outcomes === 'string') e.outcomes = fromJson<CommandOutcome[]>(r.outcomes);
    return e;
  }

  async enqueue(deviceId: string, commands: Command[], tag?: string): Promise<QueueEntry> {
    const now = Date.now();
    const r = await this.q(`INSERT INTO command_queue (device_id, commands, tag, state, created_at, updated_at) VALUES ($1, $2, $3, 'queued', $4, $4) RETURNING *`,
      [deviceId, toJson(commands), tag ?? null, now]);
    return this.rowToEntry(r[0]);
  }

  async getEntry(id: number): Promise<QueueEntry | undefined> {
    const r = await this.q('SELECT * FROM command_queue WHERE id = $1', [id]);
    return r[0] ? this.rowToEntry(r[0]) : undefined;
  }

  async queuedEntries(deviceId: string, limit: number): Promise<QueueEntry[]> {
    // Inside a DM request's transaction the rows stay locked until it commits (marked 'sent'
    // by then): another session, in any process, skips them.
    return (await this.q(`SELECT * FROM command_queue WHERE device_id = $1 AND state = 'queued' ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [deviceId, limit])).map((r) => this.rowToEntry(r));
  }

  async entriesByTag(tag: string): Promise<QueueEntry[]> {
    return (await this.q('SELECT * FROM command_queue WHERE tag = $1 ORDER BY id', [tag])).map((r) => this.rowToEntry(r));
  }

  async setEntryState(id: number, state: QueueState, outcomes?: CommandOutcome[]): Promise<void> {
    await this.q('UPDATE command_queue SET state = $1, outcomes = $2, updated_at = $3 WHERE id = $4', [state, outcomes ? toJson(outcomes) : null, Date.now(), id]);
  }

  async withdrawEntry(id: number, outcomes: CommandOutcome[]): Promise<boolean> {
    // A session holding the row (FOR UPDATE in queuedEntries) makes this wait; READ COMMITTED then
    // re-checks the state on the committed row, so an entry marked 'sent' is left alone.
    return (await this.q("UPDATE command_queue SET state = 'done', outcomes = $1, updated_at = $2 WHERE id = $3 AND state = 'queued' RETURNING id",
      [toJson(outcomes), Date.now(), id])).length === 1;
  }

  async doneEntries(ids: number[]): Promise<QueueEntry[]> {
    if (!ids.length) return [];
    return (await this.q(`SELECT * FROM command_queue WHERE id = ANY($1::bigint[]) AND state = 'done'`, [ids])).map((r) => this.rowToEntry(r));
  }

  async sentEntries(): Promise<QueueEntry[]> {
    return (await this.q("SELECT * FROM command_queue WHERE state = 'sent' ORDER BY id")).map((r) => this.rowToEntry(r));
  }

  // ---- alerts ----

  private rowToAlert(r: Row): ReceivedAlert {
    const a: ReceivedAlert = {
      id: r.id as number, deviceId: r.device_id as string, code: r.code as number,
      items: fromJson(r.items as string), receivedAt: r.received_at as number,
    };
    if (typeof r.correlator === 'string') a.correlator = r.correlator;
    if (typeof r.session_key === 'string') a.sessionKey = r.session_key;
    return a;
  }

  async addAlert(a: Omit<ReceivedAlert, 'id'>): Promise<ReceivedAlert> {
    const items = toJson(a.items);
    // Without a session an alert has no natural identity: it is unique by its arrival.
    const dedup = createHash('sha256').update(JSON.stringify([a.deviceId, a.sessionKey ?? randomBytes(8).toString('hex'), a.code, a.correlator ?? null, items])).digest('base64');
    // Ids must become visible in id order (the SCOMO engine reads alerts after a cursor): alert
    // inserts are serialised until their transaction commits.
    if (this.tx.getStore()) await this.q('SELECT pg_advisory_xact_lock($1)', [lockId('scomo-alerts-insert')]);
    const ins = await this.q(`INSERT INTO alerts (device_id, code, correlator, items, session_key, received_at, dedup_key) VALUES ($1, $2, $3, $4, $5, $6, $7)
      ON CONFLICT (dedup_key) DO NOTHING RETURNING *`, [a.deviceId, a.code, a.correlator ?? null, items, a.sessionKey ?? null, a.receivedAt, dedup]);
    if (ins[0]) return this.rowToAlert(ins[0]);
    return this.rowToAlert((await this.q('SELECT * FROM alerts WHERE dedup_key = $1', [dedup]))[0]);
  }

  async listAlerts(deviceId?: string, afterId = 0): Promise<ReceivedAlert[]> {
    const rows = deviceId === undefined
      ? await this.q('SELECT * FROM alerts WHERE id > $1 ORDER BY id', [afterId])
      : await this.q('SELECT * FROM alerts WHERE device_id = $1 AND id > $2 ORDER BY id', [deviceId, afterId]);
    return rows.map((r) => this.rowToAlert(r));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscribers.clear();
    if (this.listener) { const l = this.listener; this.listener = undefined; await l.end().catch(() => {}); }
    await this.pool.end().catch(() => {});
  }
}

export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}
