// `npm run demo`, the README's run command: server and signed-package-only device as processes,
// a signed DownloadInstall end to end, the inventory printed; exit 0.
import test from 'ava';
import { spawnSync } from 'node:child_process';

test('npm run demo installs the signed demo package end to end and prints the inventory', (t) => {
  const r = spawnSync(process.execPath, ['--import=tsx', 'src/server/cli/demo.ts'], { encoding: 'utf8', timeout: 60_000 });
  const out = r.stdout + r.stderr;
  t.is(r.status, 0, out);
  t.regex(out, /signature verified \(ecdsa-p256-sha256/);
  t.regex(out, /job job-[0-9a-f]+: succeeded \(result 1200\)/);
  t.regex(out, /deployed:\n\s+hello-tv\s+Hello TV\s+1\.0\.0\s+active/);
  t.regex(out, /done: the component is installed/);
});
