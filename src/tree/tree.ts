// The DM management tree: command semantics (DM RepPro 1.2 §6.5, TND 1.2 §7-8), ACL checks,
// transactions with exact undo, and persistence through the record store. Every command runs as
// one transaction: its change records are committed to the store before its code is returned;
// on failure the in-RAM undo log restores the tree and nothing reaches the store.

import type { Item, ItemData, Meta } from '../codec/model.js';
import type { RecordStore, StoreRecord } from '../store/api.js';
import type { ExecRequest, GetOutcome, LargeObjectSink, ManagementTree } from './api.js';
import type { AclCommand } from './acl.js';
import { aclAllows, aclIds, aclValid, ROOT_ACL } from './acl.js';
import { checkValue, dataSize, dataText, isoStamp, knownFormat } from './format.js';
import type { TNode } from './node.js';
import { child, isInterior, newNode, nodePath, preorder, walk } from './node.js';
import type { Mount, MoPlugin, TreeOp } from './plugin.js';
import { findMount } from './plugin.js';
import { CHUNK, DEL, pathSegs, PUT, putRecord } from './records.js';
import type { ParsedUri, UriLimits } from './uri.js';
import { DEFAULT_URI_LIMITS, parseUri, validSegment } from './uri.js';
import { exportTnds, isTndsType, parseTnds, TNDS_TYPE, TndsProps } from './tnds.js';
import type { TndsNode } from './tnds.js';

/** Server id of the device's own DM client: bypasses ACLs and may read secret leaves. */
export const LOCAL_ID = '\u0001local';

export interface TreeOptions {
  /** Epoch milliseconds for TStamp; defaults to a constant 0 (no Date on the device core). */
  clock?: () => number;
  limits?: Partial<UriLimits>;
  /** Persistence; without it the tree lives in RAM only. */
  store?: RecordStore;
  /** Largest large object (bytes) the tree stores itself; bigger ones get 413. */
  maxLargeObject?: number;
}

interface Tx {
  undo: Array<() => void>;
  /** Re-applies the matching undo entry; null for host side effects (never replayed). */
  redo: Array<(() => void) | null>;
  recs: StoreRecord[];
  notes: Array<() => void>;
}

/** Largest large-object piece per store record. */
const LO_PIECE = 2048;

const PROPS = ['ACL', 'Format', 'Name', 'Size', 'Title', 'TStamp', 'Type', 'VerNo'];

export class DmTree implements ManagementTree {
  // Fields are `declare`d and set in the constructor: a plain field declaration compiles to one
  // defineProperty call per field (ES2022 class fields), dead weight in the device bundle.
  declare readonly root: TNode;
  declare readonly limits: UriLimits;
  private declare clock: () => number;
  private declare store?: RecordStore;
  private declare mounts: Mount[];
  private declare tx?: Tx;
  private declare nextLo: number;
  private declare ramLo: { [id: string]: Uint8Array[] };
  /** Large objects being received: their chunks are live for compaction before any node names them. */
  private declare openLo: { [id: string]: boolean };
  private declare maxLo: number;

  constructor(opts?: TreeOptions) {
    const o = opts || {};
    // Each limit not given (or given as undefined) takes its default.
    const given = (o.limits || {}) as { [name: string]: number | undefined };
    const defaults = DEFAULT_URI_LIMITS as unknown as { [name: string]: number };
    const limits: { [name: string]: number } = {};
    for (const k in defaults) limits[k] = given[k] !== undefined ? given[k]! : defaults[k];
    this.limits = limits as unknown as UriLimits;
    this.clock = o.clock || (() => 0);
    this.store = o.store;
    this.mounts = [];
    this.nextLo = 1;
    this.ramLo = {};
    this.openLo = {};
    this.maxLo = o.maxLargeObject || 1 << 20;
    this.root = newNode('.', 'node', '');
    this.root.acl = ROOT_ACL;
    this.root.perm = true;
  }

  // ---- set-up API for the owner (not reachable by servers) ----

