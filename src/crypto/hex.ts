// Lowercase hex for digests and logs; fromHex for test vectors and configuration values.

const DIGITS = '0123456789abcdef';

export function toHex(b: Uint8Array): string {
  const parts: string[] = [];
  let s = '';
  for (let i = 0; i < b.length; i++) {
    s += DIGITS.charAt(b[i] >> 4) + DIGITS.charAt(b[i] & 15);
    if (s.length >= 4096) { parts.push(s); s = ''; }
  }
  parts.push(s);
  return parts.join('');
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Decodes hex (either case). Returns null on an odd length or a non-hex character. */
export function fromHex(s: string): Uint8Array | null {
  if (s.length % 2 !== 0) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const h = nibble(s.charCodeAt(2 * i));
    const l = nibble(s.charCodeAt(2 * i + 1));
    if (h < 0 || l < 0) return null;
    out[i] = (h << 4) | l;
  }
  return out;
}
