// The event-loop half of a Host on Node, shared by the emulated device (host.ts) and the fleet
// simulator's in-memory host: HTTP with streamed bodies, timers, and delivery of every
// completion to the agent from Node's event loop — never from inside the call that asked.
import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import type { Agent } from '../../src/agent/api.js';
import type { HttpRequest, LogLevel } from '../../src/agent/host.js';

export interface EventLoopHostOptions {
  log?: (level: LogLevel, message: string) => void;
  /** PEM CA bundle for HTTPS servers with a private CA. */
  ca?: string | Buffer;
  /** Connection pool for plain HTTP (the simulator shares one keep-alive pool among its devices). */
  httpAgent?: http.Agent;
  /** Throttles response bodies to this rate (tests of slow downloads). */
  bytesPerSecond?: number;
  /** Told each response's latency (ms to headers) and status. */
  onHttp?: (ms: number, status: number) => void;
  /** Socket inactivity limit, ms (default 30 s). */
  timeoutMs?: number;
}

export abstract class EventLoopHost {
  agent?: Agent;
  protected closed = false;
  private timers = new Map<number, NodeJS.Timeout>();
  private requests = new Map<number, http.ClientRequest>();

  constructor(protected readonly io: EventLoopHostOptions) {}

  protected deliver(fn: (a: Agent) => void): void {
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
    if (this.io.log) this.io.log(level, message);
  }

  httpRequest(id: number, req: HttpRequest): void {
    if (this.closed) return;
    let url: URL;
    try { url = new URL(req.url); } catch {
      setImmediate(() => this.deliver((a) => a.onHttpError(id, 'bad URL ' + req.url)));
      return;
    }
    const tls = url.protocol === 'https:';
    const headers: Record<string, string> = { ...req.headers };
    if (req.body) headers['Content-Length'] = String(req.body.length);
    const t0 = performance.now();
    const timeoutMs = this.io.timeoutMs ?? 30_000;
    const r = (tls ? https : http).request(url, {
      method: req.method, headers, timeout: timeoutMs,
      ...(this.io.ca ? { ca: this.io.ca } : {}), ...(!tls && this.io.httpAgent ? { agent: this.io.httpAgent } : {}),
    }, (res) => {
      this.io.onHttp?.(performance.now() - t0, res.statusCode ?? 0);
      const h: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
      this.deliver((a) => a.onHttpResponse(id, res.statusCode ?? 0, h));
      const bps = this.io.bytesPerSecond;
      res.on('data', (c: Buffer) => {
        if (this.requests.has(id)) this.deliver((a) => a.onHttpChunk(id, new Uint8Array(c.buffer, c.byteOffset, c.length)));
        if (bps) { res.pause(); setTimeout(() => res.resume(), (c.length / bps) * 1000); }
      });
      res.on('end', () => {
        if (this.requests.delete(id)) this.deliver((a) => a.onHttpEnd(id));
      });
      res.on('error', (e) => {
        if (this.requests.delete(id)) this.deliver((a) => a.onHttpError(id, e.message));
      });
    });
    let silent = false;
    r.on('timeout', () => { silent = true; r.destroy(new Error('timeout')); });
    r.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      // Only a failed connection is "cannot reach": a peer that answered wrongly or went quiet was reached.
      const why = silent ? `no answer from ${url.host} within ${timeoutMs / 1000} s`
        : code?.startsWith('HPE_') ? `bad HTTP response from ${url.host} (${code})`
          : `cannot reach ${url.host}: ${code ?? e.message}`;
      if (this.requests.delete(id)) this.deliver((a) => a.onHttpError(id, why));
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

  /** Timers and requests in flight. */
  pendingWork(): number {
    return this.timers.size + this.requests.size;
  }

  /** Stops all I/O: nothing the agent asks for happens any more and no event reaches it. */
  protected stopIo(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const r of this.requests.values()) r.destroy();
    this.requests.clear();
  }
}
