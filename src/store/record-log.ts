// The power-safe record log over a host Flash partition (DESIGN.md "src/store").
//
// Layout: the partition is split into two regions (A = first half of the erase blocks, B =
// second half). The authoritative region is the one with a valid header and the higher
// generation. A region is
//   header  magic "DMS1" | generation u32 | baseSeq u32 | crc32(previous 12 bytes)   (16 bytes)
//   frames  kind u8 | payload length u24 | seq u32 | crc32(kind..seq + payload) | payload
// all big-endian; payloads are msgpack records. Frame kinds: 'r' a record inside a
// transaction, 'c' the last frame of a transaction (with a record, or none when its length is
// 0), 'a' abort marker (no payload): the frames since the previous terminator are void.
// Sequence numbers run on by one per frame from the header's baseSeq, so a stale or misplaced
// frame never validates.
//
// Power safety:
// - Appending only programs erased bytes after the last terminator; a transaction counts once
//   its terminator frame is intact, so a cut leaves the previous state or the new one.
// - On open everything after the last intact terminator is ignored. If the tail holds intact
//   but unterminated frames followed by erased flash, an abort marker is appended. If it holds
//   torn or corrupted bytes (which can never be programmed again), the committed prefix is
//   copied verbatim into the other region ("relocation"), whose header is written last.
// - Compaction erases the other region (header block first), writes the owner's snapshot and a
//   terminator, then the header with generation + 1: until that last program completes, the
//   old region stays authoritative. The old region is erased lazily, by the next compaction.
// RAM: one record (plus one frame copy) at a time; nothing is cached between calls.
import type { Flash, FlashCounters, SnapshotWriter, StoreRecord, TxRecordStore, StoreRecovery } from './api.js';
import { crc32Update } from '../crypto/crc32.js';
import { msgpackDecode, msgpackEncode } from './msgpack.js';

const HDR = 16;
const FH = 12;
const MAGIC = 0x444d5331;
const K_REC = 0x72;
const K_END = 0x63;
const K_ABORT = 0x61;
const EMPTY = new Uint8Array(0);

export interface StoreOptions {
  /** Re-emits the owner's live state when the log must be compacted (see SnapshotWriter). */
  snapshot?: SnapshotWriter;
  /** Largest encoded record, bytes (default: 64 KiB, or what fits in a region). */
  maxRecordBytes?: number;
}

export type StoreErrorKind =
  | 'full'       // the state (or transaction) does not fit in a region even after compaction
  | 'too-large'  // one record exceeds maxRecordBytes
  | 'config'     // the partition is too small or not a whole number of blocks
  | 'state'      // call out of order (commit inside a streamed transaction, ...)
  | 'corrupt'    // a CRC-valid record that is not msgpack (forged image or writer bug)
  | 'failed';    // an earlier flash operation threw; reopen the store

export interface StoreError extends Error { kind: StoreErrorKind }

export function storeError(kind: StoreErrorKind, detail: string): StoreError {
  const e = new Error('store ' + kind + ': ' + detail) as StoreError;
  e.name = 'StoreError';
  e.kind = kind;
  return e;
}

export function isStoreError(e: unknown): e is StoreError {
  return e instanceof Error && e.name === 'StoreError';
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}
function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24; b[at + 1] = v >>> 16; b[at + 2] = v >>> 8; b[at + 3] = v;
}
function len24(h: Uint8Array): number {
  return (h[1] << 16) | (h[2] << 8) | h[3];
}

/**
 * Opens (formatting a blank or unreadable partition) and recovers the store. Throws a
 * StoreError('config') for an unusable geometry; a flash exception (power cut) propagates.
 */
