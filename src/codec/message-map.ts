// Maps between the generic element tree (element.ts) and the typed SyncML DM model (model.ts).
// Both encodings go through here, so XML and WBXML cannot disagree about the model.
//
// One table (FIELD) says, for every element the model knows, which model key it fills and how;
// per-construct name lists give the DTD order the writer uses. Decisions:
// - Reading accepts children in any order (peers are sloppy about order); writing follows the DTD.
// - A duplicate single-valued element, or a mandatory one missing, is 'invalid-value'.
// - An element the model does not define inside a known construct is 'unknown-element'.
// - SyncML commands DM does not use (Sync, Map, Put, Search, Move) become UnsupportedCommand
//   so the DM layer can answer 406; writing one is 'unencodable'.
// - MetInf elements are accepted in syncml:metinf or, leniently, in the SyncML namespace
//   (some clients omit the xmlns); they are always written in syncml:metinf.
// - Data holding inline XML elements (e.g. a TNDS MgmtTree written as elements, or DDF code
//   page 2 in WBXML) becomes a string holding that XML, which is how TNDS is carried as text.
import { XElement, XChild, NS_SYNCML, NS_METINF, el, isElement } from './element.js';
import { Result, CodecErrorKind, fail, ok } from './errors.js';
import { Command, SyncML, SyncHdr } from './model.js';
import { utf8DecodeStrict } from './utf8.js';
import { writeXmlString } from './xml-writer.js';

const TEXT = 0, FLAG = 1, LOC = 2, META = 3, CRED = 4, CHAL = 5, ITEMS = 6, TEXTS = 7, CODE = 8, DATA = 9, ANCHOR = 10, MEM = 11, EMI = 12;

// Tables are written as strings (split once at load) because this code ships on devices and
// string lists minify far smaller than object literals.

/** Element name -> [model key, value kind]. The key is the name with a lower-case initial unless listed. */
const FIELD: { [name: string]: [string, number] } = {};
const KEYS: { [name: string]: string } = { Item: 'items', TargetRef: 'targetRefs', SourceRef: 'sourceRefs', EMI: 'emi' };
// `Name:kind`, kind as above; no suffix = TEXT.
('CmdID NoResp:1 Archive:1 SftDel:1 Lang Cred:4 Meta:3 Correlator Item:6 MsgRef CmdRef Cmd TargetRef:7 SourceRef:7 Chal:5 ' +
  'Data:9 VerDTD VerProto SessionID MsgID Target:2 Source:2 SourceParent:2 TargetParent:2 RespURI MoreData:1 LocURI LocName ' +
  // MetInf
  'Format Type Mark Size Anchor:10 Version NextNonce MaxMsgSize MaxObjSize EMI:12 Mem:11 FieldLevel:1 Last Next SharedMem:1 FreeMem FreeID')
  .split(' ').forEach((d) => {
    const p = d.split(':');
    const name = p[0];
    FIELD[name] = [KEYS[name] || name.charAt(0).toLowerCase() + name.slice(1), p[1] ? +p[1] : TEXT];
  });

const list = (s: string): string[] => s.split(' ');
// Content models in DTD order; a leading '!' marks a mandatory element.
const HDR = list('!VerDTD !VerProto !SessionID !MsgID !Target !Source RespURI NoResp Cred Meta');
const LOC_F = list('!LocURI LocName');
const ITEM_F = list('Target Source SourceParent TargetParent Meta Data MoreData');
const CRED_F = list('Meta !Data');
const CHAL_F = list('!Meta');
const META_F = list('Format Type Mark Size Anchor Version NextNonce MaxMsgSize MaxObjSize EMI Mem FieldLevel');
const ANCHOR_F = list('Last Next');
const MEM_F = list('SharedMem FreeMem FreeID');
/** Kinds that are nested structures: [content model, children in MetInf]. */
const STRUCT: { [kind: number]: [string[], boolean] } = {};
STRUCT[LOC] = [LOC_F, false];
STRUCT[META] = [META_F, true];
STRUCT[CRED] = [CRED_F, false];
STRUCT[CHAL] = [CHAL_F, false];
STRUCT[ANCHOR] = [ANCHOR_F, true];
STRUCT[MEM] = [MEM_F, true];
const PLAIN = '!CmdID NoResp Cred Meta Item';
const COMMANDS: { [kind: string]: string[] } = {
  Add: list(PLAIN),
  Replace: list(PLAIN),
  Copy: list(PLAIN),
  Delete: list('!CmdID NoResp Archive SftDel Cred Meta Item'),
  Get: list('!CmdID NoResp Lang Cred Meta Item'),
  Exec: list('!CmdID NoResp Cred Meta Correlator Item'),
  Alert: list('!CmdID NoResp Cred Data Correlator Item'),
  Atomic: list('!CmdID NoResp Meta'),
  Sequence: list('!CmdID NoResp Meta'),
  Status: list('!CmdID !MsgRef !CmdRef !Cmd TargetRef SourceRef Cred Chal !Data Item'),
  Results: list('!CmdID MsgRef !CmdRef Meta TargetRef SourceRef Item'),
};
/** SyncML commands DM does not use (SyncML RepPro); kept as UnsupportedCommand. */
const UNSUPPORTED = list('Map Put Search Sync Move');
/** Commands allowed inside Atomic and Sequence (DM 1.2 subset of the DTD's lists). */
const NESTED = list('Add Alert Atomic Copy Delete Exec Get Replace Sequence');

