import test from 'ava';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createRepoServer, RepoServer } from '../src/server/repo/repo-server.js';
import { parseRange } from '../src/server/repo/download-handler.js';
import { JsonFileMetaStore } from '../src/server/repo/meta-store.js';
import { parseDownloadDescriptor, DD_MIME } from '../src/scomo/download/dd.js';

const TOKEN = 'secret-token';

interface Resp { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

function request(base: string, method: string, p: string, opts: { headers?: Record<string, string>; body?: Buffer | Readable } = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + p, { method, headers: opts.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body instanceof Readable) opts.body.pipe(req);
    else req.end(opts.body);
  });
}

function bytes(n: number, seed = 7): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const auth = { Authorization: `Bearer ${TOKEN}` };

async function withServer(t: { teardown(f: () => Promise<void>): void }, extra: { maxUploadBytes?: number } = {}): Promise<RepoServer> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'repo-test-'));
  const s = await createRepoServer({ dataDir, token: TOKEN, ...extra });
  t.teardown(() => s.close());
  return s;
}

async function upload(s: RepoServer, body: Buffer, q = 'name=app&version=1.0&type=application/x-tar') {
  const r = await request(s.base, 'POST', '/api/packages?' + q, { headers: auth, body });
  return { ...r, json: JSON.parse(r.body.toString()) };
}

test('upload of a few MB streams to disk with the right sha256 and size; download returns it', async (t) => {
  const s = await withServer(t);
  const data = bytes(3 * 1024 * 1024 + 17);
  // Streamed in 64 KiB pieces with chunked encoding (no Content-Length).
  const r = await request(s.base, 'POST', '/api/packages?name=big&version=2&type=application/octet-stream', {
    headers: auth, body: Readable.from((function* () { for (let i = 0; i < data.length; i += 65536) yield data.subarray(i, i + 65536); })()),
  });
  t.is(r.status, 201);
  const j = JSON.parse(r.body.toString());
  t.regex(j.pkgId, /^pkg-[0-9a-f]{16}$/);
  t.is(j.sha256, sha(data));
  t.is(j.size, data.length);
  t.is(j.url, `${s.base}/dl/${j.pkgId}`);
  t.deepEqual(readdirSync(path.join(s.store.dir)), [`${j.pkgId}.bin`]);
  const d = await request(s.base, 'GET', `/dl/${j.pkgId}`);
  t.is(d.status, 200);
  t.true(d.body.equals(data));
  t.is(d.headers['content-length'], String(data.length));
  t.is(d.headers.etag, `"${sha(data)}"`);
  t.is(d.headers['x-checksum-sha256'], sha(data));
  t.is(d.headers.digest, 'sha-256=' + createHash('sha256').update(data).digest('base64'));
  t.is(d.headers['accept-ranges'], 'bytes');
  t.is(d.headers['content-type'], 'application/octet-stream');
  t.is(s.stats.bytesServed, data.length);
});

test('Range: 206 with Content-Range, suffix and open ranges, 416 beyond the end, If-Range', async (t) => {
  const s = await withServer(t);
  const data = bytes(1000);
  const { json } = await upload(s, data);
  const dl = `/dl/${json.pkgId}`;
  let r = await request(s.base, 'GET', dl, { headers: { Range: 'bytes=100-199' } });
  t.is(r.status, 206);
  t.is(r.headers['content-range'], 'bytes 100-199/1000');
  t.true(r.body.equals(data.subarray(100, 200)));
  r = await request(s.base, 'GET', dl, { headers: { Range: 'bytes=900-' } });
  t.is(r.status, 206);
  t.true(r.body.equals(data.subarray(900)));
  r = await request(s.base, 'GET', dl, { headers: { Range: 'bytes=-10' } });
  t.is(r.headers['content-range'], 'bytes 990-999/1000');
  t.true(r.body.equals(data.subarray(990)));
  r = await request(s.base, 'GET', dl, { headers: { Range: 'bytes=1000-' } });
  t.is(r.status, 416);
  t.is(r.headers['content-range'], 'bytes */1000');
  // If-Range with our ETag: range applies; with another validator: whole file, 200.
  r = await request(s.base, 'GET', dl, { headers: { Range: 'bytes=500-', 'If-Range': `"${json.sha256}"` } });
  t.is(r.status, 206);
  t.is(r.body.length, 500);
  r = await request(s.base, 'GET', dl, { headers: { Range: 'bytes=500-', 'If-Range': '"other"' } });
  t.is(r.status, 200);
  t.is(r.body.length, 1000);
  // Multiple ranges are not supported: the whole file.
  r = await request(s.base, 'GET', dl, { headers: { Range: 'bytes=0-1,5-6' } });
  t.is(r.status, 200);
});

