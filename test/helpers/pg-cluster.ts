// Several `scomo server --db postgres://...` child processes on one database, behind one
// address: a tiny round-robin HTTP proxy that alternates requests between the live processes
// and retries a request on the next one when its process died under it (what a load balancer
// does). Devices and API calls use the proxy's URL; `--public-url` points package downloads at
// it too. A test can kill a process (SIGKILL) at a chosen request.
import { spawn, ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PgStorage } from '../../src/server/storage/postgres.js';
import { makeAccount } from '../../src/server/accounts.js';
import { startDevice, RunningDevice } from '../../targets/node/device.js';
import type { TestPostgres } from './postgres.js';

export const TOKEN = 'pg-test-token';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ACCOUNT = { clientUser: 'dev-user', clientSecret: 'dev-secret', serverId: 'scomo-srv', serverSecret: 'srv-secret' };

export interface Backend {
  index: number;
  url: string;
  child: ChildProcess;
  alive: boolean;
  /** DM requests this process answered. */
  dmRequests: number;
  output: string[];
}

/** Called for each proxied request before it is forwarded: returns the backend to use, or undefined for round robin. */
export type Router = (req: { method: string; path: string; body: Buffer }, backends: Backend[]) => { to?: Backend; killAfterSend?: boolean } | undefined;

export interface Cluster {
  url: string;
  dmUrl: string;
  db: string;
  dataDir: string;
  backends: Backend[];
  /** The test's own connection to the database. */
  storage: PgStorage;
  router: Router | undefined;
  kill(b: Backend): void;
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, base?: string): Promise<{ status: number; json: T }>;
  upload(bytes: Uint8Array, name: string, version: string): Promise<{ pkgId: string; size: number }>;
  waitJob(jobId: string, timeoutMs?: number, base?: string): Promise<Record<string, unknown>>;
  addDevice(deviceId: string, auth?: 'basic' | 'md5' | 'hmac'): Promise<void>;
  bootDevice(deviceId: string, opts?: { encoding?: 'xml' | 'wbxml' }): Promise<RunningDevice>;
  close(): Promise<void>;
}

function startChild(index: number, db: string, dataDir: string, publicUrl: string): Promise<Backend> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/scomo.js'), 'server', '--db', db, '--port', '0', '--host', '127.0.0.1',
    '--data', dataDir, '--api-token', TOKEN, '--public-url', publicUrl], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const b: Backend = { index, url: '', child, alive: true, dmRequests: 0, output: [] };
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      const text = d.toString();
      buf += text;
      for (const line of text.split('\n')) if (line) { b.output.push(line); if (b.output.length > 400) b.output.shift(); }
      if (process.env.SCOMO_TEST_DEBUG) process.stdout.write(`[P${index}] ${text}`);
      const m = /listening on (http:\/\/[0-9.]+:[0-9]+)\//.exec(buf);
      if (m && !b.url) { b.url = m[1]; resolve(b); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      b.alive = false;
      if (!b.url) reject(new Error(`server process ${index} exited (${code}) before listening:\n${buf}`));
    });
  });
}