  /** Creates a permanent built-in node (and permanent parents); not persisted, rebuilt every boot. */
  define(path: string, format: string, type: string, value?: ItemData, acl?: string): TNode {
    const segs = pathSegs(path);
    let n = this.root;
    for (let i = 0; i < segs.length; i++) {
      let c = child(n, segs[i]);
      if (!c) {
        const last = i === segs.length - 1;
        c = newNode(segs[i], last ? format : 'node', last ? type : '');
        c.perm = true;
        c.parent = n;
        n.kids!.push(c);
      }
      n = c;
    }
    if (value !== undefined) n.value = value;
    if (acl !== undefined) n.acl = acl;
    return n;
  }

  /** Mounts an MO plug-in at `path` (an interior node the owner has defined). */
  mount(path: string, plugin: MoPlugin): void {
    this.mounts.push({ path, plugin });
  }

  /** Replays the store's log over the built-in tree (call once at boot, after define/mount). */
  load(): void {
    if (!this.store) return;
    this.store.replay((r) => this.applyRecord(r));
  }

  /** The store's SnapshotWriter: re-emits the live state (large values chunk by chunk). */
  snapshot(emit: (rec: StoreRecord) => void): void {
    // Our own commits clear the open transaction first, so an open one here belongs to a
    // command or Atomic still running while another store user commits: the snapshot must hold
    // the committed state only, so the open changes are stepped back and re-applied after.
    const tx = this.tx;
    const k0 = tx ? tx.undo.length : 0;
    for (let i = k0 - 1; i >= 0; i--) if (tx!.redo[i]) tx!.undo[i]();
    try {
      const live: { [id: string]: boolean } = {};
      for (const k in this.openLo) live[k] = true;
      preorder(this.root, (n) => {
        if (n.lo !== undefined) live[n.lo] = true;
        if (n.saved) emit(putRecord(n));
      });
      // Chunks of live large objects are copied from the log being compacted (reads the old
      // region; see the report: relies on replay() being usable inside the SnapshotWriter).
      if (this.store) this.store.replay((r) => {
        const a = r as unknown[];
        if (a[0] === CHUNK && live[a[1] as number]) emit(r);
      });
    } finally {
      for (let i = 0; i < k0; i++) if (tx!.redo[i]) tx!.redo[i]!();
    }
  }

  /** Value of a node for the device itself (secrets included); undefined when absent or interior. */
  readLocal(uri: string): ItemData | undefined {
    const n = this.find(uri);
    return n && !isInterior(n) ? this.leafValue(n) : undefined;
  }

  /** The node at `uri`, or undefined. */
  find(uri: string): TNode | undefined {
    const p = parseUri(uri, this.limits);
    return typeof p === 'number' ? undefined : this.nodeAt(p);
  }

  /** True when a plug-in accepts Exec on `n` (DDF AccessType). */
  executable(n: TNode): boolean {
    const fm = findMount(this.mounts, nodePath(n));
    return !!(fm && fm.plugin.exec && (!fm.plugin.executable || fm.plugin.executable(fm.rel)));
  }

  // ---- ManagementTree ----

  get(serverId: string, uri: string): GetOutcome {
    try {
      return this.getIn(serverId, uri);
    } catch (e) {
      return { code: 500 };
    }
  }

  private getIn(serverId: string, uri: string): GetOutcome {
    const p = parseUri(uri, this.limits);
    if (typeof p === 'number') return { code: p };
    const n = this.nodeAt(p);
    if (!n) return { code: 404 };
    if (!this.can(n, 'Get', serverId)) return { code: 425 };
    if (p.prop !== undefined) {
      const v = this.prop(n, p.prop);
      return typeof v === 'number' ? { code: v } : oneItem(uri, { format: 'chr' }, v);
    }
    if (p.list !== undefined) return this.list(serverId, n, p.list, uri);
    if (isInterior(n)) {
      const names: string[] = [];
      for (let i = 0; i < n.kids!.length; i++) names.push(n.kids![i].name);
      return oneItem(uri, this.meta(n), names.join('/'));
    }
    if (serverId !== LOCAL_ID && this.hidden(n)) return { code: 405 };
    return oneItem(uri, this.meta(n), this.leafValue(n));
  }

