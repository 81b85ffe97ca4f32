import test from 'ava';
import { decodeMessage, encodeMessage, detectEncoding, contentTypeFor, encodingFromContentType, SyncML } from '../../src/codec/index.js';
import { utf8Decode, utf8Encode } from '../../src/codec/utf8.js';

const m: SyncML = {
  hdr: { verDTD: '1.2', verProto: 'DM/1.2', sessionID: '1', msgID: '1', target: { locURI: 'http://srv' }, source: { locURI: 'IMEI:1' }, meta: { maxMsgSize: '16384' } },
  body: { commands: [{ kind: 'Alert', cmdID: '1', code: 1201, items: [] }], final: true },
};

test('detectEncoding: WBXML version byte 0..3, anything else is XML', (t) => {
  for (const b of [0, 1, 2, 3]) t.is(detectEncoding(new Uint8Array([b, 0xa4])), 'wbxml');
  t.is(detectEncoding(utf8Encode('<SyncML/>')), 'xml');
  t.is(detectEncoding(new Uint8Array([0xef, 0xbb, 0xbf, 0x3c])), 'xml');
  t.is(detectEncoding(utf8Encode(' \n<a/>')), 'xml');
  t.is(detectEncoding(new Uint8Array(0)), 'xml');
});

test('content types of both families map to encodings; parameters are ignored', (t) => {
  t.is(contentTypeFor('xml'), 'application/vnd.syncml.dm+xml');
  t.is(contentTypeFor('wbxml'), 'application/vnd.syncml.dm+wbxml');
  t.is(contentTypeFor('xml', 'syncml'), 'application/vnd.syncml+xml');
  t.is(contentTypeFor('wbxml', 'syncml'), 'application/vnd.syncml+wbxml');
  t.is(encodingFromContentType('application/vnd.syncml.dm+xml; charset=UTF-8'), 'xml');
  t.is(encodingFromContentType('Application/VND.SyncML.DM+WBXML'), 'wbxml');
  t.is(encodingFromContentType('application/vnd.syncml+wbxml;charset=utf-8'), 'wbxml');
  t.is(encodingFromContentType(' application/vnd.syncml+xml '), 'xml');
  t.is(encodingFromContentType('text/xml'), undefined);
  t.is(encodingFromContentType('application/vnd.syncml.notification'), undefined);
});

test('encodeMessage XML: declaration on, DOCTYPE off by default; both optional', (t) => {
  const x = encodeMessage(m, 'xml');
  const s = x.ok ? utf8Decode(x.value) : '';
  t.true(s.startsWith('<?xml version="1.0" encoding="UTF-8"?><SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD>'), s);
  const d = encodeMessage(m, 'xml', { doctype: true, declaration: false });
  t.true(d.ok && utf8Decode(d.value).startsWith('<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/OMA-TS-DM_1.2-DTD.dtd"><SyncML'));
});

test('decodeMessage picks the decoder and reports the encoding; both encodings give the same model', (t) => {
  const x = encodeMessage(m, 'xml');
  const w = encodeMessage(m, 'wbxml');
  if (!x.ok || !w.ok) return t.fail();
  t.deepEqual(decodeMessage(x.value), { ok: true, value: { msg: m, encoding: 'xml' } });
  t.deepEqual(decodeMessage(w.value), { ok: true, value: { msg: m, encoding: 'wbxml' } });
  // The worked example of facts §3.7 (what xml2wbxml writes for this message).
  t.deepEqual(Array.from(w.value.subarray(0, 5)), [0x02, 0xa4, 0x01, 0x6a, 0x00]);
});

test('decodeMessage errors are typed: empty, non-SyncML XML, wrong root', (t) => {
  const e = decodeMessage(new Uint8Array(0));
  t.is(!e.ok && e.error.kind, 'truncated');
  const h = decodeMessage(utf8Encode('<html><body/></html>'));
  t.is(!h.ok && h.error.kind, 'unknown-element');
  const j = decodeMessage(utf8Encode('{"json": true}'));
  t.is(!j.ok && j.error.kind, 'malformed');
});
