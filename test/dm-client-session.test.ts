// Golden-transcript tests of the DM client session engine: package 1, command processing,
// session end, abort, RespURI, hostile replies. Server messages are scripted with the model.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { createClientSession } from '../src/dm/client-session.js';
import { nextRetryDelay } from '../src/dm/retry-policy.js';
import type { Alert, Command, Results } from '../src/codec/model.js';
import { utf8Encode } from '../src/codec/utf8.js';
import { standardTree } from './helpers/fake-tree.js';
import {
  baseConfig, enc, hdrStatus, item, kinds, sent, serverMsg, status, statusMap, SERVER_URL, DEVICE,
} from './helpers/dm-script.js';

function open(over?: Parameters<typeof baseConfig>[0]) {
  const tree = standardTree();
  const events: string[] = [];
  const s = createClientSession(baseConfig(over), tree, { log: (l, m) => events.push(l + ' ' + m) });
  const first = sent(s.start());
  return { s, tree, first, events };
}

for (const encoding of ['xml', 'wbxml'] as const) {
  test(`package 1 is Alert 1201 + DevInfo Replace with basic Cred and Final (${encoding})`, (t) => {
    const { s, first } = open({ encoding });
    const m = first.msg;
    t.is(first.out.url, SERVER_URL);
    t.is(first.out.contentType, 'application/vnd.syncml.dm+' + encoding);
    t.is(m.hdr.verProto, 'DM/1.2');
    t.is(m.hdr.msgID, '1');
    t.is(m.hdr.sessionID, s.sessionId);
    t.is(m.hdr.source.locURI, DEVICE);
    t.is(m.hdr.cred?.meta?.type, 'syncml:auth-basic');
    t.is(m.hdr.cred?.data, 'ZGV2OmRldnB3'); // b64("dev:devpw")
    t.deepEqual(kinds(m), ['Alert1201', 'Replace']);
    const rep = m.body.commands[1] as Command & { kind: 'Replace' };
    t.deepEqual(rep.items.map((i) => i.source!.locURI), ['./DevInfo/DevId', './DevInfo/Man', './DevInfo/Mod', './DevInfo/DmV', './DevInfo/Lang']);
    t.is(rep.items[1].data, 'Acme');
    t.true(m.body.final);
  });

  test(`every command against the tree gets the right Status and Results (${encoding})`, (t) => {
    const { s, tree, first } = open({ encoding });
    const sid = first.msg.hdr.sessionID;
    tree.setLeaf('./App/Src', 'copy-me');
    tree.setLeaf('./App/Run', '');
    tree.denied.push('Replace ./App/Locked');
    tree.setLeaf('./App/Locked', 'x');
    const cmds: Command[] = [
      hdrStatus('1', 212),
      status('1', '1', 'Alert', 200, '2'),
      { kind: 'Add', cmdID: '3', items: [item('./App/New', 'v1', { format: 'chr' })] },
      { kind: 'Add', cmdID: '4', items: [item('./App/New', 'again')] },
      { kind: 'Replace', cmdID: '5', items: [item('./App/Missing', 'x')] },
      { kind: 'Replace', cmdID: '6', items: [item('./App/Locked', 'y')] },
      { kind: 'Get', cmdID: '7', items: [item('./DevInfo/Man')] },
      { kind: 'Get', cmdID: '8', items: [item('./Nope')] },
      { kind: 'Copy', cmdID: '9', items: [{ target: { locURI: './App/Dst' }, source: { locURI: './App/Src' } }] },
      { kind: 'Delete', cmdID: '10', items: [item('./App/Src')] },
      { kind: 'Exec', cmdID: '11', correlator: 'abc', items: [item('./App/Run', 'go')] },
      { kind: 'Get', cmdID: '13', noResp: true, items: [item('./DevInfo/Mod')] },
      { kind: 'Alert', cmdID: '14', code: 1299, items: [] },
    ];
    const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: cmds }), encoding)));
    const st = statusMap(r.msg);
    t.deepEqual(st['0'], ['SyncHdr:200']);
    t.deepEqual(st['3'], ['Add:200']);
    t.deepEqual(st['4'], ['Add:418']);
    t.deepEqual(st['5'], ['Replace:404']);
    t.deepEqual(st['6'], ['Replace:425']);
    t.deepEqual(st['7'], ['Get:200']);
    t.deepEqual(st['8'], ['Get:404']);
    t.deepEqual(st['9'], ['Copy:200']);
    t.deepEqual(st['10'], ['Delete:200']);
    t.deepEqual(st['11'], ['Exec:200']);
    t.is(st['13'], undefined, 'NoResp suppresses the Status');
    t.deepEqual(st['14'], ['Alert:406']);
    t.is(st['1'], undefined, 'no Status for a Status');
    const results = r.msg.body.commands.filter((c) => c.kind === 'Results') as Results[];
    t.deepEqual(results.map((x) => x.cmdRef), ['7', '13']);
    t.is(results[0].items[0].data, 'Acme');
    t.is(results[0].items[0].source!.locURI, './DevInfo/Man');
    // Results come after the Status of their Get.
    const order = r.msg.body.commands.map((c) => c.kind + (c.kind === 'Status' || c.kind === 'Results' ? c.cmdRef : ''));
    t.true(order.indexOf('Status7') < order.indexOf('Results7'));
    t.is(tree.nodes['./App/New'].data, 'v1');
    t.is(tree.nodes['./App/Dst'].data, 'copy-me');
    t.false('./App/Src' in tree.nodes);
    t.is(tree.execLog[0].req.correlator, 'abc');
    t.is(tree.execLog[0].req.data, 'go');
    t.is(r.msg.hdr.msgID, '2');
    t.is(r.msg.hdr.cred, undefined, 'no credentials after 212');
    t.true(r.msg.body.final);
    // CmdIDs restart at 1 and are unique in the message.
    const ids = r.msg.body.commands.map((c) => c.cmdID);
    t.is(new Set(ids).size, ids.length);
    const done = s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, commands: [hdrStatus('2', 200)] }), encoding));
    t.deepEqual(done, { kind: 'done', ok: true, reason: 'session completed' });
  });
}

