// The MO plug-in interface: a small vtable mounted at an interior node, after libdmclient's
// momgr (one struct of callbacks per management object). Paths passed to a plug-in are relative
// to its mount point ('' is the mount node itself, 'Download/Pkg1/PkgURL' a descendant).
// Every callback is optional and synchronous; a plug-in never throws (a throw is mapped to 500).

import type { ItemData, Meta } from '../codec/model.js';
import type { ExecRequest, LargeObjectSink } from './api.js';

export type TreeOp = 'Add' | 'Delete' | 'Replace';

export interface MoPlugin {
  /** Value of a host-backed leaf; undefined when the tree stores this leaf itself. */
  get?(rel: string): ItemData | undefined;
  /**
   * Writes a host-backed leaf: returns a DM code (200 ok, else the error), or undefined when the
   * tree stores this leaf itself. Inside Atomic, rollback calls set() again with the old value.
   */
  set?(rel: string, data: ItemData, meta: Meta | undefined): number | undefined;
  /** Exec on a node under the mount: 200 done, 202 accepted (SCOMO jobs), 405 not executable, ... */
  exec?(rel: string, req: ExecRequest, serverId: string): number;
  /**
   * Takes over a large-object write into leaf `rel` (e.g. SCOMO Delivered/<X>/Data streaming to
   * package storage). Return a sink, an error code, or undefined to let the tree store it.
   */
  openLargeObject?(rel: string, totalSize: number, meta: Meta | undefined): LargeObjectSink | number | undefined;
  /** Veto: asked before a server adds, deletes or replaces a node under the mount; >= 300 refuses with that code. */
  allow?(op: TreeOp, rel: string, serverId: string): number;
  /** Observe: told after a change under the mount is durable (never for failed or rolled-back commands). */
  changed?(op: TreeOp, rel: string): void;
  /** Nodes that accept Exec (for the DDF AccessType; default: every node when exec is given). */
  executable?(rel: string): boolean;
  /** Leaves whose value a server may never read (credentials); Get answers 405. */
  hidden?(rel: string): boolean;
}

export interface Mount {
  /** Mount path, "./A/B". */
  path: string;
  plugin: MoPlugin;
}

/** The plug-in of the innermost mount covering `path` and the path relative to that mount. */
export function findMount(mounts: Mount[], path: string): { plugin: MoPlugin; rel: string } | undefined {
  let best: Mount | undefined;
  for (let i = 0; i < mounts.length; i++) {
    const p = mounts[i].path;
    if ((path === p || path.substring(0, p.length + 1) === p + '/') && (!best || p.length > best.path.length)) best = mounts[i];
  }
  return best ? { plugin: best.plugin, rel: path === best.path ? '' : path.substring(best.path.length + 1) } : undefined;
}
