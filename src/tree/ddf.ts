// DDF export (OMA-TS-DM_TND 1.2 §8.5): the whole runtime tree described as a MgmtTree document,
// DOCTYPE "-//OMA//DTD-DM-DDF 1.2//EN". Each node gets the DFProperties a server needs to drive
// it: AccessType (what its permanence, secrecy and plug-in allow), DFFormat, Scope, DFType.

import type { XElement } from '../codec/element.js';
import { el, NS_DMDDF } from '../codec/element.js';
import { writeXmlString } from '../codec/xml-writer.js';
import type { TNode } from './node.js';
import { isInterior } from './node.js';
import type { DmTree } from './tree.js';

export const DDF_PUBLIC_ID = '-//OMA//DTD-DM-DDF 1.2//EN';
export const DDF_SYSTEM_ID = 'http://www.openmobilealliance.org/tech/DTD/DM_DDF-V1_2.dtd';

interface DdfContext {
  hidden(n: TNode): boolean;
  executable(n: TNode): boolean;
  man?: string;
  mod?: string;
}

/**
 * DDF document of the whole tree (Man/Mod from ./DevInfo when present); undefined if it cannot
 * be written. A separate function so device builds that never export a DDF do not carry it.
 */
export function exportDdf(tree: DmTree): string | undefined {
  const man = tree.readLocal('./DevInfo/Man');
  const mod = tree.readLocal('./DevInfo/Mod');
  return ddfDocument(tree.root, {
    man: typeof man === 'string' ? man : undefined,
    mod: typeof mod === 'string' ? mod : undefined,
    hidden: function (n) { return tree.hidden(n); },
    executable: function (n) { return tree.executable(n); },
  });
}

function d(name: string, children: (XElement | string)[]): XElement {
  return el(name, NS_DMDDF, children);
}

/** The DDF document text, or undefined when it cannot be written. */
export function ddfDocument(root: TNode, ctx: DdfContext): string | undefined {
  const top: XElement[] = [d('VerDTD', ['1.2'])];
  if (ctx.man) top.push(d('Man', [ctx.man]));
  if (ctx.mod) top.push(d('Mod', [ctx.mod]));
  const ks = root.kids || [];
  for (let i = 0; i < ks.length; i++) top.push(ddfNode(ks[i], ctx));
  const r = writeXmlString(d('MgmtTree', top), {
    declaration: true, indent: true, doctype: { name: 'MgmtTree', publicId: DDF_PUBLIC_ID, systemId: DDF_SYSTEM_ID },
  });
  return r.ok ? r.value : undefined;
}

function ddfNode(n: TNode, ctx: DdfContext): XElement {
  const acc: XElement[] = [];
  const interior = isInterior(n);
  if (!n.perm) acc.push(d('Add', []));
  if (!n.perm) acc.push(d('Delete', []));
  if (ctx.executable(n)) acc.push(d('Exec', []));
  if (!ctx.hidden(n)) acc.push(d('Get', []));
  if (!interior) acc.push(d('Replace', []));
  const props: XElement[] = [
    d('AccessType', acc),
    d('DFFormat', [d(n.format, [])]),
    d('Scope', [d(n.perm ? 'Permanent' : 'Dynamic', [])]),
  ];
  if (n.title) props.push(d('DFTitle', [n.title]));
  props.push(d('DFType', [interior ? d('DDFName', n.type ? [n.type] : []) : d('MIME', [n.type || 'text/plain'])]));
  const kids: XElement[] = [d('NodeName', [n.name]), d('DFProperties', props)];
  if (interior) for (let i = 0; i < n.kids!.length; i++) kids.push(ddfNode(n.kids![i], ctx));
  return d('Node', kids);
}
