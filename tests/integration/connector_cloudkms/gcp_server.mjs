// gcp_server.mjs PORT DIR - a Google Cloud KMS + OAuth stand-in for test_cn_cloudkms, speaking
// the documented REST shapes over TLS on 127.0.0.1:PORT (DIR/server.crt) and plain http on
// PORT+1 (the metadata server), and CHECKING what the client sends:
//  - POST /token (the service account's token_uri): form grant_type =
//    urn:ietf:params:oauth:grant-type:jwt-bearer and assertion = a JWT verified with jose against
//    DIR/gcp_sa.pub.pem: RS256, header kid = "kid-1", iss = "signer@proj.iam.gserviceaccount.com",
//    aud = https://127.0.0.1:PORT/token, scope = the Cloud KMS scope, exp - iat = 3600, iat
//    within a minute of now. Else 400 {"error":"invalid_grant"}. Answers
//    {access_token, expires_in: DIR/gcp_ttl (default 3600), token_type: "Bearer"}.
//  - GET http://127.0.0.1:PORT+1/computeMetadata/v1/instance/service-accounts/default/token with
//    "Metadata-Flavor: Google" (else 403): the same token answer.
//  - GET /v1/KV/publicKey and POST /v1/KV:asymmetricSign (KV = projects/p1/locations/global/
//    keyRings/r1/cryptoKeys/k1/cryptoKeyVersions/1) with a live bearer token (else 401
//    UNAUTHENTICATED). asymmetricSign's body must be exactly {"digest":{"sha256":b64 of 32
//    bytes},"digestCrc32c":"<CRC32C of the digest>"} (else 400 INVALID_ARGUMENT, counted in
//    badcrc/badreq); the answer is signed with DIR/key.hex (secp256k1; high-s as often as RFC 6979
//    gives it, always in mode highs) with signatureCrc32c and verifiedDigestCrc32c: true.
//    Another version -> 404 NOT_FOUND.
// Modes (DIR/gcp.mode): ok | highs | badsigcrc | noverify | wrongkey (DIR/key2.hex) | wrongname |
// disabled (400 FAILED_PRECONDITION) | wrongalg | badpemcrc | revoke (forget every token, then
// ok) | slow | close | garbage | 503 (connector_remote/common.mjs).
// GET /__stats -> {tokens, md_tokens, signs, highs, badcrc, badreq, unauth, bad_assertions}.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { serve, send, readKey } from '../connector_remote/common.mjs';
import { crc32c, sign, pubXY, der, form, tokens, serveHttp, jose } from './cloud_common.mjs';

const port = Number(process.argv[2]);
const dir = process.argv[3];
const KV = 'projects/p1/locations/global/keyRings/r1/cryptoKeys/k1/cryptoKeyVersions/1';
const SCOPE = 'https://www.googleapis.com/auth/cloudkms';
const EMAIL = 'signer@proj.iam.gserviceaccount.com';
const stats = { tokens: 0, md_tokens: 0, signs: 0, highs: 0, badcrc: 0, badreq: 0, unauth: 0, bad_assertions: 0 };
const live = tokens();
const ttl = () => { try { return Number(readKey(dir, 'gcp_ttl')); } catch { return 3600; } };
const saKey = crypto.createPublicKey(fs.readFileSync(path.join(dir, 'gcp_sa.pub.pem')));

function spkiPem(keyHex) {
  const prefix = Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex');
  const b64 = Buffer.concat([prefix, pubXY(keyHex).raw]).toString('base64');
  return '-----BEGIN PUBLIC KEY-----\n' + b64.match(/.{1,64}/g).join('\n') + '\n-----END PUBLIC KEY-----\n';
}

function gerr(res, code, status) {
  return send(res, code, { error: { code, message: status, status } });
}

function tokenAnswer() {
  return { access_token: live.issue(ttl()), expires_in: ttl(), token_type: 'Bearer' };
}

