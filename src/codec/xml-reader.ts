// A small XML 1.0 reader for DM messages: bytes in, generic element tree out (element.ts).
// Built for hostile input on a device: one pass over the bytes with an explicit element stack
// (no recursion), every loop bounded by the input length, limits checked before work grows.
// Deliberately not supported: DOCTYPE internal subsets (no entity declarations, hence no entity
// expansion and no entity bombs) and attributes other than namespace declarations (the SyncML,
// MetInf and DDF DTDs define none; others are checked for syntax and ignored).
import { XElement } from './element.js';
import { CodecLimits, DEVICE_LIMITS, Result, ok, fail } from './errors.js';
import { utf8Encode } from './utf8.js';
import { decodeUtf8OrRaise, codePointString } from './text.js';
import { raise, caught, Raised, TRUNC, MAL, LIM, UNS } from './raise.js';

// Property names are short because minifiers keep them and this code ships on devices.
interface Frame {
  /** Qualified name as written, to match the end tag. */
  q: string;
  el: XElement;
  /** Prefix -> namespace pairs this element declares ('' = default namespace). */
  ns: string[] | null;
  /** Text not yet attached; kept apart so whitespace between elements can be dropped. */
  t: string;
  /** True when some pending text came from CDATA or a reference (never "just layout"). */
  sig: boolean;
  /** True once a child element was seen. */
  kids: boolean;
}

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
  if (b.length > lim.maxBytes) return fail(LIM, 'too large', 0);
  try {
    return ok(parse(b, lim));
  } catch (e) {
    // Engine limits (out of memory) still surface as a typed error, never as an exception.
    const r = caught(e, LIM, 0);
    if ((e as Raised).rk) {
      // 1-based line and column (in characters) of the byte offset.
      const at = r.error.offset as number;
      let line = 1;
      let col = 1;
      for (let i = 0; i < at && i < b.length; i++) {
        const c = b[i];
        if (c === 10) { line++; col = 1; } else if ((c & 0xc0) !== 0x80) col++;
      }
      r.error.line = line;
      r.error.column = col;
    }
    return r;
  }
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

  function eof(what: string): never {
    return raise(TRUNC, what, n);
  }
  function need(k: number): void {
    if (i + k > n) eof('tag');
  }
  function startsWith(s: string, at: number): boolean {
    if (at + s.length > n) return false;
    for (let k = 0; k < s.length; k++) if (b[at + k] !== s.charCodeAt(k)) return false;
    return true;
  }
  /** Index of the ASCII string `s` at or after `from`; `what` is truncated when absent. */
  function find(s: string, from: number, what: string): number {
    const c0 = s.charCodeAt(0);
    for (let k = from; k + s.length <= n; k++) if (b[k] === c0 && startsWith(s, k)) return k;
    return eof(what);
  }
  function skipWs(): void {
    while (i < n && isWs(b[i])) i++;
  }
  function readName(): string {
    const start = i;
    if (i >= n) eof('name');
    const c = b[i];
    if (!isNameByte(c) || (c >= 48 && c <= 57) || c === 45 || c === 46) raise(MAL, 'bad name', i);
    let ascii = true;
    while (i < n && isNameByte(b[i])) { if (b[i] >= 0x80) ascii = false; i++; }
    if (i >= n) eof('name');
    if (i - start > 256) raise(LIM, 'name too long', start);
    if (ascii) {
      let s = '';
      for (let k = start; k < i; k++) s += String.fromCharCode(b[k]);
      return s;
    }
    return decodeUtf8OrRaise(b, start, i);
  }
  function checkControl(c: number, at: number): boolean {
    if (c === 13) return true;
    if (c !== 9 && c !== 10) raise(MAL, 'control char', at);
    return false;
  }
  /** Checks characters XML forbids; CR and CRLF become LF (XML 1.0 §2.11). */
  function checkedText(start: number, end: number): string {
    // One pass for the common all-ASCII run (most of a DM message); UTF-8 goes to the decoder.
    let cr = false;
    let out = '';
    const units: number[] = [];
    let k = start;
    for (; k < end; k++) {
      const c = b[k];
      if (c >= 0x80) {
        for (let j = k; j < end; j++) if (b[j] < 32 && checkControl(b[j], j)) cr = true;
        break;
      }
      if (c < 32 && checkControl(c, k)) cr = true;
      units.push(c);
      // Chunks stay under Espruino's 256-argument limit for Function.apply.
      if (units.length === 256) { out += String.fromCharCode.apply(null, units); units.length = 0; }
    }
    out += String.fromCharCode.apply(null, units);
    if (k < end) out += decodeUtf8OrRaise(b, k, end);
    return cr ? out.replace(/\r\n?/g, '\n') : out;
  }
  /** Reads `&...;` at i (b[i] === '&') and returns its text. No general entities beyond the five predefined. */
  function reference(): string {
    const start = i;
    let semi = -1;
    for (let k = i + 1; k < n && k < i + 13; k++) if (b[k] === 59) { semi = k; break; }
    if (semi < 0) {
      if (n - i < 12) {
        let k = i + 1;
        while (k < n && (isNameByte(b[k]) || b[k] === 35)) k++;
        if (k === n) eof('reference');
      }
      raise(MAL, 'bad reference', start);
    }
    i = semi + 1;
    if (b[start + 1] === 35) {
      let cp = 0;
      let k = start + 2;
      const hex = b[k] === 120;
      if (hex) k++;
      if (k === semi) cp = -1;
      for (; k < semi && cp >= 0 && cp <= 0x10ffff; k++) {
        let c = b[k];
        if (hex && c >= 65 && c <= 70) c += 32;
        const d = c >= 48 && c <= 57 ? c - 48 : hex && c >= 97 && c <= 102 ? c - 87 : -1;
        cp = d < 0 ? -1 : cp * (hex ? 16 : 10) + d;
      }
      if (!(cp === 9 || cp === 10 || cp === 13 || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff))) {
        raise(MAL, 'bad reference', start);
      }
      return codePointString(cp);
    }
    let name = '';
    for (let k = start + 1; k < semi; k++) name += String.fromCharCode(b[k]);
    const p = ['lt', 'gt', 'amp', 'quot', 'apos'].indexOf(name);
    return p < 0 ? raise(MAL, '&' + name + ';', start) : '<>&"\''.charAt(p);
  }
  /** Attribute value at i (a quote). */
  function attrValue(): string {
    const q = b[i];
    if (q !== 34 && q !== 39) raise(MAL, 'unquoted value', i);
    i++;
    const parts: string[] = [];
    let runStart = i;
    for (;;) {
      if (i >= n) eof('value');
      const c = b[i];
      if (c === q) break;
      if (c === 60) raise(MAL, "'<' in value", i);
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
    if (v.length > lim.maxStringBytes) raise(LIM, 'value too long', runStart);
    return v;
  }
  function resolve(prefix: string, at: number): string {
    if (prefix === 'xml') return 'http://www.w3.org/XML/1998/namespace';
    for (let s = stack.length - 1; s >= 0; s--) {
      const d = stack[s].ns;
      if (!d) continue;
      for (let k = 0; k < d.length; k += 2) if (d[k] === prefix) return d[k + 1];
    }
    return prefix ? raise(MAL, `undeclared namespace prefix '${prefix}'`, at) : '';
  }
  function addText(s: string, significant: boolean, at: number): void {
    const f = stack[stack.length - 1];
    f.t += s;
    if (f.t.length > lim.maxStringBytes) raise(LIM, 'text too long', at);
    if (significant) f.sig = true;
  }
  /** Moves pending text into the element; layout whitespace next to child elements is dropped. */
  function flushText(f: Frame, closing: boolean): void {
    const s = f.t;
    f.t = '';
    if (s && (f.sig || (closing && !f.kids) || !WS_ONLY.test(s))) f.el.children.push(s);
    f.sig = false;
  }
  function pop(): Frame | undefined {
    const f = stack.pop();
    if (f && f.ns) nsInScope -= f.ns.length / 2;
    return f;
  }
  function startTag(): void {
    const at = i;
    i++;
    const qname = readName();
    let decls: string[] | null = null;
    const seen: string[] = [];
    let selfClose = false;
    for (;;) {
      const hadWs = i < n && isWs(b[i]);
      skipWs();
      need(1);
      const c = b[i];
      if (c === 62) { i++; break; }
      if (c === 47) {
        need(2);
        if (b[i + 1] !== 62) raise(MAL, "expected '>'", i + 1);
        i += 2;
        selfClose = true;
        break;
      }
      if (!hadWs) raise(MAL, 'expected space', i);
      const an = readName();
      if (seen.indexOf(an) >= 0) raise(MAL, 'duplicate attribute', i);
      if (seen.length >= 64) raise(LIM, 'too many attributes', i);
      seen.push(an);
      skipWs();
      need(1);
      if (b[i] !== 61) raise(MAL, "expected '='", i);
      i++;
      skipWs();
      need(1);
      const v = attrValue();
      if (an === 'xmlns' || an.slice(0, 6) === 'xmlns:') {
        if (!decls) decls = [];
        const p = an.slice(6);
        if (p && !v) raise(MAL, 'empty namespace', at);
        if (++nsInScope > 32) raise(LIM, 'too many namespaces', at);
        decls.push(p, v);
      }
    }
    if (root && !stack.length) raise(MAL, 'after root', at);
    if (stack.length >= lim.maxDepth) raise(LIM, 'too deep', at);
    if (++count > lim.maxElements) raise(LIM, 'too many elements', at);
    const colon = qname.indexOf(':');
    const local = qname.slice(colon + 1);
    if (!local || local.indexOf(':') >= 0) raise(MAL, 'bad name', at);
    const frame: Frame = { q: qname, el: { name: local, ns: '', children: [] }, ns: decls, t: '', sig: false, kids: false };
    const parent = stack.length ? stack[stack.length - 1] : null;
    stack.push(frame);
    frame.el.ns = resolve(colon >= 0 ? qname.slice(0, colon) : '', at);
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
    const qname = readName();
    skipWs();
    need(1);
    if (b[i] !== 62) raise(MAL, "expected '>'", i);
    i++;
    const f = pop();
    if (!f || f.q !== qname) raise(MAL, `</${qname}> does not match <${f ? f.q : ''}>`, at);
    flushText(f, true);
  }
  function doctype(): void {
    const at = i;
    if (sawDoctype || root) raise(MAL, 'misplaced DOCTYPE', at);
    sawDoctype = true;
    i += 9;
    for (;;) {
      if (i >= n) eof('DOCTYPE');
      const c = b[i];
      if (c === 62) { i++; return; }
      if (c === 91) raise(UNS, 'DOCTYPE subset', i);
      if (c === 34 || c === 39) {
        let k = i + 1;
        while (k < n && b[k] !== c) k++;
        if (k >= n) eof('DOCTYPE');
        i = k + 1;
        continue;
      }
      if (c === 60) raise(MAL, "'<' in DOCTYPE", i);
      i++;
    }
  }

  if (n >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3;
  if (startsWith('<?xml', i) && (i + 5 >= n || isWs(b[i + 5]))) {
    const end = find('?>', i, 'declaration');
    const enc = /encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(decodeUtf8OrRaise(b, i, end));
    if (enc && !/^(utf-8|utf8|us-ascii)$/i.test(enc[1])) raise(UNS, 'encoding ' + enc[1], i);
    i = end + 2;
  }
  let textStart = -1;
  while (i < n) {
    const c = b[i];
    if (c === 60 || c === 38) {
      if (textStart >= 0) { addText(checkedText(textStart, i), false, textStart); textStart = -1; }
    }
    if (c === 60) {
      need(2);
      const c1 = b[i + 1];
      if (c1 === 47) {
        endTag();
      } else if (c1 === 33) {
        if (startsWith('<!--', i)) {
          i = find('-->', i + 4, 'comment') + 3;
        } else if (startsWith('<![CDATA[', i)) {
          const at = i;
          if (!stack.length) raise(MAL, 'CDATA outside root', at);
          const end = find(']]>', i + 9, 'CDATA');
          if (end - i - 9 > lim.maxOpaqueBytes) raise(LIM, 'CDATA too long', at);
          const s = checkedText(i + 9, end);
          i = end + 3;
          addText(s, true, at);
        } else if (startsWith('<!DOCTYPE', i)) {
          doctype();
        } else {
          if (n - i < 9) eof('markup');
          raise(MAL, "bad '<!'", i);
        }
      } else if (c1 === 63) {
        i = find('?>', i + 2, 'PI') + 2;
      } else {
        startTag();
      }
    } else if (c === 38) {
      const at = i;
      if (!stack.length) raise(MAL, 'reference outside root', at);
      addText(reference(), true, at);
    } else {
      if (!stack.length) {
        if (!isWs(c)) raise(MAL, 'text outside root', i);
      } else {
        if (textStart < 0) textStart = i;
        while (i + 1 < n && b[i + 1] !== 60 && b[i + 1] !== 38) i++;
      }
      i++;
    }
  }
  if (stack.length) eof('<' + stack[stack.length - 1].q + '>');
  return root || eof('no root');
}
