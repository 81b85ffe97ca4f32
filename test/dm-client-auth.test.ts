// Authentication transcripts for the DM client engine: client basic / MD5 / HMAC with
// challenges and bounded retries, server authentication, nonce rotation, package 0.
import test from 'ava';
import { createClientSession } from '../src/dm/client-session.js';
import { basicCred, hmacMac, md5Digest, parseHmacHeader, formatHmacHeader } from '../src/dm/credentials.js';
import { decodePackage0, encodePackage0 } from '../src/dm/package0.js';
import { base64Encode } from '../src/codec/base64.js';
import { utf8Encode } from '../src/codec/utf8.js';
import type { Status } from '../src/codec/model.js';
import type { ClientSessionHooks } from '../src/dm/types.js';
import { standardTree } from './helpers/fake-tree.js';
import { baseConfig, enc, hdrStatus, item, kinds, sent, serverMsg, statusMap } from './helpers/dm-script.js';

const N = (s: string) => utf8Encode(s);
const md5Chal = (nonce: string) => ({ meta: { type: 'syncml:auth-md5', format: 'b64', nextNonce: base64Encode(N(nonce)) } });

function counterRandom() {
  let k = 0;
  return (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (k + i) & 255; k++; return b; };
}

function withHooks(over: Parameters<typeof baseConfig>[0], hooks?: ClientSessionHooks) {
  const nonces: string[] = [];
  const tree = standardTree();
  const s = createClientSession(baseConfig(over), tree, Object.assign({
    onNonce: (w: string, n: Uint8Array) => nonces.push(w + ':' + base64Encode(n)),
    randomBytes: counterRandom(),
  }, hooks || {}));
  return { s, tree, nonces };
}

for (const encoding of ['xml', 'wbxml'] as const) {
  test(`MD5: 401 with a new nonce re-sends package 1 with the new digest; 212 stores the next nonce (${encoding})`, (t) => {
    const { s, nonces } = withHooks({ encoding, client: { authType: 'md5', user: 'Bruce2', secret: 'OhBehave', nonce: N('old') } });
    const p1 = sent(s.start());
    t.is(p1.msg.hdr.cred?.meta?.type, 'syncml:auth-md5');
    t.is(p1.msg.hdr.cred?.data, md5Digest('Bruce2', 'OhBehave', N('old')));
    t.is(p1.msg.hdr.source.locName, 'Bruce2');
    const sid = p1.msg.hdr.sessionID;
    const retry = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: [hdrStatus('1', 401, md5Chal('Nonce'))] }), encoding)));
    t.is(retry.msg.hdr.sessionID, sid);
    t.is(retry.msg.hdr.msgID, '2');
    t.is(retry.msg.hdr.cred?.data, 'Zz6EivR3yeaaENcRN6lpAQ==', 'facts §2.7 MD5 test vector');
    t.deepEqual(kinds(retry.msg), ['Status', 'Alert1201', 'Replace']);
    t.true(retry.msg.body.final);
    const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, commands: [
      hdrStatus('2', 212, md5Chal('next')), { kind: 'Get', cmdID: '2', items: [item('./DevInfo/Man')] },
    ] }), encoding)));
    t.is(r.msg.hdr.cred, undefined);
    t.deepEqual(nonces, ['client:' + base64Encode(N('Nonce')), 'client:' + base64Encode(N('next'))]);
  });
}

test('basic: 401 without anything new to try fails at once with a reason', (t) => {
  const { s } = withHooks({});
  const sid = sent(s.start()).msg.hdr.sessionID;
  const d = s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: [hdrStatus('1', 401)] })));
  t.deepEqual(d, { kind: 'done', ok: false, reason: 'authentication failed (401)' });
});

test('407 with an MD5 challenge switches a basic client to MD5', (t) => {
  const { s } = withHooks({});
  const sid = sent(s.start()).msg.hdr.sessionID;
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: [hdrStatus('1', 407, md5Chal('n1'))] }))));
  t.is(r.msg.hdr.cred?.meta?.type, 'syncml:auth-md5');
  t.is(r.msg.hdr.cred?.data, md5Digest('dev', 'devpw', N('n1')));
});

