// Deleting packages from the repository: DELETE /api/packages/{pkgId} (204; 404 unknown; 409
// while an unfinished job or an active campaign uses it), `scomo package delete`, and the sweep
// that removes package files a crash left without a record. test/pg-scomo-suite.test.ts runs
// the server tests again on PostgreSQL.
import test from 'ava';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnv, Env, TOKEN } from './helpers/scomo-e2e.js';
import { DEV } from './helpers/scomo-script.js';
import { account } from './helpers/server-fixtures.js';
import { captured } from './helpers/cli-capture.js';
import { PackageStore } from '../src/server/repo/package-store.js';
import { MemoryMetaStore } from '../src/server/repo/meta-store.js';
import { run as packageCli } from '../src/server/cli/package.js';

async function env(): Promise<Env> {
  const e = await startEnv({ jobSweepMs: 100 });
  if (!(await e.srv.storage.getAccount(DEV))) await e.srv.addAccount(account());
  await e.srv.jobs.store.setRoot(DEV, './SCOMO');
  return e;
}

async function until(cond: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('DELETE /api/packages/{pkgId}: 204, then it is neither listed, shown nor served; its file is gone; others stay', async (t) => {
  const e = await env();
  try {
    const a = await e.upload(new Uint8Array([1, 2, 3]), 'a', '1');
    const b = await e.upload(new Uint8Array([4, 5]), 'b', '1');
    const file = join(e.dir, 'packages', a.pkgId + '.bin');
    t.true(existsSync(file));
    t.is((await e.api('DELETE', '/api/packages/' + a.pkgId, undefined, 'wrong')).status, 401);
    t.true(existsSync(file), 'nothing deleted without the token');
    const r = await fetch(e.srv.url + '/api/packages/' + a.pkgId, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } });
    t.is(r.status, 204);
    t.is(await r.text(), '');
    t.false(existsSync(file));
    t.is((await e.api('GET', '/api/packages/' + a.pkgId)).status, 404);
    t.deepEqual((await e.api<{ packages: { pkgId: string }[] }>('GET', '/api/packages')).json.packages.map((p) => p.pkgId), [b.pkgId]);
    t.is((await fetch(a.url)).status, 404, 'the download server no longer serves it');
    t.is((await fetch(b.url)).status, 200);
    const again = await e.api<{ error: string }>('DELETE', '/api/packages/' + a.pkgId);
    t.is(again.status, 404);
    t.regex(again.json.error, /no package/);
    for (const bad of ['nope', 'pkg-zz', '..%2F..%2Fjobs.db']) t.is((await e.api('DELETE', '/api/packages/' + bad)).status, 404, bad);
    t.is((await e.api('DELETE', '/api/packages')).status, 405, 'not the whole repository');
    // A job for the deleted package fails with a clear error instead of sending a dead URL.
    const j = await e.api<{ jobId: string; error?: string }>('POST', `/api/devices/${DEV}/jobs`, { operation: 'DownloadInstall', pkgId: a.pkgId });
    t.is(j.status, 400);
    t.regex(String(j.json.error), new RegExp(a.pkgId));
  } finally {
    await e.close();
  }
});

test('a package an unfinished job uses cannot be deleted (409 naming the job); once the job is over it can', async (t) => {
  const e = await env();
  try {
    const p = await e.upload(new Uint8Array([9]), 'p', '1');
    const j = await e.api<{ jobId: string }>('POST', `/api/devices/${DEV}/jobs`, { operation: 'DownloadInstall', pkgId: p.pkgId, timeoutS: 3600 });
    t.is(j.status, 201);
    const busy = await e.api<{ error: string }>('DELETE', '/api/packages/' + p.pkgId);
    t.is(busy.status, 409);
    t.regex(busy.json.error, new RegExp(`in use: job ${j.json.jobId}`));
    t.is((await e.api('GET', '/api/packages/' + p.pkgId)).status, 200, 'still there');
    // The device never connects: the job times out (the sweep as it runs after the deadline), and the package is free.
    await until(async () => (await e.srv.jobs.expireJobs(Date.now() + 3601_000)) === 1, 'the job to time out');
    t.is((await e.waitJob(j.json.jobId, 20_000)).state, 'failed');
    t.is((await e.api('DELETE', '/api/packages/' + p.pkgId)).status, 204);
  } finally {
    await e.close();
  }
});

