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
import { Result, ok } from './errors.js';
import { Command, SyncML, SyncHdr } from './model.js';
import { utf8DecodeStrict } from './utf8.js';
import { writeXmlString } from './xml-writer.js';
import { raise, caught, Raised, UNK, INV, UNENC } from './raise.js';

// Value kinds. Structures 2..7 (Loc, Meta, Cred, Chal, Anchor, Mem) index STRUCT from LOC.
// Lists are ITEMS..EMI (EMI: a list that is absent rather than empty).
const TEXT = 0, FLAG = 1, LOC = 2, MEM = 7, ITEMS = 8, TEXTS = 9, EMI = 10, CODE = 11, DATA = 12;

// Tables are written as strings (split once at load) because this code ships on devices and
// string lists minify far smaller than object literals.

/** Element name -> [model key, value kind]. The key is the name with a lower-case initial unless listed. */
const FIELD: { [name: string]: [string, number] } = {};
const KEYS: { [name: string]: string } = { Item: 'items', TargetRef: 'targetRefs', SourceRef: 'sourceRefs', EMI: 'emi' };
// `Name:kind`, kind as above (base 36); no suffix = TEXT.
('CmdID NoResp:1 Archive:1 SftDel:1 Lang Cred:4 Meta:3 Correlator Item:8 MsgRef CmdRef Cmd TargetRef:9 SourceRef:9 Chal:5 ' +
  'Data:c VerDTD VerProto SessionID MsgID Target:2 Source:2 SourceParent:2 TargetParent:2 RespURI MoreData:1 LocURI LocName ' +
  // MetInf
  'Format Type Mark Size Anchor:6 Version NextNonce MaxMsgSize MaxObjSize EMI:a Mem:7 FieldLevel:1 Last Next SharedMem:1 FreeMem FreeID')
  .split(' ').forEach((d) => {
    const p = d.split(':');
    const name = p[0];
    FIELD[name] = [KEYS[name] || name.charAt(0).toLowerCase() + name.slice(1), parseInt(p[1] || '0', 36)];
  });

const list = (s: string): string[] => s.split(' ');

/** A content model: child names in DTD order, the mandatory ones, and whether children are MetInf. */
interface Model { n: string[]; r: string[]; m: boolean; s: { [name: string]: number } }

/** `spec`: names in DTD order, '!' before a mandatory one; a leading '*' marks MetInf children. */
function model(spec: string): Model {
  const md: Model = { n: [], r: [], m: spec.charAt(0) === '*', s: {} };
  list(spec.replace('*', '')).forEach((d) => {
    const name = d.replace('!', '');
    if (name !== d) md.r.push(name);
    md.n.push(name);
    md.s[name] = 1;
  });
  return md;
}

const HDR = model('!VerDTD !VerProto !SessionID !MsgID !Target !Source RespURI NoResp Cred Meta');
const ITEM_F = model('Target Source SourceParent TargetParent Meta Data MoreData');
/** Content models of the nested structures (LOC META CRED CHAL ANCHOR MEM). */
const STRUCT = ('!LocURI LocName|*Format Type Mark Size Anchor Version NextNonce MaxMsgSize MaxObjSize EMI Mem FieldLevel' +
  '|Meta !Data|!Meta|*Last Next|*SharedMem FreeMem FreeID').split('|').map(model);
const COMMANDS: { [kind: string]: Model } = {};
('Add Replace Copy=Cred Meta Item|Delete=Archive SftDel Cred Meta Item|Get=Lang Cred Meta Item|Exec=Cred Meta Correlator Item|' +
  'Alert=Cred Data Correlator Item|Atomic Sequence=Meta|Status=!MsgRef !CmdRef !Cmd TargetRef SourceRef Cred Chal !Data Item|' +
  'Results=MsgRef !CmdRef Meta TargetRef SourceRef Item').split('|').forEach((d) => {
  const p = d.split('=');
  const f = model((p[0] === 'Status' || p[0] === 'Results' ? '!CmdID ' : '!CmdID NoResp ') + p[1]);
  list(p[0]).forEach((k) => { COMMANDS[k] = f; });
});
/** SyncML commands DM does not use (SyncML RepPro); kept as UnsupportedCommand. */
const UNSUPPORTED = list('Map Put Search Sync Move');
/** Commands allowed inside Atomic and Sequence (DM 1.2 subset of the DTD's lists). */
const NESTED = list('Add Alert Atomic Copy Delete Exec Get Replace Sequence');

