// The SCOMO server suites (jobs engine with scripted sessions, REST API, end to end with the
// emulated device, job deadlines) run again with the server on PostgreSQL (`db`), one database per data
// directory, so a suite's restart reopens the same database.
import test from 'ava';
import './scomo-server-jobs.test.js';
import './scomo-server-e2e.test.js';
import './api-scomo.test.js';
import './scomo-job-timeout.test.js';
import './package-delete.test.js';
import { startPostgres, TestPostgres } from './helpers/postgres.js';
import { dbBackend, closeAllEnvs } from './helpers/scomo-e2e.js';

const pgStarted: Promise<TestPostgres> = startPostgres();
pgStarted.catch(() => {});
const byDir = new Map<string, Promise<string>>();
dbBackend.database = (dir) => {
  let p = byDir.get(dir);
  if (!p) { p = pgStarted.then((pg) => pg.createDatabase()); byDir.set(dir, p); }
  return p;
};

test.after.always(async () => { await closeAllEnvs(); await (await pgStarted).stop(); });
