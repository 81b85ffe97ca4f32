// Package signatures on the server side: upload with the X-Scomo-Signature header or the
// signature/sigalg query, refusal of a bad one before anything is stored, PUT/DELETE of a
// package's signature, the signature in the download descriptor, its persistence in the meta
// stores, and the job commands of a signed package (PkgURL = the .dd, an Ext/Signature leaf that
// a device may refuse without failing the job).
import test from 'ava';
import { generateKeyPairSync, sign } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Add, Command } from '../src/codec/model.js';
import { createRepoServer, RepoServer } from '../src/server/repo/repo-server.js';
import { JsonFileMetaStore, PackageMeta } from '../src/server/repo/meta-store.js';
import { SqliteJobStore } from '../src/server/scomo/job-store.js';
import { alternateDownload, dmDelivery, isOptionalCommand, PackageRef } from '../src/server/scomo/plan.js';
import { parseDownloadDescriptor, DD_MIME } from '../src/scomo/download/dd.js';
import { startEnv, Env, TOKEN as ENV_TOKEN } from './helpers/scomo-e2e.js';
import { scriptedSession, DEV, targetOf, until } from './helpers/scomo-script.js';
import { account } from './helpers/server-fixtures.js';

const TOKEN = 'sig-token';
const auth = { Authorization: `Bearer ${TOKEN}` };

interface Resp { status: number; headers: http.IncomingHttpHeaders; body: Buffer; json: Record<string, unknown> }

function request(base: string, method: string, p: string, opts: { headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + p, { method, headers: opts.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        let json: Record<string, unknown> = {};
        try { json = JSON.parse(body.toString()) as Record<string, unknown>; } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const PKG = Buffer.from('package bytes '.repeat(100));
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const SIG_B64 = sign('sha256', PKG, ec.privateKey).toString('base64');
const SIG = 'ecdsa-p256-sha256:' + SIG_B64;

async function withServer(t: { teardown(f: () => Promise<void>): void }, meta: 'memory' | 'json' = 'memory'): Promise<RepoServer & { dataDir: string }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'repo-sig-'));
  const s = await createRepoServer({ dataDir, token: TOKEN, meta });
  t.teardown(() => s.close());
  return Object.assign(s, { dataDir });
}

const Q = '/api/packages?name=app&version=1.0&type=application/x-tar';

test('upload with X-Scomo-Signature: 201 signed, meta and list show the signature', async (t) => {
  const s = await withServer(t);
  const r = await request(s.base, 'POST', Q, { headers: { ...auth, 'X-Scomo-Signature': SIG }, body: PKG });
  t.is(r.status, 201);
  t.deepEqual(Object.keys(r.json).sort(), ['pkgId', 'sha256', 'signed', 'size', 'url']);
  t.is(r.json.signed, true);
  t.is(r.json.size, PKG.length);
  const one = await request(s.base, 'GET', '/api/packages/' + String(r.json.pkgId), { headers: auth });
  t.is(one.json.signature, SIG);
  const list = await request(s.base, 'GET', '/api/packages', { headers: auth });
  t.is((list.json.packages as PackageMeta[])[0].signature, SIG);
});

test('upload with signature/sigalg query (encoded, and with a raw "+" that arrives as a blank)', async (t) => {
  const s = await withServer(t);
  const r = await request(s.base, 'POST', `${Q}&sigalg=ECDSA-P256-SHA256&signature=${encodeURIComponent(SIG_B64)}`, { headers: auth, body: PKG });
  t.is(r.status, 201);
  t.is(r.json.signed, true);
  t.is((await s.store.get(String(r.json.pkgId)))?.signature, SIG);
  // Find a signature containing '+' so the unencoded form is really exercised.
  let b64 = SIG_B64;
  for (let i = 0; !b64.includes('+') && i < 50; i++) b64 = sign('sha256', PKG, ec.privateKey).toString('base64');
  t.true(b64.includes('+'));
  const raw = await request(s.base, 'POST', `${Q}&sigalg=ecdsa-p256-sha256&signature=${b64.replace(/=/g, '%3D')}`, { headers: auth, body: PKG });
  t.is(raw.status, 201);
  t.is((await s.store.get(String(raw.json.pkgId)))?.signature, 'ecdsa-p256-sha256:' + b64);
});

test('unsigned upload: signed false, no signature field, DD without signature', async (t) => {
  const s = await withServer(t);
  const r = await request(s.base, 'POST', Q, { headers: auth, body: PKG });
  t.is(r.status, 201);
  t.is(r.json.signed, false);
  const meta = await s.store.get(String(r.json.pkgId));
  t.false(meta !== undefined && 'signature' in meta);
  const dd = await request(s.base, 'GET', `/dl/${String(r.json.pkgId)}.dd`);
  const p = parseDownloadDescriptor(new Uint8Array(dd.body));
  t.true(p.ok);
  if (p.ok) t.is(p.dd.signature, undefined);
  t.false(dd.body.toString().includes('signature'));
});

