// cloud_common.mjs - pieces shared by the Google Cloud KMS and Azure Key Vault stand-ins
// (gcp_server.mjs, azure_server.mjs): an independent CRC-32C (RFC 3720 B.4, bitwise), secp256k1
// signing with a key the test holds (@noble/curves) that can be told to return high-s
// signatures, a plain-http listener for the host-local identity endpoints, form parsing and
// bearer-token bookkeeping. The https side is connector_remote/common.mjs (the test's CA).
import http from 'node:http';
import crypto from 'node:crypto';
import { requireTool, send } from '../connector_remote/common.mjs';

const { secp256k1 } = requireTool('@noble/curves/secp256k1');
export const jose = await import(requireTool.resolve('jose'));
export const N = secp256k1.CURVE.n;

export function crc32c(buf) {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

// Sign a 32-byte digest. highs: 'force' -> always the high-s twin, otherwise whatever RFC 6979
// with lowS off gives (about half high). Returns {r, s, high}.
export function sign(keyHex, digest, highs) {
  const sig = secp256k1.sign(digest, keyHex, { lowS: false });
  let s = sig.s;
  if (highs === 'force' && s <= N / 2n) s = N - s;
  return { r: sig.r, s, high: s > N / 2n };
}

export function pubXY(keyHex) {
  const p = secp256k1.getPublicKey(keyHex, false); // 04|X|Y
  return { x: Buffer.from(p.slice(1, 33)), y: Buffer.from(p.slice(33, 65)), raw: Buffer.from(p) };
}

export function der(r, s) {
  return Buffer.from(new secp256k1.Signature(r, s).toDERRawBytes());
}

export function be32(n) {
  return Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
}

export function form(body) {
  const out = {};
  for (const [k, v] of new URLSearchParams(body)) {
    if (k in out) return null; // a repeated parameter is refused
    out[k] = v;
  }
  return out;
}

// Bearer tokens with an expiry; a token is live until then (or until revoke()).
export function tokens() {
  const live = new Map();
  return {
    issue(ttl) { const t = 'tok.' + crypto.randomBytes(24).toString('base64url'); live.set(t, Date.now() + ttl * 1000); return t; },
    ok(req) {
      const h = req.headers.authorization || '';
      const m = /^Bearer (\S+)$/.exec(h);
      return !!m && live.has(m[1]) && live.get(m[1]) > Date.now();
    },
    revoke() { live.clear(); },
  };
}

// A plain-http listener on 127.0.0.1 (metadata server / IMDS / App Service stand-ins).
export function serveHttp(port, handler) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    Promise.resolve(handler(req, res, url)).catch((e) => send(res, 500, { error: String(e) }));
  });
  server.listen(port, '127.0.0.1');
  return server;
}