test('retries are bounded: a server that keeps challenging ends the session', (t) => {
  const { s } = withHooks({ client: { authType: 'md5', user: 'u', secret: 'p' }, maxAuthRetries: 3 });
  const sid = sent(s.start()).msg.hdr.sessionID;
  let step = s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: [hdrStatus('1', 401, md5Chal('a1'))] })));
  let sends = 0;
  for (let i = 2; step.kind === 'send' && i < 20; i++) {
    sends++;
    step = s.receive(enc(serverMsg({ sessionID: sid, msgID: i, commands: [hdrStatus(String(i), 401, md5Chal('a' + i))] })));
  }
  t.is(sends, 3);
  t.deepEqual(step, { kind: 'done', ok: false, reason: 'authentication failed (401)' });
});

test('MD5: a 401 without a new nonce retries once with the zero nonce, then gives up', (t) => {
  const { s } = withHooks({ client: { authType: 'md5', user: 'u', secret: 'p', nonce: N('stale') } });
  const sid = sent(s.start()).msg.hdr.sessionID;
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: [hdrStatus('1', 401)] }))));
  t.is(r.msg.hdr.cred?.data, md5Digest('u', 'p', new Uint8Array(4)));
  const d = s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, commands: [hdrStatus('2', 401)] })));
  t.is(d.kind, 'done');
});

test('HMAC: every message carries x-syncml-hmac over its exact body; a challenge rotates the nonce', (t) => {
  const { s } = withHooks({ client: { authType: 'hmac', user: 'user', secret: 'pass', nonce: N('nonce') } });
  const p1 = sent(s.start());
  t.is(p1.msg.hdr.cred, undefined, 'HMAC travels in the transport header only');
  const h1 = parseHmacHeader(p1.out.headers['x-syncml-hmac']);
  t.truthy(h1);
  t.is(h1!.username, 'user');
  t.is(h1!.mac, hmacMac('user', 'pass', N('nonce'), p1.out.body));
  const sid = p1.msg.hdr.sessionID;
  const chal = { meta: { type: 'syncml:auth-MAC', format: 'b64', nextNonce: base64Encode(N('n2')) } };
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: [hdrStatus('1', 401, chal)] }))));
  t.is(parseHmacHeader(r.out.headers['x-syncml-hmac'])!.mac, hmacMac('user', 'pass', N('n2'), r.out.body));
  // 200 (not 212) under HMAC: keep signing, with each new nonce.
  const chal3 = { meta: { type: 'syncml:auth-MAC', format: 'b64', nextNonce: base64Encode(N('n3')) } };
  const r2 = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, commands: [hdrStatus('2', 200, chal3), { kind: 'Get', cmdID: '2', items: [item('./DevInfo/Man')] }] }))));
  t.is(parseHmacHeader(r2.out.headers['x-syncml-hmac'])!.mac, hmacMac('user', 'pass', N('n3'), r2.out.body));
  t.is(formatHmacHeader({ username: 'a', mac: 'b' }), 'algorithm=MD5, username="a", mac=b');
});

function md5Cred(user: string, pass: string, nonce: Uint8Array) {
  return { meta: { type: 'syncml:auth-md5', format: 'b64' }, data: md5Digest(user, pass, nonce) };
}

test('server MD5: missing Cred gets 407 + Chal and nothing runs; the right Cred with the new nonce gets 212', (t) => {
  const { s, tree, nonces } = withHooks({ server: { authType: 'md5', secret: 'srvpw', nonce: N('srvnonce') } });
  const sid = sent(s.start()).msg.hdr.sessionID;
  const cmds = [hdrStatus('1', 212), { kind: 'Add' as const, cmdID: '2', items: [item('./X', '1')] }];
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: cmds }))));
  const hs = r.msg.body.commands[0] as Status;
  t.is(hs.code, 407);
  t.is(hs.chal?.meta.type, 'syncml:auth-md5');
  t.deepEqual(statusMap(r.msg)['2'], ['Add:407']);
  t.false('./X' in tree.nodes);
  const issued = hs.chal!.meta.nextNonce!;
  t.deepEqual(nonces, ['server:' + issued], 'the nonce is persisted before it is sent');
  // A replay of the old digest is refused.
  const r2 = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, cred: md5Cred('srv', 'srvpw', N('srvnonce')), commands: cmds }))));
  t.is((r2.msg.body.commands[0] as Status).code, 401);
  const issued2 = (r2.msg.body.commands[0] as Status).chal!.meta.nextNonce!;
  const nonce2 = Uint8Array.from(Buffer.from(issued2, 'base64'));
  const r3 = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 3, cred: md5Cred('srv', 'srvpw', nonce2), commands: cmds }))));
  const hs3 = r3.msg.body.commands[0] as Status;
  t.is(hs3.code, 212);
  t.truthy(hs3.chal?.meta.nextNonce, 'a fresh nonce for the next session');
  t.deepEqual(statusMap(r3.msg)['2'], ['Add:200']);
  t.true('./X' in tree.nodes);
});

