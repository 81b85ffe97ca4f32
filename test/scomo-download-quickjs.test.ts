// The download engine inside QuickJS on scripted event sequences; the same scripts run in Node
// and both runs must agree exactly.
import test from 'ava';
import { createHash } from 'node:crypto';
import { bundleForQuickJS, loadInQuickJS, QuickJSRun } from './helpers/quickjs.js';
import { runScript, patternBytes, ScriptInput } from './fixtures/download/engine-script.js';
import { writeDownloadDescriptor, DD_MIME } from '../src/scomo/download/dd.js';

let vm: QuickJSRun;
test.before(async () => {
  vm = await loadInQuickJS(await bundleForQuickJS('test/fixtures/download/engine-entry.ts'));
});
test.after.always(() => vm?.dispose());

const SIZE = 5000;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const digest = createHash('sha256').update(patternBytes(0, SIZE)).digest('hex');

const ddScript: ScriptInput = {
  options: { url: 'http://h/p/pkg.dd', backoffBaseMs: 10, maxRetries: 2, checkpointEveryBytes: 1500 },
  events: [
    { type: 'http-response', status: 200, headers: { 'content-type': DD_MIME + '; charset=utf-8' } },
    { type: 'http-chunk', bytes: Array.from(Buffer.from(writeDownloadDescriptor({ objectURI: 'obj.bin', size: SIZE, type: 'application/x-tar', sha256: digest }))) },
    { type: 'http-end' },
    { type: 'http-response', status: 200, headers: { 'Content-Length': String(SIZE), ETag: '"abc"' } },
    { type: 'http-chunk', from: 0, fill: 2000 },
    { type: 'http-error', reason: 'reset' },
    { type: 'timer' },
    { type: 'http-response', status: 206, headers: { 'Content-Range': `bytes 2000-${SIZE - 1}/${SIZE}`, ETag: '"abc"' } },
    { type: 'http-chunk', from: 2000, fill: 1000 },
    { type: 'http-chunk', from: 3000, fill: 2000 },
    { type: 'http-end' },
  ],
};

test('DD, interruption, Range resume and SHA-256 check: QuickJS matches Node', (t) => {
  const inQjs = vm.call('runDownloadScript', ddScript) as ReturnType<typeof runScript>;
  const inNode = runScript(ddScript);
  t.deepEqual(inQjs, JSON.parse(JSON.stringify(inNode)));
  t.deepEqual(inQjs.actions, [
    'request http://h/p/pkg.dd',
    'checkpoint 0',
    'request http://h/p/obj.bin',
    'checkpoint 2000',
    'wait 10',
    'request http://h/p/obj.bin bytes=2000- if-range',
    'checkpoint 5000',
    'done 1200',
  ]);
  t.like(inQjs.outcome as object, { ok: true, resultCode: 1200, sha256: digest, type: 'application/x-tar', url: 'http://h/p/obj.bin' });
  t.is(inQjs.stored, hex(patternBytes(0, SIZE)));
});

test('failures in QuickJS: 5xx exhausted (1500), out of space (1404), sha mismatch (1407), cancel', (t) => {
  const cases: [ScriptInput, string[]][] = [
    [{ options: { url: 'http://h/x', backoffBaseMs: 5, maxRetries: 1 }, events: [
      { type: 'http-response', status: 500 }, { type: 'timer' }, { type: 'http-response', status: 502 }] },
    ['request http://h/x', 'abort', 'checkpoint 0', 'wait 5', 'request http://h/x', 'abort', 'done 1500']],
    [{ options: { url: 'http://h/x' }, capacity: 100, events: [
      { type: 'http-response', status: 200 }, { type: 'http-chunk', from: 0, fill: 64 }, { type: 'http-chunk', from: 64, fill: 64 }] },
    ['request http://h/x', 'abort', 'done 1404']],
    [{ options: { url: 'http://h/x', expectedSha256: '00'.repeat(32) }, events: [
      { type: 'http-response', status: 200 }, { type: 'http-chunk', from: 0, fill: 64 }, { type: 'http-end' }] },
    ['request http://h/x', 'done 1407']],
    [{ options: { url: 'http://h/x' }, events: [
      { type: 'http-response', status: 200 }, { type: 'http-chunk', from: 0, fill: 64 }, { type: 'cancel' }, { type: 'http-end' }] },
    ['request http://h/x', 'abort', 'done 1401']],
  ];
  for (const [input, expected] of cases) {
    const out = vm.call('runDownloadScript', input) as ReturnType<typeof runScript>;
    t.deepEqual(out.actions, expected);
    t.deepEqual(out, JSON.parse(JSON.stringify(runScript(input))));
  }
});

test('QuickJS memory does not grow with package size (64 KiB vs 2 MiB through the engine)', (t) => {
  const run = (total: number) => {
    const input: ScriptInput = {
      options: { url: 'http://h/x', checkpointEveryBytes: 1 << 30 }, discard: true,
      events: [{ type: 'http-response', status: 200, headers: { 'Content-Length': String(total) } },
        { type: 'chunks', count: total / 4096, fill: 4096, from: 0 }, { type: 'http-end' }],
    };
    const out = vm.call('runDownloadScript', input) as ReturnType<typeof runScript>;
    t.like(out.outcome as object, { ok: true, bytesReceived: total });
    return vm.memoryUsed();
  };
  const small = run(64 * 1024);
  const big = run(2 * 1024 * 1024);
  t.log(`QuickJS memory_used_size after 64 KiB: ${small}, after 2 MiB: ${big}`);
  t.true(small > 0 && big - small < 32 * 1024, `small ${small} big ${big}`);
});
