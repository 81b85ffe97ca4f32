// WBXML 1.0–1.3 reader producing the generic element tree (WBXML 1.3 §5; facts §3.1).
// Hostile input is bounded: one loop with an explicit element stack (no recursion), every
// length read from the input is checked against what remains before anything is allocated,
// and CodecLimits cap size, depth, element count, text and opaque lengths. Errors carry the
// byte offset of the token at fault.
import { XElement, XChild } from './element.js';
import { CodecErrorKind, CodecLimits, DEVICE_LIMITS, Result, fail, ok } from './errors.js';
import { utf8DecodeStrict } from './utf8.js';
import * as T from './wbxml-tables.js';

// Local copies of the table constants: under module interop (tsx, CommonJS bundles) every
// imported binding is a getter call, which dominated the hot loop (measured ~2x).
const PAGES = T.PAGES, PAGE_NS = T.PAGE_NS, FIRST_TAG = T.FIRST_TAG, isDmPublicId = T.isDmPublicId;
const CHARSET_UTF8 = T.CHARSET_UTF8, CHARSET_US_ASCII = T.CHARSET_US_ASCII, CHARSET_UNKNOWN = T.CHARSET_UNKNOWN;
const SWITCH_PAGE = T.SWITCH_PAGE, END = T.END, ENTITY = T.ENTITY, STR_I = T.STR_I, STR_T = T.STR_T;
const OPAQUE = T.OPAQUE, TAG_CONTENT = T.TAG_CONTENT, TAG_ATTRIBUTES = T.TAG_ATTRIBUTES;

export interface WbxmlDocument {
  /** WBXML version byte: 0x00 = 1.0 … 0x03 = 1.3. */
  version: number;
  /** Numeric public id, or the FPI text when it came from the string table. */
  publicId: number | string;
  /** IANA MIBenum; 106 (UTF-8) when the header has none (WBXML 1.0). */
  charset: number;
  root: XElement;
}

interface Err { kind: CodecErrorKind; message: string; offset: number }

// The first error of the current call, set by the helpers below. Module-level state instead of
// closures or result objects keeps the hot loop allocation-free; readWbxml resets it per call
// (decoding is synchronous, so calls never interleave).
let err: Err | null = null;

function setErr(kind: CodecErrorKind, message: string, offset: number): number {
  if (!err) err = { kind, message, offset };
  return -1;
}

function bad(kind: CodecErrorKind, message: string, offset: number): null {
  setErr(kind, message, offset);
  return null;
}

/** Position just after the last mb_u_int32 or string read (saves returning a pair). */
let mbEnd = 0;

/** Reads an mb_u_int32 at b[pos]; returns the value, or -1 with `err` set. */
function readMb(b: Uint8Array, pos: number, end: number): number {
  let v = 0;
  const start = pos;
  for (let n = 0; n < 5; n++) {
    if (pos >= end) return setErr('truncated', 'input ends inside a multi-byte integer', start);
    const c = b[pos++];
    v = v * 128 + (c & 0x7f);
    if ((c & 0x80) === 0) {
      if (v > 0xffffffff) return setErr('malformed', 'multi-byte integer exceeds 32 bits', start);
      mbEnd = pos;
      return v;
    }
  }
  return setErr('malformed', 'multi-byte integer longer than 5 bytes', start);
}

// Strings up to this length that are ASCII are built while scanning for the NUL; longer ones
// go through the chunked UTF-8 decoder (cheaper than character-wise concatenation on QuickJS).
const SHORT = 256;

/** Decodes the NUL-terminated UTF-8 string at b[pos..end); sets mbEnd past the NUL. */
function readCString(b: Uint8Array, pos: number, end: number, maxLen: number, what: string): string | null {
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
  if (pos >= stop) {
    if (stop < end) { setErr('limit', what + ' longer than ' + maxLen + ' bytes', start); return null; }
    setErr('truncated', 'input ends inside ' + what, start);
    return null;
  }
  mbEnd = pos + 1;
  // ASCII fast path: most DM text (URIs, codes, ids) is short ASCII, built during the scan.
  if (high < 0x80 && pos - start <= SHORT) return ascii;
  const r = utf8DecodeStrict(b, start, pos);
  if (typeof r === 'number') { setErr('malformed', 'invalid UTF-8 in ' + what, -r - 1); return null; }
  return r;
}

