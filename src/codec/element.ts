// A generic element tree: what the XML and WBXML readers produce and the writers consume.
// The typed SyncML model maps to and from this tree in one place (message-map.ts), so the two
// encodings cannot drift apart, and TNDS/DDF documents reuse the same readers and writers.

/** Namespaces DM uses; each is one WBXML code page. */
export const NS_SYNCML = 'SYNCML:SYNCML1.2';
export const NS_METINF = 'syncml:metinf';
export const NS_DMDDF = 'syncml:dmddf1.2';

export interface XElement {
  name: string;
  /** Resolved namespace (inherited from the parent when the element declares none). */
  ns: string;
  children: XChild[];
}

/** Text, or bytes (WBXML OPAQUE). */
export type XChild = XElement | string | Uint8Array;

export function isElement(c: XChild): c is XElement {
  return typeof c === 'object' && !(c instanceof Uint8Array);
}

export function el(name: string, ns: string, children: XChild[]): XElement {
  return { name, ns, children };
}
