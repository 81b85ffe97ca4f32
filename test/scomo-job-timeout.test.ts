// Job deadlines (docs/api.md "Job deadlines"): `timeoutS` on job creation, the server default
// (`jobTimeoutS` / --job-timeout), the sweep that fails a job past its deadline ("timed out
// after N s"), withdrawing its queued commands or deleting a running alternate download, a late
// final alert that does not bring the job back, the deadline across a restart, campaigns counting
// a timeout as a failure, and `scomo job create --timeout`. Scripted DM sessions play the device.
// test/pg-scomo-suite.test.ts runs the same tests on PostgreSQL.
import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from '../src/codec/model.js';
import { startEnv, Env, TOKEN, dbBackend } from './helpers/scomo-e2e.js';
import { scriptedSession, finalAlert, DEV, targetOf, until, queued } from './helpers/scomo-script.js';
import { account } from './helpers/server-fixtures.js';
import type { ScomoServerOptions } from '../src/server/scomo-server.js';
import { SqliteJobStore, JOBS_DB_FILE } from '../src/server/scomo/job-store.js';
import { run as jobCli } from '../src/server/cli/job.js';
import { captured } from './helpers/cli-capture.js';

type J = Record<string, unknown> & { state: string; error?: string; resultCode?: number | null; deadline?: string; timeoutS?: number; history: { state: string; at: string }[] };

const DEV_PATH = `/api/devices/${encodeURIComponent(DEV)}/jobs`;

async function env(over: Partial<ScomoServerOptions> = {}, dir?: string): Promise<Env> {
  const e = await startEnv({ jobSweepMs: 100, ...over }, dir);
  if (!(await e.srv.storage.getAccount(DEV))) await e.srv.addAccount(account());
  await e.srv.jobs.store.setRoot(DEV, './SCOMO');
  return e;
}



async function job(e: Env, jobId: string): Promise<J> {
  return (await e.api<J>('GET', '/api/jobs/' + jobId)).json;
}

async function create(e: Env, body: Record<string, unknown>): Promise<string> {
  const r = await e.api<{ jobId: string; error?: string }>('POST', DEV_PATH, body);
  if (r.status !== 201) throw new Error(`job creation answered ${r.status}: ${r.json.error}`);
  return r.json.jobId;
}


test('a job for a device that never connects fails "timed out after 1 s"; its queued commands never go out', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1, 2, 3]), 'p', '1');
    const t0 = Date.now();
    const jobId = await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: 1 });
    const v = await job(e, jobId);
    t.is(v.timeoutS, 1);
    const deadline = Date.parse(v.deadline ?? '');
    t.true(deadline >= t0 + 1000 && deadline <= Date.now() + 1000, 'deadline = creation + 1 s');
    await queued(e, jobId);
    const done = (await e.waitJob(jobId, 20_000)) as J;
    t.is(done.state, 'failed');
    t.is(done.error, 'timed out after 1 s');
    t.is(done.resultCode, null);
    t.false('status' in done);
    t.deepEqual(done.history.map((h) => h.state), ['queued', 'failed']);
    t.true(Date.parse(String(done.finishedAt)) >= deadline);
    // The queued Add/Exec were withdrawn: the device, back at last, does not get them.
    const [entry] = await e.srv.storage.entriesByTag(jobId);
    t.is(entry.state, 'done');
    t.true((entry.outcomes ?? []).every((o) => o.status === 514));
    const { seen } = await scriptedSession(e.srv.dm);
    t.false(seen.some((c) => c.kind === 'Exec' || targetOf(c).includes(jobId)), 'no command of the timed-out job reaches the device');
    t.is((await job(e, jobId)).state, 'failed');
  } finally {
    await e.close();
  }
});

