// Streaming POSIX ustar reader for delivery packages: bytes arrive in chunks of any size and are
// never buffered beyond one 512-byte header. Only what a package needs is accepted: regular
// files and directories with safe relative paths; links, devices, pax and GNU extensions are
// refused rather than half-understood (a misread path in an installer is a security bug).
import { utf8DecodeStrict } from '../codec/utf8.js';

export interface UstarHeader {
  /** Normalized relative path: no leading "./", no "." or empty segments, no trailing "/". */
  name: string;
  /** Data bytes that follow (0 for directories). */
  size: number;
  type: 'file' | 'directory';
  /** Permission bits (mode & 0o7777). */
  mode: number;
  /** Seconds since the epoch. */
  mtime: number;
}

export type UstarErrorKind =
  | 'checksum'    // header checksum does not match
  | 'malformed'   // not a ustar header, bad number field, bad name encoding, misplaced zero block
  | 'unsafe-path' // absolute path, ".." segment, backslash
  | 'unsupported' // entry type other than file/directory, base-256 sizes
  | 'limit'       // an option bound (entry size, entry count, total size) exceeded
  | 'truncated';  // end() before the end-of-archive marker

export interface UstarError {
  kind: UstarErrorKind;
  message: string;
  /** Byte offset in the archive stream (start of the offending header, or the end). */
  offset: number;
}

export interface UstarOptions {
  /** Largest single entry, bytes (default 2^31 - 1). */
  maxEntrySize?: number;
  /** Most entries (default 10000). */
  maxEntries?: number;
  /** Largest total of entry data, bytes (default 2^31 - 1). */
  maxTotalSize?: number;
  /** Called after the last data byte of each entry (directories too). */
  onEntryEnd?: (hdr: UstarHeader) => void;
}

export interface UstarReader {
  /**
   * Feeds the next bytes. Returns null, or the error that stopped the reader (returned again on
   * every later call). Bytes after the end-of-archive marker are ignored.
   */
  push(chunk: Uint8Array): UstarError | null;
  /** Declares the input complete; an archive without its end marker is 'truncated'. */
  end(): UstarError | null;
  /** True once the end-of-archive marker (two zero blocks) was read. */
  done(): boolean;
}

const BLOCK = 512;
const ST_HEADER = 0, ST_DATA = 1, ST_PAD = 2, ST_DONE = 3, ST_ERROR = 4;

/**
 * Octal number field: optional leading spaces, digits, then NUL/space to the end. -1 when
 * invalid, -2 when the field holds no digits at all.
 */
function octal(h: Uint8Array, off: number, len: number): number {
  let i = off;
  const end = off + len;
  while (i < end && h[i] === 32) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = h[i];
    if (c >= 48 && c <= 55) { v = v * 8 + (c - 48); digits++; } else break;
  }
  for (; i < end; i++) if (h[i] !== 0 && h[i] !== 32) return -1;
  return digits ? v : -2;
}

function cstring(h: Uint8Array, off: number, len: number): string | number {
  let e = off;
  while (e < off + len && h[e] !== 0) e++;
  return utf8DecodeStrict(h, off, e);
}

