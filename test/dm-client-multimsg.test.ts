// Multi-message packages under a small MaxMsgSize and large objects in both directions.
import test from 'ava';
import { createClientSession } from '../src/dm/client-session.js';
import type { Alert, Command, Item, Results, Status, SyncML } from '../src/codec/model.js';
import { base64Decode } from '../src/codec/base64.js';
import { standardTree } from './helpers/fake-tree.js';
import { baseConfig, enc, hdrStatus, item, kinds, sent, serverMsg, status, statusMap } from './helpers/dm-script.js';

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

const next = (msgRef: string, cmdID = '2'): Alert => ({ kind: 'Alert', cmdID, code: 1222, items: [] });

for (const encoding of ['xml', 'wbxml'] as const) {
  test(`a reply bigger than the server's MaxMsgSize goes out over several messages, Final on the last (${encoding})`, (t) => {
    const tree = standardTree();
    for (let i = 0; i < 60; i++) tree.setLeaf('./Data/L' + i, 'value-number-' + i + '-' + 'x'.repeat(40));
    const s = createClientSession(baseConfig({ encoding }), tree);
    const sid = sent(s.start()).msg.hdr.sessionID;
    const gets: Command[] = [hdrStatus('1', 212)];
    for (let i = 0; i < 60; i++) gets.push({ kind: 'Get', cmdID: String(i + 2), items: [item('./Data/L' + i)] });
    let step = s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, meta: { maxMsgSize: '2048' }, commands: gets }), encoding));
    const msgs: SyncML[] = [];
    let serverMsgID = 2;
    for (let guard = 0; step.kind === 'send' && guard < 100; guard++) {
      t.true(step.body.length <= 2048, 'message ' + step.body.length + ' bytes within MaxMsgSize');
      const m = sent(step).msg;
      msgs.push(m);
      if (m.body.final) break;
      // "Next Message" reply: Status for the header and Alert 1222, no Final.
      step = s.receive(enc(serverMsg({ sessionID: sid, msgID: serverMsgID++, final: false, commands: [hdrStatus(m.hdr.msgID, 200), next(m.hdr.msgID)] }), encoding));
    }
    t.true(msgs.length > 3);
    t.true(msgs.slice(0, -1).every((m) => !m.body.final));
    const results = ([] as Results[]).concat(...msgs.map((m) => m.body.commands.filter((c) => c.kind === 'Results') as Results[]));
    t.is(results.length, 60);
    t.deepEqual(results.map((r) => r.items[0].data), Array.from({ length: 60 }, (_, i) => 'value-number-' + i + '-' + 'x'.repeat(40)));
    const getStatuses = ([] as Status[]).concat(...msgs.map((m) => m.body.commands.filter((c) => c.kind === 'Status' && c.cmd === 'Get') as Status[]));
    t.is(getStatuses.length, 60);
    // Every 1222 of the server is answered.
    const alertStatuses = ([] as Status[]).concat(...msgs.map((m) => m.body.commands.filter((c) => c.kind === 'Status' && c.cmd === 'Alert') as Status[]));
    t.is(alertStatuses.length, msgs.length - 1);
    t.true(alertStatuses.every((x) => x.code === 200));
    const d = s.receive(enc(serverMsg({ sessionID: sid, msgID: serverMsgID, commands: [hdrStatus(msgs[msgs.length - 1].hdr.msgID, 200)] }), encoding));
    t.true(d.kind === 'done' && d.ok);
  });

  test(`a multi-message server package is answered with Alert 1222 until its Final (${encoding})`, (t) => {
    const tree = standardTree();
    const s = createClientSession(baseConfig({ encoding }), tree);
    const sid = sent(s.start()).msg.hdr.sessionID;
    const r1 = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, final: false, commands: [hdrStatus('1', 212), { kind: 'Add', cmdID: '2', items: [item('./M/a', '1')] }] }), encoding)));
    t.false(r1.msg.body.final);
    t.deepEqual(kinds(r1.msg), ['Status', 'Alert1222', 'Status']);
    const r2 = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, commands: [status('2', '1', 'Alert', 200, '1'), { kind: 'Add', cmdID: '2', items: [item('./M/b', '2')] }] }), encoding)));
    t.true(r2.msg.body.final);
    t.deepEqual(statusMap(r2.msg)['2'], ['Add:200']);
    t.true('./M/b' in tree.nodes);
  });

  test(`incoming large object of 300 KB in chunks: 213 + 1222 per chunk, 200 at the end (${encoding})`, (t) => {
    const tree = standardTree();
    const s = createClientSession(baseConfig({ encoding, maxObjSize: 1 << 20, maxMsgSize: 65536 }), tree);
    const sid = sent(s.start()).msg.hdr.sessionID;
    const obj = bytes(300 * 1024, 7);
    // XML carries text; use printable bytes there so the object round-trips as chr.
    const payload: Uint8Array = encoding === 'xml' ? obj.map((b) => 0x41 + (b % 26)) : obj;
    const chunk = 20000;
    // Replace of a missing leaf is 404 before any chunk is stored.
    const s1 = createClientSession(baseConfig({ encoding }), tree);
    const sid1 = sent(s1.start()).msg.hdr.sessionID;
    const first: Item = { target: { locURI: './Big/Obj' }, meta: { size: String(payload.length) }, moreData: true, data: encoding === 'xml' ? 'AAAA' : payload.subarray(0, 4) };
    const m1 = sent(s1.receive(enc(serverMsg({ sessionID: sid1, msgID: 1, final: false, commands: [hdrStatus('1', 212), { kind: 'Replace', cmdID: '2', items: [first] }] }), encoding))).msg;
    t.deepEqual(statusMap(m1)['2'], ['Replace:404']);
    t.is(tree.openSinks, 0);
    // Now with Add, which creates the leaf.
    const s2 = createClientSession(baseConfig({ encoding, maxObjSize: 1 << 20, maxMsgSize: 65536 }), tree);
    const sid2 = sent(s2.start()).msg.hdr.sessionID;
    let msgID = 1;
    for (let off = 0; off < payload.length; off += chunk) {
      const part = payload.subarray(off, Math.min(off + chunk, payload.length));
      const it: Item = { target: { locURI: './Big/Obj' }, data: encoding === 'xml' ? Buffer.from(part).toString('latin1') : part };
      if (off === 0) it.meta = { size: String(payload.length), format: 'bin' };
      const more = off + chunk < payload.length;
      if (more) it.moreData = true;
      const cmds: Command[] = [];
      if (msgID === 1) cmds.push(hdrStatus('1', 212));
      cmds.push({ kind: 'Add', cmdID: String(msgID + 10), items: [it] });
      const m = sent(s2.receive(enc(serverMsg({ sessionID: sid2, msgID, final: !more, commands: cmds }), encoding))).msg;
      t.deepEqual(statusMap(m)[String(msgID + 10)], [more ? 'Add:213' : 'Add:200']);
      t.is(m.body.final, !more);
      t.is(kinds(m).indexOf('Alert1222') >= 0, more);
      msgID++;
    }
    t.deepEqual(tree.nodes['./Big/Obj'].data, payload);
    t.is(tree.openSinks, 0);
  });
}