test('the withdrawn entry settling before the deadline flip does not fail the job by its 514s: it times out', async (t) => {
  const e = await env({ jobSweepMs: 3_600_000 });
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const jobId = await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: 1 });
    await queued(e, jobId);
    await new Promise((r) => setTimeout(r, 1100)); // past the deadline; the sweep is ours to run
    // Hold the sweep's flip until the job's runner has seen its entry done (all 514).
    const store = e.srv.jobs.store;
    const update = store.updateJobIf.bind(store);
    let held = 0;
    store.updateJobIf = async (id, fn) => {
      if (id === jobId && !held++) {
        const [entry] = await e.srv.storage.entriesByTag(jobId);
        t.is(entry.state, 'done', 'withdrawn before the flip');
        await new Promise((r) => setTimeout(r, 200));
      }
      return update(id, fn);
    };
    t.is(await e.srv.jobs.expireJobs(), 1);
    t.true(held > 0);
    const v = await job(e, jobId);
    t.is(v.state, 'failed');
    t.is(v.error, 'timed out after 1 s');
    t.false('status' in v, 'not failed by the withdrawn commands\' 514');
    t.deepEqual(v.history.map((h) => h.state), ['queued', 'failed']);
    // A later sweep neither flips it again nor queues a Delete for a download that never started.
    t.is(await e.srv.jobs.expireJobs(), 0);
    t.is((await e.srv.storage.entriesByTag('scomo-cancel:' + jobId)).length, 0);
  } finally {
    await e.close();
  }
});

test('a crash between queueing the commands and saving the entry id: after the restart the entry is withdrawn before the job reads failed', async (t) => {
  let e = await env({ jobSweepMs: 3_600_000 });
  const dir = e.dir;
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const jobId = await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: 1 });
    await queued(e, jobId);
    const store = e.srv.jobs.store;
    await until(async () => (await store.getJob(jobId))?.entryId !== undefined, 'the entry id saved');
    // What a crash right after queueing leaves: the entry (tagged with the job id), no entry id in the job.
    const j = (await store.getJob(jobId))!;
    delete j.entryId;
    await store.putJob(j);
    await e.srv.close(); // keep the data directory
    await new Promise((r) => setTimeout(r, 1100));
    e = await env({ jobSweepMs: 3_600_000 }, dir); // the start's own sweep (or the resumed runner) must handle it
    await until(async () => (await job(e, jobId)).state === 'failed', 'failed after the restart', 10_000);
    const [entry] = await e.srv.storage.entriesByTag(jobId);
    t.is(entry.state, 'done', 'withdrawn by the time the job reads failed');
    t.true((entry.outcomes ?? []).every((o) => o.status === 514));
    const v = await job(e, jobId);
    t.is(v.error, 'timed out after 1 s');
    t.false('status' in v);
  } finally {
    await e.close();
  }
});

test('a deadline that passes while the runner is queueing the commands: the sweep waits for the entry id, then withdraws and fails the job', async (t) => {
  const e = await env({ jobSweepMs: 3_600_000 });
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const dm = e.srv.dm;
    const queue = dm.queueCommands.bind(dm);
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    let holding = false;
    dm.queueCommands = async (deviceId, commands, o) => {
      if (o?.tag?.startsWith('job-') && !holding) { holding = true; await held; }
      return queue(deviceId, commands, o);
    };
    const jobId = await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: 1 });
    await until(async () => holding, 'the runner queueing the commands');
    await new Promise((r) => setTimeout(r, 1100));
    t.is(await e.srv.jobs.expireJobs(), 0, 'not while its commands are being queued');
    t.is((await job(e, jobId)).state, 'queued');
    release();
    await queued(e, jobId);
    await until(async () => (await e.srv.jobs.expireJobs()) === 1, 'the next sweep to fail it');
    const [entry] = await e.srv.storage.entriesByTag(jobId);
    t.is(entry.state, 'done', 'withdrawn by the time the job reads failed');
    const v = await job(e, jobId);
    t.is(v.state, 'failed');
    t.is(v.error, 'timed out after 1 s');
  } finally {
    await e.close();
  }
});

