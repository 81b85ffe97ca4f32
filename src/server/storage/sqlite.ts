// SQLite implementation of Storage (better-sqlite3) in a data directory. WAL mode lets the
// `scomo account add` command write while a server process runs on the same file. Schema
// changes are numbered migrations recorded in schema_migrations; later features (SCOMO jobs,
// packages, inventory) append their own migrations with applyMigrations().
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '../../codec/model.js';
import { toJson, fromJson } from './json.js';
import type {
  Account, AccountPatch, CommandOutcome, QueueEntry, QueueState, ReceivedAlert, Storage, StoredSession,
} from './types.js';

export interface Migration {
  /** Unique, sortable id, e.g. 'dm-001-accounts'. */
  id: string;
  sql: string;
}

export const DM_MIGRATIONS: Migration[] = [
  {
    id: 'dm-001-core',
    sql: `
      CREATE TABLE accounts (
        device_id TEXT PRIMARY KEY,
        client_user TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX accounts_user ON accounts(client_user);
      CREATE TABLE dm_sessions (
        key TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        state TEXT NOT NULL,
        last_reply TEXT,
        ended INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX dm_sessions_dev ON dm_sessions(device_id, session_id);
      CREATE TABLE lo_chunks (
        session_key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (session_key, seq)
      );
      CREATE TABLE command_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        commands TEXT NOT NULL,
        tag TEXT,
        state TEXT NOT NULL,
        outcomes TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX command_queue_dev ON command_queue(device_id, state, id);
      CREATE INDEX command_queue_tag ON command_queue(tag);
      CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        code INTEGER NOT NULL,
        correlator TEXT,
        items TEXT NOT NULL,
        session_key TEXT,
        received_at INTEGER NOT NULL
      );
      CREATE INDEX alerts_dev ON alerts(device_id, id);
    `,
  },
  {
    // Sessions are found by the client's SyncHdr Source too: some clients never follow RespURI
    // and send credentials only in package 1.
    id: 'dm-002-session-uri',
    sql: `
      ALTER TABLE dm_sessions ADD COLUMN device_uri TEXT NOT NULL DEFAULT '';
      CREATE INDEX dm_sessions_uri ON dm_sessions(device_uri, session_id);
    `,
  },
];

type Row = Record<string, unknown>;

