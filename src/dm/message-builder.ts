// Packs the client's pending commands into one message no larger than the server's MaxMsgSize
// (DM 1.2 §6.7-6.8; facts §2.5, §2.6). What does not fit stays queued for the next message of
// the package; a Results or Replace item too big for any message goes out as a large object:
// chunks with MoreData, the first carrying Meta Size, nothing after a chunk in its message.
import type { Command, Item, ItemData, SyncHdr, SyncML } from '../codec/model.js';
import { encodeMessage } from '../codec/index.js';
import type { Encoding } from '../codec/index.js';
import { dataLength } from './command-executor.js';
import { copyFields } from './copy-fields.js';

/** Slack for CmdID digits and encoder rounding. */
const MARGIN = 24;
/** A chunk smaller than this is not worth a message of its own overhead. */
const MIN_CHUNK = 64;

export interface BuiltMessage {
  body: Uint8Array;
  /** Commands written, in order (CmdIDs assigned). */
  commands: Command[];
  /** True when the message carries Final. */
  final: boolean;
}

export type EncodeResult = { ok: true; body: Uint8Array } | { ok: false; message: string };

function encode(hdr: SyncHdr, commands: Command[], final: boolean, encoding: Encoding): EncodeResult {
  const msg: SyncML = { hdr, body: { commands, final } };
  const r = encodeMessage(msg, encoding);
  return r.ok ? { ok: true, body: r.value } : { ok: false, message: r.error.message };
}

/**
 * From code unit `from` of `s`, the end index of the longest run whose UTF-8 form fits
 * `maxBytes` (never splitting a surrogate pair), and that run's byte count.
 */
function utf8Run(s: string, from: number, maxBytes: number): [number, number] {
  let n = 0, i = from;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length;
    const w = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (n + w > maxBytes) break;
    n += w;
    i += pair ? 2 : 1;
  }
  return [i, n];
}

/** Up to `bytes` of `d` from `offset`: [piece, next offset, piece bytes]. */
function takeData(d: ItemData, offset: number, bytes: number): [ItemData, number, number] {
  if (typeof d !== 'string') {
    const end = Math.min(d.length, offset + bytes);
    return [d.subarray(offset, end), end, end - offset];
  }
  const r = utf8Run(d, offset, bytes);
  return [d.slice(offset, r[0]), r[0], r[1]];
}

function restOf(d: ItemData, offset: number): ItemData {
  return typeof d === 'string' ? d.slice(offset) : d.subarray(offset);
}

function withItem(c: Command, item: Item): Command {
  const copy: any = copyFields({}, c);
  copy.items = [item];
  return copy as Command;
}

function chunkable(c: Command): c is Command & { items: Item[] } {
  return (c.kind === 'Results' || c.kind === 'Replace') && c.items.length === 1 && c.items[0].data !== undefined;
}

/**
 * A queued command. Once part of its single item has gone out as a chunk, `continuation` is
 * set and `offset`/`sent` say where the rest starts (code units or bytes / bytes on the wire),
 * so a multi-megabyte object is neither copied nor re-encoded per message.
 */
export interface Pending {
  cmd: Command;
  continuation?: boolean;
  offset?: number;
  sent?: number;
  total?: number;
}

/**
 * Builds one message: `fixed` always goes first (Status for SyncHdr, Alert 1222), then as
 * much of `queue` as fits; consumed entries are removed from `queue` (a split object stays at
 * the front with its offset advanced). `final` is written only when the queue drains and `wantFinal`.
 */
