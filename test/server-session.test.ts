import test from 'ava';
import type { Command, Get, Replace, SyncML } from '../src/codec/model.js';
import { base64Decode } from '../src/codec/base64.js';
import { md5Digest } from '../src/dm/credentials.js';
import {
  DEV, ScriptClient, account, alert, answerAll, basic, commandsOf, devInfoReplace, hdrStatus, md5, newServer, results, status, statusFor,
} from './helpers/server-fixtures.js';

const get = (uri: string): Get => ({ kind: 'Get', cmdID: '', items: [{ target: { locURI: uri } }] });
const replace = (uri: string, data: string | Uint8Array): Replace => ({ kind: 'Replace', cmdID: '', items: [{ target: { locURI: uri }, data }] });

function pkg1(c: ScriptClient, cred = basic('dev-user', 'dev-secret'), extra: Command[] = []): SyncML {
  return c.build([alert(1201), devInfoReplace(), ...extra], { cred });
}

test('basic auth: package 1 is accepted with 212, DevInfo is stored, an empty queue ends the session', async (t) => {
  const { dm, storage } = await newServer([account()]);
  const c = new ScriptClient(dm);
  const r = await c.send(pkg1(c));
  t.is(hdrStatus(r)?.code, 212);
  t.is(statusFor(r, '1')?.code, 200);
  t.is(statusFor(r, '2')?.code, 200);
  t.true(r.body.final);
  t.deepEqual(commandsOf(r), []);
  t.is(r.hdr.sessionID, '1A');
  t.is(r.hdr.target.locURI, DEV);
  t.regex(r.hdr.respURI ?? '', /\?s=[0-9a-f]+$/);
  const acc = await storage.getAccount(DEV);
  t.is(acc?.devInfo?.['./DevInfo/Man'], 'Acme');
});

test('basic auth: wrong password gets 401 with a challenge and statuses only; the retry in the same session succeeds', async (t) => {
  const { dm } = await newServer([account()]);
  const c = new ScriptClient(dm);
  const r1 = await c.send(pkg1(c, basic('dev-user', 'nope')));
  t.is(hdrStatus(r1)?.code, 401);
  t.is(hdrStatus(r1)?.chal?.meta.type, 'syncml:auth-basic');
  t.is(statusFor(r1, '1')?.code, 401);
  t.deepEqual(commandsOf(r1), []);
  const r2 = await c.send(pkg1(c));
  t.is(hdrStatus(r2)?.code, 212);
});

test('missing credentials get 407; four failures close the session', async (t) => {
  const { dm } = await newServer([account()]);
  const c = new ScriptClient(dm);
  const noCred = (): SyncML => c.build([alert(1201), devInfoReplace()]);
  for (let i = 0; i < 4; i++) t.is(hdrStatus(await c.send(noCred()))?.code, 407);
  // The session is gone: a later message of it is answered as an unknown session.
  const r = await c.send(c.build([status('4', '0', 'SyncHdr', 200)]));
  t.is(hdrStatus(r)?.code, 404);
  t.truthy(r.body.commands.find((k) => k.kind === 'Alert' && k.code === 1223));
});

test('md5: a digest over the issued nonce gets 212 and a fresh NextNonce; replaying the same package fails', async (t) => {
  const { dm } = await newServer([account({ authType: 'md5' })]);
  const nonce = base64Decode('AAECAwQFBgcICQoLDA0ODw==')!;
  const c = new ScriptClient(dm);
  const m = pkg1(c, md5('dev-user', 'dev-secret', nonce), []);
  m.hdr.source.locName = 'dev-user';
  const r = await c.send(m);
  const hs = hdrStatus(r)!;
  t.is(hs.code, 212);
  t.is(hs.chal?.meta.type, 'syncml:auth-md5');
  t.truthy(hs.chal?.meta.nextNonce);
  t.notDeepEqual(base64Decode(hs.chal!.meta.nextNonce!), nonce);
  // Replay: same bytes, new session id (a captured package sent again).
  const replay = new ScriptClient(dm, 'xml', DEV, '1B');
  const m2 = replay.build(m.body.commands, { cred: m.hdr.cred!, locName: 'dev-user' });
  const r2 = await replay.send(m2);
  t.is(hdrStatus(r2)?.code, 401);
  // The next session with the nonce handed out in 212 works.
  const next = new ScriptClient(dm, 'xml', DEV, '1C');
  const m3 = next.build(m.body.commands, { cred: md5('dev-user', 'dev-secret', base64Decode(hdrStatus(r2)!.chal!.meta.nextNonce!)!), locName: 'dev-user' });
  t.is(hdrStatus(await next.send(m3))?.code, 212);
});

