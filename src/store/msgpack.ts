// A compact msgpack subset (wire format per the msgpack spec): nil, bool, int, float64, str,
// bin, array, map with string keys. Our own codec instead of @msgpack/msgpack, which costs
// ~23 KB minified, needs a TextEncoder shim in QuickJS and cannot run on Espruino.
// Encoding picks the same shortest forms as @msgpack/msgpack, so bytes are identical for the
// values both support. Ext types (incl. timestamps) are refused on decode.
// Module-level cursors instead of classes keep it small; neither direction is re-entrant.

import { utf8Encode, utf8Decode } from '../codec/utf8.js';
import { fail, ok, type CodecErrorKind, type Result } from '../codec/errors.js';

export interface MsgpackLimits {
  /** Deepest array/map nesting (default 32). */
  maxDepth: number;
}

const TWO32 = 4294967296;
const F = new DataView(new ArrayBuffer(8));

// ---- encoder ----
let out = new Uint8Array(256);
let n = 0;

function room(k: number): void {
  if (n + k <= out.length) return;
  const nb = new Uint8Array(Math.max(out.length * 2, n + k));
  nb.set(out.subarray(0, n));
  out = nb;
}

/** Type byte `c` then `v` as a k-byte big-endian integer (k <= 4; negatives as two's complement). */
function put(c: number, v: number, k: number): void {
  room(k + 1);
  if (c >= 0) out[n++] = c;
  while (k--) out[n++] = v >>> (k * 8);
}

/** Shortest length form: fix (when below fixMax), then 8/16/32-bit codes from c8 (or c16). */
function head(len: number, fix: number, fixMax: number, c8: number, c16: number): void {
  if (len < fixMax) put(fix | len, 0, 0);
  else if (c8 && len < 0x100) put(c8, len, 1);
  else if (len < 0x10000) put(c16, len, 2);
  else put(c16 + 1, len, 4);
}

/**
 * Encodes a value. `undefined` (also as a map value) is written as nil, like @msgpack/msgpack.
 * Throws a TypeError for values outside the subset (functions, Dates, class instances,
 * nesting deeper than maxDepth): encoding takes trusted, owner-built values.
 */
export function msgpackEncode(value: unknown, limits?: MsgpackLimits): Uint8Array {
  n = 0;
  enc(value, limits ? limits.maxDepth : 32);
  const r = out.slice(0, n);
  if (out.length > 4096) out = new Uint8Array(256); // do not keep a big record's buffer alive
  return r;
}

function enc(v: unknown, depth: number): void {
  if (v == null) put(0xc0, 0, 0);
  else if (typeof v === 'boolean') put(v ? 0xc3 : 0xc2, 0, 0);
  else if (typeof v === 'number') num(v);
  else if (typeof v === 'string') {
    const s = utf8Encode(v);
    head(s.length, 0xa0, 32, 0xd9, 0xda);
    bytes(s);
  } else if (v instanceof Uint8Array) {
    head(v.length, 0, 0, 0xc4, 0xc5);
    bytes(v);
  } else if (depth < 1 || typeof v !== 'object') throw new TypeError('msgpack: cannot encode');
  else if (Array.isArray(v)) {
    head(v.length, 0x90, 16, 0, 0xdc);
    for (let i = 0; i < v.length; i++) enc(v[i], depth - 1);
  } else {
    const p = Object.getPrototypeOf(v);
    if (p !== null && p !== Object.prototype) throw new TypeError('msgpack: cannot encode');
    const keys = Object.keys(v);
    head(keys.length, 0x80, 16, 0, 0xde);
    for (let i = 0; i < keys.length; i++) { enc(keys[i], 1); enc((v as Record<string, unknown>)[keys[i]], depth - 1); }
  }
}

function bytes(b: Uint8Array): void {
  room(b.length);
  out.set(b, n);
  n += b.length;
}

function num(v: number): void {
  // Safe integers as the shortest int form; fractions, NaN, ±Infinity, -0 and integers
  // beyond 2^53 as float64.
  if (v % 1 === 0 && Math.abs(v) < 9007199254740992 && (v || 1 / v > 0)) {
    if (v >= 0) {
      if (v < TWO32) head(v, 0, 0x80, 0xcc, 0xcd);
      else { put(0xcf, v / TWO32, 4); put(-1, v % TWO32, 4); }
    } else if (v >= -0x20) put(v & 0xff, 0, 0);
    else if (v >= -0x80) put(0xd0, v, 1);
    else if (v >= -0x8000) put(0xd1, v, 2);
    else if (v >= -0x80000000) put(0xd2, v, 4);
    else { const hi = Math.floor(v / TWO32); put(0xd3, hi, 4); put(-1, v - hi * TWO32, 4); }
    return;
  }
  F.setFloat64(0, v);
  put(0xcb, 0, 0);
  for (let i = 0; i < 8; i++) put(-1, F.getUint8(i), 1);
}