export class SqliteStorage implements Storage {
  readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.applyMigrations(DM_MIGRATIONS);
  }

  /** Applies the migrations not yet recorded, each in its own transaction. */
  applyMigrations(list: Migration[]): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
    const has = this.db.prepare('SELECT 1 FROM schema_migrations WHERE id = ?');
    const rec = this.db.prepare('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)');
    for (const m of [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
      if (has.get(m.id)) continue;
      this.db.transaction(() => { this.db.exec(m.sql); rec.run(m.id, Date.now()); })();
    }
  }

  // ---- accounts ----

  private rowToAccount(r: Row | undefined): Account | undefined {
    if (!r) return undefined;
    return fromJson<Account>(r.data as string);
  }

  async getAccount(deviceId: string): Promise<Account | undefined> {
    return this.rowToAccount(this.db.prepare('SELECT data FROM accounts WHERE device_id = ?').get(deviceId) as Row | undefined);
  }

  async findAccountByUser(user: string): Promise<Account | undefined> {
    return this.rowToAccount(this.db.prepare('SELECT data FROM accounts WHERE client_user = ? ORDER BY created_at LIMIT 1').get(user) as Row | undefined);
  }

  async putAccount(a: Account): Promise<void> {
    this.db.prepare(`INSERT INTO accounts (device_id, client_user, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(device_id) DO UPDATE SET client_user = excluded.client_user, data = excluded.data, updated_at = excluded.updated_at`)
      .run(a.deviceId, a.clientUser, toJson(a), a.createdAt, a.updatedAt);
  }

  async updateAccount(deviceId: string, patch: AccountPatch): Promise<void> {
    this.db.transaction(() => {
      const cur = this.rowToAccount(this.db.prepare('SELECT data FROM accounts WHERE device_id = ?').get(deviceId) as Row | undefined);
      if (!cur) return;
      const next: Account = { ...cur, ...patch, deviceId, createdAt: cur.createdAt, updatedAt: Date.now() };
      this.db.prepare('UPDATE accounts SET client_user = ?, data = ?, updated_at = ? WHERE device_id = ?')
        .run(next.clientUser, toJson(next), next.updatedAt, deviceId);
    })();
  }

  async listAccounts(): Promise<Account[]> {
    return (this.db.prepare('SELECT data FROM accounts ORDER BY device_id').all() as Row[]).map((r) => fromJson<Account>(r.data as string));
  }

  async deleteAccount(deviceId: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM lo_chunks WHERE session_key IN (SELECT key FROM dm_sessions WHERE device_id = ?)').run(deviceId);
      this.db.prepare('DELETE FROM dm_sessions WHERE device_id = ?').run(deviceId);
      return this.db.prepare('DELETE FROM accounts WHERE device_id = ?').run(deviceId).changes === 1;
    })();
  }

  // ---- sessions ----

  private rowToSession(r: Row | undefined): StoredSession | undefined {
    if (!r) return undefined;
    const s: StoredSession = {
      key: r.key as string,
      deviceId: r.device_id as string,
      deviceUri: r.device_uri as string,
      sessionId: r.session_id as string,
      state: r.state as string,
      ended: r.ended === 1,
      updatedAt: r.updated_at as number,
    };
    if (typeof r.last_reply === 'string') s.lastReply = fromJson(r.last_reply);
    return s;
  }

  async getSession(key: string): Promise<StoredSession | undefined> {
    return this.rowToSession(this.db.prepare('SELECT * FROM dm_sessions WHERE key = ?').get(key) as Row | undefined);
  }

  async findSession(deviceUri: string, sessionId: string): Promise<StoredSession | undefined> {
    return this.rowToSession(this.db.prepare('SELECT * FROM dm_sessions WHERE device_uri = ? AND session_id = ? ORDER BY updated_at DESC, rowid DESC LIMIT 1')
      .get(deviceUri, sessionId) as Row | undefined);
  }

  async putSession(s: StoredSession): Promise<void> {
    this.db.prepare(`INSERT INTO dm_sessions (key, device_id, device_uri, session_id, state, last_reply, ended, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(key) DO UPDATE SET device_id = excluded.device_id, device_uri = excluded.device_uri, session_id = excluded.session_id,
        state = excluded.state, last_reply = excluded.last_reply, ended = excluded.ended, updated_at = excluded.updated_at`)
      .run(s.key, s.deviceId, s.deviceUri, s.sessionId, s.state, s.lastReply ? toJson(s.lastReply) : null, s.ended ? 1 : 0, s.updatedAt);
  }

  async deleteSession(key: string): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM dm_sessions WHERE key = ?').run(key);
      this.db.prepare('DELETE FROM lo_chunks WHERE session_key = ?').run(key);
    })();
  }

  async openSessions(deviceId: string): Promise<StoredSession[]> {
    return (this.db.prepare('SELECT * FROM dm_sessions WHERE device_id = ? AND ended = 0').all(deviceId) as Row[]).map((r) => this.rowToSession(r)!);
  }

  async staleSessions(before: number): Promise<StoredSession[]> {
    return (this.db.prepare('SELECT * FROM dm_sessions WHERE updated_at < ?').all(before) as Row[]).map((r) => this.rowToSession(r)!);
  }

  // ---- large-object chunks ----

  async appendChunk(sessionKey: string, data: Uint8Array): Promise<void> {
    const r = this.db.prepare('SELECT COALESCE(MAX(seq), -1) AS m FROM lo_chunks WHERE session_key = ?').get(sessionKey) as Row;
    this.db.prepare('INSERT INTO lo_chunks (session_key, seq, data) VALUES (?, ?, ?)').run(sessionKey, (r.m as number) + 1, Buffer.from(data));
  }

  async readChunks(sessionKey: string): Promise<Uint8Array> {
    const rows = this.db.prepare('SELECT data FROM lo_chunks WHERE session_key = ? ORDER BY seq').all(sessionKey) as Row[];
    return new Uint8Array(Buffer.concat(rows.map((r) => r.data as Buffer)));
  }

  async clearChunks(sessionKey: string): Promise<void> {
    this.db.prepare('DELETE FROM lo_chunks WHERE session_key = ?').run(sessionKey);
  }

  // ---- command queue ----

  private rowToEntry(r: Row | undefined): QueueEntry | undefined {
    if (!r) return undefined;
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
    const info = this.db.prepare('INSERT INTO command_queue (device_id, commands, tag, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(deviceId, toJson(commands), tag ?? null, 'queued', now, now);
    return (await this.getEntry(Number(info.lastInsertRowid)))!;
  }

  async getEntry(id: number): Promise<QueueEntry | undefined> {
    return this.rowToEntry(this.db.prepare('SELECT * FROM command_queue WHERE id = ?').get(id) as Row | undefined);
  }

  async queuedEntries(deviceId: string, limit: number): Promise<QueueEntry[]> {
    return (this.db.prepare("SELECT * FROM command_queue WHERE device_id = ? AND state = 'queued' ORDER BY id LIMIT ?")
      .all(deviceId, limit) as Row[]).map((r) => this.rowToEntry(r)!);
  }

  async entriesByTag(tag: string): Promise<QueueEntry[]> {
    return (this.db.prepare('SELECT * FROM command_queue WHERE tag = ? ORDER BY id').all(tag) as Row[]).map((r) => this.rowToEntry(r)!);
  }

  async setEntryState(id: number, state: QueueState, outcomes?: CommandOutcome[]): Promise<void> {
    this.db.prepare('UPDATE command_queue SET state = ?, outcomes = ?, updated_at = ? WHERE id = ?')
      .run(state, outcomes ? toJson(outcomes) : null, Date.now(), id);
  }

  async withdrawEntry(id: number, outcomes: CommandOutcome[]): Promise<boolean> {
    return this.db.prepare("UPDATE command_queue SET state = 'done', outcomes = ?, updated_at = ? WHERE id = ? AND state = 'queued'")
      .run(toJson(outcomes), Date.now(), id).changes === 1;
  }

  async sentEntries(): Promise<QueueEntry[]> {
    return (this.db.prepare("SELECT * FROM command_queue WHERE state = 'sent' ORDER BY id").all() as Row[]).map((r) => this.rowToEntry(r)!);
  }

  // ---- alerts ----

  async addAlert(a: Omit<ReceivedAlert, 'id'>): Promise<ReceivedAlert> {
    const info = this.db.prepare('INSERT INTO alerts (device_id, code, correlator, items, session_key, received_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(a.deviceId, a.code, a.correlator ?? null, toJson(a.items), a.sessionKey ?? null, a.receivedAt);
    return { ...a, id: Number(info.lastInsertRowid) };
  }

  async listAlerts(deviceId?: string, afterId = 0): Promise<ReceivedAlert[]> {
    const rows = (deviceId === undefined
      ? this.db.prepare('SELECT * FROM alerts WHERE id > ? ORDER BY id').all(afterId)
      : this.db.prepare('SELECT * FROM alerts WHERE device_id = ? AND id > ? ORDER BY id').all(deviceId, afterId)) as Row[];
    return rows.map((r) => {
      const a: ReceivedAlert = {
        id: r.id as number, deviceId: r.device_id as string, code: r.code as number,
        items: fromJson(r.items as string), receivedAt: r.received_at as number,
      };
      if (typeof r.correlator === 'string') a.correlator = r.correlator;
      if (typeof r.session_key === 'string') a.sessionKey = r.session_key;
      return a;
    });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

export const DB_FILE = 'scomo.db';

/** Opens (creating if needed) the store in `dataDir`. */
export function openSqliteStorage(dataDir: string): SqliteStorage {
  mkdirSync(dataDir, { recursive: true });
  return new SqliteStorage(join(dataDir, DB_FILE));
}
