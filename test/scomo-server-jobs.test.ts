// SCOMO server job engine against scripted DM clients: the commands a job becomes, the state
// machine, final alerts (de-duplicated by correlator), result codes, discovery of the SCOMO root
// by MO type, inventory snapshots, device-initiated requests, and a restart mid-job.
import test from 'ava';
import type { Command, Exec, Add, Get } from '../src/codec/model.js';
import { startEnv, Env } from './helpers/scomo-e2e.js';
import { scriptedSession, finalAlert, requestAlert, treeItems, DEV, targetOf, until, queued } from './helpers/scomo-script.js';
import { account } from './helpers/server-fixtures.js';

async function env(seedRoot = true): Promise<Env> {
  const e = await startEnv();
  await e.srv.addAccount(account());
  if (seedRoot) await e.srv.jobs.store.setRoot(DEV, './SCOMO');
  return e;
}




async function state(e: Env, jobId: string): Promise<Record<string, unknown>> {
  return (await e.api('GET', '/api/jobs/' + jobId)).json;
}

test('alternate DownloadInstall: Add Download/<job> leaves + Exec with the job id as correlator, then 202 -> accepted -> succeeded', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1, 2, 3]), 'hello', '1.0');
    const r = await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'DownloadInstall', pkgId: pkg.pkgId, delivery: 'alternate' });
    t.is(r.status, 201);
    const jobId = r.json.jobId;
    t.is((await state(e, jobId)).state, 'queued');
    await queued(e, jobId);
    const { seen } = await scriptedSession(e.srv.dm);
    const base = `./SCOMO/Download/${jobId}`;
    t.deepEqual(seen.map((c) => `${c.kind} ${targetOf(c)}`), [`Add ${base}`, `Add ${base}/PkgID`, `Exec ${base}/Operations/DownloadInstall`]);
    const leaves = Object.fromEntries((seen[1] as Add).items.map((i) => [i.target!.locURI.split('/').pop(), i.data]));
    t.is(leaves.PkgID, pkg.pkgId);
    t.is(leaves.Name, 'hello');
    t.is(leaves.PkgURL, `${e.srv.url}/dl/${pkg.pkgId}`);
    t.is(leaves.PkgType, 'application/x-tar');
    t.is((seen[2] as Exec).correlator, jobId);
    await until(async () => (await state(e, jobId)).state === 'accepted', 'accepted');
    const s1 = await state(e, jobId);
    t.true((s1.history as { state: string }[]).some((h) => h.state === 'in-session'));

    const { replies } = await scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, 1200, 'hello')] });
    const st = replies[0].body.commands.find((c) => c.kind === 'Status' && c.cmd === 'Alert' && c.cmdRef === '3');
    t.is(st && st.kind === 'Status' ? st.code : 0, 200);
    await until(async () => (await state(e, jobId)).state === 'succeeded', 'succeeded');
    const done = await state(e, jobId);
    t.is(done.resultCode, 1200);
    t.is(done.identifier, 'hello');

    // The same alert again (acknowledgement lost): acknowledged, and the job does not change.
    const again = await scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, 1405, 'hello')] });
    const st2 = again.replies[0].body.commands.find((c) => c.kind === 'Status' && c.cmd === 'Alert' && c.cmdRef === '3');
    t.is(st2 && st2.kind === 'Status' ? st2.code : 0, 200);
    await new Promise((r) => setTimeout(r, 100));
    const after = await state(e, jobId);
    t.is(after.state, 'succeeded');
    t.is(after.resultCode, 1200);
    t.deepEqual(after.history, done.history);
  } finally {
    await e.close();
  }
});

test('a failure result code fails the job with that code; 1200-1299 count as success', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const a = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'Download', pkgId: pkg.pkgId })).json.jobId;
    const b = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'Download', pkgId: pkg.pkgId })).json.jobId;
    await queued(e, a);
    await queued(e, b);
    await scriptedSession(e.srv.dm);
    await until(async () => (await state(e, a)).state === 'accepted' && (await state(e, b)).state === 'accepted', 'accepted');
    await scriptedSession(e.srv.dm, { extra: [finalAlert(a, 1402, pkg.pkgId), finalAlert(b, 1250, pkg.pkgId)] });
    await until(async () => (await state(e, a)).state === 'failed' && (await state(e, b)).state === 'succeeded', 'outcomes');
    t.is((await state(e, a)).resultCode, 1402);
    t.regex(String((await state(e, a)).error), /1402/);
    t.is((await state(e, b)).resultCode, 1250);
  } finally {
    await e.close();
  }
});

