// The Host port on Node: the desktop emulated device. Every async completion is delivered to
// the agent from Node's event loop, never from inside the call that requested it.
import http from 'node:http';
import https from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Agent } from '../../src/agent/api.js';
import type { Host, HttpRequest, InstallRequest, InstallResult, LogLevel } from '../../src/agent/host.js';
import type { CryptoProvider, HashStream } from '../../src/crypto/provider.js';
import type { Flash } from '../../src/store/api.js';
import { FileFlash } from './file-flash.js';
import { PackageFiles } from './package-files.js';
import { AbFirmwareInstaller, DirectoryInstaller, RC_INSTALL_FAILED, type NodeInstaller } from './installers.js';

export interface NodeHostOptions {
  dataDir: string;
  /** Config flash partition (tree + job journal). Default 1 MiB in 4 KiB blocks. */
  flashBytes?: number;
  blockBytes?: number;
  /** Use this flash instead of a file (tests: a cut-able MemFlash). */
  flash?: Flash;
  /** Package storage limit (bytes), to exercise 1404. */
  maxPackageBytes?: number;
  /** PEM CA bundle for HTTPS servers with a private CA. */
  ca?: string | Buffer;
  log?: (level: LogLevel, message: string) => void;
  installers?: NodeInstaller[];
}

const UNSUPPORTED_ENV = 1413;

export class NodeHost implements Host {
  readonly flash: Flash;
  readonly packages: PackageFiles;
  readonly installers: NodeInstaller[];
  agent?: Agent;
  /** Native hashes (node:crypto): packages are hashed while they stream. */
  readonly crypto: CryptoProvider = { createSha256: () => nodeHash('sha256'), createMd5: () => nodeHash('md5') };
  private timers = new Map<number, NodeJS.Timeout>();
  private requests = new Map<number, http.ClientRequest>();
  private closed = false;

  constructor(private opts: NodeHostOptions) {
    this.flash = opts.flash ?? new FileFlash(join(opts.dataDir, 'flash.bin'), opts.flashBytes ?? 1 << 20, opts.blockBytes ?? 4096);
    this.packages = new PackageFiles(join(opts.dataDir, 'packages'), opts.maxPackageBytes);
    this.installers = opts.installers ?? [
      new DirectoryInstaller(join(opts.dataDir, 'components')),
      new AbFirmwareInstaller(join(opts.dataDir, 'firmware')),
    ];
    for (const i of this.installers) i.boot?.();
  }

  private deliver(fn: (a: Agent) => void): void {
    if (this.closed || !this.agent) return;
    const a = this.agent;
    try { fn(a); } catch (e) {
      // The core never throws by design; if it does, say so rather than take the device down.
      this.log('error', 'agent threw: ' + (e instanceof Error ? e.message : String(e)));
    }
  }

  now(): number { return Date.now(); }
  random(n: number): Uint8Array { return new Uint8Array(randomBytes(n)); }
  log(level: LogLevel, message: string): void {
    if (this.opts.log) this.opts.log(level, message);
  }

  httpRequest(id: number, req: HttpRequest): void {
    if (this.closed) return;
    let url: URL;
    try { url = new URL(req.url); } catch {
      setImmediate(() => this.deliver((a) => a.onHttpError(id, 'bad URL ' + req.url)));
      return;
    }
    const lib = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { ...req.headers };
    if (req.body) headers['Content-Length'] = String(req.body.length);
    const r = lib.request(url, { method: req.method, headers, ...(this.opts.ca ? { ca: this.opts.ca } : {}), timeout: 30_000 }, (res) => {
      const h: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
      this.deliver((a) => a.onHttpResponse(id, res.statusCode ?? 0, h));
      res.on('data', (c: Buffer) => {
        if (this.requests.has(id)) this.deliver((a) => a.onHttpChunk(id, new Uint8Array(c.buffer, c.byteOffset, c.length)));
      });
      res.on('end', () => {
        if (this.requests.delete(id)) this.deliver((a) => a.onHttpEnd(id));
      });
      res.on('error', (e) => {
        if (this.requests.delete(id)) this.deliver((a) => a.onHttpError(id, e.message));
      });
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', (e) => {
      const why = (e as NodeJS.ErrnoException).code ?? e.message;
      if (this.requests.delete(id)) this.deliver((a) => a.onHttpError(id, `cannot reach ${url.host}: ${why}`));
    });
    this.requests.set(id, r);
    r.end(req.body ? Buffer.from(req.body.buffer, req.body.byteOffset, req.body.length) : undefined);
  }

  httpCancel(id: number): void {
    const r = this.requests.get(id);
    if (!r) return;
    this.requests.delete(id);
    r.destroy();
  }

  setTimer(id: number, ms: number): void {
    if (this.closed) return;
    this.clearTimer(id);
    this.timers.set(id, setTimeout(() => {
      this.timers.delete(id);
      this.deliver((a) => a.onTimer(id));
    }, ms));
  }

  clearTimer(id: number): void {
    const t = this.timers.get(id);
    if (t) { clearTimeout(t); this.timers.delete(id); }
  }

  install(id: number, req: InstallRequest): void {
    if (this.closed) return;
    const inst = this.installers.find((i) => i.handles(req.pkgType));
    const done = (r: InstallResult): void => { setImmediate(() => this.deliver((a) => a.onInstallDone(id, r))); };
    if (!inst) { this.log('warn', `no installer for PkgType ${req.pkgType}`); done({ resultCode: UNSUPPORTED_ENV }); return; }
    this.log('info', `installing ${req.pkgId} (${req.size} bytes) with the ${inst.name} installer`);
    inst.install(req, (off, len) => this.packages.read(req.storageKey, off, len)).then(done, (e: unknown) => {
      this.log('error', 'installer failed: ' + (e instanceof Error ? e.message : String(e)));
      done({ resultCode: RC_INSTALL_FAILED });
    });
  }

  componentOp(id: number, op: 'activate' | 'deactivate' | 'remove', componentId: string): void {
    if (this.closed) return;
    const inst = this.installers.find((i) => i.owns(componentId));
    const done = (code: number): void => { setImmediate(() => this.deliver((a) => a.onComponentOpDone(id, code))); };
    // No installer owns it: a Remove re-issued after a power cut finds it already gone (success).
    if (!inst) { done(op === 'remove' ? 1200 : op === 'activate' ? 1409 : 1410); return; }
    inst.componentOp(op, componentId).then(done, () => done(1412));
  }

  installStatus(pkgId: string): InstallResult | undefined {
    for (const i of this.installers) {
      const r = i.installStatus(pkgId);
      if (r) return r;
    }
    return undefined;
  }

  /**
   * Power failure: from now on nothing the agent asks for happens and no event reaches it
   * (tests cut the flash and call this from the flash wrapper).
   */
  powerFail(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const r of this.requests.values()) r.destroy();
    this.requests.clear();
  }

  get dead(): boolean {
    return this.closed;
  }

  pendingWork(): number {
    return this.timers.size + this.requests.size;
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const r of this.requests.values()) r.destroy();
    this.requests.clear();
    this.packages.close();
    const f = this.flash as { close?: () => void };
    if (f.close) f.close();
  }
}

function nodeHash(alg: string): HashStream {
  const h = createHash(alg);
  return { update: (d) => { h.update(d); }, digest: () => new Uint8Array(h.digest()) };
}
