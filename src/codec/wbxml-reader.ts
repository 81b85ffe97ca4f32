// WBXML 1.0–1.3 reader producing the generic element tree (WBXML 1.3 §5; facts §3.1).
// Hostile input is bounded: one loop with an explicit element stack (no recursion), every
// length read from the input is checked against what remains before anything is allocated,
// and CodecLimits cap size, depth, element count, text and opaque lengths. Errors carry the
// byte offset of the token at fault. Tokens are written as numbers (names in comments,
// wbxml-tables.ts): imported bindings cost a getter call per use under module interop.
import { XElement } from './element.js';
import { CodecLimits, DEVICE_LIMITS, Result, ok } from './errors.js';
import { decodeUtf8OrRaise, codePointString } from './text.js';
import { PAGES, PAGE_NS, isDmPublicId } from './wbxml-tables.js';
import { raise, caught, TRUNC, MAL, LIM, UNK, UNS } from './raise.js';

export interface WbxmlDocument {
  /** WBXML version byte: 0x00 = 1.0 … 0x03 = 1.3. */
  version: number;
  /** Numeric public id, or the FPI text when it came from the string table. */
  publicId: number | string;
  /** IANA MIBenum; 106 (UTF-8) when the header has none (WBXML 1.0). */
  charset: number;
  root: XElement;
}

/** Position just after the last mb_u_int32 or string read (saves returning a pair). */
let mbEnd = 0;

/** Reads an mb_u_int32 at b[pos]. */
function readMb(b: Uint8Array, pos: number, end: number): number {
  let v = 0;
  const start = pos;
  for (let n = 0; n < 5; n++) {
    if (pos >= end) raise(TRUNC, 'mb_u_int32', start);
    const c = b[pos++];
    v = v * 128 + (c & 0x7f);
    if (c < 0x80) {
      if (v > 0xffffffff) break;
      mbEnd = pos;
      return v;
    }
  }
  return raise(MAL, 'bad mb_u_int32', start);
}

// Strings up to this length that are ASCII are built while scanning for the NUL; longer ones
// go through the chunked UTF-8 decoder (cheaper than character-wise concatenation on QuickJS).
const SHORT = 256;

/** Decodes the NUL-terminated UTF-8 string at b[pos..end); sets mbEnd past the NUL. */
function readCString(b: Uint8Array, pos: number, end: number, maxLen: number): string {
  const start = pos;
  const stop = end - start > maxLen + 1 ? start + maxLen + 1 : end;
  let high = 0;
  let c = 0;
  let ascii = '';
  while (pos < stop && (c = b[pos]) !== 0) {
    high |= c;
    if (high < 0x80 && pos - start < SHORT) ascii += String.fromCharCode(c);
    pos++;
  }
  if (pos >= stop) raise(stop < end ? LIM : TRUNC, 'string', start);
  mbEnd = pos + 1;
  // ASCII fast path: most DM text (URIs, codes, ids) is short ASCII, built during the scan.
  if (high < 0x80 && pos - start <= SHORT) return ascii;
  return decodeUtf8OrRaise(b, start, pos);
}

/** Reads a WBXML document whose tags are on the DM code pages (SyncML, MetInf, DM DDF). */
export function readWbxml(bytes: Uint8Array, limits?: CodecLimits): Result<WbxmlDocument> {
  try {
    return ok(read(bytes, limits || DEVICE_LIMITS));
  } catch (e) {
    // An engine-level failure (out of memory) is still a value, not a throw.
    return caught(e, LIM, 0);
  }
}

