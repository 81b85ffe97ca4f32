// The QuickJS glue forwards the optional Host.verifyPackage hook into the guest, Agent.onVerifyDone
// back out, and AgentConfig.requireSignature into the agent's config. A stub agent bundle stands
// in for the real one so the test sees exactly what crosses the boundary.
import test from 'ava';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentConfig } from '../src/agent/api.js';
import type { Host, VerifyRequest } from '../src/agent/host.js';
import { createQuickJSAgent } from '../targets/quickjs/glue.js';
import { NodeHost } from '../targets/node/host.js';
import { MemFlash } from '../src/store/mem-flash.js';

// boot() asks the host to verify the request in config.devInfo.swV (JSON), when the host has the
// hook; status().lastError reports what the stub saw.
const STUB = `globalThis.ScomoAgent = { create: function (host, config) {
  var seen = { hook: typeof host.verifyPackage === 'function', requireSignature: config.requireSignature === true, done: [] };
  return {
    boot: function () { if (seen.hook) host.verifyPackage(5, JSON.parse(config.devInfo.swV)); },
    onVerifyDone: function (id, code) { seen.done.push([id, code]); },
    idle: function () { return seen.done.length > 0; },
    status: function () { return { sessions: 0, inSession: false, lastSessionOk: null, lastError: JSON.stringify(seen), pendingAlerts: 0, jobs: [], deployed: [] }; }
  };
} };`;

interface Seen { hook: boolean; requireSignature: boolean; done: Array<[number, number]> }

const config = (r: VerifyRequest, requireSignature: boolean): AgentConfig => ({
  deviceId: 'q', encoding: 'xml', devInfo: { swV: JSON.stringify(r) },
  server: { url: 'http://127.0.0.1:9/dm', serverId: 's', clientUser: 'q', clientSecret: 'c', serverSecret: 's', auth: 'basic' },
  ...(requireSignature ? { requireSignature: true } : {}),
});

const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pkg = new Uint8Array(randomBytes(150_000));
const request: VerifyRequest = {
  pkgId: 'pkg-1', storageKey: 'pk', size: pkg.length, alg: 'ecdsa-p256-sha256',
  signature: sign('sha256', pkg, { key: ec.privateKey, dsaEncoding: 'der' }).toString('base64'), sha256: 'ab'.repeat(32),
};

test('verifyPackage from inside QuickJS reaches the Node host and onVerifyDone comes back in', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-qjs-verify-'));
  const host = new NodeHost({ dataDir: dir, flash: new MemFlash(64 << 10, 4096), trustKeys: [ec.publicKey.export({ type: 'spki', format: 'pem' }) as string] });
  const got: VerifyRequest[] = [];
  const real = host.verifyPackage.bind(host);
  host.verifyPackage = (id, r) => { got.push(r); real(id, r); };
  host.packages.open('pk');
  host.packages.append('pk', pkg);
  const agent = await createQuickJSAgent(host, config(request, true), { bundle: STUB });
  t.teardown(() => { host.close(); agent.dispose(); rmSync(dir, { recursive: true, force: true }); });
  host.agent = agent;
  agent.boot();
  t.deepEqual(got, [request], 'the request crosses as JSON, unchanged');
  t.false(agent.idle(), 'no completion inside the call');
  for (let i = 0; i < 200 && !agent.idle(); i++) await new Promise((r) => setTimeout(r, 10));
  const seen = JSON.parse(agent.status().lastError!) as Seen;
  t.true(seen.hook);
  t.true(seen.requireSignature, 'requireSignature reaches the agent config');
  t.deepEqual(seen.done, [[5, 1200]]);

  // A refusal code crosses the same way.
  agent.onVerifyDone(9, 1407);
  t.deepEqual((JSON.parse(agent.status().lastError!) as Seen).done[1], [9, 1407]);
});

test('a host without verifyPackage gives the guest no hook', async (t) => {
  const host = {
    flash: new MemFlash(64 << 10, 4096),
    packages: { open: () => 'ok', append: () => 'ok', size: () => 0, truncate: () => 'ok', sync: () => 'ok', read: () => new Uint8Array(0), remove: () => {} },
    now: () => 0, random: (n: number) => new Uint8Array(n), log: () => {},
    httpRequest: () => {}, httpCancel: () => {}, setTimer: () => {}, clearTimer: () => {}, install: () => {}, componentOp: () => {},
  } as Host;
  const agent = await createQuickJSAgent(host, config(request, false), { bundle: STUB });
  t.teardown(() => agent.dispose());
  agent.boot();
  const seen = JSON.parse(agent.status().lastError!) as Seen;
  t.false(seen.hook);
  t.false(seen.requireSignature);
});