test('hmac: a correct mac gets 200 with a new nonce on every message; a wrong mac gets 401', async (t) => {
  const { dm } = await newServer([account({ authType: 'hmac' })]);
  const h = { user: 'dev-user', pass: 'dev-secret' };
  const c = new ScriptClient(dm);
  c.nonce = base64Decode('AAECAwQFBgcICQoLDA0ODw==')!;
  await dm.queueCommands(DEV, [get('./DevInfo/Mod')]);
  const r1 = await c.send(c.build([alert(1201), devInfoReplace()]), { hmac: h });
  t.is(hdrStatus(r1)?.code, 200);
  const n1 = hdrStatus(r1)!.chal!.meta.nextNonce;
  t.truthy(n1);
  t.truthy(c.lastHmac, 'server authenticates itself with x-syncml-hmac');
  const getCmd = commandsOf(r1)[0];
  t.is(getCmd.kind, 'Get');
  // Wrong mac on the next message.
  const bad = await c.send(c.build(answerAll(r1)), { hmac: { user: 'dev-user', pass: 'wrong' } });
  t.is(hdrStatus(bad)?.code, 401);
  const r2 = await c.send(c.build([...answerAll(r1), results(r1.hdr.msgID, getCmd.cmdID, [{ source: { locURI: './DevInfo/Mod' }, data: 'X1' }])]), { hmac: h });
  t.is(hdrStatus(r2)?.code, 200);
  t.not(hdrStatus(r2)!.chal!.meta.nextNonce, n1);
});

test('missing hmac header gets 407', async (t) => {
  const { dm } = await newServer([account({ authType: 'hmac' })]);
  const c = new ScriptClient(dm);
  t.is(hdrStatus(await c.send(pkg1(c)))?.code, 407);
});

test('unknown device gets 401 and the session ends', async (t) => {
  const { dm } = await newServer([account()]);
  const c = new ScriptClient(dm, 'xml', 'IMEI:000');
  const r = await c.send(pkg1(c, basic('someone', 'else')));
  t.is(hdrStatus(r)?.code, 401);
  t.true(r.body.final);
});

test('a device is found by its client user when its device id is unknown (libdmclient style)', async (t) => {
  const { dm } = await newServer([account({ deviceId: 'funambol-dev', clientUser: 'funambol', clientSecret: 'funambol', serverId: 'funambol', serverSecret: 'srvpwd', serverAuthType: 'md5' })]);
  const c = new ScriptClient(dm, 'wbxml', 'IMEI:LIBDMCLIENT');
  const r = await c.send(pkg1(c, basic('funambol', 'funambol')));
  t.is(hdrStatus(r)?.code, 212);
  // The server authenticates itself with digest funambol/srvpwd over the client's nonce (none yet: empty).
  t.is(r.hdr.cred?.meta?.type, 'syncml:auth-md5');
  // A never-challenged device's SRVCRED nonce is the zero nonce (4 zero bytes).
  t.is(r.hdr.cred?.data, md5Digest('funambol', 'srvpwd', new Uint8Array(4)));
});

test('queued commands go out in the next session and their statuses and results come back to the caller', async (t) => {
  const { dm, storage } = await newServer([account()]);
  const h = await dm.queueCommands(DEV, [get('./DevInfo/Mod'), replace('./Vendor/X', 'v1')], { tag: 'job:1' });
  const c = new ScriptClient(dm);
  const r1 = await c.send(pkg1(c));
  const cmds = commandsOf(r1);
  t.deepEqual(cmds.map((k) => k.kind), ['Get', 'Replace']);
  t.true(r1.body.final);
  t.is((await storage.getEntry(h.id))?.state, 'sent');
  const r2 = await c.send(c.build([...answerAll(r1, 200, (k) => (k.kind === 'Replace' ? 404 : undefined)),
    results(r1.hdr.msgID, cmds[0].cmdID, [{ source: { locURI: './DevInfo/Mod' }, data: 'X1' }])]));
  t.true(r2.body.final);
  t.deepEqual(commandsOf(r2), []);
  const done = await h.done;
  t.is(done.state, 'done');
  t.is(done.outcomes?.[0].status, 200);
  t.is(done.outcomes?.[0].results?.[0].data, 'X1');
  t.is(done.outcomes?.[1].status, 404);
  t.is((await storage.entriesByTag('job:1'))[0].state, 'done');
});

