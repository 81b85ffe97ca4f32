// The SCOMO job store on PostgreSQL, in the same database as the DM storage (PgStorage), for
// several server processes at once:
// - every job has an owner: the process that runs it (plans it, queues its commands, waits for
//   them). Each process holds a session advisory lock named after itself for as long as it
//   lives; a job whose owner's lock is free belongs to a dead process and is taken over
//   (`takeOrphans`, one process wins each job by an atomic UPDATE).
// - `putJob` merges under a row lock instead of overwriting: a job never moves back to a lower
//   state nor past a final outcome, whichever process writes last (exactly one outcome).
// - job changes are announced to the other processes (NOTIFY through PgStorage).
import type pg from 'pg';
import type { Inventory, Job } from './types.js';
import { isTerminal, stateRank } from './types.js';
import type { PackageMeta } from '../repo/meta-store.js';
import type { JobStore } from './job-store.js';
import { PgStorage, lockId, pgTransaction } from '../storage/postgres.js';
import type { Migration } from '../storage/sqlite.js';

export const PG_SCOMO_MIGRATIONS: Migration[] = [
  {
    id: 'scomo-001-jobs',
    sql: `
      CREATE TABLE scomo_jobs (
        job_id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        state TEXT NOT NULL,
        correlator TEXT NOT NULL,
        data TEXT NOT NULL,
        owner TEXT,
        final BOOLEAN NOT NULL DEFAULT FALSE,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX scomo_jobs_dev ON scomo_jobs(device_id, created_at);
      CREATE INDEX scomo_jobs_state ON scomo_jobs(state);
      CREATE INDEX scomo_jobs_corr ON scomo_jobs(device_id, correlator);
      CREATE TABLE scomo_devices (
        device_id TEXT PRIMARY KEY,
        root TEXT,
        inventory TEXT,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE scomo_packages (
        pkg_id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        created TEXT NOT NULL
      );
      CREATE TABLE scomo_kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    // Job deadlines: NULL for jobs without one (and for every row written before).
    id: 'scomo-002-job-deadline',
    sql: `
      ALTER TABLE scomo_jobs ADD COLUMN IF NOT EXISTS deadline BIGINT;
      CREATE INDEX IF NOT EXISTS scomo_jobs_deadline ON scomo_jobs(deadline) WHERE deadline IS NOT NULL AND final = FALSE;
    `,
  },
];

const ACTIVE = `state NOT IN ('succeeded', 'failed')`;

/** A failed job that only lost its session before the Exec was answered may still be settled by its final alert. */
function isFinal(j: Job): boolean {
  return isTerminal(j.state) && !(j.state === 'failed' && j.status === 0 && j.resultCode === null);
}

/**
 * `next` written over `cur` (two processes, or a stale copy): a settled outcome stays; otherwise
 * the higher state (or an outcome) wins. Fields only one side has are kept either way.
 */
export function mergeJob(cur: Job, next: Job): Job {
  const nextWins = !isFinal(cur) && (stateRank(next.state) >= stateRank(cur.state) || isTerminal(next.state));
  if (!nextWins) return { ...next, ...cur };
  const history = [...next.history];
  for (const h of cur.history) if (!history.some((x) => x.state === h.state && x.at === h.at)) history.push(h);
  history.sort((x, y) => x.at - y.at);
  return { ...cur, ...next, history };
}

export class PgJobStore implements JobStore {
  readonly shared = true;
  private readonly pool: pg.Pool;
  readonly owner: string;
  private ownerClient: pg.PoolClient | undefined;
  private closed = false;

  private constructor(private readonly storage: PgStorage) {
    this.pool = storage.pool;
    this.owner = storage.processId;
  }

  static async open(storage: PgStorage): Promise<PgJobStore> {
    await storage.applyMigrations(PG_SCOMO_MIGRATIONS);
    const s = new PgJobStore(storage);
    // Held as long as this process lives: its jobs are not orphans.
    s.ownerClient = await storage.pool.connect();
    await s.ownerClient.query('SELECT pg_advisory_lock($1)', [lockId('scomo-owner:' + s.owner)]);
    return s;
  }

  private async q(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    return (await this.pool.query(sql, params)).rows as Record<string, unknown>[];
  }

  private jobs(rows: Record<string, unknown>[]): Job[] {
    return rows.map((r) => JSON.parse(r.data as string) as Job);
  }

  async putJob(j: Job): Promise<boolean> {
    return pgTransaction(this.pool, async (c) => {
      const cur = (await c.query('SELECT data FROM scomo_jobs WHERE job_id = $1 FOR UPDATE', [j.jobId])).rows[0] as { data: string } | undefined;
      let wrote = true;
      if (!cur) {
        await c.query(`INSERT INTO scomo_jobs (job_id, device_id, state, correlator, data, owner, final, created_at, updated_at, deadline)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (job_id) DO NOTHING`,
        [j.jobId, j.deviceId, j.state, j.correlator, JSON.stringify(j), this.owner, isFinal(j), j.createdAt, j.updatedAt, j.deadline ?? null]);
      } else {
        const old = JSON.parse(cur.data) as Job;
        // A settled job keeps its outcome (a stale copy raced it, e.g. an alert against a deadline).
        wrote = !isFinal(old);
        const m = mergeJob(old, j);
        await c.query('UPDATE scomo_jobs SET state = $2, data = $3, final = $4, updated_at = $5, deadline = $6 WHERE job_id = $1',
          [j.jobId, m.state, JSON.stringify(m), isFinal(m), m.updatedAt, m.deadline ?? null]);
      }
      await c.query('SELECT pg_notify($1, $2)', ['scomo_events', JSON.stringify({ type: 'job', id: j.jobId, deviceId: j.deviceId, from: this.owner })]);
      return wrote;
    });
  }

  async expiredJobs(now: number, limit: number): Promise<Job[]> {
    return this.jobs(await this.q(`SELECT data FROM scomo_jobs WHERE deadline IS NOT NULL AND deadline <= $1 AND final = FALSE AND ${ACTIVE}
      ORDER BY deadline, job_id COLLATE "C" LIMIT $2`, [now, limit]));
  }

  /** Under the job's row lock: of several processes applying the same conditional change, one wins. */
  async updateJobIf(jobId: string, change: (cur: Job) => Job | undefined): Promise<Job | undefined> {
    return pgTransaction(this.pool, async (c) => {
      const cur = (await c.query('SELECT data FROM scomo_jobs WHERE job_id = $1 FOR UPDATE', [jobId])).rows[0] as { data: string } | undefined;
      const next = cur ? change(JSON.parse(cur.data) as Job) : undefined;
      if (!next) return undefined;
      await c.query('UPDATE scomo_jobs SET state = $2, data = $3, final = $4, updated_at = $5, deadline = $6 WHERE job_id = $1',
        [jobId, next.state, JSON.stringify(next), isFinal(next), next.updatedAt, next.deadline ?? null]);
      await c.query('SELECT pg_notify($1, $2)', ['scomo_events', JSON.stringify({ type: 'job', id: jobId, deviceId: next.deviceId, from: this.owner })]);
      return next;
    });
  }


  async getJob(jobId: string): Promise<Job | undefined> {
    return this.jobs(await this.q('SELECT data FROM scomo_jobs WHERE job_id = $1', [jobId]))[0];
  }

  async findByCorrelator(deviceId: string, correlator: string): Promise<Job | undefined> {
    return this.jobs(await this.q('SELECT data FROM scomo_jobs WHERE device_id = $1 AND correlator = $2', [deviceId, correlator]))[0];
  }

  async activeJobs(): Promise<Job[]> {
    return this.jobs(await this.q(`SELECT data FROM scomo_jobs WHERE ${ACTIVE} ORDER BY created_at, job_id COLLATE "C"`));
  }

  async countByState(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const r of await this.q('SELECT state, COUNT(*) AS n FROM scomo_jobs GROUP BY state')) out[r.state as string] = r.n as number;
    return out;
  }

  async listJobs(deviceId?: string, limit = 100, states?: readonly string[]): Promise<Job[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (deviceId) { args.push(deviceId); where.push(`device_id = $${args.length}`); }
    if (states) { args.push([...states]); where.push(`state = ANY($${args.length}::text[])`); }
    args.push(limit);
    return this.jobs(await this.q(`SELECT data FROM scomo_jobs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at DESC, job_id COLLATE "C" DESC LIMIT $${args.length}`, args));
  }

  async jobsUpdatedSince(since: number, limit: number): Promise<Job[]> {
    return this.jobs(await this.q('SELECT data FROM scomo_jobs WHERE updated_at >= $1 ORDER BY updated_at DESC, job_id COLLATE "C" DESC LIMIT $2', [since, limit]));
  }

  async takeOrphans(): Promise<Job[]> {
    const c = this.ownerClient;
    if (!c || this.closed) return [];
    const owners = (await this.q(`SELECT DISTINCT owner FROM scomo_jobs WHERE ${ACTIVE} AND owner IS DISTINCT FROM $1`, [this.owner])).map((r) => r.owner as string | null);
    const dead: string[] = [];
    let orphanedNull = false;
    for (const o of owners) {
      if (o === null) { orphanedNull = true; continue; }
      const id = lockId('scomo-owner:' + o);
      // Free lock = its process is gone (a session lock dies with its connection).
      const got = (await c.query('SELECT pg_try_advisory_lock($1) AS got', [id])).rows[0] as { got: boolean };
      if (got.got) { await c.query('SELECT pg_advisory_unlock($1)', [id]); dead.push(o); }
    }
    if (!dead.length && !orphanedNull) return [];
    return this.jobs(await this.q(`UPDATE scomo_jobs SET owner = $1 WHERE ${ACTIVE} AND (owner = ANY($2) OR owner IS NULL) RETURNING data`, [this.owner, dead]))
      .sort((a, b) => a.createdAt - b.createdAt || (a.jobId < b.jobId ? -1 : 1));
  }

  async exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    const id = lockId('scomo-x:' + name);
    let broken = false;
    try {
      await c.query('SELECT pg_advisory_lock($1)', [id]);
      try {
        return await fn();
      } finally {
        try { await c.query('SELECT pg_advisory_unlock($1)', [id]); } catch { broken = true; }
      }
    } finally {
      c.release(broken);
    }
  }

  private readonly leading = new Set<string>();

  async lead(name: string): Promise<boolean> {
    if (this.leading.has(name)) return true;
    const c = this.ownerClient;
    if (!c || this.closed) return false;
    // A session lock on the connection held for the life of this process.
    const got = (await c.query('SELECT pg_try_advisory_lock($1) AS got', [lockId('scomo-lead:' + name)])).rows[0] as { got: boolean };
    if (got.got) this.leading.add(name);
    return got.got;
  }

  async forgetDevice(deviceId: string): Promise<void> {
    await this.q('DELETE FROM scomo_devices WHERE device_id = $1', [deviceId]);
  }

  async getRoot(deviceId: string): Promise<string | undefined> {
    const r = await this.q('SELECT root FROM scomo_devices WHERE device_id = $1', [deviceId]);
    return (r[0]?.root as string | null | undefined) ?? undefined;
  }

  async setRoot(deviceId: string, root: string): Promise<void> {
    await this.q(`INSERT INTO scomo_devices (device_id, root, updated_at) VALUES ($1, $2, $3)
      ON CONFLICT (device_id) DO UPDATE SET root = excluded.root, updated_at = excluded.updated_at`, [deviceId, root, Date.now()]);
  }

  async getInventory(deviceId: string): Promise<Inventory | undefined> {
    const r = await this.q('SELECT inventory FROM scomo_devices WHERE device_id = $1', [deviceId]);
    const s = r[0]?.inventory as string | null | undefined;
    return s ? (JSON.parse(s) as Inventory) : undefined;
  }

  async setInventory(deviceId: string, inv: Inventory): Promise<void> {
    await this.q(`INSERT INTO scomo_devices (device_id, inventory, updated_at) VALUES ($1, $2, $3)
      ON CONFLICT (device_id) DO UPDATE SET inventory = excluded.inventory, updated_at = excluded.updated_at`, [deviceId, JSON.stringify(inv), Date.now()]);
  }

  async getKv(key: string): Promise<string | undefined> {
    const r = await this.q('SELECT value FROM scomo_kv WHERE key = $1', [key]);
    return r[0]?.value as string | undefined;
  }

  async setKv(key: string, value: string): Promise<void> {
    await this.q('INSERT INTO scomo_kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }

  async get(pkgId: string): Promise<PackageMeta | undefined> {
    const r = await this.q('SELECT data FROM scomo_packages WHERE pkg_id = $1', [pkgId]);
    return r[0] ? (JSON.parse(r[0].data as string) as PackageMeta) : undefined;
  }

  async put(meta: PackageMeta): Promise<void> {
    await this.q('INSERT INTO scomo_packages (pkg_id, data, created) VALUES ($1, $2, $3) ON CONFLICT (pkg_id) DO UPDATE SET data = excluded.data, created = excluded.created',
      [meta.pkgId, JSON.stringify(meta), meta.created]);
  }

  async list(): Promise<PackageMeta[]> {
    return (await this.q('SELECT data FROM scomo_packages ORDER BY created COLLATE "C", pkg_id COLLATE "C"')).map((r) => JSON.parse(r.data as string) as PackageMeta);
  }
  async delete(pkgId: string): Promise<boolean> {
    return (await this.q('DELETE FROM scomo_packages WHERE pkg_id = $1 RETURNING pkg_id', [pkgId])).length === 1;
  }


  /** Releases this process's owner lock (its unfinished jobs become orphans for the others). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const c = this.ownerClient;
    this.ownerClient = undefined;
    if (c) {
      // The owner lock and any leader locks (session locks live as long as the connection).
      try { await c.query('SELECT pg_advisory_unlock_all()'); c.release(); } catch { c.release(true); }
    }
  }
}