export function openStore(flash: Flash, opts?: StoreOptions): TxRecordStore {
  const o = opts || {};
  const bpr = Math.floor(flash.size / flash.blockSize / 2);
  const R = bpr * flash.blockSize;
  if (!(bpr >= 1 && R >= 128 && flash.size % flash.blockSize === 0)) throw storeError('config', 'partition too small');
  const maxRec = Math.min(o.maxRecordBytes || 65536, R - HDR - 2 * FH, 0xffffff);
  const cnt: FlashCounters = { bytesProgrammed: 0, erases: 0 };
  let act = 0;
  let gen = 0;
  let end = HDR;       // next free byte in the active region
  let seq = 0;         // sequence number of the next frame
  let committed = HDR; // end of the last terminator frame
  let txStart = -1;    // first frame of an open streamed transaction
  let broken = false;
  let recovery: StoreRecovery = 'clean';
  let flen = 0;        // payload length of the frame check() accepted

  function program(at: number, bytes: Uint8Array): void {
    broken = true;
    flash.program(at, bytes);
    cnt.bytesProgrammed += bytes.length;
    broken = false;
  }

  function header(r: number): Uint8Array | null {
    const h = flash.read(r * R, HDR);
    return u32(h, 0) === MAGIC && crc32Update(0, h, 0, 12) === u32(h, 12) ? h : null;
  }

  /** Programs a frame at absolute `at`; false when it would pass absolute `limit`. */
  function putFrame(at: number, limit: number, kind: number, s: number, payload: Uint8Array): boolean {
    const n = payload.length;
    if (at + FH + n > limit) return false;
    const f = new Uint8Array(FH + n);
    f[0] = kind; f[1] = n >>> 16; f[2] = n >>> 8; f[3] = n;
    put32(f, 4, s);
    f.set(payload, FH);
    put32(f, 8, crc32Update(crc32Update(0, f, 0, 8), f, FH));
    program(at, f);
    return true;
  }

  /** The kind of the intact frame with sequence `s` at absolute `at` (length in flen), else 0. */
  function check(at: number, s: number, limit: number): number {
    if (at + FH > limit) return 0;
    const h = flash.read(at, FH);
    const kind = h[0];
    const n = len24(h);
    if (kind !== K_REC && kind !== K_END && kind !== K_ABORT) return 0;
    if ((kind === K_REC) !== (n > 0) && kind !== K_END || at + FH + n > limit || u32(h, 4) !== s) return 0;
    // In 256-byte pieces: a corrupted length must not make us allocate the region.
    let crc = crc32Update(0, h, 0, 8);
    for (let p = 0; p < n; p += 256) crc = crc32Update(crc, flash.read(at + FH + p, Math.min(256, n - p)));
    if (crc !== u32(h, 8)) return 0;
    flen = n;
    return kind;
  }

  function isErased(at: number, limit: number): boolean {
    for (; at < limit; at += 256) {
      const b = flash.read(at, Math.min(256, limit - at));
      for (let i = 0; i < b.length; i++) if (b[i] !== 0xff) return false;
    }
    return true;
  }

  function encode(rec: StoreRecord): Uint8Array {
    const p = msgpackEncode(rec);
    if (p.length > maxRec) throw storeError('too-large', p.length + ' > ' + maxRec + ' bytes');
    return p;
  }

  function guard(txOpen: boolean): void {
    if (broken) throw storeError('failed', 'reopen the store');
    if (txOpen !== txStart >= 0) throw storeError('state', txOpen ? 'no open transaction' : 'transaction open');
  }

  /**
   * Writes a fresh image into the other region, then its header (generation + 1, baseSeq `bs`)
   * and switches to it. `fill(t)` programs frames from the header on and returns
   * [end, next seq, committed end] (offsets relative to the region).
   */
  function switchRegion(bs: number, fill: (t: number) => number[]): void {
    const t = 1 - act;
    broken = true;
    // Header block first: a torn erase leaves no valid header behind.
    for (let i = 0; i < bpr; i++) { flash.erase(t * bpr + i); cnt.erases++; }
    broken = false;
    const r = fill(t * R);
    const h = new Uint8Array(HDR);
    put32(h, 0, MAGIC);
    put32(h, 4, gen + 1);
    put32(h, 8, bs);
    put32(h, 12, crc32Update(0, h, 0, 12));
    program(t * R, h);
    act = t; gen = (gen + 1) >>> 0;
    end = r[0]; seq = r[1] >>> 0; committed = r[2];
  }

  /**
   * Compaction: the owner's snapshot and a terminator; then the open streamed transaction's
   * frames (`carry`), or the transaction being committed (`tx`, terminated): the header switch
   * commits snapshot and transaction together.
   */
  function compact(carry: boolean, tx?: Uint8Array[]): void {
    const snap = o.snapshot;
    if (!snap) throw storeError('full', 'no snapshot writer');
    const from = act * R;
    const open = carry ? txStart : -1;
    const oldEnd = end;
    const bs = seq;
    switchRegion(bs, (t) => {
      let w = t + HDR;
      let s = bs;
      const put = (kind: number, p: Uint8Array, limit: number): void => {
        if (!putFrame(w, limit, kind, s++, p)) throw storeError('full', 'state too big');
        w += FH + p.length;
      };
      snap((rec) => put(K_REC, encode(rec), t + R - FH));
      put(K_END, EMPTY, t + R);
      const done = w - t;
      for (let p = open; p >= 0 && p < oldEnd; p += FH + len24(flash.read(from + p, 4))) {
        put(K_REC, flash.read(from + p + FH, len24(flash.read(from + p, 4))), t + R);
      }
      const last = tx ? tx.length - 1 : 0;
      for (let i = 0; i <= last && tx; i++) put(i === last ? K_END : K_REC, tx[i], t + R);
      return [w - t, s, tx ? w - t : done];
    });
    txStart = open >= 0 ? committed : -1;
  }

  function write(kind: number, payload: Uint8Array, carry: boolean): void {
    if (!putFrame(act * R + end, act * R + R, kind, seq, payload)) {
      compact(carry);
      if (!putFrame(act * R + end, act * R + R, kind, seq, payload)) throw storeError('full', 'record too big');
    }
    end += FH + payload.length;
    seq = (seq + 1) >>> 0;
  }

  // ---- open & recover ----
  const h0 = header(0);
  const h1 = header(1);
  if (!h0 && !h1) {
    // Blank or foreign partition: start at generation 1 in region A (switching from "B").
    act = 1; gen = 0;
    switchRegion(0, () => [HDR, 0, HDR]);
    recovery = 'formatted';
  } else {
    act = !h0 ? 1 : !h1 ? 0 : ((u32(h1, 4) - u32(h0, 4)) | 0) > 0 ? 1 : 0;
    const h = (act ? h1 : h0) as Uint8Array;
    gen = u32(h, 4);
    const baseSeq = u32(h, 8);
    const rb = act * R;
    let pos = HDR;
    let s = baseSeq;
    let termSeq = s;
    for (let k; (k = check(rb + pos, s, rb + R)); ) {
      pos += FH + flen;
      s = (s + 1) >>> 0;
      if (k !== K_REC) { committed = pos; termSeq = s; }
    }
    end = committed; seq = termSeq;
    if (pos !== committed || !isErased(rb + pos, rb + R)) {
      if (isErased(rb + pos, rb + R) && putFrame(rb + pos, rb + R, K_ABORT, s, EMPTY)) {
        end = committed = pos + FH;
        seq = (s + 1) >>> 0;
        recovery = 'aborted-tail';
      } else {
        const upTo = committed;
        switchRegion(baseSeq, (t) => {
          for (let p = HDR; p < upTo; p += 256) program(t + p, flash.read(rb + p, Math.min(256, upTo - p)));
          return [upTo, termSeq, upTo];
        });
        recovery = 'relocated';
      }
    }
  }

  return {
    replay(visit: (rec: StoreRecord) => void): void {
      // Allowed inside a snapshot writer and with a streamed transaction open: it reads the
      // committed records of the region that is authoritative at the time of the call.
      if (broken) throw storeError('failed', 'reopen the store');
      const rb = act * R;
      let pos = HDR;
      while (pos < committed) {
        // Look ahead to the transaction's terminator: aborted frames are skipped unread.
        let p = pos;
        let k = K_REC;
        while (k === K_REC) {
          if (p >= committed) throw storeError('failed', 'log changed');
          const h = flash.read(rb + p, 4);
          k = h[0];
          p += FH + len24(h);
        }
        if (k === K_ABORT) pos = p;
        // Frames up to `committed` passed their CRC check on open or were written by us.
        for (; pos < p; ) {
          const n = len24(flash.read(rb + pos, 4));
          if (n) {
            const d = msgpackDecode(flash.read(rb + pos + FH, n));
            if (!d.ok) throw storeError('corrupt', d.error.message);
            visit(d.value);
          }
          pos += FH + n;
        }
      }
    },
    commit(records: StoreRecord[]): void {
      guard(false);
      if (!records.length) return;
      const payloads: Uint8Array[] = [];
      let total = end;
      for (let i = 0; i < records.length; i++) total += FH + payloads[payloads.push(encode(records[i])) - 1].length;
      // Snapshot, then these records, switched to atomically. The snapshot may already
      // reflect them (owner applied first): records must state results, not deltas.
      if (total > R) return compact(false, payloads);
      for (let i = 0; i < payloads.length; i++) write(i === payloads.length - 1 ? K_END : K_REC, payloads[i], false);
      committed = end;
    },
    begin(): void {
      guard(false);
      txStart = end;
    },
    append(rec: StoreRecord): void {
      guard(true);
      write(K_REC, encode(rec), true);
    },
    commitTx(): void {
      guard(true);
      write(K_END, EMPTY, true);
      committed = end;
      txStart = -1;
    },
    abortTx(): void {
      if (txStart < 0) return;
      guard(true);
      const had = end > txStart;
      txStart = -1;
      if (!had) return;
      if (putFrame(act * R + end, act * R + R, K_ABORT, seq, EMPTY)) { end = committed = end + FH; seq = (seq + 1) >>> 0; }
      else compact(false);
    },
    compact(): void {
      guard(false);
      compact(false);
    },
    free(): number {
      return R - end;
    },
    counters(): FlashCounters {
      return { bytesProgrammed: cnt.bytesProgrammed, erases: cnt.erases };
    },
    info() {
      return { region: act, generation: gen, used: end, capacity: R, recovery };
    },
  };
}