function chunkMsg(sid: string, msgID: number, uri: string, data: string, opts: { size?: number; more?: boolean; cmd?: 'Add' | 'Replace' }): Uint8Array {
  const it: Item = { target: { locURI: uri }, data };
  if (opts.size !== undefined) it.meta = { size: String(opts.size) };
  if (opts.more) it.moreData = true;
  const cmds: Command[] = msgID === 1 ? [hdrStatus('1', 212)] : [];
  cmds.push({ kind: opts.cmd || 'Add', cmdID: '9', items: [it] });
  return enc(serverMsg({ sessionID: sid, msgID, final: !opts.more, commands: cmds }));
}

test('large object: a final size that does not match the declared Size is 424 and nothing is stored', (t) => {
  const tree = standardTree();
  const s = createClientSession(baseConfig(), tree);
  const sid = sent(s.start()).msg.hdr.sessionID;
  t.deepEqual(statusMap(sent(s.receive(chunkMsg(sid, 1, './LO', 'abcde', { size: 12, more: true }))).msg)['9'], ['Add:213']);
  t.deepEqual(statusMap(sent(s.receive(chunkMsg(sid, 2, './LO', 'fgh', {}))).msg)['9'], ['Add:424']);
  t.false('./LO' in tree.nodes);
  t.is(tree.openSinks, 0);
  // More data than declared is cut off at once, not buffered.
  const s2 = createClientSession(baseConfig(), tree);
  const sid2 = sent(s2.start()).msg.hdr.sessionID;
  t.deepEqual(statusMap(sent(s2.receive(chunkMsg(sid2, 1, './LO', 'abcdefghijkl', { size: 4, more: true }))).msg)['9'], ['Add:424']);
  t.is(tree.openSinks, 0);
});

