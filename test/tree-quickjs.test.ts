import test from 'ava';
import { bundleForQuickJS, loadInQuickJS } from './helpers/quickjs.js';

test('tree + store run inside QuickJS, survive a reboot and a power cut', async (t) => {
  const code = await bundleForQuickJS('test/fixtures/tree-quickjs-entry.ts');
  t.log(`bundle (tree + store + xml codec + fixture): ${code.length} bytes minified`);
  const qjs = await loadInQuickJS(code, { memoryLimitBytes: 8 << 20 });
  try {
    const r = qjs.call('treeRun', { cut: -1 }) as any;
    t.is(r.codes.length, 42);
    t.true(r.codes.every((c: number) => c === 200));
    t.is(r.lang, 'l39');
    t.is(r.y, '5');
    t.is(r.accounts, 1);
    t.true(r.tndsOk);
    t.true(r.ddfLen > 1000);
    // Cut in the middle: the rebooted tree holds a prefix; every success before the cut survived.
    const c = qjs.call('treeRun', { cut: 1500 }) as any;
    const ok = c.codes.indexOf(500) < 0 ? c.codes.length : c.codes.indexOf(500);
    t.true(ok > 1 && ok < 42, 'the cut fell inside the script');
    const lastLang = ok - 2; // index of the last successful Lang replace
    t.true(c.lang === 'l' + lastLang || c.lang === 'l' + (lastLang + 1), `lang ${c.lang}, ${ok} successes`);
    t.is(c.y, 404);
    t.is(c.accounts, 1);
  } finally {
    qjs.dispose();
  }
});
