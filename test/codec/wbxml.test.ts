import test from 'ava';
import { readWbxml, WbxmlDocument } from '../../src/codec/wbxml-reader.js';
import { writeWbxml } from '../../src/codec/wbxml-writer.js';
import { XElement, XChild, el, NS_SYNCML, NS_METINF, NS_DMDDF } from '../../src/codec/element.js';
import { DEVICE_LIMITS, CodecLimits } from '../../src/codec/errors.js';
import { SYNCML_PAGE_0, METINF_PAGE_1, DMDDF_PAGE_2, TAG_CODES } from '../../src/codec/wbxml-tables.js';

const S = (name: string, ...children: XChild[]): XElement => el(name, NS_SYNCML, children);
const M = (name: string, ...children: XChild[]): XElement => el(name, NS_METINF, children);
const D = (name: string, ...children: XChild[]): XElement => el(name, NS_DMDDF, children);

/** Hex with "quoted" ASCII runs, as the facts file writes vectors. */
function vec(s: string): Uint8Array {
  const out: number[] = [];
  const re = /"([^"]*)"|([0-9A-Fa-f]{2})/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    if (m[1] !== undefined) for (const ch of Buffer.from(m[1], 'utf8')) out.push(ch);
    else out.push(parseInt(m[2], 16));
  }
  return new Uint8Array(out);
}

// facts §3.7: produced by `xml2wbxml -v 1.3 -n` (libwbxml 0.11.8).
const VECTOR_37 = vec(`03 A4 01 6A 00 6D 6C 71 03 "1.2" 00 01 72 03 "DM/1.2" 00 01 65 03 "1" 00 01 5B 03 "1" 00 01
  6E 57 03 "http://srv" 00 01 01 67 57 03 "IMEI:1" 00 01 01 5A 00 01 4C 03 "16384" 00 01 01 01
  00 00 6B 46 4B 03 "1" 00 01 4F 03 "1201" 00 01 01 12 01 01`);

const MSG_37 = S('SyncML',
  S('SyncHdr', S('VerDTD', '1.2'), S('VerProto', 'DM/1.2'), S('SessionID', '1'), S('MsgID', '1'),
    S('Target', S('LocURI', 'http://srv')), S('Source', S('LocURI', 'IMEI:1')),
    S('Meta', M('MaxMsgSize', '16384'))),
  S('SyncBody', S('Alert', S('CmdID', '1'), S('Data', '1201')), S('Final')));

function decodeOk(t: import('ava').ExecutionContext, b: Uint8Array, lim?: CodecLimits): WbxmlDocument {
  const r = readWbxml(b, lim);
  if (r.ok) return r.value;
  t.log(JSON.stringify(r.error));
  throw new Error(r.error.kind + ': ' + r.error.message);
}

function errOf(b: Uint8Array, lim?: CodecLimits) {
  const r = readWbxml(b, lim);
  if (r.ok) throw new Error('expected an error');
  return r.error;
}

test('tables have the spec codes', (t) => {
  t.is(TAG_CODES[0].SyncML, 0x2d);
  t.is(TAG_CODES[0].Correlator, 0x3c);
  t.is(TAG_CODES[0].VerDTD, 0x31);
  t.is(TAG_CODES[0].TargetRef, 0x2f);
  t.is(TAG_CODES[0].MoreData, 0x34);
  t.is(TAG_CODES[0].SourceParent, 0x39);
  t.is(SYNCML_PAGE_0[0x30 - 5], ''); // reserved
  t.is(TAG_CODES[1].MetInf, 0x0e);
  t.is(TAG_CODES[1].NextNonce, 0x10);
  t.is(TAG_CODES[2].MgmtTree, 0x20);
  t.is(TAG_CODES[2].TStamp, 0x34);
  t.is(TAG_CODES[2].Value, 0x36);
  t.is((TAG_CODES[2] as Record<string, unknown>)['constructor'], undefined);
  t.is(TAG_CODES[1].MaxObjSize, 0x15);
  t.is(TAG_CODES[1].FieldLevel, 0x16);
  t.is(TAG_CODES[2].Node, 0x24);
  t.is(TAG_CODES[2].node, 0x25);
  t.is(TAG_CODES[2].ZeroOrOne, 0x3c);
  t.is(SYNCML_PAGE_0.length, 0x3c - 4);
  t.is(METINF_PAGE_1.length, 0x16 - 4);
  t.is(DMDDF_PAGE_2.length, 0x3c - 4);
});

test('writer reproduces the facts §3.7 vector byte for byte (version 1.3)', (t) => {
  const r = writeWbxml(MSG_37, { version: 3 });
  t.true(r.ok);
  if (r.ok) t.deepEqual(Buffer.from(r.value).toString('hex'), Buffer.from(VECTOR_37).toString('hex'));
});

