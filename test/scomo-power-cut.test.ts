// Power cuts during SCOMO operations. For each operation, a clean run counts the bytes the
// device programs into its config flash from the moment the server's commands are queued until
// the final alert is acknowledged; then, for sampled cut points across that span (in every
// torn-byte mode), the flash loses power after exactly that many bytes, the device dies on the
// spot, and a new device boots from the torn flash image (package files and installer state
// survive, as they live elsewhere). Checked after the reboot:
//  - every final alert the server received for the job carries the same result code (one outcome);
//  - the outcome matches the device: success <=> the component is deployed in the tree;
//  - a job that was never made durable leaves no trace (no alert, nothing deployed).
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server/app.js';
import { createRepoServer, type RepoServer } from '../src/server/repo/repo-server.js';
import type { ReceivedAlert, QueueEntry } from '../src/server/storage/types.js';
import type { Command } from '../src/codec/model.js';
import { MemFlash, isPowerCut, type TornMode } from '../src/store/index.js';
import type { Flash } from '../src/store/api.js';
import { startDevice, type RunningDevice } from '../targets/node/device.js';
import { downloadJob, deliverJob, exec, get, leaf, parseAlert } from './helpers/scomo-rig.js';
import { makeAppPackage } from './helpers/packages.js';
import { generateKeyPairSync, sign } from 'node:crypto';

const FLASH = 256 * 1024, BLOCK = 4096;
/** Cut points per operation and torn mode in CI; SCOMO_CUTS=N raises it for a longer soak. */
const PER_OP = Number(process.env.SCOMO_CUTS ?? 20);
/** Every device trusts this key, so the signed-package operation goes through 'verifying'. */
const SIGNER = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const TRUST_PEM = SIGNER.publicKey.export({ type: 'spki', format: 'pem' }).toString();

interface World { server: RunningServer; repo: RepoServer; dir: string; alerts: ReceivedAlert[]; n: number }

async function world(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-cut-'));
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'server') });
  const repo = await createRepoServer({ dataDir: join(dir, 'repo'), token: 't' });
  const w: World = { server, repo, dir, alerts: [], n: 0 };
  server.dm.on('alert', (a) => { w.alerts.push(a); });
  return w;
}