test('an Exec refused by the device fails the job with resultCode null and the DM status', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const jobId = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'DownloadInstall', pkgId: pkg.pkgId })).json.jobId;
    await queued(e, jobId);
    await scriptedSession(e.srv.dm, { answer: (c) => ({ code: c.kind === 'Exec' ? 405 : 200 }) });
    await until(async () => (await state(e, jobId)).state === 'failed', 'failed');
    const s = await state(e, jobId);
    t.is(s.resultCode, null);
    t.is(s.status, 405);
    t.regex(String(s.error), /Exec .*Operations\/DownloadInstall.*405/);
  } finally {
    await e.close();
  }
});

test('an Add refused by the device fails the job before anything runs', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const jobId = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'Download', pkgId: pkg.pkgId })).json.jobId;
    await queued(e, jobId);
    await scriptedSession(e.srv.dm, { answer: (c) => ({ code: c.kind === 'Add' ? 425 : c.kind === 'Exec' ? 215 : 200 }) });
    await until(async () => (await state(e, jobId)).state === 'failed', 'failed');
    t.is((await state(e, jobId)).status, 425);
  } finally {
    await e.close();
  }
});

test('dm delivery: Add Inventory/Delivered/<job> with the package bytes as Data, then Exec Install(Inactive)', async (t) => {
  const e = await env();
  try {
    const bytes = new Uint8Array(3000).map((_, i) => i & 255);
    const pkg = await e.upload(bytes, 'app', '2.0');
    const jobId = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'DownloadInstallInactive', pkgId: pkg.pkgId, delivery: 'dm' })).json.jobId;
    await queued(e, jobId);
    const { seen } = await scriptedSession(e.srv.dm);
    const base = `./SCOMO/Inventory/Delivered/${jobId}`;
    t.deepEqual(seen.map((c) => `${c.kind} ${targetOf(c)}`), [`Add ${base}`, `Add ${base}/PkgID`, `Add ${base}/Data`, `Exec ${base}/Operations/InstallInactive`]);
    const data = (seen[2] as Add).items[0];
    // Over XML binary data travels as b64 text with Format b64.
    t.is(data.meta?.format, 'b64');
    t.deepEqual(new Uint8Array(Buffer.from(String(data.data), 'base64')), bytes);
    await until(async () => (await state(e, jobId)).state === 'accepted', 'accepted');

    // "Download" over DM is the delivery alone: it succeeds when the Data is stored, with no alert.
    const d = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'Download', pkgId: pkg.pkgId, delivery: 'dm' })).json.jobId;
    await queued(e, d);
    const s2 = await scriptedSession(e.srv.dm);
    t.false(s2.seen.some((c) => c.kind === 'Exec'));
    await until(async () => (await state(e, d)).state === 'succeeded', 'delivered');
  } finally {
    await e.close();
  }
});

test('discovery: the SCOMO root is found by its MO type (not at ./SCOMO), cached, and the inventory comes with it', async (t) => {
  const e = await env(false);
  try {
    const root = './Vendor/SCM';
    const jobId = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'Deactivate', componentId: 'com.example.app' })).json.jobId;
    const tree = treeItems(root, [{ node: 'com.example.app', id: 'com.example.app', name: 'App', version: '3.1', active: true }]);
    const s1 = await scriptedSession(e.srv.dm, { answer: (c) => (c.kind === 'Get' ? { code: 200, results: tree } : { code: 200 }) });
    t.is(s1.seen.length, 1);
    t.is(targetOf(s1.seen[0]), './?list=StructData');
    await until(async () => (await e.srv.jobs.store.getRoot(DEV)) === root, 'root cached');
    const inv = await e.api<{ deployed: unknown[] }>('GET', `/api/devices/${encodeURIComponent(DEV)}/inventory`);
    t.deepEqual(inv.json.deployed, [{ id: 'com.example.app', name: 'App', version: '3.1', state: 'active' }]);
    await until(async () => (await e.srv.storage.entriesByTag(jobId)).length === 1, 'job entry');
    const s2 = await scriptedSession(e.srv.dm);
    t.deepEqual(s2.seen.map((c) => `${c.kind} ${targetOf(c)}`), [`Exec ${root}/Inventory/Deployed/com.example.app/Operations/Deactivate`]);
    t.is((s2.seen[0] as Exec).correlator, jobId);
  } finally {
    await e.close();
  }
});

