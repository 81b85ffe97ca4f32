// A Node driver for the sans-I/O DM client engine: POSTs each Outgoing over node:http(s),
// feeds the reply back, retries a dead transport with the engine's back-off policy, and stops
// at Done. This is what targets/node does in a few more lines; tests use it against a real server.
import http from 'node:http';
import https from 'node:https';
import type { ClientSession, Done, Outgoing, StartOptions } from '../../src/dm/types.js';
import { nextRetryDelay, type RetryPolicy } from '../../src/dm/retry-policy.js';

export interface DriverOptions {
  /** Back-off for a transport that fails (no answer, refused, HTTP 5xx). */
  retry?: RetryPolicy;
  /** Per-request timeout, ms (a server that never answers). Default 10 s. */
  timeoutMs?: number;
  /** Extra CA for HTTPS with a test certificate. */
  ca?: string | Buffer;
  /** Sees every exchange (for tests and logging). */
  onExchange?(out: Outgoing, reply: { status: number; body: Uint8Array } | { error: string }): void;
}

export interface DriverResult {
  done: Done;
  roundTrips: number;
  bytesOut: number;
  bytesIn: number;
}

interface Reply { status: number; headers: { [k: string]: string }; body: Uint8Array }

function post(out: Outgoing, opts: DriverOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(out.url);
    const lib = u.protocol === 'https:' ? https : http;
    const headers: { [k: string]: string | number } = {
      'Content-Type': out.contentType, Accept: out.contentType, 'Content-Length': out.body.length,
    };
    for (const k of Object.keys(out.headers)) headers[k] = out.headers[k];
    const req = lib.request(u, { method: 'POST', headers, ca: opts.ca, timeout: opts.timeoutMs ?? 10000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const h: { [k: string]: string } = {};
        for (const k of Object.keys(res.headers)) {
          const v = res.headers[k];
          if (typeof v === 'string') h[k] = v;
          else if (Array.isArray(v)) h[k] = v.join(', ');
        }
        resolve({ status: res.statusCode || 0, headers: h, body: new Uint8Array(Buffer.concat(parts)) });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within ' + (opts.timeoutMs ?? 10000) + ' ms')));
    req.on('error', reject);
    req.end(Buffer.from(out.body.buffer, out.body.byteOffset, out.body.length));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one session to its end. Never rejects: transport failures end in a Done. */
export async function runClientSession(session: ClientSession, start?: StartOptions, opts: DriverOptions = {}): Promise<DriverResult> {
  let step = session.start(start);
  let roundTrips = 0, bytesOut = 0, bytesIn = 0;
  while (step.kind === 'send') {
    const out: Outgoing = step;
    let reply: Reply | null = null;
    let lastError = '';
    for (let attempt = 0; reply === null; attempt++) {
      if (attempt > 0) {
        const d = nextRetryDelay(attempt, opts.retry);
        if (d < 0) break;
        await sleep(d);
      }
      try {
        bytesOut += out.body.length;
        const r = await post(out, opts);
        if (r.status >= 500) throw new Error('HTTP ' + r.status);
        reply = r;
        opts.onExchange?.(out, { status: r.status, body: r.body });
      } catch (e) {
        lastError = (e as Error).message;
        opts.onExchange?.(out, { error: lastError });
      }
    }
    if (reply === null) return { done: session.fail('no answer from server: ' + lastError), roundTrips, bytesOut, bytesIn };
    roundTrips++;
    bytesIn += reply.body.length;
    if (reply.status !== 200) {
      return { done: session.fail('HTTP ' + reply.status + ' from server'), roundTrips, bytesOut, bytesIn };
    }
    step = session.receive(reply.body, reply.headers);
  }
  return { done: step, roundTrips, bytesOut, bytesIn };
}
