// The REST API's edges: bearer auth on every /api route, JSON validation errors (400) with clear
// messages, 404/405, list creation for many devices, notify without a known address, and no
// stack traces in any error.
import test from 'ava';
import { startEnv, Env, TOKEN } from './helpers/scomo-e2e.js';
import { account, DEV } from './helpers/server-fixtures.js';

let e: Env;
let pkgId = '';

test.before(async () => {
  e = await startEnv();
  await e.srv.addAccount(account());
  await e.srv.addAccount(account({ deviceId: 'dev-b', clientUser: 'b-user' }));
  await e.srv.jobs.store.setRoot(DEV, './SCOMO');
  await e.srv.jobs.store.setRoot('dev-b', './SCOMO');
  pkgId = (await e.upload(new Uint8Array([1, 2, 3]), 'hello', '1.0')).pkgId;
});

test.after.always(async () => { await e?.close(); });

const dev = encodeURIComponent(DEV);

test('every /api route answers 401 JSON without the right bearer token', async (t) => {
  const paths: Array<[string, string]> = [
    ['GET', '/api/jobs'], ['POST', `/api/devices/${dev}/jobs`], ['GET', `/api/devices/${dev}/inventory`],
    ['POST', `/api/devices/${dev}/notify`], ['GET', '/api/jobs/x'], ['GET', '/api/devices'], ['POST', '/api/packages?name=a&version=1'], ['GET', '/api/nothing'],
  ];
  for (const [m, p] of paths) {
    for (const tok of ['', 'wrong-token']) {
      const r = await fetch(e.srv.url + p, { method: m, headers: tok ? { Authorization: 'Bearer ' + tok } : {}, ...(m === 'POST' ? { body: '{}' } : {}) });
      t.is(r.status, 401, `${m} ${p} token '${tok}'`);
      t.deepEqual(await r.json(), { error: 'missing or invalid bearer token' });
    }
  }
});

test.serial('job creation validates its input with clear 400 errors', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    [`/api/devices/nobody/jobs`, { operation: 'Download', pkgId }, /unknown device nobody/],
    [`/api/devices/${dev}/jobs`, { operation: 'Explode' }, /"operation" must be one of Download, DownloadInstall/],
    [`/api/devices/${dev}/jobs`, {}, /"operation" must be one of/],
    [`/api/devices/${dev}/jobs`, { operation: 'DownloadInstall' }, /"pkgId" is required for DownloadInstall/],
    [`/api/devices/${dev}/jobs`, { operation: 'DownloadInstall', pkgId: 'pkg-0000000000000000' }, /unknown package pkg-0000000000000000/],
    [`/api/devices/${dev}/jobs`, { operation: 'Activate' }, /"componentId" is required for Activate/],
    [`/api/devices/${dev}/jobs`, { operation: 'Deactivate', pkgId }, /"componentId" is required for Deactivate/],
    [`/api/devices/${dev}/jobs`, { operation: 'Remove' }, /"componentId" \(or "pkgId" of a delivered package\) is required for Remove/],
    [`/api/devices/${dev}/jobs`, { operation: 'Download', pkgId, delivery: 'pigeon' }, /"delivery" must be "alternate" or "dm"/],
    [`/api/devices/${dev}/jobs`, { operation: 'Activate', componentId: 42 }, /"componentId" must be a non-empty string/],
    [`/api/devices/${dev}/jobs`, '{"operation": "Download", ', /not valid JSON/],
    [`/api/devices/${dev}/jobs`, '[1,2]', /must be a JSON object/],
  ];
  for (const [path, body, re] of cases) {
    const r = await e.api<{ error: string }>('POST', path, body);
    t.is(r.status, 400, JSON.stringify(body));
    t.regex(r.json.error, re);
    t.notRegex(JSON.stringify(r.json), /at .*\.ts:\d+/);
  }
  t.is((await e.api<{ jobs: unknown[] }>('GET', '/api/jobs')).json.jobs.length, 0, 'no job was created by bad requests');
});

