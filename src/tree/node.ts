// The in-RAM node record. Interior nodes have Format "node" and `kids`; leaves hold their value
// (or, for a streamed large object, only the id and size of its chunks in the store, or nothing
// when a plug-in backs the value with a host function).

import type { ItemData } from '../codec/model.js';

export interface TNode {
  name: string;
  format: string;
  type: string;
  /** Own ACL; '' inherits from the parent. */
  acl: string;
  title: string;
  /** Epoch ms of the last change (TStamp property). */
  tstamp: number;
  /** VerNo property: 0..65535, incremented on every change. */
  verNo: number;
  value?: ItemData;
  /** Large object id: the value lives in the store as chunk records. */
  lo?: number;
  /** Byte size of a large object value. */
  loSize?: number;
  kids?: TNode[];
  parent?: TNode;
  /** Permanent (built-in) node: cannot be deleted or renamed, its Format/Type cannot change. */
  perm?: boolean;
  /** The store holds a record for this node (built-ins only get one once changed). */
  saved?: boolean;
}

export function isInterior(n: TNode): boolean {
  return n.format === 'node';
}

export function child(n: TNode, name: string): TNode | undefined {
  const k = n.kids;
  if (k) for (let i = 0; i < k.length; i++) if (k[i].name === name) return k[i];
  return undefined;
}

export function nodePath(n: TNode): string {
  let p = '';
  for (let c: TNode | undefined = n; c && c.parent; c = c.parent) p = '/' + c.name + p;
  return '.' + p;
}

/** Follows `segs` from `root`; returns the deepest node reached and how many segments matched. */
export function walk(root: TNode, segs: string[]): { node: TNode; depth: number } {
  let n = root;
  let i = 0;
  for (; i < segs.length; i++) {
    const c = child(n, segs[i]);
    if (!c) break;
    n = c;
  }
  return { node: n, depth: i };
}

/** Visits `n` and its descendants, parents first; the visitor returns false to skip a subtree. */
export function preorder(n: TNode, visit: (n: TNode) => boolean | void): void {
  if (visit(n) === false || !n.kids) return;
  for (let i = 0; i < n.kids.length; i++) preorder(n.kids[i], visit);
}

export function newNode(name: string, format: string, type: string): TNode {
  const n: TNode = { name, format, type, acl: '', title: '', tstamp: 0, verNo: 0 };
  if (format === 'node') n.kids = [];
  return n;
}
