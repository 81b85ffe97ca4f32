// Reference installers for the desktop device (the "hardware installer hooks" of a real box).
//  - DirectoryInstaller: application packages, a POSIX ustar with manifest.json at its root,
//    extracted while it streams out of package storage into a staging directory, then swapped
//    in; an update keeps the old version until the new one is complete, and keeps it on failure.
//  - AbFirmwareInstaller: firmware images written to the inactive of two slots, booted on
//    trial with a boot count, committed when the image confirms, rolled back automatically
//    when it does not within MAX_TRIAL_BOOTS.
// Each keeps a small ledger so that after a power cut the agent can ask whether an install committed.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { InstallRequest, InstallResult } from '../../src/agent/host.js';
import { createUstarReader } from '../../src/scomo/ustar.js';

export const RC_OK = 1200, RC_INSTALL_FAILED = 1405, RC_REMOVE_FAILED = 1408, RC_ACTIVATE_FAILED = 1409,
  RC_DEACTIVATE_FAILED = 1410, RC_NOT_IMPLEMENTED = 1411;

export type ReadPackage = (offset: number, length: number) => Uint8Array;

export interface NodeInstaller {
  readonly name: string;
  handles(pkgType: string): boolean;
  install(req: InstallRequest, read: ReadPackage): Promise<InstallResult>;
  owns(componentId: string): boolean;
  componentOp(op: 'activate' | 'deactivate' | 'remove', componentId: string): Promise<number>;
  installStatus(pkgId: string): InstallResult | undefined;
  /** Called once when the device boots (A/B: count a trial boot, commit or roll back). */
  boot?(): void;
}

const CHUNK = 64 * 1024;

/** Atomic JSON file: write temp, fsync, rename. */
function writeJson(file: string, v: unknown): void {
  const tmp = file + '.tmp';
  const fd = openSync(tmp, 'w');
  try { writeSync(fd, JSON.stringify(v, null, 1)); fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, file);
}

function readJson<T>(file: string, dflt: T): T {
  try { return JSON.parse(readFileSync(file, 'utf8')) as T; } catch { return dflt; }
}

/**
 * An installer's own state file: absent means "nothing yet" (`dflt`); present but unreadable or
 * of the wrong shape throws, naming the file. Falling back to defaults would forget installed
 * components or the committed firmware, and the next write would make that permanent.
 */