export function buildMessage(hdr: SyncHdr, fixed: Command[], queue: Pending[], limit: number,
  encoding: Encoding, wantFinal: boolean): { ok: true; value: BuiltMessage } | { ok: false; message: string } {
  const chosen: Command[] = fixed.slice();
  const empty = encode(hdr, [], true, encoding);
  if (!empty.ok) return empty;
  const base = encode(hdr, renumber(chosen.slice()), true, encoding);
  if (!base.ok) return base;
  let used = base.body.length + MARGIN;
  const costOf = function (c: Command): number | string {
    const r = encode(hdr, renumber([c]), true, encoding);
    return r.ok ? r.body.length - empty.body.length : r.message;
  };
  while (queue.length > 0) {
    const p = queue[0];
    const c = p.cmd;
    const big = chunkable(c);
    if (big && p.total === undefined) p.total = dataLength(c.items[0].data);
    const whole = !big || (!p.continuation && (p.total as number) <= limit);
    if (whole) {
      const cost = costOf(c);
      if (typeof cost === 'string') return { ok: false, message: cost };
      if (used + cost <= limit) {
        chosen.push(c);
        used += cost;
        queue.shift();
        continue;
      }
      // Several items that cannot travel together: one command each, then try again.
      if ((c.kind === 'Results' || c.kind === 'Replace' || c.kind === 'Alert') && c.items.length > 1) {
        queue.shift();
        for (let i = c.items.length - 1; i >= 0; i--) queue.unshift({ cmd: withItem(c, c.items[i]) });
        continue;
      }
      if (!big) {
        // Something must move or the session wedges: an oversized command goes alone.
        if (chosen.length === fixed.length) { chosen.push(c); queue.shift(); }
        break;
      }
      // An object that fits a message of its own waits for the next one rather than be chunked.
      if (chosen.length > fixed.length && cost <= limit - base.body.length - MARGIN) break;
    }
    const r = chunkInto(hdr, chosen, fixed.length, p, limit, used, encoding, costOf);
    if (typeof r === 'string') return { ok: false, message: r };
    if (r === 0) break;
    if (r === 2) queue.shift();
    break;
  }
  const final = wantFinal && queue.length === 0;
  const out = encode(hdr, renumber(chosen), final, encoding);
  if (!out.ok) return out;
  return { ok: true, value: { body: out.body, commands: chosen, final } };
}

/**
 * Puts the next piece of `p`'s object into `chosen`: 0 = no room (wait for the next message),
 * 1 = a chunk with MoreData went in (nothing may follow it), 2 = the last piece went in.
 */
function chunkInto(hdr: SyncHdr, chosen: Command[], nFixed: number, p: Pending, limit: number, used: number,
  encoding: Encoding, costOf: (c: Command) => number | string): number | string {
  const c = p.cmd as Command & { items: Item[] };
  const item = c.items[0];
  const data = item.data as ItemData;
  const total = p.total as number;
  const offset = p.offset || 0;
  const sent = p.sent || 0;
  const size = p.continuation ? undefined : total;
  // The last piece: no MoreData, no Size.
  if (p.continuation && total - sent <= limit) {
    const last = withItem(c, chunkItem(item, restOf(data, offset), undefined));
    const lastCost = costOf(last);
    if (typeof lastCost === 'string') return lastCost;
    if (used + lastCost <= limit) {
      chosen.push(last);
      return 2;
    }
  }
  const shell = withItem(c, chunkItem(item, typeof data === 'string' ? '' : new Uint8Array(0), size));
  (shell as { items: Item[] }).items[0].moreData = true;
  const shellCost = costOf(shell);
  if (typeof shellCost === 'string') return shellCost;
  let room = limit - used - shellCost;
  if (room < MIN_CHUNK) {
    if (chosen.length > nFixed) return 0;
    room = MIN_CHUNK;
  }
  // Fit by measuring: XML escaping and WBXML length prefixes make the bytes on the wire differ
  // from the data bytes.
  let take = Math.min(room, total - sent);
  for (let attempt = 0; attempt < 8 && take > 0; attempt++) {
    const piece = takeData(data, offset, take);
    if (piece[2] === 0) break;
    const ci = chunkItem(item, piece[0], size);
    const more = sent + piece[2] < total;
    if (more) ci.moreData = true;
    const cand = withItem(c, ci);
    const test = encode(hdr, renumber(chosen.concat([cand])), false, encoding);
    if (!test.ok) return test.message;
    const over = test.body.length + MARGIN - limit;
    if (over <= 0 || (chosen.length === nFixed && take <= MIN_CHUNK)) {
      chosen.push(cand);
      p.offset = piece[1];
      p.sent = sent + piece[2];
      p.continuation = true;
      return more ? 1 : 2;
    }
    take = take - over - 8;
  }
  if (chosen.length > nFixed) return 0;
  return 'cannot fit a chunk of ' + c.kind + ' in MaxMsgSize ' + limit;
}

/** The item for one chunk: same Target/Source/Meta; Size only on the first (DM 1.2 §6.7). */
function chunkItem(item: Item, data: ItemData, size: number | undefined): Item {
  const ci: Item = {};
  if (item.target) ci.target = item.target;
  if (item.source) ci.source = item.source;
  const meta: any = item.meta ? copyFields({}, item.meta) : {};
  if (size !== undefined) meta.size = String(size);
  else delete meta.size;
  if (Object.keys(meta).length > 0) ci.meta = meta;
  ci.data = data;
  return ci;
}

function renumber(cmds: Command[]): Command[] {
  for (let i = 0; i < cmds.length; i++) (cmds[i] as { cmdID: string }).cmdID = String(i + 1);
  return cmds;
}