test('statuses of Atomic and Sequence children are routed to their positions', async (t) => {
  const { dm } = await newServer([account()]);
  const h = await dm.queueCommands(DEV, [
    { kind: 'Atomic', cmdID: '', commands: [replace('./A', '1'), replace('./B', '2')] },
    { kind: 'Sequence', cmdID: '', commands: [get('./C')] },
  ]);
  const c = new ScriptClient(dm, 'wbxml');
  const r1 = await c.send(pkg1(c));
  await c.send(c.build(answerAll(r1, 200, (k) => (k.kind === 'Atomic' ? 507 : k.kind === 'Replace' ? 216 : undefined))));
  const done = await h.done;
  t.is(done.outcomes?.[0].status, 507);
  t.deepEqual(done.outcomes?.[0].children?.map((o) => o.status), [216, 216]);
  t.is(done.outcomes?.[1].children?.[0].status, 200);
});

test('generic alert 1226 and client event 1224 reach subscribers and are acknowledged with 200', async (t) => {
  const { dm, storage } = await newServer([account()]);
  const seen: number[] = [];
  dm.on('alert', (a) => seen.push(a.code));
  const c = new ScriptClient(dm);
  const ga = alert(1226, [{ source: { locURI: './SCOMO/Download/P1/Operations/DownloadInstall' }, meta: { type: 'urn:oma:at:scomo:1.0:OperationComplete', format: 'xml' }, data: '<ResultCode>1200</ResultCode><Identifier>P1</Identifier>' }], 'corr-7');
  const r = await c.send(pkg1(c, undefined, [ga, alert(1224, [{ data: 'ev' }])]));
  t.is(statusFor(r, '3')?.code, 200);
  t.is(statusFor(r, '4')?.code, 200);
  t.deepEqual(seen, [1226, 1224]);
  const stored = await storage.listAlerts(DEV);
  t.is(stored[0].correlator, 'corr-7');
  t.regex(String(stored[0].items[0].data), /1200/);
});

test('an unknown alert code gets 406; a command a client must not send gets 405', async (t) => {
  const { dm } = await newServer([account()]);
  const c = new ScriptClient(dm);
  const r = await c.send(pkg1(c, undefined, [alert(1299), get('./X')]));
  t.is(statusFor(r, '3')?.code, 406);
  t.is(statusFor(r, '4')?.code, 405);
});

test('client abort 1223: status 200, session ends; unanswered commands settle with 0, unsent ones are requeued', async (t) => {
  const { dm, storage } = await newServer([account()]);
  const sent = await dm.queueCommands(DEV, [get('./A')]);
  const c = new ScriptClient(dm);
  const r1 = await c.send(pkg1(c));
  t.is(commandsOf(r1).length, 1);
  const later = await dm.queueCommands(DEV, [get('./B')]);
  const r2 = await c.send(c.build([status(r1.hdr.msgID, '0', 'SyncHdr', 200), alert(1223)]));
  t.is(statusFor(r2, '2')?.code, 200);
  t.deepEqual(commandsOf(r2), []);
  const done = await sent.done;
  t.is(done.outcomes?.[0].status, 0);
  t.is((await storage.getEntry(later.id))?.state, 'queued');
});

test('a repeated MsgID gets the stored reply again; an out-of-order MsgID gets 400', async (t) => {
  const { dm } = await newServer([account()]);
  await dm.queueCommands(DEV, [get('./A'), get('./B')]);
  const c = new ScriptClient(dm);
  const r1 = await c.send(pkg1(c));
  const m2 = c.build(answerAll(r1));
  const r2 = await c.send(m2);
  const again = await c.send(m2);
  t.deepEqual(again, r2);
  const skip = await c.send(c.build([status('1', '0', 'SyncHdr', 200)], { msgId: 5 }));
  t.is(hdrStatus(skip)?.code, 400);
});