  add(serverId: string, uri: string, meta: Meta | undefined, data: ItemData | undefined): number {
    return this.run(() => this.addIn(serverId, uri, meta, data));
  }

  replace(serverId: string, uri: string, meta: Meta | undefined, data: ItemData | undefined): number {
    return this.run(() => this.replaceIn(serverId, uri, meta, data));
  }

  delete(serverId: string, uri: string): number {
    return this.run(() => {
      const p = this.parse(uri);
      if (typeof p === 'number') return p;
      const n = this.nodeAt(p);
      if (!n) return 404;
      if (!n.parent) return 405;
      if (!this.can(n, 'Delete', serverId)) return 425;
      let perm = false;
      preorder(n, (c) => { if (c.perm) perm = true; });
      if (perm) return 405;
      const v = this.veto('Delete', p.path, serverId);
      if (v) return v;
      this.detach(n);
      return 200;
    });
  }

  copy(serverId: string, targetUri: string, sourceUri: string): number {
    return this.run(() => {
      const ps = this.parse(sourceUri);
      const pt = this.parse(targetUri);
      if (typeof ps === 'number') return ps;
      if (typeof pt === 'number') return pt;
      const s = this.nodeAt(ps);
      if (!s) return 404;
      if (!this.can(s, 'Get', serverId)) return 425;
      if (isInterior(s)) return 406;
      if (serverId !== LOCAL_ID && this.hidden(s)) return 405;
      const m = this.meta(s);
      const v = this.leafValue(s);
      const t = this.nodeAt(pt);
      if (!t) return this.addIn(serverId, targetUri, m, v);
      if (isInterior(t) || t.perm && t.format !== s.format) return 403;
      return this.replaceIn(serverId, targetUri, m, v);
    });
  }

  exec(serverId: string, uri: string, req: ExecRequest): number {
    return this.run(() => {
      const p = this.parse(uri);
      if (typeof p === 'number') return p;
      const n = this.nodeAt(p);
      if (!n) return 404;
      if (!this.can(n, 'Exec', serverId)) return 425;
      const fm = findMount(this.mounts, p.path);
      if (!fm || !fm.plugin.exec) return 405;
      return fm.plugin.exec(fm.rel, req, serverId);
    });
  }

