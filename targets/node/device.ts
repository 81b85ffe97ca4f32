// The desktop emulated device: the real agent on the Node host, a UDP listener for package 0,
// and helpers to wait for it to settle. `scomo device` and the tests run this.
import dgram from 'node:dgram';
import { mkdirSync, readFileSync } from 'node:fs';
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

export async function startDevice(o: DeviceOptions): Promise<RunningDevice> {
  mkdirSync(o.dataDir, { recursive: true });
  const log = o.log ?? (() => {});
  const host = new NodeHost({
    dataDir: o.dataDir,
    log,
    ...(o.flash ? { flash: o.flash } : {}),
    ...(o.caFile ? { ca: readFileSync(o.caFile) } : {}),
    ...(o.maxPackageBytes ? { maxPackageBytes: o.maxPackageBytes } : {}),
    ...(o.installers ? { installers: o.installers } : {}),
    ...(o.trustKeys ? { trustKeys: o.trustKeys } : {}),
  });
  let sock: dgram.Socket | undefined;
  let notifyPort: number | undefined;
  if (o.notifyPort !== undefined) {
    sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock!.once('error', reject);
      sock!.bind(o.notifyPort, '127.0.0.1', () => { sock!.off('error', reject); resolve(); });
    });
    notifyPort = sock.address().port;
    sock.on('message', (msg) => {
      log('info', `package 0 received (${msg.length} bytes)`);
      host.agent?.onPackage0(new Uint8Array(msg));
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
  if (o.runtime === 'quickjs') {
    qjs = await createQuickJSAgent(host, cfg, { memoryBudget: o.quickjsBudget ?? 1 << 20 });
    agent = qjs;
  } else agent = createAgent(host, cfg);
  host.agent = agent;
  agent.boot();
  return {
    agent,
    host,
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
      host.close();
      qjs?.dispose();
      if (sock) await new Promise<void>((r) => sock!.close(() => r()));
    },
  };
}
