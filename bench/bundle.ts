// Device bundle sizes: bundle.<quickjs|es5>.<min|gzip>_bytes and bundle.<target>.layer.<layer>_bytes,
// built in memory with the project's own build (build/build.ts), exactly as `npm run build` does.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleQuickJS, bundleES5, ENTRIES, type BundleResult } from '../build/build.js';
import type { BenchOptions, BenchOutput } from './run.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** "src/codec" -> "src_codec": a key segment without dots or slashes. */
export function layerKey(layer: string): string {
  return layer.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
}

/** The figures of one bundle. */
export function bundleFigures(target: 'quickjs' | 'es5', entry: string, r: BundleResult): BenchOutput {
  const how = target === 'quickjs'
    ? `build/build.ts bundleQuickJS(${entry}): esbuild --bundle --minify, IIFE, es2020`
    : `build/build.ts bundleES5(${entry}): esbuild bundle (es2020, unminified) then SWC to ES5 with compress+mangle`;
  const out: BenchOutput = {
    [`bundle.${target}.min_bytes`]: { value: r.minBytes, unit: 'B', how },
    [`bundle.${target}.gzip_bytes`]: { value: r.gzipBytes, unit: 'B', how: 'that bundle through node:zlib gzip level 9' },
  };
  const layerHow = target === 'quickjs'
    ? 'minified bytes this layer contributes to the QuickJS bundle (esbuild metafile bytesInOutput)'
    : 'ES5 bytes attributed to this layer: its esbuild share scaled to the SWC output (SWC has no per-input map)';
  for (const [layer, bytes] of Object.entries(r.layers).sort((a, b) => b[1] - a[1])) {
    out[`bundle.${target}.layer.${layerKey(layer)}_bytes`] = { value: bytes, unit: 'B', how: layerHow };
  }
  return out;
}

export async function run(_opts: BenchOptions): Promise<BenchOutput> {
  const out: BenchOutput = {};
  for (const target of ['quickjs', 'es5'] as const) {
    const entry = ENTRIES[target];
    if (!existsSync(root + entry)) {
      process.stderr.write(`bench bundle: ${entry} does not exist, no ${target} figures\n`);
      continue;
    }
    const r = target === 'quickjs' ? await bundleQuickJS(entry) : await bundleES5(entry);
    Object.assign(out, bundleFigures(target, entry, r));
  }
  return out;
}
