// The desktop emulated device: the real agent on the Node host, a UDP listener for package 0,
// and helpers to wait for it to settle. `scomo device` and the tests run this.
import dgram from 'node:dgram';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAgent } from '../../src/agent/agent.js';
import type { Agent, AgentConfig } from '../../src/agent/api.js';
import type { LogLevel } from '../../src/agent/host.js';
import type { Flash } from '../../src/store/api.js';
import { NodeHost } from './host.js';
import { createQuickJSAgent, type QuickJSAgent } from '../quickjs/glue.js';
import type { NodeInstaller } from './installers.js';

export interface DeviceOptions {
  server: string;
  id: string;
  clientUser: string;
  clientSecret: string;
  serverId: string;
  serverSecret: string;
  auth?: 'basic' | 'md5' | 'hmac';
  encoding?: 'xml' | 'wbxml';
  dataDir: string;
  /** UDP port for package 0 (0 = any free port; undefined = none). */
  notifyPort?: number;
  caFile?: string;
  /** Socket inactivity limit for the DM server and downloads, ms (default 30 s). */
  httpTimeoutMs?: number;
  pollIntervalS?: number;
  maxPackageBytes?: number;
  flash?: Flash;
  installers?: NodeInstaller[];
  log?: (level: LogLevel, message: string) => void;
  /** Where the agent runs: Node itself (default), or inside QuickJS (wasm) with this host injected. */
  runtime?: 'node' | 'quickjs';
  /** QuickJS heap budget, bytes (default 1 MiB). */
  quickjsBudget?: number;
  /** Trusted package-signing keys: PEM file paths or PEM texts (NodeHostOptions.trustKeys). */
  trustKeys?: string[];
  /** Refuse (1407) packages that carry no signature (AgentConfig.requireSignature). */
  requireSignature?: boolean;
  /** AgentConfig.download: alternate-download retries and first back-off. */
  downloadRetries?: number;
  downloadBackoffMs?: number;
}