test('a bad signature is refused with 400 and the checkSignature message; nothing is stored', async (t) => {
  const s = await withServer(t, 'json');
  const cases: [string, Record<string, string>, RegExp][] = [
    [Q, { 'X-Scomo-Signature': 'md5-rsa:' + SIG_B64 }, /unknown signature algorithm "md5-rsa"/],
    [Q, { 'X-Scomo-Signature': 'ecdsa-p256-sha256:not*base64' }, /not base64/],
    [Q, { 'X-Scomo-Signature': 'no-colon' }, /<alg>:<base64>/],
    [Q, { 'X-Scomo-Signature': 'ecdsa-p256-sha256:' + 'A'.repeat(4000) }, /longer than 2048/],
    [`${Q}&sigalg=ecdsa-p256-sha256`, {}, /"sigalg" needs "signature"/],
    [`${Q}&signature=${encodeURIComponent(SIG_B64)}`, {}, /"signature" needs "sigalg"/],
    [`${Q}&sigalg=rsa-pss-sha256&signature=`, {}, /empty signature/],
    [`${Q}&sigalg=ecdsa-p256-sha256&signature=${encodeURIComponent(SIG_B64)}`, { 'X-Scomo-Signature': SIG }, /not both/],
  ];
  for (const [q, h, re] of cases) {
    const r = await request(s.base, 'POST', q, { headers: { ...auth, ...h }, body: PKG });
    t.is(r.status, 400, q);
    t.regex(String(r.json.error), re);
  }
  const list = await request(s.base, 'GET', '/api/packages', { headers: auth });
  t.deepEqual(list.json.packages, []);
  // No package file, not even a partial one, was created.
  let files: string[] = [];
  try { files = readdirSync(path.join(s.dataDir, 'packages')); } catch { /* never created */ }
  t.deepEqual(files, []);
});

test('PUT /api/packages/{id}/signature signs an uploaded package; bad -> 400, unknown -> 404; DELETE unsigns', async (t) => {
  const s = await withServer(t);
  const up = await request(s.base, 'POST', Q, { headers: auth, body: PKG });
  const id = String(up.json.pkgId);
  const put = (body: unknown, pid = id) => request(s.base, 'PUT', `/api/packages/${pid}/signature`, { headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

  const a = await put({ alg: 'ecdsa-p256-sha256', signature: SIG_B64 });
  t.is(a.status, 200);
  t.is(a.json.signature, SIG);
  t.is(a.json.pkgId, id);
  t.is(a.json.sha256, up.json.sha256);
  t.regex(String(a.json.url), new RegExp(`/dl/${id}$`));

  const rsaSig = 'rsa-pkcs1-sha256:' + Buffer.alloc(256, 7).toString('base64');
  const b = await put({ signature: rsaSig });
  t.is(b.status, 200);
  t.is((await s.store.get(id))?.signature, rsaSig);

  const bad = await put({ alg: 'sha1', signature: SIG_B64 });
  t.is(bad.status, 400);
  t.regex(String(bad.json.error), /unknown signature algorithm/);
  t.is((await put({ signature: 42 })).status, 400);
  t.is((await put([1])).status, 400);
  const notJson = await request(s.base, 'PUT', `/api/packages/${id}/signature`, { headers: auth, body: '{oops' });
  t.is(notJson.status, 400);
  t.is((await s.store.get(id))?.signature, rsaSig); // unchanged by the refused ones

  const unknown = await put({ signature: SIG }, 'pkg-0000000000000000');
  t.is(unknown.status, 404);
  t.is((await request(s.base, 'PUT', `/api/packages/${id}/signature`, { body: JSON.stringify({ signature: SIG }) })).status, 401);
  const get = await request(s.base, 'GET', `/api/packages/${id}/signature`, { headers: auth });
  t.is(get.status, 405);
  t.is(get.headers.allow, 'PUT, DELETE');

  const del = await request(s.base, 'DELETE', `/api/packages/${id}/signature`, { headers: auth });
  t.is(del.status, 200);
  t.false('signature' in del.json);
  t.is((await s.store.get(id))?.signature, undefined);
});

test('the download descriptor carries the signature and parses back with parseDownloadDescriptor', async (t) => {
  const s = await withServer(t);
  const up = await request(s.base, 'POST', Q, { headers: { ...auth, 'X-Scomo-Signature': SIG }, body: PKG });
  const dd = await request(s.base, 'GET', `/dl/${String(up.json.pkgId)}.dd`);
  t.is(dd.status, 200);
  t.is(dd.headers['content-type'], DD_MIME);
  const p = parseDownloadDescriptor(new Uint8Array(dd.body));
  if (!p.ok) { t.fail(p.message); return; }
  t.is(p.dd.signature, SIG);
  t.is(p.dd.sha256, String(up.json.sha256));
  t.is(p.dd.size, PKG.length);
  t.is(p.dd.objectURI, `${s.base}/dl/${String(up.json.pkgId)}`);
});

test('JSON file meta store keeps the signature across a reopen', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meta-sig-'));
  const file = path.join(dir, 'packages.json');
  const m: PackageMeta = { pkgId: 'pkg-00000000000000aa', name: 'a', version: '1', type: 'x/y', size: 1, sha256: '0'.repeat(64), created: '2026-01-01T00:00:00.000Z', signature: SIG };
  await new JsonFileMetaStore(file).put(m);
  await new JsonFileMetaStore(file).put({ ...m, pkgId: 'pkg-00000000000000bb', signature: undefined, created: '2026-01-02T00:00:00.000Z' });
  const again = new JsonFileMetaStore(file);
  t.is((await again.get(m.pkgId))?.signature, SIG);
  t.is((await again.get('pkg-00000000000000bb'))?.signature, undefined);
});

test('SQLite meta store (the job store) keeps the signature across a reopen; records without one still read', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlite-sig-'));
  const old: PackageMeta = { pkgId: 'pkg-0000000000000001', name: 'old', version: '1', type: 'x/y', size: 1, sha256: '1'.repeat(64), created: '2026-01-01T00:00:00.000Z' };
  const a = new SqliteJobStore(dir);
  await a.put(old);
  await a.put({ ...old, pkgId: 'pkg-0000000000000002', name: 'new', created: '2026-01-02T00:00:00.000Z', signature: SIG });
  await a.close();
  const b = new SqliteJobStore(dir);
  t.teardown(() => b.close());
  t.is((await b.get('pkg-0000000000000002'))?.signature, SIG);
  const o = await b.get(old.pkgId);
  t.is(o?.name, 'old');
  t.false(o !== undefined && 'signature' in o);
  t.deepEqual((await b.list()).map((x) => x.signature), [undefined, SIG]);
});

