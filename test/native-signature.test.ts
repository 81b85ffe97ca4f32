// Package signature verification in the native C target: targets/c/pkgsig.c through
// build/scomo-verify (the same check as a command), and scomo-native-agent's verify_package
// through the Duktape binding, driven by a stub bundle (test/fixtures/c/verify-stub-agent.js).
// Signatures come from node:crypto, so the C side is checked against an independent signer.
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign, constants, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareNative } from './helpers/native.js';
import { NATIVE_AGENT } from '../targets/c/native-device.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const VERIFY = join(root, 'targets/c/build/scomo-verify');
const STUB = join(root, 'test/fixtures/c/verify-stub-agent.js');

const tmp = mkdtempSync(join(tmpdir(), 'scomo-native-sig-'));
test.after.always(() => { if (!process.env.KEEP_SIG_TMP) rmSync(tmp, { recursive: true, force: true }); });

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecOther = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });

function pubFile(name: string, k: KeyObject): string {
  const f = join(tmp, name);
  writeFileSync(f, k.export({ type: 'spki', format: 'pem' }));
  return f;
}
const EC_PUB = pubFile('ec.pub', ec.publicKey);
const RSA_PUB = pubFile('rsa.pub', rsa.publicKey);
const K1_PUB = pubFile('k1.pub', k1.publicKey);

const small = randomBytes(10_000);
const SMALL = join(tmp, 'small.bin');
writeFileSync(SMALL, small);

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sigEc = (d: Uint8Array, k = ec.privateKey): string => b64(sign('sha256', d, k)); // DER, as openssl dgst writes it
const sigPkcs1 = (d: Uint8Array): string => b64(sign('sha256', d, rsa.privateKey));
const sigPss = (d: Uint8Array, saltLength = 32): string =>
  b64(sign('sha256', d, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }));

function verify(args: string[]): Promise<{ code: number; line: string }> {
  return new Promise((resolve) => {
    execFile(VERIFY, args, (err, stdout, stderr) => {
      const line = stdout.trim() || stderr.trim();
      resolve({ code: Number(/^(\d+)/.exec(line)?.[1] ?? -1), line });
    });
  });
}

test.before(async () => { await prepareNative(); });

test('scomo-verify accepts ECDSA P-256, RSA PKCS#1 v1.5 and RSA-PSS signatures made by node:crypto', async (t) => {
  const keys = ['--trust-key', EC_PUB, '--trust-key', RSA_PUB];
  for (const [alg, sig] of [['ecdsa-p256-sha256', sigEc(small)], ['rsa-pkcs1-sha256', sigPkcs1(small)], ['rsa-pss-sha256', sigPss(small)]]) {
    const r = await verify([...keys, alg, sig, SMALL]);
    t.is(r.code, 1200, alg + ': ' + r.line);
  }
  const withSha = await verify([...keys, '--sha256', sha256(small), 'ecdsa-p256-sha256', sigEc(small), SMALL]);
  t.is(withSha.code, 1200, withSha.line);
});

test('scomo-verify decodes every base64 padding length (ECDSA DER signatures of 70, 71 and 72 bytes)', async (t) => {
  const byLen = new Map<number, string>();
  for (let i = 0; i < 400 && byLen.size < 3; i++) {
    const s = sign('sha256', small, ec.privateKey);
    if (s.length >= 70 && s.length <= 72) byLen.set(s.length, b64(s));
  }
  t.true(byLen.size >= 2, 'got lengths ' + [...byLen.keys()].join(','));
  for (const [len, sig] of byLen) {
    const r = await verify(['--trust-key', EC_PUB, 'ecdsa-p256-sha256', sig, SMALL]);
    t.is(r.code, 1200, `${len} bytes (${sig.length} chars): ${r.line}`);
  }
});

