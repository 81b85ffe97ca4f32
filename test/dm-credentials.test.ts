import test from 'ava';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  AUTH_BASIC, AUTH_MD5, AUTH_MAC, ZERO_NONCE, basicCred, parseBasic, md5Digest, hmacMac,
  verifyMd5Digest, verifyHmacMac, formatHmacHeader, parseHmacHeader, bytesEqual, secretEqual,
  encodeNonce, decodeNonce, nonceCandidates, makeNonce,
} from '../src/dm/credentials.js';

const enc = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const b64md5 = (b: Buffer | Uint8Array) => createHash('md5').update(b).digest('base64');

test('auth type constants', (t) => {
  t.is(AUTH_BASIC, 'syncml:auth-basic');
  t.is(AUTH_MD5, 'syncml:auth-md5');
  t.is(AUTH_MAC, 'syncml:auth-MAC');
});

test('basic: facts vector and parse', (t) => {
  t.is(basicCred('Bruce2', 'OhBehave'), 'QnJ1Y2UyOk9oQmVoYXZl');
  t.deepEqual(parseBasic('QnJ1Y2UyOk9oQmVoYXZl'), { user: 'Bruce2', pass: 'OhBehave' });
  t.deepEqual(parseBasic(basicCred('u', 'p:with:colons')), { user: 'u', pass: 'p:with:colons' });
  t.deepEqual(parseBasic(basicCred('ü', '')), { user: 'ü', pass: '' });
  t.is(parseBasic('bm9jb2xvbg=='), null); // "nocolon"
  t.is(parseBasic('!!!'), null);
  t.is(parseBasic(Buffer.from([0x61, 0x3a, 0xff]).toString('base64')), null); // not UTF-8
});

test('md5 digest: facts and runtime vectors', (t) => {
  t.is(md5Digest('Bruce2', 'OhBehave', enc('Nonce')), 'Zz6EivR3yeaaENcRN6lpAQ==');
  t.is(md5Digest('bob', 'secret', enc('nonce123')), 'ER97MObNrklA/XRvVo2yzA==');
  t.true(verifyMd5Digest('Bruce2', 'OhBehave', enc('Nonce'), 'Zz6EivR3yeaaENcRN6lpAQ=='));
  t.false(verifyMd5Digest('Bruce2', 'OhBehavE', enc('Nonce'), 'Zz6EivR3yeaaENcRN6lpAQ=='));
  t.false(verifyMd5Digest('Bruce2', 'OhBehave', enc('nonce'), 'Zz6EivR3yeaaENcRN6lpAQ=='));
});

test('md5 digest keeps binary nonces as bytes (matches a Buffer-built reference)', (t) => {
  fc.assert(fc.property(fc.string(), fc.string(), fc.uint8Array({ maxLength: 40 }), (u, p, nonce) => {
    const inner = b64md5(Buffer.from(u + ':' + p, 'utf8'));
    const ref = b64md5(Buffer.concat([Buffer.from(inner + ':'), Buffer.from(nonce)]));
    t.is(md5Digest(u, p, nonce), ref);
  }), { numRuns: 200 });
  // bytes ≥ 0x80 in a nonce are where string-building goes wrong
  const hi = new Uint8Array([0x80, 0xff, 0x00, 0xc3]);
  const ref = b64md5(Buffer.concat([Buffer.from(b64md5(Buffer.from('a:b')) + ':'), Buffer.from(hi)]));
  t.is(md5Digest('a', 'b', hi), ref);
});

test('hmac mac: facts vector and reference', (t) => {
  t.is(hmacMac('user', 'pass', enc('nonce'), enc('<SyncML/>')), 'BzE6dDP0ZGNGys1kp3A54Q==');
  t.true(verifyHmacMac('user', 'pass', enc('nonce'), enc('<SyncML/>'), 'BzE6dDP0ZGNGys1kp3A54Q=='));
  t.false(verifyHmacMac('user', 'pass', enc('nonce'), enc('<SyncML />'), 'BzE6dDP0ZGNGys1kp3A54Q=='));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ maxLength: 300 }), (nonce, body) => {
    const ref = b64md5(Buffer.concat([
      Buffer.from(b64md5(Buffer.from('x:y')) + ':'), Buffer.from(nonce), Buffer.from(':' + b64md5(body)),
    ]));
    t.is(hmacMac('x', 'y', nonce, body), ref);
  }), { numRuns: 100 });
});

