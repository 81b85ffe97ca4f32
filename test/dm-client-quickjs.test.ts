// The DM client engine runs unchanged inside QuickJS: the same scripted session (MD5 challenge,
// commands, Atomic, chunked Results, an incoming large object) gives the same transcript there
// as in Node.
import test from 'ava';
import { bundleForQuickJS, loadInQuickJS } from './helpers/quickjs.js';
import { runDmSession } from './fixtures/dm/quickjs-session-entry.js';
import { md5Digest } from '../src/dm/credentials.js';
import { utf8Encode } from '../src/codec/utf8.js';

test('scripted session: QuickJS transcript equals the Node transcript (xml and wbxml)', async (t) => {
  const code = await bundleForQuickJS('test/fixtures/dm/quickjs-session-entry.ts');
  const q = await loadInQuickJS(code, { memoryLimitBytes: 64 << 20 });
  try {
    for (const encoding of ['xml', 'wbxml'] as const) {
      const arg = { encoding, loBytes: 20000 };
      const inNode = runDmSession(arg) as any;
      const inQjs = q.call('runDmSession', arg) as any;
      t.deepEqual(inQjs, inNode, encoding);
      t.is(inNode.done, 'true session completed');
      t.true(inNode.summary.length > 5, 'the Results went out in several messages');
      t.is(inNode.summary[1], '2 ' + md5Digest('u', 'p', utf8Encode('n1')) + ' S0=200,A1201,Replace F', 'package 1 re-sent with the new digest');
      t.deepEqual(inNode.los, ['200,A1222,213', '200,A1222,213', '200,200']);
      t.is(inNode.stored, 3000);
    }
  } finally {
    q.dispose();
  }
});