function read(b: Uint8Array, lim: CodecLimits): WbxmlDocument {
  const end = b.length;
  if (end > lim.maxBytes) raise(LIM, 'too large', 0);
  if (!end) raise(TRUNC, 'empty', 0);
  const version = b[0];
  if (version > 3) raise(UNS, 'version', 0);
  let publicId: number | string = readMb(b, 1, end);
  let pos = mbEnd;
  let fpiIndex = -1;
  const fpiAt = pos;
  if (!publicId) {
    fpiIndex = readMb(b, pos, end);
    pos = mbEnd;
  }
  let charset = 106; // UTF-8
  if (version) {
    charset = readMb(b, pos, end);
    // UTF-8, its subset US-ASCII, and 0 ("unknown", WBXML 1.3 §5.6), which some encoders write.
    if (charset !== 106 && charset !== 3 && charset) raise(UNS, 'charset', pos);
    pos = mbEnd;
  }
  const tblLen = readMb(b, pos, end);
  if (tblLen > end - mbEnd) raise(TRUNC, 'string table', pos);
  const tbl = mbEnd;
  const tblEnd = tbl + tblLen;
  pos = tblEnd;

  if (fpiIndex >= 0) {
    if (fpiIndex >= tblLen) raise(MAL, 'string-table index', fpiAt);
    publicId = readCString(b, tbl + fpiIndex, tblEnd, 256);
  }
  if (!isDmPublicId(publicId)) raise(UNS, 'public id ' + publicId, 1);

  let page = 0;
  let tags = PAGES[0];
  let ns = PAGE_NS[0];
  const stack: XElement[] = [];
  let top: XElement | null = null;
  let root: XElement | null = null;
  let elements = 0;
  // Byte length of the text run being merged at the end of `top`, for maxStringBytes.
  let runBytes = 0;
  // All text produced so far. Only STR_T can make more text than the input holds (one long
  // string-table entry referenced from thousands of elements), so bounding the total by
  // maxBytes stops that amplification.
  let textBytes = 0;

  while (pos < end) {
    const at = pos;
    const tok = b[pos++];
    if (tok === 1) { // END
      if (!top) raise(MAL, 'END', at);
      stack.pop();
      top = stack.length ? stack[stack.length - 1] : null;
      runBytes = -1;
      if (!top) break;
      continue;
    }
    // STR_I, STR_T, ENTITY, OPAQUE
    if (tok === 3 || tok === 0x83 || tok === 2 || tok === 0xc3) {
      if (!top) raise(MAL, 'text outside root', at);
      const kids = top.children;
      let piece: string;
      let len: number;
      if (tok === 3) {
        piece = readCString(b, pos, end, lim.maxStringBytes);
        len = mbEnd - pos - 1;
        pos = mbEnd;
      } else if (tok === 0x83) {
        const idx = readMb(b, pos, end);
        pos = mbEnd;
        if (idx >= tblLen) raise(MAL, 'string-table index', at);
        piece = readCString(b, tbl + idx, tblEnd, lim.maxStringBytes);
        len = mbEnd - tbl - idx - 1;
      } else if (tok === 2) {
        const cp = readMb(b, pos, end);
        pos = mbEnd;
        if (!cp || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) raise(MAL, 'bad entity', at);
        piece = codePointString(cp);
        len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      } else {
        const n = readMb(b, pos, end);
        pos = mbEnd;
        if (n > lim.maxOpaqueBytes) raise(LIM, 'opaque too long', at);
        if (n > end - pos) raise(TRUNC, 'opaque', at);
        const last = kids.length ? kids[kids.length - 1] : null;
        if (last instanceof Uint8Array) {
          if (last.length + n > lim.maxOpaqueBytes) raise(LIM, 'opaque too long', at);
          const joined = new Uint8Array(last.length + n);
          joined.set(last, 0);
          joined.set(b.subarray(pos, pos + n), last.length);
          kids[kids.length - 1] = joined;
        } else kids.push(b.slice(pos, pos + n));
        pos += n;
        runBytes = -1;
        continue;
      }
      textBytes += len;
      if (textBytes > lim.maxBytes) raise(LIM, 'string-table expansion', at);
      if (runBytes >= 0 && kids.length && typeof kids[kids.length - 1] === 'string') {
        runBytes += len;
        if (runBytes > lim.maxStringBytes) raise(LIM, 'text too long', at);
        kids[kids.length - 1] += piece;
      } else {
        if (len > lim.maxStringBytes) raise(LIM, 'text too long', at);
        runBytes = len;
        if (len > 0) kids.push(piece);
      }
      continue;
    }
    if (tok === 0) { // SWITCH_PAGE
      if (pos >= end) raise(TRUNC, 'SWITCH_PAGE', at);
      page = b[pos++];
      if (page >= PAGES.length) raise(UNK, 'code page ' + page, at);
      tags = PAGES[page];
      ns = PAGE_NS[page];
      continue;
    }
    const code = tok & 0x3f;
    // LITERAL*, EXT*, PI: valid WBXML that DM never uses; nor attributes (DM defines none).
    if (code < 5 || tok & 0x80) raise(UNS, 'token ' + tok, at);
    const name = tags[code - 5];
    if (!name) raise(UNK, 'tag ' + code + ' page ' + page, at);
    if (!top && root) raise(MAL, 'after root', at);
    if (++elements > lim.maxElements) raise(LIM, 'too many elements', at);
    if (stack.length >= lim.maxDepth) raise(LIM, 'too deep', at);
    const e: XElement = { name: name, ns: ns, children: [] };
    if (top) top.children.push(e);
    else root = e;
    runBytes = -1;
    if (tok & 0x40) { // content follows
      stack.push(e);
      top = e;
    } else if (!top) break; // an empty root element is the whole document
  }
  if (!root) raise(TRUNC, 'no root', pos);
  if (top) raise(TRUNC, '<' + top.name + '>', end);
  if (pos < end) raise(MAL, 'after root', pos);
  return { version: version, publicId: publicId, charset: charset, root: root };
}
