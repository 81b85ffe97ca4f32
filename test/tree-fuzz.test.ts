// Hostile input: random URIs, values, metas, ACLs and TNDS documents never throw, always give
// a DM code, and a random command sequence inside Atomic rolls back to exactly the prior state.
import test from 'ava';
import fc from 'fast-check';
import { LOCAL_ID } from '../src/tree/tree.js';
import { TNDS_TYPE } from '../src/tree/tnds.js';
import { FakeStore, dump, makeTree } from './helpers/tree-setup.js';

const seg = fc.oneof(
  { arbitrary: fc.constantFrom('A', 'B', 'c', 'DevInfo', 'Man', 'DMAcc', 'Ü', 'a b'), weight: 12 },
  { arbitrary: fc.constantFrom('..', '.', '', 'x?y'), weight: 1 },
);
const uri = fc.oneof(
  { arbitrary: fc.array(seg, { minLength: 1, maxLength: 4 }).map((s) => './' + s.join('/')), weight: 6 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
  fc.array(seg, { maxLength: 5 }).chain((s) => fc.constantFrom('?prop=ACL', '?prop=Name', '?prop=Size', '?list=Struct', '?list=TNDS+ACL', '?x=1', '').map((q) => './' + s.join('/') + q)),
);
const meta = fc.option(fc.record({
  format: fc.option(fc.constantFrom('chr', 'int', 'bool', 'node', 'b64', 'bin', 'xml', 'float', 'date', 'time', 'null', 'zzz'), { nil: undefined }),
  type: fc.option(fc.constantFrom('text/plain', TNDS_TYPE), { nil: undefined }),
}, { requiredKeys: [] }), { nil: undefined });
const data = fc.option(fc.oneof(
  { arbitrary: fc.constantFrom('v', '1'), weight: 4 },
  fc.string({ maxLength: 30 }),
  fc.constantFrom('true', '12', '-3.5e2', 'QUJD', 'Add=*&Get=*', 'Get=srv1', 'Get=', '<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>N</NodeName><Value>v</Value></Node></MgmtTree>', '<MgmtTree><Node><NodeName/></Node></MgmtTree>'),
  fc.uint8Array({ maxLength: 20 }),
), { nil: undefined });
const server = fc.constantFrom('srv1', 'srv2', LOCAL_ID);
const cmd = fc.oneof(
  fc.tuple(fc.constant('get'), server, uri),
  fc.tuple(fc.constant('add'), server, uri, meta, data),
  fc.tuple(fc.constant('replace'), server, uri, meta, data),
  fc.tuple(fc.constant('delete'), server, uri),
  fc.tuple(fc.constant('copy'), server, uri, uri),
  fc.tuple(fc.constant('exec'), server, uri),
);

const CODES = new Set([200, 400, 403, 404, 405, 406, 413, 414, 415, 418, 420, 425, 500]);

function apply(tree: ReturnType<typeof makeTree>, c: any[]): number {
  switch (c[0]) {
    case 'get': return tree.get(c[1], c[2]).code;
    case 'add': return tree.add(c[1], c[2], c[3], c[4]);
    case 'replace': return tree.replace(c[1], c[2], c[3], c[4]);
    case 'delete': return tree.delete(c[1], c[2]);
    case 'copy': return tree.copy(c[1], c[2], c[3]);
    default: return tree.exec(c[1], c[2], {});
  }
}

test('random commands never throw and answer a DM code; the store replays to the same tree', (t) => {
  const seen = new Map<number, number>();
  fc.assert(fc.property(fc.array(cmd, { maxLength: 25 }), (cmds) => {
    const store = new FakeStore();
    const tree = makeTree({ store });
    for (const c of cmds) {
      const code = apply(tree, c);
      if (!CODES.has(code)) throw new Error(`code ${code} for ${JSON.stringify(c)}`);
      seen.set(code, (seen.get(code) || 0) + 1);
    }
    return dump(makeTree({ store })) === dump(tree);
  }), { numRuns: 300, seed: 42 });
  t.log('codes seen: ' + JSON.stringify([...seen].sort((a, b) => a[0] - b[0])));
  t.true((seen.get(200) || 0) > 100, 'the generator reaches success paths');
});

test('random commands inside Atomic roll back to exactly the prior state', (t) => {
  fc.assert(fc.property(fc.array(cmd, { maxLength: 10 }), fc.array(cmd, { maxLength: 15 }), (pre, inside) => {
    const store = new FakeStore();
    const tree = makeTree({ store });
    for (const c of pre) apply(tree, c);
    const before = dump(tree);
    const txs = store.txs.length;
    tree.begin();
    for (const c of inside) apply(tree, c);
    tree.rollback();
    return dump(tree) === before && store.txs.length === txs;
  }), { numRuns: 300, seed: 7 });
  t.pass();
});
