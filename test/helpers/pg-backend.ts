// Runs the SQLite server suites imported by a test file again on PostgreSQL: every environment
// that test/helpers/scomo-e2e.ts starts gets a database of one test cluster, one per data
// directory (so a suite's restart reopens the same database); the cluster stops after the file.
import test from 'ava';
import { startPostgres, TestPostgres } from './postgres.js';
import { dbBackend, closeAllEnvs } from './scomo-e2e.js';

export function serverSuitesOnPostgres(): Promise<TestPostgres> {
  const pgStarted: Promise<TestPostgres> = startPostgres();
  pgStarted.catch(() => {});
  const byDir = new Map<string, Promise<string>>();
  dbBackend.database = (dir) => {
    let p = byDir.get(dir);
    if (!p) { p = pgStarted.then((pg) => pg.createDatabase()); byDir.set(dir, p); }
    return p;
  };
  // Environments close first: ava runs after.always hooks concurrently, and a server must not lose its database mid-close.
  test.after.always(async () => { await closeAllEnvs(); await (await pgStarted).stop(); });
  return pgStarted;
}
