import test from 'ava';
import { readXml } from '../../src/codec/xml-reader.js';
import { elementToMessage, messageToElement } from '../../src/codec/message-map.js';
import { decodeMessage, encodeMessage, SyncML, CodecError } from '../../src/codec/index.js';
import { el, NS_SYNCML, NS_METINF } from '../../src/codec/element.js';
import { utf8Encode, utf8Decode } from '../../src/codec/utf8.js';

const HDR = '<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>IMEI:1</LocURI></Target><Source><LocURI>http://s</LocURI></Source></SyncHdr>';
const wrap = (body: string, hdr = HDR, ns = 'SYNCML:SYNCML1.2') => `<SyncML xmlns="${ns}">${hdr}<SyncBody>${body}<Final/></SyncBody></SyncML>`;

function map(xml: string) {
  const r = readXml(xml);
  if (!r.ok) throw new Error(r.error.message);
  return elementToMessage(r.value);
}
function msg(xml: string): SyncML {
  const r = map(xml);
  if (!r.ok) throw new Error(`${r.error.kind}: ${r.error.message}`);
  return r.value;
}
function error(xml: string): CodecError {
  const r = map(xml);
  if (r.ok) throw new Error('expected an error');
  return r.error;
}

test('a full header and an Alert map to the model', (t) => {
  const m = msg(wrap('<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>', HDR.replace('</SyncHdr>', '<RespURI>http://r</RespURI><NoResp/><Cred><Meta><Type xmlns="syncml:metinf">syncml:auth-basic</Type></Meta><Data>QQ==</Data></Cred><Meta><MaxMsgSize xmlns="syncml:metinf">16384</MaxMsgSize></Meta></SyncHdr>')));
  t.deepEqual(m, {
    hdr: {
      verDTD: '1.2', verProto: 'DM/1.2', sessionID: '1', msgID: '1', target: { locURI: 'IMEI:1' }, source: { locURI: 'http://s' },
      respURI: 'http://r', noResp: true, cred: { meta: { type: 'syncml:auth-basic' }, data: 'QQ==' }, meta: { maxMsgSize: '16384' },
    },
    body: { commands: [{ kind: 'Alert', cmdID: '1', code: 1201, items: [] }], final: true },
  });
});

test('unknown elements inside known constructs are errors, not dropped', (t) => {
  for (const body of [
    '<Add><CmdID>1</CmdID><Bogus/></Add>',
    '<Add><CmdID>1</CmdID><Item><Bogus/></Item></Add>',
    '<Add><CmdID>1</CmdID><Item><Target><LocURI>x</LocURI><Foo/></Target></Item></Add>',
    '<Add><CmdID>1</CmdID><Meta><Bogus xmlns="syncml:metinf"/></Meta></Add>',
    '<Add><CmdID>1</CmdID><Item><Type xmlns="syncml:metinf">x</Type></Item></Add>',
    '<Add><CmdID>1</CmdID><Lang>en</Lang></Add>',
    '<Get><CmdID>1</CmdID><Correlator>c</Correlator></Get>',
    '<Add><CmdID>1<B/></CmdID></Add>',
    '<Frobnicate><CmdID>1</CmdID></Frobnicate>',
  ]) {
    const e = error(wrap(body));
    t.is(e.kind, 'unknown-element', body);
  }
  t.regex(error(wrap('<Add><CmdID>1</CmdID><Item><Bogus/></Item></Add>')).message, /<Bogus> inside <Item>/);
  t.is(error(wrap('<Add xmlns="urn:other"><CmdID>1</CmdID></Add>')).kind, 'unknown-element');
});

test('SyncML commands DM does not use become UnsupportedCommand; writing one is refused', (t) => {
  const m = msg(wrap('<Sync><CmdID>4</CmdID><Target><LocURI>db</LocURI></Target><Add><CmdID>5</CmdID></Add></Sync><Map><CmdID>6</CmdID></Map><Put><CmdID>7</CmdID></Put><Search/>'));
  t.deepEqual(m.body.commands, [
    { kind: 'Unsupported', name: 'Sync', cmdID: '4' }, { kind: 'Unsupported', name: 'Map', cmdID: '6' },
    { kind: 'Unsupported', name: 'Put', cmdID: '7' }, { kind: 'Unsupported', name: 'Search', cmdID: '' },
  ]);
  const w = encodeMessage(m, 'xml');
  t.is(!w.ok && w.error.kind, 'unencodable');
  const a = msg(wrap('<Atomic><CmdID>1</CmdID><Sync><CmdID>2</CmdID></Sync></Atomic>'));
  t.deepEqual(a.body.commands[0], { kind: 'Atomic', cmdID: '1', commands: [{ kind: 'Unsupported', name: 'Sync', cmdID: '2' }] });
});