export function createUstarReader(
  onEntry: (hdr: UstarHeader) => void,
  onData: (chunk: Uint8Array) => void,
  onEnd: () => void,
  opts?: UstarOptions,
): UstarReader {
  const o = opts || {};
  const maxEntrySize = o.maxEntrySize === undefined ? 2147483647 : o.maxEntrySize;
  const maxEntries = o.maxEntries === undefined ? 10000 : o.maxEntries;
  const maxTotal = o.maxTotalSize === undefined ? 2147483647 : o.maxTotalSize;
  const onEntryEnd = o.onEntryEnd;

  const hdr = new Uint8Array(BLOCK);
  let hdrLen = 0;
  let state = ST_HEADER;
  let pos = 0;          // bytes consumed so far
  let remaining = 0;    // data bytes left in the current entry
  let pad = 0;          // padding bytes left after the data
  let zeroBlocks = 0;
  let entries = 0;
  let total = 0;
  let current: UstarHeader | null = null;
  let error: UstarError | null = null;

  function failWith(kind: UstarErrorKind, message: string, offset: number): UstarError {
    error = { kind: kind, message: message, offset: offset };
    state = ST_ERROR;
    return error;
  }

  function finishEntry(): void {
    const h = current;
    current = null;
    if (h && onEntryEnd) onEntryEnd(h);
  }

  // Handles one complete header block that starts at stream offset `at`.
  function header(at: number): UstarError | null {
    let zero = true;
    for (let i = 0; i < BLOCK; i++) if (hdr[i] !== 0) { zero = false; break; }
    if (zero) {
      zeroBlocks++;
      if (zeroBlocks === 2) { state = ST_DONE; onEnd(); }
      return null;
    }
    if (zeroBlocks) return failWith('malformed', 'header after a single zero block', at);
    // magic "ustar\0" (POSIX) or "ustar " (old GNU; its prefix area holds other fields)
    const posix = hdr[257] === 117 && hdr[258] === 115 && hdr[259] === 116 && hdr[260] === 97 && hdr[261] === 114 && hdr[262] === 0;
    const gnu = hdr[257] === 117 && hdr[258] === 115 && hdr[259] === 116 && hdr[260] === 97 && hdr[261] === 114 && hdr[262] === 32;
    if (!posix && !gnu) return failWith('malformed', 'not a ustar header', at);
    const want = octal(hdr, 148, 8);
    let sum = 0, ssum = 0;
    for (let i = 0; i < BLOCK; i++) {
      const c = i >= 148 && i < 156 ? 32 : hdr[i];
      sum += c;
      ssum += c > 127 ? c - 256 : c; // some old writers summed signed chars
    }
    if (want < 0 || (want !== sum && want !== ssum)) return failWith('checksum', 'header checksum mismatch', at);
    const tf = hdr[156];
    let type: 'file' | 'directory';
    if (tf === 48 || tf === 0 || tf === 55) type = 'file';
    else if (tf === 53) type = 'directory';
    else return failWith('unsupported', "entry type '" + (tf >= 32 && tf < 127 ? String.fromCharCode(tf) : '\\' + tf) + "' not supported", at);
    if (hdr[124] & 0x80) return failWith('unsupported', 'base-256 size field', at);
    const size = octal(hdr, 124, 12);
    const mode = octal(hdr, 100, 8);
    const mtime = octal(hdr, 136, 12);
    if (size < 0 || mode === -1 || mtime === -1) return failWith('malformed', 'bad number field', at);
    const base = cstring(hdr, 0, 100);
    const prefix = posix ? cstring(hdr, 345, 155) : '';
    if (typeof base !== 'string' || typeof prefix !== 'string') return failWith('malformed', 'entry name is not UTF-8', at);
    const raw = prefix ? prefix + '/' + base : base;
    if (!raw) return failWith('malformed', 'empty entry name', at);
    // pre-POSIX writers mark a directory only by the trailing slash
    if (type === 'file' && size === 0 && raw.charAt(raw.length - 1) === '/') type = 'directory';
    if (raw.charAt(0) === '/') return failWith('unsafe-path', 'absolute path: ' + raw, at);
    if (raw.indexOf('\\') >= 0) return failWith('unsafe-path', 'backslash in path: ' + raw, at);
    const parts = raw.split('/');
    const keep: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (p === '..') return failWith('unsafe-path', "'..' in path: " + raw, at);
      if (p !== '' && p !== '.') keep.push(p);
    }
    const name = keep.join('/');
    const dataSize = type === 'directory' ? 0 : size; // POSIX: no data records follow a directory
    if (dataSize > maxEntrySize) return failWith('limit', 'entry larger than ' + maxEntrySize + ' bytes: ' + raw, at);
    if (++entries > maxEntries) return failWith('limit', 'more than ' + maxEntries + ' entries', at);
    total += dataSize;
    if (total > maxTotal) return failWith('limit', 'archive data larger than ' + maxTotal + ' bytes', at);
    if (!name) {
      if (type === 'file') return failWith('malformed', 'file entry without a name', at);
      return null; // "./" — the archive root itself
    }
    current = { name: name, size: dataSize, type: type, mode: mode < 0 ? 0 : mode & 4095, mtime: mtime < 0 ? 0 : mtime };
    onEntry(current);
    remaining = dataSize;
    pad = (BLOCK - (dataSize % BLOCK)) % BLOCK;
    if (remaining > 0) state = ST_DATA;
    else finishEntry();
    return null;
  }

  function push(chunk: Uint8Array): UstarError | null {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (state === ST_ERROR) return error;
      if (state === ST_DONE) { pos += n - i; return null; }
      if (state === ST_HEADER) {
        const take = Math.min(BLOCK - hdrLen, n - i);
        hdr.set(chunk.subarray(i, i + take), hdrLen);
        hdrLen += take; i += take; pos += take;
        if (hdrLen === BLOCK) {
          hdrLen = 0;
          const e = header(pos - BLOCK);
          if (e) return e;
        }
      } else if (state === ST_DATA) {
        const take = Math.min(remaining, n - i);
        const part = chunk.subarray(i, i + take);
        i += take; pos += take; remaining -= take;
        onData(part);
        if (remaining === 0) {
          finishEntry();
          state = pad ? ST_PAD : ST_HEADER;
        }
      } else {
        const take = Math.min(pad, n - i);
        i += take; pos += take; pad -= take;
        if (pad === 0) state = ST_HEADER;
      }
    }
    return state === ST_ERROR ? error : null;
  }

  return {
    push: push,
    end: function () {
      if (state === ST_ERROR) return error;
      if (state === ST_DONE) return null;
      return failWith('truncated', 'archive ended before its end-of-archive marker', pos);
    },
    done: function () { return state === ST_DONE; },
  };
}
