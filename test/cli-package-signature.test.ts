// `scomo package upload` signing options as child processes against a repository server: a
// signature made with --sign-key (EC P-256, RSA, RSA-PSS) verifies with node:crypto against the
// public key; --signature FILE --sig-alg sends the file's bytes; bad combinations and key types
// are one-line errors with exit 1.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { constants, generateKeyPairSync, sign, verify, KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRepoServer, RepoServer } from '../src/server/repo/repo-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/scomo.js');
const tmp = mkdtempSync(join(tmpdir(), 'scomo-cli-sig-'));
const TOKEN = 'cli-sig-token';

let s: RepoServer;
test.before(async () => { s = await createRepoServer({ dataDir: join(tmp, 'repo'), token: TOKEN }); });
test.after.always(async () => { await s?.close(); });

function scomo(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, SCOMO_API_TOKEN: '' }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const PKG = join(tmp, 'app.tar');
// Bigger than one read chunk, so streaming the signature input over several chunks is exercised.
const BYTES = Buffer.alloc(700 * 1024).map((_, i) => (i * 31 + (i >> 9)) & 255);
writeFileSync(PKG, BYTES);

function keyFile(name: string, key: KeyObject): string {
  const f = join(tmp, name);
  writeFileSync(f, key.export({ type: 'pkcs8', format: 'pem' }));
  return f;
}
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const EC_KEY = keyFile('ec.pem', ec.privateKey);
const RSA_KEY = keyFile('rsa.pem', rsa.privateKey);

const up = (extra: string[]) => scomo(['package', 'upload', PKG, '--name', 'app', '--version', '1', '--server', s.base, '--token', TOKEN, ...extra]);

async function storedSignature(stdout: string): Promise<{ alg: string; sig: Buffer; out: Record<string, unknown> }> {
  const out = JSON.parse(stdout) as Record<string, unknown>;
  const m = await s.store.get(String(out.pkgId));
  const v = m?.signature ?? '';
  const i = v.indexOf(':');
  return { alg: v.slice(0, i), sig: Buffer.from(v.slice(i + 1), 'base64'), out };
}

test('--sign-key with an EC P-256 key: ecdsa-p256-sha256 that verifies against the public key', async (t) => {
  const r = await up(['--sign-key', EC_KEY]);
  t.is(r.code, 0, r.stderr);
  const { alg, sig, out } = await storedSignature(r.stdout);
  t.is(out.signed, true);
  t.is(alg, 'ecdsa-p256-sha256');
  t.true(verify('sha256', BYTES, ec.publicKey, sig));
  t.false(verify('sha256', Buffer.concat([BYTES, Buffer.from([0])]), ec.publicKey, sig));
});

test('--sign-key with an RSA key: rsa-pkcs1-sha256 by default, rsa-pss-sha256 (salt 32) with --sig-alg', async (t) => {
  const a = await up(['--sign-key', RSA_KEY]);
  t.is(a.code, 0, a.stderr);
  const p = await storedSignature(a.stdout);
  t.is(p.alg, 'rsa-pkcs1-sha256');
  t.true(verify('sha256', BYTES, rsa.publicKey, p.sig));
  const b = await up(['--sign-key', RSA_KEY, '--sig-alg', 'rsa-pss-sha256']);
  t.is(b.code, 0, b.stderr);
  const q = await storedSignature(b.stdout);
  t.is(q.alg, 'rsa-pss-sha256');
  t.true(verify('sha256', BYTES, { key: rsa.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, q.sig));
  t.false(verify('sha256', BYTES, rsa.publicKey, q.sig)); // really PSS, not PKCS#1 v1.5
});

test('--signature FILE --sig-alg sends the binary signature file as is (openssl dgst output when openssl exists)', async (t) => {
  const sigFile = join(tmp, 'app.sig');
  let made = false;
  try {
    execFileSync('openssl', ['dgst', '-sha256', '-sign', EC_KEY, '-out', sigFile, PKG], { stdio: 'ignore' });
    made = true;
  } catch { /* no openssl: the same DER signature from node:crypto */ }
  if (!made) writeFileSync(sigFile, sign('sha256', BYTES, ec.privateKey));
  const r = await up(['--signature', sigFile, '--sig-alg', 'ecdsa-p256-sha256']);
  t.is(r.code, 0, r.stderr);
  const { alg, sig } = await storedSignature(r.stdout);
  t.is(alg, 'ecdsa-p256-sha256');
  t.deepEqual(sig, readFileSync(sigFile));
  t.true(verify('sha256', BYTES, ec.publicKey, sig));
});

test('unsigned upload still prints the contract fields, signed false', async (t) => {
  const r = await up([]);
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  t.deepEqual(Object.keys(out).sort(), ['pkgId', 'sha256', 'signed', 'size', 'url']);
  t.is(out.signed, false);
  t.is(out.size, BYTES.length);
});

test.serial('bad options and keys: one line on stderr, exit 1, nothing uploaded', async (t) => {
  const before = (await s.store.list()).length;
  const ed = keyFile('ed.pem', generateKeyPairSync('ed25519').privateKey);
  const p384 = keyFile('p384.pem', generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey);
  const notKey = join(tmp, 'junk.pem');
  writeFileSync(notKey, 'not a key\n');
  const big = join(tmp, 'big.sig');
  writeFileSync(big, Buffer.alloc(5000, 1));
  const cases: [string[], RegExp][] = [
    [['--sign-key', ed], /ed\.pem is an ed25519 key; signing needs an EC P-256 or RSA private key$/],
    [['--sign-key', p384], /EC key on secp384r1; only P-256/],
    [['--sign-key', EC_KEY, '--sig-alg', 'rsa-pss-sha256'], /EC P-256 key; it cannot sign rsa-pss-sha256$/],
    [['--sign-key', RSA_KEY, '--sig-alg', 'ecdsa-p256-sha256'], /RSA key; it cannot sign ecdsa-p256-sha256$/],
    [['--sign-key', RSA_KEY, '--sig-alg', 'dsa'], /unknown --sig-alg "dsa"/],
    [['--sign-key', notKey], /junk\.pem is not a usable private key/],
    [['--sign-key', join(tmp, 'missing.pem')], /cannot read .*missing\.pem: ENOENT$/],
    [['--signature', join(tmp, 'x.sig')], /--signature needs --sig-alg/],
    [['--sig-alg', 'ecdsa-p256-sha256'], /--sig-alg needs --signature or --sign-key/],
    [['--signature', big, '--sig-alg', 'rsa-pkcs1-sha256'], /big\.sig is 5000 bytes, longer than any signature/],
    [['--signature', join(tmp, 'x.sig'), '--sign-key', EC_KEY], /either --signature or --sign-key/],
  ];
  const results = await Promise.all(cases.map(([args]) => up(args)));
  results.forEach((r, i) => {
    const [args, re] = cases[i];
    t.is(r.code, 1, args.join(' '));
    const first = r.stderr.split('\n')[0];
    t.true(first.startsWith('scomo package: '), r.stderr);
    t.regex(first, re);
    t.false(r.stderr.includes('    at '), 'no stack trace');
  });
  t.is((await s.store.list()).length, before);
});

test('help lists the signing options', async (t) => {
  const r = await scomo(['package', '--help']);
  t.is(r.code, 0);
  for (const o of ['--signature FILE.sig', '--sig-alg ALG', '--sign-key KEY.pem', 'rsa-pss-sha256']) t.true(r.stdout.includes(o), o);
});