  openLargeObject(serverId: string, uri: string, cmd: 'Add' | 'Replace', meta: Meta | undefined, totalSize: number): LargeObjectSink | number {
    const p = this.parse(uri);
    if (typeof p === 'number') return p;
    const w = walk(this.root, p.segs);
    const exists = w.depth === p.segs.length;
    const f = meta && meta.format;
    if (f === 'node' || f && !knownFormat(f)) return f === 'node' ? 405 : 415;
    if (cmd === 'Add') {
      if (exists) return 418;
      if (!isInterior(w.node)) return 405;
      if (!this.can(w.node, 'Add', serverId)) return 425;
    } else {
      if (!exists) return 404;
      if (isInterior(w.node)) return 405;
      if (!this.can(w.node, 'Replace', serverId)) return 425;
      if (w.node.perm && (f && f !== w.node.format || meta && meta.type && meta.type !== w.node.type)) return 405;
    }
    const self = this;
    const fm = findMount(this.mounts, p.path);
    if (fm && fm.plugin.openLargeObject) {
      let inner: LargeObjectSink | number | undefined;
      try { inner = fm.plugin.openLargeObject(fm.rel, totalSize, meta); } catch (e) { return 500; }
      if (typeof inner === 'number') return inner;
      if (inner) {
        const sink = inner;
        return {
          write(c) {
            try { return sink.write(c); } catch (e) { return 500; }
          },
          finish() {
            let code: number;
            try { code = sink.finish(); } catch (e) { code = 500; }
            if (code >= 300) return code;
            // The plug-in holds the bytes; the tree records the node (Add) or its new version.
            return self.run(() => {
              const n = self.nodeAt(p);
              if (n) { self.update(n, {}); return 200; }
              return self.addIn(serverId, uri, meta, undefined);
            });
          },
          abort() {
            try { sink.abort(); } catch (e) { /* nothing left to undo on our side */ }
          },
        };
      }
    }
    if (totalSize > this.maxLo) return 413;
    // A store that reports its region size (TxRecordStore.info) lets us refuse up front.
    const info = this.store && (this.store as { info?: () => { capacity: number } }).info;
    if (info && totalSize > info.call(this.store).capacity) return 420;
    const id = this.nextLo++;
    this.openLo[id] = true;
    let written = 0;
    let state = 0; // 0 open, 1 finished or aborted
    return {
      write(c) {
        if (state) return 500;
        written += c.length;
        if (written > totalSize) { state = 1; delete self.openLo[id]; return 424; }
        try {
          // Pieces of at most LO_PIECE bytes keep every record far below the store's record limit.
          const recs: StoreRecord[] = [];
          for (let o = 0; o < c.length; o += LO_PIECE) recs.push([CHUNK, id, c.subarray(o, Math.min(c.length, o + LO_PIECE))]);
          if (self.store) self.store.commit(recs);
          else (self.ramLo[id] = self.ramLo[id] || []).push(c.slice());
        } catch (e) {
          state = 1;
          delete self.openLo[id];
          return storeCode(e, 420);
        }
        return 213;
      },
      finish() {
        if (state) return 500;
        state = 1;
        if (written !== totalSize) { delete self.openLo[id]; return 424; }
        const code = self.run(() => {
          const m: Meta = meta ? meta : {};
          const code = cmd === 'Add' ? self.addIn(serverId, uri, m, undefined) : self.replaceIn(serverId, uri, m, new Uint8Array(0));
          if (code >= 300) return code;
          const n = self.nodeAt(p)!;
          self.update(n, { value: undefined, lo: id, loSize: totalSize });
          return 200;
        });
        delete self.openLo[id];
        return code;
      },
      abort() {
        // Chunks already in the store are orphans: replay ignores them and compaction drops them.
        state = 1;
        delete self.ramLo[id];
        delete self.openLo[id];
      },
    };
  }

  begin(): void {
    if (!this.tx) this.tx = { undo: [], redo: [], recs: [], notes: [] };
  }

  commit(): boolean {
    const tx = this.tx;
    if (!tx) return true;
    this.tx = undefined;
    return this.persist(tx) === 0;
  }

  rollback(): void {
    const tx = this.tx;
    this.tx = undefined;
    if (tx) undoTo(tx, 0, 0, 0);
  }

  // ---- internals ----

  /** For commands other than Get: ?list= is never valid, ?prop= only where `propOk`. */
  private parse(uri: string, propOk?: boolean): ParsedUri | number {
    const p = parseUri(uri, this.limits);
    return typeof p !== 'number' && (p.list !== undefined || !propOk && p.prop !== undefined) ? 405 : p;
  }

  private run(fn: () => number): number {
    const top = !this.tx;
    this.begin();
    const tx = this.tx!;
    const u = tx.undo.length, r = tx.recs.length, no = tx.notes.length;
    let code: number;
    try { code = fn(); } catch (e) { code = 500; }
    if (code >= 300) undoTo(tx, u, r, no);
    if (top) {
      this.tx = undefined;
      if (code < 300) code = this.persist(tx) || code;
    }
    return code;
  }

  /** Commits the transaction's records; 0 when durable, else the failure code (all undone). */
  private persist(tx: Tx): number {
    if (tx.recs.length && this.store) {
      try {
        this.store.commit(tx.recs);
      } catch (e) {
        undoTo(tx, 0, 0, 0);
        return storeCode(e, 500);
      }
    }
    for (let i = 0; i < tx.notes.length; i++) {
      try { tx.notes[i](); } catch (e) { /* an observer's failure cannot undo a durable change */ }
    }
    return 0;
  }

  /** The node `p` names, or undefined when it does not exist. */
  private nodeAt(p: ParsedUri): TNode | undefined {
    const w = walk(this.root, p.segs);
    return w.depth === p.segs.length ? w.node : undefined;
  }

