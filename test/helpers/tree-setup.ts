// Shared set-up for the tree tests: a tree with the standard MOs over an optional store.
import type { RecordStore, StoreRecord } from '../../src/store/api.js';
import { DmTree, type TreeOptions } from '../../src/tree/tree.js';
import { installStandardMOs } from '../../src/tree/standard-mos.js';

export const DEVICE = {
  devId: 'IMEI:493005100592800', man: 'Acme', mod: 'Rocket', devTyp: 'phone', oem: 'Acme OEM',
  fwV: '1.0', swV: '2.0', hwV: '3.0',
};

/** A RecordStore in RAM that keeps each commit as one transaction (records deep-copied through JSON-ish cloning). */
export class FakeStore implements RecordStore {
  txs: StoreRecord[][] = [];
  failNext = false;
  replay(visit: (rec: StoreRecord) => void): void {
    for (const tx of this.txs) for (const r of tx) visit(r);
  }
  commit(records: StoreRecord[]): void {
    if (this.failNext) { this.failNext = false; throw new Error('flash failed'); }
    this.txs.push(records.map(clone));
  }
  free(): number { return 1 << 30; }
  counters() { return { bytesProgrammed: 0, erases: 0 }; }
}

function clone(r: unknown): unknown {
  if (r instanceof Uint8Array) return r.slice();
  if (Array.isArray(r)) return r.map(clone);
  return r;
}

export function makeTree(opts: TreeOptions = {}): DmTree {
  let t = 1000;
  const tree = new DmTree({ clock: () => (t += 1000), ...opts });
  installStandardMOs(tree, DEVICE);
  tree.load();
  return tree;
}

/** Canonical dump of the tree: path -> [format, type, acl, title, value] for comparisons. */
export function dump(tree: DmTree): string {
  const out: string[] = [];
  const walk = (n: any, path: string) => {
    const v = n.value === undefined ? '' : typeof n.value === 'string' ? n.value : 'b:' + Array.from(n.value as Uint8Array).join(',');
    out.push([path, n.format, n.type, n.acl, n.title, v, n.lo === undefined ? '' : 'lo' + n.loSize].join('|'));
    for (const k of n.kids || []) walk(k, path + '/' + k.name);
  };
  walk(tree.root, '.');
  return out.join('\n');
}
