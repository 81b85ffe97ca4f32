// libwbxml (Debian's libwbxml2, in process through the C harness in bench/libwbxml/) as the
// independent reference for the codec: codec.libwbxml.<xml|wbxml>.<decode|encode>_mb_s and
// codec.ratio_vs_libwbxml.<node|quickjs>.<xml|wbxml>.<decode|encode> (ours ÷ libwbxml).
//
// Both sides get the same job on the same messages (the corpus selection of bench/codec.ts):
//   decode = encoded bytes -> in-memory form (ours: decodeMessage -> typed model;
//            libwbxml: wbxml_tree_from_xml / wbxml_tree_from_wbxml -> its element tree, freed);
//   encode = in-memory form -> encoded bytes (ours: encodeMessage; libwbxml: wbxml_tree_to_xml
//            (compact) / wbxml_tree_to_wbxml (WBXML 1.2, string table on), output freed).
// The WBXML input of both decoders is the bytes our encoder writes for those messages.
// A ratio compares messages per second over the same message set (= MB/s ratio for decode, where
// the input bytes are identical; for encode it corrects for the two encoders' output sizes).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage, encodeMessage } from '../src/codec/index.js';
import type { BenchOptions, BenchOutput } from './run.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const harnessDir = root + 'bench/libwbxml';
const harness = harnessDir + '/build/wbxml_bench';

/** The same selection as bench/codec.ts: up to 6 messages spread over the sorted corpus, each ≤ 16 KiB. */
export function sampleMessages(corpusDir = root + 'test/fixtures/corpus/'): Buffer[] {
  const files = existsSync(corpusDir) ? readdirSync(corpusDir).filter((f) => f.endsWith('.xml')).sort() : [];
  if (!files.length) throw new Error('no corpus in ' + corpusDir);
  const all = files.map((f) => readFileSync(join(corpusDir, f))).filter((b) => b.length <= 16384);
  const picks: Buffer[] = [];
  const step = Math.max(1, Math.floor(all.length / 6));
  for (let i = 0; i < all.length && picks.length < 6; i += step) picks.push(all[i]);
  return picks;
}

export interface LibwbxmlSide { setBytes: number; setEncodedBytes: number; decode: number; encode: number; reps: { decode: number; encode: number } }
export interface LibwbxmlResult { version: string; xml?: LibwbxmlSide; wbxml?: LibwbxmlSide }

/** Parses the harness's JSON lines. */
export function parseHarnessOutput(text: string): LibwbxmlResult {
  const r: LibwbxmlResult = { version: '?' };
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line) as Record<string, unknown>;
    if (typeof o.libwbxml === 'string') { r.version = o.libwbxml; continue; }
    const enc = o.encoding;
    if (enc !== 'xml' && enc !== 'wbxml') throw new Error('unexpected harness line: ' + line);
    const d = o.decode as { mb_s: number; reps: number };
    const e = o.encode as { mb_s: number; reps: number };
    r[enc] = { setBytes: Number(o.set_bytes), setEncodedBytes: Number(o.set_encoded_bytes), decode: d.mb_s, encode: e.mb_s, reps: { decode: d.reps, encode: e.reps } };
  }
  return r;
}

/**
 * ours ÷ libwbxml in messages per second over the same set: a rate in MB/s divided by the bytes
 * of one pass over the set (the input for decode, each side's own output for encode).
 */
export function ratio(oursMbS: number, oursSetBytes: number, libMbS: number, libSetBytes: number): number {
  const r = (oursMbS / oursSetBytes) / (libMbS / libSetBytes);
  return Math.round(r * 1000) / 1000;
}

