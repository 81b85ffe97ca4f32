// Hostile input to the DM server: mutated and truncated messages, odd but well-formed messages.
// Every request must get an answer (a DM reply or a 4xx), never a crash or a 500.
import test from 'ava';
import { contentTypeFor } from '../src/codec/index.js';
import type { SyncML } from '../src/codec/model.js';
import { ENDPOINT, ScriptClient, account, alert, basic, devInfoReplace, hdrStatus, newServer, status } from './helpers/server-fixtures.js';

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => { x = (x * 1664525 + 1013904223) >>> 0; return x / 2 ** 32; };
}

for (const enc of ['xml', 'wbxml'] as const) {
  test(`mutated and truncated ${enc} messages never crash the server`, async (t) => {
    const { dm } = await newServer([account()]);
    const c = new ScriptClient(dm, enc);
    const good = c.encode(c.build([alert(1201), devInfoReplace(), status('1', '3', 'Get', 200)], { cred: basic('dev-user', 'dev-secret') }));
    const r = rng(enc === 'xml' ? 1 : 2);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const b = good.slice(0, i % 5 === 0 ? Math.floor(r() * good.length) : good.length);
      const flips = 1 + Math.floor(r() * 4);
      for (let k = 0; k < flips && b.length; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      const res = await dm.handle({ body: b, contentType: contentTypeFor(enc), endpointUrl: ENDPOINT, remoteAddress: '127.0.0.1' });
      seen.add(res.status);
      if (res.status !== 200 && res.status !== 400) t.fail(`status ${res.status} for mutation ${i}: ${Buffer.from(res.body).toString()}`);
    }
    t.true(seen.has(400));
    // Still works afterwards.
    const fresh = new ScriptClient(dm, enc, undefined, 'FF');
    t.is(hdrStatus(await fresh.send(fresh.build([alert(1201), devInfoReplace()], { cred: basic('dev-user', 'dev-secret') })))?.code, 212);
  });
}

test('odd but well-formed messages get DM status codes', async (t) => {
  const { dm } = await newServer([account()]);
  const c = new ScriptClient(dm);
  const r1 = await c.send(c.build([alert(1201), devInfoReplace()], { cred: basic('dev-user', 'dev-secret') }));
  t.is(hdrStatus(r1)?.code, 212);
  // A message with a MsgID that is not a number.
  const m: SyncML = c.build([status('1', '0', 'SyncHdr', 200)]);
  m.hdr.msgID = 'abc';
  const r2 = await c.send(m);
  t.is(hdrStatus(r2)?.code, 400);
  c.msgId--; // the refused message did not count
  // Statuses and results for commands the server never sent are ignored, not fatal.
  const r3 = await c.send(c.build([status('99', '42', 'Get', 200), { kind: 'Results', cmdID: '0', msgRef: '99', cmdRef: '42', targetRefs: [], sourceRefs: [], items: [{ source: { locURI: './X' }, data: 'x' }] }]));
  t.is(hdrStatus(r3)?.code, 200);
  t.true(r3.body.final);
});

test('a session key belonging to another device is not honoured', async (t) => {
  const { dm } = await newServer([account(), account({ deviceId: 'IMEI:2', clientUser: 'u2', clientSecret: 's2' })]);
  const a = new ScriptClient(dm);
  await a.send(a.build([alert(1201), devInfoReplace()], { cred: basic('dev-user', 'dev-secret') }));
  const b = new ScriptClient(dm, 'xml', 'IMEI:2');
  b.respURI = a.respURI;
  const r = await b.send(b.build([status('1', '0', 'SyncHdr', 200)], { msgId: 2 }));
  t.is(hdrStatus(r)?.code, 404);
});
