// ks_node.js PORT DIR KEYFILE [http] [bearer=FILE] [signkey=FILE] - a key server speaking the
// anode-keyserver protocol (GET /health, GET /pubkey?key_id=, POST /sign) for the manager and
// "custom" backend tests. Real secp256k1 signatures from an independent implementation
// (@noble/curves, RFC 6979, lowS:false so about half are high-s, DER like an HSM).
//   default: https with a REQUIRED client certificate (DIR/server.crt, server.key, ca.crt)
//   http:        plain HTTP (the "custom" backend's no-TLS mode)
//   bearer=FILE: every request must carry "Authorization: Bearer <content of FILE>" (else 401)
//   signkey=FILE: /pubkey reports KEYFILE's key but /sign signs with FILE's key (a wrong-key
//                 server: the connector must refuse these signatures)
// DIR/mode-PORT (read per request): ok | 503 | slow (2 s delay) | deny (/sign: 403 policy_denied). Listens on 127.0.0.1 only.
'use strict';
const fs = require('fs');
const path = require('path');
const { secp256k1 } = require('@noble/curves/secp256k1');
const { computeAddress } = require('ethers');

const [port, dir, keyFile, ...opts] = process.argv.slice(2);
const opt = (k) => { const o = opts.find((x) => x === k || x.startsWith(k + '=')); return o && (o.split('=')[1] || true); };
const hex = (f) => Buffer.from(fs.readFileSync(f, 'utf8').trim().replace(/^0x/, ''), 'hex');
const priv = hex(keyFile);
const signPriv = opt('signkey') ? hex(opt('signkey')) : priv;
const bearer = opt('bearer') ? fs.readFileSync(opt('bearer'), 'utf8').trim() : null;
const pub = '0x' + Buffer.from(secp256k1.getPublicKey(priv, false)).toString('hex');
const addr = computeAddress(pub);
const KEY_ID = 'k1';
let signed = 0;

const mode = () => { try { return fs.readFileSync(path.join(dir, 'mode-' + port), 'utf8').trim(); } catch { return 'ok'; } };
const send = (res, status, obj) => {
  const b = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
  res.end(b);
};
const fail = (res, status, code) => send(res, status, { error: { code, message: code } });

function handle(req, res) {
  let body = '';
  req.on('data', (c) => { body += c; if (body.length > 65536) req.destroy(); });
  req.on('end', () => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/__stats') return send(res, 200, { signed });
    if (bearer !== null && req.headers.authorization !== 'Bearer ' + bearer) return fail(res, 401, 'unauthorized');
    const m = mode();
    if (m === '503') return fail(res, 503, 'hsm_unavailable');
    if (m === 'deny' && url.pathname === '/sign') return fail(res, 403, 'policy_denied');
    const go = () => {
      if (url.pathname === '/health' && req.method === 'GET') return send(res, 200, { status: 'ok' });
      if (url.pathname === '/pubkey' && req.method === 'GET') {
        if (url.searchParams.get('key_id') !== KEY_ID) return fail(res, 404, 'key_not_found');
        return send(res, 200, { key_id: KEY_ID, curve: 'secp256k1', public_key: pub, address: addr });
      }
      if (url.pathname === '/sign' && req.method === 'POST') {
        let r;
        try { r = JSON.parse(body); } catch { return fail(res, 400, 'bad_request'); }
        if (r.key_id !== KEY_ID) return fail(res, 404, 'key_not_found');
        if (r.algorithm !== 'ECDSA_SHA256') return fail(res, 400, 'bad_algorithm');
        const d = Buffer.from(r.data || '', 'base64');
        if (d.length !== 32) return fail(res, 400, 'bad_digest');
        const der = Buffer.from(secp256k1.sign(d, signPriv, { lowS: false }).toDERRawBytes());
        signed++;
        return send(res, 200, { key_id: KEY_ID, algorithm: r.algorithm, signature: der.toString('base64'), request_id: r.request_id });
      }
      return fail(res, 404, 'not_found');
    };
    if (m === 'slow') setTimeout(go, 2000); else go();
  });
}

let server;
if (opt('http')) {
  server = require('http').createServer({ keepAliveTimeout: 60000 }, handle);
} else {
  server = require('https').createServer({
    key: fs.readFileSync(path.join(dir, 'server.key')),
    cert: fs.readFileSync(path.join(dir, 'server.crt')),
    ca: fs.readFileSync(path.join(dir, 'ca.crt')),
    requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', keepAliveTimeout: 60000,
  }, handle);
}
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
