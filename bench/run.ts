// `npm run bench [-- --quick]`: runs every bench module, prints a table and writes
// bench/results.json (nested keys: "codec.node.xml.decode_mb_s" -> {codec:{node:{xml:{decode_mb_s}}}}).
// Each module exports `run(opts)` returning flat dotted keys -> { value, how } so that every
// figure says how it was measured.
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Figure { value: number; unit?: string; how: string }
export type BenchOutput = Record<string, Figure>;
export interface BenchOptions {
  quick: boolean;
  /** Figures of the modules that already ran in this invocation (read-only), e.g. for ratios. */
  results?: Readonly<BenchOutput>;
}

const modules = ['./codec.js', './libwbxml.js', './store.js', './dm.js', './device.js', './server.js', './webhooks.js', './bundle.js', './signature.js', './fleet.js'];

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
  const all: BenchOutput = {};
  for (const m of modules) {
    if (only && !m.includes(only)) continue;
    let mod: { run(o: BenchOptions): Promise<BenchOutput> };
    try {
      mod = await import(m);
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(m.slice(2, -3))) continue;
      throw e;
    }
    const t0 = Date.now();
    const out = await mod.run({ quick, results: all });
    Object.assign(all, out);
    process.stderr.write(`bench ${m}: ${Object.keys(out).length} figures in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const file = fileURLToPath(new URL('./results.json', import.meta.url));
  const nested: Record<string, unknown> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const rows: string[][] = [];
  for (const [key, fig] of Object.entries(all)) {
    setPath(nested, key, fig.value);
    rows.push([key, formatNumber(fig.value) + (fig.unit ? ' ' + fig.unit : ''), fig.how]);
  }
  setPath(nested, '_meta.generated', new Date().toISOString() as unknown as number);
  setPath(nested, '_meta.quick', quick as unknown as number);
  setPath(nested, '_meta.node', process.version as unknown as number);
  writeFileSync(file, JSON.stringify(nested, null, 2) + '\n');
  const w0 = Math.max(...rows.map((r) => r[0].length), 6);
  const w1 = Math.max(...rows.map((r) => r[1].length), 5);
  console.log(`${'figure'.padEnd(w0)}  ${'value'.padStart(w1)}  how measured`);
  for (const r of rows) console.log(`${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`);
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let o = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = o[parts[i]];
    if (typeof next !== 'object' || next === null) o[parts[i]] = {};
    o = o[parts[i]] as Record<string, unknown>;
  }
  o[parts[parts.length - 1]] = value;
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

main().catch((e) => { console.error('bench failed:', e instanceof Error ? e.message : e); process.exitCode = 1; });
