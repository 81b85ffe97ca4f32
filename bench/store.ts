// The flash store: write amplification of a typical session, recovery time of a 1 MB log
// (Node and QuickJS), peak QuickJS heap during a compaction, the crash tests' cut points and the
// store's minified size.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { getQuickJS } from 'quickjs-emscripten';
import { openStore } from '../src/store/record-log.js';
import { MemFlash } from '../src/store/mem-flash.js';
import { msgpackEncode } from '../src/store/msgpack.js';
import { base64Encode } from '../src/codec/base64.js';
import { bundleForQuickJS } from '../test/helpers/quickjs.js';
import { crashSweep, scriptProgramBytes, TORN_MODES } from '../test/helpers/store-crash.js';
import type { BenchOptions, BenchOutput } from './run.js';

const LEAVES = 120;

/** A device-like tree state: LEAVES leaves under ./DevDetail/Ext and ./Vendor. */
function leafPath(i: number): string {
  return i % 2 ? `./DevDetail/Ext/Conf/Param${i}` : `./Vendor/ACME/Settings/Item${i}/Value`;
}

function writeAmplification(commands: number): { wa: number; erases: number; payload: number; programmed: number; how: string } {
  const flash = new MemFlash(64 << 10, 4096);
  const state: Record<string, string> = {};
  const store = openStore(flash, {
    snapshot(emit) { for (const k of Object.keys(state)) emit({ op: 'set', path: k, value: state[k] }); },
  });
  let x = 7;
  const rnd = (n: number): number => { x = (x * 1103515245 + 12345) % 2147483648; return x % n; };
  for (let i = 0; i < LEAVES; i++) {
    const r = { op: 'set', path: leafPath(i), value: 'initial-' + i };
    state[r.path] = r.value;
    store.commit([r]);
  }
  const c0 = store.counters();
  let payload = 0;
  for (let i = 0; i < commands; i++) {
    const r = { op: 'set', path: leafPath(rnd(LEAVES)), value: 'v' + i + '-' + 'abcdefghijklmnop'.slice(0, rnd(16)) };
    state[r.path] = r.value;
    payload += msgpackEncode(r).length;
    store.commit([r]);
  }
  const c1 = store.counters();
  const programmed = c1.bytesProgrammed - c0.bytesProgrammed;
  return {
    wa: programmed / payload, erases: c1.erases - c0.erases, payload, programmed,
    how: `${commands} Replace commands, one record {op,path,value} (avg ${(payload / commands).toFixed(1)} B msgpack) committed per command, ` +
      `over a tree of ${LEAVES} leaves (./DevDetail/Ext/..., ./Vendor/...) on 64 KiB flash (2 x 32 KiB regions, 4 KiB blocks); ` +
      `bytes programmed / payload bytes = 1 + 12 B frame header (kind, length, seq, CRC32) per record + compactions re-emitting the tree (${(programmed / payload - 1 - 12 * commands / payload).toFixed(2)}); ${c1.erases - c0.erases} block erases`,
  };
}

/** A flash whose active region holds ~1 MB of committed records. */
function oneMegLog(): { flash: MemFlash; records: number; used: number } {
  const region = 1 << 20;
  const flash = new MemFlash(2 * region, 4096);
  const store = openStore(flash);
  let i = 0;
  while (region - store.free() < region - 128) {
    store.commit([{ op: 'set', path: `./DevDetail/Ext/Conf/Item${i % 500}`, value: `value-${i}-xxxxxxxxxxxxxxxxxxxx` }]);
    i++;
  }
  return { flash, records: i, used: region - store.free() };
}

/** A QuickJS runtime with the bundle and a `__probe(phase)` host function sampling memory. */
async function newVm(bundle: string): Promise<{ call(fn: string, arg: unknown): unknown; peak: number; baseline: number; samples: number; dispose(): void }> {
  const QuickJS = await getQuickJS();
  const rt = QuickJS.newRuntime();
  rt.setMaxStackSize(256 << 10);
  const ctx = rt.newContext();
  const used = (): number => { const h = rt.computeMemoryUsage(); const u = ctx.dump(h) as { memory_used_size: number }; h.dispose(); return u.memory_used_size; };
  const vm = {
    peak: 0, baseline: 0, samples: 0,
    call(fn: string, arg: unknown): unknown {
      const dl = Date.now() + 60000;
      rt.setInterruptHandler(() => Date.now() > dl);
      const h = ctx.unwrapResult(ctx.evalCode(`JSON.stringify(globalThis[${JSON.stringify(fn)}](${JSON.stringify(arg)}))`));
      const s = ctx.getString(h);
      h.dispose();
      return JSON.parse(s);
    },
    dispose(): void { ctx.dispose(); rt.dispose(); },
  };
  ctx.newFunction('__probe', (ph) => {
    const u = used();
    if (ctx.getNumber(ph) === 0) vm.baseline = u;
    else { vm.samples++; vm.peak = Math.max(vm.peak, u); }
  }).consume((f) => ctx.setProp(ctx.global, '__probe', f));
  ctx.unwrapResult(ctx.evalCode(bundle, 'store.js')).dispose();
  return vm;
}