  private can(n: TNode, cmd: AclCommand, serverId: string): boolean {
    if (serverId === LOCAL_ID) return true;
    let c: TNode | undefined = n;
    while (c && c.acl === '') c = c.parent;
    return aclAllows(c ? c.acl : ROOT_ACL, cmd, serverId);
  }

  /** True when a server may never read the value of `n` (credentials). */
  hidden(n: TNode): boolean {
    const fm = findMount(this.mounts, nodePath(n));
    return !!(fm && fm.plugin.hidden && fm.plugin.hidden(fm.rel));
  }

  private veto(op: TreeOp, path: string, serverId: string): number {
    const fm = findMount(this.mounts, path);
    if (!fm) return 0;
    const pl = fm.plugin;
    if (pl.allow) {
      const c = pl.allow(op, fm.rel, serverId);
      if (c >= 300) return c;
    }
    if (pl.changed) {
      const rel = fm.rel;
      this.tx!.notes.push(() => pl.changed!(op, rel));
    }
    return 0;
  }

  private meta(n: TNode): Meta {
    const m: Meta = { format: n.format };
    if (n.type) m.type = n.type;
    return m;
  }

  private leafValue(n: TNode): ItemData {
    const fm = findMount(this.mounts, nodePath(n));
    if (fm && fm.plugin.get) {
      const v = fm.plugin.get(fm.rel);
      if (v !== undefined) return v;
    }
    if (n.lo !== undefined) return this.readLo(n.lo, n.loSize || 0);
    return n.value !== undefined ? n.value : '';
  }

  /** Assembles a stored large object (a Get of it must return it whole anyway). */
  private readLo(id: number, size: number): Uint8Array {
    const out = new Uint8Array(size);
    let off = 0;
    const put = (b: Uint8Array) => {
      if (off + b.length <= size) out.set(b, off);
      off += b.length;
    };
    if (this.store) {
      this.store.replay((r) => {
        const a = r as unknown[];
        if (a[0] === CHUNK && a[1] === id) put(a[2] as Uint8Array);
      });
    } else {
      const cs = this.ramLo[id] || [];
      for (let i = 0; i < cs.length; i++) put(cs[i]);
    }
    return out;
  }

  private prop(n: TNode, name: string): string | number {
    switch (name) {
      case 'ACL': return n.acl;
      case 'Format': return n.format;
      case 'Name': return n.name;
      case 'Size': return isInterior(n) ? 406 : String(n.lo !== undefined ? n.loSize || 0 : dataSize(this.leafValue(n)));
      case 'Title': return n.title;
      case 'TStamp': return isoStamp(n.tstamp);
      case 'Type': return n.type;
      case 'VerNo': return String(n.verNo);
    }
    return 406;
  }

  private list(serverId: string, n: TNode, list: string, uri: string): GetOutcome {
    const m = /^(Struct|StructData|TNDS)((?:[+-](?:ACL|Format|Name|Size|Title|TStamp|Type|VerNo|Value))*)$/.exec(list);
    if (!m) return { code: 406 };
    if (m[1] === 'TNDS') {
      const props = tndsProps(m[2]);
      const r = exportTnds(n, props, {
        canGet: (c) => this.can(c, 'Get', serverId),
        value: (c) => serverId !== LOCAL_ID && this.hidden(c) ? undefined : this.leafValue(c),
        stamp: isoStamp,
      });
      if (typeof r === 'number') return { code: r };
      return { code: 200, meta: { format: 'xml', type: TNDS_TYPE }, items: [{ source: { locURI: uri }, meta: { format: 'xml', type: TNDS_TYPE }, data: r }] };
    }
    const items: Item[] = [];
    const withData = m[1] === 'StructData';
    preorder(n, (c) => {
      if (c !== n && !this.can(c, 'Get', serverId)) return false;
      const it: Item = { source: { locURI: nodePath(c) }, meta: this.meta(c) };
      if (withData && !isInterior(c) && (serverId === LOCAL_ID || !this.hidden(c))) it.data = this.leafValue(c);
      items.push(it);
    });
    return { code: 200, items };
  }

  // -- mutation primitives: each records its undo and its store record in the open transaction --

