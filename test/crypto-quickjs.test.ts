import test from 'ava';
import { createHash, createHmac } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { bundleForQuickJS, loadInQuickJS, QuickJSRun } from './helpers/quickjs.js';

let run: QuickJSRun;

test.before(async () => {
  run = await loadInQuickJS(await bundleForQuickJS('test/fixtures/crypto-quickjs-entry.ts'));
});
test.after.always(() => run?.dispose());

function pseudoRandom(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 255; }
  return b;
}

test('hashes in QuickJS match node:crypto and zlib, one-shot and streamed', (t) => {
  const cases: Array<[number, number]> = [[0, 1], [1, 1], [55, 7], [56, 3], [63, 64], [64, 13], [65, 64], [1000, 61], [100000, 4093]];
  for (const [len, chunk] of cases) {
    const b = pseudoRandom(len, len + 11);
    const want = {
      md5: createHash('md5').update(b).digest('hex'),
      sha256: createHash('sha256').update(b).digest('hex'),
      sha1: createHash('sha1').update(b).digest('hex'),
      crc32: zlibCrc32(b),
    };
    const got = run.call('hashes', { len, seed: len + 11, chunk }) as Record<string, string | number>;
    t.is(got.md5, want.md5, `md5 ${len}`);
    t.is(got.md5s, want.md5, `md5 streamed ${len}`);
    t.is(got.sha256, want.sha256, `sha256 ${len}`);
    t.is(got.sha256s, want.sha256, `sha256 streamed ${len}`);
    t.is(got.sha1, want.sha1, `sha1 ${len}`);
    t.is(got.crc32, want.crc32, `crc32 ${len}`);
    t.is(got.crc32s, want.crc32, `crc32 streamed ${len}`);
    t.is(got.hmacMd5, createHmac('md5', 'key').update(b).digest('hex'));
    t.is(got.hmacSha256, createHmac('sha256', 'key').update(b).digest('hex'));
  }
});

test('DM credential vectors in QuickJS', (t) => {
  t.deepEqual(run.call('creds', {}), {
    basic: 'QnJ1Y2UyOk9oQmVoYXZl',
    parsed: { user: 'Bruce2', pass: 'OhBehave' },
    md5: 'Zz6EivR3yeaaENcRN6lpAQ==',
    bob: 'ER97MObNrklA/XRvVo2yzA==',
    binary: createHash('md5').update(Buffer.concat([
      Buffer.from(createHash('md5').update('a:b').digest('base64') + ':'), Buffer.from([0x80, 0xff, 0x00, 0xc3]),
    ])).digest('base64'),
    hmac: 'BzE6dDP0ZGNGys1kp3A54Q==',
    header: 'algorithm=MD5, username="user", mac=m==',
    android: { algorithm: 'MD5', username: 'user', mac: 'BzE6dDP0ZGNGys1kp3A54Q==' },
    broken: null,
  });
});

test('package 0 vector, verify and errors in QuickJS', (t) => {
  const withVendor = Buffer.concat([Buffer.from('84c51f291b234c3fc2f1f0a3fb710280', 'hex'), Buffer.from('02c8000000000103737276', 'hex'), Buffer.from([1, 2, 3])]);
  t.deepEqual(run.call('pkg0', { b64: withVendor.toString('base64') }), {
    hex: '84c51f291b234c3fc2f1f0a3fb710280' + '02c8000000000103737276',
    ok: true,
    value: { version: 11, uiMode: 0, initiator: 'server', sessionId: 1, serverId: 'srv' },
    verify: true,
    verifyTampered: false,
    verifyZero: false,
    truncated: 'truncated',
    external: 'AQID',
    sid: 'BEEF',
  });
});

test('ustar reader in QuickJS, with entries hashed while streamed', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'qjs-ustar-'));
  try {
    mkdirSync(join(dir, 'pkg', 'lib'), { recursive: true });
    const big = pseudoRandom(70000, 3);
    writeFileSync(join(dir, 'pkg', 'lib', 'big.bin'), big);
    writeFileSync(join(dir, 'pkg', 'manifest'), 'name=x\n');
    const tarBytes = execFileSync('tar', ['--format=ustar', '--sort=name', '-C', dir, '-cf', '-', 'pkg']);
    const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
    for (const chunk of [1000, 4093, 65536]) {
      t.deepEqual(run.call('ustar', { b64: tarBytes.toString('base64'), chunk }), {
        entries: [
          { name: 'pkg', type: 'directory', size: 0, sha256: sha('') },
          { name: 'pkg/lib', type: 'directory', size: 0, sha256: sha('') },
          { name: 'pkg/lib/big.bin', type: 'file', size: 70000, sha256: sha(big) },
          { name: 'pkg/manifest', type: 'file', size: 7, sha256: sha('name=x\n') },
        ],
        ended: 1,
        error: null,
      });
    }
    const evil = Buffer.from(tarBytes); evil[0] = 0x2f; // '/pkg' with a now-wrong checksum
    t.is((run.call('ustar', { b64: evil.toString('base64'), chunk: 512 }) as { error: string }).error, 'checksum');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
