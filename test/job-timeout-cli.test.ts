// Job deadlines (docs/api.md "Job deadlines") through the command line and under a race:
// `scomo server --job-timeout S` as a real process (the default deadline reaches jobs created
// without "timeoutS"; a bad value is a one-line usage error), `scomo campaign create --job-timeout S`
// (sent as "jobTimeoutS", carried by the campaign's jobs; a bad value is a usage error), and a
// final alert racing the deadline sweep in the job engine: exactly one outcome either way.
// SQLite only; test/scomo-job-timeout.test.ts covers the API and the sweep itself.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEnv, Env, TOKEN } from './helpers/scomo-e2e.js';
import { scriptedSession, finalAlert, DEV, until, queued } from './helpers/scomo-script.js';
import { account } from './helpers/server-fixtures.js';
import type { ScomoServerOptions } from '../src/server/scomo-server.js';
import type { Job } from '../src/server/scomo/types.js';
import { openSqliteStorage } from '../src/server/storage/sqlite.js';
import { makeAccount } from '../src/server/accounts.js';
import { run as serverCli } from '../src/server/cli/server.js';
import { run as campaignCli } from '../src/server/cli/campaign.js';
import { captured } from './helpers/cli-capture.js';

const BIN = fileURLToPath(new URL('../bin/scomo.js', import.meta.url));
const BAD = ['0', '-1', 'abc', '1.5'];

type J = Record<string, unknown> & { state: string; error?: string; resultCode?: number | null; deadline?: string; timeoutS?: number; createdAt?: string; lateResult?: { resultCode: number | null }; history: { state: string }[] };

async function env(over: Partial<ScomoServerOptions> = {}): Promise<Env> {
  const e = await startEnv({ jobSweepMs: 100, ...over });
  await e.srv.addAccount(account());
  await e.srv.jobs.store.setRoot(DEV, './SCOMO');
  return e;
}

async function job(e: { api: Env['api'] }, jobId: string): Promise<J> {
  return (await e.api<J>('GET', '/api/jobs/' + jobId)).json;
}

/** Runs an in-process CLI entry with stdout/stderr captured (callers are test.serial). */

interface Proc { p: ChildProcess; out: string[]; err: string[]; exit: Promise<number | null> }

function scomo(args: string[]): Proc {
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  const err: string[] = [];
  p.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
  p.stderr!.on('data', (b: Buffer) => err.push(b.toString()));
  const exit = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  return { p, out, err, exit };
}

// ---- scomo server --job-timeout ----

test('scomo server --job-timeout S (a process): a job created without timeoutS gets the default deadline and times out', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-jtcli-'));
  // The device account, provisioned before the server starts (as `scomo account add` does).
  const storage = openSqliteStorage(dir);
  const acc = makeAccount(account());
  if (typeof acc === 'string') throw new Error(acc);
  await storage.putAccount(acc);
  await storage.close();
  const srv = scomo(['server', '--port', '0', '--host', '127.0.0.1', '--data', dir, '--api-token', TOKEN, '--quiet', '--job-timeout', '1']);
  t.teardown(() => { srv.p.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); });
  let base = '';
  await until(() => {
    const m = /listening on (http:\/\/\S+)\/dm /.exec(srv.out.join(''));
    if (m) base = m[1];
    if (srv.p.exitCode !== null) throw new Error('server exited: ' + srv.err.join(''));
    return !!m;
  }, 'the server URL', 30_000);
  const api = async <T,>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> => {
    const r = await fetch(base + path, {
      method, headers: { Authorization: `Bearer ${TOKEN}`, ...(body !== undefined && !(body instanceof Uint8Array) ? { 'Content-Type': 'application/json' } : {}) },
      ...(body === undefined ? {} : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
    });
    return { status: r.status, json: (await r.json()) as T };
  };
  const up = await api<{ pkgId: string }>('POST', '/api/packages?name=p&version=1&type=application%2Fx-tar', new Uint8Array([1, 2, 3]));
  t.is(up.status, 201);
  const devJobs = `/api/devices/${encodeURIComponent(DEV)}/jobs`;
  const a = await api<{ jobId: string }>('POST', devJobs, { operation: 'DownloadInstall', pkgId: up.json.pkgId });
  t.is(a.status, 201);
  const b = await api<{ jobId: string }>('POST', devJobs, { operation: 'DownloadInstall', pkgId: up.json.pkgId, timeoutS: 3600 });
  t.is(b.status, 201);
  const va = await job({ api }, a.json.jobId);
  t.is(va.timeoutS, 1, 'the server default');
  t.is(Date.parse(va.deadline ?? '') - Date.parse(va.createdAt ?? ''), 1000);
  t.is((await job({ api }, b.json.jobId)).timeoutS, 3600, 'a body timeoutS wins over the default');
  // The default is a real deadline: the sweep (about every second) fails the job.
  await until(async () => (await job({ api }, a.json.jobId)).state === 'failed', 'the default deadline', 15_000);
  const done = await job({ api }, a.json.jobId);
  t.is(done.error, 'timed out after 1 s');
  t.is(done.resultCode, null);
  t.not((await job({ api }, b.json.jobId)).state, 'failed');
  srv.p.kill('SIGTERM');
  t.is(await srv.exit, 0);
  t.regex(srv.out.join(''), /scomo server stopped/);
  t.is(srv.err.join(''), '');
});

