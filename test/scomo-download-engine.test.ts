// In-process tests of the download engine's edge cases (no sockets), the DD reader, the HTTP
// helpers and the resumable SHA-256 state.
import test from 'ava';
import { createHash } from 'node:crypto';
import { DownloadEngine } from '../src/scomo/download/engine.js';
import { DownloadAction, DownloadCheckpoint, DownloadEvent, DownloadOptions, HttpRequestAction, StorageStatus } from '../src/scomo/download/types.js';
import { parseDownloadDescriptor, writeDownloadDescriptor, DD_MIME } from '../src/scomo/download/dd.js';
import { parseContentRange, resolveUrl, urlPath, header } from '../src/scomo/download/http-util.js';
import { pureSha256Port, restoreSha256 } from '../src/scomo/download/sha256-resume.js';
import { MemoryStorage } from './helpers/download-driver.js';
import { patternBytes } from './fixtures/download/engine-script.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const enc = (s: string) => new Uint8Array(Buffer.from(s));

/** Runs start() and the events; returns every action and the engine. */
function script(opts: DownloadOptions, events: DownloadEvent[], st = new MemoryStorage()) {
  const e = new DownloadEngine({ backoffBaseMs: 10, ...opts }, st);
  const actions: DownloadAction[] = [...e.start()];
  for (const ev of events) actions.push(...e.handle(ev));
  return { e, actions, st, outcome: e.outcome(), requests: actions.filter((a) => a.type === 'http-request') };
}
const resp = (status: number, headers: Record<string, string> = {}): DownloadEvent => ({ type: 'http-response', status, headers });
const chunk = (from: number, n: number): DownloadEvent => ({ type: 'http-chunk', bytes: patternBytes(from, n) });
const END: DownloadEvent = { type: 'http-end' };

test('resumable SHA-256: save/restore at any split point gives the one-shot digest', (t) => {
  const data = patternBytes(0, 1000);
  for (const cut of [0, 1, 55, 63, 64, 65, 128, 999, 1000]) {
    const h = pureSha256Port.create();
    h.update(data.subarray(0, cut));
    const saved = JSON.parse(JSON.stringify(h.save()));
    const r = pureSha256Port.restore(saved)!;
    r.update(data.subarray(cut));
    t.is(Buffer.from(r.digest()).toString('hex'), sha(data), `cut at ${cut}`);
  }
  t.is(restoreSha256('junk'), null);
  t.is(restoreSha256('s1:' + '00'.repeat(32) + ':5:00'), null); // tail length must be total % 64
  t.is(restoreSha256('s1:' + '00'.repeat(31) + ':0:'), null);
});

test('DD reader: values, our sha256 extension, unknown elements ignored; clear errors', (t) => {
  const ok = parseDownloadDescriptor(enc(writeDownloadDescriptor({ objectURI: 'http://a/b', size: 12, type: 'x/y', name: 'n & m', installNotifyURI: 'http://a/n', sha256: 'AB'.repeat(32) })));
  t.deepEqual(ok, { ok: true, dd: { objectURI: 'http://a/b', size: 12, type: 'x/y', name: 'n & m', installNotifyURI: 'http://a/n', sha256: 'ab'.repeat(32) } });
  const plain = parseDownloadDescriptor(enc('<media xmlns="http://www.openmobilealliance.org/xmlns/dd"><objectURI> u </objectURI><iconURI>i</iconURI><foo>bar</foo></media>'));
  t.deepEqual(plain, { ok: true, dd: { objectURI: 'u' } });
  const bad: [string, RegExp][] = [
    ['<media xmlns="http://www.openmobilealliance.org/xmlns/dd"><size>1</size></media>', /no objectURI/],
    ['<other><objectURI>u</objectURI></other>', /not <media>/],
    ['<media><objectURI>u</objectURI><size>-1</size></media>', /size/],
    ['<media><objectURI>u</objectURI><sha256>xyz</sha256></media>', /sha256/],
    ['<media><objectURI>u</objectURI>', /truncated/],
    ['<media>' + 'x'.repeat(20000) + '</media>', /limit/],
  ];
  for (const [doc, re] of bad) {
    const r = parseDownloadDescriptor(enc(doc));
    t.false(r.ok);
    if (!r.ok) t.regex(r.message, re);
  }
});