test('default header is 02 A4 01 6A 00 (WBXML 1.2, SyncML 1.2 id, UTF-8, empty table)', (t) => {
  const r = writeWbxml(MSG_37);
  t.true(r.ok);
  if (r.ok) {
    t.deepEqual([...r.value.subarray(0, 5)], [0x02, 0xa4, 0x01, 0x6a, 0x00]);
    t.deepEqual(Buffer.from(r.value.subarray(1)), Buffer.from(VECTOR_37.subarray(1)));
  }
});

test('reader decodes the §3.7 vector to the same tree', (t) => {
  const d = decodeOk(t, VECTOR_37);
  t.is(d.version, 3);
  t.is(d.publicId, 0x1201);
  t.is(d.charset, 106);
  t.deepEqual(d.root, MSG_37);
});

test('header variants: 1.0 without charset, 1.1, 1.2, 1.3 all decode the same body', (t) => {
  for (const v of [0, 1, 2, 3]) {
    const w = writeWbxml(MSG_37, { version: v });
    if (!w.ok) return t.fail();
    if (v === 0) t.deepEqual([...w.value.subarray(0, 4)], [0x00, 0xa4, 0x01, 0x00]);
    const d = decodeOk(t, w.value);
    t.is(d.version, v);
    t.deepEqual(d.root, MSG_37);
  }
});

test('string-table public id: written for MgmtTree, read back as the FPI', (t) => {
  const tree = D('MgmtTree', D('VerDTD', '1.2'), D('Node', D('NodeName', 'a'),
    D('RTProperties', D('Format', D('chr')), D('Type', D('MIME', 'text/plain'))), D('Value', 'x')));
  const w = writeWbxml(tree);
  if (!w.ok) return t.fail();
  // Byte-identical to `xml2wbxml -v 1.2 -n` of the same document (checked by hand with libwbxml 0.11.8).
  const expected = vec(`02 00 00 6a 1b "-//OMA//DTD-DM-DDF 1.2//EN" 00 00 02 60 77 03 "1.2" 00 01 64 66 03 "a" 00 01
    6f 5c 0b 01 75 61 03 "text/plain" 00 01 01 01 76 03 "x" 00 01 01 01`);
  t.is(Buffer.from(w.value).toString('hex'), Buffer.from(expected).toString('hex'));
  const d = decodeOk(t, w.value);
  t.is(d.publicId, '-//OMA//DTD-DM-DDF 1.2//EN');
  t.deepEqual(d.root, tree);
  // SyncML with an explicit textual id and SyncML 1.1 / 1.0 numeric ids are accepted too.
  for (const id of ['-//SYNCML//DTD SyncML 1.2//EN', 0x0fd3, 0x0fd1]) {
    const w2 = writeWbxml(MSG_37, { publicId: id });
    if (!w2.ok) return t.fail();
    const d2 = decodeOk(t, w2.value);
    t.is(d2.publicId, id);
    t.deepEqual(d2.root, MSG_37);
  }
});

test('unknown public id and charset are unsupported', (t) => {
  t.is(errOf(vec('02 9C 21 6A 00 6D 01')).kind, 'unsupported'); // 0x0E21
  const e = errOf(vec('02 A4 01 04 00 6D 01'));
  t.is(e.kind, 'unsupported');
  t.is(e.offset, 3);
  t.is(errOf(vec('04 A4 01 6A 00 6D 01')).kind, 'unsupported');
  // US-ASCII (3) and "unknown" (0) are read as UTF-8.
  t.is(decodeOk(t, vec('02 A4 01 03 00 2D')).charset, 3);
  t.is(decodeOk(t, vec('02 A4 01 00 00 2D')).charset, 0);
});

test('mb_u_int32 edge cases', (t) => {
  // Public id 0x1201 written with redundant leading 0x80 groups is still 0x1201.
  t.is(decodeOk(t, vec('02 80 A4 01 6A 00 2D')).publicId, 0x1201);
  // 5 bytes with value > 2^32-1: overflow.
  let e = errOf(vec('02 A4 01 6A 00 6D 4F C3 9F FF FF FF 7F'));
  t.is(e.kind, 'malformed');
  t.is(e.offset, 8);
  // 6 continuation bytes: too long.
  e = errOf(vec('02 A4 01 6A 00 6D 4F C3 80 80 80 80 80 01'));
  t.is(e.kind, 'malformed');
  // Ends inside the integer.
  e = errOf(vec('02 A4'));
  t.is(e.kind, 'truncated');
  t.is(e.offset, 1);
  // Largest 32-bit value is read, then rejected as a length bigger than the input.
  e = errOf(vec('02 A4 01 6A 00 6D 4F C3 8F FF FF FF 7F'), { ...DEVICE_LIMITS, maxOpaqueBytes: 0xffffffff });
  t.is(e.kind, 'truncated');
  // Writer: multi-byte values encode big-endian with continuation bits.
  const big = new Uint8Array(200);
  const w = writeWbxml(S('SyncML', S('Data', big)));
  if (!w.ok) return t.fail();
  t.deepEqual([...w.value.subarray(7, 10)], [0xc3, 0x81, 0x48]);
  t.deepEqual(decodeOk(t, w.value).root, S('SyncML', S('Data', big)));
});

