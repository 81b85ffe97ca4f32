import test from 'ava';
import { crashSweep, scriptProgramBytes, TORN_MODES } from './helpers/store-crash.js';

test('a power cut after every programmed byte, in every torn mode, reopens to a committed prefix', (t) => {
  const script = scriptProgramBytes();
  t.true(script.compactions >= 3, 'the script compacts several times');
  const r = crashSweep({ recoveryEvery: 50 });
  t.log(`cut points: ${r.cutPoints} (${script.bytes} programmed bytes x ${TORN_MODES.length} torn modes, ` +
    `plus ${r.recoveryCutPoints} cuts inside the reboot's own recovery); ${script.compactions} compactions in the script`);
  t.deepEqual(r.failures, []);
  t.is(r.cutPoints - r.recoveryCutPoints, script.bytes * TORN_MODES.length);
  t.true(r.recoveryCutPoints > 0);
});
