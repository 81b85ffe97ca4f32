// Flow alternative 1 (5.4.1.2 / 5.4.2.2 / 5.4.3.2): the device asks the SCOMO server for a
// component; the server answers with a DownloadInstall job of the newest matching package, and
// the component ends up deployed. Real SCOMO server, real emulated device, loopback.
import test from 'ava';
import { join } from 'node:path';
import { startEnv, addDevice, bootDevice } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';

test('a device-initiated request for a component installs the newest version', async (t) => {
  const env = await startEnv();
  t.teardown(() => env.close());
  await env.upload(makeAppPackage({ id: 'guide', name: 'Guide', version: '1.0' }), 'guide', '1.0');
  await env.upload(makeAppPackage({ id: 'guide', name: 'Guide', version: '1.1' }), 'guide', '1.1');
  await addDevice(env, 'stb-req');
  const dev = await bootDevice(env, 'stb-req', join(env.dir, 'dev'));
  t.teardown(() => dev.close());
  dev.agent.requestComponent('guide');
  const t0 = Date.now();
  let job: Record<string, unknown> | undefined;
  while (!job && Date.now() - t0 < 20_000) {
    const r = await env.api<{ jobs: Record<string, unknown>[] }>('GET', '/api/devices/stb-req/jobs');
    job = r.json.jobs.find((j) => j.origin === 'device-request');
    if (!job) await new Promise((r2) => setTimeout(r2, 50));
  }
  t.truthy(job, 'the server created a job for the request');
  t.is(job!.operation, 'DownloadInstall');
  const done = await env.waitJob(String(job!.jobId));
  t.is(done.state, 'succeeded');
  t.is(done.resultCode, 1200);
  const inv = await env.api<{ deployed: { id: string; version: string }[] }>('GET', '/api/devices/stb-req/inventory');
  t.deepEqual(inv.json.deployed.map((d) => `${d.id}@${d.version}`), ['guide@1.1']);
});