// ---- job commands ----

const shape = (cmds: Command[]) => cmds.map((c) => `${c.kind} ${'items' in c ? c.items.map((i) => i.target?.locURI).join(',') : ''}`);
const REF: PackageRef = { pkgId: 'pkg-1', name: 'app', version: '2', type: 'application/x-tar', url: 'http://r/dl/pkg-1', ddUrl: 'http://r/dl/pkg-1.dd', bytes: new Uint8Array([1, 2, 3]) };
const leafValue = (cmds: Command[], uri: string): unknown => {
  for (const c of cmds) if (c.kind === 'Add') for (const i of c.items) if (i.target?.locURI === uri) return i.data;
  return undefined;
};

test('plan: signed alternate download uses the .dd as PkgURL and adds Ext/Signature in its own Add before the Exec', (t) => {
  const base = './SCOMO/Download/j1';
  const p = alternateDownload('./SCOMO', 'j1', { ...REF, signature: SIG }, 'DownloadInstall', 'c1');
  const s = shape(p.commands);
  t.deepEqual(s, [
    `Add ${base}`,
    `Add ${base}/PkgID,${base}/Name,${base}/PkgURL,${base}/Description,${base}/PkgType`,
    `Add ${base}/Ext/Signature`,
    `Exec ${base}/Operations/DownloadInstall`,
  ]);
  t.is(leafValue(p.commands, base + '/PkgURL'), 'http://r/dl/pkg-1.dd');
  t.is(leafValue(p.commands, base + '/Ext/Signature'), SIG);
  const sigItem = (p.commands[2] as Add).items[0];
  t.is(sigItem.meta?.format, 'chr');
  t.true(isOptionalCommand(p.commands[2]));
  t.false(p.commands.filter((c) => c !== p.commands[2]).some(isOptionalCommand));
  // Without ddUrl the .dd next to the package URL is used.
  const q = alternateDownload('./SCOMO', 'j1', { ...REF, ddUrl: undefined, signature: SIG }, 'Download', 'c1');
  t.is(leafValue(q.commands, base + '/PkgURL'), 'http://r/dl/pkg-1.dd');
});

test('plan: signed DM delivery adds Inventory/Delivered/<X>/Ext/Signature before the Data', (t) => {
  const base = './SCOMO/Inventory/Delivered/j2';
  const p = dmDelivery('./SCOMO', 'j2', { ...REF, signature: SIG }, 'Install', 'c2');
  t.deepEqual(shape(p.commands), [
    `Add ${base}`,
    `Add ${base}/PkgID,${base}/Name,${base}/Description,${base}/PkgType`,
    `Add ${base}/Ext/Signature`,
    `Add ${base}/Data`,
    `Exec ${base}/Operations/Install`,
  ]);
  t.is(leafValue(p.commands, base + '/Ext/Signature'), SIG);
});

