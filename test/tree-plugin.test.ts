import test from 'ava';
import type { LargeObjectSink } from '../src/tree/api.js';
import type { MoPlugin } from '../src/tree/plugin.js';
import { LOCAL_ID } from '../src/tree/tree.js';
import { FakeStore, dump, makeTree } from './helpers/tree-setup.js';

const S = 'srv1';

function scomoLike(log: string[]) {
  const host: { [k: string]: string } = { 'Ext/Battery': '80' };
  let delivered: number[] = [];
  const p: MoPlugin = {
    get: (rel) => (rel in host ? host[rel] : undefined),
    set: (rel, data) => {
      if (!(rel in host)) return undefined;
      if (data === 'bad') return 500;
      host[rel] = String(data);
      return 200;
    },
    allow: (op, rel) => (op === 'Add' && rel.startsWith('Forbidden') ? 405 : 200),
    changed: (op, rel) => { log.push(op + ' ' + rel); },
    openLargeObject: (rel, total) => {
      if (!rel.endsWith('/Data')) return undefined;
      const got: number[] = [];
      const sink: LargeObjectSink = {
        write: (c) => { got.push(...c); return 213; },
        finish: () => { if (got.length !== total) return 424; delivered = got; return 200; },
        abort: () => { got.length = 0; },
      };
      return sink;
    },
  };
  return { p, host, delivered: () => delivered };
}

test('plug-in backs leaves with host functions, vetoes and observes changes after they are durable', (t) => {
  const log: string[] = [];
  const tree = makeTree();
  tree.define('./SCOMO', 'node', 'urn:oma:mo:oma-scomo:1.0', undefined, 'Add=*&Get=*&Replace=*&Delete=*');
  tree.define('./SCOMO/Ext/Battery', 'int', 'text/plain');
  const s = scomoLike(log);
  tree.mount('./SCOMO', s.p);
  t.is(tree.get(S, './SCOMO/Ext/Battery').items![0].data, '80');
  t.is(tree.replace(S, './SCOMO/Ext/Battery', undefined, '55'), 200);
  t.is(s.host['Ext/Battery'], '55');
  t.is(tree.replace(S, './SCOMO/Ext/Battery', undefined, 'bad'), 400, 'format check before the host');
  t.is(tree.add(S, './SCOMO/Download/Pkg1/PkgURL', undefined, 'http://x'), 200);
  t.deepEqual(log, ['Replace Ext/Battery', 'Add Download', 'Add Download/Pkg1', 'Add Download/Pkg1/PkgURL']);
  t.is(tree.add(S, './SCOMO/Forbidden', undefined, 'x'), 405);
  t.is(tree.delete(S, './SCOMO/Download/Pkg1'), 200);
  t.is(log[log.length - 1], 'Delete Download/Pkg1');
  // Inside Atomic: rollback restores the host value and nothing is announced.
  const n = log.length;
  tree.begin();
  t.is(tree.replace(S, './SCOMO/Ext/Battery', undefined, '10'), 200);
  t.is(s.host['Ext/Battery'], '10');
  tree.rollback();
  t.is(s.host['Ext/Battery'], '55');
  t.is(log.length, n);
});

test('plug-in large objects: the sink receives the chunks and the node is recorded on finish', (t) => {
  const log: string[] = [];
  const tree = makeTree();
  tree.define('./SCOMO', 'node', '', undefined, 'Add=*&Get=*&Replace=*');
  const s = scomoLike(log);
  tree.mount('./SCOMO', s.p);
  tree.add(S, './SCOMO/Delivered/P1/Name', undefined, 'pkg');
  const sink = tree.openLargeObject(S, './SCOMO/Delivered/P1/Data', 'Add', { format: 'bin' }, 5) as LargeObjectSink;
  t.is(typeof sink, 'object');
  t.is(sink.write(new Uint8Array([1, 2, 3])), 213);
  t.is(sink.write(new Uint8Array([4, 5])), 213);
  t.is(sink.finish(), 200);
  t.deepEqual(s.delivered(), [1, 2, 3, 4, 5]);
  t.is(tree.get(S, './SCOMO/Delivered/P1').items![0].data, 'Name/Data');
});

