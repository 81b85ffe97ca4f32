// fast-check arbitraries for random, valid SyncML DM models (model.ts). Shared by the XML and
// WBXML property tests. Generated models are in the canonical form a decoder returns: optional
// keys are absent rather than undefined, flags are `true` or absent, EMI lists are non-empty,
// and no UnsupportedCommand (encoders refuse it).
import fc from 'fast-check';
import type {
  SyncML, SyncHdr, Command, Item, Meta, Loc, Cred, Chal, Status, Results, ItemData,
} from '../../src/codec/model.js';

export interface ArbOptions {
  /** Let Item Data be bytes (WBXML OPAQUE) as well as text. XML turns bytes into text, so off by default. */
  binary?: boolean;
  /** Deepest Atomic/Sequence nesting (default 2). */
  maxNesting?: number;
}

// Text pieces chosen to stress escaping and encoding: markup characters, CDATA terminator,
// CR (normalised by XML readers unless escaped), tab/newline, 2-, 3- and 4-byte UTF-8.
const piece = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'Z', '0', '7', '.', '/', '?', '=', '-', '_', ':', '+') },
  { weight: 3, arbitrary: fc.constantFrom(' ', '\n', '\t', '\r', '\r\n') },
  { weight: 3, arbitrary: fc.constantFrom('<', '>', '&', '"', "'", ']]>', '&amp;', '<![CDATA[', '<a>x</a>') },
  { weight: 2, arbitrary: fc.constantFrom('é', '€', '東', '😀', '𝄞', 'Ω') },
);

/** Any text XML and WBXML can carry (may be empty, may be only whitespace). */
export const arbText = fc.string({ unit: piece, maxLength: 12 });
/** Non-empty text for identifiers. */
const arbId = fc.string({ unit: piece, minLength: 1, maxLength: 6 });
const arbUri = fc.oneof(
  fc.constantFrom('./DevInfo/Man', './SCOMO/Download/Pkg1/Operations/DownloadInstall', 'https://dm.example.com/dm', 'IMEI:493005100592800', './DevDetail?list=TNDS+ACL'),
  arbId,
);
const arbCode = fc.integer({ min: 100, max: 1999 });
const flag = fc.constant(true as const);

export const arbLoc: fc.Arbitrary<Loc> = fc.record({ locURI: arbUri, locName: arbText }, { requiredKeys: ['locURI'], noNullPrototype: true });

export const arbMeta: fc.Arbitrary<Meta> = fc.record({
  format: fc.oneof(fc.constantFrom('chr', 'b64', 'int', 'node', 'xml', 'bin'), arbText),
  type: fc.oneof(fc.constantFrom('text/plain', 'syncml:auth-md5', 'application/vnd.syncml.dmtnds+xml'), arbText),
  mark: arbText,
  size: fc.oneof(fc.nat().map(String), arbText),
  anchor: fc.record({ last: arbText, next: arbText }, { requiredKeys: [], noNullPrototype: true }),
  version: arbText,
  nextNonce: arbText,
  maxMsgSize: fc.nat().map(String),
  maxObjSize: fc.nat().map(String),
  emi: fc.array(arbText, { minLength: 1, maxLength: 3 }),
  mem: fc.record({ sharedMem: flag, freeMem: arbText, freeID: arbText }, { requiredKeys: [], noNullPrototype: true }),
  fieldLevel: flag,
}, { requiredKeys: [], noNullPrototype: true });

const arbCred: fc.Arbitrary<Cred> = fc.record({ meta: arbMeta, data: arbText }, { requiredKeys: ['data'], noNullPrototype: true });
const arbChal: fc.Arbitrary<Chal> = fc.record({ meta: arbMeta }, { noNullPrototype: true });

function arbItem(o: ArbOptions): fc.Arbitrary<Item> {
  const data: fc.Arbitrary<ItemData> = o.binary
    ? fc.oneof(arbText, fc.uint8Array({ minLength: 1, maxLength: 40 }))
    : arbText;
  return fc.record({
    target: arbLoc, source: arbLoc, sourceParent: arbLoc, targetParent: arbLoc,
    meta: arbMeta, data, moreData: flag,
  }, { requiredKeys: [], noNullPrototype: true });
}