test('large object: a new object before the last chunk gets Alert 1225 naming the old one', (t) => {
  const tree = standardTree();
  const s = createClientSession(baseConfig(), tree);
  const sid = sent(s.start()).msg.hdr.sessionID;
  sent(s.receive(chunkMsg(sid, 1, './LO1', 'abc', { size: 6, more: true })));
  const r = sent(s.receive(chunkMsg(sid, 2, './LO2', 'xyz', {})));
  const a = r.msg.body.commands.find((c) => c.kind === 'Alert' && c.code === 1225) as Alert;
  t.truthy(a);
  t.is(a.items[0].target!.locURI, './LO1');
  t.deepEqual(statusMap(r.msg)['9'], ['Add:200']);
  t.false('./LO1' in tree.nodes);
  t.is(tree.nodes['./LO2'].data, 'xyz');
  t.is(tree.openSinks, 0);
});

test('large object: no Size is 411, a Size over MaxObjSize is 413', (t) => {
  const tree = standardTree();
  const s = createClientSession(baseConfig({ maxObjSize: 1000 }), tree);
  const sid = sent(s.start()).msg.hdr.sessionID;
  t.deepEqual(statusMap(sent(s.receive(chunkMsg(sid, 1, './LO', 'abc', { more: true }))).msg)['9'], ['Add:411']);
  t.deepEqual(statusMap(sent(s.receive(chunkMsg(sid, 2, './LO', 'abc', { size: 5000, more: true }))).msg)['9'], ['Add:413']);
  t.is(tree.openSinks, 0);
});

for (const encoding of ['xml', 'wbxml'] as const) {
  test(`outgoing large object: a 300 KB Get result goes in chunks with MoreData and Size (${encoding})`, (t) => {
    const tree = standardTree();
    const obj = bytes(300 * 1024, 3);
    tree.setLeaf('./Logs/Dump', obj, 'bin');
    const s = createClientSession(baseConfig({ encoding }), tree);
    const sid = sent(s.start()).msg.hdr.sessionID;
    let step = s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, meta: { maxMsgSize: '16384' }, commands: [hdrStatus('1', 212), { kind: 'Get', cmdID: '2', items: [item('./Logs/Dump')] }] }), encoding));
    const chunks: Item[] = [];
    let serverMsgID = 2;
    let sawGetStatus = false;
    for (let guard = 0; step.kind === 'send' && guard < 200; guard++) {
      t.true(step.body.length <= 16384);
      const m = sent(step).msg;
      if (statusMap(m)['2']) sawGetStatus = true;
      const rs = m.body.commands.filter((c) => c.kind === 'Results') as Results[];
      t.true(rs.length <= 1);
      if (rs.length) {
        t.is(rs[0].cmdRef, '2');
        chunks.push(rs[0].items[0]);
        // Nothing follows a chunk in its message.
        if (rs[0].items[0].moreData) t.is(m.body.commands[m.body.commands.length - 1], rs[0]);
      }
      if (m.body.final) break;
      const cmds: Command[] = [hdrStatus(m.hdr.msgID, 200)];
      if (rs.length) cmds.push(status(m.hdr.msgID, rs[0].cmdID, 'Results', 213, '3'));
      cmds.push(next(m.hdr.msgID, '4'));
      step = s.receive(enc(serverMsg({ sessionID: sid, msgID: serverMsgID++, final: false, commands: cmds }), encoding));
    }
    t.true(sawGetStatus);
    t.true(chunks.length > 10);
    t.true(chunks.slice(0, -1).every((c) => c.moreData === true));
    t.falsy(chunks[chunks.length - 1].moreData);
    t.truthy(chunks[0].meta?.size);
    t.true(chunks.slice(1).every((c) => !c.meta || c.meta.size === undefined));
    let whole: Uint8Array;
    if (encoding === 'xml') {
      const text = chunks.map((c) => c.data as string).join('');
      t.is(Number(chunks[0].meta!.size), text.length);
      t.is(chunks[0].meta!.format, 'b64');
      whole = base64Decode(text)!;
    } else {
      whole = new Uint8Array(Buffer.concat(chunks.map((c) => c.data as Uint8Array)));
      t.is(Number(chunks[0].meta!.size), whole.length);
    }
    t.deepEqual(whole, obj);
  });
}