test('x-syncml-hmac: format and parse the spec form and variants', (t) => {
  const h = formatHmacHeader({ username: 'user', mac: 'BzE6dDP0ZGNGys1kp3A54Q==' });
  t.is(h, 'algorithm=MD5, username="user", mac=BzE6dDP0ZGNGys1kp3A54Q==');
  const want = { algorithm: 'MD5', username: 'user', mac: 'BzE6dDP0ZGNGys1kp3A54Q==' };
  t.deepEqual(parseHmacHeader(h), want);
  t.deepEqual(parseHmacHeader('algorithm=MD5,username="user",mac=BzE6dDP0ZGNGys1kp3A54Q=='), want); // Android
  t.deepEqual(parseHmacHeader('username="user", mac=BzE6dDP0ZGNGys1kp3A54Q=='), want); // default algorithm
  t.deepEqual(parseHmacHeader(' mac = "BzE6dDP0ZGNGys1kp3A54Q==" ,  USERNAME = user , algorithm=md5 '), want);
  t.deepEqual(parseHmacHeader('algorithm=MD5, username="user", mac=BzE6dDP0ZGNGys1kp3A54Q==, x-extra=1'), want);
  t.deepEqual(parseHmacHeader('username="a, b", mac=m'), { algorithm: 'MD5', username: 'a, b', mac: 'm' });
  const odd = formatHmacHeader({ username: 'we"ird\\n', mac: 'm', algorithm: 'MD5' });
  t.deepEqual(parseHmacHeader(odd), { algorithm: 'MD5', username: 'we"ird\\n', mac: 'm' });
});

test('x-syncml-hmac: broken headers give null', (t) => {
  t.is(parseHmacHeader(''), null);
  t.is(parseHmacHeader('username="user"'), null); // no mac
  t.is(parseHmacHeader('mac=abc'), null); // no username
  t.is(parseHmacHeader('username="user, mac=abc'), null); // unterminated quote
  t.is(parseHmacHeader('username="u", mac=a, mac=b'), null); // repeated
  t.is(parseHmacHeader('username="u" mac=abc'), null); // missing comma
  t.is(parseHmacHeader('username, mac=abc'), null);
  t.is(parseHmacHeader('username="u", mac='), null);
  t.is(parseHmacHeader('username="u", mac=' + 'A'.repeat(5000)), null); // too long
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
    const r = parseHmacHeader(s);
    t.true(r === null || (typeof r.username === 'string' && r.mac.length > 0));
  }), { numRuns: 300 });
});

test('compare helpers and nonces', (t) => {
  t.true(bytesEqual(enc('abc'), enc('abc')));
  t.false(bytesEqual(enc('abc'), enc('abd')));
  t.false(bytesEqual(enc('abc'), enc('ab')));
  t.true(secretEqual('x==', 'x=='));
  t.false(secretEqual('x==', 'y=='));
  t.false(secretEqual('x', 'xx'));
  t.deepEqual(ZERO_NONCE, new Uint8Array(4));
  t.is(encodeNonce(ZERO_NONCE), 'AAAAAA==');
  t.deepEqual(decodeNonce('AAAAAA=='), ZERO_NONCE);
  t.is(decodeNonce('**'), null);
  t.deepEqual(nonceCandidates('Tm9uY2U='), [enc('Nonce'), enc('Tm9uY2U=')]);
  t.deepEqual(nonceCandidates('not b64!'), [enc('not b64!')]);
  t.deepEqual(makeNonce((n) => new Uint8Array(n).fill(7)), new Uint8Array(16).fill(7));
  t.is(makeNonce((n) => new Uint8Array(n), 8).length, 8);
});
