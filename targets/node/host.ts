// The Host port on Node: the desktop emulated device. Every async completion is delivered to
// the agent from Node's event loop, never from inside the call that requested it.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Host, InstallRequest, InstallResult, LogLevel, VerifyRequest } from '../../src/agent/host.js';
import { EventLoopHost } from './event-loop-host.js';
import type { CryptoProvider, HashStream } from '../../src/crypto/provider.js';
import type { Flash } from '../../src/store/api.js';
import { FileFlash } from './file-flash.js';
import { PackageFiles } from './package-files.js';
import { loadTrustKeys, verifyPackageSignature, RC_BAD_SIGNATURE, type TrustedKey } from './package-verifier.js';
import { AbFirmwareInstaller, DirectoryInstaller, RC_INSTALL_FAILED, type NodeInstaller } from './installers.js';

export interface NodeHostOptions {
  dataDir: string;
  /** Config flash partition (tree + job journal). Default 1 MiB in 4 KiB blocks. */
  flashBytes?: number;
  blockBytes?: number;
  /** Use this flash instead of a file (tests: a cut-able MemFlash). */
  flash?: Flash;
  /** Package storage limit (bytes), to exercise 1404. */
  maxPackageBytes?: number;
  /** PEM CA bundle for HTTPS servers with a private CA. */
  ca?: string | Buffer;
  /** Socket inactivity limit for HTTP (DM server, downloads), ms (default 30 s). */
  timeoutMs?: number;
  log?: (level: LogLevel, message: string) => void;
  installers?: NodeInstaller[];
  /**
   * Keys that signed packages must verify against (Host.verifyPackage). Each entry is PEM text
   * (contains "-----BEGIN") or the path of a PEM file holding public keys and/or X.509
   * certificates (EC P-256 or RSA). Loaded in the constructor, which throws a one-line Error for
   * a bad entry. None: every signed package is refused (1407).
   */
  trustKeys?: string[];
}

const UNSUPPORTED_ENV = 1413;

export class NodeHost extends EventLoopHost implements Host {
  readonly flash: Flash;
  readonly packages: PackageFiles;
  readonly installers: NodeInstaller[];
  readonly trustKeys: TrustedKey[];
  /** Native hashes (node:crypto): packages are hashed while they stream. */
  readonly crypto: CryptoProvider = { createSha256: () => nodeHash('sha256'), createMd5: () => nodeHash('md5') };

  constructor(private opts: NodeHostOptions) {
    super({ ...(opts.log ? { log: opts.log } : {}), ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
    // First, so a bad key file fails before any file is opened.
    this.trustKeys = loadTrustKeys(opts.trustKeys ?? []);
    const file = opts.flash ? undefined : new FileFlash(join(opts.dataDir, 'flash.bin'), opts.flashBytes ?? 1 << 20, opts.blockBytes ?? 4096);
    this.flash = opts.flash ?? file!;
    try {
      this.packages = new PackageFiles(join(opts.dataDir, 'packages'), opts.maxPackageBytes);
      this.installers = opts.installers ?? [
        new DirectoryInstaller(join(opts.dataDir, 'components')),
        new AbFirmwareInstaller(join(opts.dataDir, 'firmware')),
      ];
      for (const i of this.installers) {
        // A state file damaged outside the device must not surface as a bare TypeError.
        try { i.boot?.(); } catch (e) {
          throw new Error(`the ${i.name} installer cannot boot from its state: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    } catch (e) {
      // The caller never gets this host to close: the flash file must not stay open.
      file?.close();
      throw e;
    }
  }

  install(id: number, req: InstallRequest): void {
    if (this.closed) return;
    const inst = this.installers.find((i) => i.handles(req.pkgType));
    const done = (r: InstallResult): void => { setImmediate(() => this.deliver((a) => a.onInstallDone(id, r))); };
    if (!inst) { this.log('warn', `no installer for PkgType ${req.pkgType}`); done({ resultCode: UNSUPPORTED_ENV }); return; }
    this.log('info', `installing ${req.pkgId} (${req.size} bytes) with the ${inst.name} installer`);
    inst.install(req, (off, len) => this.packages.read(req.storageKey, off, len)).then(done, (e: unknown) => {
      this.log('error', 'installer failed: ' + (e instanceof Error ? e.message : String(e)));
      done({ resultCode: RC_INSTALL_FAILED });
    });
  }

  componentOp(id: number, op: 'activate' | 'deactivate' | 'remove', componentId: string): void {
    if (this.closed) return;
    const inst = this.installers.find((i) => i.owns(componentId));
    const done = (code: number): void => { setImmediate(() => this.deliver((a) => a.onComponentOpDone(id, code))); };
    // No installer owns it: a Remove re-issued after a power cut finds it already gone (success).
    if (!inst) { done(op === 'remove' ? 1200 : op === 'activate' ? 1409 : 1410); return; }
    inst.componentOp(op, componentId).then(done, () => done(1412));
  }

  verifyPackage(id: number, req: VerifyRequest): void {
    if (this.closed) return;
    const done = (code: number, reason: string): void => {
      if (this.closed) return;
      this.log(code === 1200 ? 'info' : 'warn', `package ${req.pkgId}: ${code === 1200 ? '' : `refused (${code}): `}${reason}`);
      setImmediate(() => this.deliver((a) => a.onVerifyDone(id, code)));
    };
    // Checked first: reading a key that has no file would create an empty one.
    const stored = this.packages.size(req.storageKey);
    if (this.trustKeys.length && stored < req.size) { Promise.resolve().then(() => done(RC_BAD_SIGNATURE, `package storage holds ${stored} of ${req.size} bytes`)); return; }
    verifyPackageSignature(this.trustKeys, req, (off, len) => this.packages.read(req.storageKey, off, len), { aborted: () => this.closed })
      .then((r) => done(r.code, r.reason), (e: unknown) => done(RC_BAD_SIGNATURE, 'verifier failed: ' + (e instanceof Error ? e.message : String(e))));
  }

  installStatus(pkgId: string): InstallResult | undefined {
    for (const i of this.installers) {
      const r = i.installStatus(pkgId);
      if (r) return r;
    }
    return undefined;
  }

  /**
   * Power failure: from now on nothing the agent asks for happens and no event reaches it
   * (tests cut the flash and call this from the flash wrapper).
   */
  powerFail(): void {
    this.stopIo();
  }

  get dead(): boolean {
    return this.closed;
  }

  close(): void {
    this.stopIo();
    this.packages.close();
    const f = this.flash as { close?: () => void };
    if (f.close) f.close();
  }
}

function nodeHash(alg: string): HashStream {
  const h = createHash(alg);
  return { update: (d) => { h.update(d); }, digest: () => new Uint8Array(h.digest()) };
}
