import test from 'ava';
import { openStore, isStoreError, type StoreOptions } from '../src/store/record-log.js';
import { MemFlash, isPowerCut } from '../src/store/mem-flash.js';
import { msgpackEncode } from '../src/store/msgpack.js';
import type { TxRecordStore } from '../src/store/api.js';
import { crc32Update } from '../src/crypto/crc32.js';

type State = Record<string, unknown>;
interface Rec { k: string; v: unknown }

/** An owner keeping a key/value state; snapshot = one record per key. */
function owner(flash: MemFlash, extra: StoreOptions = {}): { store: TxRecordStore; state: State; seen: unknown[] } {
  const state: State = {};
  const seen: unknown[] = [];
  const store = openStore(flash, { snapshot(emit) { for (const k of Object.keys(state)) emit({ k, v: state[k] }); }, ...extra });
  store.replay((r) => { seen.push(r); const rec = r as Rec; state[rec.k] = rec.v; });
  return { store, state, seen };
}

function set(o: { store: TxRecordStore; state: State }, ...recs: Rec[]): void {
  for (const r of recs) o.state[r.k] = r.v;
  o.store.commit(recs);
}

const smallFlash = (): MemFlash => new MemFlash(2048, 256);

test('a blank flash is formatted; records replay in order after a reboot', (t) => {
  const f = smallFlash();
  const a = owner(f);
  t.is(a.store.info().recovery, 'formatted');
  t.deepEqual(a.seen, []);
  set(a, { k: 'x', v: 1 });
  set(a, { k: 'y', v: 'two' }, { k: 'z', v: new Uint8Array([1, 2, 3]) });
  const b = owner(f.clone());
  t.is(b.store.info().recovery, 'clean');
  t.deepEqual(b.seen, [{ k: 'x', v: 1 }, { k: 'y', v: 'two' }, { k: 'z', v: new Uint8Array([1, 2, 3]) }]);
});

test('an empty commit writes nothing; free() and counters track programming', (t) => {
  const f = smallFlash();
  const a = owner(f);
  const c0 = a.store.counters();
  const free0 = a.store.free();
  a.store.commit([]);
  t.deepEqual(a.store.counters(), c0);
  set(a, { k: 'x', v: 'hello' });
  const payload = msgpackEncode({ k: 'x', v: 'hello' }).length;
  t.is(a.store.counters().bytesProgrammed - c0.bytesProgrammed, payload + 12);
  t.is(free0 - a.store.free(), payload + 12);
  t.is(a.store.counters().bytesProgrammed, f.counters.bytesProgrammed);
  t.is(a.store.counters().erases, f.counters.erases);
});

test('a transaction cut before its last frame is replayed as nothing', (t) => {
  const f = smallFlash();
  const a = owner(f);
  set(a, { k: 'keep', v: 1 });
  // Let the first of the two frames through, cut inside the second.
  f.cutAfter(msgpackEncode({ k: 'a', v: 2 }).length + 12 + 5, 'erased');
  const err = t.throws(() => set(a, { k: 'a', v: 2 }, { k: 'b', v: 3 }));
  t.true(isPowerCut(err));
  t.throws(() => a.store.commit([{ k: 'c', v: 4 }]), { message: /failed/ });
  const fb = f.clone();
  const b = owner(fb);
  t.deepEqual(b.seen, [{ k: 'keep', v: 1 }]);
  t.is(b.store.info().recovery, 'relocated');
  set(b, { k: 'next', v: 5 });
  t.deepEqual(owner(fb.clone()).state, { keep: 1, next: 5 });
});

test('intact but unterminated frames followed by erased flash get an abort marker', (t) => {
  const f = smallFlash();
  const a = owner(f);
  set(a, { k: 'keep', v: 1 });
  a.store.begin();
  a.store.append({ k: 'half', v: 'x' });
  const fb = f.clone();
  const b = owner(fb);
  t.is(b.store.info().recovery, 'aborted-tail');
  t.deepEqual(b.seen, [{ k: 'keep', v: 1 }]);
  set(b, { k: 'later', v: 2 });
  const c = owner(fb.clone());
  t.is(c.store.info().recovery, 'clean');
  t.deepEqual(c.seen, [{ k: 'keep', v: 1 }, { k: 'later', v: 2 }]);
});