test('Atomic and Sequence nest; Status and Results may not appear inside them', (t) => {
  const m = msg(wrap('<Sequence><CmdID>1</CmdID><NoResp/><Atomic><CmdID>2</CmdID><Meta><Mark xmlns="syncml:metinf">x</Mark></Meta><Sequence><CmdID>3</CmdID><Exec><CmdID>4</CmdID><Correlator>c</Correlator><Item><Target><LocURI>./a</LocURI></Target></Item></Exec></Sequence></Atomic><Get><CmdID>5</CmdID></Get></Sequence>'));
  t.deepEqual(m.body.commands, [{
    kind: 'Sequence', cmdID: '1', noResp: true, commands: [
      { kind: 'Atomic', cmdID: '2', meta: { mark: 'x' }, commands: [
        { kind: 'Sequence', cmdID: '3', commands: [{ kind: 'Exec', cmdID: '4', correlator: 'c', items: [{ target: { locURI: './a' } }] }] },
      ] },
      { kind: 'Get', cmdID: '5', items: [] },
    ],
  }]);
  const e = error(wrap('<Atomic><CmdID>1</CmdID><Status><CmdID>2</CmdID></Status></Atomic>'));
  t.is(e.kind, 'invalid-value');
  t.regex(e.message, /<Status> inside <Atomic>/);
});

test('missing mandatory elements are invalid-value errors naming the element', (t) => {
  const cases: [string, string][] = [
    [wrap('', HDR.replace('<VerDTD>1.2</VerDTD>', '')), 'VerDTD'],
    [wrap('', HDR.replace('<MsgID>1</MsgID>', '')), 'MsgID'],
    [wrap('', HDR.replace('<Target><LocURI>IMEI:1</LocURI></Target>', '')), 'Target'],
    [wrap('', HDR.replace('<LocURI>IMEI:1</LocURI>', '')), 'LocURI'],
    [wrap('<Add><Item/></Add>'), 'CmdID'],
    [wrap('<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd></Status>'), 'Data'],
    [wrap('<Status><CmdID>1</CmdID><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>'), 'MsgRef'],
    [wrap('<Results><CmdID>1</CmdID><Item/></Results>'), 'CmdRef'],
    [wrap('<Alert><CmdID>1</CmdID><Cred><Meta/></Cred></Alert>'), 'Data'],
    [wrap('<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Chal/><Data>401</Data></Status>'), 'Meta'],
    [`<SyncML xmlns="SYNCML:SYNCML1.2">${HDR}</SyncML>`, 'SyncBody'],
  ];
  for (const [xml, name] of cases) {
    const e = error(xml);
    t.is(e.kind, 'invalid-value', name);
    t.true(e.message.includes(`<${name}>`), e.message);
  }
});

test('Status and Alert codes must be numbers', (t) => {
  const st = (d: string) => wrap(`<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>${d}</Data></Status>`);
  t.is(error(st('OK')).kind, 'invalid-value');
  t.is(error(st('')).kind, 'invalid-value');
  t.is(error(st('-1')).kind, 'invalid-value');
  t.is(error(st('2.5')).kind, 'invalid-value');
  t.is(error(wrap('<Alert><CmdID>1</CmdID><Data>12O1</Data></Alert>')).kind, 'invalid-value');
  const m = msg(st(' 200\n'));
  t.is(m.body.commands[0].kind === 'Status' && m.body.commands[0].code, 200);
});

