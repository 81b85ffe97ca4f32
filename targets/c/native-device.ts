// Runs scomo-native-agent (the real agent on Duktape, in C) as a device for Node-side drivers:
// tests and benchmarks that also drive targets/node/device.ts. Same shape where it can be:
// status and idleness come from the program's --status-lines, connect() is SIGUSR1, the peak
// engine heap comes from its counting allocator.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AgentStatus } from '../../src/agent/api.js';
import type { DeviceOptions } from '../node/device.js';

const here = fileURLToPath(new URL('.', import.meta.url));

/** targets/c/build/scomo-native-agent */
export const NATIVE_AGENT = join(here, 'build', 'scomo-native-agent');
/** The Node device's reference installers behind the hook contract (targets/host-abi.md). */
export const NODE_INSTALLERS_HOOK = join(here, 'hooks', 'node-installers.sh');

/** Builds the program (make -C targets/c); throws with make's output when it cannot. */
export function buildNativeAgent(): void {
  try {
    execFileSync('make', ['-C', here], { stdio: 'pipe' });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error('make -C targets/c failed (needs build-essential, duktape-dev, libcurl4-openssl-dev, libssl-dev): ' + (err.stderr?.toString() || err.message));
  }
}

/** The emulated device's options that mean the same here (trustKeys: texts are written to files in dataDir). */
type SharedOptions = Pick<DeviceOptions, 'server' | 'id' | 'clientUser' | 'clientSecret' | 'serverId' | 'serverSecret' | 'auth' | 'encoding'
  | 'dataDir' | 'notifyPort' | 'pollIntervalS' | 'caFile' | 'maxPackageBytes' | 'trustKeys' | 'requireSignature'
  | 'downloadRetries' | 'downloadBackoffMs'>;

export interface NativeDeviceOptions extends SharedOptions {
  /** ES5 bundle; default dist/scomo-agent.es5.js. */
  bundle?: string;
  /** Default NODE_INSTALLERS_HOOK. */
  installerHook?: string;
  heapLimit?: number;
  /** Each stderr line of the program (its log). */
  log?: (line: string) => void;
  bin?: string;
}

export interface RunningNativeDevice {
  process: ChildProcess;
  notifyPort?: number;
  /** The last status the program reported (after each change of idleness). */
  status(): AgentStatus | undefined;
  /** Peak engine heap so far, in bytes (as of the last status line). */
  peakHeap(): number;
  /** Agent.connect(): a session now (SIGUSR1). */
  connect(): void;
  /** Resolves when the agent is idle after at least one session (and after the last connect()). */
  waitIdle(timeoutMs?: number): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  close(): Promise<number | null>;
}

interface StatusLine { idle: boolean; peak_heap_bytes: number; status: AgentStatus }

export async function startNativeDevice(o: NativeDeviceOptions): Promise<RunningNativeDevice> {
  const args = ['--server', o.server, '--id', o.id, '--client-user', o.clientUser, '--client-secret', o.clientSecret,
    '--server-id', o.serverId, '--server-secret', o.serverSecret, '--auth', o.auth ?? 'md5', '--encoding', o.encoding ?? 'xml',
    '--data', o.dataDir, '--installer-hook', o.installerHook ?? NODE_INSTALLERS_HOOK, '--status-lines'];
  if (o.notifyPort !== undefined) args.push('--notify-port', String(o.notifyPort));
  if (o.pollIntervalS) args.push('--poll-interval', String(o.pollIntervalS));
  if (o.caFile) args.push('--ca', o.caFile);
  if (o.bundle) args.push('--bundle', o.bundle);
  if (o.maxPackageBytes) args.push('--max-package-bytes', String(o.maxPackageBytes));
  if (o.heapLimit) args.push('--heap-limit', String(o.heapLimit));
  (o.trustKeys ?? []).forEach((k, i) => {
    if (!k.includes('-----BEGIN')) { args.push('--trust-key', k); return; }
    mkdirSync(o.dataDir, { recursive: true });
    const file = join(o.dataDir, `trust-key-${i}.pem`);
    writeFileSync(file, k);
    args.push('--trust-key', file);
  });
  if (o.requireSignature) args.push('--require-signature');
  if (o.downloadRetries !== undefined) args.push('--download-retries', String(o.downloadRetries));
  if (o.downloadBackoffMs !== undefined) args.push('--download-backoff-ms', String(o.downloadBackoffMs));
  const p = spawn(o.bin ?? NATIVE_AGENT, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let last: StatusLine | undefined;
  let notifyPort: number | undefined;
  let busySinceConnect = true;
  let exitCode: number | null | undefined;
  const waiters: Array<() => void> = [];
  const wake = (): void => { for (const w of waiters.splice(0)) w(); };
  const lines = (stream: NodeJS.ReadableStream, each: (l: string) => void): void => {
    let partial = '';
    stream.on('data', (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) each(l);
    });
  };
  const stderrTail: string[] = [];
  lines(p.stderr!, (l) => {
    stderrTail.push(l);
    if (stderrTail.length > 20) stderrTail.shift();
    const m = /notify: listening on udp port (\d+)/.exec(l);
    if (m) notifyPort = Number(m[1]);
    o.log?.(l);
  });
  lines(p.stdout!, (l) => {
    if (!l.startsWith('{"idle"')) return;
    try { last = JSON.parse(l) as StatusLine; } catch { return; }
    if (!last.idle) busySinceConnect = true;
    wake();
  });
  const exited = new Promise<number | null>((resolve) => p.on('close', (code) => { exitCode = code; wake(); resolve(code); }));
  // Ready when the first status line is out (boot ran; signal handlers are installed).
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (exitCode !== undefined) reject(new Error('scomo-native-agent exited with ' + exitCode + ': ' + stderrTail.join('\n')));
      else if (last) resolve();
      else waiters.push(check);
    };
    check();
  });
  return {
    process: p,
    get notifyPort() { return notifyPort; },
    status: () => last?.status,
    peakHeap: () => last?.peak_heap_bytes ?? 0,
    connect() {
      busySinceConnect = false;
      p.kill('SIGUSR1');
    },
    waitIdle(timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`native device did not settle within ${timeoutMs} ms: ${JSON.stringify(last?.status)}`)), timeoutMs);
        const check = (): void => {
          if (exitCode !== undefined) { clearTimeout(timer); reject(new Error('scomo-native-agent exited: ' + stderrTail.join('\n'))); return; }
          if (last && last.idle && busySinceConnect && last.status.sessions > 0) { clearTimeout(timer); resolve(); return; }
          waiters.push(check);
        };
        check();
      });
    },
    close() {
      if (exitCode === undefined) p.kill('SIGTERM');
      return exited;
    },
  };
}