function bestMs(runs: number, f: () => void): number {
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

export async function run(opts: BenchOptions): Promise<BenchOutput> {
  const out: BenchOutput = {};
  const wa = writeAmplification(opts.quick ? 2000 : 10000);
  out['store.write_amplification'] = { value: wa.wa, unit: 'x', how: wa.how };

  const log = oneMegLog();
  let replayed = 0;
  const nodeMs = bestMs(opts.quick ? 3 : 7, () => {
    replayed = 0;
    openStore(log.flash.clone()).replay(() => { replayed++; });
  });
  if (replayed !== log.records) throw new Error('recovery replayed ' + replayed + ' of ' + log.records);
  out['store.recovery_ms_1mb'] = {
    value: nodeMs, unit: 'ms',
    how: `Node ${process.version}: openStore (scan checking every frame's CRC32 and sequence number, erased-tail check) + replay (msgpack decode of every record) of a ${(log.used / 1048576).toFixed(2)} MiB log of ${log.records} records on MemFlash, best of ${opts.quick ? 3 : 7}`,
  };

  const bundle = await bundleForQuickJS('test/fixtures/store-quickjs-entry.ts');

  // Peak heap during a compaction, in a fresh runtime (nothing else loaded).
  {
    const keys = 200;
    const valueBytes = 100;
    const vm = await newVm(bundle);
    try {
      vm.call('storeCompactProbe', { keys, valueBytes });
      out['store.compaction_peak_heap_bytes'] = {
        value: vm.peak, unit: 'B',
        how: `QuickJS memory_used_size (wasm32) of a fresh runtime holding the store bundle, a 64 KiB MemFlash and an owner state of ${keys} leaves x ${valueBytes} B; ` +
          `sampled by a host probe after each of the ${vm.samples} records the snapshot writer emits during compact(). Just before compact(): ${vm.baseline} B, ` +
          `so the compaction itself adds at most ${vm.peak - vm.baseline} B (one encoded record + one frame; nothing is buffered)`,
      };
    } finally { vm.dispose(); }
  }

  // Recovery of the 1 MB log inside QuickJS (image built on the host, loaded once).
  {
    const vm = await newVm(bundle);
    try {
      vm.call('storeLoadImage', { b64: base64Encode(log.flash.snapshot()), size: log.flash.size, blockSize: log.flash.blockSize });
      let qjsMs = Infinity;
      const qRuns = opts.quick ? 1 : 3;
      for (let r = 0; r < qRuns; r++) {
        const res = vm.call('storeRecoverLog', {}) as { ms: number; records: number };
        if (res.records !== log.records) throw new Error('QuickJS recovery replayed ' + res.records);
        qjsMs = Math.min(qjsMs, res.ms);
      }
      out['store.recovery_ms_1mb_quickjs'] = {
        value: qjsMs, unit: 'ms',
        how: `quickjs-emscripten (wasm, inside Node): the same 1 MiB image and work as store.recovery_ms_1mb, timed with Date.now() inside the guest, best of ${qRuns}`,
      };
    } finally { vm.dispose(); }
  }

  const sweep = crashSweep({ recoveryEvery: 50 });
  if (sweep.failures.length) throw new Error('crash sweep failed: ' + sweep.failures[0]);
  const script = scriptProgramBytes();
  out['store.cut_points'] = {
    value: sweep.cutPoints,
    how: `test/store-crash.test.ts sweep: power cut after each of the ${script.bytes} bytes the scripted session programs (40 transactions incl. streamed and aborted ones, ${script.compactions} compactions) ` +
      `x ${TORN_MODES.length} torn-byte modes (${TORN_MODES.join('/')}), plus ${sweep.recoveryCutPoints} cuts during the reboot's own recovery writes (every 50th recovering image); each reopened to a committed prefix`,
  };

  const b = await build({
    stdin: { contents: "export { openStore } from './src/store/record-log.ts'; export { MemFlash } from './src/store/mem-flash.ts';", resolveDir: process.cwd(), loader: 'ts' },
    bundle: true, write: false, minify: true, format: 'esm', target: 'es2020', logLevel: 'silent',
  });
  const storeOnly = await build({
    stdin: { contents: "export { openStore } from './src/store/record-log.ts';", resolveDir: process.cwd(), loader: 'ts' },
    bundle: true, write: false, minify: true, format: 'esm', target: 'es2020', logLevel: 'silent',
  });
  const code = storeOnly.outputFiles[0].contents;
  out['store.bundle_min_bytes'] = {
    value: code.length, unit: 'B',
    how: `esbuild --minify es2020 ESM bundle of openStore (record log + msgpack + CRC32 + UTF-8); gzip -9 ${gzipSync(code, { level: 9 }).length} B; with MemFlash ${b.outputFiles[0].contents.length} B`,
  };
  return out;
}
