// azure_server.mjs PORT DIR - an Azure Key Vault + Microsoft identity platform stand-in for
// test_cn_cloudkms, speaking the documented REST shapes over TLS on 127.0.0.1:PORT
// (DIR/server.crt) and plain http on PORT+1 (IMDS and the App Service endpoint), CHECKING what
// the client sends:
//  - POST /tenant-1/oauth2/v2.0/token: form with exactly client_id = "client-1", scope =
//    https://vault.azure.net/.default or https://managedhsm.azure.net/.default, grant_type =
//    client_credentials, and either client_secret = DIR/az_secret, or client_assertion_type =
//    urn:ietf:params:oauth:client-assertion-type:jwt-bearer + client_assertion: a JWT verified
//    with jose against DIR/az_cert.pem: RS256, header x5t / x5t#S256 = the certificate's SHA-1 /
//    SHA-256 thumbprints, iss = sub = client-1, aud = this token URL, a jti never seen before,
//    exp - now <= 600 s. Else 401 {"error":"invalid_client"}. Answers {token_type: "Bearer",
//    expires_in: DIR/az_ttl (default 3599), access_token}.
//  - GET http://127.0.0.1:PORT+1/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R
//    with "Metadata: true" (IMDS; expires_in as a string), and GET /msi/token?api-version=
//    2019-08-01&resource=R with X-IDENTITY-HEADER = DIR/az_identity_header (App Service;
//    expires_on only). Else 400/401.
//  - GET /keys/eth-key[/VERSION]?api-version=7.4 and POST /keys/eth-key/VERSION/sign?api-version=7.4
//    with a live bearer token (else 401). sign's body must be exactly {"alg":"ES256K","value":
//    base64url of 32 bytes} (else 400 BadParameter); answers {kid, value: base64url(r||s)} signed
//    with DIR/key.hex (high-s as often as RFC 6979 gives it; always in mode highs). Unknown
//    key or version -> 404 KeyNotFound.
// Modes (DIR/azure.mode): ok | highs | wrongkey | wrongcrv | disabled | nosign (key_ops without
// sign) | wrongkid | shortsig | revoke | slow | close | garbage | 503.
// GET /__stats -> {tokens, assertions, secrets, imds, appservice, signs, highs, badreq, unauth,
// bad_client, hsm_scope (token requests for the Managed HSM resource), last_scope}.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { serve, send, readKey } from '../connector_remote/common.mjs';
import { sign, pubXY, be32, form, tokens, serveHttp, jose } from './cloud_common.mjs';

const port = Number(process.argv[2]);
const dir = process.argv[3];
const VERSION = '0123456789abcdef0123456789abcdef';
const NAME = 'eth-key';
const SCOPES = ['https://vault.azure.net/.default', 'https://managedhsm.azure.net/.default'];
const stats = { tokens: 0, assertions: 0, secrets: 0, imds: 0, appservice: 0, signs: 0, highs: 0,
  badreq: 0, unauth: 0, bad_client: 0, hsm_scope: 0, last_scope: '' };
const live = tokens();
const seenJti = new Set();
const ttl = () => { try { return Number(readKey(dir, 'az_ttl')); } catch { return 3599; } };
const certPem = fs.readFileSync(path.join(dir, 'az_cert.pem'), 'utf8');
const cert = new crypto.X509Certificate(certPem);
const thumb = (alg) => crypto.createHash(alg).update(cert.raw).digest('base64url');
const eq = (a, b) => typeof a === 'string' && a.length === b.length &&
  crypto.timingSafeEqual(Buffer.from(a), Buffer.from(b));
const kid = (m) => `https://127.0.0.1:${port}/keys/${NAME}/${m === 'wrongkid' ? VERSION.replace(/f$/, 'e') : VERSION}`;

function aerr(res, code, c) {
  return send(res, code, { error: { code: c, message: c } });
}