function readState<T>(file: string, dflt: T, valid: (v: unknown) => boolean): T {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return dflt;
    throw new Error(`${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let v: unknown;
  try { v = JSON.parse(text); } catch { v = undefined; }
  if (!valid(v)) throw new Error(`${file} is damaged (not the JSON this installer writes); move it away to start that installer afresh`);
  return v as T;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const isComponent = (v: unknown): boolean => isObject(v) && typeof v.id === 'string' && typeof v.name === 'string' && typeof v.version === 'string';

interface Manifest { id: string; name: string; version: string; description?: string }

function validManifest(v: unknown): Manifest | undefined {
  const m = v as Manifest;
  if (!m || typeof m !== 'object') return undefined;
  for (const k of ['id', 'name', 'version'] as const) if (typeof m[k] !== 'string' || !m[k]) return undefined;
  if (!/^[A-Za-z0-9._~-]{1,128}$/.test(m.id)) return undefined;
  return m;
}

interface DirLedger {
  installs: Record<string, { id: string; name: string; version: string; description?: string }>;
  active: Record<string, boolean>;
}

export class DirectoryInstaller implements NodeInstaller {
  readonly name = 'directory';
  private ledgerFile: string;

  constructor(private dir: string) {
    mkdirSync(dir, { recursive: true });
    this.ledgerFile = join(dir, '.ledger.json');
    // Staging left by a power cut is garbage: the swap never happened.
    for (const f of safeList(dir)) if (f.startsWith('.staging-')) rmSync(join(dir, f), { recursive: true, force: true });
  }

  handles(pkgType: string): boolean {
    return pkgType === 'application/x-tar' || pkgType === 'application/tar';
  }

  private ledger(): DirLedger {
    return readState<DirLedger>(this.ledgerFile, { installs: {}, active: {} }, (v) =>
      isObject(v) && isObject(v.installs) && Object.values(v.installs).every(isComponent)
      && isObject(v.active) && Object.values(v.active).every((a) => typeof a === 'boolean'));
  }

  /** At start: a damaged ledger stops the device with one line instead of being overwritten later. */
  boot(): void {
    this.ledger();
  }

  owns(id: string): boolean {
    return existsSync(join(this.dir, id, 'manifest.json'));
  }

  async install(req: InstallRequest, read: ReadPackage): Promise<InstallResult> {
    const staging = join(this.dir, '.staging-' + process.pid + '-' + Date.now());
    mkdirSync(staging);
    let fd = -1;
    let failure: string | undefined;
    const reader = createUstarReader(
      (h) => {
        const p = join(staging, h.name);
        if (h.type === 'directory') { mkdirSync(p, { recursive: true }); return; }
        mkdirSync(dirname(p), { recursive: true });
        fd = openSync(p, 'w', h.mode & 0o777 || 0o644);
      },
      (chunk) => { if (fd >= 0) writeSync(fd, chunk); },
      () => { /* end of archive */ },
      { onEntryEnd: () => { if (fd >= 0) { closeSync(fd); fd = -1; } }, maxEntries: 100000 },
    );
    try {
      for (let off = 0; off < req.size; off += CHUNK) {
        const err = reader.push(read(off, Math.min(CHUNK, req.size - off)));
        if (err) { failure = `package is not a valid ustar archive: ${err.kind} (${err.message}) at byte ${err.offset}`; break; }
        // Yield to the event loop between chunks so a big package never blocks the device.
        if ((off / CHUNK) % 16 === 15) await new Promise((r) => setImmediate(r));
      }
      if (!failure) {
        const err = reader.end();
        if (err) failure = `package is not a valid ustar archive: ${err.kind} (${err.message})`;
      }
      let m: Manifest | undefined;
      if (!failure) {
        m = validManifest(readJson(join(staging, 'manifest.json'), undefined));
        if (!m) failure = 'manifest.json missing or invalid (needs id, name, version)';
      }
      if (failure || !m) return { resultCode: RC_INSTALL_FAILED };
      const target = join(this.dir, m.id);
      const old = join(this.dir, '.old-' + m.id);
      rmSync(old, { recursive: true, force: true });
      // The old version stays in place until the new one is complete, then the swap is two renames.
      if (existsSync(target)) renameSync(target, old);
      renameSync(staging, target);
      rmSync(old, { recursive: true, force: true });
      const component = { id: m.id, name: m.name, version: m.version, ...(m.description ? { description: m.description } : {}) };
      const l = this.ledger();
      l.installs[req.pkgId] = component;
      l.active[m.id] = req.activate;
      writeJson(this.ledgerFile, l);
      return { resultCode: RC_OK, component };
    } catch {
      return { resultCode: RC_INSTALL_FAILED };
    } finally {
      if (fd >= 0) closeSync(fd);
      rmSync(staging, { recursive: true, force: true });
    }
  }

  installStatus(pkgId: string): InstallResult | undefined {
    const c = this.ledger().installs[pkgId];
    return c && this.owns(c.id) ? { resultCode: RC_OK, component: c } : undefined;
  }

  isActive(id: string): boolean {
    return !!this.ledger().active[id];
  }

  async componentOp(op: 'activate' | 'deactivate' | 'remove', id: string): Promise<number> {
    // Remove is idempotent: after a power cut the agent re-issues it, and "already gone" is success.
    if (!this.owns(id)) return op === 'remove' ? RC_OK : op === 'activate' ? RC_ACTIVATE_FAILED : RC_DEACTIVATE_FAILED;
    const l = this.ledger();
    if (op === 'remove') {
      rmSync(join(this.dir, id), { recursive: true, force: true });
      delete l.active[id];
      for (const k of Object.keys(l.installs)) if (l.installs[k].id === id) delete l.installs[k];
    } else l.active[id] = op === 'activate';
    writeJson(this.ledgerFile, l);
    return RC_OK;
  }
}

function safeList(dir: string): string[] {
  try { return readdirSync(dir); } catch { return []; }
}

// ---- A/B firmware ----

/** Firmware image: one JSON header line {"id","name","version","healthy"?} then the image bytes. */
export const FIRMWARE_TYPE = 'application/vnd.openscomo.firmware';
export const MAX_TRIAL_BOOTS = 3;

interface AbState {
  active: 'a' | 'b';
  slots: { a?: Manifest; b?: Manifest };
  trial?: { slot: 'a' | 'b'; bootCount: number; pkgId: string; healthy: boolean };
  committed: Record<string, Manifest>;
  log: string[];
}

export class AbFirmwareInstaller implements NodeInstaller {
  readonly name = 'ab-firmware';
  private stateFile: string;

  constructor(private dir: string, initial: Manifest = { id: 'firmware', name: 'Base firmware', version: '1.0' }) {
    mkdirSync(dir, { recursive: true });
    this.stateFile = join(dir, 'state.json');
    if (!existsSync(this.stateFile)) writeJson(this.stateFile, { active: 'a', slots: { a: initial }, committed: {}, log: [] } satisfies AbState);
  }

  handles(pkgType: string): boolean {
    return pkgType === FIRMWARE_TYPE;
  }

  state(): AbState {
    return readState<AbState>(this.stateFile, { active: 'a', slots: {}, committed: {}, log: [] }, (v) =>
      isObject(v) && (v.active === 'a' || v.active === 'b') && isObject(v.slots) && Object.values(v.slots).every(isComponent)
      && isObject(v.committed) && Object.values(v.committed).every(isComponent) && Array.isArray(v.log)
      && (v.trial === undefined || (isObject(v.trial) && (v.trial.slot === 'a' || v.trial.slot === 'b') && typeof v.trial.bootCount === 'number')));
  }

  owns(id: string): boolean {
    const s = this.state();
    return s.slots[s.active]?.id === id;
  }

  async install(req: InstallRequest, read: ReadPackage): Promise<InstallResult> {
    const s = this.state();
    const slot: 'a' | 'b' = s.active === 'a' ? 'b' : 'a';
    const img = join(this.dir, `slot-${slot}.img`);
    const fd = openSync(img, 'w');
    let head = '';
    try {
      for (let off = 0; off < req.size; off += CHUNK) {
        const b = read(off, Math.min(CHUNK, req.size - off));
        if (head.length < 4096 && !head.includes('\n')) head += Buffer.from(b.subarray(0, 4096)).toString('utf8');
        writeSync(fd, b);
      }
      fsyncSync(fd);
    } finally { closeSync(fd); }
    const line = head.split('\n')[0];
    let hdr: (Manifest & { healthy?: boolean }) | undefined;
    try { hdr = JSON.parse(line); } catch { hdr = undefined; }
    const m = validManifest(hdr);
    if (!m) return { resultCode: RC_INSTALL_FAILED };
    s.slots[slot] = m;
    s.trial = { slot, bootCount: 0, pkgId: req.pkgId, healthy: hdr!.healthy !== false };
    s.log.push(`installed ${m.version} into slot ${slot}, trial boot pending`);
    writeJson(this.stateFile, s);
    // The emulated box reboots into the new slot until it confirms or the boot count runs out.
    while (this.state().trial) this.boot();
    const after = this.state();
    return after.committed[req.pkgId] ? { resultCode: RC_OK, component: after.committed[req.pkgId] } : { resultCode: RC_INSTALL_FAILED };
  }

  /** One boot: a pending trial slot gets a boot; it commits if healthy, rolls back after MAX_TRIAL_BOOTS. */
  boot(): void {
    const s = this.state();
    if (!s.trial) return;
    s.trial.bootCount++;
    if (s.trial.healthy) {
      s.active = s.trial.slot;
      s.committed[s.trial.pkgId] = s.slots[s.trial.slot]!;
      s.log.push(`slot ${s.trial.slot} confirmed after ${s.trial.bootCount} boot(s), committed`);
      delete s.trial;
    } else if (s.trial.bootCount >= MAX_TRIAL_BOOTS) {
      s.log.push(`slot ${s.trial.slot} never confirmed in ${s.trial.bootCount} boots, rolled back to slot ${s.active}`);
      delete s.trial;
    }
    writeJson(this.stateFile, s);
  }

  installStatus(pkgId: string): InstallResult | undefined {
    const c = this.state().committed[pkgId];
    return c ? { resultCode: RC_OK, component: c } : undefined;
  }

  async componentOp(op: 'activate' | 'deactivate' | 'remove'): Promise<number> {
    // Firmware is always active and cannot be removed; the slot switch is the install itself.
    return op === 'activate' ? RC_OK : RC_NOT_IMPLEMENTED;
  }
}
