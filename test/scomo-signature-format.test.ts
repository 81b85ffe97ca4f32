// The `<alg>:<base64>` signature format shared by the server (upload, DD, Ext/Signature leaf)
// and the device (src/scomo/signature.ts).
import test from 'ava';
import { checkSignature, formatSignature, parseSignature, SIGNATURE_ALGS, MAX_SIGNATURE_B64 } from '../src/scomo/signature.js';

test('parseSignature accepts each known algorithm, any case, with blanks, and normalises', (t) => {
  for (const alg of SIGNATURE_ALGS) {
    const r = parseSignature(' ' + alg.toUpperCase() + ' : MEUCIQ==\n');
    t.deepEqual(r, { ok: true, sig: { alg, value: 'MEUCIQ==' } });
    if (r.ok) t.is(formatSignature(r.sig), alg + ':MEUCIQ==');
  }
  t.deepEqual(parseSignature('rsa-pss-sha256:QUJD\nREVG'), { ok: true, sig: { alg: 'rsa-pss-sha256', value: 'QUJDREVG' } });
});

test('parseSignature refuses what a verifier could not use, each with a clear message', (t) => {
  const cases: [string, RegExp][] = [
    ['', /not "<alg>:<base64>"/],
    ['MEUCIQ==', /not "<alg>:<base64>"/],
    [':MEUCIQ==', /not "<alg>:<base64>"/],
    ['ed25519:MEUCIQ==', /unknown signature algorithm "ed25519"/],
    ['ecdsa-p256-sha256:', /empty signature/],
    ['ecdsa-p256-sha256:MEU*', /not base64/],
    ['ecdsa-p256-sha256:MEU', /not base64/],
    ['ecdsa-p256-sha256:' + 'A'.repeat(MAX_SIGNATURE_B64 + 4), /longer than/],
  ];
  for (const [text, re] of cases) {
    const r = parseSignature(text);
    t.false(r.ok, text);
    if (!r.ok) t.regex(r.message, re);
  }
  t.false(checkSignature('sha1', 'QUJD').ok);
  t.true(checkSignature('RSA-PKCS1-SHA256', 'QUJD').ok);
});
