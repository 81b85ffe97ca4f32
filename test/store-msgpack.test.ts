import test from 'ava';
import fc from 'fast-check';
import { encode as theirEncode, decode as theirDecode } from '@msgpack/msgpack';
import { msgpackEncode, msgpackDecode } from '../src/store/msgpack.js';

const key = fc.string({ unit: 'binary', maxLength: 12 }).filter((k) => k !== '__proto__');
function valueArb(negZero: boolean): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(
    fc.constant(null), fc.boolean(),
    fc.integer({ min: -0x80000001, max: 0x100000001 }), fc.maxSafeInteger(),
    fc.integer({ min: -300, max: 300 }),
    negZero ? fc.double() : fc.double().filter((d) => !Object.is(d, -0)),
    fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }),
  );
  return fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf,
      fc.array(tie('v'), { maxLength: 20 }),
      fc.dictionary(key, tie('v'), { maxKeys: 20, noNullPrototype: true })),
  })).v;
}

const ours = (v: unknown): unknown => { const r = msgpackDecode(msgpackEncode(v)); if (!r.ok) throw new Error(r.error.message); return r.value; };

test('ours -> @msgpack/msgpack and ours -> ours decode to the original value', (t) => {
  fc.assert(fc.property(valueArb(true), (v) => {
    t.deepEqual(theirDecode(msgpackEncode(v)), v);
    t.deepEqual(ours(v), v);
  }), { numRuns: 500 });
});

test('@msgpack/msgpack -> ours decodes to what @msgpack/msgpack decodes', (t) => {
  fc.assert(fc.property(valueArb(true), (v) => {
    const bytes = theirEncode(v);
    const r = msgpackDecode(bytes);
    t.true(r.ok);
    if (r.ok) t.deepEqual(r.value, theirDecode(bytes));
  }), { numRuns: 500 });
});

test('encoding is byte-identical to @msgpack/msgpack (shortest forms)', (t) => {
  fc.assert(fc.property(valueArb(false), (v) => {
    t.deepEqual(msgpackEncode(v), theirEncode(v));
  }), { numRuns: 500 });
  for (const n of [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1]) {
    t.deepEqual(msgpackEncode(n), theirEncode(n), String(n));
    t.is(ours(n), n);
  }
  for (const len of [31, 32, 255, 256, 65535, 65536]) t.deepEqual(msgpackEncode('x'.repeat(len)), theirEncode('x'.repeat(len)));
});

test('non-integral and out-of-range numbers travel as float64; -0 keeps its sign', (t) => {
  for (const v of [0.5, -1e300, NaN, Infinity, -Infinity, 2 ** 60, -(2 ** 60)]) {
    t.is(msgpackEncode(v)[0], 0xcb);
    t.true(Object.is(ours(v), v));
  }
  t.true(Object.is(ours(-0), -0));
  t.is(msgpackDecode(new Uint8Array([0xca, 0x3f, 0xc0, 0, 0])).ok && (msgpackDecode(new Uint8Array([0xca, 0x3f, 0xc0, 0, 0])) as { value: number }).value, 1.5);
});

test('uint64 and int64 decode to numbers', (t) => {
  t.deepEqual(msgpackDecode(new Uint8Array([0xcf, 0, 0, 0, 1, 0, 0, 0, 2])), { ok: true, value: 2 ** 32 + 2 });
  t.deepEqual(msgpackDecode(new Uint8Array([0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe])), { ok: true, value: -2 });
});

test('undefined is written as nil, lone surrogates as U+FFFD', (t) => {
  t.deepEqual(ours({ a: undefined, b: [undefined] }), { a: null, b: [null] });
  t.is(ours('a\ud800b'), 'a\ufffdb');
});

test('values outside the subset are refused when encoding', (t) => {
  t.throws(() => msgpackEncode(new Date(0)), { instanceOf: TypeError });
  t.throws(() => msgpackEncode(() => 1), { instanceOf: TypeError });
  const deep: unknown[] = []; let cur = deep; for (let i = 0; i < 100; i++) { const n: unknown[] = []; cur.push(n); cur = n; }
  t.throws(() => msgpackEncode(deep), { instanceOf: TypeError });
});

test('hostile input: typed errors, never a throw or a huge allocation', (t) => {
  const kind = (b: number[]): string => { const r = msgpackDecode(new Uint8Array(b)); return r.ok ? 'ok' : r.error.kind; };
  t.is(kind([]), 'truncated');
  t.is(kind([0xdd, 0xff, 0xff, 0xff, 0xff]), 'truncated'); // 4 G elements claimed
  t.is(kind([0xc6, 0xff, 0xff, 0xff, 0xff, 1]), 'truncated'); // 4 GB bin claimed
  t.is(kind([0xdb, 0, 0, 0, 9, 0x61]), 'truncated');
  t.is(kind(new Array(100).fill(0x91).concat([0xc0])), 'limit');
  t.is(kind([0xc1]), 'malformed');
  t.is(kind([0xc0, 0xc0]), 'malformed');
  t.is(kind([0xd4, 1, 2]), 'unsupported'); // ext
  t.is(kind([0xd6, 0xff, 0, 0, 0, 0]), 'unsupported'); // timestamp ext
  t.is(kind([0x81, 0x01, 0xc0]), 'unsupported'); // integer key
  t.is(kind([0x81, 0xa9, ...Buffer.from('__proto__'), 0x80]), 'unsupported');
  const enc = msgpackEncode({ a: [1, 'two', new Uint8Array([3])], b: { c: 1.5 } });
  for (let i = 0; i < enc.length; i++) t.is(kind(Array.from(enc.subarray(0, i))), 'truncated');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
    const r = msgpackDecode(b);
    t.true(r.ok || typeof r.error.kind === 'string');
  }), { numRuns: 2000 });
});

test('decodes a slice of a larger buffer', (t) => {
  const inner = msgpackEncode({ x: 'y' });
  const buf = new Uint8Array(inner.length + 6);
  buf.set(inner, 3);
  t.deepEqual(msgpackDecode(buf, 3, 3 + inner.length), { ok: true, value: { x: 'y' } });
});
