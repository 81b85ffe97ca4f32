// Writes POSIX ustar archives (the application package format of the directory installer):
// used by the demo and by `scomo package build`. Names up to 100 bytes, or 255 with a prefix.

export interface TarEntry {
  name: string;
  data?: Uint8Array | string;
  /** Directory when true (no data). */
  dir?: boolean;
  mode?: number;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, size: number, dir: boolean, mode: number, mtime: number): Buffer {
  const h = Buffer.alloc(512, 0);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar entry name too long: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  h.write(base, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(dir ? '5' : '0', 156, 'ascii');
  h.write('ustar\u000000', 257, 'binary');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

export function writeUstar(entries: TarEntry[], mtime = 0): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.dir ? Buffer.alloc(0) : Buffer.from(e.data ?? '');
    parts.push(header(e.dir ? e.name.replace(/\/?$/, '/') : e.name, data.length, !!e.dir, e.mode ?? (e.dir ? 0o755 : 0o644), mtime));
    parts.push(data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** An application package for the directory installer: manifest.json plus files. */
export function appPackage(m: { id: string; name: string; version: string; description?: string }, files: Record<string, string | Uint8Array>): Buffer {
  const entries: TarEntry[] = [{ name: 'manifest.json', data: JSON.stringify(m, null, 1) + '\n' }];
  for (const [name, data] of Object.entries(files)) entries.push({ name, data, mode: name.endsWith('.sh') ? 0o755 : 0o644 });
  return writeUstar(entries);
}