test('Atomic: all-or-nothing with 507 and 216 for rolled-back children, 215 after the failure', (t) => {
  const { s, tree, first } = open();
  const sid = first.msg.hdr.sessionID;
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: [
    hdrStatus('1', 212),
    { kind: 'Atomic', cmdID: '2', commands: [
      { kind: 'Add', cmdID: '3', items: [item('./A/x', '1')] },
      { kind: 'Replace', cmdID: '4', items: [item('./A/missing', '2')] },
      { kind: 'Add', cmdID: '5', items: [item('./A/y', '3')] },
    ] },
    { kind: 'Atomic', cmdID: '6', commands: [
      { kind: 'Add', cmdID: '7', items: [item('./B/x', '1')] },
      { kind: 'Add', cmdID: '8', items: [item('./B/y', '2')] },
    ] },
    { kind: 'Atomic', cmdID: '9', commands: [
      { kind: 'Add', cmdID: '10', items: [item('./C/x', '1')] },
      { kind: 'Get', cmdID: '11', items: [item('./DevInfo/Man')] },
    ] },
  ] }))));
  const st = statusMap(r.msg);
  t.deepEqual(st['2'], ['Atomic:507']);
  t.deepEqual(st['3'], ['Add:216']);
  t.deepEqual(st['4'], ['Replace:404']);
  t.deepEqual(st['5'], ['Add:215']);
  t.false('./A/x' in tree.nodes, 'rolled back');
  t.deepEqual(st['6'], ['Atomic:200']);
  t.deepEqual(st['7'], ['Add:200']);
  t.is(tree.nodes['./B/y'].data, '2');
  t.deepEqual(st['9'], ['Atomic:507']);
  t.deepEqual(st['10'], ['Add:216']);
  t.deepEqual(st['11'], ['Get:500'], 'Get inside Atomic is 500');
  t.is(r.msg.body.commands.filter((c) => c.kind === 'Results').length, 0);
  t.false('./C/x' in tree.nodes);
});

test('a failed commit is 507 with 216 children; a Get in a Sequence inside an Atomic is 500', (t) => {
  const { s, tree, first } = open();
  tree.commitOk = false;
  const r = sent(s.receive(enc(serverMsg({ sessionID: first.msg.hdr.sessionID, msgID: 1, commands: [
    hdrStatus('1', 212),
    { kind: 'Atomic', cmdID: '2', commands: [
      { kind: 'Add', cmdID: '3', items: [item('./A/x', '1')] },
    ] },
  ] }))));
  t.deepEqual(statusMap(r.msg)['2'], ['Atomic:507']);
  t.deepEqual(statusMap(r.msg)['3'], ['Add:216']);
  t.false('./A/x' in tree.nodes);

  const o2 = open();
  // Get is refused at any depth inside an Atomic; the whole Atomic rolls back.
  const nested: Command = { kind: 'Atomic', cmdID: '2', commands: [{ kind: 'Sequence', cmdID: '3', commands: [{ kind: 'Add', cmdID: '4', items: [item('./N/x', '1')] }, { kind: 'Get', cmdID: '5', items: [item('./DevInfo/Man')] }] }] };
  const r2 = sent(o2.s.receive(enc(serverMsg({ sessionID: o2.first.msg.hdr.sessionID, msgID: 1, commands: [hdrStatus('1', 212), nested] }))));
  const st2 = statusMap(r2.msg);
  t.deepEqual(st2['2'], ['Atomic:507']);
  t.deepEqual(st2['5'], ['Get:500']);
  t.deepEqual(st2['4'], ['Add:216']);
  t.false('./N/x' in o2.tree.nodes);
});