test('a job that succeeds before its deadline stays succeeded when the deadline passes', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const jobId = await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: 600 });
    await queued(e, jobId);
    await scriptedSession(e.srv.dm);
    await until(async () => (await job(e, jobId)).state === 'accepted', 'accepted');
    await scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, 1200, 'p')] });
    await until(async () => (await job(e, jobId)).state === 'succeeded', 'succeeded');
    // The sweep as it would run after the deadline.
    t.is(await e.srv.jobs.expireJobs(Date.now() + 601_000), 0);
    const v = await job(e, jobId);
    t.is(v.state, 'succeeded');
    t.is(v.resultCode, 1200);
    t.false('error' in v);
  } finally {
    await e.close();
  }
});

test('a bad timeoutS is a 400 with a clear error on both job endpoints; 30 days is accepted', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    for (const bad of [0, -1, 1.5, '10', 2_592_001, true, {}]) {
      const one = await e.api<{ error: string }>('POST', DEV_PATH, { operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: bad });
      t.is(one.status, 400, JSON.stringify(bad));
      t.regex(one.json.error, /"timeoutS" must be a whole number of seconds, 1\.\.2592000/);
      const many = await e.api<{ error: string }>('POST', '/api/jobs', { deviceIds: [DEV], operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: bad });
      t.is(many.status, 400, JSON.stringify(bad));
      t.regex(many.json.error, /"timeoutS" must be/);
    }
    t.is((await e.api<{ jobs: unknown[] }>('GET', '/api/jobs')).json.jobs.length, 0, 'no job was created');
    const ok = await e.api<{ jobIds: string[] }>('POST', '/api/jobs', { deviceIds: [DEV], operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: 2_592_000 });
    t.is(ok.status, 201);
    const v = await job(e, ok.json.jobIds[0]);
    t.is(v.timeoutS, 2_592_000);
    t.is(Date.parse(v.deadline ?? '') - Date.parse(String(v.createdAt)), 2_592_000_000);
    // null = no deadline, as if absent.
    const none = await job(e, await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: null }));
    t.false('deadline' in none);
    t.false('timeoutS' in none);
  } finally {
    await e.close();
  }
});

test('the deadline survives a restart, and a deadline that passed while the server was down fails the job at start', async (t) => {
  let e = await env();
  const dir = e.dir;
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const jobId = await create(e, { operation: 'Activate', componentId: 'c1', timeoutS: 2 });
    const before = await job(e, jobId);
    await e.srv.close(); // keep the data directory
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(before.deadline ?? '') - Date.now()) + 100));
    e = await env({ jobSweepMs: 60_000 }, dir); // a slow sweep: the start itself must catch it
    const after = await until(async () => (await job(e, jobId)).state === 'failed', 'failed after restart', 10_000).then(() => job(e, jobId));
    t.is(after.deadline, before.deadline);
    t.is(after.timeoutS, 2);
    t.is(after.error, 'timed out after 2 s');
    // A job with a long deadline keeps it across the restart too.
    const longId = await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: 3600 });
    const l1 = await job(e, longId);
    await e.srv.close();
    e = await env({}, dir);
    const l2 = await job(e, longId);
    t.is(l2.deadline, l1.deadline);
    t.is(l2.state, 'queued');
    t.is(await e.srv.jobs.expireJobs(Date.parse(l1.deadline ?? '') + 1), 1);
    t.is((await job(e, longId)).error, 'timed out after 3600 s');
  } finally {
    await e.close();
  }
});

