// Runs the server's management commands against the tree and produces their Status/Results
// (DM 1.2 RepPro; facts §2.2, §2.6). Every path yields a status code; nothing throws outward.
import type {
  Alert, Atomic, Command, Item, ItemData, Meta, Results, Sequence, Status,
} from '../codec/model.js';
import { metaInt } from '../codec/model.js';
import { utf8Encode, utf8Length } from '../codec/utf8.js';
import type { LargeObjectSink, ManagementTree } from '../tree/api.js';
import type { ClientSessionHooks } from './types.js';
import { defaultUiAnswer, parseUiAlert } from './ui-alert.js';
import * as C from './codes.js';
import { copyFields } from './copy-fields.js';

/** A large object being received (DM 1.2 §6.7): one leaf, chunks in consecutive messages. */
export interface IncomingLargeObject {
  sink: LargeObjectSink;
  cmd: 'Add' | 'Replace';
  uri: string;
  source?: string;
  size: number;
  received: number;
}

export interface ExecContext {
  tree: ManagementTree;
  serverId: string;
  hooks: ClientSessionHooks;
  /** The server message being answered (Status MsgRef). */
  msgRef: string;
  /** Largest object we accept (our MaxObjSize). */
  maxObjSize: number;
  /** Largest object the server accepts (its MaxObjSize); bigger Results are refused with 413. */
  serverMaxObjSize: number;
  /** Responses in order; CmdIDs are assigned when a message is built. */
  out: Command[];
  lo: IncomingLargeObject | null;
  /** Server sent Alert 1222. */
  nextMessage: boolean;
  /** Server sent Alert 1223. */
  serverAbort: boolean;
}

export function makeStatus(msgRef: string, cmdRef: string, cmd: string, code: number, targetRef?: string, sourceRef?: string): Status {
  return {
    kind: 'Status', cmdID: '', msgRef, cmdRef, cmd,
    targetRefs: targetRef !== undefined ? [targetRef] : [],
    sourceRefs: sourceRef !== undefined ? [sourceRef] : [],
    code, items: [],
  };
}

/** The element name a Status answers (Cmd): an unsupported command keeps its own. */
export function commandName(c: Command): string {
  return c.kind === 'Unsupported' ? c.name : c.kind;
}

function emit(ctx: ExecContext, c: Command, code: number, item?: Item): Status | null {
  if ((c as { noResp?: boolean }).noResp) return null;
  const s = makeStatus(ctx.msgRef, c.cmdID, commandName(c), code,
    item && item.target ? item.target.locURI : undefined,
    item && item.source ? item.source.locURI : undefined);
  ctx.out.push(s);
  return s;
}

/** Answers `c` with `code` (unless NoResp) and returns the code as the command's outcome. */
function answer(ctx: ExecContext, c: Command, code: number): number {
  emit(ctx, c, code);
  return code;
}

function mergeMeta(a: Meta | undefined, b: Meta | undefined): Meta | undefined {
  if (!a) return b;
  if (!b) return a;
  return copyFields(copyFields({} as Meta, a), b);
}

function dataBytes(d: ItemData | undefined): Uint8Array {
  if (d === undefined) return new Uint8Array(0);
  return typeof d === 'string' ? utf8Encode(d) : d;
}

export function dataLength(d: ItemData | undefined): number {
  if (d === undefined) return 0;
  return typeof d === 'string' ? utf8Length(d) : d.length;
}

/** Drops an unfinished incoming object and tells the server with Alert 1225 (DM 1.2 §6.7). */
export function abandonLargeObject(ctx: ExecContext, tellServer: boolean): void {
  const lo = ctx.lo;
  if (!lo) return;
  ctx.lo = null;
  lo.sink.abort();
  if (!tellServer) return;
  const item: Item = { target: { locURI: lo.uri } };
  if (lo.source !== undefined) item.source = { locURI: lo.source };
  ctx.out.push({ kind: 'Alert', cmdID: '', code: C.AL_NO_END_OF_DATA, items: [item] });
}

// Text chunks (b64 over WBXML/XML) reach the sink as UTF-8 in pieces of this many characters:
// a whole chunk encoded at once would be one more MaxMsgSize-sized copy on the device's heap.
const TEXT_PIECE = 4096;

/** Writes `d` to the sink; text goes in pieces, never split inside a surrogate pair. */
function writeData(sink: LargeObjectSink, d: ItemData | undefined): number {
  if (typeof d !== 'string' || d.length <= TEXT_PIECE) return sink.write(dataBytes(d));
  let w = C.ST_CHUNK_BUFFERED;
  for (let at = 0; at < d.length;) {
    let end = Math.min(d.length, at + TEXT_PIECE);
    const last = d.charCodeAt(end - 1);
    if (end < d.length && last >= 0xd800 && last <= 0xdbff) end--;
    w = sink.write(utf8Encode(d.substring(at, end)));
    if (w !== C.ST_CHUNK_BUFFERED && !C.isSuccess(w)) return w;
    at = end;
  }
  return w;
}