test('OPAQUE becomes bytes; adjacent opaque pieces merge', (t) => {
  const d = decodeOk(t, vec('02 A4 01 6A 00 6D 4F C3 03 00 FF 01 C3 01 41 01 01'));
  t.deepEqual(d.root, S('SyncML', S('Data', new Uint8Array([0, 0xff, 1, 0x41]))));
  // Nested WBXML inside Data stays bytes for the caller to decode.
  const inner = writeWbxml(MSG_37);
  if (!inner.ok) return t.fail();
  const outer = writeWbxml(S('SyncML', S('Data', inner.value)));
  if (!outer.ok) return t.fail();
  const back = decodeOk(t, outer.value).root.children[0] as XElement;
  t.deepEqual(decodeOk(t, back.children[0] as Uint8Array).root, MSG_37);
});

test('STR_T, ENTITY and STR_I pieces merge into one text', (t) => {
  // strtbl "abc\0x\0"; Data = STR_T 0 + ENTITY 0x20AC + STR_I "é" + STR_T 4 + ENTITY U+1F600
  const d = decodeOk(t, vec('02 A4 01 6A 06 "abc" 00 "x" 00 6D 4F 83 00 02 C1 2C 03 C3 A9 00 83 04 02 87 EC 00 01 01'));
  t.deepEqual(d.root, S('SyncML', S('Data', 'abc€éx😀')));
  t.is(errOf(vec('02 A4 01 6A 02 "a" 00 6D 4F 83 02 01 01')).kind, 'malformed'); // index out of range
  t.is(errOf(vec('02 A4 01 6A 02 "ab" 6D 4F 83 00 01 01')).kind, 'truncated'); // no NUL in table
  t.is(errOf(vec('02 A4 01 6A 00 6D 4F 02 83 B0 00 01 01')).kind, 'malformed'); // surrogate entity
});

test('string table on write: repeated strings use STR_T and read back the same', (t) => {
  const uri = './SCOMO/Inventory/Delivered/App1/Data';
  const msg = S('SyncML', S('SyncBody', S('Get', S('CmdID', '1'), S('Item', S('Target', S('LocURI', uri)))),
    S('Get', S('CmdID', '2'), S('Item', S('Target', S('LocURI', uri)))), S('Final')));
  const plain = writeWbxml(msg);
  const tbl = writeWbxml(msg, { stringTable: true });
  if (!plain.ok || !tbl.ok) return t.fail();
  t.true(tbl.value.length < plain.value.length);
  t.true(Buffer.from(tbl.value).includes(Buffer.from([0x83, 0x00])));
  t.deepEqual(decodeOk(t, tbl.value).root, msg);
});

test('UTF-8 including 4-byte characters round-trips; invalid UTF-8 is malformed with offset', (t) => {
  const msg = S('SyncML', S('Data', 'Grüße 𝄞 €, 日本'));
  const w = writeWbxml(msg);
  if (!w.ok) return t.fail();
  t.deepEqual(decodeOk(t, w.value).root, msg);
  const e = errOf(vec('02 A4 01 6A 00 6D 4F 03 41 FF 00 01 01'));
  t.is(e.kind, 'malformed');
  t.is(e.offset, 9);
});

test('writer refuses what WBXML cannot carry', (t) => {
  let r = writeWbxml(S('SyncML', S('Data', 'a\u0000b')));
  t.false(r.ok);
  if (!r.ok) t.is(r.error.kind, 'unencodable');
  r = writeWbxml(S('SyncML', S('Bogus')));
  t.false(r.ok);
  r = writeWbxml(S('SyncML', el('x', 'urn:other', [])));
  t.false(r.ok);
  if (!r.ok) t.regex(r.error.message, /namespace/);
});

