// Package signature verification on the device: how fast the Node host's verifier (node:crypto,
// streamed in 64 KiB reads with an event-loop yield between them, as NodeHost runs it) and the
// native agent's (OpenSSL EVP, targets/c/build/scomo-verify) check a signed package. The check
// reads the whole package once, so the figure is MB/s of package; the signature operation itself
// is a constant few hundred microseconds.
import { generateKeyPairSync, createSign, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTrustKeys, verifyPackageSignature } from '../targets/node/package-verifier.js';
import { keyOptions } from '../targets/node/signature-keys.js';
import type { BenchOptions, BenchOutput } from './run.js';

const C_DIR = fileURLToPath(new URL('../targets/c', import.meta.url));

interface Alg { name: string; label: string; pair: { publicKey: KeyObject; privateKey: KeyObject } }

function signFile(bytes: Buffer, alg: Alg): string {
  const s = createSign('sha256');
  s.update(bytes);
  return s.sign(keyOptions(alg.name, alg.pair.privateKey)).toString('base64');
}

export async function run(o: BenchOptions): Promise<BenchOutput> {
  const mb = o.quick ? 16 : 64;
  const dir = mkdtempSync(join(tmpdir(), 'scomo-bench-sig-'));
  const out: BenchOutput = {};
  try {
    const bytes = Buffer.alloc(mb << 20);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i & 0xff;
    const file = join(dir, 'pkg.bin');
    writeFileSync(file, bytes);
    const algs: Alg[] = [
      { name: 'ecdsa-p256-sha256', label: 'ecdsa_p256', pair: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) },
      { name: 'rsa-pss-sha256', label: 'rsa_pss_3072', pair: generateKeyPairSync('rsa', { modulusLength: 3072 }) },
    ];
    let nativeOk = true;
    try { execFileSync('make', ['-s', '-C', C_DIR], { stdio: 'ignore' }); } catch { nativeOk = false; }
    for (const alg of algs) {
      const sig = signFile(bytes, alg);
      const pem = alg.pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      writeFileSync(join(dir, alg.label + '.pem'), pem);
      const keys = parseTrustKeys(pem, alg.label);
      const fd = openSync(file, 'r');
      const read = (off: number, len: number): Uint8Array => {
        const b = Buffer.alloc(len);
        return b.subarray(0, readSync(fd, b, 0, len, off));
      };
      const t0 = process.hrtime.bigint();
      const r = await verifyPackageSignature(keys, { pkgId: 'bench', storageKey: 'k', size: bytes.length, alg: alg.name, signature: sig }, read);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      closeSync(fd);
      if (r.code !== 1200) throw new Error('bench signature did not verify: ' + r.reason);
      out[`device.node.verify_mb_s.${alg.label}`] = { value: Math.round((mb / (ms / 1000)) * 10) / 10, unit: 'MB/s', how: `NodeHost verifier (node:crypto, 64 KiB reads, setImmediate between) over a ${mb} MB package, ${alg.name}` };
      if (nativeOk) {
        const t1 = process.hrtime.bigint();
        const res = execFileSync(join(C_DIR, 'build', 'scomo-verify'), ['--trust-key', join(dir, alg.label + '.pem'), alg.name, sig, file], { encoding: 'utf8' });
        const ms2 = Number(process.hrtime.bigint() - t1) / 1e6;
        if (!/^1200/.test(res)) throw new Error('native bench signature did not verify: ' + res);
        out[`device.native.verify_mb_s.${alg.label}`] = { value: Math.round((mb / (ms2 / 1000)) * 10) / 10, unit: 'MB/s', how: `targets/c scomo-verify (OpenSSL EVP, same code as the native agent) over a ${mb} MB package incl. process start, ${alg.name}` };
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
