import test from 'ava';
import http from 'node:http';
import https from 'node:https';
import dgram from 'node:dgram';
import { execFileSync, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SyncML, Status, Command } from '../src/codec/model.js';
import { decodeMessage, encodeMessage, SERVER_LIMITS } from '../src/codec/index.js';
import { startServer } from '../src/server/app.js';
import { openSqliteStorage } from '../src/server/storage/sqlite.js';
import { decodePackage0, verifyPackage0, sessionIdToHex } from '../src/dm/package0.js';
import { base64Decode } from '../src/codec/base64.js';
import { DEV, account, alert, basic, devInfoReplace, tempDir } from './helpers/server-fixtures.js';

const execFileP = promisify(execFile);

interface Posted { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

function post(url: string, body: Uint8Array | string, contentType: string, opts: { ca?: Buffer; method?: string } = {}): Promise<Posted> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(u, { method: opts.method ?? 'POST', headers: { 'Content-Type': contentType }, ...(opts.ca ? { ca: opts.ca } : {}) }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(typeof body === 'string' ? body : Buffer.from(body));
  });
}

function pkg1(sessionID: string, target: string, enc: 'xml' | 'wbxml', user = 'dev-user', pass = 'dev-secret', source = DEV): Uint8Array {
  const m: SyncML = {
    hdr: { verDTD: '1.2', verProto: 'DM/1.2', sessionID, msgID: '1', target: { locURI: target }, source: { locURI: source }, cred: basic(user, pass), meta: { maxMsgSize: '16384' } },
    body: { commands: [{ ...alert(1201), cmdID: '1' }, { ...devInfoReplace(), cmdID: '2' }], final: true },
  };
  const e = encodeMessage(m, enc);
  if (!e.ok) throw new Error(e.error.message);
  return e.value;
}

function decode(b: Buffer): SyncML {
  const d = decodeMessage(new Uint8Array(b), SERVER_LIMITS);
  if (!d.ok) throw new Error(d.error.message);
  return d.value.msg;
}

const hdrCode = (m: SyncML): number | undefined => (m.body.commands.find((c) => c.kind === 'Status' && c.cmdRef === '0') as Status | undefined)?.code;

for (const enc of ['xml', 'wbxml'] as const) {
  for (const family of ['dm', 'syncml'] as const) {
    test(`a session over HTTP in ${enc} with the ${family} content type is answered in kind, and continues at RespURI`, async (t) => {
      const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: tempDir() });
      t.teardown(() => srv.close());
      await srv.addAccount(account());
      const h = await srv.dm.queueCommands(DEV, [{ kind: 'Get', cmdID: '', items: [{ target: { locURI: './DevInfo/Lang' } }] }]);
      const ct = `application/vnd.syncml${family === 'dm' ? '.dm' : ''}+${enc}`;
      const r1 = await post(srv.dmUrl, pkg1('5', srv.dmUrl, enc), ct);
      t.is(r1.status, 200);
      t.is(r1.headers['content-type'], ct);
      const m1 = decode(r1.body);
      t.is(hdrCode(m1), 212);
      const get = m1.body.commands.find((c) => c.kind === 'Get')!;
      const resp = m1.hdr.respURI!;
      t.true(resp.startsWith(srv.dmUrl + '?s='));
      const m2: SyncML = {
        hdr: { verDTD: '1.2', verProto: 'DM/1.2', sessionID: '5', msgID: '2', target: { locURI: srv.dmUrl }, source: { locURI: DEV } },
        body: {
          commands: [
            { kind: 'Status', cmdID: '1', msgRef: m1.hdr.msgID, cmdRef: '0', cmd: 'SyncHdr', targetRefs: [], sourceRefs: [], code: 212, items: [] },
            { kind: 'Status', cmdID: '2', msgRef: m1.hdr.msgID, cmdRef: get.cmdID, cmd: 'Get', targetRefs: [], sourceRefs: [], code: 200, items: [] },
            { kind: 'Results', cmdID: '3', msgRef: m1.hdr.msgID, cmdRef: get.cmdID, targetRefs: [], sourceRefs: [], items: [{ source: { locURI: './DevInfo/Lang' }, data: 'en-US' }] },
          ],
          final: true,
        },
      };
      const r2 = await post(resp, encodeMessage(m2, enc).ok ? (encodeMessage(m2, enc) as { value: Uint8Array }).value : '', ct);
      t.is(r2.status, 200);
      t.true(decode(r2.body).body.final);
      t.is((await h.done).outcomes?.[0].results?.[0].data, 'en-US');
    });
  }
}