function has(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function inside(c: string, p: string): never {
  return raise(UNK, `<${c}> inside <${p}>`);
}

// ---------------------------------------------------------------------------------------------
// Reading

/** The namespace of the SyncML elements of the message being read (the root's). */
let sml = NS_SYNCML;

function elements(e: XElement): XElement[] {
  const out: XElement[] = [];
  for (let k = 0; k < e.children.length; k++) {
    const c = e.children[k];
    if (isElement(c)) out.push(c);
    else if (typeof c !== 'string' || !/^[ \t\r\n]*$/.test(c)) raise(INV, `content in <${e.name}>`);
  }
  return out;
}

function text(e: XElement): string {
  let s = '';
  for (let k = 0; k < e.children.length; k++) {
    const c = e.children[k];
    s += typeof c === 'string' ? c : c instanceof Uint8Array ? bytesAsText(c, e.name) : inside(c.name, e.name);
  }
  return s;
}

function bytesAsText(b: Uint8Array, name: string): string {
  const r = utf8DecodeStrict(b);
  return typeof r === 'number' ? raise(INV, `binary <${name}>`) : r;
}

/** Item Data: text, bytes, or inline XML turned into its text. */
function data(e: XElement): string | Uint8Array {
  const kids = e.children;
  if (kids.length === 1 && kids[0] instanceof Uint8Array) return kids[0];
  let hasEl = false;
  for (let k = 0; k < kids.length; k++) if (isElement(kids[k])) hasEl = true;
  if (!hasEl) return text(e);
  let s = '';
  for (let k = 0; k < kids.length; k++) {
    const c = kids[k];
    if (typeof c === 'string') s += c.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    else if (c instanceof Uint8Array) s += bytesAsText(c, 'Data');
    else {
      const r = writeXmlString(c);
      s += r.ok ? r.value : raise(INV, 'inline XML: ' + r.error.message);
    }
  }
  return s;
}

/** Reads the children of `e` named in `names` into `o` (a new object unless given). */
function fields(e: XElement, md: Model, dataKind: number, init?: any): any {
  const o: any = init || {};
  const names = md.n;
  for (let k = 0; k < names.length; k++) {
    const f = FIELD[names[k]];
    if (f[1] === ITEMS || f[1] === TEXTS) o[f[0]] = [];
  }
  const kids = elements(e);
  for (let k = 0; k < kids.length; k++) {
    const c = kids[k];
    const name = c.name;
    const nsOk = c.ns === sml || (md.m && c.ns === NS_METINF);
    if (!nsOk || !has(md.s, name)) {
      if (o.commands && nsOk) {
        if (NESTED.indexOf(name) >= 0 || UNSUPPORTED.indexOf(name) >= 0) {
          o.commands.push(command(c));
          continue;
        }
        if (has(COMMANDS, name)) raise(INV, `<${name}> inside <${e.name}>`);
      }
      inside(name, e.name);
    }
    const f = FIELD[name];
    const kind = name === 'Data' ? dataKind : f[1];
    const key = kind === CODE ? 'code' : f[0];
    if (kind >= ITEMS && kind <= EMI) {
      (o[key] || (o[key] = [])).push(kind === ITEMS ? fields(c, ITEM_F, DATA) : text(c));
      continue;
    }
    if (has(o, key)) raise(INV, `two <${name}> in <${e.name}>`);
    let v: any;
    if (kind >= LOC && kind <= MEM) v = fields(c, STRUCT[kind - LOC], TEXT);
    else if (kind === FLAG) v = (elements(c), true);
    else if (kind === CODE) {
      v = text(c).trim();
      if (!/^[0-9]{1,6}$/.test(v)) raise(INV, `bad code in <${name}>`);
      v = parseInt(v, 10);
    } else v = kind === DATA ? data(c) : text(c);
    o[key] = v;
  }
  for (let k = 0; k < md.r.length; k++) {
    const name = md.r[k];
    if (!has(o, name === 'Data' && dataKind === CODE ? 'code' : FIELD[name][0])) raise(INV, `no <${name}> in <${e.name}>`);
  }
  return o;
}

function command(e: XElement): Command {
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
  if (!has(COMMANDS, name)) inside(name, 'SyncBody');
  const o: any = { kind: name };
  if (name === 'Atomic' || name === 'Sequence') o.commands = [];
  return fields(e, COMMANDS[name], name === 'Alert' || name === 'Status' ? CODE : DATA, o) as Command;
}

function one(parent: XElement, kids: XElement[], name: string): XElement {
  let found: XElement | null = null;
  for (let k = 0; k < kids.length; k++) {
    const c = kids[k];
    if (c.ns !== sml || (c.name !== 'SyncHdr' && c.name !== 'SyncBody')) inside(c.name, parent.name);
    if (c.name !== name) continue;
    if (found) raise(INV, `two <${name}>`);
    found = c;
  }
  return found || raise(INV, `no <${name}> in <${parent.name}>`);
}

/** Maps a decoded element tree to the SyncML DM model. */
export function elementToMessage(root: XElement): Result<SyncML> {
  try {
    // SyncML 1.2 is the target; 1.1 namespaces and a missing xmlns are read the same way.
    if (root.name !== 'SyncML' || (root.ns !== '' && !/^SYNCML:SYNCML1\.[012]$/i.test(root.ns))) raise(UNK, `root <${root.name}> ${root.ns}`);
    sml = root.ns;
    const kids = elements(root);
    const hdr = fields(one(root, kids, 'SyncHdr'), HDR, TEXT) as SyncHdr;
    const commands: Command[] = [];
    let final = false;
    const bk = elements(one(root, kids, 'SyncBody'));
    for (let k = 0; k < bk.length; k++) {
      const c = bk[k];
      if (c.ns !== sml) inside(c.name, 'SyncBody');
      if (c.name === 'Final') {
        if (final) raise(INV, 'two <Final>');
        elements(c);
        final = true;
      } else {
        try {
          commands.push(command(c));
        } catch (x) {
          // Say which command, so a peer's log points at it (the tree has no byte offsets).
          if (x && (x as Raised).rk) (x as Raised).m += ` (command ${k + 1})`;
          throw x;
        }
      }
    }
    return ok({ hdr, body: { commands, final } });
  } catch (e) {
    return caught(e, INV);
  } finally {
    sml = NS_SYNCML;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

function leaf(name: string, ns: string, v: unknown): XElement {
  return typeof v === 'string' ? el(name, ns, v === '' ? [] : [v]) : raise(INV, `<${name}> not a string`);
}

function write(o: any, md: Model, ns: string, dataKind: number, owner: string): XChild[] {
  const out: XChild[] = [];
  for (let k = 0; k < md.n.length; k++) {
    const name = md.n[k];
    const f = FIELD[name];
    const kind = name === 'Data' ? dataKind : f[1];
    const key = kind === CODE ? 'code' : f[0];
    const v = o[key];
    if (v === undefined || v === false) {
      if (md.r.indexOf(name) >= 0) raise(INV, `${owner} is missing ${key}`);
      continue;
    }
    if (kind >= LOC && kind <= MEM) {
      const st = STRUCT[kind - LOC];
      out.push(el(name, ns, write(v, st, st.m ? NS_METINF : ns, TEXT, name)));
    } else if (kind === FLAG) out.push(el(name, ns, []));
    else if (kind === CODE) {
      if (typeof v !== 'number' || !(v >= 0 && v <= 999999) || Math.floor(v) !== v) raise(INV, `${owner}: bad code ${v}`);
      out.push(el(name, ns, ['' + v]));
    } else if (kind === DATA && v instanceof Uint8Array) out.push(el(name, ns, v.length ? [v] : []));
    else if (kind >= ITEMS && kind <= EMI) {
      for (let j = 0; j < v.length; j++) out.push(kind === ITEMS ? el(name, ns, write(v[j], ITEM_F, ns, DATA, 'Item')) : leaf(name, ns, v[j]));
    } else out.push(leaf(name, ns, v));
  }
  return out;
}

function writeCommand(c: Command): XElement {
  const kind = c.kind;
  if (kind === 'Unsupported') raise(UNENC, c.name + ' is not DM');
  if (!has(COMMANDS, kind)) raise(INV, 'command kind ' + kind);
  const kids = write(c, COMMANDS[kind], NS_SYNCML, kind === 'Alert' || kind === 'Status' ? CODE : DATA, kind);
  if (kind === 'Atomic' || kind === 'Sequence') {
    for (let k = 0; k < c.commands.length; k++) {
      const n = c.commands[k];
      if (NESTED.indexOf(n.kind) < 0 && n.kind !== 'Unsupported') raise(INV, `${n.kind} inside ${kind}`);
      kids.push(writeCommand(n));
    }
  }
  return el(kind, NS_SYNCML, kids);
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
    return caught(e, INV);
  }
}
