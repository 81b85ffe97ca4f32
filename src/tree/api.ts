// The contract between the DM session engine (src/dm) and the management tree (src/tree).
// Every call is synchronous: the tree's durable writes go through the store to the host's
// synchronous Flash port, so a returned success code means the change is already durable.
// Codes are DM status codes (200, 201, 202, 213, 401, 403, 404, 405, 406, 418, 424, 425, 500...).

import type { Item, ItemData, Meta } from '../codec/model.js';

/** What a Get produced: a status code and, on success, the Results items (Source LocURI, Meta, Data). */
export interface GetOutcome {
  code: number;
  items?: Item[];
  /** Results-level Meta (e.g. Type application/vnd.syncml.dmtnds+xml for ?list=TNDS). */
  meta?: Meta;
}

/** A pending streamed write of a large object into one leaf (DM 1.2 large object handling). */
export interface LargeObjectSink {
  /** Appends one chunk; returns 213 (buffered) or an error code (e.g. 420 device full). */
  write(chunk: Uint8Array): number;
  /** Called after the last chunk; verifies the declared size (424 on mismatch) and commits. */
  finish(): number;
  /** Drops everything written so far (session aborted, 1225, size mismatch). */
  abort(): void;
}

export interface ExecRequest {
  data?: ItemData;
  meta?: Meta;
  correlator?: string;
}

export interface ManagementTree {
  /** `uri` may carry `?prop=Name` or `?list=Struct|StructData|TNDS[+Prop|-Prop]`. */
  get(serverId: string, uri: string): GetOutcome;
  add(serverId: string, uri: string, meta: Meta | undefined, data: ItemData | undefined): number;
  replace(serverId: string, uri: string, meta: Meta | undefined, data: ItemData | undefined): number;
  delete(serverId: string, uri: string): number;
  copy(serverId: string, targetUri: string, sourceUri: string): number;
  /** 200 when done synchronously, 202 when accepted for later processing (SCOMO jobs), else an error. */
  exec(serverId: string, uri: string, req: ExecRequest): number;

  /**
   * Starts a large-object write of `totalSize` bytes into `uri` (Add or Replace semantics).
   * Returns an error code instead of a sink when the command cannot proceed
   * (404, 405, 418, 425, 413 too large, 420 no space).
   */
  openLargeObject(serverId: string, uri: string, cmd: 'Add' | 'Replace', meta: Meta | undefined, totalSize: number): LargeObjectSink | number;

  /** Atomic: changes after begin() are kept only if commit() is called; rollback() undoes them. */
  begin(): void;
  /** Returns false when the changes could not be made durable (they are then rolled back). */
  commit(): boolean;
  rollback(): void;
}
