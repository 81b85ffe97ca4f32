// The Host port of one simulated device: the real agent (src/agent/agent.ts) over an in-memory
// flash (MemFlash) and in-memory package storage, HTTP through a client pool shared by the whole
// fleet, and an installer that really reads the delivered ustar package and reports the
// component named by its manifest.json (no manifest → 1405, as the desktop device does) instead
// of writing files. Thousands of these run in one process.
import type http from 'node:http';
import type { Host, InstallRequest, InstallResult, LogLevel, PackageStorage, StorageStatus } from '../../agent/host.js';
import { EventLoopHost } from '../../../targets/node/event-loop-host.js';
import { MemFlash } from '../../store/mem-flash.js';
import { createUstarReader } from '../../scomo/ustar.js';

export const RC_OK = 1200, RC_INSTALL_FAILED = 1405, RC_ACTIVATE_FAILED = 1409, RC_DEACTIVATE_FAILED = 1410, RC_UNSUPPORTED_ENV = 1413;

/** Package bytes in memory, per storage key (the agent removes them after an install). */
export class MemPackages implements PackageStorage {
  private areas = new Map<string, { chunks: Uint8Array[]; size: number }>();

  constructor(private readonly limit = 64 << 20) {}

  private flat(key: string): Uint8Array | undefined {
    const a = this.areas.get(key);
    if (!a) return undefined;
    if (a.chunks.length > 1) {
      const all = new Uint8Array(a.size);
      let o = 0;
      for (const c of a.chunks) { all.set(c, o); o += c.length; }
      a.chunks = [all];
    }
    return a.chunks[0] ?? new Uint8Array(0);
  }

  open(key: string): StorageStatus {
    if (!this.areas.has(key)) this.areas.set(key, { chunks: [], size: 0 });
    return 'ok';
  }

  append(key: string, bytes: Uint8Array): StorageStatus {
    const a = this.areas.get(key);
    if (!a) return 'error';
    if (a.size + bytes.length > this.limit) return 'no-space';
    a.chunks.push(bytes.slice());
    a.size += bytes.length;
    return 'ok';
  }

  size(key: string): number {
    return this.areas.get(key)?.size ?? 0;
  }

  truncate(key: string, length: number): StorageStatus {
    const b = this.flat(key);
    if (!b) return 'error';
    const k = b.subarray(0, Math.min(length, b.length)).slice();
    this.areas.set(key, { chunks: [k], size: k.length });
    return 'ok';
  }

  sync(): StorageStatus {
    return 'ok';
  }

  read(key: string, offset: number, length: number): Uint8Array {
    const b = this.flat(key);
    if (!b) return new Uint8Array(0);
    return b.subarray(offset, Math.min(b.length, offset + length));
  }

  remove(key: string): void {
    this.areas.delete(key);
  }

  bytes(): number {
    let n = 0;
    for (const a of this.areas.values()) n += a.size;
    return n;
  }
}

interface Component { id: string; name: string; version: string; description?: string; active: boolean; pkgId: string }