test('HTTP helpers: Content-Range, URL resolution, header lookup', (t) => {
  t.deepEqual(parseContentRange('bytes 10-19/100'), { start: 10, end: 19, total: 100 });
  t.deepEqual(parseContentRange('bytes 10-19/*'), { start: 10, end: 19, total: -1 });
  t.deepEqual(parseContentRange('bytes */100'), { start: -1, end: -1, total: 100 });
  t.is(parseContentRange('bytes 19-10/100'), null);
  t.is(parseContentRange('bytes 10-100/100'), null);
  t.is(parseContentRange('lines 1-2/3'), null);
  t.is(resolveUrl('http://h:1/a/b.dd?q', 'c.bin'), 'http://h:1/a/c.bin');
  t.is(resolveUrl('http://h:1/a/b.dd', '/x'), 'http://h:1/x');
  t.is(resolveUrl('http://h:1/a/b.dd', '//o/y'), 'http://o/y');
  t.is(resolveUrl('http://h:1/a/b.dd', 'https://z/w'), 'https://z/w');
  t.is(resolveUrl('http://h:1', 'k'), 'http://h:1/k');
  t.is(urlPath('http://h/a/b.dd?x=1#f'), '/a/b.dd');
  t.is(header({ 'Content-TYPE': 'a' }, 'content-type'), 'a');
});

test('416 after a resume when every byte is already there: completes without a body', (t) => {
  const data = patternBytes(0, 100);
  const st = new MemoryStorage();
  st.append(data);
  const h = pureSha256Port.create(); h.update(data);
  const cp: DownloadCheckpoint = { v: 1, pkgUrl: 'http://h/x', url: 'http://h/x', resolved: true, bytesReceived: 100, etag: '"e"', hash: h.save()! };
  const r = script({ url: 'http://h/x', resumeFrom: cp, expectedSha256: sha(data) }, [resp(416, { 'Content-Range': 'bytes */100' })], st);
  t.deepEqual(r.requests.map((a) => a.type === 'http-request' && a.headers), [{ Range: 'bytes=100-', 'If-Range': '"e"' }]);
  t.like(r.outcome, { ok: true, resultCode: 1200, sha256: sha(data) });
  t.true(st.finalized);
});

test('416 when the server has fewer bytes: storage truncated, retried without Range', (t) => {
  const st = new MemoryStorage();
  st.append(patternBytes(0, 100));
  const cp: DownloadCheckpoint = { v: 1, pkgUrl: 'u', url: 'http://h/x', resolved: true, bytesReceived: 100, hash: pureSha256Port.create().save()! };
  // (hash state does not cover the bytes, but the engine cannot know: the 416 says restart anyway)
  const r = script({ url: 'u', resumeFrom: cp }, [resp(416, { 'Content-Range': 'bytes */50' }), { type: 'timer' }, resp(200, { 'Content-Length': '50' }), chunk(0, 50), END], st);
  t.is(r.requests.length, 2);
  t.deepEqual((r.requests[1] as { headers: object }).headers, {});
  t.like(r.outcome, { ok: true, bytesReceived: 50, sha256: sha(patternBytes(0, 50)) });
  t.true(st.bytes().equals(Buffer.from(patternBytes(0, 50))));
});

test('206 for another range or another ETag: restart from 0', (t) => {
  for (const h of [{ 'Content-Range': 'bytes 0-99/100', ETag: '"e"' }, { 'Content-Range': 'bytes 50-99/100', ETag: '"other"' }]) {
    const st = new MemoryStorage();
    const r = script({ url: 'http://h/x', expectedSize: 100 }, [
      resp(200, { 'Content-Length': '100', ETag: '"e"' }), chunk(0, 50), { type: 'http-error', reason: 'reset' }, { type: 'timer' },
      resp(206, h), { type: 'timer' }, resp(200, { 'Content-Length': '100' }), chunk(0, 100), END], st);
    t.like(r.outcome, { ok: true, bytesReceived: 100 });
    t.is(r.requests.length, 3);
    t.deepEqual((r.requests[2] as { headers: object }).headers, {});
    t.true(st.bytes().equals(Buffer.from(patternBytes(0, 100))));
  }
});

