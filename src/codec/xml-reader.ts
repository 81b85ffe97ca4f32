// A small XML 1.0 reader for DM messages: bytes in, generic element tree out (element.ts).
// Built for hostile input on a device: one pass over the bytes with an explicit element stack
// (no recursion), every loop bounded by the input length, limits checked before work grows.
// Deliberately not supported: DOCTYPE internal subsets (no entity declarations, hence no entity
// expansion and no entity bombs) and attributes other than namespace declarations (the SyncML,
// MetInf and DDF DTDs define none; others are checked for syntax and ignored).
import { XElement } from './element.js';
import { CodecLimits, CodecErrorKind, DEVICE_LIMITS, Result, fail, ok } from './errors.js';
import { utf8Encode, utf8DecodeStrict } from './utf8.js';

// Property names are short because minifiers keep them and this code ships on devices.
interface Frame {
  /** Qualified name as written, to match the end tag. */
  q: string;
  el: XElement;
  /** Prefix -> namespace pairs this element declares ('' = default namespace). */
  ns: string[] | null;
  /** Text pieces not yet attached; kept apart so whitespace between elements can be dropped. */
  tx: string[];
  /** Length of the pending text, for the string limit. */
  tl: number;
  /** True when some pending text came from CDATA or a reference (never "just layout"). */
  sig: boolean;
  /** True once a child element was seen. */
  kids: boolean;
}

/** Thrown inside the parser only; readXml turns it into a Result. */
interface XmlError { xk: CodecErrorKind; m: string; at: number }

const MAL: CodecErrorKind = 'malformed';
const WS_ONLY = /^[ \t\r\n]*$/;

function isNameByte(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
    c === 95 || c === 58 || c === 45 || c === 46 || c >= 0x80;
}

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 9 || c === 13;
}

/** Reads one XML document. Strings are read as their UTF-8 encoding, so offsets are byte offsets. */
export function readXml(input: Uint8Array | string, limits?: CodecLimits): Result<XElement> {
  const lim = limits || DEVICE_LIMITS;
  const b = typeof input === 'string' ? utf8Encode(input) : input;
  if (b.length > lim.maxBytes) return fail('limit', `message of ${b.length} bytes exceeds ${lim.maxBytes}`, 0);
  try {
    return ok(parse(b, lim));
  } catch (e) {
    const x = e as XmlError;
    if (x && x.xk) {
      const lc = lineCol(b, x.at);
      return fail(x.xk, x.m, x.at, lc[0], lc[1]);
    }
    // Engine limits (out of memory) still surface as a typed error, never as an exception.
    return fail('limit', 'reader failed: ' + String(e), 0);
  }
}

/** 1-based line and column (in characters) of a byte offset. */
function lineCol(b: Uint8Array, off: number): number[] {
  let line = 1;
  let col = 1;
  const end = Math.min(off, b.length);
  for (let i = 0; i < end; i++) {
    const c = b[i];
    if (c === 10) { line++; col = 1; } else if ((c & 0xc0) !== 0x80) col++;
  }
  return [line, col];
}