test('timed out while the device runs an alternate download: its Download node is deleted; the late final alert is acknowledged and recorded, the job stays failed', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1, 2]), 'p', '1');
    const jobId = await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: 600 });
    await queued(e, jobId);
    await scriptedSession(e.srv.dm);
    await until(async () => (await job(e, jobId)).state === 'accepted', 'accepted');
    t.is(await e.srv.jobs.expireJobs(Date.now() + 601_000), 1);
    const failed = await job(e, jobId);
    t.is(failed.state, 'failed');
    t.is(failed.error, 'timed out after 600 s');
    // As a cancel would: the device's next session deletes the download.
    const { seen } = await scriptedSession(e.srv.dm);
    t.true(seen.some((c) => c.kind === 'Delete' && targetOf(c) === `./SCOMO/Download/${jobId}`), 'Delete of the Download node sent');
    // The device finished anyway and reports it: acknowledged with 200, outcome unchanged.
    const { replies } = await scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, 1200, 'p')] });
    const st = replies[0].body.commands.find((c) => c.kind === 'Status' && c.cmd === 'Alert' && c.cmdRef === '3');
    t.is(st && st.kind === 'Status' ? st.code : 0, 200);
    await until(async () => (await job(e, jobId)).lateResult !== undefined, 'late result recorded');
    const v = await job(e, jobId);
    t.is(v.state, 'failed');
    t.is(v.error, 'timed out after 600 s');
    t.is(v.resultCode, null);
    t.is((v.lateResult as { resultCode: number }).resultCode, 1200);
    t.deepEqual(v.history, failed.history);
    t.is(await e.srv.jobs.expireJobs(Date.now() + 601_000), 0, 'nothing to time out twice');
  } finally {
    await e.close();
  }
});

test('the server default timeout (jobTimeoutS, --job-timeout) applies when the body has none; a body timeoutS wins', async (t) => {
  const e = await env({ jobTimeoutS: 1 });
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const a = await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId });
    const b = await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId, timeoutS: 3600 });
    t.is((await job(e, a)).timeoutS, 1);
    const done = (await e.waitJob(a, 20_000)) as J;
    t.is(done.state, 'failed');
    t.is(done.error, 'timed out after 1 s');
    const vb = await job(e, b);
    t.is(vb.timeoutS, 3600);
    t.not(vb.state, 'failed');
  } finally {
    await e.close();
  }
  await t.throwsAsync(startEnv({ jobTimeoutS: 0 }), { message: /jobTimeoutS/ });
});

test('a campaign counts a timed-out job as a failure (jobTimeoutS is passed to its jobs)', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const bad = await e.api<{ error: string }>('POST', '/api/campaigns', { operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { devices: [DEV] }, jobTimeoutS: 0 });
    t.is(bad.status, 400);
    t.regex(bad.json.error, /"jobTimeoutS" must be/);
    const r = await e.api<{ campaignId: string }>('POST', '/api/campaigns', { operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { devices: [DEV] }, jobTimeoutS: 1 });
    t.is(r.status, 201);
    type C = { state: string; reason?: string; jobTimeoutS?: number; counts: Record<string, number>; targets: { jobId?: string; state: string; error?: string }[] };
    let c: C | undefined;
    await until(async () => {
      c = (await e.api<C>('GET', `/api/campaigns/${r.json.campaignId}?targets=1`)).json;
      return c.state !== 'running';
    }, 'campaign stops', 20_000);
    t.is(c!.jobTimeoutS, 1);
    t.is(c!.state, 'paused');
    t.regex(c!.reason ?? '', /error threshold/);
    t.is(c!.counts.failed, 1);
    t.is(c!.targets[0].error, 'timed out after 1 s');
    t.is((await job(e, c!.targets[0].jobId!)).timeoutS, 1);
  } finally {
    await e.close();
  }
});

test.serial('scomo job create --timeout S sends timeoutS; a bad value is a usage error', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const common = ['--server', e.srv.url, '--token', TOKEN];
    const ok = await captured(jobCli, ['create', DEV, '--operation', 'DownloadInstall', '--pkg', pkg.pkgId, '--timeout', '90', ...common]);
    t.is(ok.code, 0);
    const jobId = ok.out.trim();
    t.regex(jobId, /^job-/);
    t.is((await job(e, jobId)).timeoutS, 90);
    const bad = await captured(jobCli, ['create', DEV, '--operation', 'DownloadInstall', '--pkg', pkg.pkgId, '--timeout', '1.5', ...common]);
    t.is(bad.code, 1);
    t.regex(bad.err, /--timeout needs a whole number of seconds/);
    const far = await captured(jobCli, ['create', DEV, '--operation', 'DownloadInstall', '--pkg', pkg.pkgId, '--timeout', '9999999', ...common]);
    t.is(far.code, 1);
    t.regex(far.err, /timeoutS" must be a whole number of seconds/, 'the server\'s range check comes back as the error');
  } finally {
    await e.close();
  }
});