test('server auth: a server that never gets it right is cut off after the bounded challenges', (t) => {
  const { s } = withHooks({ server: { authType: 'basic', secret: 'srvpw' }, maxServerChallenges: 2 });
  const sid = sent(s.start()).msg.hdr.sessionID;
  const bad = { meta: { type: 'syncml:auth-basic', format: 'b64' }, data: basicCred('srv', 'wrong') };
  const m = (i: number) => enc(serverMsg({ sessionID: sid, msgID: i, cred: bad, commands: [hdrStatus(String(i), 212)] }));
  const a = sent(s.receive(m(1)));
  t.is((a.msg.body.commands[0] as Status).code, 401);
  t.is(s.receive(m(2)).kind, 'send');
  const d = s.receive(m(3));
  t.deepEqual(d, { kind: 'done', ok: false, reason: 'server failed to authenticate' });
});

test('server basic: the right Cred is accepted with 212', (t) => {
  const { s } = withHooks({ server: { authType: 'basic', secret: 'srvpw' } });
  const sid = sent(s.start()).msg.hdr.sessionID;
  const good = { meta: { type: 'syncml:auth-basic', format: 'b64' }, data: basicCred('srv', 'srvpw') };
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, cred: good, commands: [hdrStatus('1', 212), { kind: 'Get', cmdID: '2', items: [item('./DevInfo/Man')] }] }))));
  t.is((r.msg.body.commands[0] as Status).code, 212);
  // Later messages need no Cred once the server is authenticated.
  const d = s.receive(enc(serverMsg({ sessionID: sid, msgID: 2, commands: [hdrStatus('2', 200)] })));
  t.true(d.kind === 'done' && d.ok);
});

test('server HMAC: the reply header is verified over the exact body; each answer issues a new nonce', (t) => {
  const { s, nonces } = withHooks({ server: { authType: 'hmac', secret: 'srvpw', nonce: N('sn') } });
  const sid = sent(s.start()).msg.hdr.sessionID;
  const body = enc(serverMsg({ sessionID: sid, msgID: 1, commands: [hdrStatus('1', 212), { kind: 'Get', cmdID: '2', items: [item('./DevInfo/Man')] }] }));
  const hdrv = formatHmacHeader({ username: 'srv', mac: hmacMac('srv', 'srvpw', N('sn'), body) });
  const r = sent(s.receive(body, { 'X-SyncML-HMAC': hdrv }));
  const hs = r.msg.body.commands[0] as Status;
  t.is(hs.code, 200);
  t.is(hs.chal?.meta.type, 'syncml:auth-MAC');
  t.is(nonces.length, 1);
  const next = Uint8Array.from(Buffer.from(hs.chal!.meta.nextNonce!, 'base64'));
  // Tampered body under the same header: refused.
  const body2 = enc(serverMsg({ sessionID: sid, msgID: 2, commands: [hdrStatus('2', 200), { kind: 'Get', cmdID: '2', items: [item('./DevInfo/Mod')] }] }));
  const good2 = formatHmacHeader({ username: 'srv', mac: hmacMac('srv', 'srvpw', next, body2) });
  const tampered = utf8Encode(Buffer.from(body2).toString('utf8').replace('./DevInfo/Mod', './DevInfo/Man'));
  t.is(tampered.length, body2.length);
  const bad = sent(s.receive(tampered, { 'x-syncml-hmac': good2 }));
  t.is((bad.msg.body.commands[0] as Status).code, 401);
  t.deepEqual(statusMap(bad.msg)['2'], ['Get:401'], 'nothing from the tampered message runs');
  t.is(bad.msg.body.commands.filter((c) => c.kind === 'Results').length, 0);
});

test('package 0: a good digest opens a server-initiated session with its SessionID (hex)', (t) => {
  const { s } = withHooks({ server: { authType: 'none', secret: 'pw', nonce: N('nonce') } });
  const p0 = encodePackage0({ uiMode: 0, initiator: 'server', sessionId: 0x1a2b, serverId: 'srv' }, 'pw', N('nonce'));
  const p1 = sent(s.start({ package0: p0 }));
  t.is(p1.msg.hdr.sessionID, '1A2B');
  t.deepEqual(kinds(p1.msg), ['Alert1200', 'Replace']);
  // An already decoded package 0 works the same.
  const dec0 = decodePackage0(p0);
  t.true(dec0.ok);
  const again = withHooks({ server: { authType: 'none', secret: 'pw', nonce: N('nonce') } }).s;
  t.is(sent(again.start({ package0: (dec0 as any).value })).msg.hdr.sessionID, '1A2B');
});

