import test from 'ava';
import { LOCAL_ID } from '../src/tree/tree.js';
import { FakeStore, dump, makeTree } from './helpers/tree-setup.js';

const S = 'srv1';

test('get leaf returns value with Meta Format/Type; interior lists children', (t) => {
  const tree = makeTree();
  const r = tree.get(S, './DevInfo/Man');
  t.is(r.code, 200);
  t.deepEqual(r.items![0], { source: { locURI: './DevInfo/Man' }, meta: { format: 'chr', type: 'text/plain' }, data: 'Acme' });
  const i = tree.get(S, './DevInfo');
  t.is(i.items![0].data, 'DevId/Man/Mod/DmV/Lang');
  t.is(i.items![0].meta!.format, 'node');
  t.is(i.items![0].meta!.type, 'urn:oma:mo:oma-dm-devinfo:1.0');
  t.is(tree.get(S, './DevInfo/Nope').code, 404);
  t.is(tree.get(S, 'DevInfo/Mod').items![0].data, 'Rocket', 'relative URI accepted');
});

test('add creates leaves and implicit parents; 418 when it exists', (t) => {
  const tree = makeTree();
  t.is(tree.add(S, './A/B/C', { format: 'int' }, '42'), 200);
  t.is(tree.get(S, './A/B').items![0].data, 'C');
  t.is(tree.get(S, './A/B?prop=Format').items![0].data, 'node');
  t.is(tree.get(S, './A/B/C').items![0].meta!.format, 'int');
  t.is(tree.add(S, './A/B/C', undefined, 'x'), 418);
  t.is(tree.add(S, '.', { format: 'node' }, undefined), 418);
  t.is(tree.add(S, './A/B/C/D', undefined, 'x'), 405, 'child of a leaf');
  t.is(tree.add(S, './A/X?prop=ACL', undefined, 'x'), 405);
  t.is(tree.add(S, './N', { format: 'node' }, undefined), 200);
  t.is(tree.get(S, './N').items![0].data, '');
});

test('add validates values against the format', (t) => {
  const tree = makeTree();
  t.is(tree.add(S, './V/b', { format: 'bool' }, 'maybe'), 400);
  t.is(tree.add(S, './V/b', { format: 'bool' }, 'true'), 200);
  t.is(tree.add(S, './V/i', { format: 'int' }, '2147483648'), 400);
  t.is(tree.add(S, './V/i', { format: 'int' }, '-2147483648'), 200);
  t.is(tree.add(S, './V/f', { format: 'float' }, '1.5e3x'), 400);
  t.is(tree.add(S, './V/f', { format: 'float' }, '-1.5E3'), 200);
  t.is(tree.add(S, './V/d', { format: 'date' }, '2024-13-01'), 400);
  t.is(tree.add(S, './V/d', { format: 'date' }, '2024-02-29'), 200);
  t.is(tree.add(S, './V/t', { format: 'time' }, '25:00:00'), 400);
  t.is(tree.add(S, './V/t', { format: 'time' }, '23:59:59Z'), 200);
  t.is(tree.add(S, './V/x', { format: 'b64' }, '@@@'), 400);
  t.is(tree.add(S, './V/x', { format: 'b64' }, 'QUJD'), 200);
  t.is(tree.add(S, './V/u', { format: 'weird' }, '1'), 415);
  t.is(tree.add(S, './V/n', { format: 'node' }, 'data'), 400);
  t.is(tree.get(S, './V').items![0].data, 'b/i/f/d/t/x');
});

