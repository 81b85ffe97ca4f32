// Hostile bytes through decodeMessage: every truncation and seeded random corruption of every
// corpus message, in both encodings, must come back as a Result (never a throw), and crafted
// attacks must be refused with the right typed error, quickly and without big allocations.
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeMessage, encodeMessage } from '../../src/codec/index.js';
import { CodecErrorKind, DEVICE_LIMITS } from '../../src/codec/errors.js';

const dir = fileURLToPath(new URL('../fixtures/corpus/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.xml')).sort();
const corpus = files.map((f) => {
  const xml = new Uint8Array(readFileSync(dir + f));
  const d = decodeMessage(xml, DEVICE_LIMITS);
  if (!d.ok) throw new Error(`${f}: ${d.error.message}`);
  const w = encodeMessage(d.value.msg, 'wbxml');
  if (!w.ok) throw new Error(`${f}: ${w.error.message}`);
  return { name: f, xml, wbxml: w.value };
});

const KINDS: CodecErrorKind[] = ['truncated', 'malformed', 'limit', 'unknown-element', 'invalid-value', 'unsupported', 'unencodable'];

/** Decodes and checks the shape of the Result; returns it. Any throw fails the test. */
function probe(b: Uint8Array, where: string) {
  let r;
  try {
    r = decodeMessage(b, DEVICE_LIMITS);
  } catch (e) {
    throw new Error(`${where}: decodeMessage threw ${String(e)}`);
  }
  if (typeof r !== 'object' || r === null || typeof r.ok !== 'boolean') throw new Error(`${where}: not a Result`);
  if (!r.ok) {
    if (!KINDS.includes(r.error.kind)) throw new Error(`${where}: unknown error kind ${r.error.kind}`);
    if (typeof r.error.message !== 'string' || !r.error.message) throw new Error(`${where}: empty message`);
    if (r.error.offset !== undefined && !(r.error.offset >= 0 && r.error.offset <= b.length)) throw new Error(`${where}: offset ${r.error.offset} outside input`);
  }
  return r;
}

