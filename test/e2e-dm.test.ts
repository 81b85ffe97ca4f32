// End to end: the real DM client engine (src/dm) against the real server over HTTP on loopback.
import test from 'ava';
import { createClientSession } from '../src/dm/client-session.js';
import type { ClientSessionConfig, SessionStep, ClientAlert } from '../src/dm/types.js';
import type { Command, Item } from '../src/codec/model.js';
import { base64Decode } from '../src/codec/base64.js';
import { startServer, RunningServer } from '../src/server/app.js';
import type { ClientAuthType } from '../src/server/storage/types.js';
import { makeTree } from './helpers/tree-setup.js';
import { tempDir } from './helpers/server-fixtures.js';

const DEV = 'IMEI:493005100592800';
const SERVER_NONCE = 'AAECAwQFBgcICQoLDA0ODw==';
const CLIENT_NONCE = 'c2VydmVyLW5vbmNl';

async function server(auth: ClientAuthType, maxMsgSize?: number): Promise<RunningServer> {
  const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: tempDir(), ...(maxMsgSize ? { maxMsgSize } : {}) });
  await srv.addAccount({
    deviceId: DEV, clientUser: 'dev', clientSecret: 'devpw', serverId: 'srv', serverSecret: 'srvpw',
    authType: auth, serverAuthType: auth === 'hmac' ? 'hmac' : 'md5', serverNonce: SERVER_NONCE, clientNonce: CLIENT_NONCE,
  });
  return srv;
}

function config(srv: RunningServer, auth: ClientAuthType, encoding: 'xml' | 'wbxml', over: Partial<ClientSessionConfig> = {}): ClientSessionConfig {
  return {
    deviceId: DEV, serverId: 'srv', serverUrl: srv.dmUrl, encoding,
    client: { authType: auth, user: 'dev', secret: 'devpw', nonce: base64Decode(SERVER_NONCE)! },
    server: { authType: auth === 'hmac' ? 'hmac' : 'md5', user: 'srv', secret: 'srvpw', nonce: base64Decode(CLIENT_NONCE)! },
    ...over,
  };
}

