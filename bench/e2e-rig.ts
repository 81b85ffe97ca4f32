// Shared set-up of the end-to-end benchmarks (bench/dm.ts, bench/device.ts): the real DM server
// (SQLite in a temp dir) and the package repository on loopback, one device account, and a tap on
// the DM endpoint that records every DM message exchanged (sizes, and the SessionID read back from
// the server's reply) so round trips and bytes can be counted per session.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startServer, type RunningServer } from '../src/server/app.js';
import { createRepoServer, type RepoServer } from '../src/server/repo/repo-server.js';
import type { ReceivedAlert } from '../src/server/storage/types.js';
import { decodeMessage } from '../src/codec/index.js';

export const ACCOUNT = { clientSecret: 'client-secret', serverId: 'scomo-bench', serverSecret: 'server-secret' };

/** One DM request/response pair seen on the server's DM endpoint. */
export interface Exchange { sessionId: string; requestBytes: number; responseBytes: number }

/** Groups exchanges by SessionID, in the order sessions first appear. */
export function sessionsOf(log: Exchange[]): { sessionId: string; roundTrips: number; bytes: number; up: number; down: number }[] {
  const out: { sessionId: string; roundTrips: number; bytes: number; up: number; down: number }[] = [];
  for (const e of log) {
    let s = out.find((x) => x.sessionId === e.sessionId);
    if (!s) { s = { sessionId: e.sessionId, roundTrips: 0, bytes: 0, up: 0, down: 0 }; out.push(s); }
    s.roundTrips++;
    s.up += e.requestBytes;
    s.down += e.responseBytes;
    s.bytes += e.requestBytes + e.responseBytes;
  }
  return out;
}

export interface BenchRig {
  dir: string;
  server: RunningServer;
  repo: RepoServer;
  deviceId: string;
  exchanges: Exchange[];
  alerts: ReceivedAlert[];
  waitAlert(correlator: string, timeoutMs: number): Promise<ReceivedAlert>;
  upload(bytes: Uint8Array, name: string, version: string): Promise<{ pkgId: string; url: string; sha256: string; size: number }>;
  close(): Promise<void>;
}

export async function startBenchRig(deviceId = 'bench-dev-1'): Promise<BenchRig> {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-bench-'));
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'server') });
  await server.addAccount({
    deviceId, clientUser: deviceId, clientSecret: ACCOUNT.clientSecret, serverId: ACCOUNT.serverId,
    serverSecret: ACCOUNT.serverSecret, authType: 'basic', serverAuthType: 'basic',
  });
  const repo = await createRepoServer({ dataDir: join(dir, 'repo'), token: 't' });
  const exchanges: Exchange[] = [];
  const dmPath = new URL(server.dmUrl).pathname;
  // The server answers with one res.end(body) carrying Content-Length (src/server/http.ts).
  server.http.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || !(req.url ?? '').startsWith(dmPath)) return;
    const requestBytes = Number(req.headers['content-length'] ?? 0);
    const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
    (res as unknown as { end: (...a: unknown[]) => ServerResponse }).end = (...a: unknown[]) => {
      const body = a[0];
      if (body instanceof Uint8Array) {
        const d = decodeMessage(body);
        exchanges.push({ sessionId: d.ok ? d.value.msg.hdr.sessionID : '?', requestBytes, responseBytes: body.length });
      }
      return end(...a);
    };
  });
  const alerts: ReceivedAlert[] = [];
  const waiters: Array<() => void> = [];
  server.dm.on('alert', (a) => { alerts.push(a); for (const w of waiters.splice(0)) w(); });
  return {
    dir, server, repo, deviceId, exchanges, alerts,
    async waitAlert(correlator, timeoutMs) {
      const t0 = Date.now();
      for (;;) {
        const a = alerts.find((x) => x.correlator === correlator);
        if (a) return a;
        if (Date.now() - t0 > timeoutMs) throw new Error(`no final alert for ${correlator} within ${timeoutMs} ms`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200); });
      }
    },
    async upload(bytes, name, version) {
      const res = await fetch(`${repo.base}/api/packages?name=${encodeURIComponent(name)}&version=${encodeURIComponent(version)}&type=application%2Fx-tar`, {
        method: 'POST', headers: { Authorization: 'Bearer t' }, body: bytes,
      });
      if (res.status !== 201) throw new Error('upload failed: ' + res.status + ' ' + await res.text());
      return res.json() as Promise<{ pkgId: string; url: string; sha256: string; size: number }>;
    },
    async close() {
      await repo.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** ResultCode of an OperationComplete alert (-1 when absent). */
export function resultCodeOf(a: ReceivedAlert): number {
  const it = a.items[0];
  const data = typeof it?.data === 'string' ? it.data : it?.data ? Buffer.from(it.data).toString('utf8') : '';
  const m = /<ResultCode>\s*(\d+)\s*<\/ResultCode>/.exec(data);
  return m ? Number(m[1]) : -1;
}
