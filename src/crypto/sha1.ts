// SHA-1 (FIPS 180-4), only for HMAC-SHA1 (OMA DM bootstrap MAC). Not for anything new.
import { blockPad, blockUpdate } from './block-hash.js';

export interface Sha1State {
  h: Int32Array;
  buf: Uint8Array;
  bufLen: number;
  total: number;
  w: Int32Array;
}

export function sha1Init(): Sha1State {
  const h = new Int32Array(5);
  h[0] = 0x67452301; h[1] = 0xefcdab89 | 0; h[2] = 0x98badcfe | 0; h[3] = 0x10325476; h[4] = 0xc3d2e1f0 | 0;
  return { h, buf: new Uint8Array(64), bufLen: 0, total: 0, w: new Int32Array(80) };
}

function block(st: Sha1State, p: Uint8Array, o: number): void {
  const w = st.w;
  for (let i = 0; i < 16; i++, o += 4) w[i] = (p[o] << 24) | (p[o + 1] << 16) | (p[o + 2] << 8) | p[o + 3];
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
    w[i] = (x << 1) | (x >>> 31);
  }
  const h = st.h;
  let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (let i = 0; i < 80; i++) {
    let f: number, k: number;
    if (i < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
    else if (i < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
    else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc | 0; }
    else { f = b ^ c ^ d; k = 0xca62c1d6 | 0; }
    const t = (((a << 5) | (a >>> 27)) + f + e + k + w[i]) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
  }
  h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0; h[4] = (h[4] + e) | 0;
}

export function sha1Update(st: Sha1State, data: Uint8Array, start?: number, end?: number): void {
  blockUpdate(st, data, start, end, block);
}

export function sha1Final(st: Sha1State): Uint8Array {
  blockPad(st, true, block);
  const out = new Uint8Array(20);
  for (let i = 0; i < 5; i++) {
    const v = st.h[i];
    out[4 * i] = (v >>> 24) & 255; out[4 * i + 1] = (v >>> 16) & 255; out[4 * i + 2] = (v >>> 8) & 255; out[4 * i + 3] = v & 255;
  }
  return out;
}

export function sha1(data: Uint8Array): Uint8Array {
  const st = sha1Init();
  sha1Update(st, data);
  return sha1Final(st);
}
