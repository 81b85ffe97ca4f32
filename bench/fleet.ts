// Fleet benchmark (issue 9): a simulated fleet (src/server/fleet: the real agent per device, in
// this process) against real `scomo server` processes, and one DownloadInstall campaign over
// all of it in the default waves (1% / 10% / rest).
//   fleet.sqlite.*  one server process on SQLite (its data directory on the temp disk)
//   fleet.*         two server processes on one PostgreSQL (devices split between them), when
//                   PostgreSQL is available here
// Figures: devices; campaign_s (POST /api/campaigns to state "completed"); sessions_per_s (DM
// sessions the devices completed during the campaign / campaign_s); p99_ms (99th percentile of
// the devices' HTTP exchanges with the servers during the campaign: DM messages and downloads).
import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchOptions, BenchOutput } from './run.js';
import { simulateFleet, SimulatedFleet } from '../src/server/fleet/index.js';
import { appPackage } from '../src/server/ustar-writer.js';

const TOKEN = 'bench-fleet-token';
const BIN = fileURLToPath(new URL('../bin/scomo.js', import.meta.url));

interface ServerProc { child: ChildProcess; url: string }

function startServerProc(dataDir: string, db?: string): Promise<ServerProc> {
  const args = [BIN, 'server', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--api-token', TOKEN, '--quiet', ...(db ? ['--db', db] : [])];
  const child = spawn(process.execPath, [...(process.env.SCOMO_BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.SCOMO_BENCH_PROF] : []), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '', err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('server did not start: ' + out + err)); }, 60_000);
    child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /REST API and downloads on (\S+)\)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, url: m[1] }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}): ${err || out}`)); });
  });
}

async function stopServer(p: ServerProc): Promise<void> {
  if (p.child.exitCode !== null) return;
  const gone = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(t);
}

async function api<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(base + path, {
    method, headers: { Authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${text}`);
  return JSON.parse(text) as T;
}

interface Measured { devices: number; campaignS: number; sessionsPerS: number; p99: number; waves: number[]; bootS: number }

