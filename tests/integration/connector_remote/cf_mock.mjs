// cf_mock.mjs PORT DIR - the secret-reading endpoint of the cloudflare_secrets backend (the
// design-note shape, see connector/signers/cn_signer.cfsecrets.h: the real Cloudflare REST API returns
// secret metadata only), with Cloudflare's v4 envelope. CHECKS: GET only, path
// /client/v4/accounts/acc-1/secrets/ETH_KEY, Authorization "Bearer <DIR/cf_token>" (else 401
// {"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}); unknown
// account/secret -> 404 (code 10007).
// Modes (DIR/cf.mode): ok | slow | close | garbage | 503 | wrongkey | notsuccess.
// GET /__stats -> {"reads","denied"}.
import crypto from 'node:crypto';
import { serve, send, readKey } from './common.mjs';

const port = Number(process.argv[2]);
const dir = process.argv[3];
const stats = { reads: 0, denied: 0 };
const env = (success, result, errors) => ({ success, errors, messages: [], result });

serve(port, dir, 'cf', (req, res, body, url, m) => {
  if (url.pathname === '/__stats') return send(res, 200, stats);
  const auth = req.headers.authorization || '';
  const want = 'Bearer ' + readKey(dir, 'cf_token');
  if (auth.length !== want.length || !crypto.timingSafeEqual(Buffer.from(auth), Buffer.from(want))) {
    stats.denied++;
    return send(res, 401, env(false, null, [{ code: 10000, message: 'Authentication error' }]));
  }
  if (req.method !== 'GET' || url.pathname !== '/client/v4/accounts/acc-1/secrets/ETH_KEY' || url.search !== '') {
    return send(res, 404, env(false, null, [{ code: 10007, message: 'not found' }]));
  }
  stats.reads++;
  if (m === 'notsuccess') return send(res, 200, env(false, null, [{ code: 1000, message: 'x' }]));
  const key = readKey(dir, m === 'wrongkey' ? 'key2.hex' : 'key.hex');
  return send(res, 200, env(true, { name: 'ETH_KEY', value: '0x' + key, id: crypto.randomUUID(),
                                    status: 'active', created: '2026-01-01T00:00:00Z' }, []));
});