test('streamed transactions: records are written as they come and count only at commitTx', (t) => {
  const f = smallFlash();
  const a = owner(f);
  a.store.begin();
  t.throws(() => a.store.commit([{ k: 'no', v: 0 }]), { message: /state/ });
  t.throws(() => a.store.begin(), { message: /state/ });
  const before = a.store.counters().bytesProgrammed;
  a.store.append({ k: 'big', v: 'part1' });
  t.true(a.store.counters().bytesProgrammed > before, 'append programs immediately');
  a.store.append({ k: 'big2', v: 'part2' });
  a.store.commitTx();
  a.store.begin();
  a.store.append({ k: 'gone', v: 'x' });
  a.store.abortTx();
  a.store.begin();
  a.store.abortTx(); // nothing appended: nothing written
  set(a, { k: 'after', v: 1 });
  t.throws(() => a.store.append({ k: 'x', v: 1 }), { message: /state/ });
  t.throws(() => a.store.commitTx(), { message: /state/ });
  t.deepEqual(owner(f.clone()).seen, [{ k: 'big', v: 'part1' }, { k: 'big2', v: 'part2' }, { k: 'after', v: 1 }]);
});

test('compaction switches regions, keeps the state, erases lazily', (t) => {
  const f = smallFlash();
  const a = owner(f);
  const gen0 = a.store.info().generation;
  for (let i = 0; i < 100; i++) set(a, { k: 'k' + (i % 4), v: 'value ' + i });
  const info = a.store.info();
  t.true(info.generation > gen0 + 2);
  t.true(a.store.counters().erases >= 4 * (info.generation - gen0));
  const fb = f.clone();
  const b = owner(fb);
  t.deepEqual(b.state, { k0: 'value 96', k1: 'value 97', k2: 'value 98', k3: 'value 99' });
  t.is(b.store.info().generation, info.generation);
  // Explicit compaction: the log then holds exactly the snapshot.
  b.store.compact();
  t.is(owner(fb.clone()).seen.length, 4);
});

test('a streamed transaction survives a compaction in its middle', (t) => {
  const f = smallFlash();
  const a = owner(f);
  for (let i = 0; i < 5; i++) set(a, { k: 'k' + i, v: 'x'.repeat(20) });
  // Stale history that the compaction will drop.
  while (a.store.free() > 200) set(a, { k: 'k0', v: 'x'.repeat(20) });
  const g = a.store.info().generation;
  a.store.begin();
  const chunks: Rec[] = [];
  for (let i = 0; a.store.info().generation === g; i++) { const r = { k: 'lo', v: 'chunk' + i }; chunks.push(r); a.store.append(r); }
  a.store.append({ k: 'lo', v: 'last' });
  a.store.commitTx();
  const b = owner(f.clone());
  t.is(b.store.info().generation, g + 1);
  t.deepEqual(b.seen.slice(5), [...chunks, { k: 'lo', v: 'last' }]);
  t.is(b.state.k4, 'x'.repeat(20));
});

test('aborting a streamed transaction when the region is full compacts it away', (t) => {
  const f = smallFlash();
  const a = owner(f);
  set(a, { k: 'keep', v: 1 });
  a.store.begin();
  while (a.store.free() >= 40) a.store.append({ k: 'f', v: 'y'.repeat(10) });
  a.store.abortTx();
  t.deepEqual(owner(f.clone()).state, { keep: 1 });
});