test('package 0: a bad digest is ignored; the zero-nonce digest is accepted; other servers and junk are refused', (t) => {
  const logs: string[] = [];
  const mk = () => withHooks({ server: { authType: 'none', secret: 'pw', nonce: N('nonce') } }, { log: (_l, m) => logs.push(m) }).s;
  const bad = encodePackage0({ uiMode: 0, initiator: 'server', sessionId: 1, serverId: 'srv' }, 'wrong', N('nonce'));
  const d = mk().start({ package0: bad });
  t.deepEqual(d, { kind: 'done', ok: false, reason: 'package 0 digest mismatch (ignored)' });
  t.true(logs.some((m) => /digest mismatch/.test(m)), 'logged');
  const zero = encodePackage0({ uiMode: 0, initiator: 'server', sessionId: 2, serverId: 'srv' }, 'pw', new Uint8Array(4));
  t.is(mk().start({ package0: zero }).kind, 'send');
  const other = encodePackage0({ uiMode: 0, initiator: 'server', sessionId: 2, serverId: 'evil' }, 'pw', N('nonce'));
  t.is(mk().start({ package0: other }).kind, 'done');
  t.is(mk().start({ package0: new Uint8Array(10) }).kind, 'done');
  t.is(mk().start({ package0: new Uint8Array(70000) }).kind, 'done');
});

test('package 0 asking for user interaction can be declined by the host', (t) => {
  const asked: number[] = [];
  const { s } = withHooks({ server: { authType: 'none', secret: 'pw' } }, { confirmSession: (m) => { asked.push(m); return false; } });
  const p0 = encodePackage0({ uiMode: 3, initiator: 'server', sessionId: 5, serverId: 'srv' }, 'pw', new Uint8Array(4));
  const d = s.start({ package0: p0 });
  t.deepEqual(asked, [3]);
  t.deepEqual(d, { kind: 'done', ok: false, reason: 'session declined by the user' });
});

test('replayed server credentials and a replayed package 0 are refused in the next session', (t) => {
  let stored = N('srvnonce');
  const mk = () => {
    const tree = standardTree();
    return createClientSession(baseConfig({ server: { authType: 'md5', secret: 'srvpw', nonce: stored } }), tree, {
      onNonce: (w, n) => { if (w === 'server') stored = n; }, randomBytes: counterRandom(),
    });
  };
  const p0 = encodePackage0({ uiMode: 0, initiator: 'server', sessionId: 7, serverId: 'srv' }, 'srvpw', N('srvnonce'));
  const s1 = mk();
  t.is(sent(s1.start({ package0: p0 })).msg.hdr.sessionID, '7');
  const msg = enc(serverMsg({ sessionID: '7', msgID: 1, cred: md5Cred('srv', 'srvpw', N('srvnonce')), commands: [hdrStatus('1', 212), { kind: 'Get', cmdID: '2', items: [item('./DevInfo/Man')] }] }));
  const r1 = sent(s1.receive(msg));
  t.is((r1.msg.body.commands[0] as Status).code, 212);
  t.notDeepEqual(stored, N('srvnonce'), 'the nonce rotated');
  // The next session: the recorded package 0 and message replayed.
  const s2 = mk();
  t.deepEqual(s2.start({ package0: p0 }), { kind: 'done', ok: false, reason: 'package 0 digest mismatch (ignored)' });
  const s3 = mk();
  s3.start({ package0: encodePackage0({ uiMode: 0, initiator: 'server', sessionId: 7, serverId: 'srv' }, 'srvpw', stored) });
  const r3 = sent(s3.receive(msg));
  t.is((r3.msg.body.commands[0] as Status).code, 401);
  t.deepEqual(statusMap(r3.msg)['2'], ['Get:401']);
});

test('server HMAC: a reply without the header is 407 with an auth-MAC challenge', (t) => {
  const { s } = withHooks({ server: { authType: 'hmac', secret: 'srvpw', nonce: N('sn') } });
  const sid = sent(s.start()).msg.hdr.sessionID;
  const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: [hdrStatus('1', 212)] }))));
  const hs = r.msg.body.commands[0] as Status;
  t.is(hs.code, 407);
  t.is(hs.chal?.meta.type, 'syncml:auth-MAC');
  t.truthy(hs.chal?.meta.nextNonce);
});
