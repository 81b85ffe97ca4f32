// `scomo codec to-xml|to-wbxml <file|-> [-o <file>]`: converts one DM message between its XML
// and WBXML encodings (the input encoding is detected). Errors are one line on stderr, exit 1,
// and an output file is only ever created by renaming a finished temporary file.
import { readFileSync, writeFileSync, renameSync, unlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { decodeMessage, encodeMessage } from '../../codec/index.js';
import { formatCodecError, SERVER_LIMITS } from '../../codec/errors.js';
import { isUtf8, utf8Decode } from '../../codec/utf8.js';
import { readWbxml } from '../../codec/wbxml-reader.js';
import { writeXmlString } from '../../codec/xml-writer.js';
import { base64Encode } from '../../codec/base64.js';
import type { SyncML, Command, Item } from '../../codec/model.js';
import { parseArgs, optString } from './args.js';

const HELP = `usage: scomo codec to-xml <file|-> [-o <file>]
       scomo codec to-wbxml <file|-> [-o <file>]

Converts one OMA DM 1.2 (SyncML) message between XML and WBXML. The input encoding is
detected from its first bytes; '-' reads standard input. Without -o the result goes to
standard output.

to-xml and binary Data: WBXML may carry Item Data as OPAQUE bytes.
  - Nested WBXML (a TNDS or DDF tree) is written as XML text and a Meta Type ending in
    "+wbxml" becomes "+xml" (application/vnd.syncml.dmtnds+wbxml -> ...+xml), as libwbxml does.
  - Other bytes that are valid UTF-8 become ordinary XML text.
  - Remaining bytes (binary payloads) cannot be written in XML, so they are written as base64
    text and the Item's Meta Format is set to "b64", which is how DM carries binary over XML.
to-wbxml writes text as inline strings and never turns b64 or XML text back into bytes, so a
converted message keeps its meaning either way.

Limits: messages up to ${SERVER_LIMITS.maxBytes >> 20} MiB, nesting depth ${SERVER_LIMITS.maxDepth}.
On bad input: one line naming the problem and where (byte offset or line:column), exit 1,
and no output file is written.
`;

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args, { out: 'value', help: 'flag' }, { o: 'out', h: 'help' });
  } catch (e) {
    return usageError((e as Error).message);
  }
  if (parsed.opts.help) { process.stdout.write(HELP); return 0; }
  const [mode, input, ...extra] = parsed.positional;
  if (mode !== 'to-xml' && mode !== 'to-wbxml') return usageError(mode ? `unknown conversion '${mode}'` : 'missing conversion (to-xml or to-wbxml)');
  if (input === undefined) return usageError('missing input file (or - for standard input)');
  if (extra.length) return usageError(`unexpected argument '${extra[0]}'`);
  const out = optString(parsed, 'out');

  let bytes: Uint8Array;
  try {
    bytes = input === '-' ? await readStdin() : readFileSync(input);
  } catch (e) {
    return errorLine(`cannot read ${input}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const where = input === '-' ? 'stdin' : input;
  const dec = decodeMessage(bytes, SERVER_LIMITS);
  if (!dec.ok) return errorLine(`${where}: ${formatCodecError(dec.error)}`);
  const msg = dec.value.msg;
  if (mode === 'to-xml') binaryDataToBase64(msg);
  const enc = encodeMessage(msg, mode === 'to-xml' ? 'xml' : 'wbxml');
  if (!enc.ok) return errorLine(`${where}: cannot write ${mode === 'to-xml' ? 'XML' : 'WBXML'}: ${formatCodecError(enc.error)}`);

  if (out === undefined) {
    await new Promise<void>((resolve, reject) => process.stdout.write(enc.value, (e) => (e ? reject(e) : resolve())));
    return 0;
  }
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, enc.value);
    renameSync(tmp, out);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* never created */ }
    return errorLine(`cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return 0;
}

/** Item Data bytes become XML-safe text: nested WBXML as XML, UTF-8 as text, else base64 (see HELP). */
export function binaryDataToBase64(msg: SyncML): void {
  const stack: Command[] = msg.body.commands.slice();
  while (stack.length) {
    const c = stack.pop() as Command;
    if (c.kind === 'Atomic' || c.kind === 'Sequence') { for (const k of c.commands) stack.push(k); continue; }
    if (c.kind === 'Unsupported') continue;
    for (const item of c.items) convertItem(item);
  }
}

function convertItem(item: Item): void {
  const d = item.data;
  if (!(d instanceof Uint8Array)) return;
  if (d.length && d[0] <= 3) {
    const nested = readWbxml(d, SERVER_LIMITS);
    const text = nested.ok ? writeXmlString(nested.value.root) : null;
    if (text && text.ok) {
      item.data = text.value;
      const type = item.meta?.type;
      if (type && /\+wbxml$/.test(type)) item.meta = { ...item.meta, type: type.replace(/\+wbxml$/, '+xml') };
      return;
    }
  }
  if (isUtf8(d)) { item.data = utf8Decode(d); return; }
  item.data = base64Encode(d);
  item.meta = { ...(item.meta ?? {}), format: 'b64' };
}

function readStdin(): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    process.stdin.on('data', (c: Buffer) => {
      size += c.length;
      chunks.push(c);
      // Stop reading once past the decoder's own limit; the decoder reports the size error.
      if (size > SERVER_LIMITS.maxBytes) { process.stdin.pause(); resolve(Buffer.concat(chunks)); }
    });
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
}

function usageError(msg: string): number {
  process.stderr.write(`scomo codec: ${msg} (see scomo codec --help)\n`);
  return 1;
}

function errorLine(msg: string): number {
  process.stderr.write(`scomo codec: ${msg.replace(/[\r\n]+/g, ' ')}\n`);
  return 1;
}
