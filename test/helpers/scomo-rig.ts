// An in-process rig for device-side SCOMO tests: the real DM server (SQLite in a temp dir), the
// package repository, and the emulated device (Node or QuickJS runtime). The test plays the
// SCOMO server by queueing DM commands, and reads the final alerts the server receives.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { createRepoServer, type RepoServer } from '../../src/server/repo/repo-server.js';
import type { ReceivedAlert, QueueEntry } from '../../src/server/storage/types.js';
import type { Command, Item } from '../../src/codec/model.js';
import { startDevice, type DeviceOptions } from '../../targets/node/device.js';
import type { NodeHost } from '../../targets/node/host.js';
import { startNativeDevice } from '../../targets/c/native-device.js';
import type { AgentStatus } from '../../src/agent/api.js';
import { prepareNative } from './native.js';

/** The device under test, whichever runtime it runs on. */
export interface DeviceHandle {
  connect(): void;
  waitIdle(timeoutMs?: number): Promise<void>;
  status(): AgentStatus | undefined;
  peakHeap?(): number;
  /** The Node host (node and quickjs runtimes), for tests that intercept a hook. */
  host?: NodeHost;
  close(): Promise<unknown>;
}

export type Runtime = 'node' | 'quickjs' | 'native';

export interface Rig {
  dir: string;
  server: RunningServer;
  repo: RepoServer;
  device: DeviceHandle;
  deviceId: string;
  alerts: ReceivedAlert[];
  /** Queues commands, makes the device open a session, and resolves with the entry's outcomes. */
  run(commands: Command[], timeoutMs?: number): Promise<QueueEntry>;
  /** Resolves with the first final alert carrying `correlator`. */
  alert(correlator: string, timeoutMs?: number): Promise<{ resultCode: number; identifier: string; source: string; target: string; alert: ReceivedAlert }>;
  upload(bytes: Uint8Array, name: string, version: string, type?: string): Promise<{ pkgId: string; url: string; sha256: string; size: number }>;
  /** Restarts the device process state (same data dir), as after a reboot. */
  reboot(opts?: Partial<DeviceOptions>): Promise<void>;
  close(): Promise<void>;
}

export interface RigOptions {
  runtime?: Runtime;
  encoding?: 'xml' | 'wbxml';
  device?: Partial<DeviceOptions>;
}

let cmdSeq = 0;

