// Runs the agent bundle (dist/scomo-agent.quickjs.js, or a fresh esbuild of targets/quickjs/entry.ts)
// inside a QuickJS context (quickjs-emscripten), with a Host implemented in Node injected as
// native functions. Bytes cross the boundary as ArrayBuffers and structured values as JSON
// text: quickjs-emscripten cuts plain strings at U+0000 (runtime notes §1.4).
//
// Memory: `setMemoryLimit` is not a byte cap in the wasm build (notes §1.2), so the budget is
// enforced by sampling `memory_used_size` from the interrupt handler and after every event;
// going over it interrupts the guest. The peak of those samples is what we report.
import { getQuickJS, type QuickJSContext, type QuickJSHandle, type QuickJSRuntime } from 'quickjs-emscripten';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { Agent, AgentConfig, AgentStatus } from '../../src/agent/api.js';
import type { Host, InstallResult } from '../../src/agent/host.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export async function buildQuickJSBundle(): Promise<string> {
  const r = await build({
    entryPoints: [root + 'targets/quickjs/entry.ts'], bundle: true, write: false, format: 'iife',
    target: 'es2020', minify: true, logLevel: 'silent', legalComments: 'none',
  });
  return r.outputFiles[0].text;
}

export interface QuickJSAgentOptions {
  /** Bundle source; built from targets/quickjs/entry.ts when absent. */
  bundle?: string;
  /** Heap budget in bytes (memory_used_size); default 1 MiB. */
  memoryBudget?: number;
  /** CPU budget per host event, ms. */
  cpuBudgetMs?: number;
  /**
   * Largest piece of an HTTP body handed to the guest in one onHttpChunk, bytes (default 16 KiB).
   * Node reads sockets in up to 64 KiB pieces; every byte of a piece is guest heap while the
   * agent handles it, so bigger pieces are only a higher peak (targets/host-abi.md).
   */
  maxChunkBytes?: number;
  /**
   * What QuickJS keeps of the code besides bytecode (JS_SetStripInfo): 'debug' (default) keeps
   * neither function source text nor line tables, 'source' drops only the source text, 'none'
   * keeps both. Source text alone is ~175 KB of heap for the agent bundle (every function keeps
   * its text for Function.prototype.toString, nested ones inside their parents'); see
   * stripCode below. Guest errors keep their messages either way.
   */
  strip?: 'none' | 'source' | 'debug';
  /** Keeps QuickJS's memory breakdown (computeMemoryUsage) of the highest sample (investigation aid). */
  keepPeakBreakdown?: boolean;
}

export interface QuickJSAgent extends Agent {
  /** Highest memory_used_size seen, bytes. */
  peakHeap(): number;
  heapNow(): number;
  /** QuickJS's memory breakdown now (JS_ComputeMemoryUsage: atoms, strings, objects, bytecode...). */
  memoryUsage(): Record<string, number>;
  /** The breakdown at the peak, when `keepPeakBreakdown` was set. */
  peakBreakdown(): Record<string, number> | undefined;
  dispose(): void;
}

const PRELUDE = `
var R = __raw;
function u8(ab) { return ab ? new Uint8Array(ab) : new Uint8Array(0); }
var host = {
  flash: {
    size: R.flashSize, blockSize: R.blockSize,
    read: function (o, n) { return u8(R.flashRead(o, n)); },
    program: function (o, b) { R.flashProgram(o, b); },
    erase: function (i) { R.flashErase(i); }
  },
  packages: {
    open: function (k) { return R.pkgOpen(k); },
    append: function (k, b) { return R.pkgAppend(k, b); },
    size: function (k) { return R.pkgSize(k); },
    truncate: function (k, n) { return R.pkgTruncate(k, n); },
    sync: function (k) { return R.pkgSync(k); },
    read: function (k, o, n) { return u8(R.pkgRead(k, o, n)); },
    remove: function (k) { R.pkgRemove(k); }
  },
  now: function () { return R.now(); },
  random: function (n) { return u8(R.random(n)); },
  log: function (l, m) { R.log(l, JSON.stringify(String(m))); },
  httpRequest: function (id, q) { R.httpRequest(id, JSON.stringify({ method: q.method, url: q.url, headers: q.headers }), q.body || undefined); },
  httpCancel: function (id) { R.httpCancel(id); },
  setTimer: function (id, ms) { R.setTimer(id, ms); },
  clearTimer: function (id) { R.clearTimer(id); },
  install: function (id, q) { R.install(id, JSON.stringify(q)); },
  componentOp: function (id, op, c) { R.componentOp(id, op, JSON.stringify(c)); },
  installStatus: function (p) { var s = R.installStatus(p); return s ? JSON.parse(s) : undefined; }
};
// Optional hook: absent when the Node host has none, so the agent sees the same host shape.
if (R.verifyPackage) host.verifyPackage = function (id, q) { R.verifyPackage(id, JSON.stringify(q)); };
if (R.hashNew) {
  var mk = function (alg) {
    return function () {
      var id = R.hashNew(alg);
      return { update: function (d) { R.hashUpdate(id, d); }, digest: function () { return u8(R.hashDigest(id)); } };
    };
  };
  host.crypto = { createSha256: mk('sha256'), createMd5: mk('md5') };
}
var __agent = ScomoAgent.create(host, JSON.parse(__config));
var __ev = {
  boot: function () { __agent.boot(); },
  connect: function () { __agent.connect(); },
  pkg0: function (ab) { __agent.onPackage0(u8(ab)); },
  timer: function (id) { __agent.onTimer(id); },
  resp: function (id, st, h) { __agent.onHttpResponse(id, st, JSON.parse(h)); },
  chunk: function (id, ab) { __agent.onHttpChunk(id, u8(ab)); },
  end: function (id) { __agent.onHttpEnd(id); },
  err: function (id, r) { __agent.onHttpError(id, JSON.parse(r)); },
  inst: function (id, r) { __agent.onInstallDone(id, JSON.parse(r)); },
  op: function (id, c) { __agent.onComponentOpDone(id, c); },
  verify: function (id, c) { __agent.onVerifyDone(id, c); },
  req: function (n, v) { __agent.requestComponent(JSON.parse(n), v ? JSON.parse(v) : undefined); },
  idle: function () { return __agent.idle(); },
  status: function () { return JSON.stringify(__agent.status()); }
};
`;

