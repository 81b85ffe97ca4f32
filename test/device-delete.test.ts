// Decommissioning a device: DELETE /api/devices/{deviceId} (docs/api.md "Campaigns, device tags
// and provisioning"). 204 and the account, its tags, its cached SCOMO root/inventory and its
// queued commands are gone while its jobs stay readable; a later DM session from it is refused
// like one from an unknown device; 409 while a job or a campaign still has work for it, unless
// ?force=1, which fails its unfinished jobs ("device decommissioned") first. Scripted DM sessions
// play the device. test/pg-scomo-suite.test.ts runs the same tests on PostgreSQL.
import test from 'ava';
import type { Command } from '../src/codec/model.js';
import { startEnv, Env, TOKEN } from './helpers/scomo-e2e.js';
import { scriptedSession, finalAlert, DEV, until, queued } from './helpers/scomo-script.js';
import { account, hdrStatus } from './helpers/server-fixtures.js';

type J = Record<string, unknown> & { state: string; error?: string; resultCode?: number | null; history: { state: string }[] };
type Target = { deviceId: string; state: string; error?: string };

const DEV_URL = '/api/devices/' + encodeURIComponent(DEV);
const OTHER = 'IMEI:000000000000042';

async function env(): Promise<Env> {
  const e = await startEnv({ jobSweepMs: 100 });
  if (!(await e.srv.storage.getAccount(DEV))) await e.srv.addAccount(account());
  await e.srv.jobs.store.setRoot(DEV, './SCOMO');
  return e;
}

async function create(e: Env, body: Record<string, unknown>): Promise<string> {
  const r = await e.api<{ jobId: string; error?: string }>('POST', DEV_URL + '/jobs', body);
  if (r.status !== 201) throw new Error(`job creation answered ${r.status}: ${r.json.error}`);
  return r.json.jobId;
}

async function job(e: Env, jobId: string): Promise<J> {
  return (await e.api<J>('GET', '/api/jobs/' + jobId)).json;
}

/** An alternate DownloadInstall the device accepts (202), then completes with result 1200. */
async function succeededJob(e: Env): Promise<string> {
  const pkg = await e.upload(new Uint8Array([1, 2, 3]), 'done', '1');
  const jobId = await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId });
  await queued(e, jobId);
  await scriptedSession(e.srv.dm);
  await until(async () => (await job(e, jobId)).state === 'accepted', 'the job to be accepted');
  await scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, 1200, 'comp')] });
  await until(async () => (await job(e, jobId)).state === 'succeeded', 'the job to succeed');
  return jobId;
}

const getDevInfo: Command = { kind: 'Get', cmdID: '0', items: [{ target: { locURI: './DevInfo/Man' } }] };

test('DELETE /api/devices/{id}: 204; account, tags, SCOMO root, inventory and queued commands are gone; its finished jobs stay readable', async (t) => {
  const e = await env();
  try {
    const done = await succeededJob(e);
    t.is((await e.api('PUT', DEV_URL, { tags: ['lab', 'eu'] })).status, 200);
    await e.srv.jobs.store.setInventory(DEV, { deployed: [], delivered: [], updatedAt: Date.now(), root: './SCOMO' });
    // A command nobody has sent yet, with someone waiting for it.
    const h = await e.srv.dm.queueCommands(DEV, [getDevInfo], { tag: 'test-waiter' });

    t.is((await e.api('DELETE', DEV_URL, undefined, 'wrong-token')).status, 401);
    t.truthy(await e.srv.storage.getAccount(DEV), 'nothing removed without the token');

    const r = await fetch(e.srv.url + DEV_URL, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } });
    t.is(r.status, 204);
    t.is(await r.text(), '');

    t.is((await e.api('GET', DEV_URL)).status, 404);
    const list = await e.api<{ devices: { deviceId: string }[] }>('GET', '/api/devices');
    t.false(list.json.devices.some((d) => d.deviceId === DEV), 'no longer listed');
    t.is(await e.srv.storage.getAccount(DEV), undefined);
    t.is(await e.srv.jobs.store.getRoot(DEV), undefined, 'cached SCOMO root forgotten');
    t.is(await e.srv.jobs.store.getInventory(DEV), undefined, 'cached inventory forgotten');
    t.deepEqual(await e.srv.storage.queuedEntries(DEV, 100), [], 'nothing left queued');
    const withdrawn = await h.done;
    t.is(withdrawn.state, 'done');
    t.deepEqual((withdrawn.outcomes ?? []).map((o) => o.status), [514], 'the waiter got the withdrawal');

    // History: the finished job is still there, by id and by device.
    const v = await e.api<J>('GET', '/api/jobs/' + done);
    t.is(v.status, 200);
    t.is(v.json.state, 'succeeded');
    const byDev = await e.api<{ jobs: { jobId: string }[] }>('GET', '/api/jobs?deviceId=' + encodeURIComponent(DEV));
    t.deepEqual(byDev.json.jobs.map((j) => j.jobId), [done]);

    const again = await e.api<{ error: string }>('DELETE', DEV_URL);
    t.is(again.status, 404);
    t.regex(again.json.error, /unknown device/);
    t.is((await e.api('POST', DEV_URL + '/jobs', { operation: 'Activate', componentId: 'c' })).status, 400, 'no new job for it');

    // Provisioned again under the same id, it starts clean: no old tags.
    const p = await e.api('POST', '/api/devices', { ...account(), tags: undefined });
    t.is(p.status, 201, JSON.stringify(p.json));
    t.deepEqual((await e.api<{ tags: string[] }>('GET', DEV_URL)).json.tags, []);
  } finally {
    await e.close();
  }
});

