// Sending one large object in chunks (facts §2.6): each message carries the next piece that fits
// the client's MaxMsgSize, the first with Meta Size, all but the last with MoreData.
import type { Command, Item } from '../../codec/model.js';
import { base64Encode } from '../../codec/base64.js';
import { utf8Length } from '../../codec/utf8.js';
import type { QueueEntry } from '../storage/types.js';
import { Encoding, InflightCmd, itemForWire } from './queue.js';
import type { Effect, SessionState } from './session.js';

// The b64 text of binary data sent over XML, cached per data object: re-encoding a multi-MB
// object for every chunk would be quadratic. (The DM server keeps the entry objects of a
// running session in memory, so the same Uint8Array comes back each turn.)
const b64Cache = new WeakMap<Uint8Array, string>();

/** The form in which data travels: b64 text for bytes over XML, else unchanged. */
export function wireData(encoding: Encoding, data: string | Uint8Array): string | Uint8Array {
  if (encoding !== 'xml' || typeof data === 'string') return data;
  let t = b64Cache.get(data);
  if (t === undefined) { t = base64Encode(data); b64Cache.set(data, t); }
  return t;
}

/** Size of the largest item data of an Add/Replace (0 for other commands). */
export function largestItem(c: Command): number {
  if (c.kind === 'Add' || c.kind === 'Replace') {
    let m = 0;
    for (const it of c.items) m = Math.max(m, dataLength(it.data));
    return m;
  }
  return 0;
}

/** Next chunk of the object in st.outChunk, sized to fit the client's MaxMsgSize. */
export function buildChunk(
  st: SessionState, e: QueueEntry | undefined, base: Command[], budget: number,
  sizeOf: (cmds: Command[], final: boolean) => number, nextId: () => string,
  addRoute: (cmdID: string, f: InflightCmd) => void, effects: Effect[],
): Command | undefined {
  const oc = st.outChunk!;
  const src = e?.commands[oc.index];
  const outs = st.entries[String(oc.entryId)];
  if (!e || !src || (src.kind !== 'Replace' && src.kind !== 'Add') || !outs) { st.outChunk = undefined; return undefined; }
  const item0 = src.items[0];
  const data = wireData(st.encoding, item0.data!);
  const total = data.length;
  const first = oc.offset === 0;
  const make = (piece: string | Uint8Array, last: boolean): Command => {
    // An empty value of the same kind, so binary data keeps its Meta Format b64 over XML.
    const it: Item = { ...itemForWire({ ...item0, data: item0.data instanceof Uint8Array ? new Uint8Array(0) : '' }, st.encoding), data: piece };
    if (first) it.meta = { ...(it.meta ?? {}), size: String(oc.size) };
    else if (it.meta) { it.meta = { ...it.meta }; delete it.meta.size; if (!Object.keys(it.meta).length) delete it.meta; }
    if (!last) it.moreData = true;
    return { ...src, cmdID: '?', items: [it] } as Command;
  };
  const overhead = sizeOf([...base, make(typeof data === 'string' ? '' : new Uint8Array(0), false)], false);
  let room = budget - overhead - 8;
  if (room < 16) {
    outs[oc.index].status = 413;
    st.outChunk = undefined;
    effects.push({ type: 'log', message: 'client MaxMsgSize too small for a large-object chunk' });
    return undefined;
  }
  let piece: string | Uint8Array;
  let end: number;
  for (;;) {
    end = Math.min(total, oc.offset + room);
    if (typeof data === 'string') {
      if (item0.data instanceof Uint8Array) {
        // b64 of binary: cut on 4-character boundaries so every chunk decodes on its own.
        if (end < total) end = oc.offset + Math.max(4, Math.floor((end - oc.offset) / 4) * 4);
      } else if (end < total) {
        // Stay clear of splitting a surrogate pair; room counts UTF-16 units, measure below.
        const code = data.charCodeAt(end - 1);
        if (code >= 0xd800 && code <= 0xdbff) end--;
      }
      piece = data.slice(oc.offset, end);
    } else {
      piece = data.subarray(oc.offset, end);
    }
    const last = end >= total;
    const size = sizeOf([...base, make(piece, last)], last);
    if (size <= budget || end - oc.offset <= 4) break;
    room = Math.max(4, Math.floor((end - oc.offset) * budget / size) - 16);
  }
  const last = end >= total;
  const cmd = make(piece, last);
  cmd.cmdID = nextId();
  addRoute(cmd.cmdID, { entryId: oc.entryId, path: [oc.index], cmd: src.kind, ...(last ? {} : { midChunk: true }) });
  oc.offset = end;
  if (last) st.outChunk = undefined;
  return cmd;
}

function dataLength(d: string | Uint8Array | undefined): number {
  if (d === undefined) return 0;
  return typeof d === 'string' ? utf8Length(d) : d.length;
}
