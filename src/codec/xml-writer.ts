// Writes the generic element tree (element.ts) as UTF-8 XML. Strings are collected in an array
// and encoded once. Namespaces are written as default-namespace declarations wherever an
// element's namespace differs from its parent's (`<Type xmlns="syncml:metinf">`), the form
// DM peers and libwbxml expect; no prefixes are ever generated.
import { XElement, XChild } from './element.js';
import { Result, fail, ok } from './errors.js';
import { utf8Encode, utf8DecodeStrict } from './utf8.js';

export interface XmlWriteOptions {
  /** Write `<?xml version="1.0" encoding="UTF-8"?>` first. */
  declaration?: boolean;
  doctype?: { name: string; publicId: string; systemId?: string };
  /** Line breaks and two-space indentation between elements that hold only elements. */
  indent?: boolean;
}

// Characters that need escaping or that XML 1.0 cannot carry at all (C0 controls other than
// TAB/LF/CR, lone surrogates, U+FFFE/U+FFFF). CR is written as a reference so it survives the
// reader's line-end normalisation.
const SPECIAL = /[&<>\r\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]/;

class Unencodable {
  constructor(public message: string) {}
}

function escapeText(s: string): string {
  if (!SPECIAL.test(s)) return s;
  let out = '';
  let run = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    let rep: string | null = null;
    if (c === 38) rep = '&amp;';
    else if (c === 60) rep = '&lt;';
    else if (c === 62) rep = '&gt;';
    else if (c === 13) rep = '&#13;';
    else if (c < 32 && c !== 9 && c !== 10) throw new Unencodable(`control character U+${hex4(c)} cannot be written in XML`);
    else if (c === 0xfffe || c === 0xffff) throw new Unencodable(`U+${hex4(c)} cannot be written in XML`);
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = k + 1 < s.length ? s.charCodeAt(k + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) throw new Unencodable('lone surrogate cannot be written in XML');
      k++;
      continue;
    } else if (c >= 0xdc00 && c <= 0xdfff) throw new Unencodable('lone surrogate cannot be written in XML');
    if (rep !== null) {
      out += s.slice(run, k) + rep;
      run = k + 1;
    }
  }
  return out + s.slice(run);
}

function hex4(c: number): string {
  return ('000' + c.toString(16).toUpperCase()).slice(-4);
}

function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;');
}

/** CDATA for bytes that are UTF-8 text; `]]>` is split across two sections. */
function cdata(bytes: Uint8Array): string {
  const r = utf8DecodeStrict(bytes);
  if (typeof r === 'number') throw new Unencodable(`binary data (not UTF-8 at byte ${-r - 1}) cannot be written in XML; use b64`);
  escapeText(r); // only for its check that XML can carry every character
  return '<![CDATA[' + r.split(']]>').join(']]]]><![CDATA[>') + ']]>';
}

/**
 * Serialises `root` into `out` (strings); `parentNs` is the namespace already in scope.
 * Iterative, so a deep tree from any source cannot exhaust the stack. Throws Unencodable.
 */
function serializeElement(root: XElement, parentNs: string, out: string[], indent: boolean): void {
  // Stack entries: an element to open, or a string to emit (its end tag).
  const work: Array<{ el: XElement; ns: string; depth: number } | string> = [{ el: root, ns: parentNs, depth: 0 }];
  while (work.length) {
    const w = work.pop()!;
    if (typeof w === 'string') { out.push(w); continue; }
    const e = w.el;
    if (indent && w.depth > 0) out.push('\n' + spaces(w.depth));
    let open = '<' + e.name;
    if (e.ns !== w.ns) open += ' xmlns="' + escapeAttr(e.ns) + '"';
    const kids = e.children;
    if (kids.length === 0) { out.push(open + '/>'); continue; }
    out.push(open + '>');
    let onlyElements = indent;
    for (let k = 0; k < kids.length && onlyElements; k++) {
      const c = kids[k];
      if (typeof c === 'string' || c instanceof Uint8Array) onlyElements = false;
    }
    work.push((onlyElements ? '\n' + spaces(w.depth) : '') + '</' + e.name + '>');
    // Children go on the stack in reverse so they pop in document order; text is written at
    // once when it precedes every element child, else queued as a string.
    for (let k = kids.length - 1; k >= 0; k--) {
      const c: XChild = kids[k];
      if (typeof c === 'string') work.push(escapeText(c));
      else if (c instanceof Uint8Array) work.push(cdata(c));
      else work.push({ el: c, ns: e.ns, depth: onlyElements ? w.depth + 1 : 0 });
    }
  }
}

function spaces(d: number): string {
  let s = '';
  for (let k = 0; k < d; k++) s += '  ';
  return s;
}

export function writeXml(root: XElement, opts?: XmlWriteOptions): Result<Uint8Array> {
  const r = writeXmlString(root, opts);
  return r.ok ? ok(utf8Encode(r.value)) : r;
}

/** As writeXml, but returns the text (used to carry inline XML inside Data as a string). */
export function writeXmlString(root: XElement, opts?: XmlWriteOptions): Result<string> {
  const o = opts || {};
  const out: string[] = [];
  if (o.declaration) out.push('<?xml version="1.0" encoding="UTF-8"?>');
  if (o.doctype) {
    let d = '<!DOCTYPE ' + o.doctype.name + ' PUBLIC "' + o.doctype.publicId + '"';
    if (o.doctype.systemId) d += ' "' + o.doctype.systemId + '"';
    out.push(d + '>');
  }
  if (o.indent && out.length) out.push('\n');
  try {
    serializeElement(root, '', out, !!o.indent);
  } catch (e) {
    if (e instanceof Unencodable) return fail('unencodable', e.message);
    return fail('limit', 'writer failed: ' + String(e));
  }
  if (o.indent) out.push('\n');
  return ok(out.join(''));
}
