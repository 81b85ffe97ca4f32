// `scomo device --once`: exit 0 when the session completed, 1 with a one-line reason when it
// did not (no server, refused credentials), promptly and without a stack trace.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/server/app.js';

// Async: the server under test runs in this process and must keep answering.
function device(args: string[], dir: string): Promise<{ status: number | null; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['bin/scomo.js', 'device', ...args, '--data', dir, '--once', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    const kill = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (status) => { clearTimeout(kill); resolve({ status, stderr, ms: Date.now() - t0 }); });
  });
}

const creds = (id: string, secret: string) => ['--id', id, '--client-user', id, '--client-secret', secret, '--server-id', 'srv', '--server-secret', 'ss', '--auth', 'md5'];

test('--once: success, no server, refused credentials', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-once-'));
  const srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'srv') });
  t.teardown(async () => { await srv.close(); rmSync(dir, { recursive: true, force: true }); });
  await srv.addAccount({ deviceId: 'once-1', clientUser: 'once-1', clientSecret: 'right', serverId: 'srv', serverSecret: 'ss', authType: 'md5' });

  const ok = await device(['--server', srv.dmUrl, ...creds('once-1', 'right')], join(dir, 'd1'));
  t.is(ok.status, 0, ok.stderr);

  const down = await device(['--server', 'http://127.0.0.1:9/dm', ...creds('once-1', 'right')], join(dir, 'd2'));
  t.is(down.status, 1);
  t.regex(down.stderr.trim(), /^scomo device: session failed: cannot reach 127\.0\.0\.1:9: ECONNREFUSED$/);
  t.true(down.ms < 20_000, 'fails promptly, not after the retry back-off');

  const refused = await device(['--server', srv.dmUrl, ...creds('once-1', 'wrong')], join(dir, 'd3'));
  t.is(refused.status, 1);
  t.is(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  t.regex(refused.stderr, /session failed: .*(auth|credential)/i);
  t.notRegex(refused.stderr, /\n\s+at /, 'no stack trace');
});