test('a DM session from a removed device is refused like one from an unknown device (SyncHdr 401, no commands)', async (t) => {
  const e = await env();
  try {
    await e.srv.dm.queueCommands(DEV, [getDevInfo]);
    const before = await scriptedSession(e.srv.dm);
    t.is(hdrStatus(before.replies[0])?.code, 212, 'known device: authenticated');
    await e.srv.dm.queueCommands(DEV, [getDevInfo]);
    const sessionsOf = async (): Promise<number> => (await e.srv.storage.staleSessions(Date.now() + 60_000)).filter((s) => s.deviceId === DEV).length;
    t.true((await sessionsOf()) > 0, 'its session is stored');
    t.is((await e.api('DELETE', DEV_URL)).status, 204);
    t.is(await sessionsOf(), 0, 'its sessions are deleted with the account');
    const after = await scriptedSession(e.srv.dm);
    const unknown = await scriptedSession(e.srv.dm, { deviceId: OTHER });
    t.is(hdrStatus(unknown.replies[0])?.code, 401, 'an unknown device gets 401');
    t.is(hdrStatus(after.replies[0])?.code, 401, 'so does the removed one');
    t.deepEqual(after.seen, [], 'it is sent nothing');
    t.is(after.replies.length, 1);
    t.is(await e.srv.storage.getAccount(DEV), undefined, 'the session did not bring the account back');
  } finally {
    await e.close();
  }
});

test('409 naming the unfinished job; ?force=1 fails every unfinished job "device decommissioned", then removes the device', async (t) => {
  const e = await env();
  try {
    const done = await succeededJob(e);
    // One job the device accepted (commands sent), one still queued.
    const p1 = await e.upload(new Uint8Array([4]), 'a', '1');
    const accepted = await create(e, { operation: 'DownloadInstall', pkgId: p1.pkgId });
    await queued(e, accepted);
    await scriptedSession(e.srv.dm);
    await until(async () => (await job(e, accepted)).state === 'accepted', 'the job to be accepted');
    const p2 = await e.upload(new Uint8Array([5]), 'b', '1');
    const waiting = await create(e, { operation: 'DownloadInstall', pkgId: p2.pkgId });
    await queued(e, waiting);

    const busy = await e.api<{ error: string }>('DELETE', DEV_URL);
    t.is(busy.status, 409);
    t.regex(busy.json.error, new RegExp(`unfinished job (${accepted}|${waiting})`));
    t.regex(busy.json.error, /force=1/);
    t.is((await e.api('GET', DEV_URL)).status, 200, 'still there');
    t.is((await job(e, waiting)).state !== 'failed', true, 'no job failed without force');

    t.is((await e.api('DELETE', DEV_URL + '?force=1')).status, 204);
    for (const id of [accepted, waiting]) {
      const v = await job(e, id);
      t.is(v.state, 'failed', id);
      t.is(v.error, 'device decommissioned', id);
      t.is(v.resultCode, null, id);
      t.is(v.history[v.history.length - 1].state, 'failed');
    }
    // The queued one's commands were withdrawn, never sent.
    const [entry] = await e.srv.storage.entriesByTag(waiting);
    t.is(entry.state, 'done');
    t.true((entry.outcomes ?? []).every((o) => o.status === 514));
    t.is((await job(e, done)).state, 'succeeded', 'a finished job keeps its outcome');
    t.is((await e.api('GET', DEV_URL)).status, 404);
    const all = await e.api<{ jobs: { jobId: string }[] }>('GET', '/api/jobs?deviceId=' + encodeURIComponent(DEV));
    t.deepEqual(all.json.jobs.map((j) => j.jobId).sort(), [done, accepted, waiting].sort());
    // A final alert arriving later finds no account: refused, and the job stays failed.
    const late = await scriptedSession(e.srv.dm, { extra: [finalAlert(accepted, 1200, 'x')] });
    t.is(hdrStatus(late.replies[0])?.code, 401);
    t.is((await job(e, accepted)).error, 'device decommissioned');
  } finally {
    await e.close();
  }
});

