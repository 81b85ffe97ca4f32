// Device memory during a full DownloadInstall: device.<node|quickjs>.peak_heap_bytes.<dm|alternate>_<N>mb
// for packages of 1, 16 and 64 MB (quick: 1 MB only). It must stay flat as the package grows.
//
// Set-up: the real DM server (SQLite) and package repository on loopback (bench/e2e-rig.ts) in
// this process; the emulated device (targets/node/device.ts startDevice, the real agent, file
// flash, package files on disk) alone in a child process (bench/device-child.ts, --expose-gc).
// The package is an application tar (manifest + a payload of xorshift bytes, fixed seed) that the
// directory installer extracts. Flows (the SCOMO server's commands from src/server/scomo/plan.ts):
//   alternate: Add Download/<X> (PkgID, Name, PkgURL, ...) + Exec DownloadInstall; the device
//              fetches the package from the repository over HTTP, checks it, installs it;
//   dm:        Add Inventory/Delivered/<X> + leaves + Data (Format bin; the DM server sends it as
//              a large object, opaque chunks over WBXML sized to the device's MaxMsgSize)
//              + Exec Install.
// The run ends when the server has the final Generic Alert with ResultCode 1200.
//   node:    peak over the idle baseline of process heapUsed + arrayBuffers, sampled every 10 ms;
//   quickjs: the agent inside QuickJS (wasm; targets/quickjs/glue.ts, budget 1 MiB): its peak
//            memory_used_size as recorded by the glue (absolute, not over a baseline).
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { alternateDownload, dmDelivery } from '../src/server/scomo/plan.js';
import { makeAppPackage } from '../test/helpers/packages.js';
import { startBenchRig, resultCodeOf, ACCOUNT } from './e2e-rig.js';
import { writeFileSync, mkdirSync } from 'node:fs';
import { buildNativeAgent, startNativeDevice } from '../targets/c/native-device.js';
import { bundleES5, ENTRIES } from '../build/build.js';
import type { BenchOptions, BenchOutput } from './run.js';

export type Delivery = 'dm' | 'alternate';
export type Runtime = 'node' | 'quickjs';

export interface DeviceRun { baseline: number; peak: number; peakLive: number; qjsPeak?: number; seconds: number; sessionMs: number }

export function figureKey(runtime: Runtime, delivery: Delivery, mb: number): string {
  return `device.${runtime}.peak_heap_bytes.${delivery}_${mb}mb`;
}

interface Child { send(m: unknown): void; next(kind: string): Promise<Record<string, unknown>>; stop(): Promise<void> }

function startChild(): Child {
  const child: ChildProcess = fork(fileURLToPath(new URL('./device-child.ts', import.meta.url)), [], {
    execArgv: ['--import=tsx', '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: Record<string, unknown>[] = [];
  let wake: (() => void) | undefined;
  let exited = false;
  child.on('message', (m: Record<string, unknown>) => { inbox.push(m); wake?.(); });
  child.on('exit', () => { exited = true; wake?.(); });
  return {
    send: (m) => child.send(m as never),
    async next(kind) {
      for (;;) {
        const i = inbox.findIndex((m) => kind in m || 'error' in m);
        if (i >= 0) {
          const m = inbox.splice(i, 1)[0];
          if ('error' in m) throw new Error('device child: ' + String(m.error));
          return m;
        }
        if (exited) throw new Error('device child exited');
        await new Promise<void>((r) => { wake = r; });
      }
    },
    stop() {
      if (exited) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000); // a wedged device must not wedge the bench
        child.once('exit', () => { clearTimeout(kill); resolve(); });
        child.send({ stop: true });
      });
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e); });
  });
}

