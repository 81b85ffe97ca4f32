// The codec runs unchanged inside QuickJS (quickjs-emscripten): the corpus is decoded and
// re-encoded in both encodings by the same entry file inside QuickJS and in Node, and the
// results (model, XML bytes, WBXML bytes, errors) must be identical.
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleForQuickJS, loadInQuickJS, QuickJSRun } from '../helpers/quickjs.js';
import { decodeMessage, encodeMessage } from '../../src/codec/index.js';
// Importing the entry in Node sets the same globals there.
import '../fixtures/qjs-codec-entry.js';

const dir = fileURLToPath(new URL('../fixtures/corpus/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.xml')).sort();
const g = globalThis as unknown as Record<string, (arg: unknown) => unknown>;

let qjs: QuickJSRun;
test.before(async () => {
  qjs = await loadInQuickJS(await bundleForQuickJS('test/fixtures/qjs-codec-entry.ts'));
});
test.after.always(() => qjs?.dispose());

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

test('corpus decodes and re-encodes identically in QuickJS and Node, both encodings', (t) => {
  t.true(files.length >= 30, `corpus has ${files.length} messages`);
  for (const f of files) {
    const xml = readFileSync(dir + f);
    const d = decodeMessage(xml);
    if (!d.ok) return t.fail(`${f}: ${d.error.message}`);
    const wb = encodeMessage(d.value.msg, 'wbxml');
    if (!wb.ok) return t.fail(`${f}: ${wb.error.message}`);
    for (const [enc, bytes] of [['xml', xml], ['wbxml', wb.value]] as const) {
      const arg = { b64: b64(bytes) };
      const inQjs = qjs.call('codecRoundTrip', arg) as { ok: boolean; encoding: string };
      const inNode = JSON.parse(JSON.stringify(g.codecRoundTrip(arg)));
      t.true(inQjs.ok, `${f} ${enc} in QuickJS`);
      t.is(inQjs.encoding, enc);
      t.deepEqual(inQjs, inNode, `${f} ${enc}`);
    }
  }
});

test('hostile input is a typed error inside QuickJS too (no stack overflow at 256 KiB)', (t) => {
  const deepWb = [0x02, 0xa4, 0x01, 0x6a, 0x00, 0x6d, 0x6b];
  for (let i = 0; i < 10000; i++) deepWb.push(0x54);
  t.is(qjs.call('codecDecodeKind', { b64: b64(new Uint8Array(deepWb)) }), 'limit');
  const deepXml = '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncBody>' + '<Item>'.repeat(10000) + '</Item>'.repeat(10000) + '</SyncBody></SyncML>';
  t.is(qjs.call('codecDecodeKind', { b64: b64(Buffer.from(deepXml)) }), 'limit');
  const first = readFileSync(dir + files[0]);
  for (const n of [0, 1, 5, Math.floor(first.length / 2), first.length - 2]) {
    const kind = qjs.call('codecDecodeKind', { b64: b64(first.subarray(0, n)) });
    t.is(kind, g.codecDecodeKind({ b64: b64(first.subarray(0, n)) }));
    t.not(kind, 'ok');
  }
});