test('bad requests get HTTP errors, never a crash: content type, malformed body, size limit, method, path', async (t) => {
  const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: tempDir(), maxBodyBytes: 4096 });
  t.teardown(() => srv.close());
  t.is((await post(srv.dmUrl, pkg1('1', srv.dmUrl, 'xml'), 'text/xml')).status, 415);
  t.is((await post(srv.dmUrl, '', 'application/vnd.syncml.dm+xml')).status, 400);
  t.is((await post(srv.dmUrl, '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr>', 'application/vnd.syncml.dm+xml')).status, 400);
  t.is((await post(srv.dmUrl, new Uint8Array([3, 1, 0x6a, 0, 0xff, 0xff, 0xff]), 'application/vnd.syncml.dm+wbxml')).status, 400);
  t.is((await post(srv.dmUrl, pkg1('1', srv.dmUrl, 'xml'), 'application/vnd.syncml.dm+wbxml')).status, 400, 'XML body with a WBXML type');
  t.is((await post(srv.dmUrl, 'x'.repeat(10000), 'application/vnd.syncml.dm+xml')).status, 413);
  t.is((await post(srv.dmUrl, '', 'application/vnd.syncml.dm+xml', { method: 'GET' })).status, 405);
  t.is((await post(srv.url + '/elsewhere', pkg1('1', srv.dmUrl, 'xml'), 'application/vnd.syncml.dm+xml')).status, 404);
  // Still serving after all that.
  await srv.addAccount(account());
  t.is(hdrCode(decode((await post(srv.dmUrl, pkg1('2', srv.dmUrl, 'xml'), 'application/vnd.syncml.dm+xml')).body)), 212);
});

test('an unknown session key or a non-start message without a session gets 404 and 1223 in a DM reply', async (t) => {
  const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: tempDir() });
  t.teardown(() => srv.close());
  await srv.addAccount(account());
  const m: SyncML = {
    hdr: { verDTD: '1.2', verProto: 'DM/1.2', sessionID: '9', msgID: '2', target: { locURI: srv.dmUrl }, source: { locURI: DEV } },
    body: { commands: [{ kind: 'Status', cmdID: '1', msgRef: '1', cmdRef: '0', cmd: 'SyncHdr', targetRefs: [], sourceRefs: [], code: 200, items: [] }], final: true },
  };
  const body = (encodeMessage(m, 'xml') as { value: Uint8Array }).value;
  const r = await post(srv.dmUrl + '?s=deadbeef', body, 'application/vnd.syncml.dm+xml');
  t.is(r.status, 200);
  const reply = decode(r.body);
  t.is(hdrCode(reply), 404);
  t.truthy(reply.body.commands.find((c: Command) => c.kind === 'Alert' && c.code === 1223));
});

test('a configurable DM path, and libdmclient-style identification (basic funambol/funambol, digest funambol/srvpwd)', async (t) => {
  const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: tempDir(), dmPath: '/funambol/dm' });
  t.teardown(() => srv.close());
  t.true(srv.dmUrl.endsWith('/funambol/dm'));
  await srv.addAccount({ deviceId: 'funambol', clientUser: 'funambol', clientSecret: 'funambol', serverId: 'funambol', serverSecret: 'srvpwd', authType: 'basic', serverAuthType: 'md5' });
  const r = await post(srv.dmUrl, pkg1('1', srv.dmUrl, 'wbxml', 'funambol', 'funambol', 'IMEI:12345'), 'application/vnd.syncml+wbxml');
  t.is(r.headers['content-type'], 'application/vnd.syncml+wbxml');
  const m = decode(r.body);
  t.is(hdrCode(m), 212);
  t.is(m.hdr.cred?.meta?.type, 'syncml:auth-md5');
});

