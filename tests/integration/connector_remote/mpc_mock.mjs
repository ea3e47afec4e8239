// mpc_mock.mjs PORT DIR - a reference MPC-KMS server for docs/mpc-kms-protocol.md, used by
// test_cn_remote. It VERIFIES every request as the spec says (section "Verifying a request"):
// known access key, X-MPC-Timestamp within the window (DIR/mpc_window seconds, default 300),
// X-MPC-Content-SHA256 equal to SHA-256 of the body, the HMAC-SHA256 signature recomputed over
// the canonical string (constant-time compare), and a nonce not seen within the window (replay).
// Signatures come from an independent implementation (@noble/curves, RFC 6979, lowS:false, so
// about half are high-s); the format rotates DER / r||s / r||s||v to exercise all three.
// Modes (DIR/mpc.mode): ok | slow | close | garbage | 503 | badsig (signature over another
// digest) | wrongrid (request_id not echoed) | 422 (policy refusal) | badaddr (the key's address
// is not its public key's).
// Test-only: GET /__last -> the last authenticated request {method, path, headers, body};
// GET /__stats -> {"signed","summaries","rejected":{code:count}}.
import crypto from 'node:crypto';
import { serve, send, readKey, requireTool } from './common.mjs';

const { secp256k1 } = requireTool('@noble/curves/secp256k1');
const { computeAddress } = requireTool('ethers');

const port = Number(process.argv[2]);
const dir = process.argv[3];
const ACCESS_KEY = 'AK-test-1';
const KEY_ID = 'eth-hot-1';
const priv = Buffer.from(readKey(dir, 'key.hex'), 'hex');
const pub = '0x' + Buffer.from(secp256k1.getPublicKey(priv, false)).toString('hex');
const address = computeAddress(pub);
const stats = { signed: 0, summaries: 0, rejected: {} };
const nonces = new Map(); // nonce -> expiry (ms)
let last = null;
let counter = 0;

const fail = (res, status, code, message) => {
  stats.rejected[code] = (stats.rejected[code] || 0) + 1;
  send(res, status, { error: { code, message } });
};
const windowS = () => { try { return Number(readKey(dir, 'mpc_window')); } catch { return 300; } };

// Returns null if the request is authentic, else [status, code, message].
function verify(req, path, body) {
  const auth = req.headers.authorization || '';
  const m = /^MPC-HMAC-SHA256 Credential=([A-Za-z0-9._:-]{1,128}),Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return [401, 'bad_authorization', 'malformed Authorization header'];
  if (m[1] !== ACCESS_KEY) return [401, 'unknown_access_key', 'unknown access key'];
  const ts = req.headers['x-mpc-timestamp'] || '';
  const nonce = req.headers['x-mpc-nonce'] || '';
  const dg = req.headers['x-mpc-content-sha256'] || '';
  if (!/^[0-9]{1,12}$/.test(ts) || !/^[0-9a-f]{32}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(dg)) {
    return [401, 'bad_authorization', 'missing or malformed X-MPC-* header'];
  }
  const now = Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(ts)) > windowS()) return [401, 'timestamp_out_of_window', 'timestamp outside the window'];
  if (crypto.createHash('sha256').update(body, 'utf8').digest('hex') !== dg) {
    return [401, 'content_digest_mismatch', 'body does not match X-MPC-Content-SHA256'];
  }
  const canon = ['MPC-HMAC-SHA256', req.method, path, ts, nonce, dg].join('\n');
  const want = crypto.createHmac('sha256', readKey(dir, 'mpc_secret')).update(canon, 'utf8').digest();
  if (!crypto.timingSafeEqual(want, Buffer.from(m[2], 'hex'))) return [401, 'bad_signature', 'signature mismatch'];
  const t = Date.now();
  for (const [k, exp] of nonces) if (exp < t) nonces.delete(k);
  if (nonces.has(nonce)) return [401, 'replay', 'nonce already used'];
  nonces.set(nonce, t + 2 * windowS() * 1000);
  return null;
}