/** Reads the ustar from package storage and returns its manifest.json, or why it cannot. */
export function readManifest(read: (off: number, len: number) => Uint8Array, size: number): { id: string; name: string; version: string; description?: string } | string {
  let name = '';
  let manifest: Uint8Array[] | undefined;
  const reader = createUstarReader(
    (h) => { name = h.name.replace(/^\.\//, ''); if (name === 'manifest.json' && h.type !== 'directory') manifest = []; },
    (chunk) => { if (name === 'manifest.json' && manifest) manifest.push(chunk.slice()); },
    () => { /* end of archive */ },
    { onEntryEnd: () => { name = ''; }, maxEntries: 100000 },
  );
  const CHUNK = 64 * 1024;
  for (let off = 0; off < size; off += CHUNK) {
    const err = reader.push(read(off, Math.min(CHUNK, size - off)));
    if (err) return `not a valid ustar archive: ${err.kind}`;
  }
  const end = reader.end();
  if (end) return `not a valid ustar archive: ${end.kind}`;
  if (!manifest) return 'manifest.json missing';
  let m: { id?: unknown; name?: unknown; version?: unknown; description?: unknown };
  try {
    m = JSON.parse(Buffer.concat(manifest).toString('utf8')) as typeof m;
  } catch {
    return 'manifest.json is not JSON';
  }
  if (!m || typeof m !== 'object') return 'manifest.json is not an object';
  for (const k of ['id', 'name', 'version'] as const) if (typeof m[k] !== 'string' || !m[k]) return `manifest.json lacks "${k}"`;
  if (!/^[A-Za-z0-9._~-]{1,128}$/.test(m.id as string)) return 'manifest.json "id" has bad characters';
  return { id: m.id as string, name: m.name as string, version: m.version as string, ...(typeof m.description === 'string' ? { description: m.description } : {}) };
}

export interface SimHostOptions {
  /** Connection pool shared by the fleet (keep-alive, bounded sockets). */
  httpAgent: http.Agent;
  /** Config flash size; default 64 KiB in 2 KiB blocks (the tree of a simulated box is small). */
  flashBytes?: number;
  blockBytes?: number;
  log?: (level: LogLevel, message: string) => void;
  /** Slow link: response bodies arrive at most this fast (bytes/s); default unlimited. */
  bytesPerSecond?: number;
  /** Called after every HTTP response of this device (latency bookkeeping). */
  onHttp?: (ms: number, status: number) => void;
}

export class SimHost extends EventLoopHost implements Host {
  readonly flash: MemFlash;
  readonly packages = new MemPackages();
  readonly components = new Map<string, Component>();

  constructor(o: SimHostOptions) {
    super({
      httpAgent: o.httpAgent, timeoutMs: 60_000,
      ...(o.log ? { log: o.log } : {}), ...(o.bytesPerSecond ? { bytesPerSecond: o.bytesPerSecond } : {}), ...(o.onHttp ? { onHttp: o.onHttp } : {}),
    });
    this.flash = new MemFlash(o.flashBytes ?? 64 * 1024, o.blockBytes ?? 2048);
  }

  install(id: number, req: InstallRequest): void {
    if (this.closed) return;
    const done = (r: InstallResult): void => { setImmediate(() => this.deliver((a) => a.onInstallDone(id, r))); };
    if (req.pkgType !== 'application/x-tar' && req.pkgType !== 'application/tar') { done({ resultCode: RC_UNSUPPORTED_ENV }); return; }
    const m = readManifest((off, len) => this.packages.read(req.storageKey, off, len), req.size);
    if (typeof m === 'string') { this.log('warn', `install of ${req.pkgId} failed: ${m}`); done({ resultCode: RC_INSTALL_FAILED }); return; }
    this.components.set(m.id, { ...m, active: req.activate, pkgId: req.pkgId });
    done({ resultCode: RC_OK, component: m });
  }

  componentOp(id: number, op: 'activate' | 'deactivate' | 'remove', componentId: string): void {
    if (this.closed) return;
    const c = this.components.get(componentId);
    let code = RC_OK;
    if (!c) code = op === 'remove' ? RC_OK : op === 'activate' ? RC_ACTIVATE_FAILED : RC_DEACTIVATE_FAILED;
    else if (op === 'remove') this.components.delete(componentId);
    else c.active = op === 'activate';
    setImmediate(() => this.deliver((a) => a.onComponentOpDone(id, code)));
  }

  installStatus(pkgId: string): InstallResult | undefined {
    for (const c of this.components.values()) {
      if (c.pkgId === pkgId) return { resultCode: RC_OK, component: { id: c.id, name: c.name, version: c.version, ...(c.description ? { description: c.description } : {}) } };
    }
    return undefined;
  }

  close(): void {
    this.stopIo();
  }
}