test('resume: storage shorter than the checkpoint or unreadable hash state -> from 0; longer -> truncated', (t) => {
  const base = { v: 1 as const, pkgUrl: 'u', url: 'http://h/x', resolved: true, bytesReceived: 64, etag: '"e"' };
  const h = pureSha256Port.create(); h.update(patternBytes(0, 64));
  // shorter
  let st = new MemoryStorage(); st.append(patternBytes(0, 10));
  let r = script({ url: 'u', resumeFrom: { ...base, hash: h.save()! } }, [], st);
  t.deepEqual((r.requests[0] as { headers: object }).headers, {});
  t.is(st.size(), 0);
  // no hash state
  st = new MemoryStorage(); st.append(patternBytes(0, 64));
  r = script({ url: 'u', resumeFrom: base }, [], st);
  t.deepEqual((r.requests[0] as { headers: object }).headers, {});
  t.is(st.size(), 0);
  // longer: bytes after the checkpoint dropped, Range from the checkpoint
  st = new MemoryStorage(); st.append(patternBytes(0, 90));
  r = script({ url: 'u', resumeFrom: { ...base, hash: h.save()! } },
    [resp(206, { 'Content-Range': 'bytes 64-99/100', ETag: '"e"' }), chunk(64, 36), END], st);
  t.deepEqual((r.requests[0] as { headers: object }).headers, { Range: 'bytes=64-', 'If-Range': '"e"' });
  t.like(r.outcome, { ok: true, sha256: sha(patternBytes(0, 100)) });
});

test('weak ETag is not used for If-Range', (t) => {
  const r = script({ url: 'http://h/x' }, [resp(200, { 'Content-Length': '100', ETag: 'W/"w"' }), chunk(0, 10), { type: 'http-error', reason: 'x' }, { type: 'timer' }]);
  t.deepEqual((r.requests[1] as { headers: object }).headers, { Range: 'bytes=10-' });
});

test('events of an aborted request are ignored; cancel while waiting ends without abort', (t) => {
  const e = new DownloadEngine({ url: 'http://h/x', backoffBaseMs: 10 }, new MemoryStorage());
  const first = e.start()[0] as { id: number };
  e.handle({ type: 'http-response', id: first.id, status: 500, headers: {} });
  t.deepEqual(e.handle({ type: 'http-chunk', id: first.id, bytes: new Uint8Array(5) }), []);
  const next = e.handle({ type: 'timer' });
  t.is(next[0].type, 'http-request');
  t.deepEqual(e.handle({ type: 'http-end', id: first.id }), []); // stale end
  t.false(e.isDone());
  const r = script({ url: 'http://h/x' }, [resp(503), { type: 'cancel' }]);
  t.deepEqual(r.actions.map((a) => a.type), ['http-request', 'http-abort', 'checkpoint', 'wait', 'done']);
  t.like(r.outcome, { cancelled: true, resultCode: 1401 });
});

test('a shorter 206 than asked: the rest is requested at once', (t) => {
  const r = script({ url: 'http://h/x', resumeFrom: undefined }, [
    resp(200, { 'Content-Length': '100', ETag: '"e"' }), chunk(0, 10), { type: 'http-error', reason: 'x' }, { type: 'timer' },
    resp(206, { 'Content-Range': 'bytes 10-49/100', ETag: '"e"' }), chunk(10, 40), END,
    resp(206, { 'Content-Range': 'bytes 50-99/100', ETag: '"e"' }), chunk(50, 50), END]);
  t.deepEqual(r.requests.map((a) => (a as { headers: { Range?: string } }).headers.Range), [undefined, 'bytes=10-', 'bytes=50-']);
  t.like(r.outcome, { ok: true, bytesReceived: 100 });
});

