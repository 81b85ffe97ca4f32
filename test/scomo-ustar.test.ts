import test from 'ava';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUstarReader, UstarHeader, UstarError, UstarOptions } from '../src/scomo/ustar.js';

interface Spec {
  name: string;
  prefix?: string;
  type?: string;
  data?: Uint8Array;
  size?: number;
  mode?: number;
  magic?: 'posix' | 'gnu' | 'none';
  rawName?: Uint8Array;
}

function field(h: Uint8Array, off: number, len: number, s: string): void {
  h.set(Buffer.from(s, 'latin1').subarray(0, len), off);
}

/** One header block, built the way POSIX describes it (checksum over the block with spaces). */
function header(s: Spec): Uint8Array {
  const h = new Uint8Array(512);
  if (s.rawName) h.set(s.rawName, 0); else h.set(Buffer.from(s.name, 'utf8'), 0);
  field(h, 100, 8, (s.mode ?? 0o644).toString(8).padStart(7, '0') + '\0');
  field(h, 108, 8, '0001750\0');
  field(h, 116, 8, '0001750\0');
  const size = s.size ?? s.data?.length ?? 0;
  field(h, 124, 12, size.toString(8).padStart(11, '0') + '\0');
  field(h, 136, 12, '14500000000\0');
  h[156] = (s.type ?? '0').charCodeAt(0);
  const magic = s.magic ?? 'posix';
  if (magic === 'posix') { field(h, 257, 6, 'ustar\0'); field(h, 263, 2, '00'); }
  if (magic === 'gnu') field(h, 257, 8, 'ustar  \0');
  if (s.prefix) h.set(Buffer.from(s.prefix, 'utf8'), 345);
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  field(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** Edits a header, then recomputes its checksum so only the edit is under test. */
function reSum(h: Uint8Array, edit: (h: Uint8Array) => void): Uint8Array {
  edit(h);
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  field(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

function archive(specs: Spec[], trailer = true): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const s of specs) {
    parts.push(header(s));
    const d = s.data ?? new Uint8Array(0);
    if (d.length) {
      parts.push(d);
      parts.push(new Uint8Array((512 - (d.length % 512)) % 512));
    }
  }
  if (trailer) parts.push(new Uint8Array(1024));
  return new Uint8Array(Buffer.concat(parts));
}

interface Got { entries: Array<UstarHeader & { data: string }>; ended: number; error: UstarError | null; endError: UstarError | null }

function read(bytes: Uint8Array, chunk: number, opts?: UstarOptions, callEnd = true): Got {
  const got: Got = { entries: [], ended: 0, error: null, endError: null };
  const bufs: Buffer[] = [];
  let cur: (UstarHeader & { data: string }) | null = null;
  const flush = () => { if (cur) { cur.data = Buffer.concat(bufs).toString('hex'); bufs.length = 0; } };
  const r = createUstarReader(
    (h) => { flush(); cur = { ...h, data: '' }; got.entries.push(cur); },
    (d) => { bufs.push(Buffer.from(d)); },
    () => { got.ended++; },
    opts,
  );
  for (let i = 0; i < bytes.length; i += chunk) {
    const e = r.push(bytes.subarray(i, i + chunk));
    if (e) { got.error = e; break; }
  }
  flush();
  if (callEnd) got.endError = r.end();
  return got;
}

const bytes = (n: number, seed: number) => new Uint8Array(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('hand-built archive reads the same at every chunk size 1..600', (t) => {
  const longDir = 'very/long/' + 'd'.repeat(90) + '/path';
  const files: Spec[] = [
    { name: 'pkg/', type: '5', mode: 0o755 },
    { name: 'pkg/empty', data: new Uint8Array(0) },
    { name: 'pkg/one', data: bytes(1, 1) },
    { name: './pkg/511', data: bytes(511, 2) },
    { name: 'pkg//512', data: bytes(512, 3), mode: 0o4755 },
    { name: 'pkg/513', data: bytes(513, 4) },
    { name: 'f'.repeat(100), prefix: longDir, data: bytes(1500, 5) },
    { name: 'gnu-old', data: bytes(20, 6), magic: 'gnu', prefix: 'ignored' },
    { name: 'ünï', type: '\0', data: bytes(3, 7) },
    { name: 'v7dir/', type: '0' },
  ];
  const tarBytes = archive(files);
  const want = [
    { name: 'pkg', size: 0, type: 'directory', mode: 0o755, data: '' },
    { name: 'pkg/empty', size: 0, type: 'file', mode: 0o644, data: '' },
    { name: 'pkg/one', size: 1, type: 'file', mode: 0o644, data: hex(bytes(1, 1)) },
    { name: 'pkg/511', size: 511, type: 'file', mode: 0o644, data: hex(bytes(511, 2)) },
    { name: 'pkg/512', size: 512, type: 'file', mode: 0o4755, data: hex(bytes(512, 3)) },
    { name: 'pkg/513', size: 513, type: 'file', mode: 0o644, data: hex(bytes(513, 4)) },
    { name: longDir + '/' + 'f'.repeat(100), size: 1500, type: 'file', mode: 0o644, data: hex(bytes(1500, 5)) },
    { name: 'gnu-old', size: 20, type: 'file', mode: 0o644, data: hex(bytes(20, 6)) },
    { name: 'ünï', size: 3, type: 'file', mode: 0o644, data: hex(bytes(3, 7)) },
    { name: 'v7dir', size: 0, type: 'directory', mode: 0o644, data: '' },
  ].map((e) => ({ ...e, mtime: 0o14500000000 }));
  for (let chunk = 1; chunk <= 600; chunk++) {
    const g = read(tarBytes, chunk);
    if (g.error || g.endError || g.ended !== 1) return t.fail(`chunk ${chunk}: ${JSON.stringify(g.error ?? g.endError)} ended=${g.ended}`);
    t.deepEqual(g.entries, want, `chunk ${chunk}`);
  }
});

test('archives made by GNU tar (ustar and default gnu format) read at every chunk size', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ustar-'));
  try {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'bin'), { recursive: true });
    mkdirSync(join(src, 'share', 'doc'), { recursive: true });
    const content: Record<string, Uint8Array> = {
      'bin/app': bytes(3000, 9), 'share/doc/README': new Uint8Array(Buffer.from('hello\n')), 'empty': new Uint8Array(0), 'x512': bytes(512, 1),
    };
    for (const [k, v] of Object.entries(content)) writeFileSync(join(src, k), v);
    for (const format of ['ustar', 'gnu']) {
      const out = join(dir, format + '.tar');
      execFileSync('tar', ['--format=' + format, '--sort=name', '-C', src, '-cf', out, '.']);
      const tarBytes = new Uint8Array(execFileSync('cat', [out]));
      for (let chunk = 1; chunk <= 600; chunk++) {
        const g = read(tarBytes, chunk);
        if (g.error || g.endError || g.ended !== 1) return t.fail(`${format} chunk ${chunk}: ${JSON.stringify(g.error ?? g.endError)}`);
        const files = Object.fromEntries(g.entries.filter((e) => e.type === 'file').map((e) => [e.name, e.data]));
        t.deepEqual(files, Object.fromEntries(Object.entries(content).map(([k, v]) => [k, hex(v)])), `${format} ${chunk}`);
        t.deepEqual(g.entries.filter((e) => e.type === 'directory').map((e) => e.name), ['bin', 'share', 'share/doc']);
      }
    }
    // a symlink is refused, not followed
    symlinkSync('bin/app', join(src, 'link'));
    const out = join(dir, 'link.tar');
    execFileSync('tar', ['--format=ustar', '-C', src, '-cf', out, 'link']);
    const g = read(new Uint8Array(execFileSync('cat', [out])), 100);
    t.is(g.error?.kind, 'unsupported');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unsafe paths are refused before any data is delivered', (t) => {
  for (const s of [
    { name: '/etc/passwd' }, { name: '../up' }, { name: 'a/../../b' }, { name: 'x', prefix: '/abs' },
    { name: '..', type: '5' }, { name: 'a\\b' }, { name: 'ok', prefix: '..' },
  ] as Spec[]) {
    const g = read(archive([{ ...s, data: bytes(10, 1) }]), 7);
    t.is(g.error?.kind, 'unsafe-path', s.name);
    t.is(g.entries.length, 0);
    t.is(g.error?.offset, 0);
  }
});

test('corruption and unsupported entries give typed errors with offsets', (t) => {
  const good = archive([{ name: 'a', data: bytes(600, 1) }, { name: 'b', data: bytes(5, 2) }]);
  const badSum = good.slice(); badSum[1536 + 10] ^= 1; // name byte of the 2nd header (after 512 + 1024)
  let g = read(badSum, 64);
  t.is(g.error?.kind, 'checksum'); t.is(g.error?.offset, 1536); t.is(g.entries.length, 1);
  const notUstar = archive([{ name: 'a', magic: 'none' }]);
  t.is(read(notUstar, 512).error?.kind, 'malformed');
  for (const type of ['1', '2', '3', '4', '6', 'x', 'g', 'L', 'K']) {
    t.is(read(archive([{ name: 'a', type }]), 512).error?.kind, 'unsupported', type);
  }
  const b256 = reSum(header({ name: 'big' }), (h) => { h[124] = 0x80; });
  t.is(read(new Uint8Array(Buffer.concat([b256, new Uint8Array(1024)])), 512).error?.kind, 'unsupported');
  const badNum = reSum(header({ name: 'n' }), (h) => { h.fill(0x39, 124, 127); }); // '9' in an octal field
  t.is(read(new Uint8Array(Buffer.concat([badNum, new Uint8Array(1024)])), 512).error?.kind, 'malformed');
  const noSum = reSum(header({ name: 'n' }), () => {}); noSum.fill(0, 148, 156);
  t.is(read(new Uint8Array(Buffer.concat([noSum, new Uint8Array(1024)])), 512).error?.kind, 'checksum');
  const badUtf8 = archive([{ name: '', rawName: new Uint8Array([0x61, 0xff]) }]);
  t.is(read(badUtf8, 512).error?.kind, 'malformed');
  const loneZero = Buffer.concat([header({ name: 'a' }), new Uint8Array(512), archive([{ name: 'b' }])]);
  t.is(read(new Uint8Array(loneZero), 512).error?.kind, 'malformed');
  t.is(read(archive([{ name: '', type: '0' }]), 512).error?.kind, 'malformed');
});

test('truncation anywhere is reported by end(), errors are sticky', (t) => {
  const a = archive([{ name: 'a', data: bytes(700, 1) }, { name: 'd/', type: '5' }]);
  for (let n = 0; n < a.length; n += 37) {
    const g = read(a.subarray(0, n), 100);
    t.is(g.error, null);
    t.is(g.endError?.kind, 'truncated', `cut at ${n}`);
    t.is(g.endError?.offset, n);
  }
  const r = createUstarReader(() => {}, () => {}, () => {});
  const e = r.push(archive([{ name: '/abs' }]));
  t.is(e?.kind, 'unsafe-path');
  t.is(r.push(archive([{ name: 'ok' }])), e);
  t.is(r.end(), e);
  t.false(r.done());
});

test('bytes after the end marker are ignored; root "./" entries are skipped', (t) => {
  const a = Buffer.concat([archive([{ name: './', type: '5' }, { name: './x', data: bytes(3, 3) }]), Buffer.alloc(9216), Buffer.from('junk')]);
  const g = read(new Uint8Array(a), 1000);
  t.is(g.error, null); t.is(g.endError, null); t.is(g.ended, 1);
  t.deepEqual(g.entries.map((e) => e.name), ['x']);
});

test('limits: entry size, entry count, total size', (t) => {
  const a = archive([{ name: 'a', data: bytes(100, 1) }, { name: 'b', data: bytes(100, 2) }, { name: 'c', data: bytes(100, 3) }]);
  t.is(read(a, 512, { maxEntrySize: 99 }).error?.kind, 'limit');
  t.is(read(a, 512, { maxEntries: 2 }).error?.kind, 'limit');
  t.is(read(a, 512, { maxTotalSize: 250 }).error?.kind, 'limit');
  t.is(read(a, 512, { maxEntrySize: 100, maxEntries: 3, maxTotalSize: 300 }).error, null);
  // a huge declared size is refused at the header, not discovered by waiting for data
  const huge = archive([{ name: 'h', size: 0o77777777777 }], false);
  const g = read(huge, 512);
  t.is(g.error?.kind, 'limit');
});

test('onEntryEnd follows each entry after its last data byte', (t) => {
  const log: string[] = [];
  const r = createUstarReader(
    (h) => log.push('start ' + h.name), (d) => log.push('data ' + d.length), () => log.push('end'),
    { onEntryEnd: (h) => log.push('done ' + h.name) },
  );
  const a = archive([{ name: 'd', type: '5' }, { name: 'f', data: bytes(700, 1) }]);
  t.is(r.push(a.subarray(0, 1100)), null);
  t.is(r.push(a.subarray(1100)), null);
  t.true(r.done());
  t.deepEqual(log, ['start d', 'done d', 'start f', 'data 76', 'data 624', 'done f', 'end']);
});

test('garbage never throws and always yields a typed result', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 1, max: 700 }), (b, chunk) => {
    const g = read(b, chunk);
    const e = g.error ?? g.endError;
    t.true(e === null ? g.ended === 1 : typeof e.message === 'string' && e.offset >= 0 && e.offset <= b.length);
  }), { numRuns: 300 });
  // mutate a valid archive byte by byte
  const a = archive([{ name: 'p/q', data: bytes(40, 1) }]);
  fc.assert(fc.property(fc.nat(a.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
    const m = a.slice(); m[i] ^= x;
    const g = read(m, 97);
    t.true(g.entries.every((e) => !e.name.startsWith('/') && !e.name.split('/').includes('..')));
  }), { numRuns: 300 });
});