test('a job store file from before deadlines opens: old rows read without a deadline and never time out', async (t) => {
  if (dbBackend.database) { t.pass('SQLite only'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'scomo-oldjobs-'));
  try {
    const db = new Database(join(dir, JOBS_DB_FILE));
    db.exec(`CREATE TABLE scomo_jobs (job_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, state TEXT NOT NULL, correlator TEXT NOT NULL,
      data TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`);
    const old = { jobId: 'job-old', deviceId: DEV, operation: 'Activate', componentId: 'c', delivery: 'alternate', origin: 'api', state: 'queued', correlator: 'job-old', createdAt: 1, updatedAt: 1, history: [{ state: 'queued', at: 1 }] };
    db.prepare('INSERT INTO scomo_jobs VALUES (?, ?, ?, ?, ?, ?, ?)').run('job-old', DEV, 'queued', 'job-old', JSON.stringify(old), 1, 1);
    db.close();
    const s = new SqliteJobStore(dir);
    try {
      t.is(s.getJob('job-old')?.state, 'queued');
      t.is(s.activeJobs().length, 1);
      t.deepEqual(s.expiredJobs(Date.now() + 1e12, 10), []);
      s.putJob({ ...s.getJob('job-old')!, jobId: 'job-new', correlator: 'job-new', timeoutS: 1, deadline: 1001 });
      t.deepEqual(s.expiredJobs(2000, 10).map((j) => j.jobId), ['job-new']);
      // A settled outcome is not overwritten by a stale unfinished copy.
      const n = s.getJob('job-new')!;
      t.true(s.putJob({ ...n, state: 'failed', resultCode: null, error: 'x' }));
      t.false(s.putJob({ ...n, state: 'accepted' }));
      t.is(s.getJob('job-new')?.state, 'failed');
    } finally {
      s.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two server processes on one store: exactly one of them times a job out', async (t) => {
  if (!dbBackend.database) { t.pass('PostgreSQL only (SQLite serves one process)'); return; }
  const logs: string[] = [];
  const a = await env({ log: (l) => logs.push('A ' + l) });
  const b = await env({ log: (l) => logs.push('B ' + l) }, a.dir);
  try {
    const jobId = await create(a, { operation: 'Activate', componentId: 'c1', timeoutS: 1 });
    await until(async () => (await job(b, jobId)).state === 'failed', 'failed', 20_000);
    await new Promise((r) => setTimeout(r, 500)); // more sweeps of both
    const flips = logs.filter((l) => l.includes(`job ${jobId} failed: timed out after 1 s`));
    t.is(flips.length, 1, flips.join('\n'));
    t.deepEqual((await job(a, jobId)).history.map((h) => h.state).filter((s) => s === 'failed'), ['failed']);
  } finally {
    await b.srv.close();
    await a.close();
  }
});

test('the job store keeps a timed-out outcome: a stale copy (an alert or a run that raced the deadline) is refused', async (t) => {
  const e = await env();
  try {
    const jobId = await create(e, { operation: 'Activate', componentId: 'c1', timeoutS: 600 });
    const stale = await e.srv.jobs.store.getJob(jobId);
    t.is(await e.srv.jobs.expireJobs(Date.now() + 601_000), 1);
    const s = e.srv.jobs.store;
    t.false(await s.putJob({ ...stale!, state: 'succeeded', resultCode: 1200, history: [...stale!.history, { state: 'succeeded', at: Date.now() }] }));
    t.false(await s.putJob({ ...stale!, state: 'notified' }));
    const v = await job(e, jobId);
    t.is(v.state, 'failed');
    t.is(v.error, 'timed out after 600 s');
    t.is(v.resultCode, null);
    t.deepEqual(v.history.map((h) => h.state), ['queued', 'failed']);
  } finally {
    await e.close();
  }
});
