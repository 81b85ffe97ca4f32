// `scomo codec` as a user runs it: a child process of bin/scomo.js.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeMessage, encodeMessage } from '../src/codec/index.js';
import type { SyncML } from '../src/codec/model.js';
import { writeWbxml } from '../src/codec/wbxml-writer.js';
import { el, NS_DMDDF } from '../src/codec/element.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'scomo-cli-codec-'));

function scomo(args: string[], input?: Uint8Array): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [root + 'bin/scomo.js', 'codec', ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => err.push(c));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    p.stdin.end(input ?? Buffer.alloc(0));
  });
}

const XML = `<?xml version="1.0" encoding="UTF-8"?>
<SyncML xmlns="SYNCML:SYNCML1.2">
  <SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID>
    <Target><LocURI>http://srv/dm</LocURI></Target><Source><LocURI>IMEI:493005100592800</LocURI></Source>
    <Meta><MaxMsgSize xmlns="syncml:metinf">16384</MaxMsgSize></Meta></SyncHdr>
  <SyncBody>
    <Alert><CmdID>1</CmdID><Data>1201</Data></Alert>
    <Replace><CmdID>2</CmdID><Item><Source><LocURI>./DevInfo/Lang</LocURI></Source><Meta><Format xmlns="syncml:metinf">chr</Format></Meta><Data>en-GB ünïcødé 𝄞</Data></Item></Replace>
    <Final/>
  </SyncBody>
</SyncML>`;
const xmlFile = join(dir, 'pkg1.xml');
writeFileSync(xmlFile, XML);

function model(b: Uint8Array): SyncML {
  const r = decodeMessage(b);
  if (!r.ok) throw new Error(r.error.message);
  return r.value.msg;
}

/** One line, no stack trace. */
function assertOneLine(t: import('ava').ExecutionContext, stderr: string): void {
  t.is(stderr.trimEnd().split('\n').length, 1, stderr);
  t.notRegex(stderr, /\n\s+at /);
  t.regex(stderr, /^scomo codec: /);
}

test('to-wbxml writes WBXML to stdout, to-xml reads it from stdin: same message', async (t) => {
  const w = await scomo(['to-wbxml', xmlFile]);
  t.is(w.code, 0, w.stderr);
  t.deepEqual([...w.stdout.subarray(0, 5)], [0x02, 0xa4, 0x01, 0x6a, 0x00]);
  t.deepEqual(model(w.stdout), model(Buffer.from(XML)));
  const x = await scomo(['to-xml', '-'], w.stdout);
  t.is(x.code, 0, x.stderr);
  t.regex(x.stdout.toString('utf8'), /^<\?xml/);
  t.deepEqual(model(x.stdout), model(Buffer.from(XML)));
});

test('-o writes the output file', async (t) => {
  const out = join(dir, 'o1.wbxml');
  const r = await scomo(['to-wbxml', xmlFile, '-o', out]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.length, 0);
  const back = join(dir, 'o1.xml');
  const r2 = await scomo(['to-xml', out, '--out', back]);
  t.is(r2.code, 0, r2.stderr);
  t.deepEqual(model(readFileSync(back)), model(Buffer.from(XML)));
  // XML to XML and WBXML to WBXML are conversions too (normalising).
  const r3 = await scomo(['to-wbxml', out]);
  t.deepEqual(Buffer.from(r3.stdout), readFileSync(out));
});

test('to-xml turns binary OPAQUE Data into base64 text with Meta Format b64', async (t) => {
  const msg = model(Buffer.from(XML));
  const replace = msg.body.commands[1];
  if (replace.kind !== 'Replace') return t.fail();
  const bin = new Uint8Array([0x00, 0xff, 0xfe, 0x80, 0x01, 0x02]);
  replace.items[0].data = bin;
  const wb = encodeMessage(msg, 'wbxml');
  if (!wb.ok) return t.fail(wb.error.message);
  const r = await scomo(['to-xml', '-'], wb.value);
  t.is(r.code, 0, r.stderr);
  const got = model(r.stdout);
  const item = (got.body.commands[1] as typeof replace).items[0];
  t.is(item.meta?.format, 'b64');
  t.is(item.data, Buffer.from(bin).toString('base64'));
});

test('to-xml turns nested WBXML (TNDS) into XML text and its Type into +xml', async (t) => {
  const msg = model(Buffer.from(XML));
  const replace = msg.body.commands[1];
  if (replace.kind !== 'Replace') return t.fail();
  const tnds = el('MgmtTree', NS_DMDDF, [el('VerDTD', NS_DMDDF, ['1.2']),
    el('Node', NS_DMDDF, [el('NodeName', NS_DMDDF, ['Lang']), el('Value', NS_DMDDF, ['en'])])]);
  const nested = writeWbxml(tnds);
  if (!nested.ok) return t.fail();
  replace.items[0].data = nested.value;
  replace.items[0].meta = { format: 'xml', type: 'application/vnd.syncml.dmtnds+wbxml' };
  const wb = encodeMessage(msg, 'wbxml');
  if (!wb.ok) return t.fail(wb.error.message);
  const r = await scomo(['to-xml', '-'], wb.value);
  t.is(r.code, 0, r.stderr);
  const item = (model(r.stdout).body.commands[1] as typeof replace).items[0];
  t.is(item.meta?.type, 'application/vnd.syncml.dmtnds+xml');
  t.is(item.meta?.format, 'xml');
  t.is(item.data, '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>Lang</NodeName><Value>en</Value></Node></MgmtTree>');
});

test('bad input: exit 1, one line naming what and where, no stack trace, no file left', async (t) => {
  const bad = join(dir, 'bad.xml');
  writeFileSync(bad, XML.slice(0, 200));
  const out = join(dir, 'never.wbxml');
  const r = await scomo(['to-wbxml', bad, '-o', out]);
  t.is(r.code, 1);
  assertOneLine(t, r.stderr);
  t.regex(r.stderr, /bad\.xml: truncated: .* at line \d+:\d+/);
  t.false(existsSync(out));
  t.deepEqual(readdirSync(dir).filter((f) => f.includes('never')), []);

  const wbBad = new Uint8Array([0x02, 0xa4, 0x01, 0x6a, 0x00, 0x6d, 0x7f, 0x01, 0x01]);
  const r2 = await scomo(['to-xml', '-', '-o', out], wbBad);
  t.is(r2.code, 1);
  assertOneLine(t, r2.stderr);
  t.regex(r2.stderr, /stdin: unknown-element: .* at byte 6/);
  t.false(existsSync(out));

  const r3 = await scomo(['to-xml', join(dir, 'missing.xml')]);
  t.is(r3.code, 1);
  assertOneLine(t, r3.stderr);
  t.regex(r3.stderr, /ENOENT/);

  const r4 = await scomo(['to-json', xmlFile]);
  t.is(r4.code, 1);
  assertOneLine(t, r4.stderr);
});

test('--help documents the binary Data rule', async (t) => {
  const r = await scomo(['--help']);
  t.is(r.code, 0);
  t.regex(r.stdout.toString('utf8'), /b64/);
});