test('parseRange edge cases', (t) => {
  t.deepEqual(parseRange(undefined, 10), { kind: 'none' });
  t.deepEqual(parseRange('bytes=0-0', 10), { kind: 'range', start: 0, end: 0 });
  t.deepEqual(parseRange('bytes=5-100', 10), { kind: 'range', start: 5, end: 9 });
  t.deepEqual(parseRange('bytes=-0', 10), { kind: 'unsatisfiable' });
  t.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
  t.deepEqual(parseRange('bytes=7-3', 10), { kind: 'none' });
  t.deepEqual(parseRange('items=1-2', 10), { kind: 'none' });
});

test('HEAD has the headers and no body; 404 for unknown or malformed ids', async (t) => {
  const s = await withServer(t);
  const data = bytes(5000);
  const { json } = await upload(s, data);
  const h = await request(s.base, 'HEAD', `/dl/${json.pkgId}`);
  t.is(h.status, 200);
  t.is(h.headers['content-length'], '5000');
  t.is(h.headers.etag, `"${sha(data)}"`);
  t.is(h.body.length, 0);
  t.is((await request(s.base, 'GET', '/dl/pkg-0000000000000000')).status, 404);
  t.is((await request(s.base, 'GET', '/dl/..%2f..%2fetc%2fpasswd')).status, 404);
  t.is((await request(s.base, 'POST', `/dl/${json.pkgId}`)).status, 405);
});

test('download descriptor: OMA DD 1.0 with type, size, objectURI and our sha256 extension', async (t) => {
  const s = await withServer(t);
  const data = bytes(4321);
  const { json } = await upload(s, data, 'name=My%20%3CApp%3E&version=3.1&type=application/x-tar');
  const r = await request(s.base, 'GET', `/dl/${json.pkgId}.dd`);
  t.is(r.status, 200);
  t.is(r.headers['content-type'], DD_MIME);
  const text = r.body.toString();
  t.true(text.includes('<media xmlns="http://www.openmobilealliance.org/xmlns/dd">'));
  const dd = parseDownloadDescriptor(new Uint8Array(r.body));
  if (!dd.ok) return t.fail(dd.message);
  t.is(dd.dd.objectURI, `${s.base}/dl/${json.pkgId}`);
  t.is(dd.dd.size, 4321);
  t.is(dd.dd.type, 'application/x-tar');
  t.is(dd.dd.name, 'My <App>');
  t.is(dd.dd.sha256, sha(data));
  t.is((await request(s.base, 'GET', '/dl/pkg-0000000000000000.dd')).status, 404);
});

test('API: 401 without or with a wrong token, JSON error', async (t) => {
  const s = await withServer(t);
  let r = await request(s.base, 'POST', '/api/packages?name=a&version=1', { body: Buffer.from('x') });
  t.is(r.status, 401);
  t.truthy(JSON.parse(r.body.toString()).error);
  r = await request(s.base, 'GET', '/api/packages', { headers: { Authorization: 'Bearer nope' } });
  t.is(r.status, 401);
  r = await request(s.base, 'GET', '/api/packages', { headers: { Authorization: `Basic ${TOKEN}` } });
  t.is(r.status, 401);
  t.deepEqual((await s.store.list()).length, 0);
});

test('API: 400 for missing name/version, 413 when over the limit, nothing stored', async (t) => {
  const s = await withServer(t, { maxUploadBytes: 1000 });
  let r = await upload(s, bytes(10), 'version=1');
  t.is(r.status, 400);
  t.regex(r.json.error, /name/);
  r = await upload(s, bytes(10), 'name=a');
  t.is(r.status, 400);
  t.regex(r.json.error, /version/);
  r = await upload(s, bytes(1001), 'name=a&version=1');
  t.is(r.status, 413);
  // Chunked (no Content-Length): refused while streaming.
  const c = await request(s.base, 'POST', '/api/packages?name=a&version=1', {
    headers: auth, body: Readable.from([bytes(600), bytes(600)]),
  }).catch(() => ({ status: 413 }) as Resp);
  t.is(c.status, 413);
  t.is((await s.store.list()).length, 0);
  t.deepEqual(readdirSync(s.store.dir), []);
});

