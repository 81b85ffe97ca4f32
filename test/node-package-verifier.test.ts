// Package signature verification on the Node host (targets/node/package-verifier.ts, NodeHost.
// verifyPackage, `scomo device --trust-key/--require-signature`): keys from PEM, the package
// streamed in chunks, each algorithm, every refusal a 1407, and signatures made by the openssl CLI.
import test from 'ava';
import { generateKeyPairSync, sign, constants, randomBytes, type KeyObject } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Agent } from '../src/agent/api.js';
import type { LogLevel, VerifyRequest } from '../src/agent/host.js';
import { loadTrustKeys, parseTrustKeys, verifyPackageSignature, VERIFY_CHUNK_BYTES, type TrustedKey } from '../targets/node/package-verifier.js';
import { NodeHost } from '../targets/node/host.js';

const dir = mkdtempSync(join(tmpdir(), 'scomo-verify-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const mk = (name: string): string => { const d = join(dir, name); mkdirSync(d, { recursive: true }); return d; };

const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherEc = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pub = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }) as string;
const priv = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }) as string;

// 300 KB: five 64 KiB chunks.
const pkg = new Uint8Array(randomBytes(300_000));
const trusted: TrustedKey[] = [...parseTrustKeys(pub(ec.publicKey), 'ec.pem'), ...parseTrustKeys(pub(rsa.publicKey), 'rsa.pem')];

function sig(alg: string, key: KeyObject, data: Uint8Array = pkg): string {
  if (alg === 'ecdsa-p256-sha256') return sign('sha256', data, { key, dsaEncoding: 'der' }).toString('base64');
  if (alg === 'rsa-pss-sha256') return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }).toString('base64');
  return sign('sha256', data, key).toString('base64');
}

function req(alg: string, signature: string, size = pkg.length): VerifyRequest {
  return { pkgId: 'p1', storageKey: 'k1', size, alg, signature };
}

function reader(data: Uint8Array, reads?: number[]): (off: number, len: number) => Uint8Array {
  return (off, len) => { reads?.push(len); return data.subarray(off, off + len); };
}

test('valid ECDSA, RSA PKCS#1 and RSA-PSS signatures verify (1200), streamed in chunks', async (t) => {
  for (const [alg, key] of [['ecdsa-p256-sha256', ec.privateKey], ['rsa-pkcs1-sha256', rsa.privateKey], ['rsa-pss-sha256', rsa.privateKey]] as const) {
    const reads: number[] = [];
    const r = await verifyPackageSignature(trusted, req(alg, sig(alg, key)), reader(pkg, reads));
    t.is(r.code, 1200, `${alg}: ${r.reason}`);
    t.true(reads.length >= Math.ceil(pkg.length / VERIFY_CHUNK_BYTES), `${alg} read in chunks`);
    t.true(reads.every((n) => n <= VERIFY_CHUNK_BYTES));
  }
});