function writeChunk(ctx: ExecContext, lo: IncomingLargeObject, item: Item): number {
  lo.received += dataLength(item.data);
  if (lo.received > lo.size) {
    abandonLargeObject(ctx, false);
    return C.ST_SIZE_MISMATCH;
  }
  const w = writeData(lo.sink, item.data);
  if (w !== C.ST_CHUNK_BUFFERED && !C.isSuccess(w)) {
    abandonLargeObject(ctx, false);
    return w;
  }
  if (item.moreData) return C.ST_CHUNK_BUFFERED;
  ctx.lo = null;
  if (lo.received !== lo.size) {
    lo.sink.abort();
    return C.ST_SIZE_MISMATCH;
  }
  return lo.sink.finish();
}

function addOrReplaceItem(ctx: ExecContext, c: Command & { kind: 'Add' | 'Replace' }, item: Item, nested: boolean): number {
  const uri = item.target ? item.target.locURI : '';
  if (!uri) return C.ST_BAD_REQUEST;
  if (ctx.lo) {
    if (ctx.lo.uri === uri && ctx.lo.cmd === c.kind) return writeChunk(ctx, ctx.lo, item);
    abandonLargeObject(ctx, true);
  }
  const meta = mergeMeta(c.meta, item.meta);
  if (!item.moreData) {
    return c.kind === 'Add' ? ctx.tree.add(ctx.serverId, uri, meta, item.data) : ctx.tree.replace(ctx.serverId, uri, meta, item.data);
  }
  // A chunked item cannot live inside Atomic/Sequence: those must fit one message.
  if (nested) return C.ST_OPTIONAL_FEATURE_NOT_SUPPORTED;
  const size = metaInt(meta ? meta.size : undefined);
  if (size === undefined) return C.ST_SIZE_REQUIRED;
  if (size > ctx.maxObjSize) return C.ST_ENTITY_TOO_LARGE;
  const sink = ctx.tree.openLargeObject(ctx.serverId, uri, c.kind, meta, size);
  if (typeof sink === 'number') return sink;
  const lo: IncomingLargeObject = { sink, cmd: c.kind, uri, size, received: 0 };
  if (item.source) lo.source = item.source.locURI;
  ctx.lo = lo;
  return writeChunk(ctx, lo, item);
}

function getItem(ctx: ExecContext, c: Command & { kind: 'Get' }, item: Item): number {
  const uri = item.target ? item.target.locURI : '';
  if (!uri) return C.ST_BAD_REQUEST;
  const r = ctx.tree.get(ctx.serverId, uri);
  if (!C.isSuccess(r.code) || !r.items || r.items.length === 0) return r.code;
  for (let i = 0; i < r.items.length; i++) {
    // The server's MaxObjSize bounds one object; it could not take this even in chunks.
    if (dataLength(r.items[i].data) > ctx.serverMaxObjSize) return C.ST_ENTITY_TOO_LARGE;
  }
  const res: Results = { kind: 'Results', cmdID: '', msgRef: ctx.msgRef, cmdRef: c.cmdID, targetRefs: [], sourceRefs: [], items: r.items };
  if (r.meta) res.meta = r.meta;
  emit(ctx, c, r.code, item);
  ctx.out.push(res);
  return -r.code;
}

function alertCommand(ctx: ExecContext, a: Alert): number {
  const code = a.code || 0;
  if (code === C.AL_NEXT_MESSAGE) { ctx.nextMessage = true; return C.ST_OK; }
  if (code === C.AL_SESSION_ABORT) { ctx.serverAbort = true; return C.ST_OK; }
  if (code >= C.AL_DISPLAY && code <= C.AL_MULTIPLE_CHOICE) {
    const req = parseUiAlert(a);
    let ans;
    try {
      ans = ctx.hooks.onUiAlert ? ctx.hooks.onUiAlert(req) : defaultUiAnswer(req);
    } catch (e) {
      ans = { code: C.ST_COMMAND_FAILED };
    }
    const st = emit(ctx, a, ans.code);
    if (st && ans.data) for (let i = 0; i < ans.data.length; i++) st.items.push({ data: ans.data[i] });
    return -ans.code;
  }
  return C.ST_OPTIONAL_FEATURE_NOT_SUPPORTED;
}

/** Runs the items of a simple command; returns the first failing code, else the last code. */
function perItem(ctx: ExecContext, c: Command & { items: Item[] }, run: (item: Item) => number): number {
  if (c.items.length === 0) return answer(ctx, c, C.ST_BAD_REQUEST);
  let worst = 0;
  for (let i = 0; i < c.items.length; i++) {
    let code = run(c.items[i]);
    // A negative code means the item already emitted its own Status.
    if (code < 0) code = -code;
    else emit(ctx, c, code, c.items[i]);
    if (worst === 0 || (C.isSuccess(worst) && !C.isSuccess(code))) worst = code;
  }
  return worst;
}

/**
 * Executes one server command. `inAtomic`: inside an Atomic (nested Atomic and Get are 500).
 * Returns the command's outcome code, which Atomic and Sequence use to decide.
 */
