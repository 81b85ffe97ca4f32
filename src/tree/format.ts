// Node Format values (DM TND 1.2 §8.3.7.3) and the value checks this device applies on Add and
// Replace. A value that does not match its declared format is refused with 400 rather than stored,
// so a later Get never returns something the format promises it is not.

import type { ItemData } from '../codec/model.js';
import { base64Decode } from '../codec/base64.js';
import { utf8Length } from '../codec/utf8.js';

export const FORMATS = ['b64', 'bin', 'bool', 'chr', 'int', 'node', 'null', 'xml', 'date', 'time', 'float'];

export function knownFormat(f: string): boolean {
  return FORMATS.indexOf(f) >= 0;
}

export function dataText(d: ItemData | undefined): string | undefined {
  if (d === undefined || typeof d === 'string') return d;
  let s = '';
  for (let i = 0; i < d.length; i++) s += String.fromCharCode(d[i]);
  return s;
}

export function dataSize(d: ItemData | undefined): number {
  if (d === undefined) return 0;
  return typeof d === 'string' ? utf8Length(d) : d.length;
}

/** Lexical forms of the formats that have one; exactly these refuse an empty value. */
const LEXICAL: { [format: string]: RegExp } = {
  bool: /^(true|false)$/,
  // 32-bit signed (DM TND §8.3.7.3): at most 10 digits here, the range is checked after.
  int: /^[+-]?[0-9]{1,10}$/,
  float: /^([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|-?INF|NaN)$/,
  date: /^[0-9]{4}-?(0[1-9]|1[0-2])-?(0[1-9]|[12][0-9]|3[01])$/,
  time: /^([01][0-9]|2[0-3]):?[0-5][0-9](:?[0-5][0-9](\.[0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$/,
};

/** 200 when `data` is acceptable for `format`, 400 when not, 415 when the format is unknown. */
export function checkValue(format: string, data: ItemData | undefined): number {
  if (!knownFormat(format)) return 415;
  const t = typeof data === 'string' ? data.trim() : dataText(data);
  if (t === undefined) return 200;
  // Only known formats get here, so the lookup never meets an Object.prototype name.
  const lexical = LEXICAL[format];
  if (t === '') return lexical ? 400 : 200;
  if (format === 'node' || format === 'null') return 400;
  if (lexical && !lexical.test(t)) return 400;
  if (format === 'int') {
    const n = parseInt(t, 10);
    return n >= -2147483648 && n <= 2147483647 ? 200 : 400;
  }
  if (format === 'b64') return typeof data !== 'string' || base64Decode(t) !== null ? 200 : 400;
  return 200;
}

/** ISO 8601 basic UTC timestamp ("20010711T163817Z", the DM TND TStamp example form) from epoch ms. */
export function isoStamp(ms: number): string {
  const sec = Math.floor(ms / 1000);
  let days = Math.floor(sec / 86400);
  const rem = sec - days * 86400;
  // Civil-from-days (H. Hinnant), valid for the whole proleptic Gregorian range we need.
  days += 719468;
  const era = Math.floor(days / 146097);
  const doe = days - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return String(y) + p2(m) + p2(d) + 'T' + p2(Math.floor(rem / 3600)) + p2(Math.floor(rem / 60) % 60) + p2(rem % 60) + 'Z';
}

function p2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}