test('descriptor problems: too large, invalid, size conflicting with the job -> final errors', (t) => {
  let r = script({ url: 'http://h/a.dd' }, [resp(200, { 'Content-Length': '99999' })]);
  t.like(r.outcome, { resultCode: 1402 });
  r = script({ url: 'http://h/a.dd' }, [resp(200), { type: 'http-chunk', bytes: new Uint8Array(20000) }]);
  t.like(r.outcome, { resultCode: 1402 });
  r = script({ url: 'http://h/a.dd' }, [resp(200), { type: 'http-chunk', bytes: enc('<media>') }, END]);
  t.like(r.outcome, { resultCode: 1402 });
  r = script({ url: 'http://h/a', expectedSize: 5 }, [resp(200, { 'Content-Type': DD_MIME }), { type: 'http-chunk', bytes: enc(writeDownloadDescriptor({ objectURI: 'o', size: 6 })) }, END]);
  t.like(r.outcome, { resultCode: 1407 });
  // A network error while fetching the descriptor is retried like any other.
  r = script({ url: 'http://h/a.dd' }, [{ type: 'http-error', reason: 'refused' }, { type: 'timer' }]);
  t.is(r.requests.length, 2);
  t.false(r.e.isDone());
});

test('redirects: bounded, and a 3xx without Location is final', (t) => {
  const loop = Array.from({ length: 7 }, () => resp(302, { Location: '/again' }));
  let r = script({ url: 'http://h/x', maxRedirects: 3 }, loop);
  t.like(r.outcome, { resultCode: 1402, reason: 'too many redirects' });
  t.is(r.requests.length, 4);
  r = script({ url: 'http://h/x' }, [resp(301)]);
  t.like(r.outcome, { resultCode: 1402 });
  r = script({ url: 'http://h/x' }, [resp(304)]);
  t.like(r.outcome, { resultCode: 1402 });
});

test('retries count only attempts without progress; back-off is capped', (t) => {
  const ev: DownloadEvent[] = [];
  // 6 interruptions, each after new bytes: never exhausts maxRetries = 1.
  for (let i = 0; i < 6; i++) {
    ev.push(i === 0 ? resp(200, { 'Content-Length': '60', ETag: '"e"' }) : resp(206, { 'Content-Range': `bytes ${i * 10}-59/60`, ETag: '"e"' }));
    ev.push(chunk(i * 10, 10), { type: 'http-error', reason: 'reset' }, { type: 'timer' });
  }
  let r = script({ url: 'http://h/x', maxRetries: 1 }, ev);
  t.false(r.e.isDone());
  t.is(r.requests.length, 7);
  r = script({ url: 'http://h/x', maxRetries: 10, backoffBaseMs: 100, backoffMaxMs: 500 },
    Array.from({ length: 6 }, () => [resp(500), { type: 'timer' } as DownloadEvent]).flat());
  t.deepEqual(r.actions.filter((a) => a.type === 'wait').map((a) => (a as { ms: number }).ms), [100, 200, 400, 500, 500, 500]);
});

test('storage failures: open, sync before checkpoint, finalize', (t) => {
  class Failing extends MemoryStorage {
    constructor(private what: string, private st: StorageStatus) { super(); }
    open(): StorageStatus { return this.what === 'open' ? this.st : super.open(); }
    sync(): StorageStatus { return this.what === 'sync' ? this.st : super.sync(); }
    finalize(): StorageStatus { return this.what === 'finalize' ? this.st : super.finalize(); }
  }
  let r = script({ url: 'http://h/x' }, [], new Failing('open', 'error'));
  t.like(r.outcome, { resultCode: 1402 });
  t.is(r.requests.length, 0);
  r = script({ url: 'http://h/x', checkpointEveryBytes: 10 }, [resp(200), chunk(0, 20)], new Failing('sync', 'no-space'));
  t.like(r.outcome, { resultCode: 1404 });
  r = script({ url: 'http://h/x' }, [resp(200), chunk(0, 20), END], new Failing('finalize', 'no-space'));
  t.like(r.outcome, { resultCode: 1404 });
});

test('a body cut short (Content-Length not reached) without a transport error is retried with Range', (t) => {
  const r = script({ url: 'http://h/x' }, [resp(200, { 'Content-Length': '100', ETag: '"e"' }), chunk(0, 30), END, { type: 'timer' }]);
  t.deepEqual((r.requests[1] as { headers: object }).headers, { Range: 'bytes=30-', 'If-Range': '"e"' });
  t.deepEqual(r.e.progress(), { received: 30, total: 100 });
});

