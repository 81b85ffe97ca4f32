// TNDS (DM TND serialization, OMA-TS-DM_TNDS 1.2 §9): a subtree as a MgmtTree document in the
// DDF namespace. Import turns the document into plain node descriptions the tree then adds one
// by one inside the command's transaction (so a failure anywhere rolls the whole object back);
// export serializes a subtree the server may read.

import type { ItemData } from '../codec/model.js';
import type { XElement } from '../codec/element.js';
import { el, isElement, NS_DMDDF } from '../codec/element.js';
import { readXml } from '../codec/xml-reader.js';
import { readWbxml } from '../codec/wbxml-reader.js';
import { writeXmlString } from '../codec/xml-writer.js';
import { base64Encode } from '../codec/base64.js';
import { isUtf8, utf8Decode } from '../codec/utf8.js';
import type { TNode } from './node.js';
import { isInterior, nodePath } from './node.js';
import { dataSize, FORMATS } from './format.js';

export const TNDS_TYPE = 'application/vnd.syncml.dmtnds+xml';
export const TNDS_WBXML_TYPE = 'application/vnd.syncml.dmtnds+wbxml';

/** Most nodes one TNDS object may create (bounded work on hostile input). */
const MAX_TNDS_NODES = 2000;

export function isTndsType(t: string | undefined): boolean {
  return t !== undefined && (t.trim() === TNDS_TYPE || t.trim() === TNDS_WBXML_TYPE);
}

export interface TndsNode {
  name: string;
  /** Path from the document (relative to the command target unless it starts with "."). */
  path?: string;
  format?: string;
  type?: string;
  acl?: string;
  title?: string;
  value?: ItemData;
  kids: TndsNode[];
}

/** Which RTProperties (and Value) an export carries: keys ACL, Format, Name, Size, Title, TStamp, Type, VerNo, Value. */
export type TndsProps = { [prop: string]: boolean };

function text(e: XElement | undefined): string | undefined {
  if (!e) return undefined;
  let s = '';
  for (let i = 0; i < e.children.length; i++) {
    const c = e.children[i];
    if (typeof c === 'string') s += c;
    else if (c instanceof Uint8Array) s += utf8Decode(c);
  }
  return s;
}

/** The first child element of `e` named `name`, or of any name when `name` is omitted. */
function first(e: XElement | undefined, name?: string): XElement | undefined {
  if (e) for (let i = 0; i < e.children.length; i++) {
    const c = e.children[i];
    if (isElement(c) && (name === undefined || c.name === name)) return c;
  }
  return undefined;
}

/** Parses a TNDS object; a status code on failure (400 malformed, 413 too many nodes, 415 not TNDS). */
export function parseTnds(data: ItemData | undefined): TndsNode[] | number {
  if (data === undefined) return 400;
  let root: XElement;
  if (typeof data !== 'string' && data.length && data[0] <= 3) {
    const r = readWbxml(data);
    if (!r.ok) return 400;
    root = r.value.root;
  } else {
    const r = readXml(data);
    if (!r.ok) return 400;
    root = r.value;
  }
  if (root.name !== 'MgmtTree') return 415;
  const out: TndsNode[] = [];
  const code = parseNodes(root, { n: 0 }, out);
  return code ? code : out;
}

/** Parses the Node children of `e` into `out`; 0, or the status code of the first failure. */
function parseNodes(e: XElement, count: { n: number }, out: TndsNode[]): number {
  for (let i = 0; i < e.children.length; i++) {
    const c = e.children[i];
    if (isElement(c) && c.name === 'Node') {
      const t = parseNode(c, count);
      if (typeof t === 'number') return t;
      out.push(t);
    }
  }
  return 0;
}

function parseNode(e: XElement, count: { n: number }): TndsNode | number {
  if (++count.n > MAX_TNDS_NODES) return 413;
  const name = text(first(e, 'NodeName'));
  if (name === undefined || name === '') return 400;
  const t: TndsNode = { name, kids: [] };
  const path = text(first(e, 'Path'));
  if (path) t.path = path.replace(/\/+$/, '');
  const rt = first(e, 'RTProperties');
  if (rt) {
    const f = first(first(rt, 'Format'));
    if (f) {
      if (FORMATS.indexOf(f.name) < 0) return 415;
      t.format = f.name;
    }
    const ty = first(first(rt, 'Type'));
    const tv = text(ty);
    if (tv) t.type = tv.trim();
    const acl = first(rt, 'ACL');
    if (acl) t.acl = text(acl)!.trim();
    const ti = first(rt, 'Title');
    if (ti) t.title = text(ti);
  }
  const v = first(e, 'Value');
  if (v) {
    const c = v.children.length === 1 ? v.children[0] : undefined;
    t.value = c instanceof Uint8Array ? c : text(v);
  }
  const code = parseNodes(e, count, t.kids);
  if (code) return code;
  if (t.kids.length && t.format && t.format !== 'node') return 400;
  return t;
}

export interface TndsExportContext {
  canGet(n: TNode): boolean;
  /** A leaf's value, undefined when it must not be disclosed. */
  value(n: TNode): ItemData | undefined;
  stamp(ms: number): string;
}

function d(name: string, children: (XElement | string)[]): XElement {
  return el(name, NS_DMDDF, children);
}

/** Serializes `n` and the part of its subtree the server may read; the XML text, or 500. */
export function exportTnds(n: TNode, props: TndsProps, ctx: TndsExportContext): string | number {
  const top = exportNode(n, props, ctx);
  if (n.parent) top.children.splice(1, 0, d('Path', [nodePath(n.parent)]));
  const r = writeXmlString(d('MgmtTree', [d('VerDTD', ['1.2']), top]));
  return r.ok ? r.value : 500;
}

function exportNode(n: TNode, props: TndsProps, ctx: TndsExportContext): XElement {
  const kids: XElement[] = [d('NodeName', [n.name])];
  const rt: XElement[] = [];
  let value: ItemData | undefined;
  let format = n.format;
  if (!isInterior(n) && (props.Value || props.Size)) {
    value = ctx.value(n);
    // XML cannot carry arbitrary bytes: non-UTF-8 values travel as base64 (Format b64).
    if (value instanceof Uint8Array) {
      if (isUtf8(value)) value = utf8Decode(value);
      else { value = base64Encode(value); format = 'b64'; }
    }
  }
  if (props.ACL) rt.push(d('ACL', [n.acl]));
  if (props.Format) rt.push(d('Format', [d(format, [])]));
  if (props.Name) rt.push(d('Name', [n.name]));
  if (props.Size && !isInterior(n)) rt.push(d('Size', [String(n.lo !== undefined ? n.loSize : dataSize(value))]));
  if (props.Title && n.title) rt.push(d('Title', [n.title]));
  if (props.TStamp) rt.push(d('TStamp', [ctx.stamp(n.tstamp)]));
  if (props.Type) rt.push(d('Type', [d(isInterior(n) ? 'DDFName' : 'MIME', n.type ? [n.type] : [])]));
  if (props.VerNo) rt.push(d('VerNo', [String(n.verNo)]));
  if (rt.length) kids.push(d('RTProperties', rt));
  if (isInterior(n)) {
    for (let i = 0; i < n.kids!.length; i++) if (ctx.canGet(n.kids![i])) kids.push(exportNode(n.kids![i], props, ctx));
  } else if (typeof value === 'string' && props.Value) {
    kids.push(d('Value', [value]));
  }
  return d('Node', kids);
}