/** mulberry32: small seeded PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('corpus is present', (t) => {
  t.true(corpus.length >= 30, `corpus has ${corpus.length} messages`);
});

test('truncation at every byte: WBXML always an error, XML never a throw', (t) => {
  let checked = 0;
  for (const m of corpus) {
    for (let n = 0; n < m.wbxml.length; n++) {
      const r = probe(m.wbxml.subarray(0, n), `${m.name} wbxml[0..${n})`);
      if (r.ok) t.fail(`${m.name}: WBXML prefix of ${n} bytes decoded`);
      checked++;
    }
    // XML: a prefix may only succeed if what was cut is trailing whitespace.
    const text = Buffer.from(m.xml).toString('utf8');
    const significant = Buffer.byteLength(text.trimEnd(), 'utf8');
    for (let n = 0; n < m.xml.length; n++) {
      const r = probe(m.xml.subarray(0, n), `${m.name} xml[0..${n})`);
      if (r.ok && n < significant) t.fail(`${m.name}: XML prefix of ${n} bytes decoded`);
      checked++;
    }
  }
  t.true(checked > 1000);
});

test('seeded random byte flips: only Result values, and what decodes re-encodes', (t) => {
  const rand = rng(0x5c0e0);
  let decoded = 0;
  let total = 0;
  for (const m of corpus) {
    for (const enc of ['xml', 'wbxml'] as const) {
      const src = m[enc];
      for (let k = 0; k < 60; k++) {
        const b = src.slice();
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) {
          const i = Math.floor(rand() * b.length);
          b[i] = rand() < 0.5 ? b[i] ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256);
        }
        const r = probe(b, `${m.name} ${enc} seed-step ${k}`);
        total++;
        if (r.ok) {
          decoded++;
          for (const out of ['xml', 'wbxml'] as const) {
            const e = encodeMessage(r.value.msg, out);
            t.is(typeof e.ok, 'boolean');
          }
        }
      }
    }
  }
  t.true(total >= corpus.length * 120);
  t.log(`${decoded} of ${total} corrupted messages still decoded`);
});

function wb(...parts: (number | string)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else for (const c of Buffer.from(p, 'utf8')) out.push(c);
  }
  return new Uint8Array(out);
}

function errKind(b: Uint8Array | string): CodecErrorKind | 'ok' {
  const r = probe(typeof b === 'string' ? new Uint8Array(Buffer.from(b)) : b, 'crafted');
  return r.ok ? 'ok' : r.error.kind;
}

test('crafted WBXML: huge lengths, out-of-range string table, opaque past the end', (t) => {
  // string table length 0xFFFFFFFF
  t.is(errKind(wb(0x02, 0xa4, 0x01, 0x6a, 0x8f, 0xff, 0xff, 0xff, 0x7f, 0x6d, 0x01)), 'truncated');
  // OPAQUE of 0xFFFFFFFF bytes
  t.is(errKind(wb(0x02, 0xa4, 0x01, 0x6a, 0x00, 0x6d, 0x4f, 0xc3, 0x8f, 0xff, 0xff, 0xff, 0x7f, 0x01, 0x01)), 'limit');
  // OPAQUE a little longer than what remains
  t.is(errKind(wb(0x02, 0xa4, 0x01, 0x6a, 0x00, 0x6d, 0x4f, 0xc3, 0x10, 1, 2, 3, 0x01, 0x01)), 'truncated');
  // STR_T index far beyond the table
  t.is(errKind(wb(0x02, 0xa4, 0x01, 0x6a, 0x02, 'a', 0, 0x6d, 0x4f, 0x83, 0x8f, 0xff, 0xff, 0xff, 0x7f, 0x01, 0x01)), 'malformed');
  // string-table public id index out of range
  t.is(errKind(wb(0x02, 0x00, 0x7f, 0x6a, 0x00, 0x6d, 0x01)), 'malformed');
  // string-table bomb: one 1000-byte entry referenced by 2000 elements (2 MB of text from 9 KB)
  const bomb = [0x02, 0xa4, 0x01, 0x6a, 0x87, 0x69, ...Buffer.from('x'.repeat(1000)), 0x00, 0x6d, 0x6b];
  for (let i = 0; i < 2000; i++) bomb.push(0x4f, 0x83, 0x00, 0x01);
  bomb.push(0x01, 0x01);
  t.is(errKind(new Uint8Array(bomb)), 'limit');
  // mb_u_int32 that never ends
  t.is(errKind(wb(0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), 'malformed');
});

test('crafted deep nesting (10k) in both encodings is a limit error', (t) => {
  const deepWb = [0x02, 0xa4, 0x01, 0x6a, 0x00, 0x6d, 0x6b];
  for (let i = 0; i < 10000; i++) deepWb.push(0x54); // Item with content
  t.is(errKind(new Uint8Array(deepWb)), 'limit');
  const deepXml = '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncBody>' + '<Item>'.repeat(10000) + '</Item>'.repeat(10000) + '</SyncBody></SyncML>';
  t.is(errKind(deepXml), 'limit');
  // Many elements, flat.
  const flat = '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncBody>' + '<Final/>'.repeat(DEVICE_LIMITS.maxElements + 10) + '</SyncBody></SyncML>';
  t.is(errKind(flat), 'limit');
});

test('crafted XML: entity bomb DOCTYPE, external entity, oversized input', (t) => {
  const bomb = `<?xml version="1.0"?>
<!DOCTYPE SyncML [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
]>
<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>&e;&e;&e;&e;</VerDTD></SyncHdr></SyncML>`;
  const k = errKind(bomb);
  t.not(k, 'ok');
  t.true(k === 'unsupported' || k === 'malformed', k);
  const xxe = `<?xml version="1.0"?><!DOCTYPE SyncML [<!ENTITY x SYSTEM "file:///etc/passwd">]><SyncML xmlns="SYNCML:SYNCML1.2">&x;</SyncML>`;
  t.not(errKind(xxe), 'ok');
  const big = new Uint8Array(DEVICE_LIMITS.maxBytes + 1).fill(0x20);
  t.is(errKind(big), 'limit');
});
