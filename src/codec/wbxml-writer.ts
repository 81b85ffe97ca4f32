// WBXML writer for the generic element tree (WBXML 1.3 §5; facts §3.1, §3.7).
// Byte layout follows libwbxml/SyncML RTK so our output compares byte for byte with
// `xml2wbxml -n`: header `02 A4 01 6A 00`, empty elements without the content bit, SWITCH_PAGE
// only before a tag whose page differs (END is page-independent), text as STR_I, bytes as OPAQUE.
// Tokens are written as numbers (names in comments, wbxml-tables.ts).
import { XElement, XChild } from './element.js';
import { Result, ok } from './errors.js';
import { utf8Write } from './utf8.js';
import { TAG_CODES, pageOfNamespace, FPI_DMDDF_12 } from './wbxml-tables.js';
import { raise, caught, UNENC } from './raise.js';

export interface WbxmlWriteOptions {
  /** WBXML version byte, 0x00–0x03; default 0x02 (1.2) as DM clients send. */
  version?: number;
  /** Numeric id, or an FPI written through the string table. Default: by root element. */
  publicId?: number | string;
  /** Put repeated strings in the string table and refer to them with STR_T. Default false. */
  stringTable?: boolean;
}

// The output being written: one growable buffer, reused across calls (allocating typed arrays
// per message was ~10% of encode time); doubling keeps appends amortised O(1). A buffer that
// grew past 64 KB is dropped after the call so one large message does not pin memory.
let buf = new Uint8Array(4096);
let n = 0;

function ensure(k: number): void {
  if (n + k <= buf.length) return;
  let size = buf.length * 2;
  while (size < n + k) size *= 2;
  const nb = new Uint8Array(size);
  nb.set(buf.subarray(0, n), 0);
  buf = nb;
}

function byte(v: number): void {
  ensure(1);
  buf[n++] = v;
}

/** mb_u_int32: big-endian 7-bit groups, continuation bit on all but the last (v < 2^32). */
function mb(v: number): void {
  let s = 28;
  while (s && !(v >>> s)) s -= 7;
  for (; s; s -= 7) byte(((v >>> s) & 0x7f) | 0x80);
  byte(v & 0x7f);
}

function bytes(b: Uint8Array): void {
  ensure(b.length);
  buf.set(b, n);
  n += b.length;
}

/** `s` as UTF-8 and a NUL; U+0000 inside cannot be carried (STR_I is NUL-terminated). */
function cstring(s: string): void {
  if (s.indexOf('\u0000') >= 0) raise(UNENC, 'U+0000');
  ensure(s.length * 3 + 1);
  n = utf8Write(s, buf, n);
  buf[n++] = 0;
}

/** Writes a WBXML document for `root`, whose elements must be on the DM code pages. */
export function writeWbxml(root: XElement, opts?: WbxmlWriteOptions): Result<Uint8Array> {
  const o = opts || {};
  const version = o.version === undefined ? 2 : o.version;
  const publicId = o.publicId === undefined ? (root.name === 'MgmtTree' ? FPI_DMDDF_12 : 0x1201) : o.publicId;
  const useTable = !!o.stringTable;
  n = 0;
  try {
    if (!(version >= 0 && version <= 3)) raise(UNENC, 'version');
    if (typeof publicId === 'number' && !(publicId >= 1 && publicId <= 0xffffffff && Math.floor(publicId) === publicId)) raise(UNENC, 'public id');
    // String table, built at the start of the buffer and moved behind the header below: the
    // FPI (if textual) first, then strings that occur twice or more, when asked for.
    const offsets = Object.create(null) as Record<string, number>;
    if (typeof publicId === 'string') cstring(publicId);
    if (useTable) collectRepeated(root, offsets);
    const table = buf.slice(0, n);
    n = 0;
    byte(version);
    if (typeof publicId === 'string') { byte(0); mb(0); } else mb(publicId);
    if (version) mb(106); // charset UTF-8
    mb(table.length);
    bytes(table);

    // Depth-first walk with an explicit stack (element, next child index): no recursion.
    const els: XElement[] = [root];
    const idx: number[] = [-1];
    let page = 0;
    while (els.length) {
      const d = els.length - 1;
      const e = els[d];
      const i = idx[d];
      if (i < 0) {
        const p = pageOfNamespace(e.ns);
        if (p < 0) raise(UNENC, 'namespace ' + e.ns);
        const code = TAG_CODES[p][e.name];
        if (code === undefined) raise(UNENC, '<' + e.name + '>');
        if (p !== page) { byte(0); byte(p); page = p; } // SWITCH_PAGE
        let content = false;
        for (let k = 0; k < e.children.length && !content; k++) content = e.children[k] !== '';
        if (!content) { byte(code); els.pop(); idx.pop(); continue; }
        byte(code | 0x40);
        idx[d] = 0;
        continue;
      }
      if (i >= e.children.length) { byte(1); els.pop(); idx.pop(); continue; } // END
      idx[d] = i + 1;
      const c: XChild = e.children[i];
      if (typeof c === 'string') {
        if (!c) continue;
        const off = useTable ? offsets[c] : undefined;
        if (off !== undefined) { byte(0x83); mb(off); continue; } // STR_T
        byte(3); // STR_I
        cstring(c);
      } else if (c instanceof Uint8Array) {
        byte(0xc3); // OPAQUE
        mb(c.length);
        bytes(c);
      } else {
        els.push(c);
        idx.push(-1);
      }
    }
    return ok(buf.slice(0, n));
  } catch (e) {
    return caught(e, UNENC);
  } finally {
    if (buf.length > 1 << 16) buf = new Uint8Array(4096);
  }
}

// Strings shorter than this never go to the string table: STR_T plus an index costs as much.
const MIN_TABLE_STRING = 4;

/** Adds each text value that occurs at least twice to the string table (first-seen order). */
function collectRepeated(root: XElement, offsets: Record<string, number>): void {
  const seen = Object.create(null) as Record<string, number>;
  const order: string[] = [];
  const stack: XElement[] = [root];
  while (stack.length) {
    const kids = (stack.pop() as XElement).children;
    for (let i = kids.length - 1; i >= 0; i--) {
      const c = kids[i];
      if (typeof c === 'string') {
        if (c.length < MIN_TABLE_STRING) continue;
        if (seen[c]) seen[c]++;
        else { seen[c] = 1; order.push(c); }
      } else if (!(c instanceof Uint8Array)) stack.push(c);
    }
  }
  for (let i = 0; i < order.length; i++) {
    const s = order[i];
    if (seen[s] > 1 && s.indexOf('\u0000') < 0) {
      offsets[s] = n;
      cstring(s);
    }
  }
}
