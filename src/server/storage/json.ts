// JSON that keeps Uint8Array values (WBXML opaque item data) intact: they travel as {"$b64": "..."}.

export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v instanceof Uint8Array ? { $b64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') } : v);
}

export function fromJson<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (keys.length === 1 && keys[0] === '$b64' && typeof o.$b64 === 'string') return new Uint8Array(Buffer.from(o.$b64, 'base64'));
    }
    return v;
  }) as T;
}
