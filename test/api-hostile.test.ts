// Hostile input to every REST route of the SCOMO server (docs/api.md) and to the download paths:
// bodies that are not JSON or have the wrong shape, oversized and deeply nested bodies, ids with
// traversal / NUL / unicode / bad escapes, repeated and bad query parameters, malformed Range
// headers, wrong methods, and clients that hang up mid-body. Every answer must be a 4xx (or a
// documented 2xx/206/416), JSON `{ error }` where the API answers JSON, no 5xx, no stack trace;
// and the server's state (packages, jobs, campaigns, devices) must not change.
import test, { ExecutionContext } from 'ava';
import http from 'node:http';
import net from 'node:net';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEnv, Env, TOKEN } from './helpers/scomo-e2e.js';
import { account, DEV } from './helpers/server-fixtures.js';

const MAX_UPLOAD = 64 * 1024;
let e: Env;
let pkgId = '';
let jobId = '';
let campaignId = '';
let webhookId = '';
let before = '';
const dev = encodeURIComponent(DEV);

interface Raw { status: number; headers: http.IncomingHttpHeaders; text: string; json?: Record<string, unknown> }

/** A request exactly as given (no client-side path normalization). */
function raw(method: string, path: string, o: { body?: string | Buffer; headers?: Record<string, string>; token?: string | null } = {}): Promise<Raw> {
  const u = new URL(e.srv.url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname, port: u.port, method, path, agent: false,
      headers: {
        ...(o.token === null ? {} : { Authorization: `Bearer ${o.token ?? TOKEN}` }),
        // Explicit, or Node's client sends a DELETE/OPTIONS body unframed.
        ...(o.body !== undefined && !o.headers?.['Transfer-Encoding'] ? { 'Content-Length': String(Buffer.byteLength(o.body)) } : {}),
        ...o.headers,
      },
    }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: Record<string, unknown> | undefined;
        if (/json/.test(String(res.headers['content-type']))) {
          try { json = JSON.parse(text) as Record<string, unknown>; } catch { json = undefined; }
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, ...(json ? { json } : {}) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

const STACK_RE = /\n\s+at |\bat [\w.<>]+ \(|node:internal|\.ts:\d+|\.js:\d+|\/src\/server|\/work\//;

/** No 5xx, no stack text; a JSON error body on every error answer of a JSON route. */
function sane(t: ExecutionContext, r: Raw, what: string, jsonErrors = true): void {
  t.true(r.status >= 200 && r.status < 500, `${what}: status ${r.status} ${r.text.slice(0, 200)}`);
  t.notRegex(r.text, STACK_RE, `${what}: stack trace in body`);
  if (jsonErrors && r.status >= 400 && r.text.length > 0) {
    t.is(typeof r.json?.error, 'string', `${what}: JSON { error } expected, got ${r.text.slice(0, 200)}`);
  }
}

/** What must survive every hostile request: every listed id, package record and device tag set. */
async function snapshot(): Promise<string> {
  const pk = await raw('GET', '/api/packages');
  const jobs = await raw('GET', '/api/jobs?limit=9999');
  const cmps = await raw('GET', '/api/campaigns?limit=9999');
  const hooks = await raw('GET', '/api/webhooks');
  const devs = await raw('GET', '/api/devices');
  const devIds = ((devs.json?.devices ?? []) as { deviceId: string }[]).map((d) => d.deviceId).sort();
  const tags: unknown[] = [];
  for (const d of devIds) tags.push((await raw('GET', '/api/devices/' + encodeURIComponent(d))).json?.tags);
  return JSON.stringify({
    packages: ((pk.json?.packages ?? []) as Record<string, unknown>[]).map((p) => [p.pkgId, p.name, p.version, p.type, p.size, p.sha256, p.signature ?? null]).sort(),
    jobs: ((jobs.json?.jobs ?? []) as { jobId: string }[]).map((j) => j.jobId).sort(),
    campaigns: ((cmps.json?.campaigns ?? []) as { campaignId: string }[]).map((c) => c.campaignId).sort(),
    webhooks: ((hooks.json?.webhooks ?? []) as { webhookId: string }[]).map((w) => w.webhookId).sort(),
    devices: devIds, tags,
    statuses: [pk.status, jobs.status, cmps.status, devs.status],
  });
}

async function unchanged(t: ExecutionContext): Promise<void> {
  t.is(await snapshot(), before, 'server state changed');
  const ok = await raw('GET', '/api/jobs/' + jobId);
  t.is(ok.status, 200, 'a normal request still works');
  t.deepEqual(readdirSync(join(e.dir, 'packages')).filter((f) => f.startsWith('.')), [], 'no temp file in the package directory');
}

test.before(async () => {
  e = await startEnv({ maxUploadBytes: MAX_UPLOAD });
  await e.srv.addAccount(account());
  await e.srv.jobs.store.setRoot(DEV, './SCOMO');
  pkgId = (await e.upload(new Uint8Array(100).map((_, i) => i), 'hello', '1.0')).pkgId;
  const j = await e.api<{ jobId: string }>('POST', `/api/devices/${dev}/jobs`, { operation: 'Download', pkgId, delivery: 'alternate' });
  jobId = j.json.jobId;
  const c = await e.api<{ campaignId: string }>('POST', '/api/campaigns', { operation: 'Download', pkgId, target: { devices: [DEV] } });
  campaignId = c.json.campaignId;
  webhookId = (await e.api<{ webhookId: string }>('POST', '/api/webhooks', { url: 'http://127.0.0.1:9/hook', secret: 's' })).json.webhookId;
  if (!jobId || !campaignId) throw new Error('setup failed: ' + JSON.stringify([j, c]));
  // The campaign creates its job at once; snapshot once that settled.
  for (let i = 0; i < 100 && ((await e.api<{ jobs: unknown[] }>('GET', '/api/jobs')).json.jobs.length < 2); i++) await new Promise((r) => setTimeout(r, 20));
  before = await snapshot();
});

test.after.always(async () => { await e?.close(); });

const deep = (n: number, open: string, close: string, inner = '1'): string => open.repeat(n) + inner + close.repeat(n);

/** Bodies no JSON route may accept; each must get a 4xx with a JSON error. */
function badBodies(limit: number): Array<[string, string | Buffer]> {
  const depth = Math.min(Math.floor(limit / 8), 200_000);
  return [
    ['not JSON', 'this is not json'],
    ['truncated JSON', '{"operation": "Download", '],
    ['array', '[1,2,3]'],
    ['null', 'null'],
    ['number', '42'],
    ['string', '"Download"'],
    ['boolean', 'true'],
    ['form encoding', 'operation=Download&pkgId=x'],
    ['nested wrong types', JSON.stringify({ operation: { a: [1] }, pkgId: [null], deviceIds: { x: 1 }, tags: { a: 1 }, target: 'all', signature: 5, devices: 'x' })],
    ['unknown operation', JSON.stringify({ operation: 'Explode', pkgId, deviceIds: [DEV], target: { devices: [DEV] }, tags: ['ok'], signature: 'zz:zz' })],
    ['huge string', JSON.stringify({ operation: 'x'.repeat(Math.min(limit - 100, 1 << 20)), deviceId: 'y'.repeat(Math.min(limit - 100, 1 << 20)) })],
    ['deep arrays', deep(depth, '[', ']')],
    ['deep objects', deep(Math.floor(depth / 2), '{"a":', '}')],
    ['deep array in a field', `{"operation":"Download","pkgId":${deep(depth, '[', ']')},"deviceIds":${deep(depth, '[', ']')},"tags":${deep(depth, '[', ']')},"target":{"devices":${deep(depth, '[', ']')}},"signature":${deep(depth, '[', ']')}}`],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
    ['NUL bytes', '{"operation":"Down\u0000load","deviceId":"a\u0000b","pkgId":"\u0000"}'],
    ['__proto__', '{"__proto__":{"operation":"Download"},"constructor":{"prototype":{"x":1}}}'],
  ];
}

const JSON_ROUTES: Array<[string, () => string, number]> = [
  ['POST', () => `/api/devices/${dev}/jobs`, 64 * 1024],
  ['POST', () => '/api/jobs', 64 * 1024],
  ['POST', () => '/api/devices', 8 << 20],
  ['PUT', () => `/api/devices/${dev}`, 8 << 20],
  ['POST', () => '/api/campaigns', 8 << 20],
  ['PUT', () => `/api/packages/${pkgId}/signature`, 8192],
  ['POST', () => '/api/webhooks', 16 * 1024],
];

test.serial('JSON routes: bodies that are not JSON objects or have the wrong shape get a 4xx JSON error', async (t) => {
  for (const [m, path, limit] of JSON_ROUTES) {
    for (const [what, body] of badBodies(limit)) {
      for (const ct of ['application/json', 'text/plain']) {
        const r = await raw(m, path(), { body, headers: { 'Content-Type': ct } });
        sane(t, r, `${m} ${path()} ${what} (${ct})`);
        t.true(r.status >= 400, `${m} ${path()} ${what}: ${r.status}`);
      }
    }
  }
  await unchanged(t);
});

test.serial('JSON routes: an empty body and no Content-Type get a 4xx JSON error', async (t) => {
  for (const [m, path] of JSON_ROUTES) {
    const r = await raw(m, path());
    sane(t, r, `${m} ${path()} empty`);
    t.is(r.status, 400, `${m} ${path()} empty`);
  }
  await unchanged(t);
});

test.serial('JSON routes: a body over the size limit is 413, declared or chunked', async (t) => {
  for (const [m, path, limit] of JSON_ROUTES) {
    const big = '{"a":"' + 'x'.repeat(limit) + '"}';
    const declared = await raw(m, path(), { body: big, headers: { 'Content-Type': 'application/json' } });
    sane(t, declared, `${m} ${path()} over limit`);
    t.is(declared.status, 413, `${m} ${path()} over limit`);
    const chunked = await raw(m, path(), { body: big, headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } });
    sane(t, chunked, `${m} ${path()} chunked over limit`);
    t.is(chunked.status, 413, `${m} ${path()} chunked over limit`);
  }
  await unchanged(t);
});

test.serial('well-formed JSON with wrong values in every field: 4xx with a clear error, nothing created', async (t) => {
  const c = (over: Record<string, unknown>) => ({ operation: 'Download', pkgId, target: { devices: [DEV] }, ...over });
  const acct = (over: Record<string, unknown>) => ({ deviceId: 'new-dev', clientUser: 'u', clientSecret: 's', serverId: 'i', serverSecret: 's', ...over });
  const cases: Array<[string, string, unknown]> = [
    ...[
      { operation: 'Download', pkgId: 'pkg-' + 'f'.repeat(16) }, { operation: 'Download', pkgId: '../' + pkgId }, { operation: 'Download', pkgId, delivery: 5 },
      { operation: 'Download', pkgId, timeoutS: 0 }, { operation: 'Download', pkgId, timeoutS: -1 }, { operation: 'Download', pkgId, timeoutS: 1e308 },
      { operation: 'Download', pkgId, timeoutS: '60' }, { operation: 'Download', pkgId, timeoutS: 1.5 }, { operation: 'Activate', componentId: '' },
      { operation: 'Activate', componentId: 'x'.repeat(100_000) }, { operation: 'Remove', componentId: ['a'] }, { operation: 'toString' }, { operation: '__proto__' },
    ].map((b): [string, string, unknown] => ['POST', `/api/devices/${dev}/jobs`, b]),
    ...[
      { deviceIds: [], operation: 'Download', pkgId }, { deviceIds: [1], operation: 'Download', pkgId }, { deviceIds: [DEV, null], operation: 'Download', pkgId },
      { deviceIds: Array.from({ length: 1001 }, (_, i) => 'd' + i), operation: 'Download', pkgId }, { deviceIds: [DEV], operation: 'Download', pkgId, timeoutS: 'soon' },
      { deviceIds: [DEV, DEV], operation: 'Explode' }, { deviceIds: 'all', operation: 'Download', pkgId },
    ].map((b): [string, string, unknown] => ['POST', '/api/jobs', b]),
    ...[
      {}, { devices: [] }, { devices: {} }, { devices: [null] }, { devices: [[1]] }, { devices: Array.from({ length: 1001 }, (_, i) => acct({ deviceId: 'n' + i })) },
      acct({ deviceId: '' }), acct({ deviceId: 'x'.repeat(300) }), acct({ deviceId: 5 }), acct({ authType: 'rot13' }), acct({ notifyPort: 0 }),
      acct({ notifyPort: 70000 }), acct({ notifyPort: '1' }), acct({ notifyPort: 1.5 }), acct({ tags: 'eu' }), acct({ tags: ['bad tag'] }), acct({ clientNonce: '%%%' }),
      acct({ extra: 1 }), acct({ clientSecret: 7 }), { devices: [acct({}), acct({})] }, { devices: [acct({}), acct({ deviceId: '' })] }, acct({ deviceId: DEV }),
    ].map((b): [string, string, unknown] => ['POST', '/api/devices', b]),
    ...[
      {}, { tags: null }, { tags: 'a' }, { tags: [1] }, { tags: [''] }, { tags: ['x'.repeat(65)] }, { tags: Array.from({ length: 101 }, (_, i) => 't' + i) },
      { tags: ['a'], deviceId: 'other' }, { tags: ['a\u0000'] },
    ].map((b): [string, string, unknown] => ['PUT', `/api/devices/${dev}`, b]),
    ...[
      {}, c({ operation: 'Explode' }), c({ pkgId: 'nope' }), c({ target: {} }), c({ target: { devices: [] } }), c({ target: { devices: ['ghost'] } }),
      c({ target: { devices: 'x' } }), c({ target: { tags: [5] } }), c({ target: { tags: ['nobody-has-this'] } }), c({ waves: [0] }),
      c({ waves: [-1] }), c({ waves: ['150%'] }), c({ waves: ['x%'] }), c({ waves: [1.5] }), c({ waves: 'all' }),
      c({ successThreshold: 2 }), c({ successThreshold: -0.1 }), c({ successThreshold: 'high' }), c({ errorThreshold: NaN }), c({ maxInFlight: 0 }),
      c({ maxInFlight: -5 }), c({ maxInFlight: 1e308 }), c({ jobTimeoutS: 0 }), c({ window: {} }), c({ window: { start: '25:00', end: '04:00' } }),
      c({ window: { start: '02:00', end: '04:00', tz: 'Mars/Olympus' } }), c({ window: { start: '02:00', end: '04:00', tz: '+99:00' } }),
      c({ window: { start: '02:00', end: '02:00' } }), c({ window: 'nightly' }), c({ delivery: 'pigeon' }),
    ].map((b): [string, string, unknown] => ['POST', '/api/campaigns', b]),
    ...[
      {}, { signature: 5 }, { signature: 'x' }, { signature: 'ecdsa-p256-sha256:' }, { signature: 'ecdsa-p256-sha256:!!!' }, { alg: 5, signature: 'AAAA' },
      { alg: 'md5', signature: 'AAAA' }, { signature: 'ecdsa-p256-sha256:' + 'A'.repeat(4000) },
    ].map((b): [string, string, unknown] => ['PUT', `/api/packages/${pkgId}/signature`, b]),
  ];
  const accepted: string[] = [];
  for (const [m, path, body] of cases) {
    const text = JSON.stringify(body);
    const r = await raw(m, path, { body: text, headers: { 'Content-Type': 'application/json' } });
    sane(t, r, `${m} ${path} ${text.slice(0, 100)}`);
    if (r.status < 400) accepted.push(`${m} ${path} ${text.slice(0, 160)}: ${r.status} ${r.text.slice(0, 100)}`);
  }
  t.deepEqual(accepted, []);
  await unchanged(t);
});

const BAD_IDS = [
  '..%2F..%2F..%2Fetc%2Fpasswd', '..%2Fpackages.json', '%2F', 'a%2Fb', '%00', 'pkg-0000000000000000%00', 'x%00.bin',
  'x'.repeat(8000), '%E2%9C%93%F0%9F%98%80', '%C3%28', '%', '%ZZ', '%FF%FE', '%0d%0aX-Injected:%201', '%20', '%3Cscript%3E',
];

test.serial('ids with traversal, NUL, unicode, bad escapes or huge length: 4xx JSON everywhere', async (t) => {
  const routes: Array<[string, (id: string) => string, unknown?]> = [
    ['GET', (id) => `/api/jobs/${id}`],
    ['POST', (id) => `/api/jobs/${id}/cancel`],
    ['GET', (id) => `/api/devices/${id}`],
    ['PUT', (id) => `/api/devices/${id}`, { tags: ['a'] }],
    ['DELETE', (id) => `/api/devices/${id}`],
    ['GET', (id) => `/api/devices/${id}/inventory`],
    ['GET', (id) => `/api/devices/${id}/jobs`],
    ['POST', (id) => `/api/devices/${id}/jobs`, { operation: 'Download', pkgId }],
    ['POST', (id) => `/api/devices/${id}/notify`],
    ['GET', (id) => `/api/packages/${id}`],
    ['DELETE', (id) => `/api/packages/${id}`],
    ['PUT', (id) => `/api/packages/${id}/signature`, { signature: 'ecdsa-p256-sha256:' + Buffer.alloc(64, 1).toString('base64') }],
    ['DELETE', (id) => `/api/packages/${id}/signature`],
    ['GET', (id) => `/api/campaigns/${id}`],
    ['GET', (id) => `/api/webhooks/${id}`],
    ['DELETE', (id) => `/api/webhooks/${id}`],
    ['GET', (id) => `/api/campaigns/${id}?targets=1`],
    ['POST', (id) => `/api/campaigns/${id}/pause`],
    ['POST', (id) => `/api/campaigns/${id}/resume`],
    ['POST', (id) => `/api/campaigns/${id}/cancel`],
    ['GET', (id) => `/dl/${id}`],
    ['HEAD', (id) => `/dl/${id}`],
    ['GET', (id) => `/dl/${id}.dd`],
  ];
  const ids = [...BAD_IDS, '..%2F' + pkgId, pkgId + '%2F..', pkgId + '%00', encodeURIComponent(pkgId + '/'), campaignId + '%2F..', jobId + '%00'];
  for (const [m, path, body] of routes) {
    for (const id of ids) {
      const p = path(id);
      const r = await raw(m, p, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      sane(t, r, `${m} ${p.slice(0, 80)}`, m !== 'HEAD');
      t.true(r.status >= 400, `${m} ${p.slice(0, 80)}: ${r.status}`);
    }
  }
  // Past the server's URL size limit: refused by the HTTP layer, still no 5xx.
  const huge = await raw('GET', '/api/jobs/' + 'y'.repeat(20_000));
  t.true(huge.status >= 400 && huge.status < 500, String(huge.status));
  await unchanged(t);
});

test.serial('unencoded traversal in a download path never leaves /dl/', async (t) => {
  for (const p of ['/dl/../packages.json', `/dl/../dl/${pkgId}/../../packages/${pkgId}.bin`, '/dl/./' + pkgId + '/..', '/dl/%2e%2e/%2e%2e/etc/passwd']) {
    const r = await raw('GET', p);
    sane(t, r, p);
    // Either the path is normalized to one we serve (never a file outside the repository) or it is unknown.
    if (r.status === 200) t.deepEqual(Buffer.from(r.text, 'utf8').length > 0, true);
    t.notRegex(r.text, /root:|"pkgId":/, p);
  }
  await unchanged(t);
});

test.serial('query strings: missing, empty, repeated or bad upload parameters are 400 and nothing is stored', async (t) => {
  const sig = encodeURIComponent(Buffer.alloc(64, 7).toString('base64'));
  const queries = [
    '', '?', '?name=', '?version=1', '?name=a', '?name=&version=', '?name=a&version=',
    '?name=a&version=1&type=', '?name=a&version=1&type=notamime', '?name=a&version=1&type=text%2Fplain%0d%0aX-A:%201',
    '?name=a&version=1&type=' + 'a'.repeat(5000) + '/x%20y',
    '?name=a&name=b&version=1', '?name=a&version=1&version=2', '?name=a&version=1&type=a/b&type=c/d',
    '?name=a%00b&version=1', '?name=a&version=1%0a2', '?name=' + 'n'.repeat(5000) + '&version=1',
    '?name=a&version=1&signature=' + sig, '?name=a&version=1&sigalg=ecdsa-p256-sha256',
    '?name=a&version=1&signature=&sigalg=ecdsa-p256-sha256', '?name=a&version=1&signature=' + sig + '&sigalg=',
    '?name=a&version=1&signature=' + sig + '&sigalg=md5', '?name=a&version=1&signature=%25%25%25&sigalg=ecdsa-p256-sha256',
    '?name=a&version=1&signature=' + sig + '&signature=' + sig + '&sigalg=ecdsa-p256-sha256',
    '?name=a&version=1&signature=' + sig + '&sigalg=ecdsa-p256-sha256&sigalg=rsa-pss-sha256',
    '?name=a&version=1&signature=' + 'A'.repeat(4000) + '&sigalg=ecdsa-p256-sha256',
  ];
  for (const q of queries) {
    const r = await raw('POST', '/api/packages' + q, { body: Buffer.alloc(10, 1) });
    sane(t, r, 'upload ' + q.slice(0, 80));
    t.is(r.status, 400, 'upload ' + q.slice(0, 80) + ' ' + r.text.slice(0, 100));
  }
  // A signature both as header and query; a malformed header.
  const good = `ecdsa-p256-sha256:${Buffer.alloc(64, 7).toString('base64')}`;
  for (const h of [good, 'nonsense', ':', 'ecdsa-p256-sha256:', 'x'.repeat(5000)]) {
    const r = await raw('POST', '/api/packages?name=a&version=1' + (h === good ? '&sigalg=ecdsa-p256-sha256&signature=' + sig : ''), { body: Buffer.alloc(10, 1), headers: { 'X-Scomo-Signature': h } });
    sane(t, r, 'upload header ' + h.slice(0, 40));
    t.is(r.status, 400, 'upload header ' + h.slice(0, 40));
  }
  await unchanged(t);
});

test.serial('query strings: bad paging and timeout numbers are 400; repeated or empty harmless keys are accepted', async (t) => {
  const lists = ['/api/jobs', `/api/devices/${dev}/jobs`, '/api/campaigns'];
  for (const l of lists) {
    for (const q of ['limit=', 'limit=0', 'limit=-1', 'limit=abc', 'limit=1e3', 'limit=99999', 'limit=1.5', 'limit=%00', 'limit=0x10', 'limit=%EF%BC%91']) {
      const r = await raw('GET', `${l}?${q}`);
      sane(t, r, `${l}?${q}`);
      t.is(r.status, 400, `${l}?${q}`);
    }
    for (const q of ['', '?', '?&&', '?limit=5&limit=abc', '?unknown=1', '?=', '?%00=%00']) {
      const r = await raw('GET', l + q);
      sane(t, r, l + q);
      t.is(r.status, 200, l + q);
    }
  }
  for (const q of ['timeout=', 'timeout=-1', 'timeout=abc', 'timeout=1e3', 'timeout=NaN', 'timeout=Infinity', 'refresh=1&timeout=%20']) {
    const r = await raw('GET', `/api/devices/${dev}/inventory?${q}`);
    sane(t, r, q);
    t.is(r.status, 400, q);
  }
  for (const q of ['refresh=1&timeout=0', 'refresh=maybe', 'refresh=1&refresh=0&timeout=0&timeout=9', 'timeout=99999999999999999999&refresh=0']) {
    const r = await raw('GET', `/api/devices/${dev}/inventory?${q}`);
    sane(t, r, q);
    t.is(r.status, 200, q);
  }
  t.is((await raw('GET', '/api/jobs?deviceId=')).status, 200, 'an empty filter is no filter');
  for (const q of ['?deviceId=%00', '?deviceId=' + 'z'.repeat(5000), '?deviceId=a&deviceId=b']) {
    const r = await raw('GET', '/api/jobs' + q);
    sane(t, r, '/api/jobs' + q.slice(0, 40));
    t.is(r.status, 200);
    t.deepEqual(r.json?.jobs, [], '/api/jobs' + q.slice(0, 40));
  }
  await unchanged(t);
});

test.serial('download Range headers: malformed ones are ignored (200), unsatisfiable ones are 416 JSON', async (t) => {
  const cases: Array<[string, number, string?]> = [
    ['bytes=', 200], ['bytes=5-2', 200], ['bytes=-0', 416], ['bytes=99999999999-', 416], ['bytes=100-', 416],
    ['bytes=0-1,5-6', 200], ['bytes=0-1, 5-6', 200], ['items=0-5', 200], ['bytes 0-5', 200], ['bytes=abc', 200], ['bytes=-', 200],
    ['bytes=--1', 200], ['bytes=1-2-3', 200], ['bytes=0x10-', 200], ['bytes=1e2-', 200], ['bytes=\u00bd-', 200], ['', 200], ['bytes=' + '9'.repeat(5000) + '-', 416],
    ['bytes=0-99999999999999999999999', 206, 'bytes 0-99/100'], ['bytes=-200', 206, 'bytes 0-99/100'], ['bytes=1-1', 206, 'bytes 1-1/100'],
    ['bytes=99-', 206, 'bytes 99-99/100'], ['BYTES = 3 - 4', 206, 'bytes 3-4/100'],
  ];
  for (const [range, status, cr] of cases) {
    for (const m of ['GET', 'HEAD']) {
      let r: Raw;
      try {
        r = await raw(m, `/dl/${pkgId}`, { token: null, headers: { Range: range } });
      } catch (err) {
        t.fail(`${m} Range ${range.slice(0, 40)}: ${String(err)}`);
        continue;
      }
      sane(t, r, `${m} Range ${range.slice(0, 40)}`, m === 'GET');
      t.is(r.status, status, `${m} Range ${range.slice(0, 40)}`);
      if (status === 416) {
        t.is(r.headers['content-range'], 'bytes */100');
        if (m === 'GET') t.is(r.json?.error, 'range not satisfiable');
      }
      if (cr) t.is(r.headers['content-range'], cr, range);
      if (status === 200) t.is(r.headers['content-length'], '100', `${m} Range ${range.slice(0, 40)}`);
      if (m === 'HEAD') t.is(r.text, '');
    }
  }
  // The descriptor ignores Range; If-Range with another validator gets the whole file.
  const dd = await raw('GET', `/dl/${pkgId}.dd`, { token: null, headers: { Range: 'bytes=5-9' } });
  t.is(dd.status, 200);
  t.regex(dd.text, /<media/);
  const ir = await raw('GET', `/dl/${pkgId}`, { token: null, headers: { Range: 'bytes=5-9', 'If-Range': '"nope"' } });
  t.is(ir.status, 200);
  t.is(ir.text.length, 100);
  const hd = await raw('HEAD', `/dl/${pkgId}.dd`, { token: null });
  t.is(hd.status, 200);
  t.is(hd.text, '');
  await unchanged(t);
});

test.serial('wrong methods on every route: 405 (or 404) with a JSON error, never 5xx', async (t) => {
  const paths = [
    '/api/jobs', `/api/jobs/${jobId}`, `/api/jobs/${jobId}/cancel`, '/api/devices', `/api/devices/${dev}`, `/api/devices/${dev}/jobs`,
    `/api/devices/${dev}/inventory`, `/api/devices/${dev}/notify`, '/api/packages', `/api/packages/${pkgId}`, `/api/packages/${pkgId}/signature`,
    '/api/campaigns', `/api/campaigns/${campaignId}`, `/api/campaigns/${campaignId}/pause`, '/api/webhooks', `/api/webhooks/${webhookId}`, `/dl/${pkgId}`, `/dl/${pkgId}.dd`, '/api', '/api/', '/api/nothing/at/all',
  ];
  for (const p of paths) {
    for (const m of ['PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'GET', 'POST']) {
      // Methods a route supports are exercised elsewhere; here only the ones it must refuse.
      const allowed = allowedMethods(p);
      if (allowed.includes(m)) continue;
      const r = await raw(m, p, m === 'TRACE' || m === 'HEAD' || m === 'GET' ? {} : { body: '{}', headers: { 'Content-Type': 'application/json' } });
      sane(t, r, `${m} ${p}`, m !== 'HEAD');
      t.true([404, 405].includes(r.status), `${m} ${p}: ${r.status}`);
      if (r.status === 405 && p.startsWith('/dl/')) t.is(r.headers.allow, 'GET, HEAD');
    }
  }
  await unchanged(t);
});

test.serial('the other routes on the same port (DM endpoint, metrics, console) never answer 5xx to odd methods or paths', async (t) => {
  const dm = new URL(e.srv.dmUrl).pathname;
  for (const p of [dm, dm + '?s=%00', '/metrics', '/metrics?x=%ZZ', '/console', '/console/', '/console/..%2F..%2Fpackage.json', '/console/%00', '/', '/%', '/nothing']) {
    for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const r = await raw(m, p, m === 'GET' || m === 'HEAD' ? {} : { body: 'junk', headers: { 'Content-Type': 'text/plain' } });
      sane(t, r, `${m} ${p}`, false);
    }
  }
  await unchanged(t);
});

function allowedMethods(p: string): string[] {
  if (p.startsWith('/dl/')) return ['GET', 'HEAD'];
  if (p === '/api/jobs' || p === '/api/packages' || p === '/api/campaigns' || p === '/api/webhooks') return ['GET', 'POST'];
  if (/^\/api\/webhooks\/[^/]+$/.test(p)) return ['GET', 'DELETE'];
  if (p === '/api/devices') return ['GET', 'POST'];
  if (/\/api\/devices\/[^/]+$/.test(p)) return ['GET', 'PUT', 'DELETE']; // DELETE: test/device-delete.test.ts
  if (/\/jobs$/.test(p)) return ['GET', 'POST'];
  if (/\/(cancel|notify|pause)$/.test(p)) return ['POST'];
  if (/\/signature$/.test(p)) return ['PUT', 'DELETE'];
  if (/^\/api\/packages\/[^/]+$/.test(p)) return ['GET', 'DELETE']; // DELETE: test/package-delete.test.ts
  if (p === '/api' || p === '/api/' || p.startsWith('/api/nothing')) return [];
  return ['GET'];
}

test.serial('without the token, hostile requests are 401 before any body is looked at', async (t) => {
  for (const [m, path] of JSON_ROUTES) {
    const r = await raw(m, path(), { token: 'wrong', body: deep(1000, '[', ']') });
    sane(t, r, `${m} ${path()} no token`);
    t.is(r.status, 401);
  }
  const up = await raw('POST', '/api/packages?name=a&version=1', { token: null, body: Buffer.alloc(100) });
  t.is(up.status, 401);
  await unchanged(t);
});

/** Sends headers and part of a body, waits for `ready`, then hangs up. */
async function hangUp(head: string, part: Buffer, ready: () => boolean, tries = 200): Promise<boolean> {
  const u = new URL(e.srv.url);
  const s = net.connect(Number(u.port), u.hostname);
  await new Promise<void>((res, rej) => { s.once('connect', () => res()); s.once('error', rej); });
  s.write(head);
  s.write(part);
  let seen = false;
  for (let i = 0; i < tries && !(seen = ready()); i++) await new Promise((r) => setTimeout(r, 10));
  s.destroy();
  return seen;
}

const partFiles = (): string[] => readdirSync(join(e.dir, 'packages')).filter((f) => f.endsWith('.part'));

async function noPartLeft(): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (partFiles().length === 0) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

test.serial('a client hanging up mid-upload leaves no package and no temp file', async (t) => {
  const auth = `Authorization: Bearer ${TOKEN}\r\n`;
  // Declared length, half sent.
  t.true(await hangUp(`POST /api/packages?name=cut&version=1 HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 60000\r\n\r\n`, Buffer.alloc(30000, 9), () => partFiles().length > 0), 'the upload had started');
  t.true(await noPartLeft(), 'temp file removed after a declared-length upload was cut');
  // Chunked, cut inside a chunk.
  t.true(await hangUp(`POST /api/packages?name=cut&version=2 HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n`,
    Buffer.concat([Buffer.from('7530\r\n'), Buffer.alloc(20000, 9)]), () => partFiles().length > 0), 'the chunked upload had started');
  t.true(await noPartLeft(), 'temp file removed after a chunked upload was cut');
  // Over the limit: 413, and the partial body is not kept either.
  const big = await raw('POST', '/api/packages?name=big&version=1', { body: Buffer.alloc(MAX_UPLOAD + 1), headers: { 'Transfer-Encoding': 'chunked' } }).catch((err: unknown) => ({ status: -1, text: String(err), headers: {} }) as Raw);
  t.true(big.status === 413 || big.status === -1, `over-limit chunked upload: ${big.status}`);
  t.true(await noPartLeft());
  await unchanged(t);
});

test.serial('a client hanging up mid-JSON-body leaves nothing behind and the server keeps answering', async (t) => {
  const auth = `Authorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n`;
  for (const [m, path] of JSON_ROUTES) {
    const body = Buffer.from(JSON.stringify({ operation: 'Download', pkgId, deviceIds: [DEV], target: { devices: [DEV] }, tags: ['cut'], deviceId: 'cut-dev', clientUser: 'u', clientSecret: 's', serverId: 'i', serverSecret: 's' }));
    await hangUp(`${m} ${path()} HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: ${body.length + 50}\r\n\r\n`, body, () => false, 5);
  }
  await new Promise((r) => setTimeout(r, 50));
  await unchanged(t);
});

test('server-side storage faults are 5xx without the server\'s file paths', async (t) => {
  const e2 = await startEnv();
  try {
    const up = await e2.upload(new Uint8Array([1, 2, 3]), 'gone', '1');
    rmSync(join(e2.dir, 'packages', up.pkgId + '.bin'));
    const dl = await fetch(`${e2.srv.url}/dl/${up.pkgId}`);
    const body = await dl.text();
    t.is(dl.status, 500);
    t.regex(body, /unavailable: cannot read its file \(ENOENT\)/);
    t.notRegex(body, STACK_RE);
    t.false(body.includes(e2.dir));
    // The package directory replaced by a file: uploads cannot be stored.
    rmSync(join(e2.dir, 'packages'), { recursive: true, force: true });
    writeFileSync(join(e2.dir, 'packages'), 'not a directory');
    const r = await fetch(`${e2.srv.url}/api/packages?name=a&version=1`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: new Uint8Array(10) });
    const text = await r.text();
    t.true(r.status >= 500, String(r.status));
    t.regex(text, /"error":"cannot store the package: E[A-Z]+"/);
    t.false(text.includes(e2.dir));
  } finally {
    await e2.close();
  }
});
