// Smoke test of the bench modules' pure parts on tiny inputs: output shapes and arithmetic, never
// timing. The measurements themselves run in `npm run bench`.
import test from 'ava';
import { parseHarnessOutput, ratio, sampleMessages } from '../bench/libwbxml.js';
import { bundleFigures, layerKey } from '../bench/bundle.js';
import { percentile, summarize } from '../bench/server.js';
import { sessionsOf } from '../bench/e2e-rig.js';
import { figureKey } from '../bench/device.js';
import { typicalCommands } from '../bench/dm.js';

test('libwbxml: harness output is parsed per encoding', (t) => {
  const r = parseHarnessOutput([
    '{"libwbxml":"0.11.8"}',
    '{"encoding":"xml","files":2,"set_bytes":3000,"set_encoded_bytes":2700,"decode":{"mb_s":40.5,"reps":330,"bytes":990000},"encode":{"mb_s":170,"reps":370,"bytes":999000}}',
    '{"encoding":"wbxml","files":2,"set_bytes":800,"set_encoded_bytes":790,"decode":{"mb_s":30,"reps":1250,"bytes":1000000},"encode":{"mb_s":37,"reps":1266,"bytes":1000140}}',
    '',
  ].join('\n'));
  t.is(r.version, '0.11.8');
  t.deepEqual(r.xml, { setBytes: 3000, setEncodedBytes: 2700, decode: 40.5, encode: 170, reps: { decode: 330, encode: 370 } });
  t.is(r.wbxml?.encode, 37);
  t.throws(() => parseHarnessOutput('{"encoding":"json"}'));
});

test('libwbxml: the ratio compares messages per second over the same set', (t) => {
  t.is(ratio(10, 1000, 10, 1000), 1);
  // Same MB/s but our output is twice as big: we encode twice the bytes per message, so half the messages/s.
  t.is(ratio(10, 2000, 10, 1000), 0.5);
  t.is(ratio(20, 1000, 10, 1000), 2);
});

test('libwbxml: the message selection matches bench/codec.ts (up to 6, each <= 16 KiB)', (t) => {
  const picks = sampleMessages();
  t.true(picks.length > 0 && picks.length <= 6);
  t.true(picks.every((b) => b.length <= 16384));
  t.deepEqual(sampleMessages().map((b) => b.length), picks.map((b) => b.length), 'deterministic');
});

test('bundle: figures per target and per layer with dot-free keys', (t) => {
  t.is(layerKey('src/codec'), 'src_codec');
  t.is(layerKey('node_modules'), 'node_modules');
  const out = bundleFigures('quickjs', 'targets/quickjs/entry.ts', { code: '', minBytes: 100, gzipBytes: 40, layers: { 'src/codec': 60, 'src/dm': 40 } });
  t.is(out['bundle.quickjs.min_bytes'].value, 100);
  t.is(out['bundle.quickjs.gzip_bytes'].value, 40);
  t.is(out['bundle.quickjs.layer.src_codec_bytes'].value, 60);
  t.is(out['bundle.quickjs.layer.src_dm_bytes'].value, 40);
  for (const f of Object.values(out)) t.true(f.how.length > 10);
});

test('server: nearest-rank percentiles and the summary', (t) => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100 unsorted
  t.is(percentile(xs, 50), 50);
  t.is(percentile(xs, 99), 99);
  t.is(percentile(xs, 100), 100);
  t.is(percentile([7], 99), 7);
  t.true(Number.isNaN(percentile([], 50)));
  t.deepEqual(summarize([10, 20, 30, 40], 2000), { sessionsPerS: 2, p50: 20, p99: 40 });
});

test('dm: exchanges are grouped into sessions in order of appearance', (t) => {
  const s = sessionsOf([
    { sessionId: '1', requestBytes: 100, responseBytes: 50 },
    { sessionId: '1', requestBytes: 10, responseBytes: 5 },
    { sessionId: '2', requestBytes: 7, responseBytes: 3 },
  ]);
  t.deepEqual(s, [
    { sessionId: '1', roundTrips: 2, bytes: 165, up: 110, down: 55 },
    { sessionId: '2', roundTrips: 1, bytes: 10, up: 7, down: 3 },
  ]);
});

test('dm: the typical session has 3 Gets, 1 Replace and a DownloadInstall Exec with the correlator', (t) => {
  const cmds = typicalCommands({ pkgId: 'p', url: 'http://x/dl/p' }, 'c1');
  t.is(cmds.filter((c) => c.kind === 'Get').length, 3);
  t.is(cmds.filter((c) => c.kind === 'Replace').length, 1);
  const exec = cmds.find((c) => c.kind === 'Exec') as { correlator?: string; items: { target?: { locURI: string } }[] };
  t.is(exec.correlator, 'c1');
  t.regex(exec.items[0].target!.locURI, /\/Operations\/DownloadInstall$/);
});

test('device: figure keys', (t) => {
  t.is(figureKey('node', 'dm', 64), 'device.node.peak_heap_bytes.dm_64mb');
  t.is(figureKey('quickjs', 'alternate', 1), 'device.quickjs.peak_heap_bytes.alternate_1mb');
});
