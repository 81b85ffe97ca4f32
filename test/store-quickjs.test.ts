import test from 'ava';
import { encode as theirEncode } from '@msgpack/msgpack';
import { bundleForQuickJS, loadInQuickJS, type QuickJSRun } from './helpers/quickjs.js';

let vm: QuickJSRun;
test.before(async () => {
  vm = await loadInQuickJS(await bundleForQuickJS('test/fixtures/store-quickjs-entry.ts'));
});
test.after.always(() => vm?.dispose());

test('commit, streamed transactions, compaction and replay run inside QuickJS', (t) => {
  const r = vm.call('storeSession', { commits: 120 }) as { same: boolean; state: Record<string, string>; info: { generation: number }; counters: { erases: number } };
  t.true(r.same);
  t.is(r.state.k0, 'välue-119');
  t.is(r.state.lo, 'b113');
  t.true(r.info.generation > 2, 'compacted at least twice');
  t.true(r.counters.erases > 0);
});

test('power cuts inside QuickJS reopen to a committed prefix', (t) => {
  const r = vm.call('storeCuts', { every: 7 }) as { tried: number; total: number; bad: string[] };
  t.log(`QuickJS: ${r.tried} cut points over ${r.total} programmed bytes`);
  t.deepEqual(r.bad, []);
  t.true(r.tried > 100);
});

test('msgpack inside QuickJS writes the same bytes as @msgpack/msgpack in Node', (t) => {
  const value = { op: 'set', path: './DevDetail/Ext/Ünïcode😀', n: [0, -1, 300, -70000, 2 ** 40, 1.25], ok: true, nil: null, long: 'x'.repeat(300) };
  const r = vm.call('msgpackHex', { value }) as { hex: string; back: unknown };
  t.is(r.hex, Buffer.from(theirEncode(value)).toString('hex'));
  t.deepEqual(r.back, value);
});