/** Copies bytes out of a guest ArrayBuffer or typed array (views honoured). */
function readBytes(ctx: QuickJSContext, h: QuickJSHandle): Uint8Array {
  if (ctx.typeof(h) !== 'object') return new Uint8Array(0);
  const bufH = ctx.getProp(h, 'buffer');
  if (ctx.typeof(bufH) === 'undefined') {
    bufH.dispose();
    return ctx.getArrayBuffer(h).consume((l) => l.value.slice());
  }
  const off = ctx.getProp(h, 'byteOffset').consume(ctx.getNumber);
  const len = ctx.getProp(h, 'byteLength').consume(ctx.getNumber);
  return bufH.consume((b) => ctx.getArrayBuffer(b).consume((l) => l.value.slice(off, off + len)));
}

// JS_SetStripInfo is not exported by quickjs-emscripten, so the flag is set in JSRuntime directly:
// strip_flags sits at this byte offset in the build below (found by probing every offset of a
// fresh runtime; only this one turns Function.prototype.toString into '[native code]').
// Any other build is left unstripped, and this one is re-checked on a throwaway runtime first.
const STRIP_BUILD = '0.32.0';
const STRIP_FLAGS_OFFSET = 228;
const STRIP_SOURCE = 1;
const STRIP_DEBUG = 2;
let stripChecked: boolean | undefined;

type RuntimeInternals = { module: { HEAPU8: Uint8Array }; rt: { value: number } };

function buildVersion(): string {
  try {
    const req = createRequire(import.meta.url);
    return (req('@jitl/quickjs-wasmfile-release-sync/package.json') as { version: string }).version;
  } catch {
    return '';
  }
}

/** Sets the runtime's strip flags when this QuickJS build is the one whose layout we know. */
function stripCode(QuickJS: Awaited<ReturnType<typeof getQuickJS>>, rt: QuickJSRuntime, flags: number): boolean {
  if (stripChecked === undefined) {
    stripChecked = false;
    if (buildVersion() === STRIP_BUILD) {
      const probe = QuickJS.newRuntime();
      const p = probe as unknown as RuntimeInternals;
      if (p.module.HEAPU8[p.rt.value + STRIP_FLAGS_OFFSET] === 0) {
        p.module.HEAPU8[p.rt.value + STRIP_FLAGS_OFFSET] = STRIP_SOURCE;
        const c = probe.newContext();
        const r = c.evalCode('(function f(){ return 1 }).toString()');
        const text = r.error ? '' : c.getString(r.value);
        (r.error ?? r.value).dispose();
        c.dispose();
        stripChecked = text.indexOf('[native code]') >= 0 && text.indexOf('return 1') < 0;
      }
      probe.dispose();
    }
  }
  if (!stripChecked) return false;
  const i = rt as unknown as RuntimeInternals;
  i.module.HEAPU8[i.rt.value + STRIP_FLAGS_OFFSET] = flags;
  return true;
}

