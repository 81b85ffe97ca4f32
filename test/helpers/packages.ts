// Builds SCOMO test packages: application tarballs (ustar with manifest.json at the root, made
// with GNU tar) and A/B firmware images (a JSON header line, then filler bytes).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface AppPackage {
  id: string;
  name: string;
  version: string;
  description?: string;
  /** Extra files: path -> content. */
  files?: Record<string, string | Uint8Array>;
  /** Size of an extra binary payload file (deterministic bytes), for big packages. */
  payloadBytes?: number;
  /** Leave manifest.json out (an invalid package). */
  noManifest?: boolean;
}

export function makeAppPackage(p: AppPackage): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-pkg-'));
  try {
    const root = join(dir, 'root');
    mkdirSync(root);
    if (!p.noManifest) {
      const m: Record<string, string> = { id: p.id, name: p.name, version: p.version };
      if (p.description) m.description = p.description;
      writeFileSync(join(root, 'manifest.json'), JSON.stringify(m));
    }
    for (const [path, content] of Object.entries(p.files ?? { 'bin/run.sh': `#!/bin/sh\necho ${p.id} ${p.version}\n` })) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    if (p.payloadBytes) {
      const b = Buffer.alloc(p.payloadBytes);
      let x = 2463534242;
      for (let i = 0; i < b.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 255; }
      writeFileSync(join(root, 'payload.bin'), b);
    }
    const out = join(dir, 'pkg.tar');
    execFileSync('tar', ['--format=ustar', '-cf', out, '-C', root, '.']);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function makeFirmware(p: { id?: string; name?: string; version: string; healthy?: boolean; bytes?: number }): Buffer {
  const head = JSON.stringify({ id: p.id ?? 'firmware', name: p.name ?? 'Firmware', version: p.version, healthy: p.healthy !== false }) + '\n';
  return Buffer.concat([Buffer.from(head), Buffer.alloc(p.bytes ?? 4096, 0x5a)]);
}
