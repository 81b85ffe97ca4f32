// Shared setup of the SCOMO server tests: a SCOMO server on a loopback port with a temp data
// directory, the real emulated device (targets/node) in-process, and small REST helpers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startScomoServer, RunningScomoServer, ScomoServerOptions } from '../../src/server/scomo-server.js';
import { startDevice, RunningDevice } from '../../targets/node/device.js';

export const TOKEN = 'test-token-123';

export interface Env {
  srv: RunningScomoServer;
  dir: string;
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: T }>;
  upload(bytes: Uint8Array, name: string, version: string, type?: string): Promise<{ pkgId: string; url: string; sha256: string; size: number }>;
  waitJob(jobId: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Runs the same suites on PostgreSQL: test/pg-*.test.ts sets `database` (one database per data directory). */
export const dbBackend: { database?: (dataDir: string) => Promise<string> } = {};

/** Every environment not yet closed, and the close of each (idempotent). */
const open = new Map<Env, () => Promise<void>>();

/**
 * Closes (or waits for the closing of) every environment still open. ava runs after.always hooks
 * concurrently, so a suite that stops its database first calls this: a shared environment
 * closed by another file's hook must not lose its database halfway through.
 */
export async function closeAllEnvs(): Promise<void> {
  // A test may have stopped the server itself (a restart): a second stop failing is fine here.
  await Promise.all([...open.values()].map((close) => close().catch(() => undefined)));
}

export async function startEnv(over: Partial<ScomoServerOptions> = {}, dir = mkdtempSync(join(tmpdir(), 'scomo-srv-'))): Promise<Env> {
  const db = dbBackend.database ? await dbBackend.database(dir) : undefined;
  // Many environments share one test cluster at once: small pools keep them under its max_connections.
  const srv = await startScomoServer({ port: 0, host: '127.0.0.1', dataDir: dir, apiToken: TOKEN, ...(db ? { db, dbPoolMax: 10 } : {}), ...over });
  const api = async <T,>(method: string, path: string, body?: unknown, token = TOKEN): Promise<{ status: number; json: T }> => {
    const go = (): Promise<Response> => fetch(srv.url + path, {
      method, headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    // A pooled keep-alive connection to a server stopped by the test fails once: retry on a new one.
    const r = await go().catch(() => go());
    const text = await r.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = { raw: text }; }
    return { status: r.status, json: json as T };
  };
  let closing: Promise<void> | undefined;
  const env: Env = {
    srv, dir, api,
    async upload(bytes, name, version, type = 'application/x-tar') {
      const r = await fetch(`${srv.url}/api/packages?name=${encodeURIComponent(name)}&version=${encodeURIComponent(version)}&type=${encodeURIComponent(type)}`, {
        method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: bytes,
      });
      if (r.status !== 201) throw new Error('upload failed: ' + r.status + ' ' + (await r.text()));
      return (await r.json()) as { pkgId: string; url: string; sha256: string; size: number };
    },
    async waitJob(jobId, timeoutMs = 20_000) {
      const t0 = Date.now();
      for (;;) {
        const r = await api<Record<string, unknown>>('GET', '/api/jobs/' + jobId);
        if (r.json.state === 'succeeded' || r.json.state === 'failed') return r.json;
        if (Date.now() - t0 > timeoutMs) throw new Error(`job ${jobId} still ${String(r.json.state)} after ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 25));
      }
    },
    close() {
      closing ??= (async () => {
        await srv.close();
        rmSync(dir, { recursive: true, force: true });
        open.delete(env);
      })();
      return closing;
    },
  };
  open.set(env, () => env.close());
  return env;
}

export const ACCOUNT = {
  clientUser: 'dev-user', clientSecret: 'dev-secret', serverId: 'scomo-srv', serverSecret: 'srv-secret',
};

export async function addDevice(env: Env, deviceId: string, authType: 'basic' | 'md5' | 'hmac' = 'basic'): Promise<void> {
  // clientNonce: the device's initial SRVCRED nonce is the zero nonce (4 zero bytes); package 0
  // is signed with it until the device issues another.
  await env.srv.addAccount({ deviceId, ...ACCOUNT, authType, serverAuthType: authType, clientNonce: 'AAAAAA==' });
}

export async function bootDevice(env: Env, deviceId: string, dataDir: string, opts: { encoding?: 'xml' | 'wbxml'; notify?: boolean; auth?: 'basic' | 'md5' | 'hmac'; pollIntervalS?: number } = {}): Promise<RunningDevice> {
  const dev = await startDevice({
    server: env.srv.dmUrl, id: deviceId, ...ACCOUNT, auth: opts.auth ?? 'basic', encoding: opts.encoding ?? 'xml', dataDir,
    ...(opts.notify === false ? {} : { notifyPort: 0 }),
    ...(opts.pollIntervalS ? { pollIntervalS: opts.pollIntervalS } : {}),
    ...(process.env.SCOMO_TEST_DEBUG ? { log: (l: string, m: string) => console.log('DEV', l, m) } : {}),
  });
  await dev.waitIdle(15_000);
  // The device may not report its notification port in DevInfo (yet): provision it, as an
  // operator would with `scomo account add --notify-port`.
  const acc = await env.srv.storage.getAccount(deviceId);
  if (dev.notifyPort && acc && acc.notifyPort !== dev.notifyPort) await env.srv.storage.updateAccount(deviceId, { notifyHost: '127.0.0.1', notifyPort: dev.notifyPort });
  return dev;
}