/** Reads a WBXML document whose tags are on the DM code pages (SyncML, MetInf, DM DDF). */
export function readWbxml(bytes: Uint8Array, limits?: CodecLimits): Result<WbxmlDocument> {
  err = null;
  const lim = limits || DEVICE_LIMITS;
  try {
    const doc = read(bytes, lim);
    if (doc) return ok(doc);
    const e = err || { kind: 'malformed' as CodecErrorKind, message: 'unreadable WBXML', offset: 0 };
    err = null;
    return fail(e.kind, e.message, e.offset);
  } catch (e) {
    // Defensive: an engine-level failure (out of memory) must still be a value, not a throw.
    err = null;
    return fail('limit', 'decoder failed: ' + (e instanceof Error ? e.message : String(e)), 0);
  }
}

function read(b: Uint8Array, lim: CodecLimits): WbxmlDocument | null {
  const end = b.length;
  if (end > lim.maxBytes) return bad('limit', 'message of ' + end + ' bytes exceeds ' + lim.maxBytes, 0);
  if (end === 0) return bad('truncated', 'empty input', 0);
  let pos = 0;
  const version = b[pos++];
  if (version > 3) return bad('unsupported', 'WBXML version byte 0x' + version.toString(16), 0);

  let publicId: number | string = readMb(b, pos, end);
  if (publicId < 0) return null;
  pos = mbEnd;
  let fpiIndex = -1;
  const fpiAt = pos;
  if (publicId === 0) {
    fpiIndex = readMb(b, pos, end);
    if (fpiIndex < 0) return null;
    pos = mbEnd;
  }
  let charset = CHARSET_UTF8;
  if (version > 0) {
    const at = pos;
    charset = readMb(b, pos, end);
    if (charset < 0) return null;
    pos = mbEnd;
    if (charset !== CHARSET_UTF8 && charset !== CHARSET_US_ASCII && charset !== CHARSET_UNKNOWN) {
      return bad('unsupported', 'charset MIBenum ' + charset + ' (only UTF-8 is supported)', at);
    }
  }
  const tblAt = pos;
  const tblLen = readMb(b, pos, end);
  if (tblLen < 0) return null;
  pos = mbEnd;
  if (tblLen > end - pos) return bad('truncated', 'string table of ' + tblLen + ' bytes runs past the input', tblAt);
  const tbl = pos;
  const tblEnd = pos + tblLen;
  pos = tblEnd;

  if (fpiIndex >= 0) {
    if (fpiIndex >= tblLen) return bad('malformed', 'public id string-table index ' + fpiIndex + ' out of range', fpiAt);
    const s = readCString(b, tbl + fpiIndex, tblEnd, 256, 'public id string');
    if (s === null) return null;
    publicId = s;
  }
  if (!isDmPublicId(publicId)) {
    return bad('unsupported', 'public id ' + (typeof publicId === 'number' ? '0x' + publicId.toString(16) : '"' + publicId + '"') + ' is not a DM document type', 1);
  }

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
    if (tok === END) {
      if (!top) return bad('malformed', 'END without an open element', at);
      stack.pop();
      top = stack.length ? stack[stack.length - 1] : null;
      runBytes = -1;
      if (!top) break;
      continue;
    }
    if (tok === STR_I || tok === STR_T || tok === ENTITY || tok === OPAQUE) {
      if (!top) return bad('malformed', 'content outside the root element', at);
      let piece: XChild;
      let len: number;
      if (tok === STR_I) {
        const s = readCString(b, pos, end, lim.maxStringBytes, 'inline string');
        if (s === null) return null;
        len = mbEnd - pos - 1;
        pos = mbEnd;
        piece = s;
      } else if (tok === STR_T) {
        const idx = readMb(b, pos, end);
        if (idx < 0) return null;
        pos = mbEnd;
        if (idx >= tblLen) return bad('malformed', 'string-table index ' + idx + ' out of range (table has ' + tblLen + ' bytes)', at);
        const s = readCString(b, tbl + idx, tblEnd, lim.maxStringBytes, 'string-table string');
        if (s === null) return null;
        len = mbEnd - tbl - idx - 1;
        piece = s;
      } else if (tok === ENTITY) {
        const cp = readMb(b, pos, end);
        if (cp < 0) return null;
        pos = mbEnd;
        if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return bad('malformed', 'entity U+' + cp.toString(16) + ' is not a character', at);
        if (cp >= 0x10000) {
          const c = cp - 0x10000;
          piece = String.fromCharCode(0xd800 + (c >> 10), 0xdc00 + (c & 1023));
        } else piece = String.fromCharCode(cp);
        len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      } else {
        const n = readMb(b, pos, end);
        if (n < 0) return null;
        pos = mbEnd;
        if (n > lim.maxOpaqueBytes) return bad('limit', 'opaque data of ' + n + ' bytes exceeds ' + lim.maxOpaqueBytes, at);
        if (n > end - pos) return bad('truncated', 'opaque data of ' + n + ' bytes runs past the input', at);
        const kids = top.children;
        const last = kids.length ? kids[kids.length - 1] : null;
        if (last instanceof Uint8Array) {
          if (last.length + n > lim.maxOpaqueBytes) return bad('limit', 'opaque data exceeds ' + lim.maxOpaqueBytes + ' bytes', at);
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
      if (textBytes > lim.maxBytes) return bad('limit', 'text expands to more than ' + lim.maxBytes + ' bytes (string-table references)', at);
      const kids = top.children;
      if (runBytes >= 0 && kids.length && typeof kids[kids.length - 1] === 'string') {
        runBytes += len;
        if (runBytes > lim.maxStringBytes) return bad('limit', 'text longer than ' + lim.maxStringBytes + ' bytes', at);
        kids[kids.length - 1] = (kids[kids.length - 1] as string) + piece;
      } else {
        if (len > lim.maxStringBytes) return bad('limit', 'text longer than ' + lim.maxStringBytes + ' bytes', at);
        runBytes = len;
        if (len > 0) kids.push(piece);
      }
      continue;
    }
    if (tok === SWITCH_PAGE) {
      if (pos >= end) return bad('truncated', 'input ends inside SWITCH_PAGE', at);
      page = b[pos++];
      if (page >= PAGES.length) return bad('unknown-element', 'code page ' + page + ' is not a DM code page', at);
      tags = PAGES[page];
      ns = PAGE_NS[page];
      continue;
    }
    const code = tok & 0x3f;
    if (code < FIRST_TAG) {
      // LITERAL*, EXT*, PI: valid WBXML that DM never uses.
      return bad('unsupported', 'token 0x' + tok.toString(16) + ' (literal, extension or processing instruction)', at);
    }
    if (tok & TAG_ATTRIBUTES) return bad('unsupported', 'attributes on a tag (DM defines none)', at);
    const name = tags[code - FIRST_TAG];
    if (!name) return bad('unknown-element', 'tag 0x' + code.toString(16) + ' on code page ' + page, at);
    if (!top && root) return bad('malformed', 'content after the root element', at);
    if (++elements > lim.maxElements) return bad('limit', 'more than ' + lim.maxElements + ' elements', at);
    if (stack.length >= lim.maxDepth) return bad('limit', 'nesting deeper than ' + lim.maxDepth, at);
    const e: XElement = { name: name, ns: ns, children: [] };
    if (top) top.children.push(e);
    else root = e;
    runBytes = -1;
    if (tok & TAG_CONTENT) {
      stack.push(e);
      top = e;
    } else if (!top) break; // an empty root element is the whole document
  }
  if (!root) return bad('truncated', 'no root element', pos);
  if (top) return bad('truncated', 'input ends inside <' + top.name + '>', end);
  if (pos < end) return bad('malformed', 'bytes after the root element', pos);
  return { version: version, publicId: publicId, charset: charset, root: root };
}
