// Base64 (RFC 4648) without atob/btoa, which QuickJS lacks.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
let reverse: Int16Array | null = null;

function table(): Int16Array {
  if (reverse) return reverse;
  const t = new Int16Array(256);
  for (let i = 0; i < 256; i++) t[i] = -1;
  for (let i = 0; i < 64; i++) t[ALPHABET.charCodeAt(i)] = i;
  reverse = t;
  return t;
}

export function base64Encode(b: Uint8Array): string {
  const parts: string[] = [];
  let chunk = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    chunk += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + ALPHABET.charAt((n >> 6) & 63) + ALPHABET.charAt(n & 63);
    if (chunk.length >= 4096) { parts.push(chunk); chunk = ''; }
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i] << 16;
    chunk += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + '==';
  } else if (rest === 2) {
    const n = (b[i] << 16) | (b[i + 1] << 8);
    chunk += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + ALPHABET.charAt((n >> 6) & 63) + '=';
  }
  parts.push(chunk);
  return parts.join('');
}

/**
 * Decodes base64, ignoring whitespace (XML payloads wrap lines). Returns null on any other
 * character outside the alphabet, on bad padding, or on a length that is not a whole quantum.
 */
export function base64Decode(s: string): Uint8Array | null {
  const t = table();
  const vals = new Uint8Array(s.length);
  let n = 0;
  let pad = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    if (c === 61) { pad++; continue; }
    if (pad > 0) return null;
    const v = c < 256 ? t[c] : -1;
    if (v < 0) return null;
    vals[n++] = v;
  }
  if (pad > 2 || (n + pad) % 4 !== 0 || (pad > 0 && n % 4 === 0)) return null;
  if (n % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((n * 6) / 8));
  let o = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const v = (vals[i] << 18) | (vals[i + 1] << 12) | (vals[i + 2] << 6) | vals[i + 3];
    out[o++] = v >> 16; out[o++] = (v >> 8) & 255; out[o++] = v & 255;
  }
  if (n - i === 2) out[o++] = ((vals[i] << 18) | (vals[i + 1] << 12)) >> 16;
  else if (n - i === 3) {
    const v = (vals[i] << 18) | (vals[i + 1] << 12) | (vals[i + 2] << 6);
    out[o++] = v >> 16; out[o++] = (v >> 8) & 255;
  }
  return out;
}
