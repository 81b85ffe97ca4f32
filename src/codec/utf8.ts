// UTF-8 without TextEncoder/TextDecoder (QuickJS, Duktape and Espruino lack them).

/** Encodes a JS string as UTF-8. Lone surrogates become U+FFFD. */
export function utf8Encode(s: string): Uint8Array {
  const out = new Uint8Array(utf8Length(s));
  utf8Write(s, out, 0);
  return out;
}

/** Writes `s` as UTF-8 into `out` at `o` (room for utf8Length(s) bytes); returns the end. */
export function utf8Write(s: string, out: Uint8Array, o: number): number {
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
  return o;
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
    let cp = c;
    if (c >= 0x80) {
      // Continuation bytes after the lead byte (C0, C1 and F5..FF are never valid leads).
      const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
      cp = n && i + n <= end ? c & (0x7f >> (n + 1)) : -1;
      for (let k = 0; k < n && cp >= 0; k++) {
        const d = b[i + k];
        cp = (d & 0xc0) === 0x80 ? (cp << 6) | (d & 63) : -1;
      }
      // Overlong forms, surrogates and code points past U+10FFFF are invalid.
      if (cp < (n === 1 ? 0x80 : n === 2 ? 0x800 : 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = -1;
      else i += n;
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