const DEC = /^(0|[1-9][0-9]{0,77})$/;
const ADDR = /^0x[0-9a-fA-F]{40}$/;
function summaryError(s) {
  if (typeof s !== 'object' || s === null) return 'summary must be an object';
  const keys = Object.keys(s).sort().join(',');
  if (keys !== 'amount,from,remark,to,token,type') return 'summary fields';
  if (!['transfer', 'erc20_transfer', 'contract_call', 'contract_creation'].includes(s.type)) return 'summary.type';
  if (s.from !== address) return 'summary.from is not the key address';
  if (!(s.type === 'contract_creation' ? s.to === '' : ADDR.test(s.to))) return 'summary.to';
  if (!DEC.test(s.amount)) return 'summary.amount';
  if (typeof s.token !== 'string' || s.token === '' || typeof s.remark !== 'string' || s.remark.length > 256) return 'summary.token/remark';
  return null;
}

serve(port, dir, 'mpc', (req, res, body, url, m) => {
  if (url.pathname === '/__last') return send(res, 200, last || {});
  if (url.pathname === '/__stats') return send(res, 200, stats);
  const path = url.pathname + url.search;
  const bad = verify(req, path, body);
  if (bad) return fail(res, ...bad);
  last = { method: req.method, path, body, headers: {
    authorization: req.headers.authorization, 'x-mpc-timestamp': req.headers['x-mpc-timestamp'],
    'x-mpc-nonce': req.headers['x-mpc-nonce'], 'x-mpc-content-sha256': req.headers['x-mpc-content-sha256'] } };
  if (req.method === 'GET' && url.pathname === '/v1/health') return send(res, 200, { status: 'ok' });
  if (req.method === 'GET' && url.pathname.startsWith('/v1/keys/')) {
    if (url.pathname !== '/v1/keys/' + KEY_ID) return fail(res, 404, 'key_not_found', 'no such key');
    if (m === 'badaddr') { // an address that is not keccak(public_key)
      return send(res, 200, { key_id: KEY_ID, curve: 'secp256k1', public_key: pub, address: '0x' + '11'.repeat(20) });
    }
    return send(res, 200, { key_id: KEY_ID, curve: 'secp256k1', public_key: pub, address });
  }
  const withSummary = url.pathname === '/v1/sign_with_summary';
  if (req.method !== 'POST' || !(withSummary || url.pathname === '/v1/sign')) return fail(res, 404, 'not_found', 'no such endpoint');
  let j;
  try { j = JSON.parse(body); } catch { return fail(res, 400, 'bad_request', 'body is not JSON'); }
  const want = withSummary ? 'data,key_id,request_id,summary' : 'data,key_id,request_id';
  if (typeof j !== 'object' || j === null || Object.keys(j).sort().join(',') !== want ||
      typeof j.request_id !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(j.request_id) ||
      typeof j.data !== 'string' || !/^0x[0-9a-f]{64}$/.test(j.data)) {
    return fail(res, 400, 'bad_request', 'fields');
  }
  if (j.key_id !== KEY_ID) return fail(res, 404, 'key_not_found', 'no such key');
  if (withSummary) {
    const e = summaryError(j.summary);
    if (e) return fail(res, 400, 'bad_summary', e);
    stats.summaries++;
    last.summary = j.summary;
  }
  if (m === '422') return fail(res, 422, 'policy_rejected', 'policy refused the operation');
  const d = Buffer.from(j.data.slice(2), 'hex');
  if (m === 'badsig') d[0] ^= 1;
  const sig = secp256k1.sign(d, priv, { lowS: false });
  const fmt = counter++ % 3;
  let hex;
  if (fmt === 0) hex = Buffer.from(sig.toDERRawBytes()).toString('hex');
  else if (fmt === 1) hex = Buffer.from(sig.toCompactRawBytes()).toString('hex');
  else hex = Buffer.from(sig.toCompactRawBytes()).toString('hex') + (27 + sig.recovery).toString(16);
  stats.signed++;
  return send(res, 200, { key_id: KEY_ID, request_id: m === 'wrongrid' ? 'other' : j.request_id, signature: '0x' + hex });
});
