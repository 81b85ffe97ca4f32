// Durable state of the SCOMO server: jobs, each device's SCOMO root and inventory snapshot, and
// the id of the last DM alert consumed. `JobStore` is the interface; SqliteJobStore keeps it in
// its own SQLite file in the server's data directory (`scomo-jobs.db`), so the DM storage schema
// stays the DM server's; WAL + synchronous writes make every state change durable before the API
// reports it, so a restart resumes mid-job. PostgreSQL: job-store-postgres.ts.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Inventory, Job } from './types.js';
import { isFinalOutcome } from './types.js';
import type { PackageMeta, PackageMetaStore } from '../repo/meta-store.js';

export const JOBS_DB_FILE = 'scomo-jobs.db';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS scomo_jobs (
    job_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    state TEXT NOT NULL,
    correlator TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS scomo_jobs_dev ON scomo_jobs(device_id, created_at);
  CREATE INDEX IF NOT EXISTS scomo_jobs_state ON scomo_jobs(state);
  CREATE INDEX IF NOT EXISTS scomo_jobs_corr ON scomo_jobs(device_id, correlator);
  CREATE TABLE IF NOT EXISTS scomo_devices (
    device_id TEXT PRIMARY KEY,
    root TEXT,
    inventory TEXT,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS scomo_packages (
    pkg_id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    created TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS scomo_kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
`;

export type Awaitable<T> = T | Promise<T>;

/**
 * Methods return a value (SQLite) or a promise of it (PostgreSQL); callers await either.
 * Also the repository's package metadata store (PackageMetaStore).
 */
export interface JobStore extends PackageMetaStore {
  /** True when other server processes use the same store at the same time. */
  readonly shared?: boolean;
  /**
   * Creates or updates the job. A job with a settled outcome (isFinalOutcome) keeps it: the write
   * is refused and false returned (the caller's copy is stale). A shared store also never moves a
   * job back to a lower state (it merges the two copies).
   */
  putJob(j: Job): Awaitable<boolean | void>;
  /** Unfinished jobs whose deadline is at or before `now` (ms epoch), earliest deadline first. */
  expiredJobs(now: number, limit: number): Awaitable<Job[]>;
  /**
   * Read-modify-write of one job as one unit (a row lock on a shared store, so that of several
   * processes exactly one applies a given change): `change` gets the stored job and returns the
   * job to store, or undefined to leave it. Returns what was stored (undefined: nothing).
   */
  updateJobIf(jobId: string, change: (cur: Job) => Job | undefined): Awaitable<Job | undefined>;
  getJob(jobId: string): Awaitable<Job | undefined>;
  findByCorrelator(deviceId: string, correlator: string): Awaitable<Job | undefined>;
  /** Jobs not yet succeeded/failed, oldest first. */
  activeJobs(): Awaitable<Job[]>;
  /** Newest first; `states`: only jobs in one of these states. */
  listJobs(deviceId?: string, limit?: number, states?: readonly string[]): Awaitable<Job[]>;
  /** Jobs saved at or after `since` (ms), newest change first, at most `limit`. */
  jobsUpdatedSince(since: number, limit: number): Awaitable<Job[]>;
  /**
   * Unfinished jobs this process should now run: all of them for a store of one process (at
   * start); on a shared store those whose owning process is gone, now owned by this one.
   */
  takeOrphans(): Awaitable<Job[]>;
  /** Runs fn while no other process runs fn under the same name. */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /**
   * True when this process is (now) the one leader for `name` among the processes sharing the
   * store: it stays leader until it stops; when it dies another one's call returns true. Lets a
   * per-process engine (e.g. campaigns) run in exactly one process. Always true for SQLite.
   */
  lead(name: string): Awaitable<boolean>;
  /** Forgets the device's cached SCOMO root and inventory (a decommissioned device); its jobs stay. */
  forgetDevice(deviceId: string): Awaitable<void>;
  getRoot(deviceId: string): Awaitable<string | undefined>;
  setRoot(deviceId: string, root: string): Awaitable<void>;
  getInventory(deviceId: string): Awaitable<Inventory | undefined>;
  setInventory(deviceId: string, inv: Inventory): Awaitable<void>;
  getKv(key: string): Awaitable<string | undefined>;
  setKv(key: string, value: string): Awaitable<void>;
  close(): Awaitable<void>;
}

/** Also the repository's package metadata store (PackageMetaStore), in the same file. */
export class SqliteJobStore implements JobStore {
  private db: Database.Database;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, JOBS_DB_FILE));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // Job deadlines came later: files written before get the column (NULL = no deadline).
    const cols = (this.db.prepare('PRAGMA table_info(scomo_jobs)').all() as { name: string }[]).map((c) => c.name);
    if (!cols.includes('deadline')) this.db.exec('ALTER TABLE scomo_jobs ADD COLUMN deadline INTEGER');
    this.db.exec('CREATE INDEX IF NOT EXISTS scomo_jobs_deadline ON scomo_jobs(deadline) WHERE deadline IS NOT NULL');
  }

  putJob(j: Job): boolean {
    // A settled job keeps its outcome: a stale copy (a run or an alert that raced the deadline)
    // neither brings it back to life nor gives it a second outcome.
    const cur = this.getJob(j.jobId);
    if (cur && isFinalOutcome(cur)) return false;
    this.write(j);
    return true;
  }

  private write(j: Job): void {
    this.db.prepare(`INSERT INTO scomo_jobs (job_id, device_id, state, correlator, data, created_at, updated_at, deadline)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(job_id) DO UPDATE SET state = excluded.state, data = excluded.data, updated_at = excluded.updated_at, deadline = excluded.deadline`)
      .run(j.jobId, j.deviceId, j.state, j.correlator, JSON.stringify(j), j.createdAt, j.updatedAt, j.deadline ?? null);
  }

  expiredJobs(now: number, limit: number): Job[] {
    const rows = this.db.prepare(`SELECT data FROM scomo_jobs WHERE deadline IS NOT NULL AND deadline <= ? AND state NOT IN ('succeeded', 'failed')
      ORDER BY deadline, job_id LIMIT ?`).all(now, limit) as { data: string }[];
    return rows.map((r) => JSON.parse(r.data) as Job);
  }

  updateJobIf(jobId: string, change: (cur: Job) => Job | undefined): Job | undefined {
    // One process, synchronous calls: nothing runs between the read and the write.
    const cur = this.getJob(jobId);
    const next = cur ? change(cur) : undefined;
    if (next) this.write(next);
    return next;
  }

  getJob(jobId: string): Job | undefined {
    const r = this.db.prepare('SELECT data FROM scomo_jobs WHERE job_id = ?').get(jobId) as { data: string } | undefined;
    return r ? (JSON.parse(r.data) as Job) : undefined;
  }

  findByCorrelator(deviceId: string, correlator: string): Job | undefined {
    const r = this.db.prepare('SELECT data FROM scomo_jobs WHERE device_id = ? AND correlator = ?').get(deviceId, correlator) as { data: string } | undefined;
    return r ? (JSON.parse(r.data) as Job) : undefined;
  }

  /** Jobs not yet succeeded/failed, oldest first. */
  activeJobs(): Job[] {
    const rows = this.db.prepare(`SELECT data FROM scomo_jobs WHERE state NOT IN ('succeeded', 'failed') ORDER BY created_at, job_id`).all() as { data: string }[];
    return rows.map((r) => JSON.parse(r.data) as Job);
  }

  takeOrphans(): Job[] {
    return this.activeJobs();
  }

  exclusive<T>(_name: string, fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  lead(_name: string): boolean {
    return true;
  }

  listJobs(deviceId?: string, limit = 100, states?: readonly string[]): Job[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (deviceId) { where.push('device_id = ?'); args.push(deviceId); }
    if (states) { where.push(`state IN (${states.map(() => '?').join(', ') || 'NULL'})`); args.push(...states); }
    const rows = this.db.prepare(`SELECT data FROM scomo_jobs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at DESC, job_id DESC LIMIT ?`)
      .all(...args, limit) as { data: string }[];
    return rows.map((r) => JSON.parse(r.data) as Job);
  }

  jobsUpdatedSince(since: number, limit: number): Job[] {
    return (this.db.prepare('SELECT data FROM scomo_jobs WHERE updated_at >= ? ORDER BY updated_at DESC, job_id DESC LIMIT ?').all(since, limit) as { data: string }[])
      .map((r) => JSON.parse(r.data) as Job);
  }

  private device(deviceId: string): { root: string | null; inventory: string | null } | undefined {
    return this.db.prepare('SELECT root, inventory FROM scomo_devices WHERE device_id = ?').get(deviceId) as { root: string | null; inventory: string | null } | undefined;
  }

  forgetDevice(deviceId: string): void {
    this.db.prepare('DELETE FROM scomo_devices WHERE device_id = ?').run(deviceId);
  }

  getRoot(deviceId: string): string | undefined {
    return this.device(deviceId)?.root ?? undefined;
  }

  setRoot(deviceId: string, root: string): void {
    this.db.prepare(`INSERT INTO scomo_devices (device_id, root, updated_at) VALUES (?, ?, ?)
      ON CONFLICT(device_id) DO UPDATE SET root = excluded.root, updated_at = excluded.updated_at`).run(deviceId, root, Date.now());
  }

  getInventory(deviceId: string): Inventory | undefined {
    const s = this.device(deviceId)?.inventory;
    return s ? (JSON.parse(s) as Inventory) : undefined;
  }

  setInventory(deviceId: string, inv: Inventory): void {
    this.db.prepare(`INSERT INTO scomo_devices (device_id, inventory, updated_at) VALUES (?, ?, ?)
      ON CONFLICT(device_id) DO UPDATE SET inventory = excluded.inventory, updated_at = excluded.updated_at`).run(deviceId, JSON.stringify(inv), Date.now());
  }

  getKv(key: string): string | undefined {
    const r = this.db.prepare('SELECT value FROM scomo_kv WHERE key = ?').get(key) as { value: string } | undefined;
    return r?.value;
  }

  setKv(key: string, value: string): void {
    this.db.prepare('INSERT INTO scomo_kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  async get(pkgId: string): Promise<PackageMeta | undefined> {
    const r = this.db.prepare('SELECT data FROM scomo_packages WHERE pkg_id = ?').get(pkgId) as { data: string } | undefined;
    return r ? (JSON.parse(r.data) as PackageMeta) : undefined;
  }

  async put(meta: PackageMeta): Promise<void> {
    this.db.prepare('INSERT INTO scomo_packages (pkg_id, data, created) VALUES (?, ?, ?) ON CONFLICT(pkg_id) DO UPDATE SET data = excluded.data, created = excluded.created')
      .run(meta.pkgId, JSON.stringify(meta), meta.created);
  }

  async list(): Promise<PackageMeta[]> {
    return (this.db.prepare('SELECT data FROM scomo_packages ORDER BY created, pkg_id').all() as { data: string }[]).map((r) => JSON.parse(r.data) as PackageMeta);
  }

  async delete(pkgId: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM scomo_packages WHERE pkg_id = ?').run(pkgId).changes === 1;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