test('Sequence runs in order and a rejected confirmation skips the rest with 215', (t) => {
  const { s, tree, first } = open();
  const confirm = (dr: string): Alert => ({ kind: 'Alert', cmdID: '', code: 1101, items: [{ data: 'MINDT=10&DR=' + dr }, { data: 'Install?' }] });
  const a1 = confirm('1'); a1.cmdID = '3';
  const a2 = confirm('0'); a2.cmdID = '6';
  const r = sent(s.receive(enc(serverMsg({ sessionID: first.msg.hdr.sessionID, msgID: 1, commands: [
    hdrStatus('1', 212),
    { kind: 'Sequence', cmdID: '2', commands: [a1, { kind: 'Add', cmdID: '4', items: [item('./S/a', '1')] }] },
    { kind: 'Sequence', cmdID: '5', commands: [a2, { kind: 'Add', cmdID: '7', items: [item('./S/b', '1')] }, { kind: 'Exec', cmdID: '8', items: [item('./S/a')] }] },
  ] }))));
  const st = statusMap(r.msg);
  t.deepEqual(st['2'], ['Sequence:200']);
  t.deepEqual(st['3'], ['Alert:200']);
  t.deepEqual(st['4'], ['Add:200']);
  t.deepEqual(st['5'], ['Sequence:200']);
  t.deepEqual(st['6'], ['Alert:304']);
  t.deepEqual(st['7'], ['Add:215']);
  t.deepEqual(st['8'], ['Exec:215']);
  t.truthy(tree.nodes['./S/a']);
  t.false('./S/b' in tree.nodes);
});

test('UI alerts go to the host hook; text input answers ride in the Status items', (t) => {
  const tree = standardTree();
  const seen: string[] = [];
  const s = createClientSession(baseConfig(), tree, {
    onUiAlert: (req) => {
      seen.push(req.code + ':' + req.text + ':' + req.params['MAXLEN'] + ':' + req.choices.join(','));
      return req.code === 1102 ? { code: 200, data: ['hello'] } : req.code === 1103 ? { code: 200, data: ['2'] } : { code: 214 };
    },
  });
  const sid = sent(s.start()).msg.hdr.sessionID;
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: [
    hdrStatus('1', 212),
    { kind: 'Alert', cmdID: '2', code: 1102, items: [{ data: 'MAXLEN=10' }, { data: 'Name?' }] },
    { kind: 'Alert', cmdID: '3', code: 1103, items: [{ data: 'DR=1' }, { data: 'Pick' }, { data: 'a' }, { data: 'b' }] },
    { kind: 'Alert', cmdID: '4', code: 1100, items: [{ data: '' }, { data: 'Hi' }] },
  ] }))));
  t.deepEqual(seen, ['1102:Name?:10:', '1103:Pick:undefined:a,b', '1100:Hi:undefined:']);
  const sts = r.msg.body.commands.filter((c) => c.kind === 'Status' && c.cmd === 'Alert') as any[];
  t.deepEqual(sts.map((x) => x.code), [200, 200, 214]);
  t.is(sts[0].items[0].data, 'hello');
  t.is(sts[1].items[0].data, '2');
});

test('UI alerts without a hook answer with the default response or 416', (t) => {
  const { s, first } = open();
  const r = sent(s.receive(enc(serverMsg({ sessionID: first.msg.hdr.sessionID, msgID: 1, commands: [
    hdrStatus('1', 212),
    { kind: 'Alert', cmdID: '2', code: 1102, items: [{ data: 'DR=abc' }, { data: 'Name?' }] },
    { kind: 'Alert', cmdID: '3', code: 1104, items: [{ data: 'MINDT=5' }, { data: 'Pick' }, { data: 'a' }] },
    { kind: 'Alert', cmdID: '4', code: 1100, items: [{ data: '' }, { data: 'Hi' }] },
  ] }))));
  const sts = r.msg.body.commands.filter((c) => c.kind === 'Status' && c.cmd === 'Alert') as any[];
  t.deepEqual(sts.map((x) => x.code), [200, 416, 200]);
  t.is(sts[0].items[0].data, 'abc');
});