const IV: CodecErrorKind = 'invalid-value', UE: CodecErrorKind = 'unknown-element';

/** Thrown inside this module only; the entry points turn it into a Result. */
interface MapError { mk: CodecErrorKind; m: string }

function bad(kind: CodecErrorKind, message: string): never {
  const e: MapError = { mk: kind, m: message };
  throw e;
}

function caught(e: unknown): Result<never> {
  const x = e as MapError;
  return x && x.mk ? fail(x.mk, x.m) : fail('invalid-value', 'mapping failed: ' + String(e));
}

function has(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function isLayout(s: string): boolean {
  return /^[ \t\r\n]*$/.test(s);
}

// ---------------------------------------------------------------------------------------------
// Reading

/** The namespace of the SyncML elements of the message being read (the root's). */
let sml = NS_SYNCML;

function elements(e: XElement): XElement[] {
  const out: XElement[] = [];
  for (let k = 0; k < e.children.length; k++) {
    const c = e.children[k];
    if (typeof c === 'string') { if (!isLayout(c)) bad(IV, `text inside <${e.name}>`); }
    else if (c instanceof Uint8Array) bad(IV, `binary data inside <${e.name}>`);
    else out.push(c);
  }
  return out;
}

function text(e: XElement): string {
  let s = '';
  for (let k = 0; k < e.children.length; k++) {
    const c = e.children[k];
    if (typeof c === 'string') s += c;
    else if (c instanceof Uint8Array) s += bytesAsText(c, e.name);
    else bad(UE, `<${c.name}> inside <${e.name}>`);
  }
  return s;
}

function bytesAsText(b: Uint8Array, name: string): string {
  const r = utf8DecodeStrict(b);
  if (typeof r === 'number') bad(IV, `<${name}> holds binary data that is not UTF-8 text`);
  return r as string;
}

function code(e: XElement): number {
  const s = text(e).trim();
  if (!/^[0-9]{1,6}$/.test(s)) bad(IV, `<${e.name}> code '${s.slice(0, 20)}' is not a number`);
  return parseInt(s, 10);
}

/** Item Data: text, bytes, or inline XML turned into its text. */
function data(e: XElement): string | Uint8Array {
  const kids = e.children;
  if (kids.length === 1 && kids[0] instanceof Uint8Array) return kids[0];
  let hasEl = false;
  for (let k = 0; k < kids.length; k++) if (isElement(kids[k])) hasEl = true;
  if (!hasEl) return text(e);
  const parts: string[] = [];
  for (let k = 0; k < kids.length; k++) {
    const c = kids[k];
    if (typeof c === 'string') parts.push(c.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
    else if (c instanceof Uint8Array) parts.push(bytesAsText(c, 'Data'));
    else {
      const r = writeXmlString(c);
      if (!r.ok) bad(IV, 'inline XML in <Data>: ' + r.error.message);
      parts.push(r.value);
    }
  }
  return parts.join('');
}

/** Reads the children of `e` named in `names` into `o` (a new object unless given). */
function fields(e: XElement, names: string[], metinf: boolean, dataKind: number, init?: any): any {
  const o: any = init || {};
  for (let k = 0; k < names.length; k++) {
    const f = FIELD[names[k].replace('!', '')];
    if (f[1] === ITEMS || f[1] === TEXTS) o[f[0]] = [];
  }
  const kids = elements(e);
  for (let k = 0; k < kids.length; k++) {
    const c = kids[k];
    const nsOk = c.ns === sml || (metinf && c.ns === NS_METINF);
    if (!nsOk || !has(FIELD, c.name) || (names.indexOf(c.name) < 0 && names.indexOf('!' + c.name) < 0)) {
      if (o.commands && nsOk && (NESTED.indexOf(c.name) >= 0 || UNSUPPORTED.indexOf(c.name) >= 0)) {
        o.commands.push(command(c, true));
        continue;
      }
      if (o.commands && nsOk && has(COMMANDS, c.name)) bad(IV, `<${c.name}> inside <${e.name}>`);
      bad(UE, `<${c.name}>${c.ns !== sml ? ' (namespace ' + c.ns + ')' : ''} inside <${e.name}>`);
    }
    const f = FIELD[c.name];
    const kind = c.name === 'Data' ? dataKind : f[1];
    const key = kind === CODE ? 'code' : f[0];
    if (kind === ITEMS) { o[key].push(fields(c, ITEM_F, false, DATA)); continue; }
    if (kind === TEXTS) { o[key].push(text(c)); continue; }
    if (kind === EMI) { (o[key] || (o[key] = [])).push(text(c)); continue; }
    if (has(o, key)) bad(IV, `more than one <${c.name}> inside <${e.name}>`);
    const st = STRUCT[kind];
    o[key] = st ? fields(c, st[0], st[1], TEXT) : kind === FLAG ? (elements(c), true) : kind === CODE ? code(c) : kind === DATA ? data(c) : text(c);
  }
  for (let k = 0; k < names.length; k++) {
    if (names[k].charAt(0) !== '!') continue;
    const name = names[k].slice(1);
    const key = name === 'Data' && dataKind === CODE ? 'code' : FIELD[name][0];
    if (!has(o, key)) bad(IV, `<${e.name}> is missing <${name}>`);
  }
  return o;
}

function command(e: XElement, nested: boolean): Command {
  const name = e.name;
  if (UNSUPPORTED.indexOf(name) >= 0) {
    let cmdID = '';
    const kids = e.children;
    for (let k = 0; k < kids.length; k++) {
      const c = kids[k];
      if (isElement(c) && c.name === 'CmdID' && c.ns === sml) cmdID = text(c);
    }
    return { kind: 'Unsupported', name, cmdID };
  }
  if (!has(COMMANDS, name)) bad(UE, `<${name}> inside <SyncBody>`);
  if (nested && NESTED.indexOf(name) < 0) bad(IV, `<${name}> inside Atomic or Sequence`);
  const o: any = { kind: name };
  if (name === 'Atomic' || name === 'Sequence') o.commands = [];
  return fields(e, COMMANDS[name], false, name === 'Alert' || name === 'Status' ? CODE : DATA, o) as Command;
}

function one(parent: XElement, kids: XElement[], name: string): XElement {
  let found: XElement | null = null;
  for (let k = 0; k < kids.length; k++) {
    const c = kids[k];
    if (c.ns !== sml || (c.name !== 'SyncHdr' && c.name !== 'SyncBody')) bad(UE, `<${c.name}> inside <${parent.name}>`);
    if (c.name !== name) continue;
    if (found) bad(IV, `more than one <${name}>`);
    found = c;
  }
  if (!found) bad(IV, `<${parent.name}> is missing <${name}>`);
  return found;
}

/** Maps a decoded element tree to the SyncML DM model. */
export function elementToMessage(root: XElement): Result<SyncML> {
  try {
    if (root.name !== 'SyncML') bad(UE, `root element <${root.name}> is not <SyncML>`);
    // SyncML 1.2 is the target; 1.1 namespaces and a missing xmlns are read the same way.
    if (root.ns !== '' && !/^SYNCML:SYNCML1\.[012]$/i.test(root.ns)) bad(UE, `<SyncML> in namespace ${root.ns}`);
    sml = root.ns;
    const kids = elements(root);
    const hdr = fields(one(root, kids, 'SyncHdr'), HDR, false, TEXT) as SyncHdr;
    const bodyEl = one(root, kids, 'SyncBody');
    const commands: Command[] = [];
    let final = false;
    const bk = elements(bodyEl);
    for (let k = 0; k < bk.length; k++) {
      const c = bk[k];
      if (c.ns !== sml) bad(UE, `<${c.name}> (namespace ${c.ns}) inside <SyncBody>`);
      if (c.name === 'Final') {
        if (final) bad(IV, 'more than one <Final>');
        elements(c);
        final = true;
      } else {
        try {
          commands.push(command(c, false));
        } catch (x) {
          // Say which command, so a peer's log points at it (the tree has no byte offsets).
          const me = x as MapError;
          if (me && me.mk) me.m += ` (SyncBody command ${k + 1}, <${c.name}>)`;
          throw x;
        }
      }
    }
    return ok({ hdr, body: { commands, final } });
  } catch (e) {
    return caught(e);
  } finally {
    sml = NS_SYNCML;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

function leaf(name: string, ns: string, v: unknown, owner: string): XElement {
  if (typeof v !== 'string') bad(IV, `${owner}: <${name}> must be a string`);
  return el(name, ns, v === '' ? [] : [v]);
}

function write(o: any, names: string[], ns: string, dataKind: number, owner: string): XChild[] {
  const out: XChild[] = [];
  for (let k = 0; k < names.length; k++) {
    const req = names[k].charAt(0) === '!';
    const name = req ? names[k].slice(1) : names[k];
    const f = FIELD[name];
    const kind = name === 'Data' ? dataKind : f[1];
    const key = kind === CODE ? 'code' : f[0];
    const v = o[key];
    if (v === undefined || v === false) {
      if (req) bad(IV, `${owner} is missing ${key}`);
      continue;
    }
    const st = STRUCT[kind];
    if (st) out.push(el(name, ns, write(v, st[0], st[1] ? NS_METINF : ns, TEXT, name)));
    else if (kind === FLAG) out.push(el(name, ns, []));
    else if (kind === CODE) {
      if (typeof v !== 'number' || !(v >= 0 && v <= 999999) || Math.floor(v) !== v) bad(IV, `${owner}: code ${v} is not an integer 0..999999`);
      out.push(el(name, ns, ['' + v]));
    } else if (kind === DATA && v instanceof Uint8Array) out.push(el(name, ns, v.length ? [v] : []));
    else if (kind === ITEMS || kind === TEXTS || kind === EMI) {
      for (let j = 0; j < v.length; j++) out.push(kind === ITEMS ? el(name, ns, write(v[j], ITEM_F, ns, DATA, 'Item')) : leaf(name, ns, v[j], owner));
    } else out.push(leaf(name, ns, v, owner));
  }
  return out;
}

function writeCommand(c: Command): XElement {
  if (c.kind === 'Unsupported') bad('unencodable', `${c.name} is not a DM command and cannot be written`);
  if (!has(COMMANDS, c.kind)) bad(IV, `unknown command kind ${c.kind}`);
  const kids = write(c, COMMANDS[c.kind], NS_SYNCML, c.kind === 'Alert' || c.kind === 'Status' ? CODE : DATA, c.kind);
  if (c.kind === 'Atomic' || c.kind === 'Sequence') {
    for (let k = 0; k < c.commands.length; k++) {
      const n = c.commands[k];
      if (NESTED.indexOf(n.kind) < 0 && n.kind !== 'Unsupported') bad(IV, `${n.kind} inside ${c.kind}`);
      kids.push(writeCommand(n));
    }
  }
  return el(c.kind, NS_SYNCML, kids);
}

/** Maps the model to the element tree both writers consume (SyncML 1.2 namespaces). */
export function messageToElement(msg: SyncML): Result<XElement> {
  try {
    const body: XChild[] = [];
    for (let k = 0; k < msg.body.commands.length; k++) body.push(writeCommand(msg.body.commands[k]));
    if (msg.body.final) body.push(el('Final', NS_SYNCML, []));
    return ok(el('SyncML', NS_SYNCML, [
      el('SyncHdr', NS_SYNCML, write(msg.hdr, HDR, NS_SYNCML, TEXT, 'SyncHdr')),
      el('SyncBody', NS_SYNCML, body),
    ]));
  } catch (e) {
    return caught(e);
  }
}
