import test from 'ava';
import { LOCAL_ID } from '../src/tree/tree.js';
import { FakeStore, dump, makeTree } from './helpers/tree-setup.js';

const S = 'srv1';

test('Atomic rollback restores exactly, including deleted subtrees, renames and ACLs', (t) => {
  const store = new FakeStore();
  const tree = makeTree({ store });
  tree.add(S, './A/B/c', { format: 'int' }, '1');
  tree.add(S, './A/B/d', undefined, 'dd');
  tree.add(S, './A/E', undefined, 'e');
  const before = dump(tree);
  const verNo = tree.get(S, './A/E?prop=VerNo').items![0].data;
  const txs = store.txs.length;
  tree.begin();
  t.is(tree.delete(S, './A/B'), 200);
  t.is(tree.replace(S, './A/E', undefined, 'changed'), 200);
  t.is(tree.add(S, './A/New/x', undefined, 'n'), 200);
  t.is(tree.replace(S, './A/E?prop=Name', undefined, 'E2'), 200);
  t.is(tree.replace(LOCAL_ID, './A?prop=ACL', undefined, 'Get=*'), 200);
  t.is(tree.add(S, './A/New/x', undefined, 'dup'), 418, 'a failing command inside Atomic');
  tree.rollback();
  t.is(dump(tree), before);
  t.is(tree.get(S, './A/E?prop=VerNo').items![0].data, verNo);
  t.is(store.txs.length, txs, 'nothing reached the store');
  t.is(dump(makeTree({ store })), before, 'and a reboot agrees');
});

test('Atomic commit writes one transaction with every change', (t) => {
  const store = new FakeStore();
  const tree = makeTree({ store });
  tree.begin();
  tree.add(S, './X/a', undefined, '1');
  tree.add(S, './X/b', undefined, '2');
  tree.delete(S, './X/a');
  t.is(store.txs.length, 0, 'nothing durable before commit');
  t.true(tree.commit());
  t.is(store.txs.length, 1);
  t.is(dump(makeTree({ store })), dump(tree));
});

test('a failed command inside Atomic undoes only its own partial changes', (t) => {
  const tree = makeTree();
  tree.begin();
  t.is(tree.add(S, './Y/ok', undefined, '1'), 200);
  // The implicit parent Z would be created before the bad value is refused... it must not remain.
  t.is(tree.add(S, './Z/bad', { format: 'bool' }, 'nope'), 400);
  t.is(tree.get(S, './Z').code, 404);
  t.is(tree.get(S, './Y/ok').code, 200);
  t.true(tree.commit());
  t.is(tree.get(S, './Y/ok').code, 200);
});

test('commit that cannot be made durable returns false and rolls back', (t) => {
  const store = new FakeStore();
  const tree = makeTree({ store });
  const before = dump(tree);
  tree.begin();
  tree.add(S, './W/a', undefined, '1');
  store.failNext = true;
  t.false(tree.commit());
  t.is(dump(tree), before);
});

test('a shared store compacting during an open Atomic snapshots only the committed tree', async (t) => {
  const { MemFlash, openStore } = await import('../src/store/index.js');
  const { DmTree } = await import('../src/tree/tree.js');
  const flash = new MemFlash(8192, 256);
  let tree: InstanceType<typeof DmTree> | undefined;
  const journal: unknown[] = [];
  // The agent composes the owners' snapshot writers; the journal re-emits its own records.
  const boot = (f: InstanceType<typeof MemFlash>) => {
    let own: InstanceType<typeof DmTree> | undefined;
    const store = openStore(f, { snapshot: (emit) => { own!.snapshot(emit); for (const r of journal) emit(r); } });
    own = new DmTree({ store });
    own.load();
    return { tree: own, store };
  };
  const first = boot(flash);
  const store = first.store;
  tree = first.tree;
  t.is(tree!.add(S, './Kept/x', undefined, 'committed'), 200);
  for (const outcome of ['rollback', 'commit']) {
    tree!.begin();
    t.is(tree!.add(S, './Pending/' + outcome, undefined, 'maybe'), 200);
    t.is(tree!.replace(S, './Kept/x?prop=Title', undefined, 'pending title'), 200);
    t.is(tree!.delete(S, './Kept/x'), 200);
    const erases = flash.counters.erases;
    // Another owner fills the log until the store compacts.
    for (let i = 0; flash.counters.erases === erases && i < 500; i++) {
      const rec = ['journal', i, 'x'.repeat(100)];
      store.commit([rec]);
    }
    t.true(flash.counters.erases > erases, 'compaction happened inside the Atomic');
    const mid = boot(flash.clone()).tree;
    t.is(mid.get(S, './Kept/x').items![0].data, 'committed', 'the open Atomic is not in the snapshot');
    t.is(mid.get(S, './Pending').code, 404);
    t.is(mid.get(S, './Kept/x?prop=Title').items![0].data, '');
    if (outcome === 'rollback') {
      tree!.rollback();
      t.is(tree!.get(S, './Kept/x').code, 200, 'the live tree is intact after the snapshot stepped back and forth');
    } else {
      t.true(tree!.commit());
      const after = boot(flash.clone()).tree;
      t.is(after.get(S, './Kept/x').code, 404);
      t.is(after.get(S, './Pending/commit').items![0].data, 'maybe');
      t.is(after.get(S, './Pending/rollback').code, 404);
    }
  }
});
