import test from 'ava';
import { executeCommand, type ExecContext } from '../src/dm/command-executor.js';
import { utf8Encode } from '../src/codec/utf8.js';
import type { Command } from '../src/codec/model.js';
import { FakeTree } from './helpers/fake-tree.js';

// Text chunks of a large object reach the sink in pieces (heap on small devices); the leaf
// must end up with exactly the UTF-8 of the whole text, surrogate pairs never split.
function ctxFor(tree: FakeTree): ExecContext {
  return { tree, serverId: 's', hooks: {} as ExecContext['hooks'], msgRef: '1', maxObjSize: 1 << 20, serverMaxObjSize: 1 << 20, out: [], lo: null, nextMessage: false, serverAbort: false };
}

function add(cmdID: string, data: string, more: boolean, size?: number): Command {
  return {
    kind: 'Add', cmdID, meta: size !== undefined ? { size: String(size), format: 'chr' } : undefined,
    items: [{ target: { locURI: './Obj' }, data, moreData: more }],
  } as Command;
}

test('a text large object spanning many pieces arrives whole, pairs intact', (t) => {
  const tree = new FakeTree();
  tree.nodes['./'] = { format: 'node' };
  const a = 'x'.repeat(4095) + '\u{1F600}' + 'é'.repeat(5000);
  const b = 'y'.repeat(9000) + '\u{1F601}';
  const all = a + b;
  const size = utf8Encode(all).length;
  const ctx = ctxFor(tree);
  t.is(executeCommand(ctx, add('1', a, true, size), false, false), 213);
  t.is(executeCommand(ctx, add('2', b, false), false, false), 200);
  t.deepEqual(tree.nodes['./Obj'].data, utf8Encode(all));
});

test('declared size is still checked in UTF-8 bytes', (t) => {
  const tree = new FakeTree();
  const ctx = ctxFor(tree);
  const a = 'é'.repeat(5000); // 10000 bytes
  executeCommand(ctx, add('1', a, true, 9999), false, false);
  t.is(ctx.lo, null);
  t.true(ctx.out.some((c) => c.kind === 'Status' && (c as { code: number }).code === 424));
});
