// The QuickJS glue hands HTTP bodies to the guest in pieces of at most maxChunkBytes (heap), in
// order, and stops handing over a body the agent cancelled from inside one of its pieces; it
// keeps no function source text on the guest heap unless asked to.
import test from 'ava';
import { createQuickJSAgent } from '../targets/quickjs/glue.js';
import type { Host } from '../src/agent/host.js';

// A stand-in agent: logs each piece it gets (size and first byte) and cancels where told.
const FAKE_AGENT = `
globalThis.ScomoAgent = { create: function (host, cfg) {
  var got = 0;
  return {
    boot: function () { host.log('info', 'src ' + (function () { return 42; }).toString()); }, connect: function () {},
    onHttpChunk: function (id, b) {
      got += b.length;
      host.log('info', 'chunk ' + id + ' ' + b.length + ' ' + b[0]);
      if (cfg.cancelAfter && got >= cfg.cancelAfter) host.httpCancel(id);
    },
    onHttpEnd: function () {}, idle: function () { return true; },
    status: function () { return { sessions: 0, inSession: false, lastSessionOk: null, pendingAlerts: 0, jobs: [], deployed: [] }; }
  };
} };
`;

function fakeHost(logs: string[], cancels: number[]): Host {
  const no = (): never => { throw new Error('not used'); };
  return {
    flash: { size: 4096, blockSize: 1024, read: () => new Uint8Array(0), program: no, erase: no },
    packages: { open: no, append: no, size: no, truncate: no, sync: no, read: no, remove: no },
    now: () => 0, random: (n: number) => new Uint8Array(n),
    log: (_l: string, m: string) => { logs.push(m); },
    httpRequest: no, httpCancel: (id: number) => { cancels.push(id); },
    setTimer: no, clearTimer: no, install: no, componentOp: no,
  } as unknown as Host;
}

function body(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i >> 14) + 1; // first byte of each 16 KiB piece: 1, 2, 3...
  return b;
}

test('a 40000-byte read reaches the guest as 16 KiB pieces, in order', async (t) => {
  const logs: string[] = [];
  const a = await createQuickJSAgent(fakeHost(logs, []), {} as never, { bundle: FAKE_AGENT });
  try {
    a.onHttpChunk(7, body(40000));
    a.onHttpChunk(7, body(100));
    t.deepEqual(logs, ['chunk 7 16384 1', 'chunk 7 16384 2', 'chunk 7 7232 3', 'chunk 7 100 1']);
  } finally { a.dispose(); }
});

test('a cancel from inside a piece stops the rest of that read', async (t) => {
  const logs: string[] = [];
  const cancels: number[] = [];
  const a = await createQuickJSAgent(fakeHost(logs, cancels), { cancelAfter: 16384 } as never, { bundle: FAKE_AGENT, maxChunkBytes: 8192 });
  try {
    a.onHttpChunk(3, body(40000));
    t.deepEqual(logs, ['chunk 3 8192 1', 'chunk 3 8192 1']);
    t.deepEqual(cancels, [3]);
  } finally { a.dispose(); }
});

test('function sources are stripped by default (heap), kept with strip none', async (t) => {
  const sizes: number[] = [];
  for (const strip of [undefined, 'none'] as const) {
    const logs: string[] = [];
    const a = await createQuickJSAgent(fakeHost(logs, []), {} as never, { bundle: FAKE_AGENT + '/*' + 'x'.repeat(100) + '*/', ...(strip ? { strip } : {}) });
    try {
      a.boot();
      if (strip) t.regex(logs[0], /return 42/);
      else t.notRegex(logs[0], /return 42/);
      sizes.push(a.heapNow());
    } finally { a.dispose(); }
  }
  t.true(sizes[0] < sizes[1], 'less heap without sources: ' + sizes.join(' < '));
});
