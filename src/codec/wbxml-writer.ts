// WBXML writer for the generic element tree (WBXML 1.3 §5; facts §3.1, §3.7).
// Byte layout follows libwbxml/SyncML RTK so our output compares byte for byte with
// `xml2wbxml -n`: header `02 A4 01 6A 00`, empty elements without the content bit, SWITCH_PAGE
// only before a tag whose page differs (END is page-independent), text as STR_I, bytes as OPAQUE.
import { XElement, XChild } from './element.js';
import { Result, fail, ok } from './errors.js';
import * as T from './wbxml-tables.js';

// Local copies: under module interop (tsx, CommonJS bundles) imported bindings are getters.
const TAG_CODES = T.TAG_CODES, pageOfNamespace = T.pageOfNamespace, CHARSET_UTF8 = T.CHARSET_UTF8;
const SWITCH_PAGE = T.SWITCH_PAGE, END = T.END, STR_I = T.STR_I, STR_T = T.STR_T, OPAQUE = T.OPAQUE, TAG_CONTENT = T.TAG_CONTENT;

export interface WbxmlWriteOptions {
  /** WBXML version byte, 0x00–0x03; default 0x02 (1.2) as DM clients send. */
  version?: number;
  /** Numeric id, or an FPI written through the string table. Default: by root element. */
  publicId?: number | string;
  /** Put repeated strings in the string table and refer to them with STR_T. Default false. */
  stringTable?: boolean;
}

/** Growable output buffer; doubling keeps appends amortised O(1) without per-byte arrays. */
class Out {
  buf: Uint8Array;
  n = 0;
  constructor(size: number) { this.buf = new Uint8Array(size); }
  ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + k) size *= 2;
    const nb = new Uint8Array(size);
    nb.set(this.buf.subarray(0, this.n), 0);
    this.buf = nb;
  }
  byte(v: number): void {
    if (this.n >= this.buf.length) this.ensure(1);
    this.buf[this.n++] = v;
  }
  mb(v: number): void {
    this.ensure(5);
    if (v < 128) { this.buf[this.n++] = v; return; }
    // Big-endian 7-bit groups, continuation bit on all but the last.
    let groups = 1;
    for (let t = v; t >= 128; t = Math.floor(t / 128)) groups++;
    for (let g = groups - 1; g >= 0; g--) {
      const part = Math.floor(v / Math.pow(128, g)) & 0x7f;
      this.buf[this.n++] = g ? part | 0x80 : part;
    }
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  /** Writes `s` as UTF-8 followed by NUL; false if `s` contains U+0000 (cannot be STR_I). */
  cstring(s: string): boolean {
    this.ensure(s.length * 3 + 1);
    const buf = this.buf;
    let o = this.n;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        if (c === 0) return false;
        buf[o++] = c;
      } else if (c < 0x800) {
        buf[o++] = 0xc0 | (c >> 6); buf[o++] = 0x80 | (c & 63);
      } else {
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
          const d = s.charCodeAt(i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            buf[o++] = 0xf0 | (c >> 18); buf[o++] = 0x80 | ((c >> 12) & 63);
            buf[o++] = 0x80 | ((c >> 6) & 63); buf[o++] = 0x80 | (c & 63);
            continue;
          }
        }
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
        buf[o++] = 0xe0 | (c >> 12); buf[o++] = 0x80 | ((c >> 6) & 63); buf[o++] = 0x80 | (c & 63);
      }
    }
    buf[o++] = 0;
    this.n = o;
    return true;
  }
}

// Strings shorter than this never go to the string table: STR_T plus an index costs as much.
const MIN_TABLE_STRING = 4;

