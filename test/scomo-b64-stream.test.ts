import test from 'ava';
import { createB64Stream } from '../src/scomo/b64-stream.js';
import { base64Decode, base64Encode } from '../src/codec/base64.js';

// The decoder before it streamed from bytes: strings per chunk, then base64Decode. The new one
// must answer exactly as it did, chunk by chunk.
function reference() {
  let carry = '';
  return {
    push(text: Uint8Array): Uint8Array | null {
      let s = carry;
      for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (c === 32 || c === 9 || c === 10 || c === 13) continue;
        s += String.fromCharCode(c);
      }
      const whole = s.length - (s.length % 4);
      carry = s.substring(whole);
      if (whole === 0) return new Uint8Array(0);
      return base64Decode(s.substring(0, whole));
    },
    end(): boolean { return carry.length === 0; },
  };
}

let seed = 12345;
function rnd(n: number): number {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return (seed >>> 0) % n;
}
const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

function split(text: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < text.length;) {
    const n = Math.min(text.length - at, rnd(9));
    parts.push(text.subarray(at, at + n));
    at += n;
  }
  return parts;
}

function same(t: import('ava').ExecutionContext, chunks: Uint8Array[]): Uint8Array | null {
  const a = createB64Stream();
  const b = reference();
  const got: number[] = [];
  for (const c of chunks) {
    const x = a.push(c);
    const y = b.push(c);
    t.deepEqual(x === null ? null : Array.from(x), y === null ? null : Array.from(y));
    if (x === null || y === null) return null;
    got.push(...x);
  }
  t.is(a.end(), b.end());
  return Uint8Array.from(got);
}

test('decodes a package split at arbitrary points, with line breaks', (t) => {
  for (let round = 0; round < 40; round++) {
    const bytes = Uint8Array.from({ length: rnd(200) }, () => rnd(256));
    let text = base64Encode(bytes);
    if (round % 2) text = text.replace(/(.{76})/g, '$1\r\n');
    const out = same(t, split(ascii(text)));
    t.deepEqual(out, bytes);
  }
});

test('answers as the string decoder did on bad input', (t) => {
  const alphabet = 'AZaz09+/=  \n!-';
  for (let round = 0; round < 400; round++) {
    const s = Array.from({ length: rnd(14) }, () => alphabet[rnd(alphabet.length)]).join('');
    same(t, split(ascii(s)));
  }
  t.is(createB64Stream().push(ascii('AB!D')), null);
  const s = createB64Stream();
  t.deepEqual(Array.from(s.push(ascii('QUJD'))!), [65, 66, 67]);
  t.deepEqual(Array.from(s.push(ascii('RA'))!), []);
  t.false(s.end());
  t.deepEqual(Array.from(s.push(ascii('=='))!), [68]);
  t.true(s.end());
});