/** Builds the harness (make + gcc + pkg-config libwbxml2); returns an error line or null. */
export function buildHarness(): string | null {
  try {
    execFileSync('make', ['-s', '-C', harnessDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    return null;
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return (err.stderr?.toString().trim().split('\n').pop() ?? err.message) || 'make failed';
  }
}

export function runHarness(targetBytes: number, runs: number, xmls: Uint8Array[], wbxmls: Uint8Array[]): LibwbxmlResult {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-bench-libwbxml-'));
  try {
    const files: string[] = [];
    xmls.forEach((b, i) => { const f = join(dir, `m${i}.xml`); writeFileSync(f, b); files.push(f); });
    wbxmls.forEach((b, i) => { const f = join(dir, `m${i}.wbxml`); writeFileSync(f, b); files.push(f); });
    const out = execFileSync(harness, [String(targetBytes), String(runs), ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
    return parseHarnessOutput(out.toString());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function ok<T>(r: { ok: true; value: T } | { ok: false; error: { message: string } }, what: string): T {
  if (!r.ok) throw new Error(`${what}: ${r.error.message}`);
  return r.value;
}

export async function run(opts: BenchOptions): Promise<BenchOutput> {
  const out: BenchOutput = {};
  const built = buildHarness();
  if (built) {
    process.stderr.write(`bench libwbxml: harness not built (${built}); no libwbxml figures\n`);
    return out;
  }
  const xmls = sampleMessages().map((b) => new Uint8Array(b));
  const msgs = xmls.map((b, i) => ok(decodeMessage(b), `corpus message ${i}`).msg);
  const ours = {
    xml: { input: xmls, output: msgs.map((m) => ok(encodeMessage(m, 'xml'), 'xml encode')) },
    wbxml: { input: msgs.map((m) => ok(encodeMessage(m, 'wbxml'), 'wbxml encode')), output: [] as Uint8Array[] },
  };
  ours.wbxml.output = ours.wbxml.input;
  const sum = (a: Uint8Array[]): number => a.reduce((s, b) => s + b.length, 0);
  const runs = opts.quick ? 3 : 7;
  const lib = runHarness(1 << 20, runs, ours.xml.input, ours.wbxml.input);
  const desc = `${xmls.length} corpus messages (bench/codec.ts selection)`;

  for (const enc of ['xml', 'wbxml'] as const) {
    const side = lib[enc];
    if (!side) throw new Error('libwbxml harness gave no ' + enc + ' figures');
    out[`codec.libwbxml.${enc}.decode_mb_s`] = {
      value: side.decode, unit: 'MB/s',
      how: `libwbxml ${lib.version} in process (C harness, gcc -O2): wbxml_tree_from_${enc} + tree free over ${desc} (${side.setBytes} B ${enc}${enc === 'wbxml' ? ' as written by our encoder' : ''}) x${side.reps.decode}, MB of input, best of ${runs}`,
    };
    out[`codec.libwbxml.${enc}.encode_mb_s`] = {
      value: side.encode, unit: 'MB/s',
      how: `libwbxml ${lib.version} in process: wbxml_tree_to_${enc}${enc === 'wbxml' ? ' (WBXML 1.2, string table)' : ' (compact)'} of the parsed trees of ${desc} (${side.setEncodedBytes} B out) x${side.reps.encode}, MB of output, best of ${runs}`,
    };
  }

  // Ours, measured by bench/codec.ts in this same invocation (or now, when run on its own).
  let codec = opts.results;
  if (!codec || codec['codec.node.wbxml.decode_mb_s'] === undefined) {
    const mod = (await import('./codec.js')) as { run(o: BenchOptions): Promise<BenchOutput> };
    codec = await mod.run({ quick: opts.quick });
  }
  for (const rt of ['node', 'quickjs'] as const) {
    for (const enc of ['xml', 'wbxml'] as const) {
      const side = lib[enc]!;
      for (const op of ['decode', 'encode'] as const) {
        const mine = codec[`codec.${rt}.${enc}.${op}_mb_s`];
        if (!mine) continue;
        const oursSet = op === 'decode' ? sum(ours[enc].input) : sum(ours[enc].output);
        const libSet = op === 'decode' ? side.setBytes : side.setEncodedBytes;
        out[`codec.ratio_vs_libwbxml.${rt}.${enc}.${op}`] = {
          value: ratio(mine.value, oursSet, side[op], libSet),
          unit: '×',
          how: `messages/s of ours (codec.${rt}.${enc}.${op}_mb_s ÷ ${oursSet} B per set) ÷ libwbxml's (codec.libwbxml.${enc}.${op}_mb_s ÷ ${libSet} B per set), same ${xmls.length} messages, same run; > 1 = ours faster`,
        };
      }
    }
  }
  return out;
}