export async function startRig(o: RigOptions = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-rig-'));
  const deviceId = 'dev-' + (++cmdSeq);
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'server') });
  await server.addAccount({ deviceId, clientUser: deviceId, clientSecret: 'client-secret', serverId: 'scomo-test', serverSecret: 'server-secret', authType: 'basic', serverAuthType: 'basic' });
  const repo = await createRepoServer({ dataDir: join(dir, 'repo'), token: 't' });
  const alerts: ReceivedAlert[] = [];
  const waiters: Array<() => void> = [];
  server.dm.on('alert', (a) => { alerts.push(a); for (const w of waiters.splice(0)) w(); });
  const devOpts = (): DeviceOptions => ({
    server: server.dmUrl, id: deviceId, clientUser: deviceId, clientSecret: 'client-secret', serverId: 'scomo-test',
    serverSecret: 'server-secret', auth: 'basic', encoding: o.encoding ?? 'xml', dataDir: join(dir, 'device'),
    ...o.device,
  });
  const boot = async (extra?: Partial<DeviceOptions>): Promise<DeviceHandle> => {
    const opts = { ...devOpts(), ...extra };
    if (o.runtime === 'native') {
      const bundle = await prepareNative();
      const d = await startNativeDevice({
        server: opts.server, id: opts.id, clientUser: opts.clientUser, clientSecret: opts.clientSecret, serverId: opts.serverId,
        serverSecret: opts.serverSecret, auth: opts.auth, encoding: opts.encoding, dataDir: opts.dataDir, bundle,
        ...(opts.trustKeys ? { trustKeys: opts.trustKeys } : {}), ...(opts.requireSignature ? { requireSignature: true } : {}),
      });
      return { connect: () => d.connect(), waitIdle: (ms) => d.waitIdle(ms), status: () => d.status(), peakHeap: () => d.peakHeap(), close: () => d.close() };
    }
    const d = await startDevice({ ...opts, runtime: o.runtime ?? 'node' });
    return {
      connect: () => d.agent.connect(), waitIdle: (ms) => d.waitIdle(ms), status: () => d.agent.status(), host: d.host,
      ...(d.peakHeap ? { peakHeap: d.peakHeap } : {}), close: () => d.close(),
    };
  };
  let device = await boot();
  await device.waitIdle(20_000);

  const rig: Rig = {
    dir, server, repo, deviceId, alerts,
    get device() { return device; },
    async run(commands, timeoutMs = 30_000) {
      const h = await server.dm.queueCommands(deviceId, commands);
      device.connect();
      return withTimeout(h.done, timeoutMs, 'queued commands were not answered');
    },
    async alert(correlator, timeoutMs = 60_000) {
      const t0 = Date.now();
      for (;;) {
        const a = alerts.find((x) => x.correlator === correlator);
        if (a) return parseAlert(a);
        if (Date.now() - t0 > timeoutMs) throw new Error(`no final alert for ${correlator} within ${timeoutMs} ms; device: ${JSON.stringify(device.status())}`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200); });
      }
    },
    async upload(bytes, name, version, type = 'application/x-tar') {
      const res = await fetch(`${repo.base}/api/packages?name=${encodeURIComponent(name)}&version=${encodeURIComponent(version)}&type=${encodeURIComponent(type)}`, {
        method: 'POST', headers: { Authorization: 'Bearer t' }, body: bytes,
      });
      if (res.status !== 201) throw new Error('upload failed: ' + res.status + ' ' + await res.text());
      return res.json() as Promise<{ pkgId: string; url: string; sha256: string; size: number }>;
    },
    async reboot(extra) {
      await device.close();
      device = await boot(extra);
    },
    async close() {
      await device.close();
      await repo.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return rig;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(what + ` within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e); });
  });
}

export function parseAlert(a: ReceivedAlert): { resultCode: number; identifier: string; source: string; target: string; alert: ReceivedAlert } {
  const it: Item = a.items[0] ?? {};
  const data = typeof it.data === 'string' ? it.data : it.data ? Buffer.from(it.data).toString('utf8') : '';
  const rc = /<ResultCode>\s*(\d+)\s*<\/ResultCode>/.exec(data);
  const id = /<Identifier>([^<]*)<\/Identifier>/.exec(data);
  return {
    resultCode: rc ? Number(rc[1]) : -1,
    identifier: id ? id[1] : '',
    source: it.source?.locURI ?? '',
    target: it.target?.locURI ?? '',
    alert: a,
  };
}

// ---- command builders (the SCOMO server's side of the flows) ----

let id = 0;
const nid = (): string => String(++id);

export function leaf(uri: string, value: string, format = 'chr'): Command {
  return { kind: 'Add', cmdID: nid(), items: [{ target: { locURI: uri }, meta: { format, type: 'text/plain' }, data: value }] };
}
export function node(uri: string): Command {
  return { kind: 'Add', cmdID: nid(), items: [{ target: { locURI: uri }, meta: { format: 'node' } }] };
}
export function exec(uri: string, correlator: string): Command {
  return { kind: 'Exec', cmdID: nid(), correlator, items: [{ target: { locURI: uri } }] };
}
export function get(uri: string): Command {
  return { kind: 'Get', cmdID: nid(), items: [{ target: { locURI: uri } }] };
}

/** Download/<X> with PkgID, Name, PkgURL, PkgType, then Exec of `op` with `correlator`. */
export function downloadJob(x: string, pkgId: string, url: string, op: string, correlator: string, type = 'application/x-tar'): Command[] {
  const b = './SCOMO/Download/' + x;
  return [node(b), leaf(b + '/PkgID', pkgId), leaf(b + '/Name', x), leaf(b + '/PkgURL', url), leaf(b + '/PkgType', type), exec(b + '/Operations/' + op, correlator)];
}

/** Inventory/Delivered/<X> with the package bytes as Data (b64), then Exec of `op`. */
export function deliverJob(x: string, pkgId: string, bytes: Uint8Array, op: string, correlator: string, type = 'application/x-tar'): Command[] {
  const b = './SCOMO/Inventory/Delivered/' + x;
  const data: Command = { kind: 'Add', cmdID: nid(), items: [{ target: { locURI: b + '/Data' }, meta: { format: 'b64', type: 'application/octet-stream' }, data: Buffer.from(bytes).toString('base64') }] };
  return [node(b), leaf(b + '/PkgID', pkgId), leaf(b + '/PkgType', type), data, exec(b + '/Operations/' + op, correlator)];
}
