// Builds what the native device needs once per test run, safely from several ava worker
// processes at once: the C program (make) and the ES5 agent bundle. A directory lock serialises
// the builders; the bundle is written to a temp file and renamed.
import { mkdirSync, renameSync, rmdirSync, writeFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { bundleES5, ENTRIES } from '../../build/build.js';
import { buildNativeAgent } from '../../targets/c/native-device.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const NATIVE_BUNDLE = join(root, 'targets', 'c', 'build', 'agent-under-test.es5.js');
const LOCK = join(root, 'targets', 'c', 'build', '.lock');

async function locked<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(join(root, 'targets', 'c', 'build'), { recursive: true });
  const t0 = Date.now();
  for (;;) {
    try { mkdirSync(LOCK); break; } catch {
      // A lock older than two minutes belongs to a run that died.
      try { if (Date.now() - statSync(LOCK).mtimeMs > 120_000) rmdirSync(LOCK); } catch { /* gone already */ }
      if (Date.now() - t0 > 180_000) throw new Error('timed out waiting for the native build lock');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try { return await fn(); } finally { rmdirSync(LOCK); }
}

let done: Promise<string> | undefined;

/** Builds targets/c (make) and the current ES5 bundle; returns the bundle's path. */
export function prepareNative(): Promise<string> {
  done ??= locked(async () => {
    buildNativeAgent();
    const tmp = NATIVE_BUNDLE + '.' + process.pid;
    writeFileSync(tmp, (await bundleES5(ENTRIES.es5)).code);
    renameSync(tmp, NATIVE_BUNDLE);
    return NATIVE_BUNDLE;
  });
  return done;
}