test('Activate of a component the device does not have fails with a clear error after a fresh inventory', async (t) => {
  const e = await env();
  try {
    const jobId = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'Activate', componentId: 'nope' })).json.jobId;
    await until(async () => (await e.srv.storage.queuedEntries(DEV, 10)).length > 0, 'inventory Get queued');
    const s = await scriptedSession(e.srv.dm, { answer: (c) => (c.kind === 'Get' ? { code: 200, results: treeItems('./SCOMO', []) } : { code: 200 }) });
    t.is(targetOf(s.seen[0] as Get), './SCOMO/Inventory?list=StructData');
    await until(async () => (await state(e, jobId)).state === 'failed', 'failed');
    t.regex(String((await state(e, jobId)).error), /component nope is not deployed/);
    t.is((await state(e, jobId)).resultCode, null);
  } finally {
    await e.close();
  }
});

test('inventory ?refresh=1 waits for the device session; without one it returns the cached snapshot marked stale', async (t) => {
  const e = await env();
  try {
    const pending = e.api<{ stale: boolean; deployed: { id: string; state: string }[] }>('GET', `/api/devices/${encodeURIComponent(DEV)}/inventory?refresh=1&timeout=15`);
    await until(async () => (await e.srv.storage.queuedEntries(DEV, 10)).length > 0, 'inventory Get queued');
    const s = await scriptedSession(e.srv.dm, { answer: (c) => (c.kind === 'Get' ? { code: 200, results: treeItems('./SCOMO', [{ node: 'n1', id: 'new', name: 'New', version: '2', active: true }]) } : { code: 200 }) });
    t.is(targetOf(s.seen[0]), './SCOMO/Inventory?list=StructData');
    const fresh = await pending;
    t.false(fresh.json.stale);
    t.deepEqual(fresh.json.deployed.map((d) => `${d.id}:${d.state}`), ['new:active']);
    // No session within the timeout: the last snapshot, marked stale.
    const stale = await e.api<{ stale: boolean; deployed: { id: string }[] }>('GET', `/api/devices/${encodeURIComponent(DEV)}/inventory?refresh=1&timeout=0.2`);
    t.true(stale.json.stale);
    t.deepEqual(stale.json.deployed.map((d) => d.id), ['new']);
    // Without refresh: the snapshot as stored.
    const cached = await e.api<{ stale: boolean; deployed: { id: string }[] }>('GET', `/api/devices/${encodeURIComponent(DEV)}/inventory`);
    t.false(cached.json.stale);
    t.deepEqual(cached.json.deployed.map((d) => d.id), ['new']);
  } finally {
    await e.close();
  }
});

test('flow alternative 1: a device request creates a DownloadInstall job for the newest package of that name', async (t) => {
  const e = await env();
  try {
    await e.upload(new Uint8Array([1]), 'hello', '1.9');
    const newest = await e.upload(new Uint8Array([2]), 'hello', '1.10');
    await e.upload(new Uint8Array([3]), 'other', '9.0');
    await scriptedSession(e.srv.dm, { extra: [requestAlert('hello')] });
    let jobs: Record<string, unknown>[] = [];
    await until(async () => { jobs = (await e.api<{ jobs: Record<string, unknown>[] }>('GET', '/api/jobs')).json.jobs; return jobs.length === 1; }, 'job');
    t.is(jobs[0].origin, 'device-request');
    t.is(jobs[0].operation, 'DownloadInstall');
    t.is(jobs[0].pkgId, newest.pkgId);
    // The request re-sent while its job runs is the same request.
    await scriptedSession(e.srv.dm, { extra: [requestAlert('hello')] });
    await new Promise((r) => setTimeout(r, 100));
    t.is((await e.api<{ jobs: unknown[] }>('GET', '/api/jobs')).json.jobs.length, 1);
    // Nothing of that name: a failed job says so.
    await scriptedSession(e.srv.dm, { extra: [requestAlert('missing', '1.0')] });
    await until(async () => (await e.api<{ jobs: unknown[] }>('GET', '/api/jobs')).json.jobs.length === 2, 'second job');
    const miss = (await e.api<{ jobs: Record<string, unknown>[] }>('GET', '/api/jobs')).json.jobs.find((j) => j.state === 'failed')!;
    t.regex(String(miss.error), /no package named missing version 1.0/);
  } finally {
    await e.close();
  }
});

test('a restart mid-job: queued commands still go out, and the final alert after the restart settles the job', async (t) => {
  let e = await env();
  const dir = e.dir;
  const pkg = await e.upload(new Uint8Array([1, 2]), 'p', '1');
  const a = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'DownloadInstall', pkgId: pkg.pkgId })).json.jobId;
  await queued(e, a);
  await e.srv.close(); // not e.close(): keep the data directory
  e = await startEnv({}, dir);
  try {
    t.is((await state(e, a)).state, 'queued');
    const { seen } = await scriptedSession(e.srv.dm);
    t.is(seen.filter((c) => c.kind === 'Exec').length, 1);
    await until(async () => (await state(e, a)).state === 'accepted', 'accepted after restart');
    await e.srv.close();
    e = await startEnv({}, dir);
    t.is((await state(e, a)).state, 'accepted');
    await scriptedSession(e.srv.dm, { extra: [finalAlert(a, 1200, 'p')] });
    await until(async () => (await state(e, a)).state === 'succeeded', 'succeeded after second restart');
    t.deepEqual(((await state(e, a)).history as { state: string }[]).map((h) => h.state), ['queued', 'in-session', 'accepted', 'succeeded']);
  } finally {
    await e.close();
  }
});

