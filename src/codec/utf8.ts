// UTF-8 without TextEncoder/TextDecoder (QuickJS, Duktape and Espruino lack them).

/** Encodes a JS string as UTF-8. Lone surrogates become U+FFFD. */
export function utf8Encode(s: string): Uint8Array {
  const out = new Uint8Array(utf8Length(s));
  let o = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) { out[o++] = c; continue; }
    if (c < 0x800) { out[o++] = 0xc0 | (c >> 6); out[o++] = 0x80 | (c & 63); continue; }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[o++] = 0xf0 | (c >> 18); out[o++] = 0x80 | ((c >> 12) & 63);
        out[o++] = 0x80 | ((c >> 6) & 63); out[o++] = 0x80 | (c & 63);
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    out[o++] = 0xe0 | (c >> 12); out[o++] = 0x80 | ((c >> 6) & 63); out[o++] = 0x80 | (c & 63);
  }
  return out;
}

/** Byte length of a string once UTF-8 encoded. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n += 4; i++; } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * Decodes UTF-8. Returns the byte offset of the first invalid sequence as a negative number
 * minus one (so `-1` means offset 0) when `strict`, else replaces invalid sequences with U+FFFD.
 */
export function utf8DecodeStrict(b: Uint8Array, start?: number, end?: number): string | number {
  return decode(b, start === undefined ? 0 : start, end === undefined ? b.length : end, true);
}

/** Decodes UTF-8, replacing invalid sequences with U+FFFD. */
export function utf8Decode(b: Uint8Array, start?: number, end?: number): string {
  return decode(b, start === undefined ? 0 : start, end === undefined ? b.length : end, false) as string;
}

/** True when the bytes are well-formed UTF-8. */
export function isUtf8(b: Uint8Array): boolean {
  return typeof decode(b, 0, b.length, true) === 'string';
}

// Chunked so String.fromCharCode.apply stays under Espruino's 256-argument limit.
const CHUNK = 256;

function decode(b: Uint8Array, i: number, end: number, strict: boolean): string | number {
  let out = '';
  const units: number[] = [];
  while (i < end) {
    const start = i;
    const c = b[i++];
    let cp = -1;
    if (c < 0x80) cp = c;
    else if (c >= 0xc2 && c <= 0xdf) {
      if (i < end && (b[i] & 0xc0) === 0x80) cp = ((c & 31) << 6) | (b[i++] & 63);
    } else if (c >= 0xe0 && c <= 0xef) {
      if (i + 1 < end && (b[i] & 0xc0) === 0x80 && (b[i + 1] & 0xc0) === 0x80) {
        const v = ((c & 15) << 12) | ((b[i] & 63) << 6) | (b[i + 1] & 63);
        if (v >= 0x800 && (v < 0xd800 || v > 0xdfff)) { cp = v; i += 2; }
      }
    } else if (c >= 0xf0 && c <= 0xf4) {
      if (i + 2 < end && (b[i] & 0xc0) === 0x80 && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80) {
        const v = ((c & 7) << 18) | ((b[i] & 63) << 12) | ((b[i + 1] & 63) << 6) | (b[i + 2] & 63);
        if (v >= 0x10000 && v <= 0x10ffff) { cp = v; i += 3; }
      }
    }
    if (cp < 0) {
      if (strict) return -start - 1;
      cp = 0xfffd;
      i = start + 1;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023));
    } else units.push(cp);
    if (units.length >= CHUNK) { out += String.fromCharCode.apply(null, units); units.length = 0; }
  }
  if (units.length) out += String.fromCharCode.apply(null, units);
  return out;
}