test('HTTPS with a test certificate', async (t) => {
  const dir = tempDir();
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-days', '2', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  } catch {
    t.fail('openssl is needed to make the test certificate');
    return;
  }
  const cert = readFileSync(join(dir, 'cert.pem'));
  const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: dir, tls: { cert, key: readFileSync(join(dir, 'key.pem')) } });
  t.teardown(() => srv.close());
  t.true(srv.dmUrl.startsWith('https://'));
  await srv.addAccount(account());
  const r = await post(srv.dmUrl, pkg1('1', srv.dmUrl, 'xml'), 'application/vnd.syncml.dm+xml', { ca: cert });
  const m = decode(r.body);
  t.is(hdrCode(m), 212);
  t.true(m.hdr.respURI!.startsWith('https://'));
});

test('state survives a restart: accounts, queued commands, and a session in the middle of its commands', async (t) => {
  const dir = tempDir();
  let srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: dir });
  await srv.addAccount(account());
  const h = await srv.dm.queueCommands(DEV, [{ kind: 'Replace', cmdID: '', items: [{ target: { locURI: './A' }, data: '1' }] }], { tag: 'restart-test' });
  const r1 = decode((await post(srv.dmUrl, pkg1('7', srv.dmUrl, 'xml'), 'application/vnd.syncml.dm+xml')).body);
  const rep = r1.body.commands.find((c) => c.kind === 'Replace')!;
  const resp = r1.hdr.respURI!;
  const key = new URL(resp).searchParams.get('s');
  await srv.close();
  srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: dir });
  t.teardown(() => srv.close());
  const m2: SyncML = {
    hdr: { verDTD: '1.2', verProto: 'DM/1.2', sessionID: '7', msgID: '2', target: { locURI: srv.dmUrl }, source: { locURI: DEV } },
    body: {
      commands: [
        { kind: 'Status', cmdID: '1', msgRef: '1', cmdRef: '0', cmd: 'SyncHdr', targetRefs: [], sourceRefs: [], code: 212, items: [] },
        { kind: 'Status', cmdID: '2', msgRef: '1', cmdRef: rep.cmdID, cmd: 'Replace', targetRefs: [], sourceRefs: [], code: 200, items: [] },
      ],
      final: true,
    },
  };
  // The new process listens on another port; the session key carries over.
  const r2 = decode((await post(srv.dmUrl + '?s=' + key, (encodeMessage(m2, 'xml') as { value: Uint8Array }).value, 'application/vnd.syncml.dm+xml')).body);
  t.is(hdrCode(r2), 200);
  const entries = await srv.storage.entriesByTag('restart-test');
  t.is(entries[0].id, h.id);
  t.is(entries[0].state, 'done');
  t.is(entries[0].outcomes?.[0].status, 200);
  t.truthy(await srv.storage.getAccount(DEV));
});

test('package 0 goes to the device notification address as a UDP datagram with a verifiable digest', async (t) => {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => sock.close());
  const got = new Promise<Buffer>((r) => sock.once('message', (m) => r(m)));
  const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: tempDir() });
  t.teardown(() => srv.close());
  await srv.addAccount(account({ clientNonce: 'bm9uY2U=', notifyHost: '127.0.0.1', notifyPort: sock.address().port }));
  const sent = await srv.notify(DEV, { uiMode: 1 });
  const bytes = new Uint8Array(await got);
  t.deepEqual(bytes, sent.bytes);
  const p = decodePackage0(bytes);
  t.true(p.ok);
  if (!p.ok) return;
  t.is(p.value.serverId, 'scomo-srv');
  t.is(p.value.initiator, 'server');
  t.is(p.value.uiMode, 1);
  t.is(sessionIdToHex(p.value.sessionId), sent.sessionIdHex);
  t.true(verifyPackage0(bytes, 'scomo-srv', 'srv-secret', base64Decode('bm9uY2U=')!));
  t.false(verifyPackage0(bytes, 'scomo-srv', 'wrong', base64Decode('bm9uY2U=')!));
});

