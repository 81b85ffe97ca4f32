// Runs client code inside QuickJS (quickjs-emscripten): bundle an entry with esbuild, evaluate
// it in a fresh runtime with a stack limit, call a global function with a JSON argument and get
// JSON back. Bytes cross the boundary as base64 or arrays inside the JSON, never as strings
// with NULs (quickjs-emscripten cuts strings at U+0000).
import { build } from 'esbuild';
import { getQuickJS } from 'quickjs-emscripten';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Bundles `entry` (path relative to the repo root) as an IIFE that sets globals itself. */
export async function bundleForQuickJS(entry: string, opts: { minify?: boolean } = {}): Promise<string> {
  const r = await build({
    entryPoints: [root + entry],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2020',
    minify: opts.minify ?? true,
    logLevel: 'silent',
  });
  return r.outputFiles[0].text;
}

export interface QuickJSRun {
  /** Calls globalThis[fn](JSON.parse(argJson)) and returns the JSON-decoded result. */
  call(fn: string, arg: unknown): unknown;
  memoryUsed(): number;
  dispose(): void;
}

/** Evaluates bundled code in a fresh QuickJS runtime (256 KiB stack, 10 s CPU budget per call). */
export async function loadInQuickJS(code: string, opts: { memoryLimitBytes?: number } = {}): Promise<QuickJSRun> {
  const QuickJS = await getQuickJS();
  const rt = QuickJS.newRuntime();
  rt.setMaxStackSize(256 << 10);
  if (opts.memoryLimitBytes) rt.setMemoryLimit(opts.memoryLimitBytes);
  const ctx = rt.newContext();
  const guard = (ms: number) => { const dl = Date.now() + ms; rt.setInterruptHandler(() => Date.now() > dl); };
  guard(10000);
  ctx.unwrapResult(ctx.evalCode(code, 'bundle.js')).dispose();
  return {
    call(fn, arg) {
      guard(10000);
      const src = `JSON.stringify(globalThis[${JSON.stringify(fn)}](${JSON.stringify(arg)}))`;
      const h = ctx.unwrapResult(ctx.evalCode(src, 'call.js'));
      const s = ctx.getString(h);
      h.dispose();
      return s === undefined || s === 'undefined' ? undefined : JSON.parse(s);
    },
    memoryUsed() {
      const h = rt.computeMemoryUsage();
      const u = ctx.dump(h) as { memory_used_size: number };
      h.dispose();
      return u.memory_used_size;
    },
    dispose() {
      ctx.dispose();
      rt.dispose();
    },
  };
}
