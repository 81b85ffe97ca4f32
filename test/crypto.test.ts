import test from 'ava';
import fc from 'fast-check';
import { createHash, createHmac } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { md5, md5Init, md5Update, md5Final } from '../src/crypto/md5.js';
import { sha256, sha256Init, sha256Update, sha256Final } from '../src/crypto/sha256.js';
import { sha1, sha1Init, sha1Update, sha1Final } from '../src/crypto/sha1.js';
import { hmacMd5, hmacSha256, hmacSha1 } from '../src/crypto/hmac.js';
import { crc32, crc32Update } from '../src/crypto/crc32.js';
import { toHex, fromHex } from '../src/crypto/hex.js';
import { createMd5, createSha256, setCryptoProvider } from '../src/crypto/provider.js';

const LENGTHS = [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100000];

function pseudoRandom(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 255; }
  return b;
}

const node = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest('hex');

test('md5, sha256, sha1 match node:crypto at block-edge lengths', (t) => {
  for (const n of LENGTHS) {
    const b = pseudoRandom(n, n + 7);
    t.is(toHex(md5(b)), node('md5', b), `md5 len ${n}`);
    t.is(toHex(sha256(b)), node('sha256', b), `sha256 len ${n}`);
    t.is(toHex(sha1(b)), node('sha1', b), `sha1 len ${n}`);
  }
});

test('known answers (RFC 1321, FIPS 180)', (t) => {
  const abc = new Uint8Array([97, 98, 99]);
  t.is(toHex(md5(new Uint8Array(0))), 'd41d8cd98f00b204e9800998ecf8427e');
  t.is(toHex(md5(abc)), '900150983cd24fb0d6963f7d28e17f72');
  t.is(toHex(sha256(abc)), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  t.is(toHex(sha1(abc)), 'a9993e364706816aba3e25717850c26c9cd0d89d');
});

test('crc32 matches zlib, and incremental equals one-shot', (t) => {
  for (const n of LENGTHS) {
    const b = pseudoRandom(n, n + 3);
    t.is(crc32(b), zlibCrc32(b), `len ${n}`);
  }
  t.is(crc32(new Uint8Array([49, 50, 51, 52, 53, 54, 55, 56, 57])), 0xcbf43926); // "123456789" check value
  const b = pseudoRandom(1000, 9);
  t.is(crc32Update(crc32Update(0, b.subarray(0, 333)), b.subarray(333)), crc32(b));
  t.is(crc32Update(crc32Update(0, b, 0, 500), b, 500, 1000), crc32(b));
});

test('streaming over random chunkings equals one-shot and node:crypto', (t) => {
  fc.assert(fc.property(
    fc.uint8Array({ maxLength: 700 }),
    fc.array(fc.integer({ min: 0, max: 700 }), { maxLength: 12 }),
    (data, cuts) => {
      const points = [0, ...cuts.map((c) => c % (data.length + 1)).sort((a, b) => a - b), data.length];
      const m = md5Init(), s = sha256Init(), s1 = sha1Init();
      let c = 0;
      for (let i = 1; i < points.length; i++) {
        const part = data.subarray(points[i - 1], points[i]);
        md5Update(m, part); sha256Update(s, part); sha1Update(s1, part);
        c = crc32Update(c, part);
      }
      t.is(toHex(md5Final(m)), node('md5', data));
      t.is(toHex(sha256Final(s)), node('sha256', data));
      t.is(toHex(sha1Final(s1)), node('sha1', data));
      t.is(c, zlibCrc32(data));
    },
  ), { numRuns: 200 });
});

test('update with start/end hashes only that range', (t) => {
  const b = pseudoRandom(300, 5);
  const m = md5Init(); md5Update(m, b, 10, 200);
  t.is(toHex(md5Final(m)), node('md5', b.subarray(10, 200)));
  const s = sha256Init(); sha256Update(s, b, 70, 71); sha256Update(s, b, 71, 300);
  t.is(toHex(sha256Final(s)), node('sha256', b.subarray(70)));
});

test('hmac md5/sha256/sha1 match node:crypto, including keys longer than a block', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 150 }), fc.uint8Array({ maxLength: 300 }), (key, msg) => {
    t.is(toHex(hmacMd5(key, msg)), createHmac('md5', key).update(msg).digest('hex'));
    t.is(toHex(hmacSha256(key, msg)), createHmac('sha256', key).update(msg).digest('hex'));
    t.is(toHex(hmacSha1(key, msg)), createHmac('sha1', key).update(msg).digest('hex'));
  }), { numRuns: 100 });
  // RFC 2202 test case 2
  const enc = (s: string) => new Uint8Array(Buffer.from(s));
  t.is(toHex(hmacMd5(enc('Jefe'), enc('what do ya want for nothing?'))), '750c783e6ab0b503eaa86e310a5db738');
});

test('hex round trip and rejection', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
    t.is(toHex(b), Buffer.from(b).toString('hex'));
    t.deepEqual(fromHex(toHex(b)), b);
  }), { numRuns: 100 });
  t.deepEqual(fromHex('0aFF'), new Uint8Array([10, 255]));
  t.is(fromHex('abc'), null);
  t.is(fromHex('zz'), null);
});

test('provider: default pure hashes, then a host provider takes over', (t) => {
  const b = pseudoRandom(5000, 1);
  const h = createSha256(); h.update(b.subarray(0, 17)); h.update(b.subarray(17));
  t.is(toHex(h.digest()), node('sha256', b));
  const m = createMd5(); m.update(b);
  t.is(toHex(m.digest()), node('md5', b));
  let used = 0;
  setCryptoProvider({
    createSha256: () => {
      used++;
      const n = createHash('sha256');
      return { update: (d) => { n.update(d); }, digest: () => new Uint8Array(n.digest()) };
    },
  });
  try {
    const p = createSha256(); p.update(b);
    t.is(toHex(p.digest()), node('sha256', b));
    t.is(used, 1);
    const m2 = createMd5(); m2.update(b); // not supplied: still the pure one
    t.is(toHex(m2.digest()), node('md5', b));
  } finally {
    setCryptoProvider(null);
  }
  createSha256();
  t.is(used, 1);
});
