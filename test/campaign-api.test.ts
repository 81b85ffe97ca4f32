// The REST contract of campaigns, device tags and account provisioning: shapes, validation
// (every bad input is a 4xx with a one-line reason), authentication.
import test from 'ava';
import { startEnv, Env, TOKEN } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';
import { splitWaves } from '../src/server/campaigns/engine.js';
import { inWindow, parseWindow } from '../src/server/campaigns/window.js';
import { captured } from './helpers/cli-capture.js';
import { run as campaignCli } from '../src/server/cli/campaign.js';

const acc = (deviceId: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  deviceId, clientUser: deviceId, clientSecret: 'cs', serverId: 'srv', serverSecret: 'ss', authType: 'basic', ...extra,
});

let env: Env;
let pkgId: string;

test.before(async () => {
  env = await startEnv();
  pkgId = (await env.upload(makeAppPackage({ id: 'a', name: 'A', version: '1' }), 'a', '1')).pkgId;
});
test.after.always(async () => { await env.close(); });

test.serial('POST /api/devices provisions one account or a batch, with tags', async (t) => {
  const one = await env.api<{ deviceIds: string[] }>('POST', '/api/devices', acc('d-1', { tags: ['lab', 'eu'] }));
  t.is(one.status, 201);
  t.deepEqual(one.json.deviceIds, ['d-1']);
  const batch = await env.api<{ deviceIds: string[] }>('POST', '/api/devices', { devices: [acc('d-2', { tags: ['eu'] }), acc('d-3', { notifyHost: '127.0.0.1', notifyPort: 4000 })] });
  t.is(batch.status, 201);
  t.deepEqual(batch.json.deviceIds, ['d-2', 'd-3']);
  const dup = await env.api<{ error: string }>('POST', '/api/devices', acc('d-1'));
  t.is(dup.status, 409);
  t.regex(dup.json.error, /already exists/);
  t.is((await env.api('POST', '/api/devices', { devices: [acc('d-1', { tags: ['lab', 'eu'] })], replace: true })).status, 201);
  const a = await env.srv.storage.getAccount('d-3');
  t.is(a?.notifyPort, 4000);
  t.is(a?.clientSecret, 'cs');
  for (const [body, re] of [
    [acc('x', { clientSecret: '' }), /client secret is required/],
    [acc('x', { authType: 'rot13' }), /auth must be/],
    [acc('x', { notifyPort: 70000 }), /notify port/],
    [acc('x', { notifyPort: '80' }), /notifyPort/],
    [acc('x', { tags: ['bad tag'] }), /tag/],
    [acc('x', { color: 'red' }), /"color" is not an account field/],
    [{ devices: [] }, /1\.\.1000/],
    [{ devices: [acc('y'), acc('y')] }, /listed twice/],
    [acc(''), /deviceId/],
  ] as const) {
    const r = await env.api<{ error: string }>('POST', '/api/devices', body);
    t.is(r.status, 400, JSON.stringify(body));
    t.regex(r.json.error, re);
  }
  t.falsy(await env.srv.storage.getAccount('x'));
  t.falsy(await env.srv.storage.getAccount('y'), 'a bad batch provisions nothing');
});

test.serial('PUT /api/devices/{id} sets tags; GET shows them', async (t) => {
  const g = await env.api<{ deviceId: string; tags: string[] }>('GET', '/api/devices/d-1');
  t.is(g.status, 200);
  t.deepEqual(g.json.tags, ['eu', 'lab']);
  const p = await env.api<{ tags: string[] }>('PUT', '/api/devices/d-3', { tags: ['eu', 'canary', 'eu'] });
  t.is(p.status, 200);
  t.deepEqual(p.json.tags, ['canary', 'eu']);
  t.deepEqual((await env.api<{ tags: string[] }>('GET', '/api/devices/d-3')).json.tags, ['canary', 'eu']);
  t.is((await env.api('PUT', '/api/devices/nope', { tags: ['a'] })).status, 404);
  t.is((await env.api('GET', '/api/devices/nope')).status, 404);
  t.is((await env.api('PUT', '/api/devices/d-3', { tags: 'eu' })).status, 400);
  t.is((await env.api('PUT', '/api/devices/d-3', { tags: ['x'.repeat(65)] })).status, 400);
  t.is((await env.api('PUT', '/api/devices/d-3', { tags: [], clientSecret: 'z' })).status, 400);
  t.is((await env.api('PUT', '/api/devices/d-3', '{not json')).status, 400);
  t.is((await env.api('PATCH', '/api/devices/d-3')).status, 405); // DELETE removes the device (device-delete.test.ts)
  t.is((await env.api('PUT', '/api/devices/d-3', { tags: ['a'] }, 'wrong-token')).status, 401);
  // The SCOMO API's own device endpoints are still there.
  t.is((await env.api('GET', '/api/devices')).status, 200);
  t.is((await env.api('GET', '/api/devices/d-1/jobs')).status, 200);
});

