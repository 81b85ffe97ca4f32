import test from 'ava';
import { LOCAL_ID } from '../src/tree/tree.js';
import { provisionDmAcc, readDmAccounts, setAuthNonce, DMACC_URN } from '../src/tree/standard-mos.js';
import { FakeStore, makeTree } from './helpers/tree-setup.js';

const ACC = {
  id: 'acme', serverId: 'acme-srv', name: 'Acme DM', addr: 'https://dm.acme.example/dm', port: 443,
  auth: [
    { level: 'CLCRED' as const, type: 'DIGEST', name: 'dev1', secret: 'clientpw', data: new Uint8Array([1, 2, 3]) },
    { level: 'SRVCRED' as const, type: 'DIGEST', name: 'acme-srv', secret: 'serverpw' },
  ],
};

test('provisioned DMAcc has the DM 1.2 layout and the MO URN as Type', (t) => {
  const tree = makeTree();
  t.is(provisionDmAcc(tree, ACC), 200);
  const g = (u: string) => tree.get('acme-srv', u);
  t.is(g('./DMAcc/acme?prop=Type').items![0].data, DMACC_URN);
  t.is(g('./DMAcc/acme/AppID').items![0].data, 'w7');
  t.is(g('./DMAcc/acme/ServerID').items![0].data, 'acme-srv');
  t.is(g('./DMAcc/acme/AppAddr/1/Addr').items![0].data, 'https://dm.acme.example/dm');
  t.is(g('./DMAcc/acme/AppAddr/1/AddrType').items![0].data, 'URI');
  t.is(g('./DMAcc/acme/AppAddr/1/Port/1/PortNbr').items![0].data, '443');
  t.is(g('./DMAcc/acme/AAuthPref').items![0].data, 'DIGEST');
  t.is(g('./DMAcc/acme/AppAuth/CLCRED/AAuthLevel').items![0].data, 'CLCRED');
  t.is(g('./DMAcc/acme/AppAuth/SRVCRED/AAuthName').items![0].data, 'acme-srv');
  t.is(g('./DMAcc/acme/AppAuth').items![0].data, 'CLCRED/SRVCRED');
  t.is(provisionDmAcc(tree, ACC), 418);
});

test('AAuthSecret and AAuthData are never readable by a server, by Get, StructData or TNDS', (t) => {
  const tree = makeTree();
  provisionDmAcc(tree, ACC);
  for (const leaf of ['AAuthSecret', 'AAuthData']) {
    t.is(tree.get('acme-srv', `./DMAcc/acme/AppAuth/CLCRED/${leaf}`).code, 405);
  }
  const sd = tree.get('acme-srv', './DMAcc/acme?list=StructData');
  t.is(sd.code, 200);
  const secret = sd.items!.find((i) => i.source!.locURI.endsWith('CLCRED/AAuthSecret'))!;
  t.is(secret.data, undefined);
  const tnds = tree.get('acme-srv', './DMAcc/acme?list=TNDS').items![0].data as string;
  t.false(tnds.includes('clientpw'));
  t.false(tnds.includes('serverpw'));
  t.true(tnds.includes('<NodeName>AAuthSecret</NodeName>'));
  t.is(tree.copy('acme-srv', './DMAcc/acme/Name', './DMAcc/acme/AppAuth/CLCRED/AAuthSecret'), 405);
  t.is(tree.get('other', './DMAcc/acme/ServerID').code, 425, 'the account belongs to its server');
  t.is(tree.get(LOCAL_ID, './DMAcc/acme/AppAuth/CLCRED/AAuthSecret').items![0].data, 'clientpw');
});

test('the local DM client reads accounts with secrets and persists a new nonce', (t) => {
  const store = new FakeStore();
  const tree = makeTree({ store });
  provisionDmAcc(tree, ACC);
  t.is(setAuthNonce(tree, 'acme', 'SRVCRED', new Uint8Array([9, 9])), 200);
  const again = makeTree({ store });
  const accs = readDmAccounts(again);
  t.is(accs.length, 1);
  t.is(accs[0].serverId, 'acme-srv');
  t.is(accs[0].addr, 'https://dm.acme.example/dm');
  t.is(accs[0].port, 443);
  const cl = accs[0].auth.find((a) => a.level === 'CLCRED')!;
  t.is(cl.secret, 'clientpw');
  t.deepEqual(Array.from(cl.data!), [1, 2, 3]);
  t.deepEqual(Array.from(accs[0].auth.find((a) => a.level === 'SRVCRED')!.data!), [9, 9]);
  t.is(provisionDmAcc(again, ACC), 418, 'restored from the store at boot');
});
