import test from 'ava';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  encodePackage0, decodePackage0, verifyPackage0, sessionIdToHex, PKG0_MAX_BYTES,
} from '../src/dm/package0.js';
import { ZERO_NONCE } from '../src/dm/credentials.js';
import { toHex, fromHex } from '../src/crypto/hex.js';

const enc = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const FIELDS = { uiMode: 0, initiator: 'server' as const, sessionId: 1, serverId: 'srv' };

test('facts vector: trigger and digest', (t) => {
  const p = encodePackage0(FIELDS, 'pw', enc('nonce'));
  t.is(toHex(p.subarray(16)), '02c8000000000103737276');
  t.is(toHex(p.subarray(0, 16)), '84c51f291b234c3fc2f1f0a3fb710280');
  const d = decodePackage0(p);
  if (!d.ok) return t.fail(d.error.message);
  t.is(toHex(d.value.digest), '84c51f291b234c3fc2f1f0a3fb710280');
  t.is(toHex(d.value.trigger), '02c8000000000103737276');
  t.is(d.value.version, 11);
  t.is(d.value.uiMode, 0);
  t.is(d.value.initiator, 'server');
  t.is(d.value.sessionId, 1);
  t.is(d.value.serverId, 'srv');
  t.is(d.value.vendor.length, 0);
  t.true(verifyPackage0(p, 'srv', 'pw', enc('nonce')));
  t.true(verifyPackage0(d.value, 'srv', 'pw', enc('nonce')));
});

test('digest matches a node:crypto reference construction', (t) => {
  const p = encodePackage0({ uiMode: 3, initiator: 'client', sessionId: 0xabcd, serverId: 'server.example', vendor: enc('VND') }, 's3cret', ZERO_NONCE);
  const b64md5 = (b: Uint8Array | Buffer) => createHash('md5').update(b).digest('base64');
  const ref = createHash('md5').update(Buffer.concat([
    Buffer.from(b64md5(Buffer.from('server.example:s3cret')) + ':'), Buffer.from(ZERO_NONCE),
    Buffer.from(':' + b64md5(p.subarray(16))),
  ])).digest('hex');
  t.is(toHex(p.subarray(0, 16)), ref);
  t.is(toHex(p.subarray(16, 24)), '02f0000000abcd0e');
});

test('round trip of any fields, and any tamper breaks verification', (t) => {
  fc.assert(fc.property(
    fc.record({
      version: fc.integer({ min: 10, max: 12 }),
      uiMode: fc.integer({ min: 0, max: 3 }),
      initiator: fc.constantFrom('client' as const, 'server' as const),
      sessionId: fc.integer({ min: 0, max: 0xffff }),
      serverId: fc.string({ maxLength: 60 }),
      vendor: fc.uint8Array({ maxLength: 50 }),
    }),
    fc.string(), fc.uint8Array({ maxLength: 16 }), fc.nat(),
    (f, pw, nonce, pos) => {
      const p = encodePackage0(f, pw, nonce);
      const d = decodePackage0(p);
      t.true(d.ok);
      if (!d.ok) return;
      t.deepEqual({ ...d.value, digest: undefined, trigger: undefined }, { ...f, digest: undefined, trigger: undefined });
      t.true(verifyPackage0(p, f.serverId, pw, nonce));
      const bad = p.slice();
      bad[pos % bad.length] ^= 1 << (pos % 8);
      t.false(verifyPackage0(bad, f.serverId, pw, nonce));
      t.false(verifyPackage0(p, f.serverId, pw + 'x', nonce));
    },
  ), { numRuns: 150 });
});

test('wrong nonce fails; the zero-nonce fallback verifies when the server used it', (t) => {
  const p = encodePackage0(FIELDS, 'pw', ZERO_NONCE);
  t.false(verifyPackage0(p, 'srv', 'pw', enc('nonce')));
  t.true(verifyPackage0(p, 'srv', 'pw', ZERO_NONCE));
  // separate SRVCRED name from the ServerID in the trigger
  const q = encodePackage0(FIELDS, 'pw', ZERO_NONCE, 'authname');
  t.true(verifyPackage0(q, 'authname', 'pw', ZERO_NONCE));
  t.false(verifyPackage0(q, 'srv', 'pw', ZERO_NONCE));
});

test('truncated, garbage and oversized inputs give typed errors', (t) => {
  const p = encodePackage0(FIELDS, 'pw', enc('nonce'));
  for (let n = 0; n < p.length; n++) {
    const d = decodePackage0(p.subarray(0, n));
    t.false(d.ok, `length ${n}`);
    if (!d.ok) t.is(d.error.kind, 'truncated');
    t.false(verifyPackage0(p.subarray(0, n), 'srv', 'pw', enc('nonce')));
  }
  const v1 = fromHex('00'.repeat(16) + '0000000000000000')!; // version 0
  const r1 = decodePackage0(v1);
  t.true(!r1.ok && r1.error.kind === 'unsupported');
  const v13 = encodePackage0({ ...FIELDS, version: 13 }, 'pw', ZERO_NONCE);
  const r13 = decodePackage0(v13);
  t.true(!r13.ok && r13.error.kind === 'unsupported');
  const badId = p.slice(); badId[24] = 0xff;
  const r2 = decodePackage0(badId);
  t.true(!r2.ok && r2.error.kind === 'malformed' && r2.error.offset === 24);
  const big = new Uint8Array(PKG0_MAX_BYTES + 1);
  const r3 = decodePackage0(big);
  t.true(!r3.ok && r3.error.kind === 'limit');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
    const d = decodePackage0(b);
    t.true(d.ok || typeof d.error.message === 'string');
  }), { numRuns: 300 });
});

test('version 10 and 12 accepted; encoder emits 11 by default', (t) => {
  for (const version of [10, 12]) {
    const d = decodePackage0(encodePackage0({ ...FIELDS, version }, 'pw', ZERO_NONCE));
    t.true(d.ok && d.value.version === version);
  }
  const p = encodePackage0(FIELDS, 'pw', ZERO_NONCE);
  t.is((p[16] << 2) | (p[17] >> 6), 11);
});

test('encoder refuses out-of-range fields', (t) => {
  t.throws(() => encodePackage0({ ...FIELDS, sessionId: 0x10000 }, 'pw', ZERO_NONCE), { instanceOf: RangeError });
  t.throws(() => encodePackage0({ ...FIELDS, uiMode: 4 }, 'pw', ZERO_NONCE), { instanceOf: RangeError });
  t.throws(() => encodePackage0({ ...FIELDS, serverId: 'x'.repeat(256) }, 'pw', ZERO_NONCE), { instanceOf: RangeError });
});

test('session id to SyncHdr SessionID: uppercase hex, no leading zeros', (t) => {
  t.is(sessionIdToHex(1), '1');
  t.is(sessionIdToHex(0xabc), 'ABC');
  t.is(sessionIdToHex(0x00ff), 'FF');
  t.is(sessionIdToHex(0xffff), 'FFFF');
});
