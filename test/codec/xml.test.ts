import test from 'ava';
import { readXml } from '../../src/codec/xml-reader.js';
import { writeXml } from '../../src/codec/xml-writer.js';
import { XElement, el } from '../../src/codec/element.js';
import { DEVICE_LIMITS, CodecLimits } from '../../src/codec/errors.js';
import { utf8Encode, utf8Decode } from '../../src/codec/utf8.js';

function read(s: string | Uint8Array, lim?: CodecLimits): XElement {
  const r = readXml(s, lim);
  if (!r.ok) throw new Error(`${r.error.kind}: ${r.error.message}`);
  return r.value;
}
function err(s: string | Uint8Array, lim?: CodecLimits) {
  const r = readXml(s, lim);
  if (r.ok) throw new Error('expected an error');
  return r.error;
}
function write(e: XElement, o?: Parameters<typeof writeXml>[1]): string {
  const r = writeXml(e, o);
  if (!r.ok) throw new Error(r.error.message);
  return utf8Decode(r.value);
}

test('default namespaces are inherited, redeclared and undeclared', (t) => {
  const r = read('<A xmlns="u:a"><B><C xmlns="u:c"><D/></C><E xmlns=""/></B></A>');
  t.deepEqual(r, el('A', 'u:a', [el('B', 'u:a', [el('C', 'u:c', [el('D', 'u:c', [])]), el('E', '', [])])]));
});

test('prefixed names resolve through xmlns:prefix, including on the root', (t) => {
  const r = read(`<SyncML xmlns="SYNCML:SYNCML1.2" xmlns:mi='syncml:metinf'><Meta><mi:Format>b64</mi:Format></Meta></SyncML>`);
  t.deepEqual(r.children[0], el('Meta', 'SYNCML:SYNCML1.2', [el('Format', 'syncml:metinf', ['b64'])]));
  const e = err('<a:B/>');
  t.is(e.kind, 'malformed');
  t.regex(e.message, /undeclared namespace prefix 'a'/);
});

test('predefined entities and decimal/hex character references, incl. 4-byte code points', (t) => {
  const r = read('<D>&lt;a&gt; &amp; &quot;q&quot; &apos;s&apos; &#65;&#x42;&#x1F600;&#128512;&#xe9;</D>');
  t.deepEqual(r.children, [`<a> & "q" 's' AB😀😀é`]);
  t.is(err('<D>&nbsp;</D>').kind, 'malformed');
  t.is(err('<D>&#0;</D>').kind, 'malformed');
  t.is(err('<D>&#x110000;</D>').kind, 'malformed');
  t.is(err('<D>&#xD800;</D>').kind, 'malformed');
  t.is(err('<D>& x</D>').kind, 'malformed');
  t.is(err('<D>&#x12').kind, 'truncated');
});

test('CDATA is text, merged with neighbouring text; ]]> split across sections reads back whole', (t) => {
  t.deepEqual(read('<D>a<![CDATA[<b>&amp;</b>]]>c</D>').children, ['a<b>&amp;</b>c']);
  t.deepEqual(read('<D><![CDATA[x]]]]><![CDATA[>y]]></D>').children, ['x]]>y']);
  t.deepEqual(read('<D><![CDATA[ ]]><E/></D>').children, [' ', el('E', '', [])]);
});

test('UTF-8 with BOM, declaration, comments, PIs and a public DOCTYPE are read; layout whitespace dropped', (t) => {
  const doc = '\ufeff<?xml version="1.0" encoding="UTF-8"?>\n<!-- c -->\n<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" "http://x/y.dtd">\n<?pi x?>\n<A>\n  <B> kept </B>\n  <!-- in --><C>東京😀</C>\n</A>\n<!-- after -->\n';
  t.deepEqual(read(doc), el('A', '', [el('B', '', [' kept ']), el('C', '', ['東京😀'])]));
  t.deepEqual(read('<A>   </A>').children, ['   ']);
  t.deepEqual(read('<A>x <B/> y</A>').children, ['x ', el('B', '', []), ' y']);
});

test('string and byte input give the same tree', (t) => {
  const s = '<A xmlns="n"><B>é😀</B></A>';
  t.deepEqual(read(s), read(utf8Encode(s)));
});

test('line ends are normalised to LF; &#13; survives', (t) => {
  t.deepEqual(read('<A>a\r\nb\rc&#13;d</A>').children, ['a\nb\nc\rd']);
});

test('DOCTYPE internal subsets are refused as unsupported (no entity expansion)', (t) => {
  const bomb = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>';
  const e = err(bomb);
  t.is(e.kind, 'unsupported');
  t.is(e.offset, bomb.indexOf('['));
  t.is(err('<!DOCTYPE a SYSTEM "x"><!DOCTYPE a SYSTEM "y"><a/>').kind, 'malformed');
  t.is(read('<!DOCTYPE a SYSTEM "has [brackets] and > in quotes"><a/>').name, 'a');
});

test('other encodings are unsupported; invalid UTF-8 is malformed with its offset', (t) => {
  t.is(err('<?xml version="1.0" encoding="ISO-8859-1"?><a/>').kind, 'unsupported');
  const b = utf8Encode('<a>ok</a>');
  const bad = new Uint8Array([...utf8Encode('<a>o'), 0xff, ...utf8Encode('</a>')]);
  const e = err(bad);
  t.is(e.kind, 'malformed');
  t.is(e.offset, 4);
  t.true(readXml(b).ok);
});

