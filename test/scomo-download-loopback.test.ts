// The download engine driven over loopback against the repository server, with faults injected
// in front of the real download handler.
import test from 'ava';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRepoServer, RepoServer } from '../src/server/repo/repo-server.js';
import { DownloadEngine } from '../src/scomo/download/engine.js';
import { DownloadOptions } from '../src/scomo/download/types.js';
import { DD_MIME, writeDownloadDescriptor } from '../src/scomo/download/dd.js';
import { drive, MemoryStorage } from './helpers/download-driver.js';

type Intercept = (req: IncomingMessage, res: ServerResponse) => boolean;

function bytes(n: number, seed = 3): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Fixture { s: RepoServer; pkgId: string; data: Buffer; url: string; setIntercept(f: Intercept | null): void; hits: string[] }

async function fixture(t: { teardown(f: () => Promise<void>): void }, size = 300_000): Promise<Fixture> {
  let intercept: Intercept | null = null;
  const hits: string[] = [];
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dl-test-'));
  const s = await createRepoServer({
    dataDir, token: 't',
    intercept: async (req, res) => { hits.push(`${req.method} ${req.url} ${req.headers.range ?? ''}`); return intercept ? intercept(req, res) : false; },
  });
  t.teardown(() => s.close());
  const data = bytes(size);
  const r = await s.store.add([data], { name: 'app', version: '1', type: 'application/x-tar' });
  if (!r.ok) throw new Error('upload failed');
  return { s, pkgId: r.meta.pkgId, data, url: `${s.base}/dl/${r.meta.pkgId}`, setIntercept: (f) => { intercept = f; }, hits };
}

/** Lets the real handler answer but closes the connection after `n` body bytes. */
function cutAfter(res: ServerResponse, n: number): void {
  let sent = 0;
  const orig = res.write.bind(res) as (c: Buffer, cb?: () => void) => boolean;
  (res as unknown as { write: (c: Buffer | string) => boolean }).write = (c) => {
    const buf = Buffer.isBuffer(c) ? c : Buffer.from(c);
    if (sent >= n) return false;
    const take = Math.min(buf.length, n - sent);
    sent += take;
    orig(buf.subarray(0, take), sent >= n ? () => res.destroy() : undefined);
    return true;
  };
}

