// The device bundles: the ES5 bundle is ES5 syntax only (acorn, ecmaVersion 5) and loads on a
// real ES5 engine (Debian's duk), the QuickJS bundle loads in QuickJS; both expose the one
// global the hosts use, and neither contains server code or Node imports.
import test from 'ava';
import { parse } from 'acorn';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleES5, bundleQuickJS, ENTRIES } from '../build/build.js';
import { loadInQuickJS } from './helpers/quickjs.js';

test('the ES5 bundle parses as ES5 and runs on Duktape', async (t) => {
  const b = await bundleES5(ENTRIES.es5);
  t.notThrows(() => parse(b.code, { ecmaVersion: 5 }), 'no syntax beyond ES5');
  t.false(/["']node:[a-z]|\brequire\(/.test(b.code), 'no Node imports');
  t.false(Object.keys(b.layers).some((l) => l.startsWith('src/server')), 'no server code');
  const dir = mkdtempSync(join(tmpdir(), 'scomo-es5-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'check.js');
  writeFileSync(file, b.code + '\nprint(typeof ScomoAgent.create + " " + ScomoAgent.version);\n');
  // Debian's duktape package (CI installs it): a plain ES5 engine without Map, Set or Symbol.iterator.
  const out = execFileSync('duk', [file], { encoding: 'utf8' }).trim();
  t.is(out, 'function 0.1.0');
  t.true(b.minBytes > 10_000 && b.gzipBytes < b.minBytes, `sizes reported: ${b.minBytes} min, ${b.gzipBytes} gzip`);
});

test('the QuickJS bundle loads in QuickJS and exposes ScomoAgent', async (t) => {
  const b = await bundleQuickJS(ENTRIES.quickjs);
  t.false(Object.keys(b.layers).some((l) => l.startsWith('src/server')), 'no server code');
  const q = await loadInQuickJS(b.code + ';globalThis.probe = function () { return [typeof ScomoAgent.create, ScomoAgent.version]; };');
  t.teardown(() => q.dispose());
  t.deepEqual(q.call('probe', null), ['function', '0.1.0']);
  for (const layer of ['src/codec', 'src/tree', 'src/store', 'src/dm', 'src/scomo', 'src/agent']) t.true((b.layers[layer] ?? 0) > 0, layer + ' is in the bundle');
});
