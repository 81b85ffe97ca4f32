// OMA DM 1.2 credentials (facts §2.7; DM Security DOC-24, DOC-51): basic, MD5 digest, and the
// "HMAC" transport MAC carried in the x-syncml-hmac HTTP header.
import { base64Encode, base64Decode } from '../codec/base64.js';
import { utf8Encode, utf8DecodeStrict } from '../codec/utf8.js';
import { md5Init, md5Update, md5Final, md5 } from '../crypto/md5.js';

export const AUTH_BASIC = 'syncml:auth-basic';
export const AUTH_MD5 = 'syncml:auth-md5';
export const AUTH_MAC = 'syncml:auth-MAC';

/** Fallback nonce after a failed digest ("0x00000000", b64 `AAAAAA==`) [DOC-61; Android]. */
export const ZERO_NONCE = new Uint8Array(4);

/** Longest x-syncml-hmac header value parsed; real ones are under 200 bytes. */
const MAX_HMAC_HEADER = 2048;

/** Cred/Data for syncml:auth-basic: B64("user:pass"). */
export function basicCred(user: string, pass: string): string {
  return base64Encode(utf8Encode(user + ':' + pass));
}

/** Splits a basic Cred/Data at the first colon; null when not base64, not UTF-8, or no colon. */
export function parseBasic(data: string): { user: string; pass: string } | null {
  const raw = base64Decode(data);
  if (!raw) return null;
  const s = utf8DecodeStrict(raw);
  if (typeof s !== 'string') return null;
  const i = s.indexOf(':');
  if (i < 0) return null;
  return { user: s.slice(0, i), pass: s.slice(i + 1) };
}

// MD5 over B64(MD5(user:pass)) ":" nonce [":" tail], with the nonce kept as raw bytes: a nonce
// is binary and must never round-trip through a JS string.
function digestCore(user: string, pass: string, nonce: Uint8Array, tail: string | null): Uint8Array {
  const st = md5Init();
  md5Update(st, utf8Encode(base64Encode(md5(utf8Encode(user + ':' + pass))) + ':'));
  md5Update(st, nonce);
  if (tail !== null) md5Update(st, utf8Encode(':' + tail));
  return md5Final(st);
}

/** Cred/Data for syncml:auth-md5: B64(MD5(B64(MD5(user:pass)) ":" nonce)). */
export function md5Digest(user: string, pass: string, nonce: Uint8Array): string {
  return base64Encode(digestCore(user, pass, nonce, null));
}

/** The x-syncml-hmac mac: B64(MD5(B64(MD5(user:pass)) ":" nonce ":" B64(MD5(body)))). */
export function hmacMac(user: string, pass: string, nonce: Uint8Array, body: Uint8Array): string {
  return base64Encode(digestCore(user, pass, nonce, base64Encode(md5(body))));
}

/**
 * The raw 16-byte MD5 used for the package 0 digest (facts §2.8): same construction as the
 * HMAC mac, over the trigger instead of an HTTP body.
 */
export function digestOverBytes(user: string, pass: string, nonce: Uint8Array, body: Uint8Array): Uint8Array {
  return digestCore(user, pass, nonce, base64Encode(md5(body)));
}

/** Compares without an early exit, so the time taken does not tell how many bytes matched. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** String form of bytesEqual (for base64 credentials). */
export function secretEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}

/** Checks a received auth-md5 Cred/Data. */
export function verifyMd5Digest(user: string, pass: string, nonce: Uint8Array, data: string): boolean {
  return secretEqual(md5Digest(user, pass, nonce), data.trim());
}

/** Checks a received x-syncml-hmac mac against the exact body bytes. */
export function verifyHmacMac(user: string, pass: string, nonce: Uint8Array, body: Uint8Array, mac: string): boolean {
  return secretEqual(hmacMac(user, pass, nonce, body), mac.trim());
}

/** NextNonce as sent in Chal/Meta (Format b64). */
export function encodeNonce(nonce: Uint8Array): string {
  return base64Encode(nonce);
}

/** NextNonce received (Format b64); null when not base64. */
export function decodeNonce(b64: string): Uint8Array | null {
  return base64Decode(b64);
}

/**
 * The nonce readings a tolerant verifier tries, most likely first: the base64-decoded bytes,
 * then the text itself as bytes (some clients forget the decode) [impl: CM-SA].
 */
export function nonceCandidates(text: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const d = base64Decode(text);
  if (d) out.push(d);
  out.push(utf8Encode(text));
  return out;
}

/**
 * A fresh nonce from a host-supplied source of random bytes (the core has no entropy of its
 * own; Math.random is not good enough for this).
 */
export function makeNonce(randomBytes: (n: number) => Uint8Array, length?: number): Uint8Array {
  return randomBytes(length === undefined ? 16 : length);
}

export interface HmacHeader {
  /** Upper-case as sent, 'MD5' when absent. */
  algorithm: string;
  username: string;
  mac: string;
}

function quote(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/** `algorithm=MD5, username="<user>", mac=<b64>` [DOC-51]. */
export function formatHmacHeader(h: { username: string; mac: string; algorithm?: string }): string {
  return 'algorithm=' + (h.algorithm || 'MD5') + ', username=' + quote(h.username) + ', mac=' + h.mac;
}

/**
 * Parses x-syncml-hmac. Tolerates any parameter order, spaces around `=` and `,`, quoted or
 * bare values, Android's no-space form, and unknown parameters. Null when username or mac is
 * missing, a parameter repeats, the syntax is broken, or the value is implausibly long.
 */
export function parseHmacHeader(value: string): HmacHeader | null {
  if (value.length > MAX_HMAC_HEADER) return null;
  const params: { [k: string]: string } = {};
  const n = value.length;
  let i = 0;
  const ch = function () { return value.charAt(i); };
  const isBlank = function (c: string) { return c === ' ' || c === '\t'; };
  const skipWs = function () { while (i < n && isBlank(ch())) i++; };
  const has = function (k: string) { return Object.prototype.hasOwnProperty.call(params, k); };
  for (;;) {
    skipWs();
    if (i >= n) break;
    if (ch() === ',') { i++; continue; }
    const ks = i;
    while (i < n && ch() !== '=' && ch() !== ',' && !isBlank(ch())) i++;
    const key = value.slice(ks, i).toLowerCase();
    if (!key) return null;
    skipWs();
    if (ch() !== '=') return null;
    i++;
    skipWs();
    let v = '';
    if (ch() === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = value.charAt(i++);
        if (c === '\\' && i < n) v += value.charAt(i++);
        else if (c === '"') { closed = true; break; }
        else v += c;
      }
      if (!closed) return null;
    } else {
      const vs = i;
      while (i < n && ch() !== ',' && !isBlank(ch())) i++;
      v = value.slice(vs, i);
    }
    if (has(key)) return null;
    params[key] = v;
    skipWs();
    if (i < n && ch() !== ',') return null;
  }
  if (!has('username') || !has('mac') || !params['mac']) return null;
  return {
    algorithm: has('algorithm') && params['algorithm'] ? params['algorithm'].toUpperCase() : 'MD5',
    username: params['username'],
    mac: params['mac'],
  };
}