test.serial('scomo server --job-timeout with 0, -1, abc, 1.5 (or beyond 30 days) is a usage error: one message line, exit 1 (like every scomo command)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-jtcli-'));
  try {
    for (const bad of [...BAD, '2592001', '']) {
      const r = await captured(serverCli, ['--port', '0', '--host', '127.0.0.1', '--data', dir, '--quiet', '--job-timeout', bad]);
      t.is(r.code, 1, JSON.stringify(bad));
      t.is(r.err.split('\n')[0], 'scomo server: --job-timeout must be a whole number of seconds, 1..2592000 (30 days)', JSON.stringify(bad));
      t.regex(r.err, /^usage: scomo server/m);
      t.notRegex(r.err, /^\s+at /m, 'no stack trace');
      t.is(r.out, '', 'nothing started');
    }
    // The spelling with "=" too.
    const r = await captured(serverCli, ['--data', dir, '--job-timeout=-1']);
    t.is(r.code, 1);
    t.regex(r.err, /^scomo server: --job-timeout must be a whole number/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scomo server --job-timeout abc through bin/scomo.js: exit 1, the message first, no stack trace, no data directory made', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'scomo-jtcli-')), 'data');
  t.teardown(() => rmSync(join(dir, '..'), { recursive: true, force: true }));
  const p = scomo(['server', '--port', '0', '--data', dir, '--job-timeout', 'abc']);
  t.is(await p.exit, 1);
  const err = p.err.join('');
  t.is(err.split('\n')[0], 'scomo server: --job-timeout must be a whole number of seconds, 1..2592000 (30 days)');
  t.notRegex(err, /^\s+at |Error:/m);
  t.is(p.out.join(''), '');
  t.false(existsSync(dir), 'the server never started');
});

// ---- scomo campaign create --job-timeout ----

test.serial('scomo campaign create --job-timeout S sends jobTimeoutS; the campaign\'s jobs carry it; without it they get the server default', async (t) => {
  const e = await env({ jobTimeoutS: 120 });
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const common = ['--server', e.srv.url, '--token', TOKEN];
    type C = { jobTimeoutS?: number; targets: { jobId?: string }[] };
    const jobOf = async (campaignId: string): Promise<J> => {
      let c: C | undefined;
      await until(async () => {
        c = (await e.api<C>('GET', `/api/campaigns/${campaignId}?targets=1`)).json;
        return !!c.targets[0]?.jobId;
      }, 'the campaign\'s job');
      return job(e, c!.targets[0].jobId!);
    };
    const r = await captured(campaignCli, ['create', '--operation', 'DownloadInstall', '--pkg', pkg.pkgId, '--devices', DEV, '--job-timeout', '3600', ...common]);
    t.is(r.code, 0, r.err);
    const id = r.out.trim();
    t.regex(id, /^cmp-[0-9a-f]+$/);
    t.is((await e.api<C>('GET', '/api/campaigns/' + id)).json.jobTimeoutS, 3600);
    const j = await jobOf(id);
    t.is(j.timeoutS, 3600);
    t.is(Date.parse(j.deadline ?? '') - Date.parse(j.createdAt ?? ''), 3_600_000);
    t.is(j.state === 'failed' ? j.error : undefined, undefined, 'no early timeout');

    // Without the option the body has no jobTimeoutS: the server default (120) applies.
    await e.srv.addAccount(account({ deviceId: 'dev-2' }));
    await e.srv.jobs.store.setRoot('dev-2', './SCOMO');
    const r2 = await captured(campaignCli, ['create', '--operation', 'DownloadInstall', '--pkg', pkg.pkgId, '--devices', 'dev-2', ...common]);
    t.is(r2.code, 0, r2.err);
    t.false('jobTimeoutS' in (await e.api<C>('GET', '/api/campaigns/' + r2.out.trim())).json);
    t.is((await jobOf(r2.out.trim())).timeoutS, 120);
  } finally {
    await e.close();
  }
});

