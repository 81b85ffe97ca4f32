// Hostile input: mutated server messages (XML and WBXML) never make the engine throw, hang or
// leave a large-object sink open; every reply is a well-formed step.
import test from 'ava';
import fc from 'fast-check';
import { createClientSession } from '../src/dm/client-session.js';
import type { Command } from '../src/codec/model.js';
import { decodeMessage, SERVER_LIMITS } from '../src/codec/index.js';
import { standardTree } from './helpers/fake-tree.js';
import { baseConfig, enc, hdrStatus, item, serverMsg } from './helpers/dm-script.js';

const cmds = (): Command[] => [
  hdrStatus('1', 212),
  { kind: 'Add', cmdID: '2', items: [item('./F/a', 'hello', { format: 'chr' })] },
  { kind: 'Atomic', cmdID: '3', commands: [{ kind: 'Replace', cmdID: '4', items: [item('./DevInfo/Man', 'x')] }] },
  { kind: 'Get', cmdID: '5', items: [item('./DevInfo?list=Struct')] },
  { kind: 'Alert', cmdID: '6', code: 1101, items: [{ data: 'DR=1' }, { data: 'ok?' }] },
  { kind: 'Add', cmdID: '7', items: [{ target: { locURI: './F/big' }, meta: { size: '100' }, data: 'abc', moreData: true }] },
];

for (const encoding of ['xml', 'wbxml'] as const) {
  test(`mutated server messages never throw (${encoding})`, (t) => {
    const probe = createClientSession(baseConfig({ encoding, sessionId: '1F' }), standardTree());
    probe.start();
    const good = enc(serverMsg({ sessionID: '1F', msgID: 1, final: false, commands: cmds() }), encoding);
    let sends = 0, dones = 0;
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat(good.length - 1), fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0x30, max: 0x39 }))), { minLength: 1, maxLength: 3 }),
      fc.option(fc.nat(good.length - 1), { freq: 3 }),
      (edits, cut) => {
        const b = good.slice(0, cut === null ? good.length : cut + 1);
        for (const [at, v] of edits) if (at < b.length) b[at] = v;
        const tree = standardTree();
        const s = createClientSession(baseConfig({ encoding, sessionId: '1F' }), tree);
        s.start();
        const step = s.receive(b);
        if (step.kind === 'send') {
          sends++;
          if (!decodeMessage(step.body, SERVER_LIMITS).ok) return false;
          // Whatever happened, the session can still be ended cleanly.
          const end = s.abort('test');
          if (end.kind !== 'send') return false;
        } else {
          dones++;
          if (typeof step.reason !== 'string' || step.ok || /internal error/.test(step.reason)) return false;
        }
        s.fail('end');
        return tree.openSinks === 0;
      },
    ), { numRuns: 300, seed: 4242 });
    t.true(dones > 0);
    t.true(sends > 0, 'some mutations still decode and get answered');
  });
}