test('a tampered byte, an untrusted key, an alg/key mismatch and an unknown alg are refused (1407)', async (t) => {
  const good = sig('ecdsa-p256-sha256', ec.privateKey);
  const tampered = pkg.slice();
  tampered[200_000] ^= 1;
  const bad = await verifyPackageSignature(trusted, req('ecdsa-p256-sha256', good), reader(tampered));
  t.is(bad.code, 1407);
  t.regex(bad.reason, /bad signature/);

  const untrusted = await verifyPackageSignature(trusted, req('ecdsa-p256-sha256', sig('ecdsa-p256-sha256', otherEc.privateKey)), reader(pkg));
  t.is(untrusted.code, 1407);

  // An RSA signature labelled ECDSA, and a PKCS#1 signature labelled PSS.
  t.is((await verifyPackageSignature(trusted, req('ecdsa-p256-sha256', sig('rsa-pkcs1-sha256', rsa.privateKey)), reader(pkg))).code, 1407);
  t.is((await verifyPackageSignature(trusted, req('rsa-pss-sha256', sig('rsa-pkcs1-sha256', rsa.privateKey)), reader(pkg))).code, 1407);
  // Only an EC key trusted: an RSA signature finds no key of its type.
  const onlyEc = trusted.filter((k) => k.kind === 'ec-p256');
  const noKey = await verifyPackageSignature(onlyEc, req('rsa-pkcs1-sha256', sig('rsa-pkcs1-sha256', rsa.privateKey)), reader(pkg));
  t.is(noKey.code, 1407);
  t.regex(noKey.reason, /no trusted key of the type/);

  const unknown = await verifyPackageSignature(trusted, req('ed25519', good), reader(pkg));
  t.is(unknown.code, 1407);
  t.regex(unknown.reason, /unknown signature algorithm/);
  t.is((await verifyPackageSignature(trusted, req('ecdsa-p256-sha256', 'not base64!'), reader(pkg))).code, 1407);
  t.is((await verifyPackageSignature(trusted, req('ecdsa-p256-sha256', 'AAAA'), reader(pkg))).code, 1407, 'garbage DER');
  const none = await verifyPackageSignature([], req('ecdsa-p256-sha256', good), reader(pkg));
  t.is(none.code, 1407);
  t.is(none.reason, 'no trusted signing key configured');
});

test('storage that ends early or throws is a 1407, not an exception', async (t) => {
  const good = sig('ecdsa-p256-sha256', ec.privateKey);
  const short = await verifyPackageSignature(trusted, req('ecdsa-p256-sha256', good), reader(pkg.subarray(0, 100_000)));
  t.is(short.code, 1407);
  t.regex(short.reason, /ended at 100000 of 300000/);
  const thrown = await verifyPackageSignature(trusted, req('ecdsa-p256-sha256', good), () => { throw new Error('EIO'); });
  t.is(thrown.code, 1407);
  t.regex(thrown.reason, /read failed at 0: EIO/);
  // Extra bytes beyond req.size are not part of the package.
  const longer = new Uint8Array(pkg.length + 10);
  longer.set(pkg);
  t.is((await verifyPackageSignature(trusted, req('ecdsa-p256-sha256', good), reader(longer))).code, 1200);
});

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

