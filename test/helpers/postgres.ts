// A throwaway PostgreSQL for tests: initdb into a temp directory, pg_ctl on a free loopback
// port, trust auth for user `scomo`; stopped (and the directory removed) by `stop()`.
// Debian's packages (apt-get install postgresql) put the binaries in /usr/lib/postgresql/<v>/bin;
// initdb refuses to run as root, so as root it runs as the `postgres` user.
// Without PostgreSQL the tests fail with a clear message (CI installs it).
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestPostgres {
  /** postgres://scomo@127.0.0.1:PORT/postgres */
  adminUrl: string;
  port: number;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

function findBinDir(): string {
  if (process.env.PG_BIN && existsSync(join(process.env.PG_BIN, 'initdb'))) return process.env.PG_BIN;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions.length) {
    throw new Error('PostgreSQL is not installed: no /usr/lib/postgresql/<version>/bin/initdb (install it with `apt-get install -y postgresql`, or set PG_BIN)');
  }
  return join(base, versions[0], 'bin');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

let dbSeq = 0;

export async function startPostgres(): Promise<TestPostgres> {
  const bin = findBinDir();
  const asRoot = process.getuid?.() === 0;
  // As root the cluster runs as `postgres`, which must reach the directory: /tmp, not a private TMPDIR.
  const dir = mkdtempSync(join(asRoot ? '/tmp' : tmpdir(), 'scomo-pg-'));
  const run = (file: string, args: string[]): void => {
    const cmd = asRoot ? 'runuser' : join(bin, file);
    const full = asRoot ? ['-u', 'postgres', '--', join(bin, file), ...args] : args;
    execFileSync(cmd, full, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  };
  const data = join(dir, 'data');
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-U', 'scomo', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    // Durability is not under test here (a killed server process, not a killed database).
    run('pg_ctl', ['-D', data, '-w', '-l', join(dir, 'log'), '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400`, 'start']);
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    rmSync(dir, { recursive: true, force: true });
    throw new Error('could not start PostgreSQL: ' + (err.stderr?.toString() || err.message));
  }
  const adminUrl = `postgres://scomo@127.0.0.1:${port}/postgres`;
  return {
    adminUrl,
    port,
    async createDatabase(name = `t${process.pid}_${++dbSeq}`) {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `postgres://scomo@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      try { run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']); } catch { /* already gone */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
