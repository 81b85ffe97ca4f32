// Server throughput and latency: server.sessions_per_s.c<N>, server.p50_ms.c<N>, server.p99_ms.c<N>
// with N = 1, 50, 500 concurrent emulated devices on loopback.
//
// The server (src/server/app.ts startServer, SQLite) runs in a child process (bench/server-child.ts)
// so the devices' CPU is not charged to it; the devices are the real client engine
// (src/dm/client-session.ts) over a real DmTree with the standard MOs, many per process, driven by
// a small async loop over fetch (keep-alive). Each device runs sessions back to back (closed loop):
// the server queues one Get (./DevInfo/Mod) for the device over IPC, then the device runs a
// client-initiated session (Alert 1201 + DevInfo, MD5 digest auth both ways with nonce rotation)
// that fetches it: 2 round trips. Latency = first POST to the session's end, per session.
// Throughput = sessions completed inside the measurement window ÷ its length; every device first
// runs one unmeasured session (warm-up, connection set-up).
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClientSession } from '../src/dm/client-session.js';
import type { ClientSessionConfig, SessionStep } from '../src/dm/types.js';
import { base64Decode } from '../src/codec/base64.js';
import { makeTree } from '../test/helpers/tree-setup.js';
import { SERVER_NONCE, CLIENT_NONCE, SECRETS } from './server-accounts.js';
import type { BenchOptions, BenchOutput } from './run.js';

/** Nearest-rank percentile of unsorted samples (p in 0..100). */
export function percentile(samples: number[], p: number): number {
  if (!samples.length) return NaN;
  const s = samples.slice().sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1];
}

export function summarize(latenciesMs: number[], windowMs: number): { sessionsPerS: number; p50: number; p99: number } {
  const r = (v: number): number => Math.round(v * 100) / 100;
  return { sessionsPerS: r(latenciesMs.length / (windowMs / 1000)), p50: r(percentile(latenciesMs, 50)), p99: r(percentile(latenciesMs, 99)) };
}

interface ServerChild { dmUrl: string; queue(deviceId: string): Promise<void>; stop(): Promise<void> }

async function startServerChild(devices: string[]): Promise<ServerChild> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./server-child.ts', import.meta.url)), [], {
    execArgv: ['--import=tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let seq = 0;
  const pending = new Map<number, () => void>();
  let onReady: (url: string) => void = () => {};
  let onError: (e: Error) => void = () => {};
  child.on('message', (m: { ready?: string; queued?: number; error?: string }) => {
    if (m.ready) onReady(m.ready);
    else if (m.queued !== undefined) { pending.get(m.queued)?.(); pending.delete(m.queued); }
    else if (m.error) onError(new Error('server child: ' + m.error));
  });
  const dmUrl = await new Promise<string>((resolve, reject) => {
    onReady = resolve;
    onError = reject;
    child.once('exit', (code) => reject(new Error('server child exited ' + code)));
    child.send({ setup: { devices } });
  });
  return {
    dmUrl,
    queue(deviceId) {
      const id = ++seq;
      return new Promise<void>((resolve) => { pending.set(id, resolve); child.send({ queue: deviceId, id }); });
    },
    stop() {
      return new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.send({ stop: true }); });
    },
  };
}

