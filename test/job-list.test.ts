// Listing jobs by state: GET /api/jobs?state=…, GET /api/devices/{id}/jobs?state=…, and
// `scomo job list --state … --limit …`. test/pg-scomo-suite.test.ts runs it on PostgreSQL too.
import test from 'ava';
import { startEnv, Env, TOKEN, dbBackend } from './helpers/scomo-e2e.js';
import type { PgStorage } from '../src/server/storage/postgres.js';
import { DEV, until } from './helpers/scomo-script.js';
import { account } from './helpers/server-fixtures.js';
import { captured } from './helpers/cli-capture.js';
import { run as jobCli } from '../src/server/cli/job.js';

type Jobs = { jobs: { jobId: string; state: string; deviceId: string }[]; error?: string };

async function env(): Promise<Env> {
  const e = await startEnv({ jobSweepMs: 100 });
  await e.srv.addAccount(account());
  await e.srv.addAccount(account({ deviceId: 'dev-other', clientUser: 'other-user' }));
  for (const d of [DEV, 'dev-other']) await e.srv.jobs.store.setRoot(d, './SCOMO');
  return e;
}

test.serial('jobs filtered by one or several states, for the fleet or one device; a bad state is a 400; the CLI passes --state and --limit', async (t) => {
  const e = await env();
  try {
    // On PostgreSQL the helper asks for a pool of 10 (dbPoolMax, scomo server --db-pool).
    if (dbBackend.database) t.is((e.srv.storage as PgStorage).pool.options.max, 10);
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const mk = async (deviceId: string, timeoutS?: number): Promise<string> =>
      (await e.api<{ jobId: string }>('POST', `/api/devices/${deviceId}/jobs`, { operation: 'DownloadInstall', pkgId: pkg.pkgId, ...(timeoutS ? { timeoutS } : {}) })).json.jobId;
    const failed = await mk(DEV, 1);
    const open1 = await mk(DEV);
    const open2 = await mk('dev-other');
    await e.waitJob(failed, 20_000);
    const ids = async (path: string): Promise<string[]> => (await e.api<Jobs>('GET', path)).json.jobs.map((j) => j.jobId).sort();
    await until(async () => (await ids('/api/jobs?state=queued,notified')).length === 2, 'two open jobs');
    t.deepEqual(await ids('/api/jobs?state=failed'), [failed]);
    t.deepEqual(await ids('/api/jobs?state=queued,notified'), [open1, open2].sort());
    t.deepEqual(await ids('/api/jobs?state=failed&state=queued,notified'), [failed, open1, open2].sort(), 'repeated keys add up');
    t.deepEqual(await ids('/api/jobs?state=succeeded'), []);
    t.deepEqual(await ids(`/api/devices/${DEV}/jobs?state=queued,notified`), [open1]);
    t.deepEqual(await ids(`/api/jobs?deviceId=dev-other&state=failed`), []);
    t.is((await e.api<Jobs>('GET', '/api/jobs?state=failed&limit=1')).json.jobs.length, 1);
    for (const bad of ['done', '', 'failed,', 'FAILED']) {
      const r = await e.api<Jobs>('GET', '/api/jobs?state=' + encodeURIComponent(bad));
      t.is(r.status, 400, bad);
      t.regex(String(r.json.error), /"state" must be one or more of queued, notified, in-session, accepted, succeeded, failed/);
    }
    const common = ['--server', e.srv.url, '--token', TOKEN];
    const cli = await captured(jobCli, ['list', '--state', 'failed', ...common]);
    t.is(cli.code, 0, cli.err);
    t.deepEqual(cli.out.trim().split('\n').map((l) => l.split(/\s+/)[0]), [failed]);
    const one = await captured(jobCli, ['list', DEV, '--state', 'queued,notified,failed', '--limit', '1', '--json', ...common]);
    t.is(one.code, 0, one.err);
    t.is((JSON.parse(one.out) as unknown[]).length, 1);
    const bad = await captured(jobCli, ['list', '--limit', '0', ...common]);
    t.is(bad.code, 1);
    t.regex(bad.err, /^scomo job: --limit needs a number 1\.\.9999/);
    const badState = await captured(jobCli, ['list', '--state', 'done', ...common]);
    t.is(badState.code, 1);
    t.regex(badState.err, /^scomo job: .*"state" must be/);
  } finally {
    await e.close();
  }
});