/** Drives one client session over HTTP until it is done. */
async function drive(first: SessionStep, receive: (b: Uint8Array, h: Record<string, string>) => SessionStep): Promise<{ ok: boolean; reason: string; messages: number }> {
  let step = first;
  let messages = 0;
  while (step.kind === 'send') {
    messages++;
    if (messages > 2000) throw new Error('session does not end');
    const res = await fetch(step.url, { method: 'POST', headers: { 'Content-Type': step.contentType, ...step.headers }, body: step.body });
    const body = new Uint8Array(await res.arrayBuffer());
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => { headers[k] = v; });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${Buffer.from(body).toString()}`);
    step = receive(body, headers);
  }
  return { ok: step.ok, reason: step.reason, messages };
}

function runSession(srv: RunningServer, cfg: ClientSessionConfig, tree = makeTree(), alerts?: ClientAlert[], log?: string[]) {
  const s = createClientSession(cfg, tree, { ...(log ? { log: (l, m) => log.push(l + ' ' + m) } : {}) });
  return drive(s.start(alerts ? { alerts } : {}), (b, h) => s.receive(b, h));
}

const item = (uri: string, data?: string, format?: string): Item => ({ target: { locURI: uri }, ...(data !== undefined ? { data } : {}), ...(format ? { meta: { format } } : {}) });

for (const auth of ['basic', 'md5', 'hmac'] as const) {
  for (const encoding of ['xml', 'wbxml'] as const) {
    test(`e2e ${auth} / ${encoding}: queued commands run on the device and their outcomes come back`, async (t) => {
      const srv = await server(auth);
      t.teardown(() => srv.close());
      const tree = makeTree();
      const cmds: Command[] = [
        { kind: 'Add', cmdID: '', items: [item('./Vendor/App/Level', '3', 'int')] },
        { kind: 'Replace', cmdID: '', items: [item('./Vendor/App/Level', '4')] },
        { kind: 'Get', cmdID: '', items: [item('./DevInfo/Mod')] },
        { kind: 'Get', cmdID: '', items: [item('./Nope')] },
        { kind: 'Atomic', cmdID: '', commands: [
          { kind: 'Add', cmdID: '', items: [item('./Vendor/App/Tmp', 'x', 'chr')] },
          { kind: 'Replace', cmdID: '', items: [item('./DevInfo/Nope', 'x')] },
        ] },
      ];
      const h = await srv.dm.queueCommands(DEV, cmds);
      const log: string[] = [];
      const r = await runSession(srv, config(srv, auth, encoding), tree, undefined, log);
      t.true(r.ok, r.reason + '\n' + log.join('\n'));
      const done = await h.done;
      t.deepEqual(done.outcomes!.map((o) => o.status), [200, 200, 200, 404, 507]);
      t.is(done.outcomes![2].results?.[0].data, 'Rocket');
      t.deepEqual(done.outcomes![4].children!.map((o) => o.status)[0], 216);
      t.is(tree.get('srv', './Vendor/App/Level').items![0].data, '4');
    });
  }
}

test('e2e: wrong client secret is refused and the client reports it', async (t) => {
  const srv = await server('md5');
  t.teardown(() => srv.close());
  const cfg = config(srv, 'md5', 'xml');
  cfg.client.secret = 'wrong';
  const r = await runSession(srv, cfg);
  t.false(r.ok);
});

test('e2e md5: a client with a stale nonce is challenged, retries with the new nonce and succeeds', async (t) => {
  const srv = await server('md5');
  t.teardown(() => srv.close());
  const cfg = config(srv, 'md5', 'wbxml');
  cfg.client.nonce = new Uint8Array([9, 9, 9]);
  const r = await runSession(srv, cfg);
  t.true(r.ok, r.reason);
  t.true(r.messages >= 2);
});

test('e2e: the device refuses a server that cannot authenticate itself', async (t) => {
  const srv = await server('basic');
  t.teardown(() => srv.close());
  await srv.dm.queueCommands(DEV, [{ kind: 'Replace', cmdID: '', items: [item('./Vendor/X', '1')] }]);
  const cfg = config(srv, 'basic', 'xml');
  cfg.server.secret = 'not-the-server-secret';
  const r = await runSession(srv, cfg);
  t.false(r.ok);
});

test('e2e: a generic alert from the device reaches subscribers', async (t) => {
  const srv = await server('basic');
  t.teardown(() => srv.close());
  const got: string[] = [];
  srv.dm.on('alert', (a) => got.push(`${a.code}:${a.correlator}`));
  const statuses: number[] = [];
  const s = createClientSession(config(srv, 'basic', 'xml'), makeTree(), { onAlertStatus: (_a, code) => statuses.push(code) });
  const r = await drive(s.start({ alerts: [{ code: 1226, correlator: 'c-1', items: [{ source: { locURI: './SCOMO/Download/P/Operations/Download' }, meta: { type: 'urn:oma:at:scomo:1.0:OperationComplete', format: 'xml' }, data: '<ResultCode>1200</ResultCode>' }] }] }), (b, h) => s.receive(b, h));
  t.true(r.ok, r.reason);
  t.deepEqual(got, ['1226:c-1']);
  t.deepEqual(statuses, [200]);
});

for (const encoding of ['xml', 'wbxml'] as const) {
  test(`e2e ${encoding}: multi-message packages with a small MaxMsgSize`, async (t) => {
    const srv = await server('basic');
    t.teardown(() => srv.close());
    const cmds: Command[] = [{ kind: 'Add', cmdID: '', items: [{ target: { locURI: './Vendor/S' }, meta: { format: 'node' } }] }];
    for (let i = 0; i < 40; i++) cmds.push({ kind: 'Add', cmdID: '', items: [item(`./Vendor/S/K${i}`, 'value-' + i + '-'.repeat(40), 'chr')] });
    for (let i = 0; i < 40; i++) cmds.push({ kind: 'Get', cmdID: '', items: [item(`./Vendor/S/K${i}`)] });
    const h = await srv.dm.queueCommands(DEV, cmds);
    const r = await runSession(srv, config(srv, 'basic', encoding, { maxMsgSize: 2048 }));
    t.true(r.ok, r.reason);
    t.true(r.messages > 4);
    const done = await h.done;
    t.true(done.outcomes!.every((o) => o.status === 200), JSON.stringify(done.outcomes!.map((o) => o.status)));
    t.is(done.outcomes![41].results?.[0].data, 'value-0' + '-'.repeat(40));
  });

  test(`e2e ${encoding}: a large object goes to the device in chunks and comes back in chunks`, async (t) => {
    const srv = await server('basic');
    t.teardown(() => srv.close());
    const size = 1024 * 1024;
    const text = Array.from({ length: size / 16 }, (_, i) => (i.toString(36) + '................').slice(0, 16)).join('');
    const tree = makeTree();
    const h = await srv.dm.queueCommands(DEV, [
      { kind: 'Add', cmdID: '', items: [{ target: { locURI: './Vendor/Blob' }, meta: { format: 'chr' }, data: text }] },
      { kind: 'Get', cmdID: '', items: [item('./Vendor/Blob')] },
    ]);
    const r = await runSession(srv, config(srv, 'basic', encoding, { maxMsgSize: 65536 }), tree);
    t.true(r.ok, r.reason);
    const done = await h.done;
    t.deepEqual(done.outcomes!.map((o) => o.status), [200, 200]);
    const res = done.outcomes![1].results![0];
    // Over XML the device sends its binary value as Format b64 text; the outcome keeps it as sent.
    const back = res.meta?.format === 'b64' ? base64Decode(res.data as string)! : res.data;
    t.is(typeof back === 'string' ? back.length : back?.length, size);
    t.true(back === text || Buffer.from(back as Uint8Array).toString() === text);
  });
}

test('e2e: the device aborts the session; unanswered commands settle and the server stays usable', async (t) => {
  const srv = await server('basic');
  t.teardown(() => srv.close());
  const h = await srv.dm.queueCommands(DEV, [{ kind: 'Get', cmdID: '', items: [item('./DevInfo/Man')] }]);
  const s = createClientSession(config(srv, 'basic', 'xml'), makeTree());
  const first = s.start();
  if (first.kind !== 'send') { t.fail('no package 1'); return; }
  const res = await fetch(first.url, { method: 'POST', headers: { 'Content-Type': first.contentType, ...first.headers }, body: first.body });
  t.is(res.status, 200);
  await res.arrayBuffer();
  const r = await drive(s.abort('user cancelled'), (b, hd) => s.receive(b, hd));
  t.false(r.ok);
  const done = await h.done;
  t.is(done.outcomes![0].status, 0);
  // A new session works.
  const again = await runSession(srv, config(srv, 'basic', 'xml'));
  t.true(again.ok, again.reason);
});

test('e2e: package 0 over UDP opens a server-initiated session with its SessionID; a wrong digest is ignored', async (t) => {
  const dgram = await import('node:dgram');
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => sock.close());
  const srv = await server('md5');
  t.teardown(() => srv.close());
  await srv.storage.updateAccount(DEV, { notifyHost: '127.0.0.1', notifyPort: sock.address().port });
  const h = await srv.dm.queueCommands(DEV, [{ kind: 'Get', cmdID: '', items: [item('./DevInfo/Man')] }]);
  const got = new Promise<Buffer>((r) => sock.once('message', (m) => r(m)));
  const n = await srv.notify(DEV);
  const pkg0 = new Uint8Array(await got);
  const starts: string[] = [];
  srv.dm.on('session-start', (s) => starts.push(s.deviceId));
  const s = createClientSession(config(srv, 'md5', 'wbxml'), makeTree());
  const first = s.start({ package0: pkg0 });
  t.is(s.sessionId, n.sessionIdHex);
  const r = await drive(first, (b, hd) => s.receive(b, hd));
  t.true(r.ok, r.reason);
  t.is((await h.done).outcomes?.[0].results?.[0].data, 'Acme');
  t.deepEqual(starts, [DEV]);
  // A device that holds another server secret ignores the notification.
  const other = createClientSession({ ...config(srv, 'md5', 'wbxml'), server: { authType: 'md5', user: 'srv', secret: 'other', nonce: base64Decode(CLIENT_NONCE)! } }, makeTree());
  const step = other.start({ package0: pkg0 });
  t.is(step.kind, 'done');
  t.false(step.kind === 'done' && step.ok);
});

test('e2e wbxml: a 3 MB binary object goes down and comes back up through 16 KB and 64 KB messages', async (t) => {
  const srv = await server('basic', 65536);
  t.teardown(() => srv.close());
  const data = new Uint8Array(3 * 1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const tree = makeTree({ maxLargeObject: 8 << 20 });
  const h = await srv.dm.queueCommands(DEV, [
    { kind: 'Add', cmdID: '', items: [{ target: { locURI: './Vendor/Firmware' }, meta: { format: 'bin', type: 'application/octet-stream' }, data }] },
    { kind: 'Get', cmdID: '', items: [item('./Vendor/Firmware')] },
  ]);
  const r = await runSession(srv, config(srv, 'basic', 'wbxml', { maxMsgSize: 16384 }), tree);
  t.true(r.ok, r.reason);
  t.true(r.messages > 190 + 45, `${r.messages} messages`); // down in 16 KB chunks, up in 64 KB ones
  const done = await h.done;
  t.deepEqual(done.outcomes!.map((o) => o.status), [200, 200]);
  t.deepEqual(done.outcomes![1].results![0].data, data);
});
