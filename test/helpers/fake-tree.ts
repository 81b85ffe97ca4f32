// An in-memory ManagementTree for DM engine tests: leaves and interior nodes by URI, a deny
// list standing in for ACLs, snapshot-based Atomic, and large-object sinks. Not the real tree.
import type { ExecRequest, GetOutcome, LargeObjectSink, ManagementTree } from '../../src/tree/api.js';
import type { ItemData, Meta } from '../../src/codec/model.js';

export interface FakeNode { data?: ItemData; format: string; type?: string }

export class FakeTree implements ManagementTree {
  nodes: { [uri: string]: FakeNode } = {};
  /** `${cmd} ${uri}` pairs refused with 425. */
  denied: string[] = [];
  execLog: { uri: string; req: ExecRequest }[] = [];
  execCode = 200;
  private snapshot: { [uri: string]: FakeNode } | null = null;
  commitOk = true;
  openSinks = 0;

  constructor(init?: { [uri: string]: string | Uint8Array }) {
    this.nodes['.'] = { format: 'node' };
    if (init) for (const k of Object.keys(init)) this.setLeaf(k, init[k]);
  }

  setLeaf(uri: string, v: ItemData, format?: string): void {
    this.ensureParents(uri);
    this.nodes[uri] = { data: v, format: format || (typeof v === 'string' ? 'chr' : 'bin') };
  }

  private ensureParents(uri: string): void {
    const parts = uri.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (!this.nodes[p]) this.nodes[p] = { format: 'node' };
    }
  }

  private parentOk(uri: string): boolean {
    const i = uri.lastIndexOf('/');
    const p = i < 0 ? '.' : uri.slice(0, i);
    return !!this.nodes[p] || p === '.';
  }

  private deny(cmd: string, uri: string): boolean {
    return this.denied.indexOf(cmd + ' ' + uri) >= 0;
  }

  children(uri: string): string[] {
    const pre = uri + '/';
    return Object.keys(this.nodes).filter((k) => k.startsWith(pre) && k.slice(pre.length).indexOf('/') < 0).map((k) => k.slice(pre.length));
  }

  get(_serverId: string, uri: string): GetOutcome {
    if (this.deny('Get', uri)) return { code: 425 };
    const n = this.nodes[uri];
    if (!n) return { code: 404 };
    if (n.format === 'node') {
      return { code: 200, items: [{ source: { locURI: uri }, meta: { format: 'node' }, data: this.children(uri).join('/') }] };
    }
    const meta: Meta = {};
    if (n.format !== 'chr') meta.format = n.format;
    if (n.type) meta.type = n.type;
    const item: any = { source: { locURI: uri }, data: n.data };
    if (Object.keys(meta).length) item.meta = meta;
    return { code: 200, items: [item] };
  }

  add(_s: string, uri: string, meta: Meta | undefined, data: ItemData | undefined): number {
    if (this.deny('Add', uri)) return 425;
    if (this.nodes[uri]) return 418;
    this.ensureParents(uri);
    const format = meta && meta.format ? meta.format : data === undefined ? 'node' : 'chr';
    this.nodes[uri] = { data, format, type: meta ? meta.type : undefined };
    return 200;
  }

  replace(_s: string, uri: string, meta: Meta | undefined, data: ItemData | undefined): number {
    if (this.deny('Replace', uri)) return 425;
    const n = this.nodes[uri];
    if (!n) return 404;
    if (n.format === 'node') return 405;
    this.nodes[uri] = { data, format: meta && meta.format ? meta.format : n.format, type: meta && meta.type ? meta.type : n.type };
    return 200;
  }

  delete(_s: string, uri: string): number {
    if (this.deny('Delete', uri)) return 425;
    if (!this.nodes[uri]) return 404;
    for (const k of Object.keys(this.nodes)) if (k === uri || k.startsWith(uri + '/')) delete this.nodes[k];
    return 200;
  }

  copy(_s: string, target: string, source: string): number {
    const n = this.nodes[source];
    if (!n) return 404;
    if (n.format === 'node') return 405;
    if (!this.parentOk(target)) return 404;
    this.nodes[target] = { data: n.data, format: n.format, type: n.type };
    return 200;
  }

  exec(_s: string, uri: string, req: ExecRequest): number {
    if (!this.nodes[uri]) return 404;
    this.execLog.push({ uri, req });
    return this.execCode;
  }

  openLargeObject(_s: string, uri: string, cmd: 'Add' | 'Replace', meta: Meta | undefined, totalSize: number): LargeObjectSink | number {
    if (this.deny(cmd, uri)) return 425;
    if (cmd === 'Add' && this.nodes[uri]) return 418;
    if (cmd === 'Replace' && !this.nodes[uri]) return 404;
    const chunks: Uint8Array[] = [];
    let n = 0;
    this.openSinks++;
    const self = this;
    let open = true;
    return {
      write(chunk: Uint8Array): number { chunks.push(chunk.slice()); n += chunk.length; return 213; },
      finish(): number {
        if (!open) return 500;
        open = false;
        self.openSinks--;
        if (n !== totalSize) return 424;
        const all = new Uint8Array(n);
        let o = 0;
        for (const c of chunks) { all.set(c, o); o += c.length; }
        self.ensureParents(uri);
        self.nodes[uri] = { data: all, format: meta && meta.format ? meta.format : 'bin', type: meta ? meta.type : undefined };
        return 200;
      },
      abort(): void { if (open) { open = false; self.openSinks--; } },
    };
  }

  begin(): void { this.snapshot = JSON.parse(JSON.stringify(this.nodes, (_k, v) => v instanceof Uint8Array ? { __b: Array.from(v) } : v), (_k, v) => v && v.__b ? new Uint8Array(v.__b) : v); }
  commit(): boolean {
    if (!this.commitOk) { this.rollback(); return false; }
    this.snapshot = null;
    return true;
  }
  rollback(): void { if (this.snapshot) this.nodes = this.snapshot; this.snapshot = null; }
}

export function standardTree(): FakeTree {
  return new FakeTree({
    './DevInfo/DevId': 'IMEI:493005100592800',
    './DevInfo/Man': 'Acme',
    './DevInfo/Mod': 'Widget',
    './DevInfo/DmV': '1.2',
    './DevInfo/Lang': 'en-US',
    './DevDetail/LrgObj': 'true',
  });
}