test.serial('POST /api/campaigns validates its input', async (t) => {
  const base = { operation: 'DownloadInstall', pkgId, target: { devices: ['d-1'] } };
  for (const [body, re] of [
    [{ ...base, operation: 'Explode' }, /"operation" must be one of/],
    [{ ...base, target: undefined }, /"target"/],
    [{ ...base, target: {} }, /needs "devices" or "tags"/],
    [{ ...base, target: { devices: 'd-1' } }, /target.devices/],
    [{ ...base, target: { groups: ['x'] } }, /target.groups/],
    [{ ...base, target: { tags: ['nobody'] } }, /resolves to no device/],
    [{ ...base, target: { devices: ['d-1', 'ghost'] } }, /unknown device ghost/],
    [{ ...base, pkgId: 'pkg-0000000000000000' }, /unknown package/],
    [{ ...base, pkgId: undefined }, /"pkgId" is required/],
    [{ ...base, successThreshold: 0 }, /successThreshold/],
    [{ ...base, errorThreshold: 1.5 }, /errorThreshold/],
    [{ ...base, waves: [0] }, /waves/],
    [{ ...base, waves: ['150%'] }, /waves/],
    [{ ...base, waves: 3 }, /waves/],
    [{ ...base, maxInFlight: 0 }, /maxInFlight/],
    [{ ...base, window: { start: '25:00', end: '03:00' } }, /window.start/],
    [{ ...base, window: { start: '02:00', end: '02:00' } }, /must differ/],
    [{ ...base, window: { start: '02:00', end: '03:00', tz: 'Mars/Olympus' } }, /unknown time zone/],
    [{ ...base, operation: 'Download', window: { start: '02:00', end: '03:00' } }, /needs operation DownloadInstall/],
  ] as const) {
    const r = await env.api<{ error: string }>('POST', '/api/campaigns', body);
    t.is(r.status, 400, JSON.stringify(body));
    t.regex(r.json.error, re, JSON.stringify(body));
  }
  t.is((await env.api('POST', '/api/campaigns', base, 'bad')).status, 401);
  t.deepEqual((await env.api<{ campaigns: unknown[] }>('GET', '/api/campaigns')).json.campaigns, [], 'nothing was created');
});

test.serial('a campaign resolves devices and tags at creation; GET shows state, counts and waves', async (t) => {
  // Devices without a notification address: jobs stay queued, which is all this test needs.
  const r = await env.api<{ campaignId: string }>('POST', '/api/campaigns', {
    operation: 'DownloadInstall', pkgId, target: { devices: ['d-3'], tags: ['eu'] }, waves: [1, '50%'], successThreshold: 0.5, errorThreshold: 0.3,
  });
  t.is(r.status, 201);
  t.regex(r.json.campaignId, /^cmp-[0-9a-f]{12}$/);
  await env.api('PUT', '/api/devices/d-2', { tags: [] }); // later tag changes do not move the campaign
  const c = (await env.api<Record<string, unknown> & { counts: Record<string, number>; targets: { deviceId: string; wave: number }[] }>('GET', `/api/campaigns/${r.json.campaignId}?targets=1`)).json;
  t.is(c.state, 'running');
  t.is(c.devices, 3);
  t.deepEqual(c.waves, [1, 2]);
  t.deepEqual(c.targets.map((x) => [x.deviceId, x.wave]), [['d-3', 1], ['d-1', 2], ['d-2', 2]]);
  t.is(c.successThreshold, 0.5);
  t.is(c.errorThreshold, 0.3);
  t.is(Object.values(c.counts).reduce((a, b) => a + b, 0), 3);
  const list = (await env.api<{ campaigns: { campaignId: string }[] }>('GET', '/api/campaigns')).json.campaigns;
  t.deepEqual(list.map((x) => x.campaignId), [r.json.campaignId]);
  t.is((await env.api('GET', '/api/campaigns/cmp-nope')).status, 404);
  t.is((await env.api('POST', '/api/campaigns/cmp-nope/pause')).status, 404);
  t.is((await env.api('POST', `/api/campaigns/${r.json.campaignId}/resume`)).status, 409);
  t.is((await env.api('GET', `/api/campaigns/${r.json.campaignId}/pause`)).status, 405);
  t.is((await env.api('POST', `/api/campaigns/${r.json.campaignId}/explode`)).status, 404);
  t.is((await env.api('POST', `/api/campaigns/${r.json.campaignId}/cancel`)).status, 200);
  t.is((await env.api<{ state: string }>('GET', `/api/campaigns/${r.json.campaignId}`)).json.state, 'cancelled');
});

