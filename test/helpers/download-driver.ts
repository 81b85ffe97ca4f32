// A Node driver for the sans-I/O download engine: performs its http-request actions with
// node:http, feeds response/chunk/end/error events back, answers waits after ~1 ms instead of
// the asked delay, and records everything so tests can assert on the conversation.
import http from 'node:http';
import { DownloadEngine } from '../../src/scomo/download/engine.js';
import {
  DownloadAction, DownloadCheckpoint, DownloadEvent, DownloadOutcome, HttpRequestAction, PackageStorage, StorageStatus,
} from '../../src/scomo/download/types.js';

/** Package storage in memory, with an optional capacity (to provoke no-space). */
export class MemoryStorage implements PackageStorage {
  buf = new Uint8Array(1024);
  len = 0;
  finalized = false;
  opens = 0;
  syncs = 0;
  constructor(public capacity = Infinity) {}
  open(): StorageStatus { this.opens++; this.finalized = false; return 'ok'; }
  append(b: Uint8Array): StorageStatus {
    if (this.len + b.length > this.capacity) return 'no-space';
    if (this.len + b.length > this.buf.length) {
      const n = new Uint8Array(Math.max(this.buf.length * 2, this.len + b.length));
      n.set(this.buf.subarray(0, this.len));
      this.buf = n;
    }
    this.buf.set(b, this.len);
    this.len += b.length;
    return 'ok';
  }
  size(): number { return this.len; }
  truncate(n: number): StorageStatus { if (n < this.len) this.len = n; return 'ok'; }
  sync(): StorageStatus { this.syncs++; return 'ok'; }
  finalize(): StorageStatus { this.finalized = true; return 'ok'; }
  bytes(): Buffer { return Buffer.from(this.buf.subarray(0, this.len)); }
}

export interface DriveLog {
  requests: HttpRequestAction[];
  statuses: number[];
  waits: number[];
  checkpoints: DownloadCheckpoint[];
  aborts: number;
  actions: DownloadAction['type'][];
}

export interface DriveHooks {
  /** Called with each event before it reaches the engine; return extra events to feed after it (e.g. cancel). */
  afterEvent?: (ev: DownloadEvent, engine: DownloadEngine) => DownloadEvent[] | void;
  /** Stop driving (without an outcome) once this returns true; simulates a power cut. */
  cut?: (log: DriveLog, engine: DownloadEngine) => boolean;
  waitMs?: number;
}

export interface DriveResult { outcome: DownloadOutcome | null; log: DriveLog }

export function drive(engine: DownloadEngine, hooks: DriveHooks = {}): Promise<DriveResult> {
  const log: DriveLog = { requests: [], statuses: [], waits: [], checkpoints: [], aborts: 0, actions: [] };
  return new Promise((resolve) => {
    const live = new Map<number, http.ClientRequest>();
    let finished = false;
    const end = (outcome: DownloadOutcome | null) => {
      if (finished) return;
      finished = true;
      for (const r of live.values()) r.destroy();
      live.clear();
      resolve({ outcome, log });
    };
    const feed = (ev: DownloadEvent) => {
      if (finished) return;
      if ('id' in ev && ev.id !== undefined && !live.has(ev.id)) return;
      if (ev.type === 'http-end' || ev.type === 'http-error') live.delete(ev.id!);
      run(engine.handle(ev));
      const extra = hooks.afterEvent?.(ev, engine);
      if (extra) for (const e of extra) run(engine.handle(e));
      if (!finished && hooks.cut?.(log, engine)) end(null);
    };
    const run = (actions: DownloadAction[]) => {
      for (const a of actions) {
        log.actions.push(a.type);
        switch (a.type) {
          case 'http-request': start(a); break;
          case 'http-abort': log.aborts++; live.get(a.id)?.destroy(); live.delete(a.id); break;
          case 'wait':
            log.waits.push(a.ms);
            setTimeout(() => feed({ type: 'timer' }), hooks.waitMs ?? 1);
            break;
          case 'checkpoint': log.checkpoints.push(a.checkpoint); break;
          case 'done': end(a.outcome); break;
        }
      }
    };
    const start = (a: HttpRequestAction) => {
      log.requests.push(a);
      const id = a.id;
      const req = http.get(a.url, { headers: a.headers, agent: false }, (res) => {
        log.statuses.push(res.statusCode ?? 0);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
        feed({ type: 'http-response', id, status: res.statusCode ?? 0, headers });
        res.on('data', (c: Buffer) => feed({ type: 'http-chunk', id, bytes: new Uint8Array(c.buffer, c.byteOffset, c.length) }));
        res.on('end', () => feed({ type: 'http-end', id }));
        res.on('error', (e) => feed({ type: 'http-error', id, reason: e.message }));
        res.on('close', () => { if (!res.complete) feed({ type: 'http-error', id, reason: 'connection closed mid-body' }); });
      });
      live.set(id, req);
      req.on('error', (e: NodeJS.ErrnoException) => feed({ type: 'http-error', id, reason: e.code ?? e.message }));
    };
    run(engine.start());
  });
}