async function clientOk(f) {
  const keys = Object.keys(f).sort().join(',');
  if (f.client_id !== 'client-1' || !SCOPES.includes(f.scope) || f.grant_type !== 'client_credentials') return false;
  stats.last_scope = f.scope;
  if (f.scope.includes('managedhsm')) stats.hsm_scope++;
  if (keys === 'client_id,client_secret,grant_type,scope') {
    if (!eq(f.client_secret, readKey(dir, 'az_secret'))) return false;
    stats.secrets++;
    return true;
  }
  if (keys !== 'client_assertion,client_assertion_type,client_id,grant_type,scope' ||
      f.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return false;
  const key = await jose.importX509(certPem, 'RS256');
  const { payload, protectedHeader } = await jose.jwtVerify(f.client_assertion, key, {
    algorithms: ['RS256'], issuer: 'client-1', subject: 'client-1',
    audience: `https://127.0.0.1:${port}/tenant-1/oauth2/v2.0/token`,
  });
  const now = Math.floor(Date.now() / 1000);
  if (protectedHeader.x5t !== thumb('sha1') || protectedHeader['x5t#S256'] !== thumb('sha256') ||
      typeof payload.jti !== 'string' || seenJti.has(payload.jti) || payload.exp - now > 600) return false;
  seenJti.add(payload.jti);
  stats.assertions++;
  return true;
}

serveHttp(port + 1, (req, res, url) => {
  const resource = url.searchParams.get('resource');
  const okRes = resource === 'https://vault.azure.net' || resource === 'https://managedhsm.azure.net';
  if (resource === 'https://managedhsm.azure.net') stats.hsm_scope++;
  if (url.pathname === '/metadata/identity/oauth2/token') {
    if (req.headers.metadata !== 'true' || url.searchParams.get('api-version') !== '2018-02-01' || !okRes) {
      return send(res, 400, { error: 'invalid_request' });
    }
    stats.imds++;
    const t = ttl();
    return send(res, 200, { access_token: live.issue(t), refresh_token: '', expires_in: String(t),
      expires_on: String(Math.floor(Date.now() / 1000) + t), not_before: String(Math.floor(Date.now() / 1000)),
      resource, token_type: 'Bearer' });
  }
  if (url.pathname === '/msi/token') {
    if (!eq(req.headers['x-identity-header'], readKey(dir, 'az_identity_header')) ||
        url.searchParams.get('api-version') !== '2019-08-01' || !okRes) {
      return send(res, 401, { error: 'unauthorized' });
    }
    stats.appservice++;
    const t = ttl();
    return send(res, 200, { access_token: live.issue(t), expires_on: String(Math.floor(Date.now() / 1000) + t),
      resource, token_type: 'Bearer', client_id: 'mi-client' });
  }
  return send(res, 404, {});
});

serve(port, dir, 'azure', async (req, res, body, url, m) => {
  if (url.pathname === '/__stats') return send(res, 200, stats);
  if (m === 'revoke') { live.revoke(); fs.writeFileSync(path.join(dir, 'azure.mode'), 'ok'); }
  if (req.method === 'POST' && url.pathname === '/tenant-1/oauth2/v2.0/token') {
    const f = form(body);
    let ok = false;
    try { ok = !!f && await clientOk(f); } catch { ok = false; }
    if (!ok) { stats.bad_client++; return send(res, 401, { error: 'invalid_client' }); }
    stats.tokens++;
    return send(res, 200, { token_type: 'Bearer', expires_in: ttl(), ext_expires_in: ttl(),
      access_token: live.issue(ttl()) });
  }
  if (!url.pathname.startsWith('/keys/')) return aerr(res, 404, 'NotFound');
  if (url.searchParams.get('api-version') !== '7.4') return aerr(res, 400, 'BadParameter');
  if (!live.ok(req)) { stats.unauth++; return aerr(res, 401, 'Unauthorized'); }
  const parts = url.pathname.split('/').slice(2); // [name, version?, op?]
  const keyHex = readKey(dir, m === 'wrongkey' ? 'key2.hex' : 'key.hex');
  if (parts[0] !== NAME || (parts.length > 1 && parts[1] !== VERSION)) return aerr(res, 404, 'KeyNotFound');
  if (req.method === 'GET' && parts.length <= 2) {
    const { x, y } = pubXY(keyHex);
    return send(res, 200, { key: { kid: kid(m), kty: 'EC-HSM', key_ops: m === 'nosign' ? ['verify'] : ['sign', 'verify'],
      crv: m === 'wrongcrv' ? 'P-256' : 'P-256K', x: x.toString('base64url'), y: y.toString('base64url') },
      attributes: { enabled: m !== 'disabled', created: 1700000000, updated: 1700000000, recoveryLevel: 'Recoverable' } });
  }
  if (req.method === 'POST' && parts.length === 3 && parts[2] === 'sign') {
    let j = null;
    try { j = JSON.parse(body); } catch { /* below */ }
    const ok = j && typeof j === 'object' && Object.keys(j).sort().join(',') === 'alg,value' &&
      j.alg === 'ES256K' && typeof j.value === 'string' && /^[A-Za-z0-9_-]+$/.test(j.value);
    const digest = ok ? Buffer.from(j.value, 'base64url') : null;
    if (!ok || digest.length !== 32 || digest.toString('base64url') !== j.value) { stats.badreq++; return aerr(res, 400, 'BadParameter'); }
    if (m === 'disabled') return aerr(res, 403, 'Forbidden');
    const sg = sign(keyHex, digest, m === 'highs' ? 'force' : '');
    stats.signs++;
    if (sg.high) stats.highs++;
    let rs = Buffer.concat([be32(sg.r), be32(sg.s)]);
    if (m === 'shortsig') rs = rs.subarray(0, 63);
    return send(res, 200, { kid: kid(m), value: rs.toString('base64url') });
  }
  return aerr(res, 405, 'MethodNotAllowed');
});