  private touch(n: TNode): void {
    n.tstamp = this.clock();
    n.verNo = (n.verNo + 1) & 0xffff;
    n.saved = true;
  }

  /** Changes fields of `n` (a bumped VerNo and TStamp included). */
  private update(n: TNode, ch: Partial<TNode>): void {
    const old: { [k: string]: unknown } = { tstamp: n.tstamp, verNo: n.verNo, saved: n.saved };
    const nn = n as unknown as { [k: string]: unknown };
    const cc = ch as { [k: string]: unknown };
    for (const k in cc) { old[k] = nn[k]; nn[k] = cc[k]; }
    this.touch(n);
    const now: { [k: string]: unknown } = {};
    for (const k in old) now[k] = nn[k];
    this.log(() => { for (const k in old) nn[k] = old[k]; }, () => { for (const k in now) nn[k] = now[k]; });
    this.tx!.recs.push(putRecord(n));
  }

  /** Links a new node (and records it with its whole subtree). */
  private attach(parent: TNode, n: TNode): void {
    const i = parent.kids!.length;
    parent.kids!.push(n);
    n.parent = parent;
    preorder(n, (c) => { if (!c.tstamp) this.touch(c); c.saved = true; this.tx!.recs.push(putRecord(c)); });
    this.log(() => { parent.kids!.splice(parent.kids!.indexOf(n), 1); }, () => { parent.kids!.splice(i, 0, n); });
  }

  private detach(n: TNode): void {
    const parent = n.parent!;
    const i = parent.kids!.indexOf(n);
    this.tx!.recs.push([DEL, nodePath(n)]);
    parent.kids!.splice(i, 1);
    this.log(() => { parent.kids!.splice(i, 0, n); }, () => { parent.kids!.splice(i, 1); });
  }

  private log(undo: () => void, redo: (() => void) | null): void {
    this.tx!.undo.push(undo);
    this.tx!.redo.push(redo);
  }

  // -- command bodies (run inside a transaction) --

  private addIn(serverId: string, uri: string, meta: Meta | undefined, data: ItemData | undefined): number {
    const p = this.parse(uri);
    if (typeof p === 'number') return p;
    if (p.prop !== undefined) return 405;
    if (meta && isTndsType(meta.type)) return this.tndsIn(serverId, p, data, false);
    const w = walk(this.root, p.segs);
    if (w.depth === p.segs.length) return 418;
    let parent = w.node;
    if (!isInterior(parent)) return 405;
    if (!this.can(parent, 'Add', serverId)) return 425;
    const format = meta && meta.format || 'chr';
    const type = meta && meta.type || (format === 'node' ? '' : 'text/plain');
    const c = checkValue(format, data);
    if (c !== 200) return c;
    for (let i = w.depth; i < p.segs.length; i++) {
      const last = i === p.segs.length - 1;
      const path = './' + p.segs.slice(0, i + 1).join('/');
      const v = this.veto('Add', path, serverId);
      if (v) return v;
      const n = newNode(p.segs[i], last ? format : 'node', last ? type : '');
      // TND 1.2 §8.3.7.1.3: an interior node added by a server without Replace on the parent
      // gets an ACL giving that server Add, Delete and Replace (Get too: a creator that cannot
      // read back what it made is useless, and DM 1.3 grants it).
      if (isInterior(n) && serverId !== LOCAL_ID && !this.can(parent, 'Replace', serverId)) {
        n.acl = 'Add=' + serverId + '&Delete=' + serverId + '&Get=' + serverId + '&Replace=' + serverId;
      }
      if (last && !isInterior(n) && data !== undefined) {
        const h = this.hostSet(path, data, meta);
        if (h === undefined) n.value = data;
        else if (h >= 300) return h;
      }
      this.attach(parent, n);
      parent = n;
    }
    return 200;
  }

