// Typed decode/encode errors and the limits that bound work on hostile input.

export type CodecErrorKind =
  | 'truncated'      // input ended inside a construct
  | 'malformed'      // bytes or markup that break the grammar
  | 'limit'          // a configured bound (size, depth, count, length) was exceeded
  | 'unknown-element'// an element the DM 1.2 model does not define
  | 'invalid-value'  // a well-formed element with a value the model rejects
  | 'unsupported'    // valid elsewhere, not supported here (DOCTYPE entities, charset, ...)
  | 'unencodable';   // the model holds something the target encoding cannot carry

export interface CodecError {
  kind: CodecErrorKind;
  message: string;
  /** Byte offset in the input, when known. */
  offset?: number;
  /** 1-based line and column (XML), when known. */
  line?: number;
  column?: number;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: CodecError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T>(kind: CodecErrorKind, message: string, offset?: number, line?: number, column?: number): Result<T> {
  const error: CodecError = { kind, message };
  if (offset !== undefined) error.offset = offset;
  if (line !== undefined) error.line = line;
  if (column !== undefined) error.column = column;
  return { ok: false, error };
}

/** One line for users: what and where. */
export function formatCodecError(e: CodecError): string {
  let where = '';
  if (e.line !== undefined) where = ` at line ${e.line}:${e.column ?? 0}`;
  else if (e.offset !== undefined) where = ` at byte ${e.offset}`;
  return `${e.kind}: ${e.message}${where}`;
}

export interface CodecLimits {
  /** Largest message accepted, bytes. */
  maxBytes: number;
  /** Deepest element nesting. */
  maxDepth: number;
  /** Most elements in one message. */
  maxElements: number;
  /** Longest text value, bytes (UTF-8). */
  maxStringBytes: number;
  /** Longest OPAQUE / CDATA payload, bytes. */
  maxOpaqueBytes: number;
}

/** Safe defaults for a device: a DM message larger than this is refused before parsing. */
export const DEVICE_LIMITS: CodecLimits = {
  maxBytes: 1 << 20,
  maxDepth: 32,
  maxElements: 20000,
  maxStringBytes: 1 << 20,
  maxOpaqueBytes: 1 << 20,
};

/** Server side: larger messages (big large-object chunks), same structural bounds. */
export const SERVER_LIMITS: CodecLimits = {
  maxBytes: 16 << 20,
  maxDepth: 32,
  maxElements: 200000,
  maxStringBytes: 16 << 20,
  maxOpaqueBytes: 16 << 20,
};