/** A device whose flash wrapper kills the host the instant the MemFlash loses power. */
async function boot(w: World, id: string, mem: MemFlash): Promise<RunningDevice> {
  let dev: RunningDevice | undefined;
  const flash: Flash = {
    size: mem.size, blockSize: mem.blockSize,
    read: (o, n) => mem.read(o, n),
    program: (o, b) => { try { mem.program(o, b); } catch (e) { if (isPowerCut(e)) dev?.host.powerFail(); throw e; } },
    erase: (i) => { try { mem.erase(i); } catch (e) { if (isPowerCut(e)) dev?.host.powerFail(); throw e; } },
  };
  dev = await startDevice({
    server: w.server.dmUrl, id, clientUser: id, clientSecret: 'c', serverId: 'srv', serverSecret: 's', auth: 'basic',
    dataDir: join(w.dir, id), flash, trustKeys: [TRUST_PEM],
  });
  return dev;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

async function queue(w: World, dev: RunningDevice, id: string, cmds: Command[]): Promise<{ done: Promise<QueueEntry> }> {
  const h = await w.server.dm.queueCommands(id, cmds);
  dev.agent.connect();
  return { done: h.done };
}

interface Op {
  name: string;
  /** Prepares the device (before the cut is armed) and returns the commands of the operation. */
  setup(w: World, dev: RunningDevice, id: string, corr: string): Promise<Command[]>;
  /** The component the operation is about. */
  component: string;
  /** Deployed before the operation (Deactivate, Remove) or not (installs). */
  presentBefore?: boolean;
  removes?: boolean;
  /** State leaf value expected after success (Deactivate: 10); and before (20). */
  stateAfter?: string;
  stateBefore?: string;
}

async function installClean(w: World, dev: RunningDevice, id: string, comp: string): Promise<void> {
  const bytes = makeAppPackage({ id: comp, name: comp, version: '1' });
  const up = await upload(w, bytes, comp);
  await queue(w, dev, id, downloadJob('pre', up.pkgId, up.url, 'DownloadInstall', id + '-pre'));
  await until(() => w.alerts.some((a) => a.correlator === id + '-pre'), 20_000);
  await until(() => dev.agent.idle(), 20_000);
}

async function upload(w: World, bytes: Uint8Array, name: string): Promise<{ pkgId: string; url: string }> {
  const r = await fetch(`${w.repo.base}/api/packages?name=${name}&version=1&type=application/x-tar`, { method: 'POST', headers: { Authorization: 'Bearer t' }, body: bytes });
  return r.json() as Promise<{ pkgId: string; url: string }>;
}

const OPS: Op[] = [
  {
    name: 'DownloadInstall (alternate download)', component: 'alt',
    async setup(w, _dev, _id, corr) {
      const up = await upload(w, makeAppPackage({ id: 'alt', name: 'alt', version: '1', payloadBytes: 20_000 }), 'alt');
      return downloadJob('p', up.pkgId, up.url, 'DownloadInstall', corr);
    },
  },
  {
    name: 'DownloadInstall of a signed package', component: 'sig',
    async setup(w, _dev, _id, corr) {
      const bytes = makeAppPackage({ id: 'sig', name: 'sig', version: '1', payloadBytes: 20_000 });
      const up = await upload(w, bytes, 'sig');
      const cmds = downloadJob('s', up.pkgId, up.url, 'DownloadInstall', corr);
      cmds.splice(cmds.length - 1, 0, leaf('./SCOMO/Download/s/Ext/Signature', 'ecdsa-p256-sha256:' + sign('sha256', bytes, SIGNER.privateKey).toString('base64')));
      return cmds;
    },
  },
  {
    name: 'Install (DM delivery)', component: 'dm',
    async setup(_w, _dev, _id, corr) {
      return deliverJob('d', 'pkg-dm', makeAppPackage({ id: 'dm', name: 'dm', version: '1' }), 'Install', corr);
    },
  },
  {
    name: 'Deactivate', component: 'deact', presentBefore: true, stateBefore: '20', stateAfter: '10',
    async setup(w, dev, id, corr) {
      await installClean(w, dev, id, 'deact');
      return [exec('./SCOMO/Inventory/Deployed/deact/Operations/Deactivate', corr)];
    },
  },
  {
    name: 'Remove', component: 'rm', removes: true, presentBefore: true,
    async setup(w, dev, id, corr) {
      await installClean(w, dev, id, 'rm');
      return [exec('./SCOMO/Inventory/Deployed/rm/Operations/Remove', corr)];
    },
  },
];

/** Runs one operation with a cut after `cut` bytes (Infinity: no cut). Returns bytes programmed during the op, or a failure text. */
async function runOnce(w: World, op: Op, cut: number, mode: TornMode): Promise<{ programmed: number; cutHit: boolean; problem?: string }> {
  const id = `cut-${++w.n}`;
  await w.server.addAccount({ deviceId: id, clientUser: id, clientSecret: 'c', serverId: 'srv', serverSecret: 's', authType: 'basic', serverAuthType: 'basic' });
  const mem = new MemFlash(FLASH, BLOCK);
  let dev = await boot(w, id, mem);
  try {
    await dev.waitIdle(20_000);
    const corr = id + '-job';
    const cmds = await op.setup(w, dev, id, corr);
    const before = mem.counters.bytesProgrammed;
    if (Number.isFinite(cut)) mem.cutAfter(cut, mode, w.n);
    (await queue(w, dev, id, cmds)).done.catch(() => undefined);
    const finished = () => mem.dead || (w.alerts.some((a) => a.correlator === corr) && dev.agent.idle());
    if (!(await until(finished, 30_000))) return { programmed: 0, cutHit: false, problem: 'no outcome and no cut within 30 s' };
    const programmed = mem.counters.bytesProgrammed - before;
    const cutHit = mem.dead;
    if (cutHit) {
      await dev.close();
      // Reboot from the torn image; the old device is gone for good.
      dev = await boot(w, id, new MemFlash(FLASH, BLOCK, mem.snapshot()));
      // The device connects at boot and stays busy until a surviving job has reported.
      await dev.waitIdle(30_000).catch(() => undefined);
    }
    const mine = w.alerts.filter((a) => a.correlator === corr).map(parseAlert);
    const codes = [...new Set(mine.map((a) => a.resultCode))];
    if (codes.length > 1) return { programmed, cutHit, problem: `two outcomes reported: ${codes.join(', ')}` };
    const inv = await (await queue(w, dev, id, [get(`./SCOMO/Inventory/Deployed/${op.component}/ID`), get(`./SCOMO/Inventory/Deployed/${op.component}/State`)])).done;
    const deployed = inv.outcomes?.[0]?.status === 200;
    const stateData = inv.outcomes?.[1]?.results?.[0]?.data;
    const state = stateData === undefined ? undefined : String(typeof stateData === 'string' ? stateData : Buffer.from(stateData).toString());
    if (codes.length === 1) {
      const ok = codes[0] === 1200;
      const expectDeployed = op.removes ? !ok : ok || !!op.presentBefore;
      if (deployed !== expectDeployed) return { programmed, cutHit, problem: `result ${codes[0]} but component ${deployed ? 'is' : 'is not'} deployed` };
      if (op.stateAfter && ok && state !== op.stateAfter) return { programmed, cutHit, problem: `result ${codes[0]} but State is ${state}` };
    } else {
      // No outcome: the job must never have become durable, so nothing changed.
      if (deployed !== !!op.presentBefore) return { programmed, cutHit, problem: `no outcome reported but the component ${deployed ? 'is' : 'is not'} deployed` };
      if (op.stateBefore && state !== op.stateBefore) return { programmed, cutHit, problem: `no outcome reported but State is ${state}` };
      const st = dev.agent.status();
      if (st.jobs.length) return { programmed, cutHit, problem: `no outcome reported but jobs remain: ${JSON.stringify(st.jobs)}` };
    }
    return { programmed, cutHit };
  } finally {
    await dev.close();
  }
}

for (const op of OPS) {
  test.serial(`power cuts during ${op.name} leave one consistent outcome`, async (t) => {
    const w = await world();
    t.teardown(async () => { await w.repo.close(); await w.server.close(); rmSync(w.dir, { recursive: true, force: true }); });
    const clean = await runOnce(w, op, Infinity, 'erased');
    t.falsy(clean.problem, clean.problem);
    t.true(clean.programmed > 0, 'the operation writes flash');
    const modes: TornMode[] = ['erased', 'written', 'random'];
    let tried = 0, hit = 0;
    for (const mode of modes) {
      for (let k = 0; k < PER_OP; k++) {
        // Spread the cut points over the whole span, offset per mode so modes hit different bytes.
        const cut = Math.floor(((k + (modes.indexOf(mode) + 1) / 4) / PER_OP) * clean.programmed);
        const r = await runOnce(w, op, cut, mode);
        tried++;
        if (r.cutHit) hit++;
        t.falsy(r.problem, `${mode} cut after ${cut} of ${clean.programmed} bytes: ${r.problem}`);
      }
    }
    t.log(`${op.name}: ${clean.programmed} bytes programmed per run; ${tried} cut points tried, ${hit} hit before the outcome`);
    t.true(hit >= tried / 2, 'most cut points land inside the operation');
  });
}

test.serial('a device killed in the middle of a download resumes it with Range after reboot', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-resume-'));
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'server') });
  const ranges: string[] = [];
  let stall = true;
  let served = 0;
  // The first GET of the package sends 700 KB of its body and then stalls, as a dying link would.
  const repo = await createRepoServer({
    dataDir: join(dir, 'repo'), token: 't',
    intercept: async (req, res) => {
      if (req.method !== 'GET' || !/^\/dl\/pkg-[0-9a-f]+$/.test(req.url ?? '')) return false;
      ranges.push(String(req.headers.range ?? ''));
      if (!stall) return false;
      stall = false;
      const id = req.url!.slice(4);
      const file = repo.store.filePath(id)!;
      const { createReadStream, statSync } = await import('node:fs');
      res.writeHead(200, { 'Content-Length': String(statSync(file).size), 'Content-Type': 'application/x-tar', ETag: `"${(await repo.store.get(id))!.sha256}"` });
      createReadStream(file, { start: 0, end: 700 * 1024 - 1 }).on('data', (c) => { served += c.length; res.write(c); });
      return true;
    },
  });
  const alerts: ReceivedAlert[] = [];
  server.dm.on('alert', (a) => { alerts.push(a); });
  t.teardown(async () => { await repo.close(); await server.close(); rmSync(dir, { recursive: true, force: true }); });
  const id = 'resume-1';
  await server.addAccount({ deviceId: id, clientUser: id, clientSecret: 'c', serverId: 'srv', serverSecret: 's', authType: 'basic', serverAuthType: 'basic' });
  const w: World = { server, repo, dir, alerts, n: 0 };
  const mem = new MemFlash(FLASH, BLOCK);
  let dev = await boot(w, id, mem);
  await dev.waitIdle(20_000);
  const bytes = makeAppPackage({ id: 'big', name: 'big', version: '1', payloadBytes: 1_500_000 });
  const up = await upload(w, bytes, 'big');
  await queue(w, dev, id, downloadJob('b', up.pkgId, up.url, 'DownloadInstall', 'resume-job'));
  // Wait until the first 700 KB are in and the device has journaled a checkpoint past 512 KiB.
  t.true(await until(() => served >= 700 * 1024 && (dev.agent.status().jobs[0]?.progress?.done ?? 0) >= 700 * 1024, 20_000), 'first part received');
  dev.host.powerFail();
  await dev.close();
  dev = await boot(w, id, new MemFlash(FLASH, BLOCK, mem.snapshot()));
  t.teardown(() => dev.close());
  t.true(await until(() => alerts.some((a) => a.correlator === 'resume-job'), 30_000), 'final alert after reboot');
  const a = parseAlert(alerts.find((x) => x.correlator === 'resume-job')!);
  t.is(a.resultCode, 1200);
  t.is(ranges[0], '', 'the first request asks for the whole package');
  const resumed = ranges.slice(1).find((r) => /^bytes=[1-9][0-9]*-$/.test(r));
  t.truthy(resumed, `the rebooted device resumed with a Range request (saw ${JSON.stringify(ranges)})`);
  const from = Number(/bytes=(\d+)-/.exec(resumed!)![1]);
  t.true(from >= 512 * 1024 && from <= 700 * 1024, `resumed from the journaled checkpoint (${from})`);
  const { readFileSync } = await import('node:fs');
  t.is(readFileSync(join(dir, id, 'components', 'big', 'payload.bin')).length, 1_500_000);
});
