// The SCOMO server with the real emulated device (targets/node: agent, tree, SCOMO engine,
// directory installer) over loopback HTTP and package 0 over UDP: jobs created through the REST
// API run end to end and the inventory follows.
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnv, addDevice, bootDevice, Env } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';

interface Inv { deployed: { id: string; name: string; version: string; state: string }[]; delivered: { pkgId: string; name: string; state: string }[]; stale: boolean }

async function job(e: Env, deviceId: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await e.api<{ jobId: string; error?: string }>('POST', `/api/devices/${deviceId}/jobs`, body);
  if (r.status !== 201) throw new Error('job create: ' + r.status + ' ' + JSON.stringify(r.json));
  return e.waitJob(r.json.jobId, 30_000);
}

async function inventory(e: Env, deviceId: string): Promise<Inv> {
  return (await e.api<Inv>('GET', `/api/devices/${deviceId}/inventory?refresh=1&timeout=10`)).json;
}

test('XML device, alternate download: DownloadInstall, Deactivate, Activate, Remove, each reflected in the inventory', async (t) => {
  const e = await startEnv();
  await addDevice(e, 'dev-x');
  const dev = await bootDevice(e, 'dev-x', mkdtempSync(join(tmpdir(), 'scomo-dev-')));
  try {
    const pkg = await e.upload(makeAppPackage({ id: 'com.example.hello', name: 'Hello', version: '1.0' }), 'hello', '1.0');
    const j1 = await job(e, 'dev-x', { operation: 'DownloadInstall', pkgId: pkg.pkgId, delivery: 'alternate' });
    t.is(j1.state, 'succeeded', JSON.stringify(j1));
    t.is(j1.resultCode, 1200);
    t.is(j1.identifier, 'com.example.hello');
    // A plain read right after the outcome waits for the refresh the outcome started.
    let inv = (await e.api<Inv>('GET', '/api/devices/dev-x/inventory')).json;
    t.false(inv.stale);
    t.deepEqual(inv.deployed.map((d) => [d.id, d.name, d.version, d.state]), [['com.example.hello', 'Hello', '1.0', 'active']]);
    t.true(e.srv.downloads.bytesServed >= pkg.size);

    const j2 = await job(e, 'dev-x', { operation: 'Deactivate', componentId: 'com.example.hello' });
    t.is(j2.state, 'succeeded');
    inv = await inventory(e, 'dev-x');
    t.is(inv.deployed[0].state, 'inactive');

    const j3 = await job(e, 'dev-x', { operation: 'Activate', componentId: 'com.example.hello' });
    t.is(j3.state, 'succeeded');
    inv = await inventory(e, 'dev-x');
    t.is(inv.deployed[0].state, 'active');

    const j4 = await job(e, 'dev-x', { operation: 'Remove', componentId: 'com.example.hello' });
    t.is(j4.state, 'succeeded');
    inv = await inventory(e, 'dev-x');
    t.deepEqual(inv.deployed, []);
    t.is(await e.srv.jobs.store.getRoot('dev-x'), './SCOMO');
  } finally {
    await dev.close();
    await e.close();
  }
});

test('WBXML device, delivery over DM: DownloadInstallInactive, then Download + Install of a second package; a bad package fails with its result code', async (t) => {
  const e = await startEnv();
  await addDevice(e, 'dev-w');
  const dev = await bootDevice(e, 'dev-w', mkdtempSync(join(tmpdir(), 'scomo-dev-')), { encoding: 'wbxml' });
  try {
    const a = await e.upload(makeAppPackage({ id: 'app.a', name: 'A', version: '2.0', payloadBytes: 200_000 }), 'a', '2.0');
    const j1 = await job(e, 'dev-w', { operation: 'DownloadInstallInactive', pkgId: a.pkgId, delivery: 'dm' });
    t.is(j1.state, 'succeeded', JSON.stringify(j1));
    t.is(j1.resultCode, 1200);
    let inv = await inventory(e, 'dev-w');
    t.deepEqual(inv.deployed.map((d) => `${d.id}@${d.version}:${d.state}`), ['app.a@2.0:inactive']);
    t.is(e.srv.downloads.bytesServed, 0, 'nothing went through the download server');

    const b = await e.upload(makeAppPackage({ id: 'app.b', name: 'B', version: '1.0' }), 'b', '1.0');
    const j2 = await job(e, 'dev-w', { operation: 'Download', pkgId: b.pkgId, delivery: 'alternate' });
    t.is(j2.state, 'succeeded', JSON.stringify(j2));
    inv = await inventory(e, 'dev-w');
    t.true(inv.delivered.some((d) => d.pkgId === b.pkgId && d.state === 'delivered'));
    const j3 = await job(e, 'dev-w', { operation: 'Install', pkgId: b.pkgId });
    t.is(j3.state, 'succeeded', JSON.stringify(j3));
    inv = await inventory(e, 'dev-w');
    t.deepEqual(inv.deployed.map((d) => `${d.id}:${d.state}`).sort(), ['app.a:inactive', 'app.b:active']);

    const bad = await e.upload(makeAppPackage({ id: 'x', name: 'X', version: '1', noManifest: true }), 'x', '1');
    const j4 = await job(e, 'dev-w', { operation: 'DownloadInstall', pkgId: bad.pkgId, delivery: 'dm' });
    t.is(j4.state, 'failed');
    t.is(typeof j4.resultCode, 'number');
    t.true((j4.resultCode as number) >= 1400, String(j4.resultCode));
  } finally {
    await dev.close();
    await e.close();
  }
});