serveHttp(port + 1, (req, res, url) => {
  if (url.pathname !== '/computeMetadata/v1/instance/service-accounts/default/token') return send(res, 404, 'not found');
  if (req.headers['metadata-flavor'] !== 'Google') return send(res, 403, 'missing Metadata-Flavor');
  stats.md_tokens++;
  res.setHeader('Metadata-Flavor', 'Google');
  return send(res, 200, tokenAnswer());
});

serve(port, dir, 'gcp', async (req, res, body, url, m) => {
  if (url.pathname === '/__stats') return send(res, 200, stats);
  if (m === 'revoke') { live.revoke(); fs.writeFileSync(path.join(dir, 'gcp.mode'), 'ok'); }
  if (req.method === 'POST' && url.pathname === '/token') {
    const f = form(body);
    try {
      if (!f || Object.keys(f).sort().join(',') !== 'assertion,grant_type' ||
          f.grant_type !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') throw new Error('form');
      const { payload, protectedHeader } = await jose.jwtVerify(f.assertion, saKey, {
        algorithms: ['RS256'], issuer: EMAIL, audience: `https://127.0.0.1:${port}/token`,
      });
      const now = Math.floor(Date.now() / 1000);
      if (protectedHeader.kid !== 'kid-1' || payload.scope !== SCOPE || payload.exp - payload.iat !== 3600 ||
          Math.abs(payload.iat - now) > 60) throw new Error('claims');
    } catch {
      stats.bad_assertions++;
      return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    }
    stats.tokens++;
    return send(res, 200, tokenAnswer());
  }
  if (!url.pathname.startsWith('/v1/')) return send(res, 404, {});
  if (!live.ok(req)) { stats.unauth++; return gerr(res, 401, 'UNAUTHENTICATED'); }
  const name = decodeURIComponent(url.pathname.slice(4));
  const keyHex = readKey(dir, m === 'wrongkey' ? 'key2.hex' : 'key.hex');
  if (req.method === 'GET' && name === KV + '/publicKey') {
    const pem = spkiPem(keyHex);
    const crc = crc32c(Buffer.from(pem)) + (m === 'badpemcrc' ? 1 : 0);
    return send(res, 200, { pem, algorithm: m === 'wrongalg' ? 'EC_SIGN_P256_SHA256' : 'EC_SIGN_SECP256K1_SHA256',
      pemCrc32c: String(crc), name: KV, protectionLevel: 'HSM' });
  }
  if (req.method === 'POST' && name === KV + ':asymmetricSign') {
    let j = null;
    try { j = JSON.parse(body); } catch { /* below */ }
    const ok = j && typeof j === 'object' && Object.keys(j).sort().join(',') === 'digest,digestCrc32c' &&
      j.digest && typeof j.digest === 'object' && Object.keys(j.digest).join(',') === 'sha256' &&
      typeof j.digest.sha256 === 'string' && typeof j.digestCrc32c === 'string';
    const digest = ok ? Buffer.from(j.digest.sha256, 'base64') : null;
    if (!ok || digest.length !== 32 || digest.toString('base64') !== j.digest.sha256) {
      stats.badreq++;
      return gerr(res, 400, 'INVALID_ARGUMENT');
    }
    if (String(crc32c(digest)) !== j.digestCrc32c) { stats.badcrc++; return gerr(res, 400, 'INVALID_ARGUMENT'); }
    if (m === 'disabled') return gerr(res, 400, 'FAILED_PRECONDITION');
    const sg = sign(keyHex, digest, m === 'highs' ? 'force' : '');
    stats.signs++;
    if (sg.high) stats.highs++;
    const sig = der(sg.r, sg.s);
    return send(res, 200, { signature: sig.toString('base64'),
      signatureCrc32c: String(crc32c(sig) + (m === 'badsigcrc' ? 1 : 0)),
      verifiedDigestCrc32c: m !== 'noverify', name: m === 'wrongname' ? KV.replace(/1$/, '2') : KV,
      protectionLevel: 'HSM' });
  }
  return gerr(res, 404, 'NOT_FOUND');
});