test('a Get result larger than the server MaxObjSize is 413 with no Results', (t) => {
  const tree = standardTree();
  tree.setLeaf('./Logs/Dump', 'y'.repeat(5000));
  const s = createClientSession(baseConfig(), tree);
  const sid = sent(s.start()).msg.hdr.sessionID;
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, meta: { maxObjSize: '4096' }, commands: [hdrStatus('1', 212), { kind: 'Get', cmdID: '2', items: [item('./Logs/Dump')] }] }))));
  t.deepEqual(statusMap(r.msg)['2'], ['Get:413']);
  t.is(r.msg.body.commands.filter((c) => c.kind === 'Results').length, 0);
});

test('large object: a next message that does not continue the object gets Alert 1225', (t) => {
  const tree = standardTree();
  const s = createClientSession(baseConfig(), tree);
  const sid = sent(s.start()).msg.hdr.sessionID;
  sent(s.receive(chunkMsg(sid, 1, './LO1', 'abc', { size: 6, more: true })));
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, commands: [{ kind: 'Get', cmdID: '3', items: [item('./DevInfo/Man')] }] }))));
  const a = r.msg.body.commands.find((c) => c.kind === 'Alert' && c.code === 1225) as Alert;
  t.truthy(a);
  t.is(a.items[0].target!.locURI, './LO1');
  t.deepEqual(statusMap(r.msg)['3'], ['Get:200']);
  t.true(r.msg.body.final, 'nothing left to ask for');
  t.is(tree.openSinks, 0);
});

test('outgoing large object: a chunk the server refuses stops the rest of the object', (t) => {
  const tree = standardTree();
  tree.setLeaf('./Logs/Dump', 'q'.repeat(60000));
  const s = createClientSession(baseConfig(), tree);
  const sid = sent(s.start()).msg.hdr.sessionID;
  const m1 = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, meta: { maxMsgSize: '8192' }, commands: [hdrStatus('1', 212), { kind: 'Get', cmdID: '2', items: [item('./Logs/Dump')] }] })))).msg;
  const rs = m1.body.commands.find((c) => c.kind === 'Results') as Results;
  t.true(rs.items[0].moreData);
  // The server refuses the chunk and asks for our next message: no more of the object comes.
  const m2 = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, final: false, commands: [hdrStatus(m1.hdr.msgID, 200), status(m1.hdr.msgID, rs.cmdID, 'Results', 420, '2'), { kind: 'Alert', cmdID: '3', code: 1222, items: [] }] })))).msg;
  t.is(m2.body.commands.filter((c) => c.kind === 'Results').length, 0);
  t.true(m2.body.final);
  const d = s.receive(enc(serverMsg({ sessionID: sid, msgID: 3, commands: [hdrStatus(m2.hdr.msgID, 200)] })));
  t.true(d.kind === 'done' && d.ok);
});
