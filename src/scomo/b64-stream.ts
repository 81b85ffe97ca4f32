// Streaming base64 decoder: DM delivery over XML carries package bytes as Format b64 text, split
// into large-object chunks at arbitrary points, so a chunk may end inside a 4-character quantum.
//
// Decodes straight from the chunk's bytes into the output: no intermediate strings or value
// arrays. A chunk is up to MaxMsgSize (16 KiB) and each such copy was that much more QuickJS heap
// at the peak of a DM delivery.
//
// Each push decodes the whole quanta it has (the carried characters, then the chunk's) as one
// piece, with base64Decode's rules (src/codec/base64.ts): whitespace skipped, padding only at
// the end of the piece, at most two '=', no lone sixth-bit character.

export interface B64Stream {
  /** Decodes what it can of `text` bytes (ASCII); null on characters outside base64. */
  push(text: Uint8Array): Uint8Array | null;
  /** True when no partial quantum is left over. */
  end(): boolean;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** The 6-bit value of a base64 character, -1 outside the alphabet ('=' included). */
function sextet(c: number): number {
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 71;
  if (c >= 48 && c <= 57) return c + 4;
  if (c === 43) return 62;
  if (c === 47) return 63;
  return -1;
}

export function createB64Stream(): B64Stream {
  // Characters of an unfinished quantum (never whitespace), at most 3 between pushes.
  const carry = [0, 0, 0, 0];
  let carried = 0;
  return {
    push: function (text) {
      let m = carried;
      for (let i = 0; i < text.length; i++) if (!isSpace(text[i])) m++;
      const whole = m - (m % 4);
      if (whole === 0) {
        for (let i = 0; i < text.length; i++) if (!isSpace(text[i])) carry[carried++] = text[i];
        return new Uint8Array(0);
      }
      const out = new Uint8Array((whole / 4) * 3);
      let o = 0;
      let acc = 0;
      let k = 0; // sextets in acc
      let n = 0; // non-pad characters in the piece
      let pad = 0;
      let taken = 0; // characters of the piece consumed so far
      let bad = false;
      const take = function (c: number): void {
        if (c === 61) { pad++; return; }
        if (pad > 0) { bad = true; return; }
        const v = sextet(c);
        if (v < 0) { bad = true; return; }
        n++;
        acc = (acc << 6) | v;
        if (++k === 4) {
          out[o++] = acc >> 16; out[o++] = (acc >> 8) & 255; out[o++] = acc & 255;
          acc = 0;
          k = 0;
        }
      };
      for (let i = 0; i < carried && !bad; i++) { take(carry[i]); taken++; }
      carried = 0;
      let i = 0;
      for (; i < text.length && taken < whole && !bad; i++) {
        const c = text[i];
        if (isSpace(c)) continue;
        take(c);
        taken++;
      }
      if (bad) return null;
      // What is left of the chunk starts the next quantum (checked when it is decoded).
      for (; i < text.length; i++) if (!isSpace(text[i])) carry[carried++] = text[i];
      if (pad > 2 || (pad > 0 && n % 4 === 0) || n % 4 === 1) return null;
      if (k === 2) out[o++] = acc >> 4;
      else if (k === 3) { out[o++] = acc >> 10; out[o++] = (acc >> 2) & 255; }
      return o === out.length ? out : out.slice(0, o);
    },
    end: function () {
      return carried === 0;
    },
  };
}