test('waves: sizes, percentages, the rest, and the 1% / 10% / rest default', (t) => {
  t.deepEqual(splitWaves(1000, undefined), [10, 100, 890]);
  t.deepEqual(splitWaves(10, undefined), [1, 1, 8]);
  t.deepEqual(splitWaves(1, undefined), [1]);
  t.deepEqual(splitWaves(100, [10, '50%']), [10, 50, 40]);
  t.deepEqual(splitWaves(5, [10]), [5]);
  t.deepEqual(splitWaves(5, [2, 3]), [2, 3]);
  t.is(typeof splitWaves(5, [1.5]), 'string');
});

test('maintenance windows: UTC, offsets, IANA zones and windows across midnight', (t) => {
  const at = (h: number, m: number): number => Date.UTC(2026, 5, 15, h, m);
  const w = parseWindow({ start: '22:00', end: '04:00' });
  if (typeof w === 'string') { t.fail(w); return; }
  t.is(w.tz, 'UTC');
  t.true(inWindow(w, at(23, 0)));
  t.true(inWindow(w, at(3, 59)));
  t.false(inWindow(w, at(4, 0)));
  t.false(inWindow(w, at(12, 0)));
  const off = parseWindow({ start: '02:00', end: '03:00', tz: '+02:00' });
  if (typeof off === 'string') { t.fail(off); return; }
  t.true(inWindow(off, at(0, 30))); // 02:30 at +02:00
  t.false(inWindow(off, at(2, 30)));
  const paris = parseWindow({ start: '02:00', end: '03:00', tz: 'Europe/Paris' });
  if (typeof paris === 'string') { t.fail(paris); return; }
  t.true(inWindow(paris, at(0, 30))); // summer time: UTC+2
  t.false(inWindow(paris, Date.UTC(2026, 0, 15, 0, 30))); // winter: 01:30 local
});

test.serial('"shuffle": the first wave is a random sample, every device once; without it the listed order; a non-boolean is a 400; scomo campaign create --shuffle sends it', async (t) => {
  const ids = Array.from({ length: 60 }, (_, i) => `shuf-${String(i).padStart(2, '0')}`);
  t.is((await env.api('POST', '/api/devices', { devices: ids.map((d) => acc(d, { tags: ['shuf'] })) })).status, 201);
  type V = { campaignId: string; shuffle?: boolean; targets: { deviceId: string; wave: number }[] };
  const wave1 = async (id: string): Promise<{ v: V; first: string[] }> => {
    const v = (await env.api<V>('GET', `/api/campaigns/${id}?targets=1`)).json;
    return { v, first: v.targets.filter((x) => x.wave === 1).map((x) => x.deviceId).sort() };
  };
  const body = { operation: 'Download', pkgId, target: { tags: ['shuf'] }, waves: [10] };
  const plain = await env.api<{ campaignId: string }>('POST', '/api/campaigns', body);
  t.is(plain.status, 201);
  const p = await wave1(plain.json.campaignId);
  t.deepEqual(p.first, ids.slice(0, 10), 'tagged devices sorted by id, the first ten in wave 1');
  t.false('shuffle' in p.v);
  const mixed = await env.api<{ campaignId: string }>('POST', '/api/campaigns', { ...body, shuffle: true });
  t.is(mixed.status, 201);
  const m = await wave1(mixed.json.campaignId);
  t.true(m.v.shuffle);
  t.is(m.first.length, 10);
  // Chance that a random ten are exactly the first ten: 1 / C(60, 10) ≈ 1.3e-11.
  t.notDeepEqual(m.first, ids.slice(0, 10));
  t.deepEqual(m.v.targets.map((x) => x.deviceId).sort(), ids, 'every device exactly once');
  for (const bad of ['yes', 1, null]) {
    const r = await env.api<{ error: string }>('POST', '/api/campaigns', { ...body, shuffle: bad });
    t.is(r.status, 400, JSON.stringify(bad));
    t.regex(r.json.error, /"shuffle" must be true or false/);
  }
  const cli = await captured(campaignCli, ['create', '--operation', 'Download', '--pkg', pkgId, '--tags', 'shuf', '--waves', '10', '--shuffle', '--server', env.srv.url, '--token', TOKEN]);
  t.is(cli.code, 0, cli.err);
  t.true((await wave1(cli.out.trim())).v.shuffle);
  for (const c of [plain.json.campaignId, mixed.json.campaignId, cli.out.trim()]) await env.api('POST', `/api/campaigns/${c}/cancel`);
});
