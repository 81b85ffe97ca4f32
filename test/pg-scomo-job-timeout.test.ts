// Job deadlines (test/scomo-job-timeout.test.ts) again with the server on PostgreSQL, one database
// per data directory (a restart, or a second server process on the same directory, reopens it).
import test from 'ava';
import './scomo-job-timeout.test.js';
import { startPostgres, TestPostgres } from './helpers/postgres.js';
import { dbBackend } from './helpers/scomo-e2e.js';

const pgStarted: Promise<TestPostgres> = startPostgres();
pgStarted.catch(() => {});
const byDir = new Map<string, Promise<string>>();
dbBackend.database = (dir) => {
  let p = byDir.get(dir);
  if (!p) { p = pgStarted.then((pg) => pg.createDatabase()); byDir.set(dir, p); }
  return p;
};

test.after.always(async () => { await (await pgStarted).stop(); });