test('errors carry kind, byte offset and line:column', (t) => {
  const e = err('<A>\n  <B></C>\n</A>');
  t.is(e.kind, 'malformed');
  t.is(e.offset, 9);
  t.is(e.line, 2);
  t.is(e.column, 6);
  t.regex(e.message, /<\/C> does not match <B>/);
  const u = err('<A>\n😀<B>');
  t.is(u.kind, 'truncated');
  t.is(u.line, 2);
  t.is(u.column, 5);
  t.is(err('').kind, 'truncated');
  t.is(err('   ').kind, 'truncated');
  t.is(err('<A/><B/>').kind, 'malformed');
  t.is(err('<A/>text').kind, 'malformed');
  t.is(err('x<A/>').kind, 'malformed');
  t.is(err('<A x="1" x="2"/>').kind, 'malformed');
  t.is(err('<A x=1/>').kind, 'malformed');
  t.is(err('<A>\u0001</A>').kind, 'malformed');
  t.is(err('<1A/>').kind, 'malformed');
  t.is(err('</A>').kind, 'malformed');
  t.is(err('<A><!FOO></A>').kind, 'malformed');
});

test('attributes other than xmlns are parsed and ignored', (t) => {
  t.deepEqual(read(`<A xml:lang="en" b='x &amp; "y"'><B c="1"/></A>`), el('A', '', [el('B', '', [])]));
});

test('limits: bytes, depth, element count, text length', (t) => {
  const lim = (o: Partial<CodecLimits>): CodecLimits => ({ ...DEVICE_LIMITS, ...o });
  t.is(err('<A>xxxxxxxx</A>', lim({ maxBytes: 10 })).kind, 'limit');
  t.true(readXml('<A><B><C/></B></A>', lim({ maxDepth: 3 })).ok);
  const d = err('<A><B><C><D/></C></B></A>', lim({ maxDepth: 3 }));
  t.is(d.kind, 'limit');
  t.is(d.offset, 9);
  t.true(readXml('<A><B/><B/></A>', lim({ maxElements: 3 })).ok);
  t.is(err('<A><B/><B/><B/></A>', lim({ maxElements: 3 })).kind, 'limit');
  t.true(readXml('<A>12345</A>', lim({ maxStringBytes: 5 })).ok);
  t.is(err('<A>123&#52;56</A>', lim({ maxStringBytes: 5 })).kind, 'limit');
  t.is(err('<A><![CDATA[123456]]></A>', lim({ maxOpaqueBytes: 5 })).kind, 'limit');
  // Deep nesting under default limits: a typed error, no stack overflow.
  t.is(err('<a>'.repeat(100000)).kind, 'limit');
});

test('writer: escapes text, declares namespaces where they change, writes declaration and DOCTYPE', (t) => {
  const tree = el('SyncML', 'SYNCML:SYNCML1.2', [
    el('Meta', 'SYNCML:SYNCML1.2', [el('Type', 'syncml:metinf', ['a<b>&c ]]> "q"\r\n']), el('Size', 'syncml:metinf', ['1'])]),
    el('Data', 'SYNCML:SYNCML1.2', []),
    el('X', '', []),
  ]);
  t.is(write(tree), '<SyncML xmlns="SYNCML:SYNCML1.2"><Meta><Type xmlns="syncml:metinf">a&lt;b&gt;&amp;c ]]&gt; "q"&#13;\n</Type><Size xmlns="syncml:metinf">1</Size></Meta><Data/><X xmlns=""/></SyncML>');
  t.deepEqual(read(write(tree)), tree);
  const full = write(el('a', '', ['x']), { declaration: true, doctype: { name: 'a', publicId: '-//P//EN', systemId: 'http://s' } });
  t.is(full, '<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE a PUBLIC "-//P//EN" "http://s"><a>x</a>');
});

test('writer: indentation only between element-only children, and it reads back the same', (t) => {
  const tree = el('A', 'n', [el('B', 'n', ['  text  ']), el('C', 'n', [el('D', 'n', [])]), el('M', 'n', ['x', el('E', 'n', [])])]);
  const s = write(tree, { indent: true });
  t.is(s, '<A xmlns="n">\n  <B>  text  </B>\n  <C>\n    <D/>\n  </C>\n  <M>x<E/></M>\n</A>\n');
  t.deepEqual(read(s), tree);
});

test('writer: bytes become CDATA when UTF-8, with ]]> split; binary is unencodable', (t) => {
  const s = write(el('Data', '', [utf8Encode('<x>]]>😀</x>')]));
  t.is(s, '<Data><![CDATA[<x>]]]]><![CDATA[>😀</x>]]></Data>');
  t.deepEqual(read(s).children, ['<x>]]>😀</x>']);
  const b = writeXml(el('Data', '', [new Uint8Array([0x00, 0xff])]));
  t.false(b.ok);
  t.is(!b.ok && b.error.kind, 'unencodable');
});

test('writer: characters XML cannot carry are unencodable, not silently changed', (t) => {
  for (const s of ['a\u0000b', '\u0007', 'x\ud800', '\udc00y', '\uffff']) {
    const r = writeXml(el('A', '', [s]));
    t.is(!r.ok && r.error.kind, 'unencodable', JSON.stringify(s));
  }
  t.true(writeXml(el('A', '', ['\t\n😀'])).ok);
});

test('writer handles very deep trees without recursion', (t) => {
  let e = el('x', '', ['leaf']);
  for (let i = 0; i < 50000; i++) e = el('x', '', [e]);
  const r = writeXml(e);
  t.true(r.ok);
  t.is(r.ok && r.value.length, 50001 * 7 + 4);
});
