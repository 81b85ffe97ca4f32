// Hostile XML: truncation at every byte, random corruption, bombs and oversize input must give
// typed errors (or, for harmless damage, a valid message) and never throw, hang or blow up.
import test from 'ava';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeMessage, DEVICE_LIMITS, SERVER_LIMITS, CodecLimits, Result } from '../../src/codec/index.js';
import { readXml } from '../../src/codec/xml-reader.js';
import { utf8Encode } from '../../src/codec/utf8.js';

const dir = fileURLToPath(new URL('../fixtures/corpus/', import.meta.url));
const corpus = readdirSync(dir).filter((f) => f.endsWith('.xml')).sort().map((f) => ({ f, b: new Uint8Array(readFileSync(dir + f)) }));
const KINDS = ['truncated', 'malformed', 'limit', 'unknown-element', 'invalid-value', 'unsupported'];

/** A well-formed failure: known kind, a message, and a position inside the input when given. */
function typed(t: { true(v: boolean, m?: string): void }, r: Result<unknown>, len: number, what: string): void {
  if (r.ok) return;
  const e = r.error;
  t.true(KINDS.includes(e.kind) && e.message.length > 0, `${what}: ${e.kind} ${e.message}`);
  if (e.offset !== undefined) t.true(e.offset >= 0 && e.offset <= len, `${what}: offset ${e.offset} of ${len}`);
}

test('truncation at every byte of every corpus message gives a typed error', (t) => {
  let failures = 0;
  for (const { f, b } of corpus) {
    const end = lastIndexOfGt(b);
    for (let n = 0; n < b.length; n++) {
      const r = decodeMessage(b.subarray(0, n));
      if (n <= end) {
        if (r.ok) { failures++; t.fail(`${f} cut at ${n} decoded`); continue; }
        if (r.error.kind !== 'truncated' && r.error.kind !== 'malformed' && r.error.kind !== 'invalid-value') failures++;
        if (r.error.offset !== undefined && r.error.offset > n) failures++;
      } else t.true(r.ok, `${f} cut after the root at ${n}`);
    }
  }
  t.is(failures, 0);
});

function lastIndexOfGt(b: Uint8Array): number {
  for (let i = b.length - 1; i >= 0; i--) if (b[i] === 0x3e) return i;
  return -1;
}

test('random byte flips, insertions and deletions never throw', (t) => {
  fc.assert(fc.property(
    fc.nat({ max: corpus.length - 1 }),
    fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'delete')), { minLength: 1, maxLength: 8 }),
    (k, edits) => {
      const bytes = Array.from(corpus[k].b);
      for (const [pos, v, op] of edits) {
        const i = Math.min(bytes.length - 1, Math.floor(pos * bytes.length));
        if (op === 'flip') bytes[i] = v; else if (op === 'insert') bytes.splice(i, 0, v); else bytes.splice(i, 1);
      }
      const b = new Uint8Array(bytes);
      let r: Result<unknown>;
      try { r = decodeMessage(b); } catch (e) { t.fail(`threw ${String(e)}`); return false; }
      typed(t, r, b.length, corpus[k].f);
      return true;
    },
  ), { numRuns: 2000 });
});

test('random markup soup never throws', (t) => {
  const tok = fc.constantFrom('<', '>', '/', '</', '<!--', '-->', '<![CDATA[', ']]>', '<!DOCTYPE', '[', ']', '&', ';', '&#', 'x', '"', "'", '=', ' ', '\n', 'a', ':', 'xmlns', 'SyncML', '?', '<?', '?>', '\u00e9', '\ud83d\ude00');
  fc.assert(fc.property(fc.array(tok, { maxLength: 60 }), (parts) => {
    const s = parts.join('');
    let r: Result<unknown>;
    try { r = readXml(s); } catch (e) { t.fail(`threw on ${JSON.stringify(s)}`); return false; }
    typed(t, r, utf8Encode(s).length, s);
    return true;
  }), { numRuns: 3000 });
});