test.serial('scomo campaign create --job-timeout 0, -1, abc, 1.5 is a usage error (nothing created); beyond 30 days the server\'s error comes back', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const common = ['--server', e.srv.url, '--token', TOKEN];
    for (const bad of BAD) {
      const r = await captured(campaignCli, ['create', '--operation', 'DownloadInstall', '--pkg', pkg.pkgId, '--devices', DEV, '--job-timeout', bad, ...common]);
      t.is(r.code, 1, bad);
      t.is(r.err.split('\n')[0], 'scomo campaign: --job-timeout needs a whole number of seconds', bad);
      t.notRegex(r.err, /^\s+at /m);
      t.is(r.out, '');
    }
    t.deepEqual((await e.api<{ campaigns: unknown[] }>('GET', '/api/campaigns')).json.campaigns, [], 'no campaign was created');
    const r = await captured(campaignCli, ['create', '--operation', 'DownloadInstall', '--pkg', pkg.pkgId, '--devices', DEV, '--job-timeout', '2592001', ...common]);
    t.is(r.code, 1);
    t.regex(r.err, /"jobTimeoutS" must be a whole number of seconds, 1\.\.2592000/);
    t.deepEqual((await e.api<{ campaigns: unknown[] }>('GET', '/api/campaigns')).json.campaigns, []);
  } finally {
    await e.close();
  }
});

// ---- a final alert racing the deadline ----

const TERMINAL = new Set(['succeeded', 'failed']);
const DEV_JOBS = `/api/devices/${encodeURIComponent(DEV)}/jobs`;
const LATER = 601_000; // past the 600 s deadline of the jobs below

/** The terminal 'job' events per job, as emitted (state, and whether it carried lateResult). */
function terminalEvents(e: Env): Map<string, { state: string; late: boolean }[]> {
  const events = new Map<string, { state: string; late: boolean }[]>();
  e.srv.jobs.on('job', (j: Job) => {
    if (!TERMINAL.has(j.state)) return;
    const l = events.get(j.jobId) ?? [];
    l.push({ state: j.state, late: j.lateResult !== undefined });
    events.set(j.jobId, l);
  });
  return events;
}

/** A DownloadInstall (deadline 600 s) the scripted device has accepted (Exec answered 202). */
async function acceptedJob(e: Env, pkgId: string): Promise<string> {
  const r = await e.api<{ jobId: string; error?: string }>('POST', DEV_JOBS, { operation: 'DownloadInstall', pkgId, timeoutS: 600 });
  if (r.status !== 201) throw new Error(`job creation answered ${r.status}: ${r.json.error}`);
  const jobId = r.json.jobId;
  await queued(e, jobId);
  await scriptedSession(e.srv.dm);
  await until(async () => (await job(e, jobId)).state === 'accepted', 'accepted');
  return jobId;
}

/** The final alert (1200) has been handled: the job succeeded, or failed with the late result kept. */
async function settled(e: Env, jobId: string, what: string): Promise<J> {
  await until(async () => {
    const v = await job(e, jobId);
    return v.state === 'succeeded' || (v.state === 'failed' && v.lateResult !== undefined);
  }, `${jobId} settled (${what})`, 10_000);
  return job(e, jobId);
}

type Check = { is(a: unknown, b: unknown, m?: string): void; true(a: boolean, m?: string): void; false(a: boolean, m?: string): void };

/** Exactly one outcome, whichever won; one terminal history entry; one terminal event (+ one lateResult update). */
function checkOneOutcome(t: Check, v: J, events: { state: string; late: boolean }[], flipped: number, what: string): void {
  const w = `${what}: ${JSON.stringify(v)}`;
  if (v.state === 'succeeded') {
    t.is(v.resultCode, 1200, w);
    t.false('error' in v, w);
    t.false('lateResult' in v, w);
    t.is(flipped, 0, w);
  } else {
    t.is(v.state, 'failed', w);
    t.is(v.error, 'timed out after 600 s', w);
    t.is(v.resultCode, null, w);
    t.is(v.lateResult?.resultCode, 1200, w);
    t.is(flipped, 1, w);
  }
  t.is(v.history.filter((h) => TERMINAL.has(h.state)).length, 1, w);
  const outcomes = events.filter((x) => !x.late);
  const lates = events.filter((x) => x.late);
  t.is(outcomes.length, 1, `terminal events of ${what}: ${JSON.stringify(events)}`);
  t.is(outcomes[0]?.state, v.state, w);
  t.is(lates.length, v.state === 'failed' ? 1 : 0, `lateResult events of ${what}: ${JSON.stringify(events)}`);
  t.true(lates.every((x) => x.state === 'failed'), w);
}