export function executeCommand(ctx: ExecContext, c: Command, inAtomic: boolean, nested: boolean): number {
  if (ctx.lo && (c.kind === 'Copy' || c.kind === 'Atomic' || c.kind === 'Sequence')) abandonLargeObject(ctx, true);
  const tree = ctx.tree, sid = ctx.serverId;
  switch (c.kind) {
    case 'Status':
    case 'Results':
      return C.ST_OK;
    case 'Add':
    case 'Replace':
      return perItem(ctx, c, function (it) { return addOrReplaceItem(ctx, c, it, nested); });
    case 'Delete':
      return perItem(ctx, c, function (it) { return it.target ? tree.delete(sid, it.target.locURI) : C.ST_BAD_REQUEST; });
    case 'Copy':
      return perItem(ctx, c, function (it) {
        return it.target && it.source ? tree.copy(sid, it.target.locURI, it.source.locURI) : C.ST_BAD_REQUEST;
      });
    case 'Get':
      if (inAtomic) return answer(ctx, c, C.ST_COMMAND_FAILED);
      return perItem(ctx, c, function (it) { return getItem(ctx, c, it); });
    case 'Exec':
      // Exec lives in SyncBody or Sequence only (DM 1.2 RepPro §6.6.7).
      if (inAtomic) return answer(ctx, c, C.ST_COMMAND_FAILED);
      return perItem(ctx, c, function (it) {
        if (!it.target) return C.ST_BAD_REQUEST;
        const req: { data?: ItemData; meta?: Meta; correlator?: string } = {};
        if (it.data !== undefined) req.data = it.data;
        const m = mergeMeta(c.meta, it.meta);
        if (m) req.meta = m;
        if (c.correlator !== undefined) req.correlator = c.correlator;
        return tree.exec(sid, it.target.locURI, req);
      });
    case 'Alert': {
      const code = alertCommand(ctx, c);
      return code < 0 ? -code : answer(ctx, c, code);
    }
    case 'Atomic':
      return atomic(ctx, c, inAtomic);
    case 'Sequence':
      return sequence(ctx, c, inAtomic);
    default:
      return answer(ctx, c, C.ST_OPTIONAL_FEATURE_NOT_SUPPORTED);
  }
}

function notExecuted(ctx: ExecContext, cmds: Command[], from: number): void {
  for (let i = from; i < cmds.length; i++) {
    const k = cmds[i].kind;
    if (k !== 'Status' && k !== 'Results') emit(ctx, cmds[i], C.ST_NOT_EXECUTED);
  }
}

/** A command inside Atomic or Sequence; one that throws is answered 500 and fails its group. */
function executeNested(ctx: ExecContext, c: Command, inAtomic: boolean): number {
  try {
    return executeCommand(ctx, c, inAtomic, true);
  } catch (e) {
    return answer(ctx, c, C.ST_COMMAND_FAILED);
  }
}

function atomic(ctx: ExecContext, a: Atomic, inAtomic: boolean): number {
  if (inAtomic) return answer(ctx, a, C.ST_COMMAND_FAILED);
  const own = emit(ctx, a, C.ST_OK);
  const outer = ctx.out;
  const inner: Command[] = [];
  ctx.out = inner;
  ctx.tree.begin();
  let failedAt = -1;
  for (let i = 0; i < a.commands.length; i++) {
    if (!C.isSuccess(executeNested(ctx, a.commands[i], true))) { failedAt = i; break; }
  }
  let committed = false;
  if (failedAt < 0) {
    try { committed = ctx.tree.commit(); } catch (e) { committed = false; }
  } else {
    try { ctx.tree.rollback(); } catch (e) { /* the tree reports its own failures */ }
  }
  ctx.out = outer;
  if (!committed) {
    // Everything that had succeeded, nested ones included, was rolled back (216); the
    // command that failed keeps its code.
    for (let i = 0; i < inner.length; i++) {
      const s = inner[i];
      if (s.kind === 'Status' && C.isSuccess(s.code)) s.code = C.ST_ATOMIC_ROLLBACK_OK;
    }
    if (own) own.code = C.ST_ATOMIC_FAILED;
  }
  // Results of a rolled-back Get are dropped with the data they showed.
  for (let i = 0; i < inner.length; i++) if (committed || inner[i].kind !== 'Results') outer.push(inner[i]);
  if (committed) return C.ST_OK;
  if (failedAt >= 0) notExecuted(ctx, a.commands, failedAt + 1);
  return C.ST_ATOMIC_FAILED;
}

function sequence(ctx: ExecContext, s: Sequence, inAtomic: boolean): number {
  emit(ctx, s, C.ST_OK);
  for (let i = 0; i < s.commands.length; i++) {
    const code = executeNested(ctx, s.commands[i], inAtomic);
    // A failed (or user-rejected, 304) step stops the sequence; the rest are 215.
    if (!C.isSuccess(code)) {
      notExecuted(ctx, s.commands, i + 1);
      return inAtomic ? code : C.ST_OK;
    }
  }
  return C.ST_OK;
}