export async function createQuickJSAgent(host: Host, config: AgentConfig, opts: QuickJSAgentOptions = {}): Promise<QuickJSAgent> {
  const bundle = opts.bundle ?? await buildQuickJSBundle();
  const budget = opts.memoryBudget ?? 1 << 20;
  const cpuMs = opts.cpuBudgetMs ?? 10_000;
  const maxChunk = Math.max(1, opts.maxChunkBytes ?? 16 << 10);
  const QuickJS = await getQuickJS();
  const rt: QuickJSRuntime = QuickJS.newRuntime();
  rt.setMaxStackSize(256 << 10);
  // Rejects any single allocation above the budget (the only thing the wasm limit enforces).
  rt.setMemoryLimit(budget);
  const strip = opts.strip ?? 'debug';
  if (strip !== 'none' && !stripCode(QuickJS, rt, strip === 'debug' ? STRIP_SOURCE | STRIP_DEBUG : STRIP_SOURCE)) {
    host.log('warn', 'QuickJS: this build cannot strip code; function sources stay on the heap');
  }
  const ctx = rt.newContext();
  let peak = 0;
  let peakUsage: Record<string, number> | undefined;
  let deadline = Date.now() + cpuMs;
  let overBudget = false;
  const used = (): number => {
    const h = rt.computeMemoryUsage();
    const u = ctx.getProp(h, 'memory_used_size').consume(ctx.getNumber);
    if (u > peak) {
      peak = u;
      if (opts.keepPeakBreakdown) peakUsage = ctx.dump(h) as Record<string, number>;
    }
    h.dispose();
    return u;
  };
  rt.setInterruptHandler(() => {
    if (used() > budget) { overBudget = true; return true; }
    return Date.now() > deadline;
  });

  const raw = ctx.newObject();
  const fn = (name: string, f: (...args: QuickJSHandle[]) => QuickJSHandle | void): void => {
    ctx.newFunction(name, f).consume((h) => ctx.setProp(raw, name, h));
  };
  const num = (h: QuickJSHandle): number => ctx.getNumber(h);
  const str = (h: QuickJSHandle): string => ctx.getString(h);
  const ab = (b: Uint8Array): QuickJSHandle => ctx.newArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer);
  ctx.setProp(raw, 'flashSize', ctx.newNumber(host.flash.size));
  ctx.setProp(raw, 'blockSize', ctx.newNumber(host.flash.blockSize));
  fn('flashRead', (o, n) => ab(host.flash.read(num(o), num(n))));
  fn('flashProgram', (o, b) => { host.flash.program(num(o), readBytes(ctx, b)); });
  fn('flashErase', (i) => { host.flash.erase(num(i)); });
  fn('pkgOpen', (k) => ctx.newString(host.packages.open(str(k))));
  fn('pkgAppend', (k, b) => ctx.newString(host.packages.append(str(k), readBytes(ctx, b))));
  fn('pkgSize', (k) => ctx.newNumber(host.packages.size(str(k))));
  fn('pkgTruncate', (k, n) => ctx.newString(host.packages.truncate(str(k), num(n))));
  fn('pkgSync', (k) => ctx.newString(host.packages.sync(str(k))));
  fn('pkgRead', (k, o, n) => ab(host.packages.read(str(k), num(o), num(n))));
  fn('pkgRemove', (k) => { host.packages.remove(str(k)); });
  fn('now', () => ctx.newNumber(host.now()));
  fn('random', (n) => ab(host.random(num(n))));
  fn('log', (l, m) => { host.log(str(l) as 'info', JSON.parse(str(m)) as string); });
  fn('httpRequest', (id, q, body) => {
    const req = JSON.parse(str(q));
    const b = ctx.typeof(body) === 'object' ? readBytes(ctx, body) : undefined;
    host.httpRequest(num(id), b ? { ...req, body: b } : req);
  });
  // A body being handed over piece by piece stops at a cancel from inside one of its pieces.
  let splitting = -1;
  let splitCancelled = false;
  fn('httpCancel', (id) => {
    if (num(id) === splitting) splitCancelled = true;
    host.httpCancel(num(id));
  });
  fn('setTimer', (id, ms) => { host.setTimer(num(id), num(ms)); });
  fn('clearTimer', (id) => { host.clearTimer(num(id)); });
  fn('install', (id, q) => { host.install(num(id), JSON.parse(str(q))); });
  fn('componentOp', (id, op, c) => { host.componentOp(num(id), str(op) as 'activate', JSON.parse(str(c)) as string); });
  if (host.verifyPackage) {
    const verify = host.verifyPackage.bind(host);
    fn('verifyPackage', (id, q) => { verify(num(id), JSON.parse(str(q))); });
  }
  fn('installStatus', (p) => {
    const r = host.installStatus ? host.installStatus(str(p)) : undefined;
    return r ? ctx.newString(JSON.stringify(r)) : ctx.undefined;
  });
  if (host.crypto && host.crypto.createSha256 && host.crypto.createMd5) {
    // Native hashes cross the boundary by handle: the guest keeps an id, the stream stays here.
    const streams = new Map<number, { update(d: Uint8Array): void; digest(): Uint8Array }>();
    let next = 1;
    const c = host.crypto;
    fn('hashNew', (alg) => {
      const id = next++;
      streams.set(id, str(alg) === 'md5' ? c.createMd5!() : c.createSha256!());
      return ctx.newNumber(id);
    });
    fn('hashUpdate', (id, d) => { streams.get(num(id))?.update(readBytes(ctx, d)); });
    fn('hashDigest', (id) => {
      const s = streams.get(num(id));
      streams.delete(num(id));
      return ab(s ? s.digest() : new Uint8Array(0));
    });
  }
  ctx.setProp(ctx.global, '__raw', raw);
  raw.dispose();
  ctx.setProp(ctx.global, '__config', ctx.newString(JSON.stringify(config)));

  const evalOrThrow = (code: string, name: string): void => {
    const r = ctx.evalCode(code, name);
    if (r.error) {
      const e = ctx.dump(r.error);
      r.error.dispose();
      throw new Error(`QuickJS: ${name}: ${typeof e === 'object' && e ? (e as { message?: string }).message : String(e)}`);
    }
    r.value.dispose();
  };
  evalOrThrow(bundle, 'scomo-agent.quickjs.js');
  evalOrThrow(PRELUDE, 'prelude.js');
  used();

  const ev = ctx.getProp(ctx.global, '__ev');
  let disposed = false;
  /** Calls __ev[name](...args) with a fresh CPU deadline; guest errors are logged, never thrown at the host. */
  const call = (name: string, args: Array<number | string | Uint8Array>): QuickJSHandle | undefined => {
    if (disposed) return undefined;
    deadline = Date.now() + cpuMs;
    const hs = args.map((a) => typeof a === 'number' ? ctx.newNumber(a) : typeof a === 'string' ? ctx.newString(a) : ab(a));
    const f = ctx.getProp(ev, name);
    const r = ctx.callFunction(f, ev, ...hs);
    f.dispose();
    for (const h of hs) h.dispose();
    used();
    if (r.error) {
      const e = ctx.dump(r.error);
      r.error.dispose();
      const msg = typeof e === 'object' && e ? (e as { message?: string }).message : String(e);
      host.log('error', `agent (QuickJS) ${name}: ${overBudget ? 'heap budget exceeded: ' : ''}${msg}`);
      overBudget = false;
      return undefined;
    }
    return r.value;
  };
  const callVoid = (name: string, ...args: Array<number | string | Uint8Array>): void => { call(name, args)?.dispose(); };

  return {
    boot: () => callVoid('boot'),
    connect: () => callVoid('connect'),
    onPackage0: (b) => callVoid('pkg0', b),
    onTimer: (id) => callVoid('timer', id),
    onHttpResponse: (id, st, h) => callVoid('resp', id, st, JSON.stringify(h)),
    onHttpChunk: (id, b) => {
      if (b.length <= maxChunk) { callVoid('chunk', id, b); return; }
      splitting = id;
      splitCancelled = false;
      for (let at = 0; at < b.length && !splitCancelled && !disposed; at += maxChunk) {
        callVoid('chunk', id, b.subarray(at, Math.min(b.length, at + maxChunk)));
      }
      splitting = -1;
    },
    onHttpEnd: (id) => callVoid('end', id),
    onHttpError: (id, reason) => callVoid('err', id, JSON.stringify(reason)),
    onInstallDone: (id, r: InstallResult) => callVoid('inst', id, JSON.stringify(r)),
    onComponentOpDone: (id, code) => callVoid('op', id, code),
    onVerifyDone: (id, code) => callVoid('verify', id, code),
    requestComponent: (name, version) => callVoid('req', JSON.stringify(name), version === undefined ? '' : JSON.stringify(version)),
    idle: () => {
      const h = call('idle', []);
      if (!h) return false;
      const v = ctx.dump(h) as boolean;
      h.dispose();
      return v;
    },
    status: (): AgentStatus => {
      const h = call('status', []);
      if (!h) return { sessions: 0, inSession: false, lastSessionOk: false, lastError: 'agent unavailable', pendingAlerts: 0, jobs: [], deployed: [] };
      const s = ctx.getString(h);
      h.dispose();
      return JSON.parse(s) as AgentStatus;
    },
    peakHeap: () => peak,
    heapNow: () => used(),
    memoryUsage: () => {
      const h = rt.computeMemoryUsage();
      const r = ctx.dump(h) as Record<string, number>;
      h.dispose();
      return r;
    },
    peakBreakdown: () => peakUsage,
    dispose: () => {
      if (disposed) return;
      disposed = true;
      ev.dispose();
      ctx.dispose();
      rt.dispose();
    },
  };
}