test('a package an active (or paused) campaign uses cannot be deleted; after the campaign is cancelled it can', async (t) => {
  const e = await env();
  try {
    const p = await e.upload(new Uint8Array([7]), 'p', '1');
    const c = await e.api<{ campaignId: string }>('POST', '/api/campaigns', { operation: 'DownloadInstall', pkgId: p.pkgId, target: { devices: [DEV] }, jobTimeoutS: 1 });
    t.is(c.status, 201);
    t.is((await e.api('POST', `/api/campaigns/${c.json.campaignId}/pause`)).status, 200);
    const busy = await e.api<{ error: string }>('DELETE', '/api/packages/' + p.pkgId);
    t.is(busy.status, 409);
    t.regex(busy.json.error, /in use: (campaign|job) /);
    t.is((await e.api('POST', `/api/campaigns/${c.json.campaignId}/cancel`)).status, 200);
    // A job the campaign already created keeps the package busy until it ends (here: its 1 s deadline).
    await until(async () => (await e.api('DELETE', '/api/packages/' + p.pkgId)).status === 204, 'the package to be deletable');
    t.is((await e.api('GET', '/api/packages/' + p.pkgId)).status, 404);
  } finally {
    await e.close();
  }
});

test.serial('scomo package delete <pkgId>: prints what it deleted; an unknown id or a missing one is an error', async (t) => {
  const e = await env();
  try {
    const p = await e.upload(new Uint8Array([1]), 'p', '1');
    const common = ['--server', e.srv.url, '--token', TOKEN];
    const ok = await captured(packageCli, ['delete', p.pkgId, ...common]);
    t.is(ok.code, 0);
    t.is(ok.out, `deleted ${p.pkgId}\n`);
    t.is((await e.api('GET', '/api/packages/' + p.pkgId)).status, 404);
    const gone = await captured(packageCli, ['delete', p.pkgId, ...common]);
    t.is(gone.code, 1);
    t.is(gone.err, `scomo package: no package ${p.pkgId}\n`);
    const missing = await captured(packageCli, ['delete', ...common]);
    t.is(missing.code, 1);
    t.regex(missing.err, /^scomo package: delete needs a pkgId\n/);
    const extra = await captured(packageCli, ['delete', p.pkgId, 'more', ...common]);
    t.is(extra.code, 1);
    t.regex(extra.err, /unexpected argument more/);
  } finally {
    await e.close();
  }
});

test('the orphan sweep removes old package files without a record and old upload leftovers, nothing else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-orphans-'));
  try {
    const meta = new MemoryMetaStore();
    const store = new PackageStore({ dataDir: dir, meta });
    const kept = await store.add([new Uint8Array([1, 2])], { name: 'k', version: '1', type: 'application/x-tar' });
    if (!kept.ok) throw new Error(kept.message);
    const pdir = join(dir, 'packages');
    const orphan = join(pdir, 'pkg-00000000000000aa.bin');
    const part = join(pdir, '.pkg-00000000000000bb.part');
    const young = join(pdir, 'pkg-00000000000000cc.bin');
    const other = join(pdir, 'notes.txt');
    for (const f of [orphan, part, young, other]) writeFileSync(f, 'x');
    const old = (Date.now() - 2 * 3600_000) / 1000;
    for (const f of [orphan, part, other, join(pdir, kept.meta.pkgId + '.bin')]) utimesSync(f, old, old);
    t.is(await store.sweepOrphans(), 2);
    t.false(existsSync(orphan));
    t.false(existsSync(part));
    t.true(existsSync(young), 'a file younger than an hour may be an upload about to write its record');
    t.true(existsSync(other), 'not a package file');
    t.true(existsSync(join(pdir, kept.meta.pkgId + '.bin')), 'a package with a record');
    t.is(await store.sweepOrphans(0), 1, 'with no minimum age the young orphan goes too');
    t.false(existsSync(young));
    // remove(): record first, then the file; unknown ids are false.
    t.true(await store.remove(kept.meta.pkgId));
    t.false(existsSync(join(pdir, kept.meta.pkgId + '.bin')));
    t.is(await store.get(kept.meta.pkgId), undefined);
    t.false(await store.remove(kept.meta.pkgId));
    t.false(await store.remove('../x'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
