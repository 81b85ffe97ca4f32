import test from 'ava';
import fc from 'fast-check';
import { arbSyncML } from './model-arbitrary.js';
import { encodeMessage, decodeMessage } from '../../src/codec/index.js';
import { messageToElement, elementToMessage } from '../../src/codec/message-map.js';
import { writeXml } from '../../src/codec/xml-writer.js';
import { readXml } from '../../src/codec/xml-reader.js';

test('random model -> element tree -> model is the identity', (t) => {
  fc.assert(fc.property(arbSyncML({ binary: true }), (m) => {
    const e = messageToElement(m);
    if (!e.ok) return false;
    const back = elementToMessage(e.value);
    t.deepEqual(back, { ok: true, value: m });
    return back.ok;
  }), { numRuns: 300 });
});

test('random model -> XML -> model is the identity', (t) => {
  fc.assert(fc.property(arbSyncML(), (m) => {
    const bytes = encodeMessage(m, 'xml');
    if (!bytes.ok) return false;
    const back = decodeMessage(bytes.value);
    t.deepEqual(back, { ok: true, value: { msg: m, encoding: 'xml' } });
    return back.ok;
  }), { numRuns: 300 });
});

test('random model -> indented XML with DOCTYPE -> model is the identity', (t) => {
  fc.assert(fc.property(arbSyncML(), (m) => {
    const bytes = encodeMessage(m, 'xml', { indent: true, doctype: true });
    if (!bytes.ok) return false;
    const back = decodeMessage(bytes.value);
    t.deepEqual(back, { ok: true, value: { msg: m, encoding: 'xml' } });
    return back.ok;
  }), { numRuns: 150 });
});

test('XML writing is deterministic and re-reading gives the same tree', (t) => {
  fc.assert(fc.property(arbSyncML(), (m) => {
    const e = messageToElement(m);
    if (!e.ok) return false;
    const a = writeXml(e.value);
    const r = a.ok ? readXml(a.value) : a;
    t.deepEqual(r, { ok: true, value: e.value });
    return r.ok;
  }), { numRuns: 150 });
});
