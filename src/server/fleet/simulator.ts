// The fleet simulator: many emulated devices in one process. Each is the real agent
// (createAgent: DM client engine, DmTree with the SCOMO MO, job engine, store) on a SimHost
// (in-memory flash and package storage, see sim-host.ts), with its own UDP socket for package 0.
// HTTP goes through one keep-alive pool so thousands of devices do not open thousands of
// connections at once. `scomo simulate` and the campaign tests/benchmark run this.
import dgram from 'node:dgram';
import http from 'node:http';
import { createAgent } from '../../agent/agent.js';
import type { Agent } from '../../agent/api.js';
import type { LogLevel } from '../../agent/host.js';
import { SimHost } from './sim-host.js';

export interface SimDeviceSpec {
  deviceId: string;
  clientUser: string;
  clientSecret: string;
  serverId: string;
  serverSecret: string;
  auth: 'basic' | 'md5' | 'hmac';
}

export interface FleetOptions {
  /** DM endpoint, e.g. http://127.0.0.1:8080/dm */
  dmUrl: string;
  /** Several server processes behind no balancer: device i uses dmUrls[i % n] (overrides dmUrl). */
  dmUrls?: string[];
  devices: SimDeviceSpec[];
  encoding?: 'xml' | 'wbxml';
  /** Address the package 0 sockets bind to (default 127.0.0.1). */
  notifyHost?: string;
  /** Most HTTP connections open at once, fleet-wide (default 64). */
  maxSockets?: number;
  /** boot(): this many devices at a time (default 64). */
  bootConcurrency?: number;
  /** Slow links: every device receives at most this many bytes/s per request (default unlimited). */
  bytesPerSecond?: number;
  log?: (deviceId: string, level: LogLevel, message: string) => void;
}

export interface SimDevice {
  spec: SimDeviceSpec;
  agent: Agent;
  host: SimHost;
  notifyPort: number;
}

export interface FleetStats {
  devices: number;
  /** DM sessions the devices opened (boot, package 0, pending alerts). */
  sessions: number;
  /** HTTP exchanges and their latency (ms) as the devices saw it. */
  requests: number;
  httpErrors: number;
  package0: number;
  latencies: Float64Array;
}

export interface RunningFleet {
  devices: SimDevice[];
  /**
   * Boots the devices, `width` at a time (each boot replays its store and opens a client-initiated
   * session); resolves true when every first session succeeded.
   */
  boot(width?: number): Promise<boolean>;
  stats(): FleetStats;
  /** Latency percentile (0..100) of the HTTP exchanges so far, ms. */
  percentile(p: number): number;
  resetLatencies(): void;
  /** Resolves when every device is idle (no session, job, alert or timer pending). */
  waitIdle(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

class LatencyLog {
  private buf = new Float64Array(1 << 16);
  n = 0;
  add(ms: number): void {
    if (this.n === this.buf.length) {
      const b = new Float64Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.n++] = ms;
  }
  values(): Float64Array { return this.buf.subarray(0, this.n); }
  reset(): void { this.n = 0; }
}

export async function startFleet(o: FleetOptions): Promise<RunningFleet> {
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: o.maxSockets ?? 64, maxFreeSockets: o.maxSockets ?? 64 });
  const lat = new LatencyLog();
  let requests = 0, httpErrors = 0, package0 = 0;
  const onHttp = (ms: number, status: number): void => { requests++; if (status !== 200) httpErrors++; lat.add(ms); };
  const devices: SimDevice[] = [];
  const sockets: dgram.Socket[] = [];
  const bindHost = o.notifyHost ?? '127.0.0.1';
  let closed = false;
  try {
    for (const [i, spec] of o.devices.entries()) {
      const dmUrl = o.dmUrls?.length ? o.dmUrls[i % o.dmUrls.length] : o.dmUrl;
      const sock = dgram.createSocket('udp4');
      sockets.push(sock);
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(0, bindHost, () => { sock.off('error', reject); resolve(); });
      });
      const host = new SimHost({
        httpAgent, onHttp, ...(o.bytesPerSecond ? { bytesPerSecond: o.bytesPerSecond } : {}),
        ...(o.log ? { log: (l: LogLevel, m: string) => o.log!(spec.deviceId, l, m) } : {}),
      });
      const notifyPort = sock.address().port;
      const agent = createAgent(host, {
        deviceId: spec.deviceId,
        server: { url: dmUrl, serverId: spec.serverId, clientUser: spec.clientUser, clientSecret: spec.clientSecret, serverSecret: spec.serverSecret, auth: spec.auth },
        encoding: o.encoding ?? 'xml',
        notifyPort,
      });
      host.agent = agent;
      sock.on('message', (msg) => {
        if (closed) return;
        package0++;
        try { agent.onPackage0(new Uint8Array(msg)); } catch (e) { o.log?.(spec.deviceId, 'error', 'package 0: ' + String(e)); }
      });
      devices.push({ spec, agent, host, notifyPort });
    }
  } catch (e) {
    for (const s of sockets) s.close();
    throw e;
  }

  const boot = async (width = o.bootConcurrency ?? 64): Promise<boolean> => {
    // Bounded: every boot is a session, and a fleet that boots at once is a thundering herd.
    let next = 0;
    let ok = true;
    const worker = async (): Promise<void> => {
      while (next < devices.length && !closed) {
        const d = devices[next++];
        d.agent.boot();
        if (!(await waitFor(() => closed || (d.agent.status().sessions > 0 && !d.agent.status().inSession), 120_000))) ok = false;
      }
    };
    await Promise.all(Array.from({ length: Math.min(Math.max(1, width), devices.length) }, worker));
    return ok && devices.every((d) => d.agent.status().lastSessionOk === true);
  };

  const stats = (): FleetStats => {
    let sessions = 0;
    for (const d of devices) sessions += d.agent.status().sessions;
    return { devices: devices.length, sessions, requests, httpErrors, package0, latencies: lat.values() };
  };

  return {
    devices,
    boot,
    stats,
    percentile(p: number): number {
      const v = Float64Array.from(lat.values()).sort();
      if (!v.length) return 0;
      return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
    },
    resetLatencies(): void { lat.reset(); },
    async waitIdle(timeoutMs = 60_000): Promise<boolean> {
      return waitFor(() => devices.every((d) => d.agent.idle()), timeoutMs);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const d of devices) d.host.close();
      await Promise.all(sockets.map((s) => new Promise<void>((r) => { try { s.close(() => r()); } catch { r(); } })));
      httpAgent.destroy();
    },
  };
}

function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const tick = (): void => {
      if (cond()) { resolve(true); return; }
      if (Date.now() - t0 > timeoutMs) { resolve(false); return; }
      setTimeout(tick, 10);
    };
    tick();
  });
}