test('signatures made by `openssl dgst -sha256 -sign` verify; a certificate works as a trust key', async (t) => {
  writeFileSync(join(dir, 'pkg.bin'), pkg);
  writeFileSync(join(dir, 'ec-key.pem'), priv(ec.privateKey));
  writeFileSync(join(dir, 'rsa-key.pem'), priv(rsa.privateKey));
  openssl(['dgst', '-sha256', '-sign', 'ec-key.pem', '-out', 'ec.sig', 'pkg.bin']);
  openssl(['dgst', '-sha256', '-sign', 'rsa-key.pem', '-out', 'rsa.sig', 'pkg.bin']);
  openssl(['dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sign', 'rsa-key.pem', '-out', 'pss.sig', 'pkg.bin']);
  openssl(['req', '-x509', '-new', '-key', 'ec-key.pem', '-subj', '/CN=scomo test signer', '-days', '1', '-out', 'ec-cert.pem']);
  openssl(['req', '-x509', '-new', '-key', 'rsa-key.pem', '-subj', '/CN=scomo test signer', '-days', '1', '-out', 'rsa-cert.pem']);
  const b64 = (f: string): string => readFileSync(join(dir, f)).toString('base64');

  t.is((await verifyPackageSignature(trusted, req('ecdsa-p256-sha256', b64('ec.sig')), reader(pkg))).code, 1200);
  t.is((await verifyPackageSignature(trusted, req('rsa-pkcs1-sha256', b64('rsa.sig')), reader(pkg))).code, 1200);
  t.is((await verifyPackageSignature(trusted, req('rsa-pss-sha256', b64('pss.sig')), reader(pkg))).code, 1200);

  // Certificates as trust keys, several keys in one bundle file.
  writeFileSync(join(dir, 'bundle.pem'), readFileSync(join(dir, 'rsa-cert.pem'), 'utf8') + readFileSync(join(dir, 'ec-cert.pem'), 'utf8'));
  const certs = loadTrustKeys([join(dir, 'bundle.pem')]);
  t.deepEqual(certs.map((k) => k.kind), ['rsa', 'ec-p256']);
  const r = await verifyPackageSignature(certs, req('ecdsa-p256-sha256', b64('ec.sig')), reader(pkg));
  t.is(r.code, 1200);
  t.regex(r.reason, /bundle\.pem#2/);
  t.is((await verifyPackageSignature(certs, req('rsa-pss-sha256', b64('pss.sig')), reader(pkg))).code, 1200);
});

test('bad trust key files are one-line errors naming the file', (t) => {
  const f = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p; };
  const oneLine = (fn: () => unknown, re: RegExp): void => {
    const e = t.throws(fn);
    t.regex(e!.message, re);
    t.false(e!.message.includes('\n'), e!.message);
  };
  oneLine(() => loadTrustKeys([f('junk.pem', 'hello')]), /trust key .*junk\.pem: no PEM public key or certificate/);
  oneLine(() => loadTrustKeys([f('priv.pem', priv(ec.privateKey))]), /trust key .*priv\.pem: is a private key/);
  const p = pub(ec.publicKey).split('\n');
  p[1] = 'AAAA' + p[1].slice(4, 20);
  oneLine(() => loadTrustKeys([f('broken.pem', p.join('\n'))]), /trust key .*broken\.pem: /);
  oneLine(() => loadTrustKeys([f('csr.pem', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')]), /unexpected PEM block "CERTIFICATE REQUEST"/);
  oneLine(() => loadTrustKeys([join(dir, 'missing.pem')]), /trust key .*missing\.pem: cannot read it \(ENOENT\)/);
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  oneLine(() => loadTrustKeys([f('p384.pem', pub(p384.publicKey))]), /EC curve secp384r1 is not supported/);
  const ed = generateKeyPairSync('ed25519');
  oneLine(() => loadTrustKeys([pub(ed.publicKey)]), /trust key #1: key type ed25519 is not supported/);
  // PEM text and paths mix.
  t.is(loadTrustKeys([pub(ec.publicKey), f('rsa-pub.pem', pub(rsa.publicKey))]).length, 2);
});

/** A fake agent that records onVerifyDone. */
function recorder(): { agent: Agent; calls: Array<[number, number]>; next(): Promise<void> } {
  const calls: Array<[number, number]> = [];
  let wake: (() => void) | undefined;
  const agent = { onVerifyDone: (id: number, code: number) => { calls.push([id, code]); wake?.(); } } as unknown as Agent;
  return { agent, calls, next: () => new Promise<void>((r) => { wake = r; }) };
}

test('NodeHost.verifyPackage reads package storage and delivers onVerifyDone from the event loop', async (t) => {
  const logs: string[] = [];
  const host = new NodeHost({ dataDir: mk('host1'), trustKeys: [pub(ec.publicKey)], log: (l: LogLevel, m: string) => logs.push(`${l} ${m}`) });
  t.teardown(() => host.close());
  const rec = recorder();
  host.agent = rec.agent;
  t.is(host.packages.open('k1'), 'ok');
  for (let o = 0; o < pkg.length; o += 50_000) host.packages.append('k1', pkg.subarray(o, o + 50_000));

  let done = rec.next();
  host.verifyPackage(41, req('ecdsa-p256-sha256', sig('ecdsa-p256-sha256', ec.privateKey)));
  t.deepEqual(rec.calls, [], 'never inside the call');
  await done;
  t.deepEqual(rec.calls, [[41, 1200]]);

  done = rec.next();
  host.verifyPackage(42, req('ecdsa-p256-sha256', sig('ecdsa-p256-sha256', otherEc.privateKey)));
  t.is(rec.calls.length, 1);
  await done;
  t.deepEqual(rec.calls[1], [42, 1407]);
  t.true(logs.some((l) => /^warn package p1: refused \(1407\): bad signature/.test(l)), logs.join('\n'));

  // A package that is not (all) in storage: refused without creating a file for it.
  done = rec.next();
  host.verifyPackage(43, { ...req('ecdsa-p256-sha256', sig('ecdsa-p256-sha256', ec.privateKey)), storageKey: 'absent' });
  await done;
  t.deepEqual(rec.calls[2], [43, 1407]);
  t.false(existsSync(host.packages.path('absent')));
  t.true(logs.some((l) => l.includes('package storage holds 0 of 300000 bytes')));
});

test('NodeHost without trust keys refuses every signed package, asynchronously', async (t) => {
  const logs: string[] = [];
  const host = new NodeHost({ dataDir: mk('host2'), log: (_l, m) => logs.push(m) });
  t.teardown(() => host.close());
  const rec = recorder();
  host.agent = rec.agent;
  const done = rec.next();
  host.verifyPackage(7, req('ecdsa-p256-sha256', sig('ecdsa-p256-sha256', ec.privateKey)));
  t.deepEqual(rec.calls, []);
  await done;
  t.deepEqual(rec.calls, [[7, 1407]]);
  t.true(logs.some((m) => m.includes('no trusted signing key configured')));
});

test('NodeHost: nothing is delivered once the host is closed; a bad trust key fails the constructor', async (t) => {
  const host = new NodeHost({ dataDir: mk('host3'), trustKeys: [pub(ec.publicKey)] });
  const rec = recorder();
  host.agent = rec.agent;
  host.packages.open('k1');
  host.packages.append('k1', pkg);
  host.verifyPackage(1, req('ecdsa-p256-sha256', sig('ecdsa-p256-sha256', ec.privateKey)));
  host.close();
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(rec.calls, []);
  t.throws(() => new NodeHost({ dataDir: join(dir, 'host4'), trustKeys: [join(dir, 'nope.pem')] }), { message: /trust key .*nope\.pem: cannot read it/ });
});

function cli(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['bin/scomo.js', 'device', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    const kill = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (status) => { clearTimeout(kill); resolve({ status, stderr }); });
  });
}

test('scomo device: --trust-key (repeatable) and --require-signature', async (t) => {
  const base = ['--server', 'http://127.0.0.1:9/dm', '--id', 'd', '--client-user', 'd', '--client-secret', 's', '--server-id', 'srv', '--server-secret', 'ss', '--once', '--quiet'];
  const ecPem = join(dir, 'cli-ec.pem');
  const rsaPem = join(dir, 'cli-rsa.pem');
  writeFileSync(ecPem, pub(ec.publicKey));
  writeFileSync(rsaPem, pub(rsa.publicKey));
  const [bad, noKey, ok] = await Promise.all([
    cli([...base, '--data', join(dir, 'cli1'), '--trust-key', ecPem, '--trust-key', join(dir, 'absent.pem')]),
    cli([...base, '--data', join(dir, 'cli2'), '--require-signature']),
    // Keys load, so the run gets as far as the (unreachable) server.
    cli([...base, '--data', join(dir, 'cli3'), '--trust-key', ecPem, `--trust-key=${rsaPem}`, '--require-signature']),
  ]);
  t.is(bad.status, 1);
  t.regex(bad.stderr.trim(), /^scomo device: trust key .*absent\.pem: cannot read it \(ENOENT\)$/);
  t.is(noKey.status, 1);
  t.regex(noKey.stderr, /^scomo device: --require-signature needs at least one --trust-key/);
  t.is(ok.status, 1);
  t.regex(ok.stderr.trim(), /^scomo device: session failed: cannot reach/);
});