test('plain large objects stream to the store, Get reassembles, size mismatch 424, limits 413', (t) => {
  const store = new FakeStore();
  const tree = makeTree({ store, maxLargeObject: 1000 });
  t.is(tree.openLargeObject(S, './Big', 'Add', undefined, 1001), 413);
  t.is(tree.openLargeObject(S, './DevInfo', 'Add', undefined, 10), 418);
  t.is(tree.openLargeObject(S, './Missing', 'Replace', undefined, 10), 404);
  t.is(tree.openLargeObject('x', './DevInfo/Man', 'Replace', undefined, 10), 425);
  const sink = tree.openLargeObject(S, './Dir/Big', 'Add', { format: 'bin' }, 600) as LargeObjectSink;
  const bytes = new Uint8Array(600).map((_, i) => i & 255);
  for (let i = 0; i < 600; i += 200) t.is(sink.write(bytes.subarray(i, i + 200)), 213);
  t.is(store.txs.length, 3, 'each chunk is durable as it arrives');
  t.is(tree.get(S, './Dir/Big').code, 404, 'the node appears only on finish');
  t.is(sink.finish(), 200);
  t.deepEqual(tree.get(S, './Dir/Big').items![0].data, bytes);
  t.is(tree.get(S, './Dir/Big?prop=Size').items![0].data, '600');
  const again = makeTree({ store });
  t.deepEqual(again.get(S, './Dir/Big').items![0].data, bytes);
  t.is(dump(again), dump(tree));
  // Short: 424 on finish, nothing created.
  const short = tree.openLargeObject(S, './Dir/Short', 'Add', undefined, 10) as LargeObjectSink;
  short.write(new Uint8Array(4));
  t.is(short.finish(), 424);
  t.is(tree.get(S, './Dir/Short').code, 404);
  const over = tree.openLargeObject(S, './Dir/Over', 'Add', undefined, 2) as LargeObjectSink;
  t.is(over.write(new Uint8Array(3)), 424);
  // Replace of an existing leaf with a large object.
  const r = tree.openLargeObject(S, './Dir/Big', 'Replace', undefined, 3) as LargeObjectSink;
  r.write(new Uint8Array([7, 8, 9]));
  t.is(r.finish(), 200);
  t.deepEqual(Array.from(tree.get(S, './Dir/Big').items![0].data as Uint8Array), [7, 8, 9]);
  t.deepEqual(Array.from(makeTree({ store }).get(S, './Dir/Big').items![0].data as Uint8Array), [7, 8, 9]);
  t.is(tree.get(LOCAL_ID, './Dir/Big?prop=Size').items![0].data, '3');
});

test('real store limits map to DM codes: 420 for a large object bigger than the store, 413 for an oversized record', async (t) => {
  const { MemFlash, openStore } = await import('../src/store/index.js');
  const { DmTree } = await import('../src/tree/tree.js');
  const flash = new MemFlash(4096, 256);
  let tree: InstanceType<typeof DmTree> | undefined;
  const store = openStore(flash, { snapshot: (emit) => tree!.snapshot(emit), maxRecordBytes: 1024 });
  tree = new DmTree({ store });
  tree.load();
  t.is(tree.openLargeObject(S, './Big', 'Add', undefined, 5000), 420);
  t.is(tree.add(S, './Huge', undefined, 'x'.repeat(1500)), 413);
  t.is(tree.get(S, './Huge').code, 404);
  // A large object that fits the region but not the space left after the live state: 420 on write.
  const sink = tree.openLargeObject(S, './Mid', 'Add', undefined, 1900) as LargeObjectSink;
  t.is(typeof sink, 'object');
  let code = 213;
  for (let i = 0; i < 19 && code === 213; i++) code = sink.write(new Uint8Array(100));
  if (code === 213) code = sink.finish();
  t.is(code, 420, 'its chunks alone exceed the 2 KiB region');
  t.is(tree.add(S, './Still/works', undefined, 'y'), 200);
});

test('a large object keeps its chunks when compaction runs in the middle of the transfer', async (t) => {
  const { MemFlash, openStore } = await import('../src/store/index.js');
  const { DmTree } = await import('../src/tree/tree.js');
  const flash = new MemFlash(16384, 512);
  let tree: InstanceType<typeof DmTree> | undefined;
  const boot = (f: InstanceType<typeof MemFlash>) => {
    const store = openStore(f, { snapshot: (emit) => tree!.snapshot(emit) });
    tree = new DmTree({ store });
    tree.load();
    return tree;
  };
  boot(flash);
  for (let i = 0; i < 40; i++) t.is(tree!.replace(LOCAL_ID, '.?prop=Title', undefined, 'filler ' + i), 200);
  const erases = flash.counters.erases;
  const bytes = new Uint8Array(6000).map((_, i) => (i * 31) & 255);
  const sink = tree!.openLargeObject(S, './Blob', 'Add', { format: 'bin' }, bytes.length) as LargeObjectSink;
  for (let i = 0; i < bytes.length; i += 150) t.is(sink.write(bytes.subarray(i, i + 150)), 213);
  t.is(sink.finish(), 200);
  t.true(flash.counters.erases > erases, 'compaction ran during the transfer');
  t.deepEqual(tree!.get(S, './Blob').items![0].data, bytes);
  t.deepEqual(boot(flash.clone()).get(S, './Blob').items![0].data, bytes);
});
