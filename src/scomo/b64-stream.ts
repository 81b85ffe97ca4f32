// Streaming base64 decoder: DM delivery over XML carries package bytes as Format b64 text, split
// into large-object chunks at arbitrary points, so a chunk may end inside a 4-character quantum.
import { base64Decode } from '../codec/base64.js';

export interface B64Stream {
  /** Decodes what it can of `text` bytes (ASCII); null on characters outside base64. */
  push(text: Uint8Array): Uint8Array | null;
  /** True when no partial quantum is left over. */
  end(): boolean;
}

export function createB64Stream(): B64Stream {
  let carry = '';
  return {
    push: function (text) {
      let s = carry;
      for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (c === 32 || c === 9 || c === 10 || c === 13) continue;
        s += String.fromCharCode(c);
      }
      const whole = s.length - (s.length % 4);
      carry = s.substring(whole);
      if (whole === 0) return new Uint8Array(0);
      return base64Decode(s.substring(0, whole));
    },
    end: function () {
      return carry.length === 0;
    },
  };
}
