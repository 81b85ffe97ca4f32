import test from 'ava';
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileFlash } from '../targets/node/file-flash.js';
import { openStore } from '../src/store/record-log.js';

const dir = mkdtempSync(join(tmpdir(), 'file-flash-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test('a new file is created erased, with the given size', (t) => {
  const p = join(dir, 'new.bin');
  const f = new FileFlash(p, 8192, 1024);
  t.is(statSync(p).size, 8192);
  t.true(f.read(0, 8192).every((b) => b === 0xff));
  f.close();
});

test('NOR rules: program only erased bytes; erase restores 0xFF; counters count', (t) => {
  const f = new FileFlash(join(dir, 'nor.bin'), 4096, 1024);
  f.program(1000, new Uint8Array([1, 2, 3]));
  t.deepEqual(f.read(999, 5), new Uint8Array([0xff, 1, 2, 3, 0xff]));
  t.throws(() => f.program(1002, new Uint8Array([0])), { message: /non-erased/ });
  t.throws(() => f.read(4095, 2), { instanceOf: RangeError });
  t.throws(() => f.erase(4), { instanceOf: RangeError });
  f.erase(0);
  t.deepEqual(f.read(999, 5), new Uint8Array(5).fill(0xff));
  t.deepEqual(f.counters, { bytesProgrammed: 3, erases: 1 });
  f.close();
});

test('a wrong-size file is refused', (t) => {
  const p = join(dir, 'short.bin');
  writeFileSync(p, new Uint8Array(100));
  t.throws(() => new FileFlash(p, 4096, 1024), { message: /100 bytes/ });
});

test('the store persists across reopening the file, through compactions', (t) => {
  const p = join(dir, 'store.bin');
  const state: Record<string, number> = {};
  const snapshot = (emit: (r: unknown) => void): void => { for (const k of Object.keys(state)) emit({ k, v: state[k] }); };
  let f = new FileFlash(p, 4096, 512, { sync: true });
  const s = openStore(f, { snapshot });
  for (let i = 0; i < 200; i++) { state['k' + (i % 5)] = i; s.commit([{ k: 'k' + (i % 5), v: i }]); }
  t.true(s.info().generation > 1);
  f.close();
  const before = readFileSync(p);
  f = new FileFlash(p, 4096, 512);
  const back: Record<string, number> = {};
  const s2 = openStore(f);
  s2.replay((r) => { const x = r as { k: string; v: number }; back[x.k] = x.v; });
  t.deepEqual(back, state);
  t.is(s2.info().recovery, 'clean');
  f.close();
  t.deepEqual(readFileSync(p), before, 'a clean open writes nothing');
});