test('server authentication: when the client refuses the server Cred, the server takes its new nonce and resends', async (t) => {
  const { dm, storage } = await newServer([account({ serverAuthType: 'md5' })]);
  await dm.queueCommands(DEV, [replace('./A', '1')]);
  const c = new ScriptClient(dm);
  const r1 = await c.send(pkg1(c));
  t.is(r1.hdr.cred?.data, md5Digest('scomo-srv', 'srv-secret', new Uint8Array(4)));
  const cmd = commandsOf(r1)[0];
  const newNonce = 'bm9uY2UtMg==';
  const r2 = await c.send(c.build([
    status(r1.hdr.msgID, '0', 'SyncHdr', 401, { chal: { meta: { type: 'syncml:auth-md5', format: 'b64', nextNonce: newNonce } } }),
    status(r1.hdr.msgID, cmd.cmdID, 'Replace', 401),
  ]));
  t.is(r2.hdr.cred?.data, md5Digest('scomo-srv', 'srv-secret', base64Decode(newNonce)!));
  t.deepEqual(commandsOf(r2).map((k) => k.kind), ['Replace']);
  t.is((await storage.getAccount(DEV))?.clientNonce, newNonce);
  // 212 from the client: no more Cred in this session.
  const r3 = await c.send(c.build(answerAll(r2, 200, () => undefined).map((s) => (s.kind === 'Status' && s.cmdRef === '0' ? { ...s, code: 212 } : s))));
  t.is(r3.hdr.cred, undefined);
});

test('an abandoned session expires: unanswered commands settle with 0, the session is gone', async (t) => {
  const { dm, storage } = await newServer([account()]);
  const h = await dm.queueCommands(DEV, [get('./A')]);
  const ends: string[] = [];
  dm.on('session-end', (e) => ends.push(e.reason));
  const c = new ScriptClient(dm);
  await c.send(pkg1(c));
  t.is(await dm.expireSessions(Date.now()), 0, 'fresh session is kept');
  t.is(await dm.expireSessions(Date.now() + dm.sessionTtlMs + 1000), 1);
  t.deepEqual(ends, ['expired']);
  t.is((await h.done).outcomes?.[0].status, 0);
  t.is(await storage.getSession(new URL(c.respURI!).searchParams.get('s')!), undefined);
});

test('after a restart, entries left "sent" by a session that no longer exists go back to the queue', async (t) => {
  const { dm, storage } = await newServer([account()]);
  const h = await dm.queueCommands(DEV, [get('./A')]);
  await storage.setEntryState(h.id, 'sent');
  await dm.recoverEntries();
  t.is((await storage.getEntry(h.id))?.state, 'queued');
});

test('a session that reuses the SessionID of an ended one is a new session, not a retransmit', async (t) => {
  const { dm } = await newServer([account()]);
  const c1 = new ScriptClient(dm);
  const r1 = await c1.send(pkg1(c1));
  t.deepEqual(commandsOf(r1), []);
  await dm.queueCommands(DEV, [get('./Later')]);
  const c2 = new ScriptClient(dm);
  const r2 = await c2.send(c2.build([alert(1200), devInfoReplace({ './DevInfo/Lang': 'fr-FR' })], { cred: basic('dev-user', 'dev-secret') }));
  t.deepEqual(commandsOf(r2).map((k) => k.kind), ['Get']);
});

test('an unsupported protocol version gets 513 and ends the session', async (t) => {
  const { dm } = await newServer([account()]);
  const c = new ScriptClient(dm);
  const m = pkg1(c);
  m.hdr.verProto = 'DM/2.0';
  const r = await c.send(m);
  t.is(hdrStatus(r)?.code, 513);
  t.true(r.body.final);
});

test('the device address is learned from its first authenticated session', async (t) => {
  const { dm, storage } = await newServer([account()]);
  const c = new ScriptClient(dm);
  await c.send(pkg1(c));
  t.is((await storage.getAccount(DEV))?.notifyHost, '127.0.0.1');
});

test('a client that challenges the server after an empty final package gets new server credentials', async (t) => {
  const { dm } = await newServer([account({ serverAuthType: 'md5' })]);
  const c = new ScriptClient(dm, 'wbxml');
  const r1 = await c.send(pkg1(c));
  t.true(r1.body.final);
  t.deepEqual(commandsOf(r1), []);
  const nn = 'Y2xpZW50LW5vbmNlLTI=';
  const r2 = await c.send(c.build([status(r1.hdr.msgID, '0', 'SyncHdr', 401, { chal: { meta: { type: 'syncml:auth-md5', format: 'b64', nextNonce: nn } } })]));
  t.is(hdrStatus(r2)?.code, 200);
  t.is(r2.hdr.cred?.data, md5Digest('scomo-srv', 'srv-secret', base64Decode(nn)!));
  t.true(r2.body.final);
});

