// Writes the generic element tree (element.ts) as UTF-8 XML. Strings are collected in an array
// and encoded once. Namespaces are written as default-namespace declarations wherever an
// element's namespace differs from its parent's (`<Type xmlns="syncml:metinf">`), the form
// DM peers and libwbxml expect; no prefixes are ever generated.
import { XElement, XChild } from './element.js';
import { Result, ok } from './errors.js';
import { utf8Encode, utf8DecodeStrict } from './utf8.js';
import { raise, caught, LIM, UNENC } from './raise.js';

export interface XmlWriteOptions {
  /** Write `<?xml version="1.0" encoding="UTF-8"?>` first. */
  declaration?: boolean;
  doctype?: { name: string; publicId: string; systemId?: string };
  /** Line breaks and two-space indentation between elements that hold only elements. */
  indent?: boolean;
}

// Characters that need escaping, surrogate pairs (kept), and characters XML 1.0 cannot carry
// at all (C0 controls other than TAB/LF/CR, lone surrogates, U+FFFE/U+FFFF). CR is written as a
// reference so it survives the reader's line-end normalisation.
const SPECIAL = /[&<>\r]|[\ud800-\udbff][\udc00-\udfff]|[\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]/g;
const ESCAPES: { [c: string]: string } = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' };

function escapeText(s: string): string {
  return s.replace(SPECIAL, (m) => m.length > 1 ? m : ESCAPES[m] || raise(UNENC, 'U+' + m.charCodeAt(0).toString(16)));
}

/**
 * Serialises `root` into `out` (strings), the root declaring its namespace unless it has none.
 * Iterative, so a deep tree from any source cannot exhaust the stack. Raises unencodable.
 */
function serializeElement(root: XElement, out: string[], indent: boolean): void {
  // Stack entries: an element to open, or a string to emit (its end tag).
  const work: Array<{ el: XElement; ns: string; depth: number } | string> = [{ el: root, ns: '', depth: 0 }];
  while (work.length) {
    const w = work.pop()!;
    if (typeof w === 'string') { out.push(w); continue; }
    const e = w.el;
    const pad = indent ? '\n' + Array(w.depth + 1).join('  ') : '';
    if (w.depth) out.push(pad);
    let open = '<' + e.name;
    if (e.ns !== w.ns) open += ' xmlns="' + escapeText(e.ns).replace(/"/g, '&quot;') + '"';
    const kids = e.children;
    if (!kids.length) { out.push(open + '/>'); continue; }
    out.push(open + '>');
    let onlyElements = indent;
    for (let k = 0; k < kids.length; k++) if (typeof kids[k] === 'string' || kids[k] instanceof Uint8Array) onlyElements = false;
    work.push((onlyElements ? pad : '') + '</' + e.name + '>');
    // Children go on the stack in reverse so they pop in document order.
    for (let k = kids.length - 1; k >= 0; k--) {
      const c: XChild = kids[k];
      if (typeof c === 'string') work.push(escapeText(c));
      else if (c instanceof Uint8Array) {
        // CDATA for bytes that are UTF-8 text; `]]>` is split across two sections.
        const r = utf8DecodeStrict(c);
        if (typeof r === 'number') raise(UNENC, 'binary data; use b64');
        escapeText(r); // only for its check that XML can carry every character
        work.push('<![CDATA[' + r.split(']]>').join(']]]]><![CDATA[>') + ']]>');
      } else work.push({ el: c, ns: e.ns, depth: onlyElements ? w.depth + 1 : 0 });
    }
  }
}

export function writeXml(root: XElement, opts?: XmlWriteOptions): Result<Uint8Array> {
  const r = writeXmlString(root, opts);
  return r.ok ? ok(utf8Encode(r.value)) : r;
}

/** As writeXml, but returns the text (used to carry inline XML inside Data as a string). */
export function writeXmlString(root: XElement, opts?: XmlWriteOptions): Result<string> {
  const o = opts || {};
  const d = o.doctype;
  const out: string[] = [];
  if (o.declaration) out.push('<?xml version="1.0" encoding="UTF-8"?>');
  if (d) out.push('<!DOCTYPE ' + d.name + ' PUBLIC "' + d.publicId + '"' + (d.systemId ? ' "' + d.systemId + '"' : '') + '>');
  if (o.indent && out.length) out.push('\n');
  try {
    serializeElement(root, out, !!o.indent);
  } catch (e) {
    return caught(e, LIM);
  }
  if (o.indent) out.push('\n');
  return ok(out.join(''));
}