test('duplicates of single elements and text inside containers are invalid-value', (t) => {
  t.is(error(wrap('<Add><CmdID>1</CmdID><CmdID>2</CmdID></Add>')).kind, 'invalid-value');
  t.is(error(wrap('<Add><CmdID>1</CmdID><Meta/><Meta/></Add>')).kind, 'invalid-value');
  t.is(error(wrap('<Add><CmdID>1</CmdID>stray</Add>')).kind, 'invalid-value');
  t.is(error(wrap('<Final/>')).kind, 'invalid-value');
  t.is(error(wrap('', HDR + HDR)).kind, 'invalid-value');
});

test('MetInf: EMI is a list, Anchor and Mem nest, and a missing xmlns is tolerated', (t) => {
  const m = msg(wrap(`<Add><CmdID>1</CmdID><Meta xmlns:m="syncml:metinf"><m:EMI>a</m:EMI><EMI xmlns="syncml:metinf">b</EMI><Format>chr</Format><Anchor xmlns="syncml:metinf"><Last>1</Last><Next>2</Next></Anchor><Mem xmlns="syncml:metinf"><SharedMem/><FreeMem>9</FreeMem><FreeID>3</FreeID></Mem><FieldLevel xmlns="syncml:metinf"/></Meta></Add>`));
  t.deepEqual(m.body.commands[0], { kind: 'Add', cmdID: '1', items: [], meta: { emi: ['a', 'b'], format: 'chr', anchor: { last: '1', next: '2' }, mem: { sharedMem: true, freeMem: '9', freeID: '3' }, fieldLevel: true } });
  const x = encodeMessage(m, 'xml');
  t.true(x.ok);
  const s = x.ok ? utf8Decode(x.value) : '';
  t.true(s.includes('<Meta><Format xmlns="syncml:metinf">chr</Format><Anchor xmlns="syncml:metinf"><Last>1</Last><Next>2</Next></Anchor><EMI xmlns="syncml:metinf">a</EMI><EMI xmlns="syncml:metinf">b</EMI><Mem xmlns="syncml:metinf"><SharedMem/>'), s);
});

test('Data holding inline XML elements becomes that XML as text', (t) => {
  const m = msg(wrap('<Results><CmdID>1</CmdID><CmdRef>2</CmdRef><Item><Data><MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>a&amp;b</NodeName></Node></MgmtTree></Data></Item></Results>'));
  const r = m.body.commands[0];
  t.is(r.kind === 'Results' && r.items[0].data, '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>a&amp;b</NodeName></Node></MgmtTree>');
});

test('bytes (WBXML OPAQUE) stay bytes in Data; UTF-8 bytes in other leaves become text', (t) => {
  const tree = el('SyncML', NS_SYNCML, [
    el('SyncHdr', NS_SYNCML, [
      el('VerDTD', NS_SYNCML, ['1.2']), el('VerProto', NS_SYNCML, ['DM/1.2']), el('SessionID', NS_SYNCML, [utf8Encode('1')]),
      el('MsgID', NS_SYNCML, ['1']), el('Target', NS_SYNCML, [el('LocURI', NS_SYNCML, ['t'])]), el('Source', NS_SYNCML, [el('LocURI', NS_SYNCML, ['s'])]),
      el('Meta', NS_SYNCML, [el('NextNonce', NS_METINF, [utf8Encode('bm9uY2U=')])]),
    ]),
    el('SyncBody', NS_SYNCML, [el('Replace', NS_SYNCML, [el('CmdID', NS_SYNCML, ['1']), el('Item', NS_SYNCML, [el('Data', NS_SYNCML, [new Uint8Array([0, 255, 1])])])])]),
  ]);
  const r = elementToMessage(tree);
  if (!r.ok) return t.fail(r.error.message);
  t.is(r.value.hdr.sessionID, '1');
  t.is(r.value.hdr.meta?.nextNonce, 'bm9uY2U=');
  const rep = r.value.body.commands[0];
  t.deepEqual(rep.kind === 'Replace' && rep.items[0].data, new Uint8Array([0, 255, 1]));
  t.deepEqual(messageToElement(r.value), { ok: true, value: { ...tree, children: [
    el('SyncHdr', NS_SYNCML, [...(tree.children[0] as any).children.slice(0, 2), el('SessionID', NS_SYNCML, ['1']), ...(tree.children[0] as any).children.slice(3, 6), el('Meta', NS_SYNCML, [el('NextNonce', NS_METINF, ['bm9uY2U='])])]),
    tree.children[1],
  ] } });
  (tree.children[0] as any).children[2] = el('SessionID', NS_SYNCML, [new Uint8Array([0xff])]);
  const bad = elementToMessage(tree);
  t.is(!bad.ok && bad.error.kind, 'invalid-value');
  // XML cannot carry raw binary: the encoder says so instead of corrupting it.
  const x = encodeMessage(r.value, 'xml');
  t.is(!x.ok && x.error.kind, 'unencodable');
});

