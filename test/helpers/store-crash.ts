// Power-cut sweep over the record store: runs a scripted sequence of transactions (plain
// commits, multi-record commits, streamed transactions, an aborted one, enough to compact
// several times, once in the middle of a streamed transaction), cuts power after every single
// programmed byte in each torn-byte mode, reboots from the cut image and checks that the
// replayed state is exactly the state after some prefix of the transactions, never missing one
// that returned before the cut. Shared by test/store-crash.test.ts and bench/store.ts.
import { openStore, type StoreOptions } from '../../src/store/record-log.js';
import { MemFlash, isPowerCut, type TornMode } from '../../src/store/mem-flash.js';
import type { TxRecordStore } from '../../src/store/api.js';

export const CRASH_FLASH = { size: 2048, blockSize: 256 };
export const TORN_MODES: TornMode[] = ['erased', 'written', 'random'];

type State = Record<string, string>;
interface Rec { op: 'set' | 'del' | 'app'; k: string; v?: string }
interface Step { stream: boolean; abort?: boolean; recs: Rec[] }

/** The scripted session: deterministic, ~40 transactions over 5 keys. */
export function crashScript(): Step[] {
  let x = 12345;
  const rnd = (n: number): number => { x = (x * 1103515245 + 12345) % 2147483648; return x % n; };
  const val = (i: number): string => 'v' + i + '-' + 'abcdefghijklmnopqrstuvwxyz0123456789'.slice(0, rnd(36));
  const steps: Step[] = [];
  for (let i = 0; i < 40; i++) {
    const k = 'k' + rnd(5);
    if (i % 9 === 4) steps.push({ stream: true, recs: [{ op: 'set', k, v: '' }, { op: 'app', k, v: val(i) }, { op: 'app', k, v: val(i + 100) }, { op: 'app', k, v: 'é😀' }] });
    else if (i === 17) steps.push({ stream: true, abort: true, recs: [{ op: 'set', k, v: 'never' }, { op: 'app', k, v: val(i) }] });
    else if (i % 5 === 2) steps.push({ stream: false, recs: [{ op: 'set', k, v: val(i) }, { op: 'set', k: 'k' + rnd(5), v: val(i + 1) }, { op: 'del', k: 'k' + rnd(5) }] });
    else steps.push({ stream: false, recs: [{ op: 'set', k, v: val(i) }] });
  }
  return steps;
}

function apply(s: State, r: Rec): void {
  if (r.op === 'set') s[r.k] = r.v as string;
  else if (r.op === 'del') delete s[r.k];
  else s[r.k] = (s[r.k] || '') + r.v;
}

function canon(s: State): string {
  return JSON.stringify(Object.keys(s).sort().map((k) => [k, s[k]]));
}

function storeFor(flash: MemFlash, state: State): TxRecordStore {
  const opts: StoreOptions = {
    snapshot(emit) { for (const k of Object.keys(state)) emit({ op: 'set', k, v: state[k] }); },
  };
  return openStore(flash, opts);
}

/** Runs the script; `done` counts transactions that returned. Returns the final state. */
function runScript(flash: MemFlash, steps: Step[], progress: { done: number }): State {
  const state: State = {};
  const store = storeFor(flash, state);
  for (let i = 0; i < steps.length; i++) {
    const st = steps[i];
    if (!st.stream) {
      // Both owner styles: apply then commit (the snapshot already holds the records) and
      // commit then apply (it does not); the store appends the records after a snapshot anyway.
      if (i % 2) { store.commit(st.recs); for (const r of st.recs) apply(state, r); }
      else { for (const r of st.recs) apply(state, r); store.commit(st.recs); }
    } else {
      store.begin();
      for (const r of st.recs) store.append(r);
      if (st.abort) store.abortTx();
      else {
        store.commitTx();
        for (const r of st.recs) apply(state, r);
      }
    }
    progress.done++;
  }
  return state;
}

function replayState(flash: MemFlash): { state: State; store: TxRecordStore } {
  const state: State = {};
  const store = storeFor(flash, state);
  store.replay((r) => apply(state, r as Rec));
  return { state, store };
}

