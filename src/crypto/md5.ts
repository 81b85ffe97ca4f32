// MD5 (RFC 1321), streaming. DM needs it for auth-md5, the x-syncml-hmac MAC and the package 0
// digest; QuickJS and Espruino have no native hash, so the client carries its own.
import { blockPad, blockUpdate } from './block-hash.js';

export interface Md5State {
  /** a, b, c, d */
  h: Int32Array;
  /** Pending bytes of an incomplete 64-byte block. */
  buf: Uint8Array;
  bufLen: number;
  /** Total bytes hashed (a double: exact up to 2^53). */
  total: number;
  /** Scratch for the 16 message words, reused for every block. */
  x: Int32Array;
}

// Per-step constants K[i] = floor(abs(sin(i + 1)) * 2^32), as signed 32-bit values.
const K = new Int32Array([
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
]);
const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

export function md5Init(): Md5State {
  const h = new Int32Array(4);
  h[0] = 0x67452301; h[1] = 0xefcdab89 | 0; h[2] = 0x98badcfe | 0; h[3] = 0x10325476;
  return { h, buf: new Uint8Array(64), bufLen: 0, total: 0, x: new Int32Array(16) };
}

function block(st: Md5State, p: Uint8Array, o: number): void {
  const x = st.x;
  for (let i = 0; i < 16; i++, o += 4) x[i] = p[o] | (p[o + 1] << 8) | (p[o + 2] << 16) | (p[o + 3] << 24);
  const h = st.h;
  let a = h[0], b = h[1], c = h[2], d = h[3], t = 0, s = 0;
  for (let i = 0; i < 16; i++) {
    t = (a + ((b & c) | (~b & d)) + K[i] + x[i]) | 0; s = S[i & 3];
    a = d; d = c; c = b; b = (b + ((t << s) | (t >>> (32 - s)))) | 0;
  }
  for (let i = 16; i < 32; i++) {
    t = (a + ((d & b) | (~d & c)) + K[i] + x[(5 * i + 1) & 15]) | 0; s = S[4 + (i & 3)];
    a = d; d = c; c = b; b = (b + ((t << s) | (t >>> (32 - s)))) | 0;
  }
  for (let i = 32; i < 48; i++) {
    t = (a + (b ^ c ^ d) + K[i] + x[(3 * i + 5) & 15]) | 0; s = S[8 + (i & 3)];
    a = d; d = c; c = b; b = (b + ((t << s) | (t >>> (32 - s)))) | 0;
  }
  for (let i = 48; i < 64; i++) {
    t = (a + (c ^ (b | ~d)) + K[i] + x[(7 * i) & 15]) | 0; s = S[12 + (i & 3)];
    a = d; d = c; c = b; b = (b + ((t << s) | (t >>> (32 - s)))) | 0;
  }
  h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
}

/** Feeds bytes (optionally only data[start, end)); chunk boundaries do not matter. */
export function md5Update(st: Md5State, data: Uint8Array, start?: number, end?: number): void {
  blockUpdate(st, data, start, end, block);
}

/** Pads, finishes and returns the 16-byte digest. The state must not be used afterwards. */
export function md5Final(st: Md5State): Uint8Array {
  blockPad(st, false, block);
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const v = st.h[i];
    out[4 * i] = v & 255; out[4 * i + 1] = (v >>> 8) & 255; out[4 * i + 2] = (v >>> 16) & 255; out[4 * i + 3] = (v >>> 24) & 255;
  }
  return out;
}

/** One-shot MD5. */
export function md5(data: Uint8Array): Uint8Array {
  const st = md5Init();
  md5Update(st, data);
  return md5Final(st);
}
