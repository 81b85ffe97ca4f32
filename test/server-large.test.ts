import test from 'ava';
import type { Command, Replace, Get, SyncML, Item, Alert } from '../src/codec/model.js';
import { base64Decode, base64Encode } from '../src/codec/base64.js';
import { encodeMessage } from '../src/codec/index.js';
import { DEV, ScriptClient, account, alert, answerAll, basic, commandsOf, devInfoReplace, newServer, results, status, statusFor } from './helpers/server-fixtures.js';

const replace = (uri: string, data: string | Uint8Array): Replace => ({ kind: 'Replace', cmdID: '', items: [{ target: { locURI: uri }, data }] });
const get = (uri: string): Get => ({ kind: 'Get', cmdID: '', items: [{ target: { locURI: uri } }] });

function bytes(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

function size(m: SyncML, enc: 'xml' | 'wbxml'): number {
  const e = encodeMessage(m, enc);
  if (!e.ok) throw new Error(e.error.message);
  return e.value.length;
}

async function start(c: ScriptClient): Promise<SyncML> {
  return c.send(c.build([alert(1201), devInfoReplace()], { cred: basic('dev-user', 'dev-secret') }));
}

for (const ask of [true, false]) {
  test(`a package larger than MaxMsgSize is split over messages (client ${ask ? 'asks with 1222' : 'just answers'})`, async (t) => {
    const { dm } = await newServer([account()]);
    const cmds = Array.from({ length: 40 }, (_, i) => replace(`./Vendor/Setting${i}`, 'value-' + 'x'.repeat(60) + i));
    const h = await dm.queueCommands(DEV, cmds);
    const c = new ScriptClient(dm, 'xml', DEV, '2A', 2048);
    let r = await start(c);
    let messages = 0;
    let seen = 0;
    for (;;) {
      messages++;
      t.true(size(r, 'xml') <= 2048, 'message within MaxMsgSize');
      seen += commandsOf(r).filter((k) => k.kind === 'Replace').length;
      const reply: Command[] = answerAll(r);
      if (!r.body.final && ask) reply.push(alert(1222));
      const wasFinal = r.body.final;
      r = await c.send(c.build(reply));
      if (wasFinal) break;
    }
    t.true(messages > 2);
    t.is(seen, 40);
    const done = await h.done;
    t.true(done.outcomes!.every((o) => o.status === 200));
  });
}

for (const enc of ['xml', 'wbxml'] as const) {
  test(`a large object is sent in chunks with MoreData and Size, answered 213 per chunk (${enc})`, async (t) => {
    const { dm } = await newServer([account()]);
    const data = bytes(100_000);
    const h = await dm.queueCommands(DEV, [replace('./SCOMO/Inventory/Delivered/P1/Data', data)]);
    const c = new ScriptClient(dm, enc, DEV, '3A', 8192);
    let r = await start(c);
    const pieces: Array<string | Uint8Array> = [];
    let declared: string | undefined;
    let chunks = 0;
    for (;;) {
      t.true(size(r, enc) <= 8192);
      const cmd = commandsOf(r).find((k): k is Replace => k.kind === 'Replace');
      if (!cmd) break;
      chunks++;
      const it = cmd.items[0];
      if (chunks === 1) declared = it.meta?.size;
      else t.is(it.meta?.size, undefined, 'Size only on the first chunk');
      pieces.push(it.data!);
      r = await c.send(c.build([status(r.hdr.msgID, '0', 'SyncHdr', 200), status(r.hdr.msgID, cmd.cmdID, 'Replace', it.moreData ? 213 : 200)]));
      if (!it.moreData) break;
    }
    t.true(chunks > 10);
    let whole: Uint8Array;
    if (enc === 'xml') {
      const text = (pieces as string[]).join('');
      t.is(declared, String(text.length));
      whole = base64Decode(text)!;
    } else {
      t.is(declared, String(data.length));
      whole = new Uint8Array(Buffer.concat(pieces as Uint8Array[]));
    }
    t.deepEqual(whole, data);
    const done = await h.done;
    t.is(done.outcomes?.[0].status, 200);
  });
}

test('a chunk refused by the client fails the object with that code and stops the transfer', async (t) => {
  const { dm } = await newServer([account()]);
  const h = await dm.queueCommands(DEV, [replace('./Big', 'y'.repeat(20_000))]);
  const c = new ScriptClient(dm, 'xml', DEV, '3B', 4096);
  const r = await start(c);
  const cmd = commandsOf(r)[0] as Replace;
  t.true(cmd.items[0].moreData);
  const r2 = await c.send(c.build([status(r.hdr.msgID, '0', 'SyncHdr', 200), status(r.hdr.msgID, cmd.cmdID, 'Replace', 420)]));
  t.deepEqual(commandsOf(r2), []);
  t.true(r2.body.final);
  t.is((await h.done).outcomes?.[0].status, 420);
});

test('the client MaxObjSize is respected: a bigger object is not sent and fails with 413', async (t) => {
  const { dm } = await newServer([account()]);
  const h = await dm.queueCommands(DEV, [replace('./Big', 'z'.repeat(5000)), replace('./Small', 's')]);
  const c = new ScriptClient(dm);
  const m = c.build([alert(1201), devInfoReplace()], { cred: basic('dev-user', 'dev-secret') });
  m.hdr.meta = { maxMsgSize: '65536', maxObjSize: '1000' };
  const r = await c.send(m);
  t.deepEqual(commandsOf(r).map((k) => (k as Replace).items[0].target?.locURI), ['./Small']);
  await c.send(c.build(answerAll(r)));
  const done = await h.done;
  t.deepEqual(done.outcomes?.map((o) => o.status), [413, 200]);
});

for (const enc of ['xml', 'wbxml'] as const) {
  test(`chunked Results from the client are reassembled, 213 per chunk (${enc})`, async (t) => {
    const { dm } = await newServer([account()]);
    const h = await dm.queueCommands(DEV, [get('./Logs/Big')]);
    const c = new ScriptClient(dm, enc, DEV, '4A');
    const r1 = await start(c);
    const g = commandsOf(r1)[0];
    const whole = enc === 'xml' ? 'log line\n'.repeat(3000) : bytes(30_000);
    const parts = enc === 'xml' ? [(whole as string).slice(0, 10000), (whole as string).slice(10000, 20000), (whole as string).slice(20000)]
      : [(whole as Uint8Array).subarray(0, 10000), (whole as Uint8Array).subarray(10000, 20000), (whole as Uint8Array).subarray(20000)];
    const item = (i: number): Item => ({
      source: { locURI: './Logs/Big' }, data: parts[i],
      ...(i === 0 ? { meta: { size: String(whole.length) } } : {}), ...(i < 2 ? { moreData: true } : {}),
    });
    let r = await c.send(c.build([...answerAll(r1), results(r1.hdr.msgID, g.cmdID, [item(0)])], { final: false }));
    t.is(statusFor(r, '3')?.code, 213);
    t.true(r.body.commands.some((k) => k.kind === 'Alert' && k.code === 1222));
    t.false(r.body.final);
    r = await c.send(c.build([results(r1.hdr.msgID, g.cmdID, [item(1)])], { final: false }));
    t.is(statusFor(r, '1')?.code, 213);
    r = await c.send(c.build([results(r1.hdr.msgID, g.cmdID, [item(2)])]));
    t.true(r.body.final);
    const done = await h.done;
    t.is(done.outcomes?.[0].status, 200);
    t.deepEqual(done.outcomes?.[0].results?.[0].data, whole);
  });
}

test('a chunked object whose size does not match its Size gets 424', async (t) => {
  const { dm } = await newServer([account()]);
  const h = await dm.queueCommands(DEV, [get('./X')]);
  const c = new ScriptClient(dm, 'xml', DEV, '4B');
  const r1 = await start(c);
  const g = commandsOf(r1)[0];
  await c.send(c.build([...answerAll(r1), results(r1.hdr.msgID, g.cmdID, [{ source: { locURI: './X' }, meta: { size: '100' }, data: 'a'.repeat(40), moreData: true }])], { final: false }));
  const r = await c.send(c.build([results(r1.hdr.msgID, g.cmdID, [{ source: { locURI: './X' }, data: 'b'.repeat(40) }])]));
  t.is(statusFor(r, '1')?.code, 424);
  const done = await h.done;
  t.is(done.outcomes?.[0].results, undefined);
});

test('a new object before the previous one ended gets Alert 1225', async (t) => {
  const { dm } = await newServer([account()]);
  await dm.queueCommands(DEV, [get('./X'), get('./Y')]);
  const c = new ScriptClient(dm, 'xml', DEV, '4C');
  const r1 = await start(c);
  const [gx, gy] = commandsOf(r1);
  await c.send(c.build([...answerAll(r1), results(r1.hdr.msgID, gx.cmdID, [{ source: { locURI: './X' }, meta: { size: '100' }, data: 'a'.repeat(40), moreData: true }])], { final: false }));
  const r = await c.send(c.build([results(r1.hdr.msgID, gy.cmdID, [{ source: { locURI: './Y' }, data: 'whole' }])]));
  const a = r.body.commands.find((k): k is Alert => k.kind === 'Alert' && k.code === 1225);
  t.truthy(a);
  t.is(a?.items[0].source?.locURI, './X');
});

test('binary results over XML arrive as b64 text and are kept with their format', async (t) => {
  const { dm } = await newServer([account()]);
  const h = await dm.queueCommands(DEV, [get('./Bin')]);
  const c = new ScriptClient(dm, 'xml', DEV, '4D');
  const r1 = await start(c);
  const g = commandsOf(r1)[0];
  const b = bytes(64);
  await c.send(c.build([...answerAll(r1), results(r1.hdr.msgID, g.cmdID, [{ source: { locURI: './Bin' }, meta: { format: 'b64' }, data: base64Encode(b) }])]));
  const o = (await h.done).outcomes![0];
  t.is(o.results?.[0].meta?.format, 'b64');
  t.deepEqual(base64Decode(o.results![0].data as string), b);
});
