// Campaign controls over small simulated fleets: pause/resume, cancel (downloads in flight are
// cancelled), maintenance windows (download now, install inside the window), and a server
// restart in the middle of a campaign.
import test from 'ava';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnv, Env, TOKEN } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';
import { simulateFleet, SimulatedFleet } from '../src/server/fleet/index.js';
import { startScomoServer } from '../src/server/scomo-server.js';
import { CampaignEngine } from '../src/server/campaigns/engine.js';
import { SqliteCampaignStore } from '../src/server/campaigns/store-sqlite.js';

const dataDir = (): string => mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'scomo-cmp-'));

type Counts = Record<string, number>;
type WaveStat = { wave: number; size: number; started: boolean; counts: Counts };
type View = Record<string, unknown> & { state: string; counts: Counts; waveStats: WaveStat[]; targets?: { deviceId: string; wave: number; state: string; jobId?: string; resultCode?: number }[] };

async function campaign(env: Env, id: string, targets = false): Promise<View> {
  return (await env.api<View>('GET', `/api/campaigns/${id}${targets ? '?targets=1' : ''}`)).json;
}

async function waitFor(env: Env, id: string, until: (c: View) => boolean, timeoutMs = 30_000): Promise<View> {
  const t0 = Date.now();
  for (;;) {
    const c = await campaign(env, id, true);
    if (until(c)) return c;
    if (Date.now() - t0 > timeoutMs) throw new Error(`campaign ${id}: condition not reached in ${timeoutMs} ms (${c.state} ${JSON.stringify(c.counts)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function setup(n: number, prefix: string, fleetOpts: { bytesPerSecond?: number } = {}, dir = dataDir(), port = 0): Promise<{ env: Env; fleet: SimulatedFleet }> {
  const env = await startEnv({ port }, dir);
  const fleet = await simulateFleet({ server: env.srv.url, token: TOKEN, devices: n, prefix, auth: 'basic', fleet: fleetOpts });
  return { env, fleet };
}

const APP = makeAppPackage({ id: 'com.example.ctl', name: 'Ctl app', version: '1.0' });

test('pause stops new jobs (later waves wait); resume carries on to completion', async (t) => {
  const { env, fleet } = await setup(12, 'pr-');
  try {
    const pkg = await env.upload(APP, 'ctl', '1.0');
    const r = await env.api<{ campaignId: string }>('POST', '/api/campaigns', { operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { tags: ['sim'] }, waves: [4, 4], successThreshold: 1 });
    t.is(r.status, 201);
    const id = r.json.campaignId;
    const p = await env.api<{ state: string }>('POST', `/api/campaigns/${id}/pause`);
    t.is(p.status, 200);
    t.is(p.json.state, 'paused');
    t.is((await env.api('POST', `/api/campaigns/${id}/pause`)).status, 409, 'pausing a paused campaign is a conflict');
    // Whatever wave 1 started finishes; nothing else starts while paused.
    const c = await waitFor(env, id, (x) => x.waveStats[0].counts.succeeded + x.waveStats[0].counts.pending === 4 && x.counts.queued + x.counts.notified + x.counts['in-session'] + x.counts.accepted === 0);
    await new Promise((res) => setTimeout(res, 300));
    const still = await campaign(env, id, true);
    t.is(still.state, 'paused');
    t.deepEqual(still.waveStats.map((w) => w.started), [true, false, false]);
    t.is(still.waveStats[1].counts.pending + still.waveStats[2].counts.pending, 8);
    t.is(still.counts.succeeded, c.counts.succeeded);
    const jobs = (await env.api<{ jobs: unknown[] }>('GET', '/api/jobs?limit=100')).json.jobs;
    t.is(jobs.length, c.counts.succeeded, 'no job beyond those wave 1 had started');
    t.is((await env.api('POST', `/api/campaigns/${id}/resume`)).status, 200);
    const done = await waitFor(env, id, (x) => x.state === 'completed');
    t.is(done.counts.succeeded, 12);
    t.deepEqual(done.waveStats.map((w) => w.counts.succeeded), [4, 4, 4]);
    t.true(fleet.devices.every((d) => d.host.components.has('com.example.ctl')));
    t.is((await env.api('POST', `/api/campaigns/${id}/resume`)).status, 409, 'a completed campaign cannot be resumed');
  } finally {
    await fleet.close();
    await env.close();
  }
});

test('cancel stops new jobs and cancels the downloads in flight', async (t) => {
  // Slow links keep the downloads running long enough to be cancelled.
  const { env, fleet } = await setup(6, 'cx-', { bytesPerSecond: 256 * 1024 });
  try {
    const big = makeAppPackage({ id: 'com.example.big', name: 'Big', version: '1', payloadBytes: 3 << 20 });
    const pkg = await env.upload(big, 'big', '1');
    const r = await env.api<{ campaignId: string }>('POST', '/api/campaigns', { operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { tags: ['sim'] }, waves: [3] });
    t.is(r.status, 201);
    const id = r.json.campaignId;
    await waitFor(env, id, (x) => x.waveStats[0].counts.accepted === 3);
    const c = await env.api<{ state: string }>('POST', `/api/campaigns/${id}/cancel`);
    t.is(c.status, 200);
    t.is(c.json.state, 'cancelled');
    const end = await waitFor(env, id, (x) => x.counts.failed + x.counts.cancelled === 6);
    t.is(end.state, 'cancelled');
    t.is(end.waveStats[1].counts.cancelled, 3, 'wave 2 never started');
    // The device stopped each transfer and reported 1450 (cancelled) in its final alert.
    t.deepEqual(end.targets!.filter((x) => x.wave === 1).map((x) => [x.state, x.resultCode]), [['failed', 1450], ['failed', 1450], ['failed', 1450]]);
    t.true(fleet.devices.every((d) => d.host.components.size === 0), 'nothing was installed');
    t.is((await env.api<{ jobs: unknown[] }>('GET', '/api/jobs?limit=100')).json.jobs.length, 3);
    t.is((await env.api('POST', `/api/campaigns/${id}/resume`)).status, 409);
  } finally {
    await fleet.close();
    await env.close();
  }
});

test('maintenance window: download now, install only once the window is open', async (t) => {
  const { env, fleet } = await setup(5, 'mw-');
  try {
    const cmp = env.srv.campaigns;
    cmp.now = () => Date.UTC(2026, 0, 1, 12, 0); // 12:00 UTC: outside 02:00-03:00
    const pkg = await env.upload(APP, 'ctl', '1.0');
    const r = await env.api<{ campaignId: string }>('POST', '/api/campaigns', {
      operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { tags: ['sim'] }, waves: [5], window: { start: '02:00', end: '03:00', tz: 'UTC' },
    });
    t.is(r.status, 201, JSON.stringify(r.json));
    const id = r.json.campaignId;
    const waiting = await waitFor(env, id, (x) => x.counts.downloaded === 5);
    t.is(waiting.state, 'running');
    t.deepEqual((waiting as { window?: unknown }).window, { start: '02:00', end: '03:00', tz: 'UTC' });
    await cmp.tick();
    await new Promise((res) => setTimeout(res, 300));
    const jobs = (await env.api<{ jobs: { operation: string; state: string }[] }>('GET', '/api/jobs?limit=100')).json.jobs;
    t.deepEqual(jobs.map((j) => j.operation + ':' + j.state), Array(5).fill('Download:succeeded'), 'only downloads ran outside the window');
    t.true(fleet.devices.every((d) => d.host.components.size === 0));
    cmp.now = () => Date.UTC(2026, 0, 2, 2, 30); // inside the window
    await cmp.tick();
    const done = await waitFor(env, id, (x) => x.state === 'completed');
    t.is(done.counts.succeeded, 5);
    const after = (await env.api<{ jobs: { operation: string; state: string }[] }>('GET', '/api/jobs?limit=100')).json.jobs;
    t.is(after.filter((j) => j.operation === 'Install' && j.state === 'succeeded').length, 5);
    t.true(fleet.devices.every((d) => d.host.components.get('com.example.ctl')?.active === true));
  } finally {
    await fleet.close();
    await env.close();
  }
});

test('a campaign survives a server restart and completes without duplicate jobs', async (t) => {
  const dir = dataDir();
  const first = await setup(10, 'rs-', {}, dir);
  let env = first.env;
  const fleet = first.fleet;
  try {
    const pkg = await env.upload(APP, 'ctl', '1.0');
    const r = await env.api<{ campaignId: string }>('POST', '/api/campaigns', { operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { tags: ['sim'] }, waves: [2, 3] });
    const id = r.json.campaignId;
    await waitFor(env, id, (x) => x.counts.succeeded >= 1);
    const port = Number(new URL(env.srv.url).port);
    await env.srv.close(); // the data directory stays
    env = await startEnv({ port }, dir);
    const done = await waitFor(env, id, (x) => x.state === 'completed', 60_000);
    t.is(done.counts.succeeded, 10);
    const jobs = (await env.api<{ jobs: { deviceId: string }[] }>('GET', '/api/jobs?limit=100')).json.jobs;
    t.is(jobs.length, 10);
    t.is(new Set(jobs.map((j) => j.deviceId)).size, 10, 'one job per device');
    const list = (await env.api<{ campaigns: { campaignId: string; state: string }[] }>('GET', '/api/campaigns')).json.campaigns;
    t.deepEqual(list.map((c) => [c.campaignId, c.state]), [[id, 'completed']]);
  } finally {
    await fleet.close();
    await env.close();
  }
});

test('pause, resume and cancel sent to a second server on the same store (as another process would) reach the one driving the campaign', async (t) => {
  const dir = dataDir();
  // B starts first: a process only drives the campaigns it created or found at its start.
  const b = await startScomoServer({ port: 0, host: '127.0.0.1', dataDir: dir, apiToken: TOKEN });
  const a = await startEnv({}, dir);
  const onB = async (path: string): Promise<{ status: number; json: { state?: string; error?: string } }> => {
    const r = await fetch(b.url + path, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });
    return { status: r.status, json: (await r.json()) as { state?: string } };
  };
  try {
    for (const d of ['m-1', 'm-2', 'm-3']) {
      // No notification address: the jobs stay queued, so nothing moves but the operator.
      t.is((await a.api('POST', '/api/devices', { deviceId: d, clientUser: d, clientSecret: 'c', serverId: 's', serverSecret: 'ss' })).status, 201);
    }
    const pkg = await a.upload(APP, 'ctl', '1.0');
    const r = await a.api<{ campaignId: string }>('POST', '/api/campaigns', { operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { devices: ['m-1', 'm-2', 'm-3'] }, waves: [1] });
    const id = r.json.campaignId;
    await waitFor(a, id, (x) => x.counts.pending === 2 && x.counts.pending + x.counts.queued + x.counts.notified === 3);
    const p = await onB(`/api/campaigns/${id}/pause`);
    t.is(p.status, 200, JSON.stringify(p.json));
    t.is(p.json.state, 'paused');
    await a.srv.campaigns.tick();
    const paused = await campaign(a, id);
    t.is(paused.state, 'paused');
    t.is(paused.reason, 'paused by the operator');
    t.is((await a.api('POST', `/api/campaigns/${id}/resume`)).status, 200);
    await new Promise((res) => setTimeout(res, 50));
    const c = await onB(`/api/campaigns/${id}/cancel`);
    t.is(c.status, 200, JSON.stringify(c.json));
    await a.srv.campaigns.tick();
    const end = await campaign(a, id);
    t.is(end.state, 'cancelled');
    t.is(end.counts.cancelled, 2, 'the devices of wave 2 never got a job');
    t.is((await onB(`/api/campaigns/${id}/resume`)).status, 409);
  } finally {
    await b.close();
    await a.close();
  }
});

test('a campaign whose driving process died is taken over when its lease runs out, without duplicate jobs', async (t) => {
  const dir = dataDir();
  const a = await startEnv({}, dir);
  const stores: SqliteCampaignStore[] = [];
  try {
    a.srv.campaigns.close(); // two engines of our own below play the two processes
    for (const d of ['k-1', 'k-2', 'k-3', 'k-4']) {
      t.is((await a.api('POST', '/api/devices', { deviceId: d, clientUser: d, clientSecret: 'c', serverId: 's', serverSecret: 'ss' })).status, 201);
    }
    const pkg = await a.upload(APP, 'ctl', '1.0');
    const engine = (): CampaignEngine => {
      const store = new SqliteCampaignStore(dir);
      stores.push(store);
      return new CampaignEngine({ jobs: a.srv.jobs, store, storage: a.srv.storage, leaseMs: 300, pollMs: 0 });
    };
    const e1 = engine();
    await e1.start();
    const r = await e1.create({ operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { devices: ['k-1', 'k-2', 'k-3', 'k-4'] }, waves: [2] });
    if (!r.ok) { t.fail(r.error); return; }
    const id = r.value.campaignId;
    await e1.settle();
    t.is((await a.api<{ jobs: unknown[] }>('GET', '/api/jobs')).json.jobs.length, 2);
    e1.close(false); // as if the process died: the lease stays until it runs out
    const e2 = engine();
    await e2.start();
    t.is((await stores[1].getCampaign(id))?.lease?.owner, e1.owner, 'the lease of the dead process still holds');
    await new Promise((res) => setTimeout(res, 350));
    await e2.tick();
    t.is((await stores[1].getCampaign(id))?.lease?.owner, e2.owner, 'taken over');
    const p = await e2.pause(id);
    t.true(p.ok);
    const v = await e2.get(id);
    t.is(v?.state, 'paused');
    t.deepEqual((v?.counts as Record<string, number>).pending, 2);
    t.is((await a.api<{ jobs: unknown[] }>('GET', '/api/jobs')).json.jobs.length, 2, 'the jobs of wave 1 were adopted, not created again');
    e2.close();
  } finally {
    for (const s of stores) await s.close();
    await a.close();
  }
});
