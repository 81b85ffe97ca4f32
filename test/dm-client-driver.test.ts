// The Node driver (test/helpers/run-client-session.ts) over real HTTP on loopback, against a
// small scripted server: a full session, RespURI, a server that never answers, HTTP errors.
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClientSession } from '../src/dm/client-session.js';
import { decodeMessage, encodeMessage, SERVER_LIMITS } from '../src/codec/index.js';
import type { SyncML } from '../src/codec/model.js';
import { standardTree } from './helpers/fake-tree.js';
import { runClientSession } from './helpers/run-client-session.js';
import { baseConfig, hdrStatus, item, serverMsg } from './helpers/dm-script.js';

type Handler = (msg: SyncML | null, path: string) => { status?: number; reply?: SyncML } | 'hang';

async function serve(handler: Handler): Promise<{ url: string; paths: string[]; close(): Promise<void> }> {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      paths.push(req.url || '');
      const d = decodeMessage(new Uint8Array(Buffer.concat(parts)), SERVER_LIMITS);
      const r = handler(d.ok ? d.value.msg : null, req.url || '');
      if (r === 'hang') return;
      const enc = d.ok ? d.value.encoding : 'xml';
      if (!r.reply) { res.writeHead(r.status || 500); res.end(); return; }
      const body = encodeMessage(r.reply, enc);
      res.writeHead(r.status || 200, { 'Content-Type': 'application/vnd.syncml.dm+' + enc });
      res.end(body.ok ? Buffer.from(body.value) : undefined);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/dm`, paths,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

for (const encoding of ['xml', 'wbxml'] as const) {
  test(`driver runs a whole session over HTTP and follows RespURI (${encoding})`, async (t) => {
    let n = 0;
    const srv = await serve((msg) => {
      n++;
      const sid = msg!.hdr.sessionID;
      if (n === 1) return { reply: serverMsg({ sessionID: sid, msgID: 1, respURI: srvUrl + '?s=' + sid, commands: [hdrStatus(msg!.hdr.msgID, 212), { kind: 'Get', cmdID: '2', items: [item('./DevInfo/Man')] }] }) };
      const results = msg!.body.commands.filter((c) => c.kind === 'Results');
      t.is(results.length, 1);
      return { reply: serverMsg({ sessionID: sid, msgID: 2, commands: [hdrStatus(msg!.hdr.msgID, 200)] }) };
    });
    const srvUrl = srv.url;
    const s = createClientSession(baseConfig({ serverUrl: srv.url, encoding }), standardTree());
    const r = await runClientSession(s);
    await srv.close();
    t.deepEqual(r.done, { kind: 'done', ok: true, reason: 'session completed' });
    t.is(r.roundTrips, 2);
    t.true(r.bytesOut > 0 && r.bytesIn > 0);
    t.deepEqual(srv.paths, ['/dm', '/dm?s=' + s.sessionId]);
  });
}

test('driver: a server that never answers ends the session after the bounded retries', async (t) => {
  const srv = await serve(() => 'hang');
  const s = createClientSession(baseConfig({ serverUrl: srv.url }), standardTree());
  const r = await runClientSession(s, undefined, { timeoutMs: 150, retry: { baseMs: 5, maxMs: 10, factor: 2, maxRetries: 2 } });
  await srv.close();
  t.false(r.done.ok);
  t.regex(r.done.reason, /no answer/);
  t.is(srv.paths.length, 3, 'first try + 2 retries');
});

test('driver: HTTP 404 and a refused connection end the session with a reason', async (t) => {
  const srv = await serve(() => ({ status: 404 }));
  const s = createClientSession(baseConfig({ serverUrl: srv.url }), standardTree());
  const r = await runClientSession(s);
  await srv.close();
  t.deepEqual(r.done, { kind: 'done', ok: false, reason: 'HTTP 404 from server' });
  const s2 = createClientSession(baseConfig({ serverUrl: srv.url }), standardTree());
  const r2 = await runClientSession(s2, undefined, { retry: { baseMs: 1, maxMs: 1, factor: 1, maxRetries: 1 } });
  t.false(r2.done.ok);
  t.regex(r2.done.reason, /no answer from server/);
});
