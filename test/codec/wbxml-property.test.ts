import test from 'ava';
import fc from 'fast-check';
import { arbSyncML } from './model-arbitrary.js';
import { encodeMessage, decodeMessage } from '../../src/codec/index.js';
import { messageToElement } from '../../src/codec/message-map.js';
import { writeWbxml } from '../../src/codec/wbxml-writer.js';
import { readWbxml } from '../../src/codec/wbxml-reader.js';

test('random model -> WBXML -> model is the identity (binary Data included)', (t) => {
  fc.assert(fc.property(arbSyncML({ binary: true }), (m) => {
    const bytes = encodeMessage(m, 'wbxml');
    if (!bytes.ok) return false;
    const back = decodeMessage(bytes.value);
    t.deepEqual(back, { ok: true, value: { msg: m, encoding: 'wbxml' } });
    return back.ok;
  }), { numRuns: 300 });
});

test('every header variant and the string table decode to the same model', (t) => {
  fc.assert(fc.property(arbSyncML({ binary: true }), fc.integer({ min: 0, max: 3 }), fc.boolean(),
    fc.constantFrom<number | string>(0x1201, 0x0fd3, '-//SYNCML//DTD SyncML 1.2//EN'), (m, version, stringTable, publicId) => {
      const bytes = encodeMessage(m, 'wbxml', { wbxmlVersion: version, stringTable, publicId });
      if (!bytes.ok) return false;
      t.is(bytes.value[0], version);
      const back = decodeMessage(bytes.value);
      t.deepEqual(back, { ok: true, value: { msg: m, encoding: 'wbxml' } });
      return back.ok;
    }), { numRuns: 200 });
});

test('XML <-> WBXML: a model survives XML -> model -> WBXML -> model -> XML byte-identically', (t) => {
  fc.assert(fc.property(arbSyncML(), (m) => {
    const x1 = encodeMessage(m, 'xml');
    if (!x1.ok) return false;
    const d1 = decodeMessage(x1.value);
    if (!d1.ok) return false;
    const w = encodeMessage(d1.value.msg, 'wbxml');
    if (!w.ok) return false;
    const d2 = decodeMessage(w.value);
    if (!d2.ok) return false;
    t.deepEqual(d2.value.msg, m);
    const x2 = encodeMessage(d2.value.msg, 'xml');
    if (!x2.ok) return false;
    t.deepEqual(Buffer.from(x2.value), Buffer.from(x1.value));
    return true;
  }), { numRuns: 200 });
});

test('WBXML writing is deterministic and the element tree survives exactly', (t) => {
  fc.assert(fc.property(arbSyncML({ binary: true }), (m) => {
    const e = messageToElement(m);
    if (!e.ok) return false;
    const a = writeWbxml(e.value);
    if (!a.ok) return false;
    const r = readWbxml(a.value);
    if (!r.ok) return false;
    const b = writeWbxml(r.value.root);
    t.true(b.ok && Buffer.from(b.value).equals(Buffer.from(a.value)));
    return b.ok;
  }), { numRuns: 150 });
});

test('random bytes after a valid header never throw', (t) => {
  let errors = 0;
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
    const b = new Uint8Array(5 + tail.length);
    b.set([0x02, 0xa4, 0x01, 0x6a, 0x00]);
    b.set(tail, 5);
    const r = readWbxml(b);
    if (!r.ok) errors++;
    return typeof r.ok === 'boolean';
  }), { numRuns: 2000 });
  t.true(errors > 0);
});