test('plan: unsigned packages get the same commands as before (no Ext, PkgURL = the package)', (t) => {
  const a = alternateDownload('./SCOMO', 'j', REF, 'Download', 'c');
  t.is(a.commands.length, 3);
  t.false(a.commands.some((c) => targetOf(c).includes('/Ext')));
  t.is(leafValue(a.commands, './SCOMO/Download/j/PkgURL'), 'http://r/dl/pkg-1');
  const d = dmDelivery('./SCOMO', 'j', REF, undefined, 'c');
  t.deepEqual(d.commands.map(targetOf), ['./SCOMO/Inventory/Delivered/j', './SCOMO/Inventory/Delivered/j/PkgID', './SCOMO/Inventory/Delivered/j/Data']);
});

// ---- the job engine with a scripted device ----

async function env(): Promise<Env> {
  const e = await startEnv();
  await e.srv.addAccount(account());
  await e.srv.jobs.store.setRoot(DEV, './SCOMO');
  return e;
}


async function signedUpload(e: Env): Promise<string> {
  const r = await fetch(`${e.srv.url}/api/packages?name=app&version=3&type=application/x-tar`, {
    method: 'POST', headers: { Authorization: `Bearer ${ENV_TOKEN}`, 'X-Scomo-Signature': SIG }, body: PKG,
  });
  t0Check(r.status === 201, 'signed upload failed: ' + r.status);
  return ((await r.json()) as { pkgId: string }).pkgId;
}

function t0Check(ok: boolean, msg: string): void {
  if (!ok) throw new Error(msg);
}

test.serial('engine: a signed alternate job sends the .dd URL and Ext/Signature; a device refusing Ext/Signature (405) does not fail the job', async (t) => {
  const e = await env();
  try {
    const pkgId = await signedUpload(e);
    const jobId = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'DownloadInstall', pkgId, delivery: 'alternate' })).json.jobId;
    await until(async () => (await e.srv.storage.entriesByTag(jobId)).length === 1, 'queued');
    const { seen } = await scriptedSession(e.srv.dm, {
      answer: (c) => ({ code: c.kind === 'Exec' ? 202 : targetOf(c).endsWith('/Ext/Signature') ? 405 : 200 }),
    });
    const base = `./SCOMO/Download/${jobId}`;
    t.deepEqual(seen.map((c) => `${c.kind} ${targetOf(c)}`), [`Add ${base}`, `Add ${base}/PkgID`, `Add ${base}/Ext/Signature`, `Exec ${base}/Operations/DownloadInstall`]);
    t.is(leafValue(seen, base + '/PkgURL'), `${e.srv.url}/dl/${pkgId}.dd`);
    t.is(leafValue(seen, base + '/Ext/Signature'), SIG);
    await until(async () => (await e.api('GET', '/api/jobs/' + jobId)).json.state === 'accepted', 'accepted');
    // The DD the device is pointed at carries the signature.
    const dd = parseDownloadDescriptor(new Uint8Array(await (await fetch(`${e.srv.url}/dl/${pkgId}.dd`)).arrayBuffer()));
    t.true(dd.ok && dd.dd.signature === SIG);
  } finally {
    await e.close();
  }
});

test.serial('engine: signed DM delivery puts Ext/Signature before Data; other refused Adds still fail the job', async (t) => {
  const e = await env();
  try {
    const pkgId = await signedUpload(e);
    const jobId = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'Download', pkgId, delivery: 'dm' })).json.jobId;
    await until(async () => (await e.srv.storage.entriesByTag(jobId)).length === 1, 'queued');
    const { seen } = await scriptedSession(e.srv.dm);
    const base = `./SCOMO/Inventory/Delivered/${jobId}`;
    t.deepEqual(seen.map((c) => `${c.kind} ${targetOf(c)}`), [`Add ${base}`, `Add ${base}/PkgID`, `Add ${base}/Ext/Signature`, `Add ${base}/Data`]);
    await until(async () => (await e.api('GET', '/api/jobs/' + jobId)).json.state === 'succeeded', 'succeeded');

    const j2 = (await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'Download', pkgId, delivery: 'dm' })).json.jobId;
    await until(async () => (await e.srv.storage.entriesByTag(j2)).length === 1, 'queued');
    await scriptedSession(e.srv.dm, { answer: (c) => ({ code: targetOf(c).endsWith('/Data') ? 425 : 200 }) });
    await until(async () => (await e.api('GET', '/api/jobs/' + j2)).json.state === 'failed', 'failed');
    t.is((await e.api('GET', '/api/jobs/' + j2)).json.status, 425);
  } finally {
    await e.close();
  }
});