test('state that cannot fit is refused with "full" and leaves the old state authoritative', (t) => {
  const f = smallFlash();
  const a = owner(f);
  set(a, { k: 'keep', v: 'small' });
  for (let i = 0; i < 30; i++) a.state['bulk' + i] = 'z'.repeat(40);
  const err = t.throws(() => a.store.commit([{ k: 'bulk0', v: 'z'.repeat(40) }, { k: 'pad', v: 'z'.repeat(900) }]));
  t.true(isStoreError(err) && err.kind === 'full');
  t.deepEqual(owner(f.clone()).state, { keep: 'small' });
});

test('one record over maxRecordBytes is refused with "too-large"', (t) => {
  const a = owner(smallFlash(), { maxRecordBytes: 100 });
  const err = t.throws(() => a.store.commit([{ k: 'x', v: 'y'.repeat(200) }]));
  t.true(isStoreError(err) && err.kind === 'too-large');
  t.throws(() => openStore(new MemFlash(128, 64)), { message: /config/ });
  // The limit governs writing only: a log written with a larger limit still replays in full.
  const f = smallFlash();
  openStore(f, { maxRecordBytes: 500 }).commit([{ k: 'big', v: 'y'.repeat(300) }]);
  const seen: unknown[] = [];
  openStore(f.clone(), { maxRecordBytes: 100 }).replay((r) => seen.push(r));
  t.deepEqual(seen, [{ k: 'big', v: 'y'.repeat(300) }]);
});

test('without a snapshot writer a full log reports "full"', (t) => {
  const f = smallFlash();
  const s = openStore(f);
  const err = t.throws(() => { for (let i = 0; i < 100; i++) s.commit([{ i, pad: 'p'.repeat(30) }]); });
  t.true(isStoreError(err) && err.kind === 'full');
});

test('hostile images open as an empty or prefix state, never a crash', (t) => {
  const random = new Uint8Array(4096);
  let x = 99;
  for (let i = 0; i < random.length; i++) { x = (x * 1103515245 + 12345) >>> 0; random[i] = x >>> 24; }
  for (const [name, img] of [['random', random], ['zero', new Uint8Array(4096)]] as const) {
    const f = new MemFlash(4096, 512, img);
    const a = owner(f);
    t.is(a.store.info().recovery, 'formatted', name);
    t.deepEqual(a.seen, [], name);
    set(a, { k: 'x', v: name });
    t.deepEqual(owner(f.clone()).state, { x: name }, name);
  }
  // A valid log, truncated (tail erased) or with bytes flipped: always a prefix of the transactions.
  const f = new MemFlash(4096, 512);
  const a = owner(f);
  for (let i = 0; i < 60; i++) set(a, { k: 'n', v: i }, { k: 'm' + (i % 3), v: i });
  const good = f.snapshot();
  const final = a.state;
  const isPrefix = (s: State): boolean => s.n === undefined ? Object.keys(s).length === 0 : Object.keys(s).every((k) => (s[k] as number) <= (s.n as number)) && (s['m' + ((s.n as number) % 3)] === s.n);
  for (let cut = 0; cut < 4096; cut += 61) {
    const img = good.slice();
    img.fill(0xff, cut, cut - (cut % 2048) + 2048);
    const s = owner(new MemFlash(4096, 512, img)).state;
    t.true(isPrefix(s), 'truncated at ' + cut);
  }
  for (let i = 0; i < 300; i++) {
    const img = good.slice();
    x = (x * 1103515245 + 12345) >>> 0;
    img[x % 4096] ^= 1 << (i % 8);
    const s = owner(new MemFlash(4096, 512, img)).state;
    t.true(isPrefix(s), 'flip ' + i);
  }
  t.deepEqual(owner(new MemFlash(4096, 512, good)).state, final);
});