function parse(b: Uint8Array, lim: CodecLimits): XElement {
  const n = b.length;
  let i = 0;
  const stack: Frame[] = [];
  let root: XElement | null = null;
  let count = 0;
  let sawDoctype = false;
  // Namespace declarations in scope, bounded so prefix lookups stay cheap on hostile input.
  let nsInScope = 0;

  function err(kind: CodecErrorKind, msg: string, at: number): never {
    const x: XmlError = { xk: kind, m: msg, at };
    throw x;
  }
  function eof(what: string): never {
    return err('truncated', 'input ends inside ' + what, n);
  }
  function need(k: number, what: string): void {
    if (i + k > n) eof(what);
  }
  function startsWith(s: string, at: number): boolean {
    if (at + s.length > n) return false;
    for (let k = 0; k < s.length; k++) if (b[at + k] !== s.charCodeAt(k)) return false;
    return true;
  }
  /** Index of the ASCII string `s` at or after `from`, or -1. */
  function find(s: string, from: number): number {
    const c0 = s.charCodeAt(0);
    for (let k = from; k + s.length <= n; k++) if (b[k] === c0 && startsWith(s, k)) return k;
    return -1;
  }
  function decodeText(start: number, end: number): string {
    const r = utf8DecodeStrict(b, start, end);
    if (typeof r === 'number') err(MAL, 'invalid UTF-8', -r - 1);
    return r as string;
  }
  function skipWs(): void {
    while (i < n && isWs(b[i])) i++;
  }
  function readName(what: string): string {
    const start = i;
    if (i >= n) eof(what);
    const c = b[i];
    if (!isNameByte(c) || (c >= 48 && c <= 57) || c === 45 || c === 46) err(MAL, `bad ${what}`, i);
    let ascii = true;
    while (i < n && isNameByte(b[i])) { if (b[i] >= 0x80) ascii = false; i++; }
    if (i >= n) eof(what);
    if (i - start > 256) err('limit', `${what} longer than 256 bytes`, start);
    if (ascii) {
      let s = '';
      for (let k = start; k < i; k++) s += String.fromCharCode(b[k]);
      return s;
    }
    return decodeText(start, i);
  }
  /** Checks characters XML forbids; CR and CRLF become LF (XML 1.0 §2.11). */
  function checkedText(start: number, end: number): string {
    // One pass for the common all-ASCII run (most of a DM message); UTF-8 goes to the decoder.
    let cr = false;
    let out = '';
    const units: number[] = [];
    for (let k = start; k < end; k++) {
      const c = b[k];
      if (c >= 0x80) {
        for (let j = k; j < end; j++) {
          const d = b[j];
          if (d < 32) {
            if (d === 13) cr = true;
            else if (d !== 9 && d !== 10) err(MAL, `control character 0x${d.toString(16)}`, j);
          }
        }
        out += String.fromCharCode.apply(null, units) + decodeText(k, end);
        return cr ? out.replace(/\r\n?/g, '\n') : out;
      }
      if (c < 32) {
        if (c === 13) cr = true;
        else if (c !== 9 && c !== 10) err(MAL, `control character 0x${c.toString(16)}`, k);
      }
      units.push(c);
      // Chunks stay under Espruino's 256-argument limit for Function.apply.
      if (units.length === 256) { out += String.fromCharCode.apply(null, units); units.length = 0; }
    }
    out += String.fromCharCode.apply(null, units);
    return cr ? out.replace(/\r\n?/g, '\n') : out;
  }
  /** Reads `&...;` at i (b[i] === '&') and returns its text. No general entities beyond the five predefined. */
  function reference(): string {
    const start = i;
    const semi = boundedIndexOf(59, i + 1, 12);
    if (semi < 0) {
      if (n - i < 12 && onlyRefChars(i + 1, n)) eof('a reference');
      err(MAL, 'bad character or entity reference', start);
    }
    i = semi + 1;
    if (b[start + 1] === 35) {
      let cp = 0;
      let k = start + 2;
      const hex = b[k] === 120;
      if (hex) k++;
      if (k === semi) err(MAL, 'bad character reference', start);
      for (; k < semi; k++) {
        const c = b[k];
        let d = -1;
        if (c >= 48 && c <= 57) d = c - 48;
        else if (hex && c >= 97 && c <= 102) d = c - 87;
        else if (hex && c >= 65 && c <= 70) d = c - 55;
        if (d < 0) err(MAL, 'bad character reference', start);
        cp = cp * (hex ? 16 : 10) + d;
        if (cp > 0x10ffff) err(MAL, 'bad character reference', start);
      }
      if (!(cp === 9 || cp === 10 || cp === 13 || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || cp >= 0x10000)) {
        err(MAL, 'bad character reference', start);
      }
      if (cp < 0x10000) return String.fromCharCode(cp);
      cp -= 0x10000;
      return String.fromCharCode(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023));
    }
    let name = '';
    for (let k = start + 1; k < semi; k++) name += String.fromCharCode(b[k]);
    switch (name) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'amp': return '&';
      case 'quot': return '"';
      case 'apos': return "'";
    }
    return err(MAL, `undeclared entity &${name};`, start);
  }
  function onlyRefChars(from: number, to: number): boolean {
    for (let k = from; k < to; k++) if (!isNameByte(b[k]) && b[k] !== 35) return false;
    return true;
  }
  function boundedIndexOf(c: number, from: number, max: number): number {
    const end = Math.min(n, from + max);
    for (let k = from; k < end; k++) if (b[k] === c) return k;
    return -1;
  }
  /** Attribute value at i (a quote). */
  function attrValue(): string {
    const q = b[i];
    if (q !== 34 && q !== 39) err(MAL, 'attribute value must be quoted', i);
    i++;
    const parts: string[] = [];
    let runStart = i;
    for (;;) {
      if (i >= n) eof('an attribute value');
      const c = b[i];
      if (c === q) break;
      if (c === 60) err(MAL, "'<' in attribute value", i);
      if (c === 38) {
        if (i > runStart) parts.push(checkedText(runStart, i));
        parts.push(reference());
        runStart = i;
        continue;
      }
      i++;
    }
    if (i > runStart) parts.push(checkedText(runStart, i));
    i++;
    const v = parts.join('');
    if (v.length > lim.maxStringBytes) err('limit', 'attribute value too long', runStart);
    return v;
  }
  function resolve(prefix: string, at: number): string {
    if (prefix === 'xml') return 'http://www.w3.org/XML/1998/namespace';
    for (let s = stack.length - 1; s >= 0; s--) {
      const d = stack[s].ns;
      if (!d) continue;
      for (let k = 0; k < d.length; k += 2) if (d[k] === prefix) return d[k + 1];
    }
    if (prefix === '') return '';
    return err(MAL, `undeclared namespace prefix '${prefix}'`, at);
  }
  function addText(s: string, significant: boolean, at: number): void {
    const f = stack[stack.length - 1];
    f.tl += s.length;
    if (f.tl > lim.maxStringBytes) err('limit', `text longer than ${lim.maxStringBytes} characters`, at);
    f.tx.push(s);
    if (significant) f.sig = true;
  }
  /** Moves pending text into the element; layout whitespace next to child elements is dropped. */
  function flushText(f: Frame, closing: boolean): void {
    if (f.tx.length === 0) return;
    const s = f.tx.length === 1 ? f.tx[0] : f.tx.join('');
    f.tx = [];
    f.tl = 0;
    const keep = f.sig || (closing && !f.kids) || !WS_ONLY.test(s);
    f.sig = false;
    if (keep && s.length > 0) f.el.children.push(s);
  }
  function pop(): Frame | undefined {
    const f = stack.pop();
    if (f && f.ns) nsInScope -= f.ns.length / 2;
    return f;
  }
  function startTag(): void {
    const at = i;
    i++;
    const qname = readName('element name');
    let decls: string[] | null = null;
    const seen: string[] = [];
    let selfClose = false;
    for (;;) {
      const hadWs = i < n && isWs(b[i]);
      skipWs();
      if (i >= n) eof('a start tag');
      const c = b[i];
      if (c === 62) { i++; break; }
      if (c === 47) {
        need(2, 'a start tag');
        if (b[i + 1] !== 62) err(MAL, "expected '>' after '/'", i + 1);
        i += 2;
        selfClose = true;
        break;
      }
      if (!hadWs) err(MAL, 'expected whitespace before attribute', i);
      const an = readName('attribute name');
      if (seen.indexOf(an) >= 0) err(MAL, `duplicate attribute '${an}'`, i);
      if (seen.length >= 64) err('limit', 'more than 64 attributes', i);
      seen.push(an);
      skipWs();
      need(1, 'a start tag');
      if (b[i] !== 61) err(MAL, "expected '=' after attribute name", i);
      i++;
      skipWs();
      need(1, 'a start tag');
      const v = attrValue();
      if (an === 'xmlns' || an.slice(0, 6) === 'xmlns:') {
        if (!decls) decls = [];
        const p = an === 'xmlns' ? '' : an.slice(6);
        if (p !== '' && v === '') err(MAL, `empty namespace for prefix '${p}'`, at);
        if (++nsInScope > 32) err('limit', 'more than 32 namespaces in scope', at);
        decls.push(p, v);
      }
    }
    if (root && stack.length === 0) err(MAL, 'content after the root element', at);
    if (stack.length >= lim.maxDepth) err('limit', `nesting deeper than ${lim.maxDepth}`, at);
    if (++count > lim.maxElements) err('limit', `more than ${lim.maxElements} elements`, at);
    const colon = qname.indexOf(':');
    const prefix = colon >= 0 ? qname.slice(0, colon) : '';
    const local = colon >= 0 ? qname.slice(colon + 1) : qname;
    if (local === '' || local.indexOf(':') >= 0) err(MAL, `bad element name '${qname}'`, at);
    const frame: Frame = { q: qname, el: { name: local, ns: '', children: [] }, ns: decls, tx: [], tl: 0, sig: false, kids: false };
    const parent = stack.length ? stack[stack.length - 1] : null;
    stack.push(frame);
    frame.el.ns = resolve(prefix, at);
    if (parent) {
      flushText(parent, false);
      parent.kids = true;
      parent.el.children.push(frame.el);
    } else root = frame.el;
    if (selfClose) pop();
  }
  function endTag(): void {
    const at = i;
    i += 2;
    const qname = readName('end tag');
    skipWs();
    need(1, 'an end tag');
    if (b[i] !== 62) err(MAL, "expected '>' in end tag", i);
    i++;
    const f = pop();
    if (!f) err(MAL, `end tag </${qname}> without start tag`, at);
    if (f.q !== qname) err(MAL, `end tag </${qname}> does not match <${f.q}>`, at);
    flushText(f, true);
  }
  function doctype(): void {
    const at = i;
    if (sawDoctype || root) err(MAL, 'misplaced DOCTYPE', at);
    sawDoctype = true;
    i += 9;
    for (;;) {
      if (i >= n) eof('DOCTYPE');
      const c = b[i];
      if (c === 62) { i++; return; }
      if (c === 91) err('unsupported', 'DOCTYPE internal subset (entities) not supported', i);
      if (c === 34 || c === 39) {
        const close = boundedIndexOf(c, i + 1, n);
        if (close < 0) eof('DOCTYPE');
        i = close + 1;
        continue;
      }
      if (c === 60) err(MAL, "'<' in DOCTYPE", i);
      i++;
    }
  }

  if (n >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3;
  if (startsWith('<?xml', i) && (i + 5 >= n || isWs(b[i + 5]))) {
    const end = find('?>', i);
    if (end < 0) eof('the XML declaration');
    const decl = decodeText(i, end);
    const enc = /encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(decl);
    if (enc && !/^(utf-8|utf8|us-ascii)$/i.test(enc[1])) err('unsupported', `encoding ${enc[1]} (only UTF-8)`, i);
    i = end + 2;
  }
  let textStart = -1;
  while (i < n) {
    const c = b[i];
    if (c === 60) {
      if (textStart >= 0) { addText(checkedText(textStart, i), false, textStart); textStart = -1; }
      need(2, 'markup');
      const c1 = b[i + 1];
      if (c1 === 47) {
        endTag();
      } else if (c1 === 33) {
        if (startsWith('<!--', i)) {
          const end = find('-->', i + 4);
          if (end < 0) eof('a comment');
          i = end + 3;
        } else if (startsWith('<![CDATA[', i)) {
          if (!stack.length) err(MAL, 'CDATA outside the root element', i);
          const end = find(']]>', i + 9);
          if (end < 0) eof('CDATA');
          if (end - i - 9 > lim.maxOpaqueBytes) err('limit', 'CDATA section too long', i);
          const at = i;
          const s = checkedText(i + 9, end);
          i = end + 3;
          addText(s, true, at);
        } else if (startsWith('<!DOCTYPE', i)) {
          doctype();
        } else {
          if (n - i < 9) eof('markup');
          err(MAL, "unknown '<!' markup", i);
        }
      } else if (c1 === 63) {
        const end = find('?>', i + 2);
        if (end < 0) eof('a processing instruction');
        i = end + 2;
      } else {
        startTag();
      }
    } else if (c === 38) {
      if (textStart >= 0) { addText(checkedText(textStart, i), false, textStart); textStart = -1; }
      if (!stack.length) err(MAL, 'reference outside the root element', i);
      const at = i;
      addText(reference(), true, at);
    } else {
      if (!stack.length) {
        if (!isWs(c)) err(MAL, root ? 'text after the root element' : 'text before the root element', i);
      } else {
        if (textStart < 0) textStart = i;
        while (i + 1 < n && b[i + 1] !== 60 && b[i + 1] !== 38) i++;
      }
      i++;
    }
  }
  if (stack.length) eof('<' + stack[stack.length - 1].q + '>');
  if (!root) err('truncated', 'no root element', n);
  return root;
}