test('RespURI redirects the next message; the server closing with Final alone ends the session', (t) => {
  const { s, first } = open();
  const sid = first.msg.hdr.sessionID;
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, respURI: 'http://dm.example/dm?s=42', commands: [
    hdrStatus('1', 212), { kind: 'Get', cmdID: '2', items: [item('./DevInfo/Lang')] },
  ] }))));
  t.is(r.out.url, 'http://dm.example/dm?s=42');
  const done = s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, commands: [] })));
  t.is(done.kind, 'done');
  t.true(done.kind === 'done' && done.ok);
  // After Done, further input changes nothing.
  t.deepEqual(s.receive(new Uint8Array([1, 2, 3])), done);
});

test('client abort sends Alert 1223 with Final; the reply then ends the session', (t) => {
  const { s, first } = open();
  const a = sent(s.abort('user cancelled'));
  t.deepEqual(kinds(a.msg), ['Alert1223']);
  t.true(a.msg.body.final);
  const d = s.receive(enc(serverMsg({ sessionID: first.msg.hdr.sessionID, msgID: 1, commands: [hdrStatus('2', 200)] })));
  t.deepEqual(d, { kind: 'done', ok: false, reason: 'aborted: user cancelled' });
});

test('server abort 1223 ends the session without a reply and drops a half-received object', (t) => {
  const { s, tree, first } = open();
  const sid = first.msg.hdr.sessionID;
  const r = s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, final: false, commands: [
    hdrStatus('1', 212),
    { kind: 'Add', cmdID: '2', items: [{ target: { locURI: './Big' }, meta: { size: '10' }, data: 'abcde', moreData: true }] },
  ] })));
  t.is(r.kind, 'send');
  t.is(tree.openSinks, 1);
  const d = s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, commands: [{ kind: 'Alert', cmdID: '1', code: 1223, items: [] }] })));
  t.deepEqual(d, { kind: 'done', ok: false, reason: 'server aborted the session (1223)' });
  t.is(tree.openSinks, 0);
  t.false('./Big' in tree.nodes);
});

test('hostile replies end the session with a reason, never a throw', (t) => {
  const cases: [string, (sid: string) => Uint8Array][] = [
    ['malformed', () => utf8Encode('<SyncML><SyncHdr>')],
    ['empty', () => new Uint8Array(0)],
    ['garbage wbxml', () => new Uint8Array([2, 0, 0, 0xff, 0xff, 0xff])],
    ['unknown SessionID', () => enc(serverMsg({ sessionID: 'BEEF0', msgID: 1, commands: [hdrStatus('1', 212)] }))],
    ['MsgID zero', (sid) => enc(serverMsg({ sessionID: sid, msgID: 0, commands: [hdrStatus('1', 212)] }))],
    ['MsgID not a number', (sid) => enc(serverMsg({ sessionID: sid, msgID: 'x', commands: [hdrStatus('1', 212)] }))],
  ];
  for (const [name, make] of cases) {
    const { s, first } = open();
    const d = s.receive(make(first.msg.hdr.sessionID));
    t.is(d.kind, 'done', name);
    t.false(d.kind === 'done' && d.ok, name);
  }
  // Not bytes at all.
  const { s } = open();
  t.is(s.receive('oops' as any).kind, 'done');
});

test('a duplicate or out-of-order server MsgID is refused without wedging', (t) => {
  const { s, first } = open();
  const sid = first.msg.hdr.sessionID;
  const m1 = enc(serverMsg({ sessionID: sid, msgID: 1, commands: [hdrStatus('1', 212), { kind: 'Get', cmdID: '2', items: [item('./DevInfo/Man')] }] }));
  t.is(s.receive(m1).kind, 'send');
  const d = s.receive(m1);
  t.is(d.kind, 'done');
  t.regex((d as any).reason, /MsgID/);
});

test('a tree that throws yields 500, not an exception', (t) => {
  const { s, tree, first } = open();
  tree.get = () => { throw new Error('flash gone'); };
  const r = sent(s.receive(enc(serverMsg({ sessionID: first.msg.hdr.sessionID, msgID: 1, commands: [hdrStatus('1', 212), { kind: 'Get', cmdID: '2', items: [item('./X')] }] }))));
  t.deepEqual(statusMap(r.msg)['2'], ['Get:500']);
});