test('MemFlash: NOR rules, cut semantics, torn modes', (t) => {
  const f = new MemFlash(1024, 256);
  f.program(0, new Uint8Array([1, 2]));
  t.throws(() => f.program(1, new Uint8Array([0])), { message: /non-erased/ });
  t.throws(() => f.program(1023, new Uint8Array([0, 0])), { instanceOf: RangeError });
  f.erase(0);
  t.deepEqual(f.read(0, 2), new Uint8Array([0xff, 0xff]));
  for (const [mode, expect] of [['erased', [1, 2, 0xff, 0xff]], ['written', [1, 2, 3, 4]]] as const) {
    const g = new MemFlash(1024, 256);
    g.cutAfter(2, mode);
    t.true(isPowerCut(t.throws(() => g.program(0, new Uint8Array([1, 2, 3, 4])))));
    t.deepEqual(Array.from(g.read(0, 4)), [...expect]);
    t.true(g.dead);
    t.true(isPowerCut(t.throws(() => g.erase(1))));
    const h = g.clone();
    h.program(10, new Uint8Array([9]));
    t.is(h.read(10, 1)[0], 9);
  }
  const r1 = new MemFlash(1024, 256); r1.cutAfter(1, 'random', 5);
  const r2 = new MemFlash(1024, 256); r2.cutAfter(1, 'random', 5);
  t.throws(() => r1.program(0, new Uint8Array(64).fill(0)));
  t.throws(() => r2.program(0, new Uint8Array(64).fill(0)));
  t.deepEqual(r1.snapshot(), r2.snapshot(), 'seeded torn bytes are reproducible');
  t.true(r1.read(1, 63).some((b) => b !== 0 && b !== 0xff));
  // A program that ends exactly at the budget completes; the next one fails.
  const e = new MemFlash(1024, 256); e.cutAfter(3);
  e.program(0, new Uint8Array([1, 2, 3]));
  t.true(isPowerCut(t.throws(() => e.program(3, new Uint8Array([4])))));
});

test('a snapshot writer may replay the old log (re-emitting values kept only in the log)', (t) => {
  const f = smallFlash();
  const state: State = {};
  let store: TxRecordStore;
  // "blob" records live only in the log; the snapshot copies them from a replay.
  store = openStore(f, {
    snapshot(emit) {
      store.replay((r) => { if ((r as Rec).k === 'blob') emit(r); });
      for (const k of Object.keys(state)) emit({ k, v: state[k] });
    },
  });
  store.commit([{ k: 'blob', v: 'only-in-log' }]);
  for (let i = 0; i < 150; i++) { state.n = i; store.commit([{ k: 'n', v: i }]); }
  t.true(store.info().generation > 2);
  const seen: unknown[] = [];
  openStore(f.clone()).replay((r) => seen.push(r));
  // Compacted, then a few more commits: the blob survived every compaction, exactly once.
  t.deepEqual(seen[0], { k: 'blob', v: 'only-in-log' });
  t.deepEqual(seen[seen.length - 1], { k: 'n', v: 149 });
  t.is(seen.filter((r) => (r as Rec).k === 'blob').length, 1);
});

test('a CRC-valid frame that is not msgpack is reported as "corrupt", not misread', (t) => {
  const f = smallFlash();
  const a = owner(f);
  set(a, { k: 'x', v: 1 });
  // Forge the next frame by hand: kind 'c', 1 byte payload 0xc1 (never used in msgpack), right seq.
  const img = f.snapshot();
  const at = 2048 / 2 - a.store.free();
  const seqOfNext = ((img[16 + 4] << 24) | (img[16 + 5] << 16) | (img[16 + 6] << 8) | img[16 + 7]) + 1;
  const frame = new Uint8Array([0x63, 0, 0, 1, seqOfNext >>> 24, seqOfNext >>> 16, seqOfNext >>> 8, seqOfNext, 0, 0, 0, 0, 0xc1]);
  const crc = crc32Update(crc32Update(0, frame, 0, 8), frame, 12);
  frame[8] = crc >>> 24; frame[9] = crc >>> 16; frame[10] = crc >>> 8; frame[11] = crc;
  img.set(frame, at);
  const err = t.throws(() => openStore(new MemFlash(2048, 256, img)).replay(() => {}));
  t.true(isStoreError(err) && err.kind === 'corrupt');
});
