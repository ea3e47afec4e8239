// ks_mock.js PORT DIR [KEYFILE] - a stand-in anode-keyserver for test_cn_keyless when the real one is not
// built: real TLS 1.3 with a REQUIRED client certificate (node https, requestCert), the key
// server's JSON protocol, and real secp256k1 signatures from an independent implementation
// (@noble/curves, RFC 6979, lowS:false so about half are high-s, DER as an HSM returns them).
// Address from ethers.computeAddress. Behaviour is switched by DIR/mode (read per request):
// ok | 503 | state503 | 403 | 500 | slow | garbage | big | wrongaddr | badsig | rid | flaky503 | close
// GET /__stats -> {"connections":N,"requests":M,"high_s":H,"low_s":L,"last_request_id":R}.
// Listens on 127.0.0.1.
'use strict';
const https = require('https');
const fs = require('fs');
const path = require('path');
const { secp256k1 } = require('@noble/curves/secp256k1');
const { computeAddress, Wallet } = require('ethers');

const port = Number(process.argv[2]);
const dir = process.argv[3];
const keyHex = fs.readFileSync(process.argv[4] || path.join(dir, 'key.hex'), 'utf8').trim(); // made by the test
const priv = Buffer.from(keyHex, 'hex');
const pub = '0x' + Buffer.from(secp256k1.getPublicKey(priv, false)).toString('hex');
const addr = computeAddress(pub);
const other = computeAddress(Wallet.createRandom().signingKey.publicKey);
const KEY_ID = 'test-key-1';
const stats = { connections: 0, requests: 0, high_s: 0, low_s: 0 };
let flaky = 0;

const mode = () => { try { return fs.readFileSync(path.join(dir, 'mode'), 'utf8').trim(); } catch { return 'ok'; } };
const send = (res, status, obj) => {
  const b = typeof obj === 'string' ? obj : JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
  res.end(b);
};
const err = (res, status, code, message) => send(res, status, { error: { code, message } });

function signOne(r, m) {
  if (typeof r !== 'object' || r === null || typeof r.key_id !== 'string' || r.algorithm !== 'ECDSA_SHA256' ||
      typeof r.data !== 'string') return [400, { error: { code: 'bad_request', message: 'bad request' } }];
  if (r.key_id !== KEY_ID) return [403, { error: { code: 'forbidden', message: 'not allowed' } }];
  const d = Buffer.from(r.data, 'base64');
  if (d.length !== 32 || d.toString('base64') !== r.data) return [400, { error: { code: 'bad_digest', message: 'digest must be 32 bytes' } }];
  const sig = secp256k1.sign(d, priv, { lowS: false });
  sig.hasHighS() ? stats.high_s++ : stats.low_s++;
  stats.last_request_id = r.request_id;
  let der = Buffer.from(sig.toDERRawBytes());
  if (m === 'badsig') { // a valid-looking DER signature over another digest
    const d2 = Buffer.from(d); d2[0] ^= 1;
    der = Buffer.from(secp256k1.sign(d2, priv, { lowS: false }).toDERRawBytes());
  }
  return [200, { key_id: r.key_id, algorithm: r.algorithm, signature: der.toString('base64'),
                 request_id: m === 'rid' ? 'someone-else' : r.request_id }];
}

const server = https.createServer({
  key: fs.readFileSync(path.join(dir, 'server.key')),
  cert: fs.readFileSync(path.join(dir, 'server.crt')),
  ca: fs.readFileSync(path.join(dir, 'ca.crt')),
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: 'TLSv1.2',
  keepAliveTimeout: 60000,
}, (req, res) => {
  stats.requests++;
  const m = mode();
  const url = new URL(req.url, 'https://x');
  let body = '';
  req.on('data', (c) => { body += c; if (body.length > 65536) { err(res, 413, 'too_large', 'too large'); req.destroy(); } });
  req.on('end', () => {
    if (url.pathname === '/__stats') return send(res, 200, stats);
    if (m === 'close') return req.socket.destroy();
    if (m === '503') return err(res, 503, 'hsm_unavailable', 'HSM unavailable');
    if (m === 'state503' && url.pathname === '/sign') return err(res, 503, 'state_unavailable', 'the cumulative-cap store does not answer');
    if (m === 'flaky503' && (flaky++ % 2) === 0) return err(res, 503, 'hsm_unavailable', 'HSM unavailable');
    if (m === '403') return err(res, 403, 'forbidden', 'not allowed');
    if (m === '500') return err(res, 500, 'internal', 'internal error');
    if (m === 'garbage') return send(res, 200, '{"key_id": nope');
    if (m === 'big') return send(res, 200, JSON.stringify({ pad: 'x'.repeat(100000) }));
    const go = () => {
      if (url.pathname === '/health' && req.method === 'GET') return send(res, 200, { status: 'ok' });
      if (url.pathname === '/pubkey' && req.method === 'GET') {
        const k = url.searchParams.get('key_id');
        if (k !== KEY_ID) return err(res, 403, 'forbidden', 'not allowed');
        return send(res, 200, { key_id: k, curve: 'secp256k1', public_key: pub, address: m === 'wrongaddr' ? other : addr });
      }
      if (url.pathname === '/sign' && req.method === 'POST') {
        let j;
        try { j = JSON.parse(body); } catch { return err(res, 400, 'bad_json', 'bad json'); }
        if (Array.isArray(j.requests)) {
          return send(res, 200, { results: j.requests.map((r) => { const [s, o] = signOne(r, m); return s === 200 ? o : o; }) });
        }
        const [s, o] = signOne(j, m);
        return send(res, s, o);
      }
      return err(res, 404, 'not_found', 'unknown path');
    };
    if (m === 'slow') setTimeout(go, 3000); else go();
  });
});
server.on('secureConnection', () => stats.connections++);
server.listen(port, '127.0.0.1', () => { fs.writeFileSync(path.join(dir, 'ready'), String(process.pid)); });
process.on('SIGTERM', () => process.exit(0));
