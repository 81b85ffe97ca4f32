// `npm run build`: the device bundles and their size report.
//  dist/scomo-agent.quickjs.js  ES2020, one minified IIFE, for QuickJS
//  dist/scomo-agent.es5.js      ES5 + typed arrays, for Duktape and Espruino-class engines
//  dist/size-report.json        minified and gzip bytes per layer
// esbuild only bundles (target es2020, no syntax lowering); SWC lowers to ES5. Letting esbuild
// lower object spread would pull in Object.getOwnPropertyDescriptors, which Duktape lacks.
import { build as esbuild, type Metafile } from 'esbuild';
import { transform } from '@swc/core';
import { gzipSync } from 'node:zlib';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface BundleResult {
  code: string;
  minBytes: number;
  gzipBytes: number;
  /** Minified bytes contributed by each layer (src/codec, src/tree, ...), from esbuild's metafile. */
  layers: Record<string, number>;
}

function layerOf(path: string): string {
  const p = relative(root, path).replace(/\\/g, '/');
  const m = /^(src\/[^/]+|targets\/[^/]+)\//.exec(p);
  if (m) return m[1];
  if (p.includes('node_modules/')) return 'node_modules';
  return p;
}

function layers(meta: Metafile): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of Object.values(meta.outputs)) {
    for (const [path, info] of Object.entries(o.inputs)) {
      const l = layerOf(root + path);
      out[l] = (out[l] ?? 0) + info.bytesInOutput;
    }
  }
  return out;
}

async function bundle(entry: string, minify: boolean): Promise<{ code: string; meta: Metafile }> {
  const r = await esbuild({
    entryPoints: [root + entry],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2020',
    minify,
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
  });
  return { code: r.outputFiles[0].text, meta: r.metafile };
}

/** ES2020 minified bundle for QuickJS. */
export async function bundleQuickJS(entry: string): Promise<BundleResult> {
  const { code, meta } = await bundle(entry, true);
  return { code, minBytes: Buffer.byteLength(code), gzipBytes: gzipSync(code, { level: 9 }).length, layers: layers(meta) };
}

/** ES5 bundle: esbuild bundles, SWC lowers and minifies. */
export async function bundleES5(entry: string): Promise<BundleResult> {
  const { code: es2020, meta } = await bundle(entry, false);
  const out = await transform(es2020, {
    jsc: {
      target: 'es5',
      loose: true,
      // Client code iterates arrays only, so for-of needs no Symbol.iterator (absent on Espruino).
      assumptions: {
        iterableIsArray: true,
        setPublicClassFields: true,
        ignoreFunctionLength: true,
        noClassCalls: true,
        setSpreadProperties: true,
      },
      parser: { syntax: 'ecmascript' },
      minify: { compress: true, mangle: true },
    },
    minify: true,
    isModule: false,
  });
  const code = out.code;
  // Per-layer figures are the ES2020 bytes scaled to the ES5 total: SWC has no per-input map.
  const l = layers(meta);
  const total = Object.values(l).reduce((a, b) => a + b, 0) || 1;
  const min = Buffer.byteLength(code);
  const scaled: Record<string, number> = {};
  for (const [k, v] of Object.entries(l)) scaled[k] = Math.round((v / total) * min);
  return { code, minBytes: min, gzipBytes: gzipSync(code, { level: 9 }).length, layers: scaled };
}

export const ENTRIES = {
  quickjs: 'targets/quickjs/entry.ts',
  es5: 'targets/espruino/entry.ts',
} as const;

async function main(): Promise<void> {
  mkdirSync(root + 'dist', { recursive: true });
  const report: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(ENTRIES)) {
    if (!existsSync(root + entry)) {
      process.stderr.write(`build: ${entry} does not exist yet, skipped\n`);
      continue;
    }
    const r = name === 'quickjs' ? await bundleQuickJS(entry) : await bundleES5(entry);
    const file = `dist/scomo-agent.${name}.js`;
    writeFileSync(root + file, r.code);
    report[name] = { file, min_bytes: r.minBytes, gzip_bytes: r.gzipBytes, layers: r.layers };
    console.log(`${file}: ${r.minBytes} bytes minified, ${r.gzipBytes} gzip`);
    for (const [layer, bytes] of Object.entries(r.layers).sort((a, b) => b[1] - a[1])) {
      console.log(`  ${layer.padEnd(22)} ${String(bytes).padStart(7)}`);
    }
  }
  writeFileSync(root + 'dist/size-report.json', JSON.stringify(report, null, 2) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    process.stderr.write(`build failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