// ---- decoder ----
let B: Uint8Array;
let P = 0;
let E = 0;
let maxDepth = 32;

interface Stop { kind: CodecErrorKind; msg: string; at: number }

function stop(kind: CodecErrorKind, msg: string): never {
  const s: Stop = { kind, msg: 'msgpack: ' + msg, at: P };
  throw s;
}

function take(k: number): number {
  if (k > E - P) stop('truncated', 'needs ' + k + ' bytes');
  P += k;
  return P - k;
}

function uint(k: number): number {
  const at = take(k);
  let v = 0;
  for (let i = 0; i < k; i++) v = v * 256 + B[at + i];
  return v;
}

function sint(k: number): number {
  const v = uint(k);
  const half = Math.pow(2, 8 * k - 1);
  return v >= half ? v - 2 * half : v;
}

function float(k: number): number {
  const at = take(k);
  for (let i = 0; i < k; i++) F.setUint8(i, B[at + i]);
  return k === 4 ? F.getFloat32(0) : F.getFloat64(0);
}

/**
 * Decodes exactly one value spanning `bytes[start, end)`. Lengths are checked against the
 * remaining bytes before anything is allocated; trailing bytes are an error.
 */
export function msgpackDecode(bytes: Uint8Array, start?: number, end?: number, limits?: MsgpackLimits): Result<unknown> {
  B = bytes;
  P = start || 0;
  E = end === undefined ? bytes.length : end;
  maxDepth = limits ? limits.maxDepth : 32;
  try {
    const v = dec(0);
    if (P !== E) stop('malformed', 'trailing bytes');
    return ok(v);
  } catch (e) {
    const s = e as Stop;
    if (s && s.msg) return fail(s.kind, s.msg, s.at);
    return fail('malformed', 'msgpack: ' + e, P);
  }
}

function dec(d: number): unknown {
  const c = uint(1);
  if (c < 0x80) return c;
  if (c >= 0xe0) return c - 0x100;
  if (c < 0x90) return map(c & 15, d);
  if (c < 0xa0) return arr(c & 15, d);
  if (c < 0xc0) return str(c & 31);
  if (c === 0xc0) return null;
  if (c === 0xc2 || c === 0xc3) return c === 0xc3;
  if (c >= 0xc4 && c <= 0xc6) { const k = uint(1 << (c - 0xc4)); const at = take(k); return B.slice(at, at + k); }
  if (c === 0xca || c === 0xcb) return float(c === 0xca ? 4 : 8);
  if (c >= 0xcc && c <= 0xcf) return c === 0xcf ? uint(4) * TWO32 + uint(4) : uint(1 << (c - 0xcc));
  if (c >= 0xd0 && c <= 0xd3) return c === 0xd3 ? sint(4) * TWO32 + uint(4) : sint(1 << (c - 0xd0));
  if (c >= 0xd9 && c <= 0xdb) return str(uint(1 << (c - 0xd9)));
  if (c === 0xdc || c === 0xdd) return arr(uint(c === 0xdc ? 2 : 4), d);
  if (c === 0xde || c === 0xdf) return map(uint(c === 0xde ? 2 : 4), d);
  P--;
  return stop(c === 0xc1 ? 'malformed' : 'unsupported', 'type 0x' + c.toString(16));
}

function str(k: number): string {
  const at = take(k);
  return utf8Decode(B, at, at + k);
}

function enter(k: number, d: number): void {
  if (d >= maxDepth) stop('limit', 'nesting deeper than ' + maxDepth);
  // Every element takes at least one byte: a count beyond the remaining bytes is a lie.
  if (k > E - P) stop('truncated', k + ' elements in ' + (E - P) + ' bytes');
}

function arr(k: number, d: number): unknown[] {
  enter(k, d);
  const a: unknown[] = [];
  for (let i = 0; i < k; i++) a.push(dec(d + 1));
  return a;
}

function map(k: number, d: number): Record<string, unknown> {
  enter(k, d);
  const o: Record<string, unknown> = {};
  for (let i = 0; i < k; i++) {
    const at = P;
    const key = dec(d + 1);
    // Assigning "__proto__" would replace the prototype instead of adding a key.
    if (typeof key !== 'string' || key === '__proto__') { P = at; stop('unsupported', 'map key'); }
    o[key as string] = dec(d + 1);
  }
  return o;
}