/** States after each prefix of the script: [0] empty ... [n] final. */
function prefixStates(steps: Step[]): string[] {
  const s: State = {};
  const out = [canon(s)];
  for (const st of steps) {
    if (!st.abort) for (const r of st.recs) apply(s, r);
    out.push(canon(s));
  }
  return out;
}

export interface SweepResult {
  cutPoints: number;
  /** Of which: cuts during the recovery (relocation / abort marker) at reboot. */
  recoveryCutPoints: number;
  compactions: number;
  failures: string[];
}

/** Bytes the uncut script programs (cut points per torn mode) and how often it compacts. */
export function scriptProgramBytes(): { bytes: number; compactions: number } {
  const f = new MemFlash(CRASH_FLASH.size, CRASH_FLASH.blockSize);
  runScript(f, crashScript(), { done: 0 });
  return { bytes: f.counters.bytesProgrammed, compactions: f.counters.erases / (CRASH_FLASH.size / CRASH_FLASH.blockSize / 2) - 1 };
}

/**
 * The sweep. `recoveryEvery`: also cut during the reboot's own recovery writes for every n-th
 * cut image whose recovery programs something (0 = never).
 */
export function crashSweep(opts: { modes?: TornMode[]; recoveryEvery?: number } = {}): SweepResult {
  const steps = crashScript();
  const states = prefixStates(steps);
  const total = scriptProgramBytes();
  const res: SweepResult = { cutPoints: 0, recoveryCutPoints: 0, compactions: total.compactions, failures: [] };
  const fail = (m: string): void => { if (res.failures.length < 20) res.failures.push(m); };
  let recoveries = 0;
  for (const mode of opts.modes || TORN_MODES) {
    for (let n = 0; n < total.bytes; n++) {
      const f = new MemFlash(CRASH_FLASH.size, CRASH_FLASH.blockSize);
      f.cutAfter(n, mode, n + 1);
      const progress = { done: 0 };
      try {
        runScript(f, steps, progress);
        fail(`${mode}@${n}: no cut happened`);
        continue;
      } catch (e) {
        if (!isPowerCut(e)) { fail(`${mode}@${n}: ${String(e)}`); continue; }
      }
      res.cutPoints++;
      const ok = [states[progress.done], states[progress.done + 1]];
      const where = `${mode}@${n} (after ${progress.done} tx)`;
      const image = f.clone();
      const before = image.counters.bytesProgrammed;
      let got: ReturnType<typeof replayState>;
      try {
        got = replayState(image);
      } catch (e) { fail(`${where}: reopen threw ${String(e)}`); continue; }
      if (!ok.includes(canon(got.state))) { fail(`${where}: replayed ${canon(got.state)}`); continue; }
      // Cuts during the recovery itself must lose nothing either.
      const recWrites = image.counters.bytesProgrammed - before;
      if (recWrites > 0 && opts.recoveryEvery && recoveries++ % opts.recoveryEvery === 0) {
        for (let m = 0; m < recWrites; m++) {
          const g = f.clone();
          g.cutAfter(m, 'random', m + 7);
          try { replayState(g); fail(`${where}: recovery cut ${m} did not cut`); continue; } catch (e) {
            if (!isPowerCut(e)) { fail(`${where}: recovery cut ${m}: ${String(e)}`); continue; }
          }
          res.recoveryCutPoints++;
          try {
            const again = replayState(g.clone());
            if (canon(again.state) !== canon(got.state)) fail(`${where}: recovery cut ${m} replayed ${canon(again.state)}`);
          } catch (e) { fail(`${where}: recovery cut ${m}: reopen threw ${String(e)}`); }
        }
      }
      // The recovered store must keep working: one more transaction, reboot, replay.
      try {
        apply(got.state, { op: 'set', k: 'after', v: 'cut' });
        got.store.commit([{ op: 'set', k: 'after', v: 'cut' }]);
        const again = replayState(image.clone());
        if (canon(again.state) !== canon(got.state)) fail(`${where}: after-commit replayed ${canon(again.state)}`);
      } catch (e) { fail(`${where}: commit after recovery threw ${String(e)}`); }
    }
  }
  res.cutPoints += res.recoveryCutPoints;
  return res;
}