test('md5: the very same package 1 bytes sent again are refused (401), within the same SessionID too', async (t) => {
  const { dm } = await newServer([account({ authType: 'md5' })]);
  const c = new ScriptClient(dm);
  const m = pkg1(c, md5('dev-user', 'dev-secret', base64Decode('AAECAwQFBgcICQoLDA0ODw==')!));
  m.hdr.source.locName = 'dev-user';
  const body = c.encode(m);
  const r1 = await c.send(m, { body });
  t.is(hdrStatus(r1)?.code, 212);
  const attacker = new ScriptClient(dm);
  const r2 = await attacker.send(m, { body });
  t.is(hdrStatus(r2)?.code, 401);
});

test('a libdmclient-style client (Source "DMCtest", Cred only in package 1, no RespURI, SessionID 1 every run) keeps its session', async (t) => {
  const { dm } = await newServer([account({ deviceId: 'funambol', clientUser: 'funambol', clientSecret: 'funambol', serverId: 'funambol', serverSecret: 'srvpwd', serverAuthType: 'md5' })]);
  for (let run = 0; run < 2; run++) {
    const h = await dm.queueCommands('funambol', [get('./DevInfo/Mod')]);
    const c = new ScriptClient(dm, 'wbxml', 'DMCtest', '1');
    const r1 = await c.send(pkg1(c, basic('funambol', 'funambol')));
    t.is(hdrStatus(r1)?.code, 212);
    c.respURI = undefined;
    const g = commandsOf(r1)[0];
    const r2 = await c.send(c.build([...answerAll(r1, 200), results(r1.hdr.msgID, g.cmdID, [{ source: { locURI: './DevInfo/Mod' }, data: 'DMC' }])]));
    t.is(hdrStatus(r2)?.code, 200);
    t.is((await h.done).outcomes?.[0].results?.[0].data, 'DMC');
  }
});

test('queueCommands refuses what a server may not send; a queued entry can be cancelled before it goes out', async (t) => {
  const { dm, storage } = await newServer([account()]);
  await t.throwsAsync(() => dm.queueCommands(DEV, []), { instanceOf: TypeError });
  await t.throwsAsync(() => dm.queueCommands(DEV, [status('1', '1', 'Get', 200)]), { message: /cannot queue Status/ });
  await t.throwsAsync(() => dm.queueCommands(DEV, [{ kind: 'Atomic', cmdID: '', commands: [{ kind: 'Unsupported', name: 'Sync', cmdID: '' }] }]), { message: /Sync/ });
  const h = await dm.queueCommands(DEV, [get('./A'), { kind: 'Sequence', cmdID: '', commands: [get('./B')] }]);
  t.true(await dm.cancelEntry(h.id));
  t.false(await dm.cancelEntry(h.id));
  const done = await h.done;
  t.deepEqual(done.outcomes?.map((o) => o.status), [514, 514]);
  t.is(done.outcomes?.[1].children?.[0].status, 514);
  const c = new ScriptClient(dm);
  t.deepEqual(commandsOf(await c.send(pkg1(c))), [], 'a cancelled entry is not sent');
  t.is((await storage.getEntry(h.id))?.state, 'done');
  const sent = await dm.queueCommands(DEV, [get('./C')]);
  await storage.setEntryState(sent.id, 'sent');
  t.false(await dm.cancelEntry(sent.id), 'an entry that went out cannot be withdrawn');
  t.is((await storage.getEntry(sent.id))?.state, 'sent');
  t.false(await storage.withdrawEntry(sent.id, []), 'the conditional update refuses it too');
  t.is((await storage.getEntry(sent.id))?.outcomes, undefined);
});

test('a device that starts a new session (e.g. after a reboot) closes its old one: unanswered commands settle at once', async (t) => {
  const { dm } = await newServer([account()]);
  const h = await dm.queueCommands(DEV, [get('./A')]);
  const c1 = new ScriptClient(dm, 'xml', DEV, '11');
  t.is(commandsOf(await c1.send(pkg1(c1))).length, 1);
  const c2 = new ScriptClient(dm, 'xml', DEV, '12');
  await c2.send(pkg1(c2));
  const done = await h.done;
  t.is(done.outcomes?.[0].status, 0);
  // The old session is closed: its next message is an unknown session.
  const r = await c1.send(c1.build([status('1', '0', 'SyncHdr', 212)]));
  t.is(hdrStatus(r)?.code, 404);
});