/** One emulated device: its tree and its credentials (nonces rotate session by session). */
function makeDevice(id: string, dmUrl: string): { runSession(): Promise<{ ok: boolean; reason: string; roundTrips: number }> } {
  const tree = makeTree();
  const cfg: ClientSessionConfig = {
    deviceId: id, serverId: SECRETS.serverId, serverUrl: dmUrl, encoding: 'xml',
    client: { authType: 'md5', user: id, secret: SECRETS.client, nonce: base64Decode(SERVER_NONCE)! },
    server: { authType: 'md5', user: SECRETS.serverId, secret: SECRETS.server, nonce: base64Decode(CLIENT_NONCE)! },
  };
  let n = 0;
  return {
    async runSession() {
      const s = createClientSession(cfg, tree, {
        onNonce(which, nonce) { if (which === 'client') cfg.client.nonce = nonce; else cfg.server.nonce = nonce; },
        randomBytes(k) { const b = new Uint8Array(k); for (let i = 0; i < k; i++) b[i] = (n * 31 + i * 7) & 255; n++; return b; },
      });
      let step: SessionStep = s.start({});
      let roundTrips = 0;
      while (step.kind === 'send') {
        if (++roundTrips > 50) return { ok: false, reason: 'session does not end', roundTrips };
        const res = await fetch(step.url, { method: 'POST', headers: { 'Content-Type': step.contentType, ...step.headers }, body: step.body });
        const body = new Uint8Array(await res.arrayBuffer());
        if (res.status !== 200) return { ok: false, reason: 'HTTP ' + res.status, roundTrips };
        const headers: Record<string, string> = {};
        res.headers.forEach((v, k) => { headers[k] = v; });
        step = s.receive(body, headers);
      }
      return { ok: step.ok, reason: step.reason, roundTrips };
    },
  };
}

export async function measureConcurrency(n: number, windowMs: number): Promise<{ latencies: number[]; roundTrips: number; failures: number }> {
  const ids = Array.from({ length: n }, (_, i) => `bench-${n}-${i}`);
  const server = await startServerChild(ids);
  try {
    const devices = ids.map((id) => makeDevice(id, server.dmUrl));
    const one = async (i: number): Promise<{ ok: boolean; reason: string; roundTrips: number; ms: number }> => {
      await server.queue(ids[i]);
      const t0 = performance.now();
      const r = await devices[i].runSession();
      return { ...r, ms: performance.now() - t0 };
    };
    // Warm-up: every device registers and opens its connection once.
    const warm = await Promise.all(ids.map((_, i) => one(i)));
    const bad = warm.find((r) => !r.ok);
    if (bad) throw new Error('warm-up session failed: ' + bad.reason);
    const latencies: number[] = [];
    let failures = 0;
    let roundTrips = warm[0].roundTrips;
    const start = performance.now();
    const end = start + windowMs;
    await Promise.all(ids.map(async (_, i) => {
      while (performance.now() < end) {
        const r = await one(i);
        if (performance.now() > end) break; // finished after the window: not counted
        if (r.ok) { latencies.push(r.ms); roundTrips = r.roundTrips; } else failures++;
      }
    }));
    return { latencies, roundTrips, failures };
  } finally {
    await server.stop();
  }
}

export async function run(opts: BenchOptions): Promise<BenchOutput> {
  const out: BenchOutput = {};
  const windowMs = opts.quick ? 3000 : 10_000;
  for (const n of [1, 50, 500]) {
    const r = await measureConcurrency(n, windowMs);
    if (r.failures) process.stderr.write(`bench server: c${n}: ${r.failures} sessions failed\n`);
    const s = summarize(r.latencies, windowMs);
    const what = `${n} concurrent emulated devices (client engine + DmTree, fetch keep-alive) in the bench process, server (startServer, SQLite) in a child process, loopback, closed loop for ${windowMs / 1000} s; session = client-initiated, MD5 both ways, 1 queued Get, ${r.roundTrips} round trips, XML`;
    out[`server.sessions_per_s.c${n}`] = { value: s.sessionsPerS, unit: 'sessions/s', how: `sessions completed in the window ÷ window; ${what}${r.failures ? `; ${r.failures} failed sessions not counted` : ''}` };
    out[`server.p50_ms.c${n}`] = { value: s.p50, unit: 'ms', how: `median session latency (first POST to end) over ${r.latencies.length} sessions; ${n} devices as above` };
    out[`server.p99_ms.c${n}`] = { value: s.p99, unit: 'ms', how: `99th percentile (nearest rank) of the same ${r.latencies.length} sessions` };
  }
  return out;
}