test('scomo-verify refuses tampered, untrusted, mismatched and malformed signatures with 1407', async (t) => {
  const tampered = Buffer.from(small);
  tampered[5000] ^= 1;
  const TAMPERED = join(tmp, 'tampered.bin');
  writeFileSync(TAMPERED, tampered);
  const good = sigEc(small);
  const cases: Array<[string, string[]]> = [
    ['tampered package', ['--trust-key', EC_PUB, 'ecdsa-p256-sha256', good, TAMPERED]],
    ['untrusted key', ['--trust-key', EC_PUB, 'ecdsa-p256-sha256', sigEc(small, ecOther.privateKey), SMALL]],
    ['PSS signature as PKCS#1', ['--trust-key', RSA_PUB, 'rsa-pkcs1-sha256', sigPss(small), SMALL]],
    ['PKCS#1 signature as PSS', ['--trust-key', RSA_PUB, 'rsa-pss-sha256', sigPkcs1(small), SMALL]],
    ['PSS with salt length 20', ['--trust-key', RSA_PUB, 'rsa-pss-sha256', sigPss(small, 20), SMALL]],
    ['ECDSA signature, only an RSA key', ['--trust-key', RSA_PUB, 'ecdsa-p256-sha256', good, SMALL]],
    ['RSA alg, only an EC key', ['--trust-key', EC_PUB, 'rsa-pkcs1-sha256', sigPkcs1(small), SMALL]],
    ['secp256k1 key for ecdsa-p256', ['--trust-key', K1_PUB, 'ecdsa-p256-sha256', sigEc(small, k1.privateKey), SMALL]],
    ['unknown algorithm', ['--trust-key', EC_PUB, 'ecdsa-p384-sha384', good, SMALL]],
    ['not base64', ['--trust-key', EC_PUB, 'ecdsa-p256-sha256', good.slice(0, -4) + '!!!=', SMALL]],
    ['base64 without padding', ['--trust-key', RSA_PUB, 'rsa-pkcs1-sha256', sigPkcs1(small).replace(/=+$/, ''), SMALL]], // 256 bytes: always "=="
    ['base64 with one "=" too few', ['--trust-key', RSA_PUB, 'rsa-pkcs1-sha256', sigPkcs1(small).replace(/=$/, ''), SMALL]],
    ['truncated signature', ['--trust-key', EC_PUB, 'ecdsa-p256-sha256', b64(Buffer.from(good, 'base64').subarray(0, 60)), SMALL]],
    ['sha256 of other bytes', ['--trust-key', EC_PUB, '--sha256', sha256(tampered), 'ecdsa-p256-sha256', good, SMALL]],
    ['no trusted key', ['ecdsa-p256-sha256', good, SMALL]],
  ];
  for (const [what, args] of cases) {
    const r = await verify(args);
    t.is(r.code, 1407, what + ': ' + r.line);
  }
});

test('a trusted X.509 certificate contributes its key; a private key file is refused as a trust key', async (t) => {
  const key = join(tmp, 'cert-key.pem');
  writeFileSync(key, rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const bad = await verify(['--trust-key', key, 'rsa-pss-sha256', sigPss(small), SMALL]);
  t.regex(bad.line, /expected PEM "PUBLIC KEY" or "CERTIFICATE"/);
  const cert = join(tmp, 'cert.pem');
  const mk = spawnSync('openssl', ['req', '-x509', '-new', '-key', key, '-subj', '/CN=scomo-test', '-days', '1', '-out', cert], { stdio: 'pipe' });
  if (mk.status !== 0) { t.log('openssl command not available: certificate case not run'); return; }
  const r = await verify(['--trust-key', cert, 'rsa-pss-sha256', sigPss(small), SMALL]);
  t.is(r.code, 1200, r.line);
});

interface StubOutcome { code: number | null; stderr: string; out?: { hasVerify: boolean; requireSignature: boolean; results: Array<{ id: number; code: number; sync: boolean }> } }

function runStub(dir: string, cases: unknown[], extra: string[]): Promise<StubOutcome> {
  mkdirSync(join(dir, 'packages'), { recursive: true });
  writeFileSync(join(dir, 'packages', 'cases.json'), JSON.stringify(cases));
  const args = ['--server', 'http://127.0.0.1:9/dm', '--id', 'sig-1', '--client-user', 'u', '--client-secret', 's', '--server-id', 'srv',
    '--server-secret', 'ss', '--data', dir, '--bundle', STUB, '--once', '--timeout', '20', ...extra];
  return new Promise((resolve) => {
    execFile(NATIVE_AGENT, args, (err, _stdout, stderr) => {
      const line = stderr.split('\n').find((l) => l.includes('verify-stub '));
      const out = line ? JSON.parse(line.slice(line.indexOf('verify-stub ') + 'verify-stub '.length)) as StubOutcome['out'] : undefined;
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr, out });
    });
  });
}

