// DM over HTTPS end to end: the server with a certificate, the emulated device trusting it
// through --ca, a full session with a queued command; and a device that does not trust the
// certificate fails its session with a reason instead of talking in clear.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/server/app.js';
import { startDevice } from '../targets/node/device.js';

const CERT = 'test/fixtures/c/tls-cert.pem';
const KEY = 'test/fixtures/c/tls-key.pem';

test('a device trusting the server certificate completes sessions over HTTPS; one that does not, fails cleanly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-https-'));
  const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'srv'), tls: { cert: readFileSync(CERT), key: readFileSync(KEY) } });
  t.teardown(async () => { await srv.close(); rmSync(dir, { recursive: true, force: true }); });
  t.regex(srv.dmUrl, /^https:\/\/127\.0\.0\.1:\d+\/dm$/);
  for (const id of ['tls-ok', 'tls-untrusted']) {
    await srv.addAccount({ deviceId: id, clientUser: id, clientSecret: 'c', serverId: 'srv', serverSecret: 's', authType: 'md5' });
  }
  const common = { server: srv.dmUrl, clientSecret: 'c', serverId: 'srv', serverSecret: 's', auth: 'md5' as const, encoding: 'wbxml' as const };
  const good = await startDevice({ ...common, id: 'tls-ok', clientUser: 'tls-ok', dataDir: join(dir, 'ok'), caFile: CERT });
  t.teardown(() => good.close());
  await good.waitIdle(20_000);
  t.true(good.agent.status().lastSessionOk, JSON.stringify(good.agent.status()));
  const h = await srv.dm.queueCommands('tls-ok', [{ kind: 'Get', cmdID: '1', items: [{ target: { locURI: './DevInfo/DevId' } }] }]);
  good.agent.connect();
  const e = await h.done;
  t.is(e.outcomes?.[0]?.status, 200);
  t.is(e.outcomes?.[0]?.results?.[0]?.data, 'tls-ok');

  const bad = await startDevice({ ...common, id: 'tls-untrusted', clientUser: 'tls-untrusted', dataDir: join(dir, 'bad') });
  t.teardown(() => bad.close());
  const t0 = Date.now();
  while (bad.agent.status().lastSessionOk === null && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
  const st = bad.agent.status();
  t.false(st.lastSessionOk);
  t.regex(st.lastError ?? '', /certificate|self.signed|CERT|UNABLE/i);
});