test('a final alert (1200) racing the deadline sweep, both orders, 40 interleavings: exactly one outcome each time', async (t) => {
  const logs: string[] = [];
  const e = await env({ jobSweepMs: 60_000, log: (l) => logs.push(l) }); // only the test's own sweeps
  const events = terminalEvents(e);
  const seq: string[] = [];
  try {
    const pkg = await e.upload(new Uint8Array([1, 2]), 'p', '1');
    for (let i = 0; i < 40; i++) {
      const sweepFirst = i % 2 === 1;
      // The sweep starts after 0..19 microtask turns: measured, the alert's handling (in-process
      // session, SQLite) wins from about 12 on, so the runs cover both winners and the window between.
      const turns = Math.floor(i / 2);
      const jobId = await acceptedJob(e, pkg.pkgId);
      const sweepLater = async (): Promise<number> => {
        for (let k = 0; k < turns; k++) await Promise.resolve();
        return e.srv.jobs.expireJobs(Date.now() + LATER);
      };
      const alert = (): Promise<unknown> => scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, 1200, 'p')] });
      let sweep: Promise<number>;
      let session: Promise<unknown>;
      if (sweepFirst) { sweep = sweepLater(); session = alert(); } else { session = alert(); sweep = sweepLater(); }
      const [flipped] = await Promise.all([sweep, session]);
      const what = `iteration ${i} (${sweepFirst ? 'sweep' : 'alert'} started first, sweep after ${turns} turns)`;
      const v = await settled(e, jobId, what);
      seq.push(`${sweepFirst ? 'S' : 'A'}${turns}:${v.state[0]}`);
      checkOneOutcome(t, v, events.get(jobId) ?? [], flipped, what);
      // Nothing is left to time out; a second sweep changes nothing.
      t.is(await e.srv.jobs.expireJobs(Date.now() + LATER), 0, what);
      t.is((await job(e, jobId)).state, v.state, what);
    }
    const midWindow = logs.filter((l) => /not moved to succeeded, it already has an outcome/.test(l)).length;
    t.log(`outcomes (S/A = sweep/alert started first, turns, s/f): ${seq.join(' ')}; alert read "accepted" but lost the write: ${midWindow}x`);
    t.is(seq.length, 40);
  } finally {
    await e.close();
  }
});

test('the deadline flips between the alert reading the job and storing "succeeded": failed, lateResult 1200, one terminal event', async (t) => {
  const logs: string[] = [];
  const e = await env({ jobSweepMs: 60_000, log: (l) => logs.push(l) });
  const events = terminalEvents(e);
  try {
    const pkg = await e.upload(new Uint8Array([1, 2]), 'p', '1');
    const jobId = await acceptedJob(e, pkg.pkgId);
    // The engine reads the job by its correlator, then the sweep runs before the engine writes.
    const store = e.srv.jobs.store;
    const find = store.findByCorrelator.bind(store);
    let flipped = -1;
    store.findByCorrelator = async (deviceId: string, correlator: string) => {
      const j = await find(deviceId, correlator);
      if (correlator === jobId && flipped < 0) flipped = await e.srv.jobs.expireJobs(Date.now() + LATER);
      return j;
    };
    await scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, 1200, 'p')] });
    const v = await settled(e, jobId, 'flip inside the alert');
    t.is(v.state, 'failed');
    checkOneOutcome(t, v, events.get(jobId) ?? [], flipped, 'flip inside the alert');
    t.true(logs.some((l) => l.includes(`job ${jobId}: not moved to succeeded, it already has an outcome`)), 'the alert\'s write was refused');
  } finally {
    await e.close();
  }
});

test('the alert is handled between the sweep listing the job and flipping it: succeeded, the sweep flips nothing, one terminal event', async (t) => {
  const e = await env({ jobSweepMs: 60_000 });
  const events = terminalEvents(e);
  try {
    const pkg = await e.upload(new Uint8Array([1, 2]), 'p', '1');
    const jobId = await acceptedJob(e, pkg.pkgId);
    // The sweep lists the job (still "accepted"), then the final alert is handled in full before it goes on.
    const store = e.srv.jobs.store;
    const expired = store.expiredJobs.bind(store);
    let delivered = false;
    store.expiredJobs = async (now: number, limit: number) => {
      const list = await expired(now, limit);
      if (!delivered && list.some((j) => j.jobId === jobId)) {
        delivered = true;
        await scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, 1200, 'p')] });
        await settled(e, jobId, 'alert inside the sweep');
      }
      return list;
    };
    const flipped = await e.srv.jobs.expireJobs(Date.now() + LATER);
    t.true(delivered);
    const v = await job(e, jobId);
    t.is(v.state, 'succeeded');
    checkOneOutcome(t, v, events.get(jobId) ?? [], flipped, 'alert inside the sweep');
  } finally {
    await e.close();
  }
});