test('generic alerts 1226 in package 1 and mid-session; the server Status reaches the hook', (t) => {
  const tree = standardTree();
  const acks: string[] = [];
  const s = createClientSession(baseConfig(), tree, { onAlertStatus: (a, code) => acks.push(String(a.tag) + ':' + code) });
  const p1 = sent(s.start({ alerts: [{ code: 1226, correlator: 'c1', tag: 'job1', items: [{ source: { locURI: './SCOMO/Download/P/Operations/DownloadInstall' }, meta: { type: 'urn:oma:at:scomo:1.0:OperationComplete', format: 'xml' }, data: '<ResultCode>1200</ResultCode>' }] }] }));
  t.deepEqual(kinds(p1.msg), ['Alert1201', 'Replace', 'Alert1226']);
  const ga = p1.msg.body.commands[2] as Alert;
  t.is(ga.correlator, 'c1');
  const sid = p1.msg.hdr.sessionID;
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: [
    hdrStatus('1', 212), status('1', ga.cmdID, 'Alert', 200, '2'), { kind: 'Exec', cmdID: '3', items: [item('./DevInfo/Man')] },
  ] }))));
  t.deepEqual(acks, ['job1:200']);
  t.deepEqual(statusMap(r.msg)['3'], ['Exec:200']);
  s.queueAlert({ code: 1224, tag: 'ev', items: [{ meta: { type: 'x-event' }, data: 'boot' }] });
  const r2 = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, commands: [hdrStatus('2', 200)] }))));
  t.deepEqual(kinds(r2.msg), ['Status', 'Alert1224']);
  const ev = r2.msg.body.commands[1] as Alert;
  const d = s.receive(enc(serverMsg({ sessionID: sid, msgID: 3, commands: [hdrStatus('3', 200), status('3', ev.cmdID, 'Alert', 202, '2')] })));
  t.is(d.kind, 'done');
  t.deepEqual(acks, ['job1:200', 'ev:202']);
});

test('nextRetryDelay: bounded exponential back-off, then give up', (t) => {
  const p = { baseMs: 1000, maxMs: 5000, factor: 2, maxRetries: 4 };
  t.deepEqual([1, 2, 3, 4, 5].map((a) => nextRetryDelay(a, p)), [1000, 2000, 4000, 5000, -1]);
  t.is(nextRetryDelay(0, p), -1);
  t.is(nextRetryDelay(2, p, 0.5), 1500);
  t.true(nextRetryDelay(1) > 0);
});

test('a SyncML command DM does not use (Sync) is answered 406 (XML fixture)', (t) => {
  const { s, first } = open();
  const xml = `<?xml version="1.0"?><SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>
<SessionID>${first.msg.hdr.sessionID}</SessionID><MsgID>1</MsgID><Target><LocURI>${DEVICE}</LocURI></Target><Source><LocURI>${SERVER_URL}</LocURI></Source></SyncHdr>
<SyncBody><Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>212</Data></Status>
<Sync><CmdID>2</CmdID></Sync><Final/></SyncBody></SyncML>`;
  const r = sent(s.receive(utf8Encode(xml)));
  t.deepEqual(statusMap(r.msg)['2'], ['Sync:406']);
});

test('golden transcript: Atomic nested in Atomic is 500 and rolls the outer one back (XML fixture)', (t) => {
  const { s, tree, first } = open();
  const xml = readFileSync(new URL('./fixtures/dm/nested-atomic.xml', import.meta.url), 'utf8').replace('{{SID}}', first.msg.hdr.sessionID);
  const r = sent(s.receive(utf8Encode(xml)));
  t.deepEqual(statusMap(r.msg), {
    '0': ['SyncHdr:200'], '2': ['Atomic:507'], '3': ['Add:216'], '4': ['Atomic:500'], '6': ['Replace:200'],
  });
  t.false('./Outer/a' in tree.nodes);
  t.false('./Inner/b' in tree.nodes);
  t.is(tree.nodes['./DevInfo/Lang'].data, 'de-DE');
});

test('binary data in a client alert travels as Format b64 over XML and as opaque bytes over WBXML', (t) => {
  for (const encoding of ['xml', 'wbxml'] as const) {
    const s = createClientSession(baseConfig({ encoding }), standardTree());
    const bin = new Uint8Array([0, 1, 2, 255]);
    const items = [{ source: { locURI: './X' }, data: bin }];
    const m = sent(s.start({ alerts: [{ code: 1226, items }] })).msg;
    const a = m.body.commands[2] as Alert;
    if (encoding === 'xml') {
      t.is(a.items[0].data, 'AAEC/w==');
      t.is(a.items[0].meta!.format, 'b64');
    } else {
      t.deepEqual(a.items[0].data, bin);
    }
    t.is(items[0].data, bin, 'the caller\'s item is untouched');
  }
});