test('X-Checksum-Sha256 from the server is checked when neither job nor DD gives a digest; 204 is not a package', (t) => {
  let r = script({ url: 'http://h/x' }, [resp(200, { 'X-Checksum-Sha256': 'CD'.repeat(32) }), chunk(0, 10), END]);
  t.like(r.outcome, { resultCode: 1407 });
  r = script({ url: 'http://h/x' }, [resp(200, { 'X-Checksum-Sha256': sha(patternBytes(0, 10)) }), chunk(0, 10), END]);
  t.like(r.outcome, { resultCode: 1200 });
  r = script({ url: 'http://h/x' }, [resp(204)]);
  t.like(r.outcome, { resultCode: 1402 });
});

test('a retry starts again from the object URL, not from a redirect target; the checkpoint keeps the object URL', (t) => {
  const r = script({ url: 'http://h/obj' }, [
    resp(302, { Location: 'http://cdn/signed?t=1' }), resp(200, { 'Content-Length': '100', ETag: '"e"' }), chunk(0, 40),
    { type: 'http-error', reason: 'reset' }, { type: 'timer' }, resp(307, { Location: 'http://cdn/signed?t=2' }),
    resp(206, { 'Content-Range': 'bytes 40-99/100', ETag: '"e"' }), chunk(40, 60), END]);
  t.deepEqual(r.requests.map((a) => (a as { url: string }).url), ['http://h/obj', 'http://cdn/signed?t=1', 'http://h/obj', 'http://cdn/signed?t=2']);
  t.is((r.requests[3] as HttpRequestAction).headers.Range, 'bytes=40-');
  const cps = r.actions.filter((a) => a.type === 'checkpoint').map((a) => (a as { checkpoint: DownloadCheckpoint }).checkpoint);
  t.true(cps.length > 0 && cps.every((c) => c.url === 'http://h/obj'));
  t.like(r.outcome, { ok: true, url: 'http://cdn/signed?t=2' });
});

test('DD signature extension: written, read back, validated; carried through a checkpoint to the outcome', (t) => {
  const sig = 'ecdsa-p256-sha256:' + Buffer.from('sig-bytes').toString('base64');
  const doc = writeDownloadDescriptor({ objectURI: 'http://h/pkg', size: 10, signature: sig });
  t.regex(doc, /<x:signature xmlns:x="urn:x-scomo:dd-ext:1.0">ecdsa-p256-sha256:/);
  t.deepEqual(parseDownloadDescriptor(enc(doc)), { ok: true, dd: { objectURI: 'http://h/pkg', size: 10, signature: sig } });
  const bad = parseDownloadDescriptor(enc(writeDownloadDescriptor({ objectURI: 'u', signature: 'md5:AAAA' })));
  t.false(bad.ok);
  if (!bad.ok) t.regex(bad.message, /unknown signature algorithm "md5"/);
  // A `signature` element outside our namespace is not ours: ignored.
  const foreign = parseDownloadDescriptor(enc('<media><objectURI>u</objectURI><signature>whatever</signature></media>'));
  t.deepEqual(foreign, { ok: true, dd: { objectURI: 'u' } });

  // The DD is read once; a reboot resumes from the checkpoint, which must still know the signature.
  const data = patternBytes(0, 10);
  const st = new MemoryStorage();
  const first = script({ url: 'http://h/a.dd' }, [resp(200, { 'Content-Type': DD_MIME }), { type: 'http-chunk', bytes: enc(doc) }, END,
    resp(200, { 'Content-Length': '10', ETag: '"e"' }), chunk(0, 4), { type: 'http-error', reason: 'power' }], st);
  const cps = first.actions.filter((a) => a.type === 'checkpoint') as { checkpoint: DownloadCheckpoint }[];
  const cp = cps[cps.length - 1].checkpoint;
  t.is(cp.signature, sig);
  const resumed = script({ url: 'http://h/a.dd', resumeFrom: JSON.parse(JSON.stringify(cp)) as DownloadCheckpoint },
    [resp(206, { 'Content-Range': 'bytes 4-9/10', ETag: '"e"' }), chunk(4, 6), END], st);
  t.like(resumed.outcome, { ok: true, bytesReceived: 10, signature: sig });
  t.is(resumed.outcome?.descriptor, undefined, 'no descriptor after a resume, the signature survives anyway');
  t.is(sha(st.bytes()), sha(data));
});
