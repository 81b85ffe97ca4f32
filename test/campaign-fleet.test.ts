// Campaigns over the simulated fleet (issue 9 "Done when", 2nd bullet): 1,000 simulated devices
// in 3 waves complete; a package without manifest stops at the error threshold and no later
// wave starts.
import test from 'ava';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnv, Env, TOKEN } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';
import { simulateFleet, SimulatedFleet } from '../src/server/fleet/index.js';

async function waitCampaign(env: Env, id: string, until: (c: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
  const t0 = Date.now();
  for (;;) {
    const r = await env.api<Record<string, unknown>>('GET', '/api/campaigns/' + id);
    if (until(r.json)) return r.json;
    if (Date.now() - t0 > timeoutMs) throw new Error(`campaign ${id} still ${String(r.json.state)} after ${timeoutMs} ms: ${JSON.stringify(r.json.counts)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

// The job store syncs every change to disk; on a loaded CI disk that alone takes longer than the
// campaign. Durability is not what these tests check: use memory-backed storage when there is one.
const dataDir = (): string => mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'scomo-cmp-'));

type Counts = Record<string, number>;
type WaveStat = { wave: number; size: number; started: boolean; counts: Counts };

test.serial('a campaign over 1,000 simulated devices in 3 waves completes', async (t) => {
  t.timeout(120_000);
  const env = await startEnv({}, dataDir());
  let fleet: SimulatedFleet | undefined;
  try {
    fleet = await simulateFleet({ server: env.srv.url, token: TOKEN, devices: 1000, auth: 'basic', fleet: { maxSockets: 48 } });
    t.true(fleet.bootOk, 'every simulated device booted');
    const pkg = await env.upload(makeAppPackage({ id: 'com.example.fleet', name: 'Fleet app', version: '2.0' }), 'fleet-app', '2.0');
    const r = await env.api<{ campaignId: string }>('POST', '/api/campaigns', {
      operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { tags: ['sim'] }, waves: [10, 100], successThreshold: 0.9,
    });
    t.is(r.status, 201, JSON.stringify(r.json));
    const c = await waitCampaign(env, r.json.campaignId, (x) => x.state !== 'running', 100_000);
    t.is(c.state, 'completed', String(c.reason));
    t.is(c.devices, 1000);
    t.deepEqual(c.waves, [10, 100, 890]);
    t.is((c.counts as Counts).succeeded, 1000);
    t.is((c.counts as Counts).failed, 0);
    t.deepEqual((c.waveStats as WaveStat[]).map((w) => [w.wave, w.started, w.counts.succeeded]), [[1, true, 10], [2, true, 100], [3, true, 890]]);
    // Waves ran in order: each started after the previous one had reached the threshold.
    const waves = (c.history as { state: string; wave?: number; at: string }[]).filter((h) => h.state === 'wave');
    t.deepEqual(waves.map((h) => h.wave), [1, 2, 3]);
    // The devices really installed the component from the package's manifest.
    t.true(fleet.devices.every((d) => d.host.components.get('com.example.fleet')?.version === '2.0'));
  } finally {
    await fleet?.close();
    await env.close();
  }
});

test.serial('a failing package stops the campaign at its error threshold; no later wave starts', async (t) => {
  const env = await startEnv({}, dataDir());
  let fleet: SimulatedFleet | undefined;
  try {
    fleet = await simulateFleet({ server: env.srv.url, token: TOKEN, devices: 120, auth: 'basic', prefix: 'bad-' });
    t.true(fleet.bootOk);
    const pkg = await env.upload(makeAppPackage({ id: 'x', name: 'Broken', version: '1', noManifest: true }), 'broken', '1');
    const r = await env.api<{ campaignId: string }>('POST', '/api/campaigns', {
      operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { tags: ['sim'] }, waves: [10, 30], errorThreshold: 0.2,
    });
    t.is(r.status, 201);
    const c = await waitCampaign(env, r.json.campaignId, (x) => x.state !== 'running', 30_000);
    t.is(c.state, 'paused');
    t.regex(String(c.reason), /error threshold/);
    // Let whatever wave 1 still had in flight finish, then check that nothing beyond it started.
    await waitCampaign(env, r.json.campaignId, (x) => ((x.waveStats as WaveStat[])[0].counts.failed) === 10, 20_000);
    await new Promise((res) => setTimeout(res, 300));
    const after = (await env.api<Record<string, unknown>>('GET', '/api/campaigns/' + r.json.campaignId + '?targets=1')).json;
    const ws = after.waveStats as WaveStat[];
    t.deepEqual(ws.map((w) => w.started), [true, false, false]);
    t.is(ws[1].counts.pending, 30);
    t.is(ws[2].counts.pending, 80);
    const targets = after.targets as { deviceId: string; wave: number; state: string; resultCode?: number }[];
    t.true(targets.filter((x) => x.wave === 1).every((x) => x.state === 'failed' && x.resultCode === 1405));
    // No job was created for any device of waves 2 and 3.
    const later = targets.filter((x) => x.wave > 1).map((x) => x.deviceId);
    const jobs = (await env.api<{ jobs: { deviceId: string }[] }>('GET', '/api/jobs?limit=1000')).json.jobs;
    t.is(jobs.filter((j) => later.includes(j.deviceId)).length, 0);
    t.is(jobs.length, 10);
  } finally {
    await fleet?.close();
    await env.close();
  }
});
