// Codec throughput (decode/encode of typical DM packages, XML and WBXML, in Node and inside
// QuickJS via quickjs-emscripten) and the codec's minified/gzip size.
// A measurement processes a handful of corpus messages repeated to >= ~1 MB of encoded bytes;
// the figure is the best of N runs, in MB/s with MB = 10^6 bytes of the encoded form.
import { readFileSync, readdirSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import type { SyncML } from '../src/codec/model.js';
import type * as Codec from '../src/codec/index.js';
import { bundleForQuickJS, loadInQuickJS } from '../test/helpers/quickjs.js';
import type { BenchOptions, BenchOutput } from './run.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const corpusDir = root + 'test/fixtures/corpus/';

/** Typical DM traffic: package 1 (auth, DevInfo), a server package with commands, a status/results reply. */
function sampleMessages(): Buffer[] {
  const files = existsSync(corpusDir) ? readdirSync(corpusDir).filter((f) => f.endsWith('.xml')).sort() : [];
  if (!files.length) throw new Error('no corpus in test/fixtures/corpus');
  // Up to 6 messages spread over the sorted corpus, skipping very large ones (large-object chunks).
  const all = files.map((f) => readFileSync(corpusDir + f)).filter((b) => b.length <= 16384);
  const picks: Buffer[] = [];
  const step = Math.max(1, Math.floor(all.length / 6));
  for (let i = 0; i < all.length && picks.length < 6; i += step) picks.push(all[i]);
  return picks;
}

function ok<T>(r: { ok: true; value: T } | { ok: false; error: { message: string } }, what: string): T {
  if (!r.ok) throw new Error(`${what}: ${r.error.message}`);
  return r.value;
}

export async function run(opts: BenchOptions): Promise<BenchOutput> {
  const out: BenchOutput = {};
  // The codec alone, bundled and minified as a device would load it. Node runs this same
  // bundle (not the tsx-transformed sources, whose module interop adds getter calls).
  const b = await build({
    entryPoints: [root + 'src/codec/index.ts'], bundle: true, write: false, format: 'esm',
    target: 'es2020', minify: true, logLevel: 'silent',
  });
  const min = b.outputFiles[0].contents;
  const dir = mkdtempSync(join(tmpdir(), 'scomo-bench-codec-'));
  let codec: typeof Codec;
  try {
    writeFileSync(join(dir, 'codec.mjs'), min);
    codec = (await import(pathToFileURL(join(dir, 'codec.mjs')).href)) as typeof Codec;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const decodeMessage = codec.decodeMessage;
  const encodeMessage = codec.encodeMessage;

  const xmls = sampleMessages();
  const msgs: SyncML[] = xmls.map((b, i) => ok(decodeMessage(b), `corpus message ${i}`).msg);
  const wbxmls = msgs.map((m) => ok(encodeMessage(m, 'wbxml'), 'wbxml encode'));
  const inputs = { xml: xmls.map((b) => new Uint8Array(b)), wbxml: wbxmls };
  const target = 1 << 20;
  const runs = opts.quick ? 3 : 7;
  const desc = `${xmls.length} corpus messages`;

  // Node
  for (const enc of ['xml', 'wbxml'] as const) {
    const bytes = inputs[enc];
    const per = bytes.reduce((s, b) => s + b.length, 0);
    const reps = Math.ceil(target / per);
    out[`codec.node.${enc}.decode_mb_s`] = {
      value: best(runs, () => { for (let r = 0; r < reps; r++) for (const b of bytes) ok(decodeMessage(b), 'decode'); return reps * per; }),
      unit: 'MB/s',
      how: `Node ${process.version}, minified ESM bundle: decodeMessage over ${desc} (${per} B ${enc}) x${reps}, best of ${runs}`,
    };
    out[`codec.node.${enc}.encode_mb_s`] = {
      value: best(runs, () => { let n = 0; for (let r = 0; r < reps; r++) for (const m of msgs) n += ok(encodeMessage(m, enc), 'encode').length; return n; }),
      unit: 'MB/s',
      how: `Node ${process.version}, minified ESM bundle: encodeMessage(${enc}) of ${desc} x${reps} (MB of output), best of ${runs}`,
    };
  }

  // QuickJS (wasm, inside Node): the same code bundled with esbuild, timed inside the guest.
  const code = await bundleForQuickJS('test/fixtures/qjs-codec-entry.ts');
  const qjs = await loadInQuickJS(code);
  try {
    const qTarget = opts.quick ? target / 2 : target;
    const qRuns = opts.quick ? 2 : 3;
    for (const enc of ['xml', 'wbxml'] as const) {
      const setup = qjs.call('codecBenchSetup', { b64s: inputs[enc].map((b) => Buffer.from(b).toString('base64')) }) as { ok: boolean; bytes: number };
      if (!setup.ok) throw new Error('QuickJS bench setup failed');
      const reps = Math.ceil(qTarget / setup.bytes);
      for (const op of ['decode', 'encode'] as const) {
        let bestRate = 0;
        for (let i = 0; i < qRuns; i++) {
          const r = qjs.call('codecBenchRun', { op, encoding: enc, reps }) as { ok: boolean; ms: number; bytes: number };
          if (!r.ok) throw new Error(`QuickJS ${op} ${enc} failed`);
          bestRate = Math.max(bestRate, r.bytes / 1e6 / (Math.max(r.ms, 1) / 1000));
        }
        out[`codec.quickjs.${enc}.${op}_mb_s`] = {
          value: round(bestRate),
          unit: 'MB/s',
          how: `quickjs-emscripten (wasm) in Node: ${op} of ${desc} (${setup.bytes} B ${enc}) x${reps}, timed in the guest, best of ${qRuns}`,
        };
      }
    }
  } finally {
    qjs.dispose();
  }

  out['codec.size.min_bytes'] = { value: min.length, unit: 'B', how: 'esbuild --bundle --minify --format=esm --target=es2020 src/codec/index.ts' };
  out['codec.size.gzip_bytes'] = { value: gzipSync(min, { level: 9 }).length, unit: 'B', how: 'the minified bundle through node:zlib gzip level 9' };
  return out;
}

/** Runs `fn` (which returns bytes processed) `runs` times; best MB/s. */
function best(runs: number, fn: () => number): number {
  fn(); // warm-up (JIT)
  let rate = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const n = fn();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    rate = Math.max(rate, n / 1e6 / s);
  }
  return round(rate);
}

function round(v: number): number {
  return v >= 10 ? Math.round(v * 10) / 10 : Math.round(v * 100) / 100;
}