export async function startCluster(pg: TestPostgres, n = 2): Promise<Cluster> {
  const db = await pg.createDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'scomo-pgc-'));
  const backends: Backend[] = [];
  let rr = 0;
  const devices: RunningDevice[] = [];
  const cluster: Partial<Cluster> & { router: Router | undefined } = { router: undefined };

  const forward = (b: Backend, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, afterSend?: () => void): Promise<boolean> =>
    new Promise((resolve) => {
      const u = new URL(b.url);
      let answered = false;
      const out = http.request({ host: u.hostname, port: u.port, method: req.method, path: req.url, headers: req.headers, agent: false }, (pr) => {
        answered = true;
        res.writeHead(pr.statusCode ?? 502, pr.headers);
        pr.pipe(res);
        pr.on('end', () => resolve(true));
        pr.on('error', () => { res.destroy(); resolve(true); });
      });
      out.on('error', () => {
        if (answered) { res.destroy(); resolve(true); return; }
        resolve(false); // not answered: the caller retries on another process
      });
      out.end(body, () => afterSend?.());
    });

  const proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const path = (req.url ?? '/').split('?')[0];
        const route = cluster.router?.({ method: req.method ?? 'GET', path, body }, backends);
        for (let attempt = 0; attempt < 6; attempt++) {
          const live = backends.filter((x) => x.alive);
          if (!live.length) break;
          let b = attempt === 0 && route?.to?.alive ? route.to : live[rr++ % live.length];
          if (!b.alive) b = live[0];
          const kill = attempt === 0 && route?.killAfterSend && b === route.to;
          const ok = await forward(b, req, body, res, kill ? () => cluster.kill!(b) : undefined);
          if (ok) { if (path === '/dm') b.dmRequests++; return; }
          // Its process is gone (or going): the request goes to another one, as a client would retry it.
          await new Promise((r) => setTimeout(r, 20));
        }
        res.writeHead(502).end('no server process\n');
      })();
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  try {
    for (const b of await Promise.all(Array.from({ length: n }, (_x, i) => startChild(i, db, dataDir, url)))) backends.push(b);
  } catch (e) {
    for (const b of backends) b.child.kill('SIGKILL');
    proxy.close();
    throw e;
  }
  backends.sort((a, b) => a.index - b.index);
  const storage = await PgStorage.open(db, { max: 4 });

  const api = async <T,>(method: string, p: string, body?: unknown, base = url): Promise<{ status: number; json: T }> => {
    const r = await fetch(base + p, {
      method, headers: { Authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = { raw: text }; }
    return { status: r.status, json: json as T };
  };

  Object.assign(cluster, {
    url, dmUrl: url + '/dm', db, dataDir, backends, storage, api,
    kill(b: Backend) {
      if (!b.alive) return;
      b.alive = false;
      b.child.kill('SIGKILL');
    },
    async upload(bytes: Uint8Array, name: string, version: string) {
      const r = await fetch(`${url}/api/packages?name=${encodeURIComponent(name)}&version=${encodeURIComponent(version)}&type=application%2Fx-tar`, {
        method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: bytes,
      });
      if (r.status !== 201) throw new Error('upload failed: ' + r.status + ' ' + (await r.text()));
      return (await r.json()) as { pkgId: string; size: number };
    },
    async waitJob(jobId: string, timeoutMs = 30_000, base = url) {
      const t0 = Date.now();
      for (;;) {
        const r = await api<Record<string, unknown>>('GET', '/api/jobs/' + jobId, undefined, base);
        if (r.json.state === 'succeeded' || r.json.state === 'failed') return r.json;
        if (Date.now() - t0 > timeoutMs) throw new Error(`job ${jobId} still ${String(r.json.state)} after ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 50));
      }
    },
    async addDevice(deviceId: string, auth: 'basic' | 'md5' | 'hmac' = 'basic') {
      const a = makeAccount({ deviceId, ...ACCOUNT, authType: auth, serverAuthType: auth, clientNonce: 'AAAAAA==' });
      if (typeof a === 'string') throw new Error(a);
      await storage.putAccount(a);
    },
    async bootDevice(deviceId: string, opts: { encoding?: 'xml' | 'wbxml' } = {}) {
      const dev = await startDevice({
        server: url + '/dm', id: deviceId, ...ACCOUNT, auth: 'basic', encoding: opts.encoding ?? 'xml',
        dataDir: mkdtempSync(join(tmpdir(), 'scomo-pgdev-')), notifyPort: 0,
        ...(process.env.SCOMO_TEST_DEBUG ? { log: (l: string, m: string) => console.log('DEV', l, m) } : {}),
      });
      devices.push(dev);
      await dev.waitIdle(15_000);
      if (dev.notifyPort) await storage.updateAccount(deviceId, { notifyHost: '127.0.0.1', notifyPort: dev.notifyPort });
      return dev;
    },
    async close() {
      for (const d of devices) await d.close().catch(() => {});
      for (const b of backends) if (b.alive) { b.alive = false; b.child.kill('SIGKILL'); }
      await storage.close();
      await new Promise<void>((r) => { proxy.close(() => r()); proxy.closeAllConnections(); });
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
  return cluster as Cluster;
}