test('API: GET /api/packages and /api/packages/{id}', async (t) => {
  const s = await withServer(t);
  const a = await upload(s, bytes(10), 'name=a&version=1');
  const b = await upload(s, bytes(20), 'name=b&version=2&type=application/x-tar');
  const l = await request(s.base, 'GET', '/api/packages', { headers: auth });
  t.is(l.status, 200);
  const list = JSON.parse(l.body.toString()).packages;
  t.deepEqual(list.map((m: { pkgId: string }) => m.pkgId).sort(), [a.json.pkgId, b.json.pkgId].sort());
  const one = await request(s.base, 'GET', `/api/packages/${b.json.pkgId}`, { headers: auth });
  const m = JSON.parse(one.body.toString());
  t.like(m, { pkgId: b.json.pkgId, name: 'b', version: '2', type: 'application/x-tar', size: 20, url: b.json.url });
  t.is((await request(s.base, 'GET', '/api/packages/pkg-1111111111111111', { headers: auth })).status, 404);
});

test('JSON-file metadata survives a new store instance', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'repo-meta-'));
  const f = path.join(dir, 'packages.json');
  const a = new JsonFileMetaStore(f);
  const m = { pkgId: 'pkg-0123456789abcdef', name: 'n', version: '1', type: 't/x', size: 3, sha256: 'ab', created: '2026-01-01T00:00:00.000Z' };
  await Promise.all([a.put(m), a.put({ ...m, pkgId: 'pkg-1123456789abcdef', created: '2026-01-02T00:00:00.000Z' })]);
  const b = new JsonFileMetaStore(f);
  t.deepEqual(await b.get(m.pkgId), m);
  t.is((await b.list()).length, 2);
  t.is(await b.get('pkg-nope'), undefined);
  t.truthy(JSON.parse(readFileSync(f, 'utf8')).packages);
});

test('an upload aborted by the client leaves no file and no record', async (t) => {
  const s = await withServer(t);
  await new Promise<void>((resolve) => {
    const req = http.request(s.base + '/api/packages?name=a&version=1', { method: 'POST', headers: { ...auth, 'Content-Length': '100000' } });
    req.on('error', () => resolve());
    req.write(bytes(30000), () => setTimeout(() => { req.destroy(); resolve(); }, 50));
  });
  // Give the server a moment to notice the reset and clean up.
  for (let i = 0; i < 50 && readdirSync(s.store.dir).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(readdirSync(s.store.dir), []);
  t.is((await s.store.list()).length, 0);
});

test('malformed escapes are 404, a package whose file vanished is 500 (never a wrong body)', async (t) => {
  const s = await withServer(t);
  t.is((await request(s.base, 'GET', '/dl/%E0%A4%A')).status, 404);
  t.is((await request(s.base, 'GET', '/api/packages/%E0%A4%A', { headers: auth })).status, 404);
  const { json } = await upload(s, bytes(100));
  const { rmSync } = await import('node:fs');
  rmSync(path.join(s.store.dir, `${json.pkgId}.bin`));
  t.is((await request(s.base, 'GET', `/dl/${json.pkgId}`)).status, 500);
});

test('with JSON metadata, packages survive a server restart', async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'repo-restart-'));
  const data = bytes(70000);
  const s1 = await createRepoServer({ dataDir, token: TOKEN, meta: 'json' });
  const { json } = await upload(s1, data);
  await s1.close();
  const s2 = await createRepoServer({ dataDir, token: TOKEN, meta: 'json' });
  t.teardown(() => s2.close());
  const r = await request(s2.base, 'GET', `/dl/${json.pkgId}`, { headers: { Range: 'bytes=69990-' } });
  t.is(r.status, 206);
  t.true(r.body.equals(data.subarray(69990)));
  const l = await request(s2.base, 'GET', '/api/packages', { headers: auth });
  t.is(JSON.parse(l.body.toString()).packages[0].sha256, sha(data));
});
