// Text helpers the XML and WBXML readers share, so both read characters the same way.
import { utf8DecodeStrict } from './utf8.js';
import { raise, MAL } from './raise.js';

/** Strict UTF-8 of b[start..end); an invalid sequence is 'malformed' at its byte offset. */
export function decodeUtf8OrRaise(b: Uint8Array, start: number, end: number): string {
  const r = utf8DecodeStrict(b, start, end);
  return typeof r === 'number' ? raise(MAL, 'bad UTF-8', -r - 1) : r;
}

/** The UTF-16 string for a code point already checked to be a valid character (≤ U+10FFFF). */
export function codePointString(cp: number): string {
  return cp < 0x10000 ? String.fromCharCode(cp)
    : String.fromCharCode(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + (cp & 1023));
}