export async function measureInstall(runtime: Runtime, delivery: Delivery, mb: number): Promise<DeviceRun> {
  const rig = await startBenchRig(`bench-${runtime}-${delivery}-${mb}`);
  const child = startChild();
  try {
    const t0 = Date.now();
    const bytes = makeAppPackage({ id: 'bench-big', name: 'Bench Big', version: String(mb), payloadBytes: mb << 20 });
    const pkg = await rig.upload(bytes, 'bench-big', String(mb));
    child.send({ start: {
      server: rig.server.dmUrl, id: rig.deviceId, clientSecret: ACCOUNT.clientSecret, serverId: ACCOUNT.serverId,
      serverSecret: ACCOUNT.serverSecret, encoding: delivery === 'dm' ? 'wbxml' : 'xml', runtime, dataDir: rig.dir + '/device',
    } });
    await child.next('booted');
    const ref = { pkgId: pkg.pkgId, name: 'bench-big', version: String(mb), type: 'application/x-tar', url: pkg.url, bytes };
    const cmds = delivery === 'alternate'
      ? alternateDownload('./SCOMO', 'big', ref, 'DownloadInstall', 'bench-big').commands
      : dmDelivery('./SCOMO', 'big', ref, 'Install', 'bench-big').commands;
    const h = await rig.server.dm.queueCommands(rig.deviceId, cmds);
    const tc = Date.now();
    child.send({ connect: true });
    // A hang is reported as a failure, not waited out. QuickJS-wasm takes ~8 s per MB over DM.
    const limitMs = 30_000 + mb * (runtime === 'quickjs' && delivery === 'dm' ? 15_000 : 4000);
    const done = await withTimeout(h.done, limitMs, 'the management session');
    const sessionMs = Date.now() - tc;
    const statuses = (done.outcomes ?? []).map((o) => o.status);
    if (statuses.some((c) => c >= 300)) throw new Error(`${runtime} ${delivery} ${mb} MB: the device answered ${statuses.join(',')}`);
    const alert = await rig.waitAlert('bench-big', limitMs);
    const rc = resultCodeOf(alert);
    if (rc !== 1200) throw new Error(`${runtime} ${delivery} ${mb} MB: result code ${rc}`);
    child.send({ report: true });
    const r = (await child.next('report')).report as { baseline: number; peak: number; peakLive: number; qjsPeak?: number };
    return { ...r, seconds: (Date.now() - t0) / 1000, sessionMs };
  } finally {
    await child.stop();
    await rig.close();
  }
}

/**
 * The native C agent (ES5 bundle on Duktape, targets/c) through the same install: its peak engine
 * heap comes from the program's counting allocator (every byte Duktape holds, code included).
 */
export async function measureNativeInstall(bundle: string, delivery: Delivery, mb: number): Promise<{ peak: number; seconds: number; sessionMs: number }> {
  const rig = await startBenchRig(`bench-native-${delivery}-${mb}`);
  let dev: Awaited<ReturnType<typeof startNativeDevice>> | undefined;
  try {
    const t0 = Date.now();
    const bytes = makeAppPackage({ id: 'bench-big', name: 'Bench Big', version: String(mb), payloadBytes: mb << 20 });
    const pkg = await rig.upload(bytes, 'bench-big', String(mb));
    dev = await startNativeDevice({
      server: rig.server.dmUrl, id: rig.deviceId, clientUser: rig.deviceId, clientSecret: ACCOUNT.clientSecret, serverId: ACCOUNT.serverId,
      serverSecret: ACCOUNT.serverSecret, auth: 'basic', encoding: delivery === 'dm' ? 'wbxml' : 'xml', dataDir: rig.dir + '/device', bundle,
    });
    await dev.waitIdle(30_000);
    const ref = { pkgId: pkg.pkgId, name: 'bench-big', version: String(mb), type: 'application/x-tar', url: pkg.url, bytes };
    const cmds = delivery === 'alternate'
      ? alternateDownload('./SCOMO', 'big', ref, 'DownloadInstall', 'bench-big').commands
      : dmDelivery('./SCOMO', 'big', ref, 'Install', 'bench-big').commands;
    const h = await rig.server.dm.queueCommands(rig.deviceId, cmds);
    const tc = Date.now();
    dev.connect();
    const limitMs = 30_000 + mb * (delivery === 'dm' ? 15_000 : 4000);
    const done = await withTimeout(h.done, limitMs, 'the management session');
    const sessionMs = Date.now() - tc;
    const statuses = (done.outcomes ?? []).map((o) => o.status);
    if (statuses.some((c) => c >= 300)) throw new Error(`native ${delivery} ${mb} MB: the device answered ${statuses.join(',')}`);
    const rc = resultCodeOf(await rig.waitAlert('bench-big', limitMs));
    if (rc !== 1200) throw new Error(`native ${delivery} ${mb} MB: result code ${rc}`);
    await dev.waitIdle(limitMs);
    return { peak: dev.peakHeap(), seconds: (Date.now() - t0) / 1000, sessionMs };
  } finally {
    if (dev) await dev.close();
    await rig.close();
  }
}

