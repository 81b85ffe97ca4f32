import test from 'ava';
import fc from 'fast-check';
import { utf8Encode, utf8Decode, utf8DecodeStrict, isUtf8 } from '../src/codec/utf8.js';
import { base64Encode, base64Decode } from '../src/codec/base64.js';

test('utf8 matches Node for any string, including 4-byte characters', (t) => {
  fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => {
    const mine = utf8Encode(s);
    t.deepEqual(Buffer.from(mine), Buffer.from(s, 'utf8'));
    t.is(utf8Decode(mine), s);
  }));
  t.is(utf8Decode(utf8Encode('𝄞€é')), '𝄞€é');
});

test('strict utf8 decode reports the offset of the first bad byte', (t) => {
  t.is(utf8DecodeStrict(new Uint8Array([0x41, 0x42, 0xff])), -3);
  t.is(utf8DecodeStrict(new Uint8Array([0xe2, 0x82])), -1); // truncated sequence
  t.is(utf8DecodeStrict(new Uint8Array([0xc0, 0x80])), -1); // overlong NUL
  t.is(utf8DecodeStrict(new Uint8Array([0xed, 0xa0, 0x80])), -1); // surrogate
  t.false(isUtf8(new Uint8Array([0xf5, 0x80, 0x80, 0x80])));
  t.is(utf8Decode(new Uint8Array([0x41, 0xff, 0x42])), 'A\ufffdB');
});

test('base64 matches Node and rejects junk', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
    const e = base64Encode(b);
    t.is(e, Buffer.from(b).toString('base64'));
    t.deepEqual(Buffer.from(base64Decode(e)!), Buffer.from(b));
  }));
  t.is(utf8Decode(base64Decode('QnJ1Y2Uy\r\nOk9oQmVoYXZl')!), 'Bruce2:OhBehave');
  for (const bad of ['a', 'ab=c', 'ab*d', 'abc==', '====', 'a===']) t.is(base64Decode(bad), null, bad);
});