test('Remove with only a pkgId removes the delivered package from its Inventory/Delivered node', async (t) => {
  const e = await env();
  try {
    await e.srv.jobs.store.setInventory(DEV, { root: './SCOMO', updatedAt: 1, deployed: [], delivered: [{ pkgId: 'pkg-1', name: 'a', state: 'delivered', node: 'dnode' }] });
    const jobId = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'Remove', pkgId: 'pkg-1' })).json.jobId;
    await queued(e, jobId);
    const { seen } = await scriptedSession(e.srv.dm);
    t.deepEqual(seen.map((c) => `${c.kind} ${targetOf(c)}`), ['Exec ./SCOMO/Inventory/Delivered/dnode/Operations/Remove']);
    await scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, 1200, 'pkg-1')] });
    await until(async () => (await state(e, jobId)).state === 'succeeded', 'succeeded');
    t.is((await state(e, jobId)).resultCode, 1200);
  } finally {
    await e.close();
  }
});

test('a final alert whose correlator matches no job, or that has none, changes nothing and is acknowledged', async (t) => {
  const e = await env();
  try {
    const { replies } = await scriptedSession(e.srv.dm, { extra: [finalAlert('job-unknown', 1200, 'x'), { ...finalAlert('', 1200, 'x'), correlator: undefined } as never] });
    const codes = replies[0].body.commands.filter((c) => c.kind === 'Status' && c.cmd === 'Alert' && c.cmdRef !== '1').map((c) => (c.kind === 'Status' ? c.code : 0));
    t.deepEqual(codes, [200, 200]);
    t.is((await e.api<{ jobs: unknown[] }>('GET', '/api/jobs')).json.jobs.length, 0);
  } finally {
    await e.close();
  }
});

test('cancel: an accepted alternate download gets its Download node deleted; the 1450 alert fails it; other jobs cannot be cancelled', async (t) => {
  const e = await env();
  try {
    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const jobId = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'DownloadInstall', pkgId: pkg.pkgId })).json.jobId;
    const early = await e.api<{ error: string }>('POST', `/api/jobs/${jobId}/cancel`);
    t.is(early.status, 409);
    t.regex(early.json.error, /only an accepted alternate download can be cancelled/);
    await queued(e, jobId);
    await scriptedSession(e.srv.dm);
    await until(async () => (await state(e, jobId)).state === 'accepted', 'accepted');
    const c = await e.api<{ cancelling: boolean }>('POST', `/api/jobs/${jobId}/cancel`);
    t.is(c.status, 202);
    t.true(c.json.cancelling);
    const { seen } = await scriptedSession(e.srv.dm);
    t.deepEqual(seen.map((x) => `${x.kind} ${targetOf(x)}`), [`Delete ./SCOMO/Download/${jobId}`]);
    await scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, 1450, pkg.pkgId)] });
    await until(async () => (await state(e, jobId)).state === 'failed', 'failed');
    t.is((await state(e, jobId)).resultCode, 1450);
    t.is((await e.api('POST', `/api/jobs/${jobId}/cancel`)).status, 409);
    t.is((await e.api('POST', '/api/jobs/job-nope/cancel')).status, 404);
  } finally {
    await e.close();
  }
});

test('alternate download progress: bytes the repository serves for the package show in the accepted job', async (t) => {
  const e = await env();
  try {
    const bytes = new Uint8Array(50_000).fill(7);
    const pkg = await e.upload(bytes, 'p', '1');
    const jobId = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'Download', pkgId: pkg.pkgId })).json.jobId;
    await queued(e, jobId);
    await scriptedSession(e.srv.dm);
    await until(async () => (await state(e, jobId)).state === 'accepted', 'accepted');
    t.is((await state(e, jobId)).progress, undefined);
    const r = await fetch(pkg.url, { headers: { Range: 'bytes=20000-' } });
    t.is(r.status, 206);
    t.is((await r.arrayBuffer()).byteLength, 30_000);
    t.deepEqual((await state(e, jobId)).progress, { done: 50_000, total: 50_000 });
  } finally {
    await e.close();
  }
});