async function nativeFigures(opts: BenchOptions, out: BenchOutput): Promise<void> {
  let bundle: string;
  try {
    buildNativeAgent();
    bundle = fileURLToPath(new URL('./.work/agent.es5.js', import.meta.url));
    mkdirSync(fileURLToPath(new URL('./.work/', import.meta.url)), { recursive: true });
    writeFileSync(bundle, (await bundleES5(ENTRIES.es5)).code);
  } catch (e) {
    process.stderr.write(`bench device: native agent not built, no native figures: ${e instanceof Error ? e.message : String(e)}\n`);
    return;
  }
  for (const delivery of ['alternate', 'dm'] as const) {
    // DM delivery on Duktape moves ~0.3 MB/s (base64 and chunk handling in JS): 1 MiB only, to keep
    // the bench in budget, unless --long asks for 64 MiB too.
    const long = process.argv.includes('--long');
    for (const mb of opts.quick ? [1] : delivery === 'dm' && !long ? [1] : [1, 64]) {
      try {
        const r = await measureNativeInstall(bundle, delivery, mb);
        process.stderr.write(`bench device: native ${delivery} ${mb} MB in ${r.seconds.toFixed(1)} s\n`);
        out[`device.native.peak_heap_bytes.${delivery}_${mb}mb`] = {
          value: r.peak, unit: 'B',
          how: `${mb} MiB package, ${delivery === 'dm' ? 'DM delivery over WBXML + Exec Install' : 'alternate download + Exec DownloadInstall'}, native C agent (ES5 bundle on Duktape): peak bytes held by Duktape from the program's counting allocator; ${r.seconds.toFixed(1)} s`,
        };
        if (mb === 1) out[`device.native.session_ms.${delivery}_1mb`] = { value: r.sessionMs, unit: 'ms', how: 'native agent: from connect() to the server having every status of the management session (package 1 through the Exec 202)' };
      } catch (e) {
        process.stderr.write(`bench device: native ${delivery} ${mb} MB failed, no figure: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  }
}

export async function run(opts: BenchOptions): Promise<BenchOutput> {
  const out: BenchOutput = {};
  const sizes = opts.quick ? [1] : [1, 16, 64];
  const dmSeconds: Record<number, number> = {};
  const long = process.argv.includes('--long');
  for (const runtime of ['node', 'quickjs'] as const) {
    for (const delivery of ['dm', 'alternate'] as const) {
      for (const mb of sizes) {
        // QuickJS-wasm moves DM large objects at ~0.1-0.3 MB/s (16 MB: 1-2 min): 64 MB over DM
        // runs only when the 16 MB run predicts it fits 150 s (whole bench: 10 min), or with --long.
        if (runtime === 'quickjs' && delivery === 'dm' && mb > 16 && !long) {
          const t16 = dmSeconds[16];
          if (t16 === undefined || t16 * (mb / 16) > 150) {
            process.stderr.write(`bench device: quickjs dm ${mb} MB skipped: ~${t16 === undefined ? '?' : Math.round(t16 * (mb / 16))} s expected from the 16 MB run, over the 150 s allowance (run with --long to force it)\n`);
            continue;
          }
        }
        let r: DeviceRun;
        try {
          r = await measureInstall(runtime, delivery, mb);
          if (mb === 1) out[`device.${runtime}.session_ms.${delivery}_1mb`] = { value: r.sessionMs, unit: 'ms', how: `${runtime} device: from connect() to the server having every status of the management session (package 1 through the Exec 202)` };
        } catch (e) {
          process.stderr.write(`bench device: ${runtime} ${delivery} ${mb} MB failed, no figure: ${e instanceof Error ? e.message : String(e)}\n`);
          continue;
        }
        if (runtime === 'quickjs' && delivery === 'dm') dmSeconds[mb] = r.seconds;
        process.stderr.write(`bench device: ${runtime} ${delivery} ${mb} MB in ${r.seconds.toFixed(1)} s\n`);
        const flow = delivery === 'dm'
          ? `DM delivery (Add Delivered/<X>/Data, Format bin, sent as a large object of opaque chunks over WBXML + Exec Install)`
          : `alternate download (Exec DownloadInstall, HTTP from the repository)`;
        if (runtime === 'node') {
          out[figureKey(runtime, delivery, mb)] = {
            value: r.peakLive - r.baseline, unit: 'B',
            how: `${mb} MiB package, ${flow}, Node device alone in a child process (--expose-gc): peak of heapUsed+arrayBuffers sampled right after a forced gc() every 100 ms, minus the idle baseline (${r.baseline} B); ${r.seconds.toFixed(1)} s`,
          };
          out[`device.node.peak_allocated_bytes.${delivery}_${mb}mb`] = {
            value: r.peak - r.baseline, unit: 'B',
            how: `same run: peak of heapUsed+arrayBuffers sampled every 10 ms without forcing GC (includes garbage not yet collected), minus the idle baseline`,
          };
        } else if (r.qjsPeak !== undefined) {
          out[figureKey(runtime, delivery, mb)] = {
            value: r.qjsPeak, unit: 'B',
            how: `${mb} MiB package, ${flow}, agent inside QuickJS (wasm, 1 MiB budget, code stripped as JS_SetStripInfo(JS_STRIP_DEBUG), HTTP bodies in pieces of at most 16 KiB): peak memory_used_size recorded by targets/quickjs/glue.ts; ${r.seconds.toFixed(1)} s`,
          };
        }
      }
    }
  }
  await nativeFigures(opts, out);
  return out;
}