test('replace: 404 missing, value and format change, permanent nodes refuse Format/Type change', (t) => {
  const tree = makeTree();
  t.is(tree.replace(S, './Nope', undefined, 'x'), 404);
  tree.add(S, './A/L', undefined, 'one');
  t.is(tree.replace(S, './A/L', undefined, 'two'), 200);
  t.is(tree.get(S, './A/L').items![0].data, 'two');
  t.is(tree.replace(S, './A/L', { format: 'int' }, '7'), 200);
  t.is(tree.get(S, './A/L?prop=Format').items![0].data, 'int');
  t.is(tree.replace(S, './A/L', undefined, 'notint'), 400);
  t.is(tree.replace(S, './A', undefined, 'x'), 405, 'interior has no value');
  t.is(tree.replace(S, './A/L', undefined, undefined), 400, 'an empty int is not an int');
  t.is(tree.replace(S, './A/L', { format: 'chr' }, undefined), 200, 'Replace without Data empties the value');
  t.is(tree.get(S, './A/L').items![0].data, '');
  // DevInfo is Get-only to servers; the device itself may replace but not change the format of a permanent node.
  t.is(tree.replace(S, './DevInfo/Man', undefined, 'x'), 425);
  t.is(tree.replace(LOCAL_ID, './DevInfo/Man', { format: 'int' }, '1'), 405);
  t.is(tree.replace(LOCAL_ID, './DevInfo/Man', { format: 'chr', type: 'text/html' }, 'x'), 405);
  t.is(tree.replace(LOCAL_ID, './DevInfo/Man', undefined, 'NewMan'), 200);
  t.is(tree.get(S, './DevInfo/Man').items![0].data, 'NewMan');
});

test('delete: recursive, root and permanent nodes 405, missing 404', (t) => {
  const tree = makeTree();
  tree.add(S, './A/B/C', undefined, 'x');
  t.is(tree.delete(S, './A/B'), 200);
  t.is(tree.get(S, './A/B/C').code, 404);
  t.is(tree.get(S, './A').items![0].data, '');
  t.is(tree.delete(S, './A/B'), 404);
  t.is(tree.delete(S, '.'), 405);
  t.is(tree.delete(LOCAL_ID, './DevInfo'), 405);
  t.is(tree.delete(LOCAL_ID, './DevInfo/Man'), 405);
  tree.add(S, './Q/r', undefined, 'x');
  t.is(tree.delete(S, './Q/r?prop=ACL'), 405, 'properties cannot be deleted');
  t.is(tree.delete(S, './Q?list=Struct'), 405);
  t.is(tree.get(S, './Q/r').code, 200);
});

test('copy: leaf to new and existing leaf; errors 404/403/406', (t) => {
  const tree = makeTree();
  tree.add(S, './A/src', { format: 'int' }, '5');
  t.is(tree.copy(S, './B/dst', './A/src'), 200);
  t.deepEqual(tree.get(S, './B/dst').items![0].meta, { format: 'int', type: 'text/plain' });
  t.is(tree.get(S, './B/dst').items![0].data, '5');
  tree.add(S, './A/other', undefined, 'old');
  t.is(tree.copy(S, './A/other', './A/src'), 200);
  t.is(tree.get(S, './A/other').items![0].data, '5');
  t.is(tree.copy(S, './X', './A/missing'), 404);
  t.is(tree.copy(S, './A', './A/src'), 403, 'cannot overwrite an interior node');
  t.is(tree.copy(S, './Z', './A'), 406, 'interior copy not supported');
  t.is(tree.copy(S, './Z', './A/src?prop=ACL'), 405);
  t.is(tree.copy(S, './A/other?prop=Title', './A/src'), 405);
});

test('exec dispatches to plug-ins: 404, 405, the plug-in code, correlator and data passed', (t) => {
  const tree = makeTree();
  tree.define('./Ops', 'node', 'urn:x:ops');
  tree.define('./Ops/Reboot', 'node', '');
  tree.define('./Ops/Plain', 'chr', 'text/plain', 'v');
  const seen: unknown[] = [];
  tree.mount('./Ops', {
    exec(rel, req, sid) {
      seen.push([rel, req.correlator, req.data, sid]);
      return rel === 'Reboot' ? 202 : 405;
    },
  });
  t.is(tree.exec(S, './Ops/Reboot', { correlator: 'c1', data: 'now' }), 425, 'root ACL has no Exec');
  t.is(tree.replace(LOCAL_ID, './Ops?prop=ACL', undefined, 'Exec=srv1&Get=*'), 200);
  t.is(tree.exec(S, './Ops/Reboot', { correlator: 'c1', data: 'now' }), 202);
  t.deepEqual(seen[0], ['Reboot', 'c1', 'now', 'srv1']);
  t.is(tree.exec(S, './Ops/Plain', {}), 405);
  t.is(tree.exec(S, './Ops/Missing', {}), 404);
  t.is(tree.exec(S, './Ops/Reboot?prop=Name', {}), 405);
  t.is(tree.exec(S, './DevInfo/Man', {}), 425);
  t.is(tree.exec(LOCAL_ID, './DevInfo/Man', {}), 405, 'no plug-in: not executable');
});