function arbCommand(o: ArbOptions, depth: number, inBody: boolean): fc.Arbitrary<Command> {
  const items = fc.array(arbItem(o), { maxLength: 3 });
  const base = { cmdID: arbId, noResp: flag };
  const req = ['kind', 'cmdID', 'items'] as const;
  const plain = (kind: 'Add' | 'Replace' | 'Copy') =>
    fc.record({ kind: fc.constant(kind), ...base, cred: arbCred, meta: arbMeta, items }, { requiredKeys: [...req], noNullPrototype: true });
  const simple: fc.Arbitrary<Command>[] = [
    plain('Add'), plain('Replace'), plain('Copy'),
    fc.record({ kind: fc.constant('Delete' as const), ...base, archive: flag, sftDel: flag, cred: arbCred, meta: arbMeta, items }, { requiredKeys: [...req], noNullPrototype: true }),
    fc.record({ kind: fc.constant('Get' as const), ...base, lang: arbText, cred: arbCred, meta: arbMeta, items }, { requiredKeys: [...req], noNullPrototype: true }),
    fc.record({ kind: fc.constant('Exec' as const), ...base, cred: arbCred, meta: arbMeta, correlator: arbText, items }, { requiredKeys: [...req], noNullPrototype: true }),
    fc.record({ kind: fc.constant('Alert' as const), ...base, cred: arbCred, code: arbCode, correlator: arbText, items }, { requiredKeys: [...req], noNullPrototype: true }),
  ];
  if (inBody) {
    simple.push(
      fc.record({
        kind: fc.constant('Status' as const), cmdID: arbId, msgRef: arbId, cmdRef: arbId,
        cmd: fc.constantFrom('SyncHdr', 'Alert', 'Replace', 'Exec', 'Get'),
        targetRefs: fc.array(arbUri, { maxLength: 2 }), sourceRefs: fc.array(arbUri, { maxLength: 2 }),
        cred: arbCred, chal: arbChal, code: arbCode, items,
      }, { requiredKeys: ['kind', 'cmdID', 'msgRef', 'cmdRef', 'cmd', 'targetRefs', 'sourceRefs', 'code', 'items'], noNullPrototype: true }) as fc.Arbitrary<Status>,
      fc.record({
        kind: fc.constant('Results' as const), cmdID: arbId, msgRef: arbId, cmdRef: arbId, meta: arbMeta,
        targetRefs: fc.array(arbUri, { maxLength: 2 }), sourceRefs: fc.array(arbUri, { maxLength: 2 }),
        items: fc.array(arbItem(o), { minLength: 1, maxLength: 3 }),
      }, { requiredKeys: ['kind', 'cmdID', 'cmdRef', 'targetRefs', 'sourceRefs', 'items'], noNullPrototype: true }) as fc.Arbitrary<Results>,
    );
  }
  if (depth <= 0) return fc.oneof(...simple);
  const inner = fc.array(arbCommand(o, depth - 1, false), { maxLength: 3 });
  const container = (kind: 'Atomic' | 'Sequence') =>
    fc.record({ kind: fc.constant(kind), ...base, meta: arbMeta, commands: inner }, { requiredKeys: ['kind', 'cmdID', 'commands'], noNullPrototype: true });
  return fc.oneof(...simple, container('Atomic'), container('Sequence'));
}

export const arbHdr: fc.Arbitrary<SyncHdr> = fc.record({
  verDTD: fc.constant('1.2'), verProto: fc.constant('DM/1.2'), sessionID: arbId, msgID: arbId,
  target: arbLoc, source: arbLoc, respURI: arbUri, noResp: flag, cred: arbCred, meta: arbMeta,
}, { requiredKeys: ['verDTD', 'verProto', 'sessionID', 'msgID', 'target', 'source'], noNullPrototype: true });

/** A random valid SyncML DM message. */
export function arbSyncML(opts?: ArbOptions): fc.Arbitrary<SyncML> {
  const o = opts || {};
  return fc.record({
    hdr: arbHdr,
    body: fc.record({
      commands: fc.array(arbCommand(o, o.maxNesting ?? 2, true), { maxLength: 5 }),
      final: fc.boolean(),
    }, { noNullPrototype: true }),
  }, { noNullPrototype: true });
}