test('a job for a list of devices: all valid -> one job each; any invalid -> 400 and none created', async (t) => {
  const bad = await e.api<{ error: string; errors: unknown[] }>('POST', '/api/jobs', { deviceIds: [DEV, 'ghost'], operation: 'Download', pkgId });
  t.is(bad.status, 400);
  t.deepEqual(bad.json.errors, [{ deviceId: 'ghost', error: 'unknown device ghost' }]);
  const none = await e.api<{ error: string }>('POST', '/api/jobs', { operation: 'Download', pkgId });
  t.is(none.status, 400);
  t.regex(none.json.error, /"deviceIds" must be a list/);
  const ok = await e.api<{ jobIds: string[] }>('POST', '/api/jobs', { deviceIds: [DEV, 'dev-b'], operation: 'Download', pkgId, delivery: 'alternate' });
  t.is(ok.status, 201);
  t.is(ok.json.jobIds.length, 2);
  const devices: string[] = [];
  for (const id of ok.json.jobIds) {
    const j = await e.api<{ jobId: string; deviceId: string; operation: string; state: string; origin: string }>('GET', '/api/jobs/' + id);
    t.is(j.status, 200);
    t.is(j.json.jobId, id);
    t.is(j.json.operation, 'Download');
    t.is(j.json.origin, 'api');
    t.true(['queued', 'notified'].includes(j.json.state));
    devices.push(j.json.deviceId);
  }
  t.deepEqual(devices.sort(), [DEV, 'dev-b'].sort());
  const perDevice = await e.api<{ jobs: { jobId: string }[] }>('GET', `/api/devices/dev-b/jobs`);
  t.is(perDevice.json.jobs.length, 1);
});

test('unknown job / device / endpoint: 404 JSON; wrong method: 405', async (t) => {
  const j = await e.api<{ error: string }>('GET', '/api/jobs/job-doesnotexist');
  t.is(j.status, 404);
  t.regex(j.json.error, /no job job-doesnotexist/);
  const inv = await e.api<{ error: string }>('GET', '/api/devices/ghost/inventory');
  t.is(inv.status, 404);
  t.regex(inv.json.error, /unknown device ghost/);
  const n = await e.api<{ error: string }>('GET', '/api/whatever');
  t.is(n.status, 404);
  const m = await e.api<{ error: string }>('DELETE', '/api/jobs/x');
  t.is(m.status, 405);
  const bad = await e.api<{ error: string }>('GET', `/api/devices/${dev}/inventory?refresh=1&timeout=soon`);
  t.is(bad.status, 400);
  t.regex(bad.json.error, /"timeout" must be a number of seconds/);
});

test('notify: a device with no known address gets 409 with the reason; a known one gets package 0 over UDP', async (t) => {
  const r = await e.api<{ sent: boolean; error: string }>('POST', `/api/devices/${dev}/notify`);
  t.is(r.status, 409);
  t.false(r.json.sent);
  t.regex(r.json.error, /no notification address known/);
  const dgram = await import('node:dgram');
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
  const got = new Promise<Buffer>((res) => sock.once('message', (m) => res(m)));
  await e.srv.storage.updateAccount('dev-b', { notifyHost: '127.0.0.1', notifyPort: sock.address().port });
  const ok = await e.api<{ sent: boolean; host: string; port: number; sessionId: string }>('POST', '/api/devices/dev-b/notify');
  t.is(ok.status, 200);
  t.true(ok.json.sent);
  t.is(ok.json.port, sock.address().port);
  const pkg0 = await got;
  t.true(pkg0.length > 16);
  sock.close();
});

test('package upload and listing share the token', async (t) => {
  const r = await fetch(`${e.srv.url}/api/packages`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  t.is(r.status, 200);
  const list = (await r.json()) as { packages: { pkgId: string; url: string }[] };
  t.true(list.packages.some((p) => p.pkgId === pkgId && p.url === `${e.srv.url}/dl/${pkgId}`));
  const dl = await fetch(`${e.srv.url}/dl/${pkgId}`);
  t.deepEqual(new Uint8Array(await dl.arrayBuffer()), new Uint8Array([1, 2, 3]));
});