test('notify without a known address fails with a clear message', async (t) => {
  const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: tempDir() });
  t.teardown(() => srv.close());
  await srv.addAccount(account());
  await t.throwsAsync(() => srv.notify(DEV), { message: /no notification address/ });
});

test('the device notification port is learned from its session (DevDetail/Ext/NotifyPort)', async (t) => {
  const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: tempDir() });
  t.teardown(() => srv.close());
  await srv.addAccount(account());
  const m: SyncML = {
    hdr: { verDTD: '1.2', verProto: 'DM/1.2', sessionID: '3', msgID: '1', target: { locURI: srv.dmUrl }, source: { locURI: DEV }, cred: basic('dev-user', 'dev-secret') },
    body: { commands: [{ ...alert(1201), cmdID: '1' }, { ...devInfoReplace({ './DevDetail/Ext/NotifyPort': '40123' }), cmdID: '2' }], final: true },
  };
  await post(srv.dmUrl, (encodeMessage(m, 'xml') as { value: Uint8Array }).value, 'application/vnd.syncml.dm+xml');
  const a = await srv.storage.getAccount(DEV);
  t.is(a?.notifyPort, 40123);
  t.is(a?.notifyHost, '127.0.0.1');
});

test('scomo account add provisions an account, also while a server runs on the same data directory', async (t) => {
  const dir = tempDir();
  const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: dir });
  t.teardown(() => srv.close());
  const { stdout } = await execFileP('node', ['bin/scomo.js', 'account', 'add', 'dev-cli', '--client-user', 'cu', '--client-secret', 'cs',
    '--server-id', 'sid', '--server-secret', 'ss', '--auth', 'basic', '--data', dir]);
  t.regex(stdout, /^account dev-cli added \(auth basic, server auth basic\)/);
  t.is(stdout.trim().split('\n').length, 1);
  // The running server sees it at once.
  const r = decode((await post(srv.dmUrl, pkg1('1', srv.dmUrl, 'xml', 'cu', 'cs', 'dev-cli'), 'application/vnd.syncml.dm+xml')).body);
  t.is(hdrCode(r), 212);
  const s2 = openSqliteStorage(dir);
  t.is((await s2.getAccount('dev-cli'))?.serverSecret, 'ss');
  await s2.close();
});

test('scomo account add refuses incomplete or invalid input with a clear message', async (t) => {
  const dir = tempDir();
  const e1 = await t.throwsAsync(execFileP('node', ['bin/scomo.js', 'account', 'add', 'd', '--client-user', 'u', '--data', dir]));
  t.is((e1 as { code?: number }).code, 1);
  t.regex(String((e1 as { stderr?: string }).stderr), /--client-secret is required/);
  const e2 = await t.throwsAsync(execFileP('node', ['bin/scomo.js', 'account', 'add', 'd', '--client-user', 'u', '--client-secret', 's',
    '--server-id', 'i', '--server-secret', 'x', '--auth', 'kerberos', '--data', dir]));
  t.regex(String((e2 as { stderr?: string }).stderr), /--auth must be one of basic, md5, hmac/);
});

test('scomo server prints its URL, serves, and stops cleanly on SIGTERM', async (t) => {
  const { spawn } = await import('node:child_process');
  const dir = tempDir();
  const child = spawn('node', ['bin/scomo.js', 'server', '--port', '0', '--host', '127.0.0.1', '--dm-path', '/funambol/dm', '--data', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); const m = /listening on (\S+)/.exec(out); if (m) resolve(m[1]); });
    child.on('exit', (code) => reject(new Error('server exited ' + code + ': ' + out)));
  });
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/funambol\/dm$/);
  const r = await post(url, 'nonsense', 'application/vnd.syncml.dm+xml');
  t.is(r.status, 400);
  const code = await new Promise<number | null>((resolve) => { child.on('exit', (c) => resolve(c)); child.kill('SIGTERM'); });
  t.is(code, 0);
  t.regex(out, /stopped/);
});