test('billion laughs and external entities are refused before any expansion', (t) => {
  const laughs = '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' +
    Array.from({ length: 9 }, (_, i) => ` <!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('\n') + '\n]>\n<lolz>&lol9;</lolz>';
  const r = readXml(laughs);
  t.is(!r.ok && r.error.kind, 'unsupported');
  t.is(!r.ok && r.error.line, 2);
  const ext = readXml('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>');
  t.is(!ext.ok && ext.error.kind, 'unsupported');
  // Without a DTD, an entity reference is just an error.
  const undeclared = readXml('<x>&lol9;</x>');
  t.is(!undeclared.ok && undeclared.error.kind, 'malformed');
});

test('deep nesting, many elements and oversize input hit limits, not the stack', (t) => {
  const deep = '<SyncML xmlns="SYNCML:SYNCML1.2">' + '<Atomic>'.repeat(5000);
  const r = decodeMessage(utf8Encode(deep));
  t.is(!r.ok && r.error.kind, 'limit');
  const wide = '<a>' + '<b/>'.repeat(DEVICE_LIMITS.maxElements + 1) + '</a>';
  const w = readXml(wide);
  t.is(!w.ok && w.error.kind, 'limit');
  const big = new Uint8Array(DEVICE_LIMITS.maxBytes + 1).fill(0x20);
  const b = decodeMessage(big);
  t.is(!b.ok && b.error.kind, 'limit');
  // Atomic nested to just under the depth limit still maps (mapping recursion is bounded by it).
  const lim: CodecLimits = { ...DEVICE_LIMITS, maxDepth: 32 };
  let body = '';
  for (let i = 0; i < 28; i++) body += `<Atomic><CmdID>${i}</CmdID>`;
  body += '</Atomic>'.repeat(28);
  const ok = decodeMessage(utf8Encode(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>a</LocURI></Target><Source><LocURI>b</LocURI></Source></SyncHdr><SyncBody>${body}</SyncBody></SyncML>`), lim);
  t.true(ok.ok);
});

test('huge attributes, names, text and attribute counts are bounded', (t) => {
  const small: CodecLimits = { ...SERVER_LIMITS, maxStringBytes: 1000 };
  const attr = readXml(`<a b="${'x'.repeat(5000)}"/>`, small);
  t.is(!attr.ok && attr.error.kind, 'limit');
  const attrRefs = readXml(`<a b="${'&amp;'.repeat(5000)}"/>`, small);
  t.is(!attrRefs.ok && attrRefs.error.kind, 'limit');
  const name = readXml(`<${'n'.repeat(300)}/>`);
  t.is(!name.ok && name.error.kind, 'limit');
  const many = readXml(`<a ${Array.from({ length: 100 }, (_, i) => `a${i}="1"`).join(' ')}/>`);
  t.is(!many.ok && many.error.kind, 'limit');
  const text = readXml(`<a>${'&#x1F600;'.repeat(2000)}</a>`, small);
  t.is(!text.ok && text.error.kind, 'limit');
  const unclosed = readXml('<a><!--' + '-'.repeat(100000));
  t.is(!unclosed.ok && unclosed.error.kind, 'truncated');
});

test('namespace declarations in scope are bounded; closed scopes free their budget', (t) => {
  const decl = (k: number, from = 0) => Array.from({ length: k }, (_, i) => `xmlns:p${from + i}="urn:${from + i}"`).join(' ');
  const tooMany = readXml(`<a ${decl(20)}><b ${decl(20, 20)}/></a>`);
  t.is(!tooMany.ok && tooMany.error.kind, 'limit');
  const sequential = readXml(`<a ${decl(16)}>${`<b ${decl(16, 16)}><p20:c/></b>`.repeat(50)}</a>`);
  t.true(sequential.ok);
  t.is(sequential.ok && (sequential.value.children[0] as { children: { ns: string }[] }).children[0].ns, 'urn:20');
});
