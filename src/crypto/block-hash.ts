// The part MD5, SHA-1 and SHA-256 share: buffering input into 64-byte blocks across update calls,
// and the Merkle–Damgård padding (0x80, zeros, 64-bit bit length) before the last block(s).

export interface BlockState {
  buf: Uint8Array;
  bufLen: number;
  /** Bytes fed so far, as a double (no 64-bit integers on the target engines). */
  total: number;
}

export type BlockFn<S> = (st: S, data: Uint8Array, off: number) => void;

/** Feeds data[start, end) through `block`, 64 bytes at a time; chunk boundaries do not matter. */
export function blockUpdate<S extends BlockState>(st: S, data: Uint8Array, start: number | undefined, end: number | undefined, block: BlockFn<S>): void {
  let i = start === undefined ? 0 : start;
  const e = end === undefined ? data.length : end;
  if (e <= i) return;
  st.total += e - i;
  if (st.bufLen > 0) {
    while (st.bufLen < 64 && i < e) st.buf[st.bufLen++] = data[i++];
    if (st.bufLen < 64) return;
    block(st, st.buf, 0);
    st.bufLen = 0;
  }
  for (; i + 64 <= e; i += 64) block(st, data, i);
  while (i < e) st.buf[st.bufLen++] = data[i++];
}

/** Pads and runs the final block(s); the bit length is written big-endian (SHA) or little-endian (MD5). */
export function blockPad<S extends BlockState>(st: S, bigEndian: boolean, block: BlockFn<S>): void {
  const buf = st.buf;
  let n = st.bufLen;
  buf[n++] = 0x80;
  if (n > 56) {
    while (n < 64) buf[n++] = 0;
    block(st, buf, 0);
    n = 0;
  }
  while (n < 56) buf[n++] = 0;
  const lo = (st.total * 8) % 4294967296;
  const hi = Math.floor(st.total / 536870912);
  for (let k = 0; k < 4; k++) {
    const lb = (lo >>> (8 * k)) & 255, hb = (hi >>> (8 * k)) & 255;
    if (bigEndian) { buf[63 - k] = lb; buf[59 - k] = hb; } else { buf[56 + k] = lb; buf[60 + k] = hb; }
  }
  block(st, buf, 0);
}