test('409 while the device is a pending target of an active campaign; after the campaign is cancelled, 204', async (t) => {
  const e = await env();
  try {
    t.is((await e.api('POST', '/api/devices', { ...account({ deviceId: OTHER, clientUser: 'other-user' }) })).status, 201);
    const pkg = await e.upload(new Uint8Array([6]), 'c', '1');
    // OTHER in wave 1 (never connects), DEV waits in wave 2.
    const c = await e.api<{ campaignId: string }>('POST', '/api/campaigns', { operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { devices: [OTHER, DEV] }, waves: [1, 1] });
    t.is(c.status, 201);
    const id = c.json.campaignId;
    await until(async () => (await e.api<{ targets: Target[] }>('GET', `/api/campaigns/${id}?targets=1`)).json.targets.some((x) => x.deviceId === OTHER && x.state !== 'pending'), 'wave 1 to start');
    const busy = await e.api<{ error: string }>('DELETE', DEV_URL);
    t.is(busy.status, 409);
    t.regex(busy.json.error, new RegExp(`target of campaign ${id} \\(running\\).*pending`));
    t.is((await e.api('POST', `/api/campaigns/${id}/pause`)).status, 200);
    const paused = await e.api<{ error: string }>('DELETE', DEV_URL);
    t.is(paused.status, 409, 'a paused campaign blocks too');
    t.regex(paused.json.error, new RegExp(`campaign ${id} \\(paused\\)`));
    t.is((await e.api('POST', `/api/campaigns/${id}/cancel`)).status, 200);
    await until(async () => (await e.api('DELETE', DEV_URL)).status === 204, 'the device to be removable');
    t.is((await e.api('GET', DEV_URL)).status, 404);
  } finally {
    await e.close();
  }
});

test('?force=1 on a campaign target: its job fails "device decommissioned" and the campaign counts it as a failure', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([8]), 'd', '1');
    const c = await e.api<{ campaignId: string }>('POST', '/api/campaigns', { operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { devices: [DEV] } });
    t.is(c.status, 201);
    const id = c.json.campaignId;
    let jobId = '';
    await until(async () => {
      const tg = (await e.api<{ targets: (Target & { jobId?: string })[] }>('GET', `/api/campaigns/${id}?targets=1`)).json.targets[0];
      jobId = tg?.jobId ?? '';
      return !!jobId;
    }, 'the campaign job');
    const busy = await e.api<{ error: string }>('DELETE', DEV_URL);
    t.is(busy.status, 409);
    t.regex(busy.json.error, new RegExp(jobId));
    t.is((await e.api('DELETE', DEV_URL + '?force=true')).status, 204);
    const v = await job(e, jobId);
    t.is(v.state, 'failed');
    t.is(v.error, 'device decommissioned');
    await until(async () => {
      const cv = (await e.api<{ counts: Record<string, number>; targets: Target[] }>('GET', `/api/campaigns/${id}?targets=1`)).json;
      return cv.counts.failed === 1 && cv.targets[0].error === 'device decommissioned';
    }, 'the campaign to count the failure');
    t.pass();
  } finally {
    await e.close();
  }
});

test('DELETE: 404 for an unknown device, 401 without the token, 405 on the device list', async (t) => {
  const e = await env();
  try {
    const r = await e.api<{ error: string }>('DELETE', '/api/devices/' + encodeURIComponent('no-such-device'));
    t.is(r.status, 404);
    t.regex(r.json.error, /unknown device no-such-device/);
    const noAuth = await fetch(e.srv.url + DEV_URL, { method: 'DELETE' });
    t.is(noAuth.status, 401);
    t.truthy(await e.srv.storage.getAccount(DEV));
    t.is((await e.api('DELETE', '/api/devices')).status, 405, 'not the whole fleet');
    t.is((await e.api('PATCH', DEV_URL)).status, 405);
    t.truthy(await e.srv.storage.getAccount(DEV));
  } finally {
    await e.close();
  }
});

test('?force=1: the withdrawn entry settling before the flip does not fail the job as refused by the device (514)', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([3]), 'p', '1');
    const jobId = await create(e, { operation: 'DownloadInstall', pkgId: pkg.pkgId });
    await queued(e, jobId);
    // Hold the flip while the job's runner sees its entry done (all 514).
    const store = e.srv.jobs.store;
    const update = store.updateJobIf.bind(store);
    let held = 0;
    store.updateJobIf = async (id, fn) => {
      if (id === jobId && !held++) await new Promise((r) => setTimeout(r, 200));
      return update(id, fn);
    };
    t.is((await e.api('DELETE', DEV_URL + '?force=1')).status, 204);
    t.is(held, 1);
    const v = await job(e, jobId);
    t.is(v.state, 'failed');
    t.is(v.error, 'device decommissioned');
    t.false('status' in v, 'not a device status');
  } finally {
    await e.close();
  }
});
