// One emulated device for bench/device.ts, alone in its own process (started with --expose-gc)
// so that the process's memory is the device's. Memory = process.memoryUsage().heapUsed +
// arrayBuffers (V8 heap + ArrayBuffer/Buffer backing stores), sampled two ways at once:
//  - live: every 100 ms a full gc() and then a sample (what the agent retains);
//  - allocated: every 10 ms a sample without GC (includes garbage not yet collected).
// The baseline is taken after boot, idle, after a full gc().
// Messages: parent -> { start: {...} } | { connect: true } | { report: true } | { stop: true };
//           child  -> { booted: true } | { report: {...} } | { error: string }.
import { startDevice, type RunningDevice } from '../targets/node/device.js';

declare const gc: (() => void) | undefined;
let device: RunningDevice | undefined;
let baseline = 0;
let peak = 0;
let peakLive = 0;
let timer: ReturnType<typeof setInterval> | undefined;
let liveTimer: ReturnType<typeof setInterval> | undefined;
const send = (m: unknown): void => { process.send?.(m); };
const used = (): number => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };

interface Start { server: string; id: string; clientSecret: string; serverId: string; serverSecret: string; encoding: 'xml' | 'wbxml'; runtime: 'node' | 'quickjs'; dataDir: string; quickjsBudget?: number }

process.on('message', (m: { start?: Start; connect?: boolean; report?: boolean; stop?: boolean }) => {
  (async () => {
    if (m.start) {
      const s = m.start;
      device = await startDevice({
        server: s.server, id: s.id, clientUser: s.id, clientSecret: s.clientSecret, serverId: s.serverId,
        serverSecret: s.serverSecret, auth: 'basic', encoding: s.encoding, dataDir: s.dataDir, runtime: s.runtime,
        ...(s.quickjsBudget ? { quickjsBudget: s.quickjsBudget } : {}),
      });
      await device.waitIdle(60_000);
      if (typeof gc === 'function') { gc(); gc(); }
      baseline = used();
      peak = baseline;
      peakLive = baseline;
      timer = setInterval(() => { const u = used(); if (u > peak) peak = u; }, 10);
      liveTimer = setInterval(() => {
        if (typeof gc !== 'function') return;
        gc();
        const u = used();
        if (u > peakLive) peakLive = u;
      }, 100);
      send({ booted: true });
    } else if (m.connect) {
      device!.agent.connect();
    } else if (m.report) {
      // Let the agent finish the report session, then one last sample.
      await device!.waitIdle(120_000);
      const u = used();
      if (u > peak) peak = u;
      send({ report: { baseline, peak, peakLive, qjsPeak: device!.peakHeap ? device!.peakHeap() : undefined } });
    } else if (m.stop) {
      if (timer) clearInterval(timer);
      if (liveTimer) clearInterval(liveTimer);
      await device?.close();
      process.exit(0);
    }
  })().catch((e: unknown) => send({ error: e instanceof Error ? e.message : String(e) }));
});
