// Persistence records of the tree (msgpack-encodable arrays, kept short because every change
// is one flash write). Each record states a result, not a delta, so replaying a record twice
// (snapshot taken while a transaction was in flight, then the transaction itself) is harmless.
// The first element tags the record as the tree's ('tp', 'td', 'tc'), so the store can be shared
// with other owners (the SCOMO journal): replay ignores anything else, and the agent composes the
// owners' SnapshotWriters.

import type { TNode } from './node.js';
import { nodePath } from './node.js';

/** [PUT, path, format, type, acl, title, tstamp, verNo, value|null, loId|null, loSize|null] */
export const PUT = 'tp';
/** [DEL, path]: removes the node and its subtree. */
export const DEL = 'td';
/** [CHUNK, loId, bytes]: one piece of a large object value, in order. */
export const CHUNK = 'tc';

export function putRecord(n: TNode): unknown[] {
  return [PUT, nodePath(n), n.format, n.type, n.acl, n.title, n.tstamp, n.verNo,
    n.value === undefined ? null : n.value, n.lo === undefined ? null : n.lo, n.loSize === undefined ? null : n.loSize];
}

export function pathSegs(path: string): string[] {
  return path === '.' ? [] : path.substring(2).split('/');
}
