// WBXML code pages and public ids for OMA DM 1.2 (facts §3.2–3.5; libwbxml wbxml_tables.c).
// Plain data: each page lists tag names from code 0x05 upwards, so `tags[code - 5]` is the name
// (written as one space-separated string per page: ~25% smaller once minified).
// One page set serves every document DM exchanges (SyncML messages, TNDS and DDF trees): page 0
// SyncML, page 1 MetInf, page 2 DM DDF, each page being exactly one namespace.
import { NS_SYNCML, NS_METINF, NS_DMDDF } from './element.js';

/** First tag code; 0x00–0x04 are global tokens. */
export const FIRST_TAG = 0x05;

/** SyncML 1.2 code page 0; 0x30 is reserved (the empty name between two spaces). */
export const SYNCML_PAGE_0: readonly string[] = (
  'Add Alert Archive Atomic Chal Cmd CmdID CmdRef Copy Cred Data Delete' + // 0x05-0x10
  ' Exec Final Get Item Lang LocName LocURI Map MapItem Meta MsgID MsgRef' + // 0x11-0x1C
  ' NoResp NoResults Put Replace RespURI Results Search Sequence SessionID SftDel Source SourceRef' + // 0x1D-0x28
  ' Status Sync SyncBody SyncHdr SyncML Target TargetRef  VerDTD VerProto NumberOfChanges MoreData' + // 0x29-0x34
  ' Field Filter Record FilterType SourceParent TargetParent Move Correlator' // 0x35-0x3C
).split(' ');

/** MetInf code page 1. */
export const METINF_PAGE_1: readonly string[] = (
  'Anchor EMI Format FreeID FreeMem Last Mark MaxMsgSize Mem MetInf Next NextNonce' + // 0x05-0x10
  ' SharedMem Size Type Version MaxObjSize FieldLevel' // 0x11-0x16
).split(' ');

/** DM DDF / TNDS code page 2. `Node` (0x24) and the format element `node` (0x25) differ by case. */
export const DMDDF_PAGE_2: readonly string[] = (
  'AccessType ACL Add b64 bin bool chr CaseSense CIS Copy CS date' + // 0x05-0x10
  ' DDFName DefaultValue Delete Description DFFormat DFProperties DFTitle DFType Dynamic Exec float Format' + // 0x11-0x1C
  ' Get int Man MgmtTree MIME Mod Name Node node NodeName null Occurrence' + // 0x1D-0x28
  ' One OneOrMore OneOrN Path Permanent Replace RTProperties Scope Size time Title TStamp' + // 0x29-0x34
  ' Type Value VerDTD VerNo xml ZeroOrMore ZeroOrN ZeroOrOne' // 0x35-0x3C
).split(' ');

/** Page number -> tag names; page number -> namespace. */
export const PAGES: readonly (readonly string[])[] = [SYNCML_PAGE_0, METINF_PAGE_1, DMDDF_PAGE_2];
export const PAGE_NS: readonly string[] = [NS_SYNCML, NS_METINF, NS_DMDDF];

/** Namespace -> page number, or -1 when the namespace has no code page. */
export function pageOfNamespace(ns: string): number {
  return PAGE_NS.indexOf(ns);
}

/** Public ids (facts §3.2). */
export const PUBLIC_ID_UNKNOWN = 0x01;
export const PUBLIC_ID_SYNCML_10 = 0x0fd1;
export const PUBLIC_ID_SYNCML_11 = 0x0fd3;
export const PUBLIC_ID_SYNCML_12 = 0x1201;
export const PUBLIC_ID_METINF_12 = 0x1202;

const FPI = '-//SYNCML//DTD ';
export const FPI_SYNCML_10 = FPI + 'SyncML 1.0//EN';
export const FPI_SYNCML_11 = FPI + 'SyncML 1.1//EN';
export const FPI_SYNCML_12 = FPI + 'SyncML 1.2//EN';
export const FPI_METINF_12 = FPI + 'MetInf 1.2//EN';
/** DM DDF has no numeric id: it travels as a string-table FPI. */
export const FPI_DMDDF_12 = '-//OMA//DTD-DM-DDF 1.2//EN';

/**
 * True for public ids whose documents use the DM page set above. SyncML 1.0/1.1 ids are
 * accepted so that old toolkits' messages decode (their page 0 is a subset of 1.2's);
 * "unknown" (0x01) is accepted because some encoders write it for DM documents.
 */
export function isDmPublicId(id: number | string): boolean {
  return [PUBLIC_ID_SYNCML_12, PUBLIC_ID_SYNCML_11, PUBLIC_ID_SYNCML_10, PUBLIC_ID_METINF_12, PUBLIC_ID_UNKNOWN,
    FPI_SYNCML_12, FPI_SYNCML_11, FPI_SYNCML_10, FPI_METINF_12, FPI_DMDDF_12].indexOf(id as never) >= 0;
}

/**
 * Charsets (IANA MIBenum) read as UTF-8: UTF-8 itself, its subset US-ASCII, and 0 ("unknown",
 * WBXML 1.3 §5.6), which some encoders write; text is still validated as UTF-8.
 */
export const CHARSET_UTF8 = 106;
export const CHARSET_US_ASCII = 3;
export const CHARSET_UNKNOWN = 0;

/** Global tokens (WBXML 1.3 §7.1). */
export const SWITCH_PAGE = 0x00;
export const END = 0x01;
export const ENTITY = 0x02;
export const STR_I = 0x03;
export const LITERAL = 0x04;
export const PI = 0x43;
export const STR_T = 0x83;
export const OPAQUE = 0xc3;
export const TAG_CONTENT = 0x40;
export const TAG_ATTRIBUTES = 0x80;

/**
 * name -> code lookup per page, built once. Prototype-less objects instead of Map (unavailable
 * on Espruino-class engines), so names like "constructor" cannot hit Object.prototype.
 */
export const TAG_CODES: readonly Record<string, number>[] = PAGES.map(function (tags) {
  const m = Object.create(null) as Record<string, number>;
  for (let i = 0; i < tags.length; i++) if (tags[i]) m[tags[i]] = i + FIRST_TAG;
  return m;
});