test('scomo-native-agent verifies through host.verifyPackage, streams large packages and completes from its loop', async (t) => {
  const dir = join(tmp, 'dev-verify');
  const big = randomBytes(2_600_000 + 7); // several 1 MiB slices of the loop
  mkdirSync(join(dir, 'packages'), { recursive: true });
  writeFileSync(join(dir, 'packages', 'big.bin'), big);
  writeFileSync(join(dir, 'packages', 'small.bin'), small);
  const tampered = Buffer.from(big);
  tampered[2_000_000] ^= 0x80;
  writeFileSync(join(dir, 'packages', 'tampered.bin'), tampered);
  const base = { pkgId: 'p', storageKey: 'big.bin', size: big.length };
  const cases = [
    { id: 1, ...base, alg: 'ecdsa-p256-sha256', signature: sigEc(big) },
    { id: 2, ...base, alg: 'rsa-pss-sha256', signature: sigPss(big), sha256: sha256(big) },
    { id: 3, pkgId: 's', storageKey: 'small.bin', size: small.length, alg: 'rsa-pkcs1-sha256', signature: sigPkcs1(small) },
    { id: 4, ...base, storageKey: 'tampered.bin', alg: 'ecdsa-p256-sha256', signature: sigEc(big) },
    { id: 5, ...base, alg: 'ecdsa-p256-sha256', signature: sigEc(big), sha256: sha256(small) },
    { id: 6, ...base, storageKey: 'missing.bin', alg: 'ecdsa-p256-sha256', signature: sigEc(big) },
    { id: 7, ...base, size: big.length - 1, alg: 'ecdsa-p256-sha256', signature: sigEc(big) },
    { id: 8, ...base, alg: 'dsa-sha1', signature: sigEc(big) },
    { id: 9, ...base, alg: 'ecdsa-p256-sha256', signature: sigEc(big, ecOther.privateKey) },
  ];
  const r = await runStub(dir, cases, ['--trust-key', EC_PUB, '--trust-key', RSA_PUB, '--require-signature']);
  t.is(r.code, 0, r.stderr);
  t.truthy(r.out, r.stderr);
  t.true(r.out!.hasVerify);
  t.true(r.out!.requireSignature, 'requireSignature reaches AgentConfig');
  const byId = new Map(r.out!.results.map((x) => [x.id, x]));
  const want: Record<number, number> = { 1: 1200, 2: 1200, 3: 1200, 4: 1407, 5: 1407, 6: 1407, 7: 1407, 8: 1407, 9: 1407 };
  for (const [id, code] of Object.entries(want)) t.is(byId.get(Number(id))?.code, code, 'case ' + id + '\n' + r.stderr);
  t.true(r.out!.results.every((x) => !x.sync), 'no completion inside the verifyPackage call');
  t.regex(r.stderr, /verify: trusting 1 key\(s\) from .*ec\.pub/);
});

test('scomo-native-agent without --trust-key completes verifyPackage with 1407 and says why', async (t) => {
  const dir = join(tmp, 'dev-nokey');
  mkdirSync(join(dir, 'packages'), { recursive: true });
  writeFileSync(join(dir, 'packages', 'small.bin'), small);
  const r = await runStub(dir, [{ id: 1, pkgId: 'nk', storageKey: 'small.bin', size: small.length, alg: 'ecdsa-p256-sha256', signature: sigEc(small) }], []);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.out?.results, [{ id: 1, code: 1407, sync: false }]);
  t.false(r.out!.requireSignature);
  t.regex(r.stderr, /verify 1 of package nk: no trusted key configured \(--trust-key\): 1407/);
});

test('scomo-native-agent refuses to start with a --trust-key file that holds no public key', async (t) => {
  const bad = join(tmp, 'not-a-key.pem');
  writeFileSync(bad, 'hello\n');
  const r = await runStub(join(tmp, 'dev-badkey'), [], ['--trust-key', bad]);
  t.is(r.code, 1);
  t.regex(r.stderr, /cannot load --trust-key: .*not-a-key\.pem: expected PEM/);
});