test('root element and namespace are checked; SyncML 1.1 and no-namespace messages are read', (t) => {
  t.is(error('<Foo/>').kind, 'unknown-element');
  t.is(error(wrap('', HDR, 'urn:other')).kind, 'unknown-element');
  t.is(msg(wrap('', HDR, 'SYNCML:SYNCML1.1')).hdr.verDTD, '1.2');
  t.is(msg(wrap('', HDR).replace(' xmlns="SYNCML:SYNCML1.2"', '')).hdr.msgID, '1');
  t.is(error(`<SyncML xmlns="SYNCML:SYNCML1.2">${HDR}<SyncBody/><Extra/></SyncML>`).kind, 'unknown-element');
});

test('the writer follows DTD order whatever the key order, and refuses bad values', (t) => {
  const m: SyncML = {
    body: { final: true, commands: [
      { items: [{ data: 'd', moreData: true, meta: { size: '9', format: 'b64' }, source: { locName: 'n', locURI: 's' }, target: { locURI: 't' } }], meta: { type: 'x' }, cmdID: '2', kind: 'Delete', sftDel: true, archive: true, noResp: true },
      { items: [], code: 200, cmd: 'Add', cmdRef: '1', msgRef: '1', cmdID: '3', kind: 'Status', sourceRefs: ['s'], targetRefs: ['t'], chal: { meta: { nextNonce: 'n' } } },
    ] },
    hdr: { meta: { maxObjSize: '1', maxMsgSize: '2' }, source: { locURI: 's' }, target: { locURI: 't' }, msgID: '1', sessionID: '1', verProto: 'DM/1.2', verDTD: '1.2' },
  };
  const r = encodeMessage(m, 'xml', { declaration: false });
  const s = r.ok ? utf8Decode(r.value) : '';
  t.is(s, '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>t</LocURI></Target><Source><LocURI>s</LocURI></Source><Meta><MaxMsgSize xmlns="syncml:metinf">2</MaxMsgSize><MaxObjSize xmlns="syncml:metinf">1</MaxObjSize></Meta></SyncHdr>'
    + '<SyncBody><Delete><CmdID>2</CmdID><NoResp/><Archive/><SftDel/><Meta><Type xmlns="syncml:metinf">x</Type></Meta><Item><Target><LocURI>t</LocURI></Target><Source><LocURI>s</LocURI><LocName>n</LocName></Source><Meta><Format xmlns="syncml:metinf">b64</Format><Size xmlns="syncml:metinf">9</Size></Meta><Data>d</Data><MoreData/></Item></Delete>'
    + '<Status><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>1</CmdRef><Cmd>Add</Cmd><TargetRef>t</TargetRef><SourceRef>s</SourceRef><Chal><Meta><NextNonce xmlns="syncml:metinf">n</NextNonce></Meta></Chal><Data>200</Data></Status><Final/></SyncBody></SyncML>');
  const d = decodeMessage(utf8Encode(s));
  t.deepEqual(d, { ok: true, value: { msg: m, encoding: 'xml' } });
  const badCode = { ...m, body: { final: false, commands: [{ ...(m.body.commands[1] as any), code: 2.5 }] } };
  t.is((r => !r.ok && r.error.kind)(encodeMessage(badCode, 'xml')), 'invalid-value');
  const noId = { ...m, body: { final: false, commands: [{ kind: 'Get', items: [] } as any] } };
  t.is((r => !r.ok && r.error.kind)(encodeMessage(noId, 'xml')), 'invalid-value');
  const notModel = encodeMessage({} as any, 'xml');
  t.false(notModel.ok);
});