function reply(res: ServerResponse, status: number, body = '', headers: Record<string, string> = {}): true {
  res.writeHead(status, { 'Content-Length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
  return true;
}

const fast = (o: DownloadOptions): DownloadOptions => ({ backoffBaseMs: 10, maxRetries: 3, checkpointEveryBytes: 65536, ...o });

test('straight download: 1200, bytes and sha256 verified, storage finalised, progress and checkpoints', async (t) => {
  const f = await fixture(t);
  const st = new MemoryStorage();
  const e = new DownloadEngine(fast({ url: f.url, expectedSha256: sha(f.data).toUpperCase(), expectedSize: f.data.length }), st);
  const { outcome, log } = await drive(e);
  t.like(outcome, { ok: true, resultCode: 1200, bytesReceived: f.data.length, sha256: sha(f.data), type: 'application/x-tar' });
  t.true(st.bytes().equals(f.data));
  t.true(st.finalized);
  t.deepEqual(e.progress(), { received: f.data.length, total: f.data.length });
  t.is(log.requests.length, 1);
  t.deepEqual(log.requests[0].headers, {});
  t.true(log.checkpoints.length >= 3);
  t.true(log.checkpoints.every((c, i) => i === 0 || c.bytesReceived > log.checkpoints[i - 1].bytesReceived));
  t.is(log.checkpoints[0].hash?.slice(0, 3), 's1:');
});

test('DD indirection: the descriptor is read, then objectURI downloaded and checked against the DD sha256', async (t) => {
  const f = await fixture(t);
  const st = new MemoryStorage();
  const e = new DownloadEngine(fast({ url: f.url + '.dd' }), st);
  const { outcome, log } = await drive(e);
  t.like(outcome, { ok: true, resultCode: 1200, url: f.url, sha256: sha(f.data) });
  t.is(outcome?.descriptor?.sha256, sha(f.data));
  t.is(outcome?.descriptor?.size, f.data.length);
  t.deepEqual(log.requests.map((r) => r.url), [f.url + '.dd', f.url]);
  t.like(log.checkpoints[0], { url: f.url, resolved: true, bytesReceived: 0, expectedSize: f.data.length, expectedSha256: sha(f.data) });
  t.true(st.bytes().equals(f.data));
});

test('DD detected by Content-Type on a URL without .dd; a DD whose sha256 does not match gives 1407', async (t) => {
  const f = await fixture(t);
  f.setIntercept((req, res) => req.url === '/desc'
    ? reply(res, 200, writeDownloadDescriptor({ objectURI: `/dl/${f.pkgId}`, size: f.data.length, sha256: '0'.repeat(64) }), { 'Content-Type': DD_MIME })
    : false);
  const e = new DownloadEngine(fast({ url: f.s.base + '/desc' }), new MemoryStorage());
  const { outcome, log } = await drive(e);
  t.like(outcome, { ok: false, resultCode: 1407 });
  t.regex(outcome!.reason, /SHA-256 mismatch/);
  t.is(log.requests[1].url, f.url); // relative objectURI resolved against the DD URL
});

test('interruption mid-body, then Range resume with If-Range (206)', async (t) => {
  const f = await fixture(t);
  let n = 0;
  f.setIntercept((req, res) => { if (req.url?.startsWith('/dl/') && n++ === 0) cutAfter(res, 100_000); return false; });
  const st = new MemoryStorage();
  const e = new DownloadEngine(fast({ url: f.url, expectedSha256: sha(f.data) }), st);
  const { outcome, log } = await drive(e);
  t.like(outcome, { ok: true, resultCode: 1200 });
  t.true(st.bytes().equals(f.data));
  t.is(log.requests.length, 2);
  t.deepEqual(log.requests[1].headers, { Range: 'bytes=100000-', 'If-Range': `"${sha(f.data)}"` });
  t.deepEqual(log.statuses, [200, 206]);
  t.deepEqual(log.waits, [10]);
});

test('reboot mid-download: a new engine resumes from the journaled checkpoint with Range', async (t) => {
  const f = await fixture(t);
  const st = new MemoryStorage();
  // First boot: power cut once 150 000 bytes are in storage (some after the last checkpoint).
  const e1 = new DownloadEngine(fast({ url: f.url + '.dd' }), st);
  const first = await drive(e1, { cut: () => st.size() >= 150_000 });
  t.is(first.outcome, null);
  const cp = first.log.checkpoints[first.log.checkpoints.length - 1];
  t.true(cp.bytesReceived > 0 && cp.bytesReceived <= st.size());
  // Second boot: the journal hands the checkpoint back (as JSON, as it would be stored).
  const e2 = new DownloadEngine(fast({ url: f.url + '.dd', resumeFrom: JSON.parse(JSON.stringify(cp)) }), st);
  const second = await drive(e2);
  t.like(second.outcome, { ok: true, resultCode: 1200, sha256: sha(f.data) });
  t.is(second.log.requests[0].url, f.url); // straight to the object, the DD is not read again
  t.is(second.log.requests[0].headers.Range, `bytes=${cp.bytesReceived}-`);
  t.deepEqual(second.log.statuses, [206]);
  t.true(st.bytes().equals(f.data));
});

test('server that ignores Range: 200 restarts from 0 with truncate', async (t) => {
  const f = await fixture(t);
  let n = 0;
  f.setIntercept((req, res) => {
    if (!req.url?.startsWith('/dl/')) return false;
    if (n++ === 0) cutAfter(res, 50_000);
    else delete req.headers.range;
    return false;
  });
  const st = new MemoryStorage();
  const e = new DownloadEngine(fast({ url: f.url, expectedSha256: sha(f.data) }), st);
  const { outcome, log } = await drive(e);
  t.like(outcome, { ok: true, resultCode: 1200 });
  t.deepEqual(log.statuses, [200, 200]);
  t.true(st.bytes().equals(f.data));
});

test('404 is final: 1402 after one request', async (t) => {
  const f = await fixture(t);
  const { outcome, log } = await drive(new DownloadEngine(fast({ url: f.s.base + '/dl/pkg-0000000000000000' }), new MemoryStorage()));
  t.like(outcome, { ok: false, resultCode: 1402 });
  t.is(log.requests.length, 1);
});

test('401 and 403 give 1403 without retries', async (t) => {
  const f = await fixture(t);
  for (const status of [401, 403]) {
    f.setIntercept((_req, res) => reply(res, status, 'no'));
    const { outcome, log } = await drive(new DownloadEngine(fast({ url: f.url }), new MemoryStorage()));
    t.like(outcome, { ok: false, resultCode: 1403 });
    t.is(log.requests.length, 1);
  }
});

test('500 then success; back-off delays grow', async (t) => {
  const f = await fixture(t);
  let n = 0;
  f.setIntercept((_req, res) => (n++ < 2 ? reply(res, 500, 'oops') : false));
  const st = new MemoryStorage();
  const { outcome, log } = await drive(new DownloadEngine(fast({ url: f.url }), st));
  t.like(outcome, { ok: true, resultCode: 1200 });
  t.deepEqual(log.statuses, [500, 500, 200]);
  t.deepEqual(log.waits, [10, 20]);
  t.true(st.bytes().equals(f.data));
});

test('500 forever: 1500 after maxRetries', async (t) => {
  const f = await fixture(t);
  f.setIntercept((_req, res) => reply(res, 503, 'down'));
  const { outcome, log } = await drive(new DownloadEngine(fast({ url: f.url, maxRetries: 2 }), new MemoryStorage()));
  t.like(outcome, { ok: false, resultCode: 1500 });
  t.is(log.requests.length, 3);
  t.deepEqual(log.waits, [10, 20]);
});

test('connection refused: 1501 after retries', async (t) => {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const { outcome, log } = await drive(new DownloadEngine(fast({ url: `http://127.0.0.1:${port}/dl/x`, maxRetries: 2 }), new MemoryStorage()));
  t.like(outcome, { ok: false, resultCode: 1501 });
  t.regex(outcome!.reason, /ECONNREFUSED/);
  t.is(log.requests.length, 3);
});

test('sha256 mismatch: 1407 and storage not finalised', async (t) => {
  const f = await fixture(t);
  const st = new MemoryStorage();
  const { outcome } = await drive(new DownloadEngine(fast({ url: f.url, expectedSha256: 'ab'.repeat(32) }), st));
  t.like(outcome, { ok: false, resultCode: 1407, sha256: sha(f.data) });
  t.false(st.finalized);
});

test('size mismatch: 1407 from Content-Length before any byte is stored', async (t) => {
  const f = await fixture(t);
  const st = new MemoryStorage();
  const { outcome, log } = await drive(new DownloadEngine(fast({ url: f.url, expectedSize: f.data.length - 1 }), st));
  t.like(outcome, { ok: false, resultCode: 1407 });
  t.regex(outcome!.reason, /size mismatch/);
  t.is(st.size(), 0);
  t.is(log.aborts, 1);
});

test('size mismatch on a body without Content-Length: more bytes than expected', async (t) => {
  const f = await fixture(t);
  f.setIntercept((_req, res) => { res.writeHead(200); res.write(bytes(5000)); res.end(bytes(5000)); return true; });
  const { outcome } = await drive(new DownloadEngine(fast({ url: f.url, expectedSize: 6000 }), new MemoryStorage()));
  t.like(outcome, { ok: false, resultCode: 1407 });
});

test('out of space: 1404', async (t) => {
  const f = await fixture(t);
  const { outcome, log } = await drive(new DownloadEngine(fast({ url: f.url }), new MemoryStorage(100_000)));
  t.like(outcome, { ok: false, resultCode: 1404 });
  t.is(log.aborts, 1);
});

test('cancel stops the download: abort, outcome cancelled, no further request', async (t) => {
  const f = await fixture(t, 2_000_000);
  const st = new MemoryStorage();
  let cancelled = false;
  const { outcome, log } = await drive(new DownloadEngine(fast({ url: f.url }), st), {
    afterEvent: (ev) => { if (!cancelled && ev.type === 'http-chunk') { cancelled = true; return [{ type: 'cancel' }]; } },
  });
  t.like(outcome, { ok: false, cancelled: true, resultCode: 1401 });
  t.is(log.aborts, 1);
  t.is(log.requests.length, 1);
  t.true(st.size() < f.data.length);
  t.false(st.finalized);
});

test('redirect to the object is followed', async (t) => {
  const f = await fixture(t);
  f.setIntercept((req, res) => (req.url === '/moved' ? reply(res, 302, '', { Location: `/dl/${f.pkgId}` }) : false));
  const { outcome, log } = await drive(new DownloadEngine(fast({ url: f.s.base + '/moved' }), new MemoryStorage()));
  t.like(outcome, { ok: true, resultCode: 1200, url: f.url });
  t.deepEqual(log.statuses, [302, 200]);
});