async function measure(servers: string[], n: number, timeoutMs: number): Promise<Measured> {
  const main = servers[0];
  const tb = Date.now();
  const fleet: SimulatedFleet = await simulateFleet({
    server: main, token: TOKEN, devices: n, auth: 'md5', prefix: 'bench-',
    ...(servers.length > 1 ? { dmUrls: servers.map((s) => s + '/dm') } : {}),
    fleet: { maxSockets: 96, bootConcurrency: 96 },
  });
  const bootS = (Date.now() - tb) / 1000;
  try {
    if (!fleet.bootOk) throw new Error('not every simulated device booted');
    const pkg = appPackage({ id: 'com.example.bench', name: 'Bench app', version: '1.0' }, { 'bin/run.sh': '#!/bin/sh\necho bench\n' });
    const up = await api<{ pkgId: string }>(main, 'POST', '/api/packages?name=bench&version=1.0&type=application%2Fx-tar', new Uint8Array(pkg));
    fleet.resetLatencies();
    const s0 = fleet.stats().sessions;
    const t0 = Date.now();
    const { campaignId } = await api<{ campaignId: string }>(main, 'POST', '/api/campaigns', { operation: 'DownloadInstall', pkgId: up.pkgId, target: { tags: ['sim'] } });
    let c: { state: string; reason?: string; counts: Record<string, number>; waves: number[] };
    for (;;) {
      c = await api(main, 'GET', '/api/campaigns/' + campaignId);
      if (c.state !== 'running') break;
      if (Date.now() - t0 > timeoutMs) throw new Error(`campaign still running after ${timeoutMs / 1000} s: ${JSON.stringify(c.counts)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const campaignS = (Date.now() - t0) / 1000;
    if (c.state !== 'completed' || c.counts.succeeded !== n) throw new Error(`campaign ended ${c.state} (${c.reason ?? ''}): ${JSON.stringify(c.counts)}`);
    const sessions = fleet.stats().sessions - s0;
    return { devices: n, campaignS, sessionsPerS: sessions / campaignS, p99: fleet.percentile(99), waves: c.waves, bootS };
  } finally {
    await fleet.close();
  }
}

function figures(prefix: string, m: Measured, setup: string): BenchOutput {
  const how = `${m.devices} simulated devices (real agent, in-memory flash, one process) vs ${setup}; one DownloadInstall campaign in waves ${m.waves.join('/')} (maxInFlight 200); fleet boot took ${m.bootS.toFixed(1)} s (not included)`;
  return {
    [`${prefix}.devices`]: { value: m.devices, how },
    [`${prefix}.campaign_s`]: { value: Number(m.campaignS.toFixed(2)), unit: 's', how: 'POST /api/campaigns to state completed; ' + how },
    [`${prefix}.sessions_per_s`]: { value: Number(m.sessionsPerS.toFixed(1)), unit: '1/s', how: 'DM sessions completed by the devices during the campaign / campaign_s; ' + how },
    [`${prefix}.p99_ms`]: { value: Number(m.p99.toFixed(1)), unit: 'ms', how: '99th percentile of the devices\' HTTP exchanges (DM messages, downloads) during the campaign; ' + how },
  };
}

export async function run(opts: BenchOptions): Promise<BenchOutput> {
  // The issue asks for 10,000 devices; on this 2-core machine the job engine finishes ~20-25 jobs/s
  // (about 4 DM sessions per device), so 10,000 take ~7 min per backend: the default stays within
  // the bench's time budget and SCOMO_BENCH_FLEET_DEVICES=10000 measures the full fleet.
  // SCOMO_BENCH_FLEET_ONLY=sqlite|pg runs one half.
  const n = Number(process.env.SCOMO_BENCH_FLEET_DEVICES) || (opts.quick ? 300 : 1_000);
  const only = process.env.SCOMO_BENCH_FLEET_ONLY;
  const timeoutMs = opts.quick ? 120_000 : 600_000;
  const out: BenchOutput = {};
  const quickNote = opts.quick ? ` [quick mode: ${n} devices]` : n < 10_000 ? ` [${n} devices, not 10,000: see bench/fleet.ts]` : '';

  // One process on SQLite.
  const dir = only === 'pg' ? '' : mkdtempSync(join(tmpdir(), 'scomo-bench-fleet-'));
  if (dir) try {
    const srv = await startServerProc(dir);
    try {
      const m = await measure([srv.url], n, timeoutMs);
      Object.assign(out, figures('fleet.sqlite', m, 'one `scomo server` process on SQLite (data dir on the temp disk)' + quickNote));
    } finally {
      await stopServer(srv);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // Two processes on one PostgreSQL, when there is one to start.
  let pgh: { startPostgres(): Promise<{ createDatabase(): Promise<string>; stop(): Promise<void> }> } | undefined;
  if (only !== 'sqlite') try {
    pgh = (await import('../test/helpers/postgres.js')) as unknown as typeof pgh;
  } catch (e) {
    process.stderr.write(`bench fleet: PostgreSQL figures skipped (${(e as Error).message})\n`);
  }
  if (pgh) {
    let pgs: { createDatabase(): Promise<string>; stop(): Promise<void> } | undefined;
    try {
      pgs = await pgh.startPostgres();
    } catch (e) {
      process.stderr.write(`bench fleet: PostgreSQL figures skipped (${(e as Error).message})\n`);
    }
    if (pgs) {
      const pdir = mkdtempSync(join(tmpdir(), 'scomo-bench-fleet-pg-'));
      const procs: ServerProc[] = [];
      try {
        const db = await pgs.createDatabase();
        // Both processes share the data directory (package files) and the database (everything else).
        procs.push(await startServerProc(pdir, db));
        procs.push(await startServerProc(pdir, db));
        const m = await measure(procs.map((p) => p.url), n, timeoutMs);
        Object.assign(out, figures('fleet', m, 'two `scomo server` processes on one PostgreSQL 15 (fsync off; devices split between the processes)' + quickNote));
      } finally {
        for (const p of procs) await stopServer(p);
        await pgs.stop();
        rmSync(pdir, { recursive: true, force: true });
      }
    }
  }
  return out;
}