test('XML device, delivery over DM of a package bigger than one message (large object, Format b64)', async (t) => {
  const e = await startEnv();
  await addDevice(e, 'dev-l');
  const dev = await bootDevice(e, 'dev-l', mkdtempSync(join(tmpdir(), 'scomo-dev-')));
  try {
    const pkg = await e.upload(makeAppPackage({ id: 'app.l', name: 'L', version: '1.0', payloadBytes: 1_500_000 }), 'l', '1.0');
    const j = await job(e, 'dev-l', { operation: 'DownloadInstall', pkgId: pkg.pkgId, delivery: 'dm' });
    t.is(j.state, 'succeeded', JSON.stringify(j));
    t.is(j.resultCode, 1200);
    const inv = await inventory(e, 'dev-l');
    t.deepEqual(inv.deployed.map((d) => `${d.id}@${d.version}:${d.state}`), ['app.l@1.0:active']);
  } finally {
    await dev.close();
    await e.close();
  }
});

test('server restart while the device runs the job: the job survives and the re-sent final alert settles it', async (t) => {
  let e = await startEnv();
  const dir = e.dir;
  const port = Number(new URL(e.srv.url).port);
  await addDevice(e, 'dev-r');
  const dev = await bootDevice(e, 'dev-r', mkdtempSync(join(tmpdir(), 'scomo-dev-')));
  try {
    const pkg = await e.upload(makeAppPackage({ id: 'app.r', name: 'R', version: '1.0', payloadBytes: 300_000 }), 'r', '1.0');
    let stopping: Promise<void> | undefined;
    const first = e;
    // Stop the server the moment the device accepted the job, before its final alert can arrive.
    e.srv.jobs.on('job', (j) => { if (j.state === 'accepted' && !stopping) stopping = first.srv.close(); });
    const r = await e.api<{ jobId: string }>('POST', '/api/devices/dev-r/jobs', { operation: 'DownloadInstall', pkgId: pkg.pkgId });
    const jobId = r.json.jobId;
    const t0 = Date.now();
    while (!stopping) {
      if (Date.now() - t0 > 20_000) throw new Error('job never accepted');
      await new Promise((res) => setTimeout(res, 5));
    }
    await stopping;
    e = await startEnv({ port }, dir);
    const j = await e.waitJob(jobId, 30_000);
    t.is(j.state, 'succeeded', JSON.stringify(j));
    t.is(j.resultCode, 1200);
    t.deepEqual((j.history as { state: string }[]).map((h) => h.state).slice(-2), ['accepted', 'succeeded']);
  } finally {
    await dev.close();
    await e.close();
  }
});

test('a device that cannot be notified (MD5 auth) gets its job when it polls', async (t) => {
  const e = await startEnv();
  await addDevice(e, 'dev-p', 'md5');
  const dev = await bootDevice(e, 'dev-p', mkdtempSync(join(tmpdir(), 'scomo-dev-')), { notify: false, pollIntervalS: 1, auth: 'md5' });
  try {
    // Package 0 to nowhere: the device is reached only by its own polling.
    await e.srv.storage.updateAccount('dev-p', { notifyHost: '127.0.0.1', notifyPort: 9 });
    const pkg = await e.upload(makeAppPackage({ id: 'app.p', name: 'P', version: '1.0' }), 'p', '1.0');
    const sessionsBefore = dev.agent.status().sessions;
    const j = await job(e, 'dev-p', { operation: 'DownloadInstall', pkgId: pkg.pkgId });
    t.is(j.state, 'succeeded', JSON.stringify(j));
    t.true(dev.agent.status().sessions > sessionsBefore);
  } finally {
    await dev.close();
    await e.close();
  }
});