test('store failure: command fails with 500 and the tree is unchanged', (t) => {
  const store = new FakeStore();
  const tree = makeTree({ store });
  tree.add(S, './A/x', undefined, '1');
  const before = dump(tree);
  store.failNext = true;
  t.is(tree.add(S, './A/y/z', undefined, '2'), 500);
  t.is(dump(tree), before);
  t.is(store.txs.length, 1);
});

test('failed commands leave no store records; each success is one transaction', (t) => {
  const store = new FakeStore();
  const tree = makeTree({ store });
  t.is(tree.add(S, './A/B/C', undefined, 'x'), 200);
  t.is(store.txs.length, 1);
  t.is(store.txs[0].length, 3, 'two implicit parents and the leaf');
  t.is(tree.add(S, './A/B/C', undefined, 'x'), 418);
  t.is(tree.add(S, './A/q', { format: 'int' }, 'x'), 400);
  t.is(tree.delete(S, './Nope'), 404);
  t.is(store.txs.length, 1);
});

test('replay rebuilds the same tree', (t) => {
  const store = new FakeStore();
  const tree = makeTree({ store });
  tree.add(S, './A/B/C', { format: 'int' }, '1');
  tree.add(S, './A/D', { format: 'bin' }, new Uint8Array([0, 1, 255]));
  tree.replace(S, './A/B/C', undefined, '2');
  tree.replace(LOCAL_ID, './A?prop=ACL', undefined, 'Get=*&Replace=srv1');
  tree.replace(S, './A/B?prop=Title', undefined, 'Bee');
  tree.add(S, './E/F', undefined, 'gone');
  tree.delete(S, './E');
  tree.replace(LOCAL_ID, './DevInfo/Lang', undefined, 'fi-FI');
  tree.replace(S, './A/B?prop=Name', undefined, 'B2');
  const again = makeTree({ store });
  t.is(dump(again), dump(tree));
  t.is(again.get(S, './A/B2/C?prop=VerNo').items![0].data, tree.get(S, './A/B2/C?prop=VerNo').items![0].data);
});

test('URI rules: ./ normalisation, bad segments 400, limits 414, unknown query 406', (t) => {
  const tree = makeTree({ limits: { maxDepth: 4, maxTotLen: 30, maxSegLen: 10 } });
  t.is(tree.get(S, './DevDetail/URI/MaxDepth').items![0].data, '4');
  t.is(tree.get(S, './DevDetail/URI/MaxTotLen').items![0].data, '30');
  t.is(tree.get(S, './DevDetail/URI/MaxSegLen').items![0].data, '10');
  t.is(tree.get(S, './DevInfo/../DevInfo').code, 400);
  t.is(tree.get(S, './DevInfo//Man').code, 400);
  t.is(tree.get(S, './DevInfo/./Man').code, 400);
  t.is(tree.get(S, '/DevInfo').code, 400);
  t.is(tree.add(S, './A/b\u0001c', undefined, 'x'), 400);
  t.is(tree.add(S, './A/toolongname', undefined, 'x'), 414);
  t.is(tree.add(S, './a/b/c/d/e', undefined, 'x'), 414);
  t.is(tree.add(S, './aaaaaaa/bbbbbbb/ccccccc/ddddddd', undefined, 'x'), 414);
  t.is(tree.get(S, './DevInfo?foo=bar').code, 406);
  t.is(tree.get(S, './DevInfo/').code, 200, 'one trailing slash tolerated');
  t.is(tree.get(S, '.').code, 200);
  t.is(tree.get(S, './').items![0].data, 'DevInfo/DevDetail/DMAcc');
});
