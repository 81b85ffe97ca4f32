// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), the same value as zlib's crc32().
// Incremental like zlib: crc32Update(crc32Update(0, a), b) === crc32(a ++ b).

let table: Int32Array | null = null;

function getTable(): Int32Array {
  if (table) return table;
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  table = t;
  return t;
}

/** Continues a CRC (0 to start) over data[start, end); returns an unsigned 32-bit value. */
export function crc32Update(crc: number, data: Uint8Array, start?: number, end?: number): number {
  const t = getTable();
  let c = ~crc;
  const e = end === undefined ? data.length : end;
  for (let i = start === undefined ? 0 : start; i < e; i++) c = t[(c ^ data[i]) & 255] ^ (c >>> 8);
  return ~c >>> 0;
}

export function crc32(data: Uint8Array): number {
  return crc32Update(0, data);
}