  private replaceIn(serverId: string, uri: string, meta: Meta | undefined, data: ItemData | undefined): number {
    const p = this.parse(uri, true);
    if (typeof p === 'number') return p;
    if (meta && isTndsType(meta.type) && p.prop === undefined) return this.tndsIn(serverId, p, data, true);
    const n = this.nodeAt(p);
    if (!n) return 404;
    if (p.prop !== undefined) return this.replaceProp(serverId, n, p.prop, dataText(data) || '');
    if (isInterior(n)) return 405;
    if (!this.can(n, 'Replace', serverId)) return 425;
    // A Replace without Data empties the value (RepPro: the item's data replaces the node's).
    if (data === undefined) data = '';
    const format = meta && meta.format || n.format;
    const type = meta && meta.type || n.type;
    if (format === 'node' || n.perm && (format !== n.format || type !== n.type)) return 405;
    const c = checkValue(format, data);
    if (c !== 200) return c;
    const v = this.veto('Replace', p.path, serverId);
    if (v) return v;
    const fm = findMount(this.mounts, p.path);
    const old = fm && fm.plugin.get ? fm.plugin.get(fm.rel) : undefined;
    const h = this.hostSet(p.path, data, meta);
    if (h !== undefined) {
      if (h >= 300) return h;
      if (old !== undefined) {
        const pl = fm!.plugin, rel = fm!.rel;
        this.log(() => { pl.set!(rel, old, undefined); }, null);
      }
    }
    this.update(n, { format, type, value: h === undefined ? data : undefined, lo: undefined, loSize: undefined });
    return 200;
  }

  private hostSet(path: string, data: ItemData, meta: Meta | undefined): number | undefined {
    const fm = findMount(this.mounts, path);
    return fm && fm.plugin.set ? fm.plugin.set(fm.rel, data, meta) : undefined;
  }

  private replaceProp(serverId: string, n: TNode, prop: string, v: string): number {
    const parent = n.parent;
    switch (prop) {
      case 'ACL': {
        if (!aclValid(v)) return 400;
        // TND 1.2 §8.3.7.1.3: the parent's Replace right governs a node's ACL; for an interior
        // node its own Replace right does too.
        const ok = parent && this.can(parent, 'Replace', serverId) || (isInterior(n) || !parent) && this.can(n, 'Replace', serverId);
        if (!ok) return 425;
        if (!parent) {
          // The root must keep a value, and its Add stays "*" (§8.3.7.1.2).
          const a = aclIds(v, 'Add');
          if (v === '') return 400;
          if (a.length !== 1 || a[0] !== '*') return 405;
        }
        this.update(n, { acl: v });
        return 200;
      }
      case 'Title':
        if (!this.can(n, 'Replace', serverId)) return 425;
        this.update(n, { title: v });
        return 200;
      case 'Name': {
        if (!parent || n.perm) return 405;
        if (!this.can(n, 'Replace', serverId)) return 425;
        const c = validSegment(v, this.limits);
        if (c !== 200) return c;
        if (v === n.name) return 200;
        if (child(parent, v)) return 418;
        // A rename moves the subtree: recorded as delete + re-put under the new path.
        this.detach(n);
        this.update(n, { name: v });
        this.tx!.recs.pop();
        this.attach(parent, n);
        return 200;
      }
    }
    return PROPS.indexOf(prop) >= 0 ? 405 : 406;
  }

  /** Add/Replace of a TNDS object: creates (or, for Replace, replaces) a subtree, all or nothing. */
  private tndsIn(serverId: string, p: ParsedUri, data: ItemData | undefined, replace: boolean): number {
    if (p.prop !== undefined) return 405;
    const doc = parseTnds(data);
    if (typeof doc === 'number') return doc;
    const base = p.path;
    if (!this.nodeAt(p)) {
      // The target is where the object's nodes go; it may be created implicitly.
      const c = this.addIn(serverId, base, { format: 'node' }, undefined);
      if (c >= 300) return c;
    }
    for (let i = 0; i < doc.length; i++) {
      const c = this.tndsNode(serverId, base, doc[i], replace);
      if (c >= 300) return c;
    }
    return 200;
  }