export interface RunningDevice {
  agent: Agent;
  host: NodeHost;
  notifyPort?: number;
  /** Peak QuickJS heap (memory_used_size) when runtime is 'quickjs'. */
  peakHeap?(): number;
  /** Resolves when the agent is idle (no session, job or pending alert), or rejects after `timeoutMs`. */
  waitIdle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the device. A bad environment (unreadable CA file, busy notification port, a data
 * directory that cannot be used, a flash image the store refuses) rejects with a one-line
 * Error naming the file or port, and leaves no socket or file open behind it.
 */
export async function startDevice(o: DeviceOptions): Promise<RunningDevice> {
  // Checked before anything is bound or written: Node accepts any text as a CA bundle, and a
  // wrong one would only show later as a TLS failure that does not name the file.
  const ca = o.caFile ? readCaFile(o.caFile) : undefined;
  const log = o.log ?? (() => {});
  let sock: dgram.Socket | undefined;
  let notifyPort: number | undefined;
  let host: NodeHost | undefined;
  if (o.notifyPort !== undefined) {
    sock = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        sock!.once('error', reject);
        sock!.bind(o.notifyPort, '127.0.0.1', () => { sock!.off('error', reject); resolve(); });
      });
    } catch (e) {
      sock.close();
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(`UDP notification port ${o.notifyPort} on 127.0.0.1: ${code === 'EADDRINUSE' ? 'already in use' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
    }
    notifyPort = sock.address().port;
    // After bind an error is not fatal: package 0 is only a trigger, the poll still runs.
    sock.on('error', (e) => log('warn', 'notification socket: ' + e.message));
    sock.on('message', (msg) => {
      log('info', `package 0 received (${msg.length} bytes)`);
      host?.agent?.onPackage0(new Uint8Array(msg));
    });
  }
  const cfg: AgentConfig = {
    deviceId: o.id,
    server: {
      url: o.server, serverId: o.serverId, clientUser: o.clientUser, clientSecret: o.clientSecret,
      serverSecret: o.serverSecret, auth: o.auth ?? 'md5',
    },
    encoding: o.encoding ?? 'xml',
    ...(notifyPort ? { notifyPort } : {}),
    ...(o.pollIntervalS ? { pollIntervalMs: o.pollIntervalS * 1000 } : {}),
    ...(o.requireSignature ? { requireSignature: true } : {}),
    ...(o.downloadRetries !== undefined || o.downloadBackoffMs !== undefined
      ? { download: { ...(o.downloadRetries !== undefined ? { maxRetries: o.downloadRetries } : {}), ...(o.downloadBackoffMs !== undefined ? { backoffBaseMs: o.downloadBackoffMs } : {}) } }
      : {}),
  };
  let qjs: QuickJSAgent | undefined;
  let agent: Agent;
  try {
    try {
      mkdirSync(o.dataDir, { recursive: true });
      host = new NodeHost({
        dataDir: o.dataDir,
        log,
        ...(o.flash ? { flash: o.flash } : {}),
        ...(ca ? { ca } : {}),
        ...(o.httpTimeoutMs ? { timeoutMs: o.httpTimeoutMs } : {}),
        ...(o.maxPackageBytes ? { maxPackageBytes: o.maxPackageBytes } : {}),
        ...(o.installers ? { installers: o.installers } : {}),
        ...(o.trustKeys ? { trustKeys: o.trustKeys } : {}),
      });
    } catch (e) {
      // File-system errors get the directory; the host's own errors (flash size, key files) name their file.
      throw (e as NodeJS.ErrnoException).code ? new Error(`cannot use data directory ${o.dataDir}: ${fsReason(e, o.dataDir)}`) : e;
    }
    try {
      if (o.runtime === 'quickjs') {
        qjs = await createQuickJSAgent(host, cfg, { memoryBudget: o.quickjsBudget ?? 1 << 20 });
        agent = qjs;
      } else agent = createAgent(host, cfg);
    } catch (e) {
      // The store refuses an image it cannot trust (e.g. a CRC-valid record that is not msgpack):
      // its errors read "store <kind>: ..." (src/store/record-log.ts storeError).
      const msg = e instanceof Error ? e.message : String(e);
      throw /^store [a-z-]+: /.test(msg) ? new Error(`cannot read the device state${o.flash ? '' : ' in ' + join(o.dataDir, 'flash.bin')}: ${msg}`) : e;
    }
  } catch (e) {
    // Nothing may keep the process alive after a failed start (a bound socket would).
    host?.close();
    qjs?.dispose();
    sock?.close();
    throw e;
  }
  const h = host;
  h.agent = agent;
  agent.boot();
  return {
    agent,
    host: h,
    notifyPort,
    ...(qjs ? { peakHeap: () => qjs!.peakHeap() } : {}),
    waitIdle(timeoutMs = 60_000) {
      const t0 = Date.now();
      return new Promise<void>((resolve, reject) => {
        const tick = (): void => {
          if (agent.idle() && agent.status().sessions > 0) { resolve(); return; }
          if (Date.now() - t0 > timeoutMs) { reject(new Error('device did not settle within ' + timeoutMs + ' ms')); return; }
          setTimeout(tick, 20);
        };
        tick();
      });
    },
    async close() {
      h.close();
      qjs?.dispose();
      if (sock) await new Promise<void>((r) => sock!.close(() => r()));
    },
  };
}

/** The CA bundle in `file`, or a one-line Error: unreadable, no certificate, or one that does not parse. */
function readCaFile(file: string): Buffer {
  let pem: Buffer;
  try { pem = readFileSync(file); } catch (e) { throw new Error(`CA file ${file}: ${fsReason(e, file)}`); }
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new Error(`CA file ${file}: no PEM certificate in it`);
  blocks.forEach((b, i) => {
    try { new X509Certificate(b); } catch (e) { throw new Error(`CA file ${file}: certificate ${i + 1} is not valid: ${(e as Error).message}`); }
  });
  return pem;
}

/** A file-system error as a short reason naming the path ("/x/flash.bin: permission denied") unless it is `self`. */
function fsReason(e: unknown, self?: string): string {
  const err = e as NodeJS.ErrnoException;
  const why: Record<string, string> = {
    EACCES: 'permission denied', EPERM: 'permission denied', EROFS: 'read-only file system', ENOSPC: 'no space left on device',
    EEXIST: 'exists and is not a directory', ENOTDIR: 'a part of the path is not a directory', EISDIR: 'is a directory',
    ENOENT: 'no such file or directory',
  };
  if (err && err.code && why[err.code]) return err.path && err.path !== self ? `${err.path}: ${why[err.code]}` : why[err.code];
  return e instanceof Error ? e.message : String(e);
}