/** Writes a WBXML document for `root`, whose elements must be on the DM code pages. */
export function writeWbxml(root: XElement, opts?: WbxmlWriteOptions): Result<Uint8Array> {
  const o = opts || {};
  const version = o.version === undefined ? 0x02 : o.version;
  if (!(version >= 0 && version <= 3)) return fail('unencodable', 'WBXML version ' + version + ' (0-3 supported)');
  const publicId = o.publicId === undefined ? (root.name === 'MgmtTree' ? T.FPI_DMDDF_12 : T.PUBLIC_ID_SYNCML_12) : o.publicId;
  if (typeof publicId === 'number' && !(publicId >= 1 && publicId <= 0xffffffff && Math.floor(publicId) === publicId)) {
    return fail('unencodable', 'public id ' + publicId);
  }

  // String table: the FPI (if textual) first, then repeated strings when asked for.
  const table = tableScratch;
  table.n = 0;
  const offsets = Object.create(null) as Record<string, number>;
  if (typeof publicId === 'string' && !table.cstring(publicId)) return release(), fail('unencodable', 'public id contains NUL');
  const useTable = !!o.stringTable;
  if (useTable) collectRepeated(root, table, offsets);

  const out = outScratch;
  out.n = 0;
  out.byte(version);
  if (typeof publicId === 'string') { out.byte(0); out.mb(0); } else out.mb(publicId);
  if (version > 0) out.mb(CHARSET_UTF8);
  out.mb(table.n);
  out.bytes(table.buf.subarray(0, table.n));

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
      if (p < 0) return release(), fail('unencodable', 'namespace "' + e.ns + '" of <' + e.name + '> has no WBXML code page');
      const code = TAG_CODES[p][e.name];
      if (code === undefined) return release(), fail('unencodable', '<' + e.name + '> is not on WBXML code page ' + p);
      if (p !== page) { out.byte(SWITCH_PAGE); out.byte(p); page = p; }
      if (!hasContent(e.children)) { out.byte(code); els.pop(); idx.pop(); continue; }
      out.byte(code | TAG_CONTENT);
      idx[d] = 0;
      continue;
    }
    if (i >= e.children.length) { out.byte(END); els.pop(); idx.pop(); continue; }
    idx[d] = i + 1;
    const c: XChild = e.children[i];
    if (typeof c === 'string') {
      if (c.length === 0) continue;
      if (useTable) {
        const off = offsets[c];
        if (off !== undefined) { out.byte(STR_T); out.mb(off); continue; }
      }
      out.byte(STR_I);
      if (!out.cstring(c)) return release(), fail('unencodable', 'text in <' + e.name + '> contains U+0000');
    } else if (c instanceof Uint8Array) {
      out.byte(OPAQUE);
      out.mb(c.length);
      out.bytes(c);
    } else {
      els.push(c);
      idx.push(-1);
    }
  }
  const result = out.buf.slice(0, out.n);
  release();
  return ok(result);
}

// Output buffers reused across calls (allocating typed arrays per message was ~10% of encode
// time); a buffer that grew past KEEP_BYTES is dropped so one large message does not pin memory.
const KEEP_BYTES = 1 << 16;
let outScratch = new Out(4096);
let tableScratch = new Out(256);
function release(): void {
  if (outScratch.buf.length > KEEP_BYTES) outScratch = new Out(4096);
  if (tableScratch.buf.length > KEEP_BYTES) tableScratch = new Out(256);
}

function hasContent(kids: XChild[]): boolean {
  for (let i = 0; i < kids.length; i++) {
    const c = kids[i];
    if (typeof c !== 'string' || c.length > 0) return true;
  }
  return false;
}

/** Adds each text value that occurs at least twice to the string table (first-seen order). */
function collectRepeated(root: XElement, table: Out, offsets: Record<string, number>): void {
  const seen = Object.create(null) as Record<string, number>;
  const order: string[] = [];
  const stack: XElement[] = [root];
  while (stack.length) {
    const e = stack.pop() as XElement;
    const kids = e.children;
    for (let i = kids.length - 1; i >= 0; i--) {
      const c = kids[i];
      if (typeof c === 'string') {
        if (c.length < MIN_TABLE_STRING) continue;
        const n = seen[c];
        if (n === undefined) { seen[c] = 1; order.push(c); } else seen[c] = n + 1;
      } else if (!(c instanceof Uint8Array)) stack.push(c);
    }
  }
  for (let i = 0; i < order.length; i++) {
    const s = order[i];
    if (seen[s] < 2) continue;
    const at = table.n;
    if (table.cstring(s)) offsets[s] = at;
    else table.n = at;
  }
}