  private tndsNode(serverId: string, base: string, t: TndsNode, replace: boolean): number {
    // Path is relative to the target, unless it is absolute ("./A" or ".").
    const dir = t.path && t.path.charAt(0) === '.' ? t.path : base + (t.path ? '/' + t.path : '');
    const uri = dir + '/' + t.name;
    const existing = this.find(uri);
    const m: Meta = { format: t.format || (existing ? existing.format : t.kids.length ? 'node' : 'chr') };
    if (t.type) m.type = t.type;
    let code: number;
    if (existing && replace) {
      code = isInterior(existing) ? (m.format === 'node' ? 200 : 405) : this.replaceIn(serverId, uri, m, t.value !== undefined ? t.value : '');
    } else {
      code = this.addIn(serverId, uri, m, m.format === 'node' ? undefined : t.value);
    }
    if (code >= 300) return code;
    const props: Array<[string, string | undefined]> = [['ACL', t.acl], ['Title', t.title]];
    for (let i = 0; i < props.length; i++) {
      if (props[i][1] === undefined) continue;
      code = this.replaceIn(serverId, uri + '?prop=' + props[i][0], undefined, props[i][1]);
      if (code >= 300) return code;
    }
    for (let i = 0; i < t.kids.length; i++) {
      code = this.tndsNode(serverId, uri, t.kids[i], replace);
      if (code >= 300) return code;
    }
    return 200;
  }

  // -- replay --

  private applyRecord(rec: StoreRecord): void {
    // Records of other store owners (and anything malformed) are not ours to interpret.
    const a = rec as unknown[];
    if (!Array.isArray(a)) return;
    if (a[0] === CHUNK) {
      if (typeof a[1] === 'number' && a[1] >= this.nextLo) this.nextLo = a[1] + 1;
      return;
    }
    if (a[0] !== PUT && a[0] !== DEL || typeof a[1] !== 'string' || a[1].charAt(0) !== '.') return;
    const segs = pathSegs(a[1] as string);
    const w = walk(this.root, segs);
    if (a[0] === DEL) {
      if (segs.length && w.depth === segs.length) {
        const p = w.node.parent!;
        p.kids!.splice(p.kids!.indexOf(w.node), 1);
      }
      return;
    }
    let n = w.node;
    if (w.depth < segs.length) {
      if (w.depth !== segs.length - 1 || !isInterior(n)) return;
      const c = newNode(segs[segs.length - 1], a[2] as string, a[3] as string);
      c.parent = n;
      n.kids!.push(c);
      n = c;
    }
    n.format = a[2] as string;
    if (isInterior(n) && !n.kids) n.kids = [];
    n.type = a[3] as string;
    n.acl = a[4] as string;
    n.title = a[5] as string;
    n.tstamp = a[6] as number;
    n.verNo = a[7] as number;
    n.value = a[8] === null ? undefined : a[8] as ItemData;
    n.lo = a[9] === null ? undefined : a[9] as number;
    n.loSize = a[10] === null ? undefined : a[10] as number;
    n.saved = true;
    if (n.lo !== undefined && n.lo >= this.nextLo) this.nextLo = n.lo + 1;
  }
}

/** Maps a store exception to a DM code: StoreError 'full' is 420 (device full), 'too-large' 413. */
function oneItem(uri: string, meta: Meta, data: ItemData): GetOutcome {
  return { code: 200, items: [{ source: { locURI: uri }, meta, data }] };
}

function storeCode(e: unknown, dflt: number): number {
  const k = e && (e as { kind?: string }).kind;
  return k === 'full' ? 420 : k === 'too-large' ? 413 : dflt;
}

function undoTo(tx: Tx, u: number, r: number, no: number): void {
  for (let i = tx.undo.length - 1; i >= u; i--) tx.undo[i]();
  tx.undo.length = u;
  tx.redo.length = u;
  tx.recs.length = r;
  tx.notes.length = no;
}

/** "+ACL+Value" / "-Value": plain TNDS carries Format, Type and Value; '+' adds, '-' removes. */
function tndsProps(spec: string): TndsProps {
  const props: TndsProps = { Format: true, Type: true, Value: true };
  const re = /([+-])([A-Za-z]+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(spec))) props[m[2]] = m[1] === '+';
  return props;
}