test('structural errors carry offsets', (t) => {
  let e = errOf(vec('02 A4 01 6A 00 6D 7F 01 01'));
  t.is(e.kind, 'unknown-element');
  t.is(e.offset, 6);
  e = errOf(vec('02 A4 01 6A 00 6D 00 07 45 01'));
  t.is(e.kind, 'unknown-element');
  e = errOf(vec('02 A4 01 6A 00 ED 01'));
  t.is(e.kind, 'unsupported'); // attributes
  e = errOf(vec('02 A4 01 6A 00 6D 04 00 01'));
  t.is(e.kind, 'unsupported'); // LITERAL
  e = errOf(vec('02 A4 01 6A 00 6D 6C'));
  t.is(e.kind, 'truncated');
  e = errOf(vec('02 A4 01 6A 00 6D 01 01'));
  t.is(e.kind, 'malformed');
  t.is(e.offset, 7);
  e = errOf(vec('02 A4 01 6A 00 03 "x" 00'));
  t.is(e.kind, 'malformed');
  e = errOf(vec('02 A4 01 6A 00'));
  t.is(e.kind, 'truncated');
  t.is(errOf(new Uint8Array(0)).kind, 'truncated');
  // An empty root is a complete document; anything after it is not.
  t.deepEqual(decodeOk(t, vec('02 A4 01 6A 00 2D')).root, S('SyncML'));
  t.is(errOf(vec('02 A4 01 6A 00 2D 2D')).kind, 'malformed');
});

test('limits: depth, elements, string, opaque, total size', (t) => {
  const deep = [0x02, 0xa4, 0x01, 0x6a, 0x00];
  for (let i = 0; i < 10000; i++) deep.push(0x74); // Item with content, 10k deep
  let e = errOf(new Uint8Array(deep));
  t.is(e.kind, 'limit');
  t.is(e.offset, 5 + DEVICE_LIMITS.maxDepth);
  const many = [0x02, 0xa4, 0x01, 0x6a, 0x00, 0x6d];
  for (let i = 0; i < 50; i++) many.push(0x12);
  many.push(0x01);
  e = errOf(new Uint8Array(many), { ...DEVICE_LIMITS, maxElements: 10 });
  t.is(e.kind, 'limit');
  t.regex(e.message, /elements/);
  const w = writeWbxml(S('SyncML', S('Data', 'x'.repeat(100)), S('Data', new Uint8Array(100))));
  if (!w.ok) return t.fail();
  t.is(errOf(w.value, { ...DEVICE_LIMITS, maxStringBytes: 99 }).kind, 'limit');
  t.is(errOf(w.value, { ...DEVICE_LIMITS, maxOpaqueBytes: 99 }).kind, 'limit');
  t.is(errOf(w.value, { ...DEVICE_LIMITS, maxBytes: w.value.length - 1 }).kind, 'limit');
  t.true(readWbxml(w.value, { ...DEVICE_LIMITS, maxStringBytes: 100, maxOpaqueBytes: 100, maxBytes: w.value.length }).ok);
  // Merged text pieces count together.
  e = errOf(vec('02 A4 01 6A 00 6D 4F 03 "abc" 00 03 "def" 00 01 01'), { ...DEVICE_LIMITS, maxStringBytes: 5 });
  t.is(e.kind, 'limit');
  // Huge declared lengths are refused before any allocation.
  e = errOf(vec('02 A4 01 6A 8F FF FF FF 7F'));
  t.is(e.kind, 'truncated');
  e = errOf(vec('02 A4 01 6A 00 6D 4F C3 8F FF FF FF 7F'));
  t.is(e.kind, 'limit');
});

test('a long string-table entry referenced from many elements cannot amplify the text', (t) => {
  const entry = 'x'.repeat(1000);
  const parts = [0x02, 0xa4, 0x01, 0x6a, 0x87, 0x69, ...Buffer.from(entry), 0x00, 0x6d]; // table of 1001 bytes
  for (let i = 0; i < 2000; i++) parts.push(0x4f, 0x83, 0x00, 0x01); // <Data>STR_T 0</Data>
  parts.push(0x01);
  const b = new Uint8Array(parts);
  const e = errOf(b, { ...DEVICE_LIMITS, maxBytes: 100000 });
  t.is(e.kind, 'limit');
  t.regex(e.message, /string-table/);
  // The same document is fine when the expansion stays within maxBytes.
  t.true(readWbxml(b, { ...DEVICE_LIMITS, maxBytes: 3000000 }).ok);
});

test('writer walks deep trees without recursion', (t) => {
  let e: XElement = S('Data', 'x');
  for (let i = 0; i < 20000; i++) e = S('Item', e);
  const w = writeWbxml(S('SyncML', e));
  t.true(w.ok);
  if (w.ok) t.is(errOf(w.value).kind, 'limit');
});
