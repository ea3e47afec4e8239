// gen_jwts.js OUTDIR - independent JWT/JWKS fixtures for test_cn_auth, made with node's own
// crypto (RS256 = RSASSA-PKCS1-v1_5 + SHA-256, RFC 7518 3.3), never with our C code.
// Writes OUTDIR/jwks.json, OUTDIR/jwks_weak.json (1024-bit key), OUTDIR/cases.json.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const out = process.argv[2];
const b64u = (b) => Buffer.from(b).toString('base64url');
const enc = (o) => b64u(JSON.stringify(o));

const gen = (bits) => crypto.generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 65537 });
const k1 = gen(2048), k2 = gen(3072), other = gen(2048), weak = gen(1024);
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });

const jwk = (kp, kid) => Object.assign(kp.publicKey.export({ format: 'jwk' }), { kid, alg: 'RS256', use: 'sig' });
fs.writeFileSync(path.join(out, 'jwks.json'), JSON.stringify({
  keys: [jwk(k1, 'kid-one'), Object.assign(ec.publicKey.export({ format: 'jwk' }), { kid: 'ec-skip' }), jwk(k2, 'kid-two')],
}));
fs.writeFileSync(path.join(out, 'jwks_weak.json'), JSON.stringify({ keys: [jwk(weak, 'weak')] }));
fs.writeFileSync(path.join(out, 'jwks_dup.json'), JSON.stringify({ keys: [jwk(k1, 'same'), jwk(k2, 'same')] }));

const AUD = 'c0ffee00aud', ISS = 'https://example-team.cloudflareaccess.com';
const now = 1_800_000_000;
const base = { aud: [AUD], iss: ISS, sub: 'u-1', email: 'a@example.com', iat: now - 60, nbf: now - 60, exp: now + 600 };

const sign = (kp, hdr, claims) => {
  const input = enc(hdr) + '.' + enc(claims);
  return input + '.' + b64u(crypto.sign('sha256', Buffer.from(input), kp.privateKey));
};
const H1 = { alg: 'RS256', kid: 'kid-one', typ: 'JWT' };
const valid = sign(k1, H1, base);
const [vh, vp, vs] = valid.split('.');
const cases = [];
const add = (name, jwt, expect) => cases.push({ name, jwt, expect });

add('valid, aud array', valid, 'ok');
add('valid, aud string', sign(k1, H1, { ...base, aud: AUD }), 'ok');
add('valid, second key (3072)', sign(k2, { alg: 'RS256', kid: 'kid-two' }, base), 'ok');
add('valid, aud among several', sign(k1, H1, { ...base, aud: ['x', AUD, 'y'] }), 'ok');
add('valid, no nbf/iat', sign(k1, H1, { aud: AUD, iss: ISS, exp: now + 5 }), 'ok');
add('exp passed within leeway', sign(k1, H1, { ...base, exp: now - 10 }), 'ok');
add('expired', sign(k1, H1, { ...base, exp: now - 3600 }), 'fail');
add('exp missing', sign(k1, H1, { aud: AUD, iss: ISS }), 'fail');
add('exp not a number', sign(k1, H1, { ...base, exp: String(now + 600) }), 'fail');
add('nbf in the future', sign(k1, H1, { ...base, nbf: now + 3600 }), 'fail');
add('iat in the future', sign(k1, H1, { ...base, iat: now + 3600 }), 'fail');
add('wrong aud', sign(k1, H1, { ...base, aud: ['other-aud'] }), 'fail');
add('aud missing', sign(k1, H1, { iss: ISS, exp: now + 600 }), 'fail');
add('wrong iss', sign(k1, H1, { ...base, iss: 'https://evil.cloudflareaccess.com' }), 'fail');
add('unknown kid', sign(k1, { alg: 'RS256', kid: 'nope' }, base), 'fail');
add('no kid', sign(k1, { alg: 'RS256' }, base), 'fail');
add('kid of the other key', sign(k1, { alg: 'RS256', kid: 'kid-two' }, base), 'fail');
add('alg none', enc({ alg: 'none', kid: 'kid-one' }) + '.' + vp + '.', 'fail');
add('alg none with sig', enc({ alg: 'none', kid: 'kid-one' }) + '.' + vp + '.' + vs, 'fail');
// HS256 "key confusion": HMAC keyed with the RSA public key PEM.
{
  const h = enc({ alg: 'HS256', kid: 'kid-one' }), input = h + '.' + vp;
  const mac = crypto.createHmac('sha256', k1.publicKey.export({ type: 'spki', format: 'pem' })).update(input).digest();
  add('alg HS256 (key confusion)', input + '.' + b64u(mac), 'fail');
}
add('alg RS512', (() => { const i = enc({ alg: 'RS512', kid: 'kid-one' }) + '.' + vp;
  return i + '.' + b64u(crypto.sign('sha512', Buffer.from(i), k1.privateKey)); })(), 'fail');
add('tampered payload', vh + '.' + enc({ ...base, sub: 'admin' }) + '.' + vs, 'fail');
add('tampered header', enc({ ...H1, typ: 'jwt' }) + '.' + vp + '.' + vs, 'fail');
add('signed by another key', sign(other, H1, base), 'fail');
add('signature bit flipped', (() => { const s = Buffer.from(vs, 'base64url'); s[10] ^= 1; return vh + '.' + vp + '.' + b64u(s); })(), 'fail');
add('signature truncated', vh + '.' + vp + '.' + vs.slice(0, -4), 'fail');
add('signature with padding', vh + '.' + vp + '.' + Buffer.from(vs, 'base64url').toString('base64'), 'fail');
add('two parts', vh + '.' + vp, 'fail');
add('four parts', valid + '.' + vs, 'fail');
add('empty', '', 'fail');
add('garbage', 'not-a-jwt', 'fail');
add('header not json', b64u('nope') + '.' + vp + '.' + vs, 'fail');
add('crit header', sign(k1, { ...H1, crit: ['exp'] }, base), 'fail');
add('too long', sign(k1, H1, { ...base, pad: 'x'.repeat(9000) }), 'fail');
fs.writeFileSync(path.join(out, 'cases.json'), JSON.stringify({ now, aud: AUD, iss: ISS, valid, cases }));
