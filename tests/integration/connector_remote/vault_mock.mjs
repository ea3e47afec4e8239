// vault_mock.mjs PORT DIR - a HashiCorp Vault stand-in for test_cn_remote speaking the documented
// HTTP API shapes it uses, and CHECKING what the client sends:
//  - KV v2 read: GET /v1/secret/data/eth/signer1 (only this mount/path; ?version=N allowed) with
//    X-Vault-Token = the static token (DIR/vault_token) or a live AppRole token; otherwise 403
//    {"errors":["permission denied"]}. Answer {"data":{"data":{"private_key":"0x.."},"metadata":{..}}}.
//  - AppRole: POST /v1/auth/approle/login, JSON body exactly {"role_id","secret_id"} matching
//    "role-1" / DIR/vault_secret_id, else 400 {"errors":["invalid role or secret ID"]}; answers
//    auth.client_token (random) with auth.lease_duration = DIR/vault_lease (seconds, default 3600);
//    a token is refused once its lease has passed.
//  - Kubernetes: POST /v1/auth/kubernetes/login, body exactly {"role":"signer","jwt":DIR/k8s_jwt},
//    else 403; answers like AppRole.
// Modes (DIR/vault.mode): ok | slow | close | garbage | 503 | wrongkey (another key) | nofield |
// revoke (forget every issued token, then behave as ok).
//  - Token: GET /v1/auth/token/lookup-self and POST /v1/auth/token/renew-self for the static
//    token. With DIR/vault_static_ttl = N the static token expires N s after its first lookup
//    (or the mock's start, if the file was there then) or after it was last renewed (renew-self sets it N s ahead again, answers auth.lease_duration = N);
//    without the file it never expires (ttl 0, renewable false, like a root token).
// GET /__stats -> {"kv_reads","logins","denied","renewals","lookups"}.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { serve, send, readKey } from './common.mjs';

const port = Number(process.argv[2]);
const dir = process.argv[3];
const stats = { kv_reads: 0, logins: 0, denied: 0, renewals: 0, lookups: 0 };
const staticTtl = () => { try { return Number(readKey(dir, 'vault_static_ttl')); } catch { return 0; } };
let staticExpiry = staticTtl() > 0 ? Date.now() + staticTtl() * 1000 : 0;
const staticLive = () => staticExpiry === 0 || Date.now() < staticExpiry;
const tokens = new Map(); // token -> expiry ms
const eq = (a, b) => typeof a === 'string' && a.length === b.length &&
  crypto.timingSafeEqual(Buffer.from(a), Buffer.from(b));

serve(port, dir, 'vault', (req, res, body, url, m) => {
  if (url.pathname === '/__stats') return send(res, 200, stats);
  if (m === 'revoke') { tokens.clear(); fs.writeFileSync(path.join(dir, 'vault.mode'), 'ok'); }
  const approle = url.pathname === '/v1/auth/approle/login';
  if (req.method === 'POST' && (approle || url.pathname === '/v1/auth/kubernetes/login')) {
    let j = null;
    try { j = JSON.parse(body); } catch { /* handled below */ }
    const keys = j && typeof j === 'object' ? Object.keys(j).sort().join(',') : '';
    if (approle && (keys !== 'role_id,secret_id' || !eq(j.role_id, 'role-1') ||
                    !eq(j.secret_id, readKey(dir, 'vault_secret_id')))) {
      return send(res, 400, { errors: ['invalid role or secret ID'] });
    }
    if (!approle && (keys !== 'jwt,role' || !eq(j.role, 'signer') || !eq(j.jwt, readKey(dir, 'k8s_jwt')))) {
      return send(res, 403, { errors: ['permission denied'] });
    }
    stats.logins++;
    let lease = 3600;
    try { lease = Number(readKey(dir, 'vault_lease')); } catch { /* default */ }
    const tok = 'hvs.' + crypto.randomBytes(18).toString('base64url');
    tokens.set(tok, Date.now() + lease * 1000);
    return send(res, 200, { request_id: crypto.randomUUID(), lease_id: '', renewable: false, lease_duration: 0,
      data: null, wrap_info: null, warnings: null,
      auth: { client_token: tok, accessor: 'acc', policies: ['default', 'signer'], token_policies: ['default', 'signer'],
              metadata: { role_name: 'signer' }, lease_duration: lease, renewable: true, entity_id: '',
              token_type: 'service', orphan: true } });
  }
  if (url.pathname === '/v1/auth/token/lookup-self' || url.pathname === '/v1/auth/token/renew-self') {
    const t = req.headers['x-vault-token'];
    if (!eq(t, readKey(dir, 'vault_token')) || !staticLive()) { stats.denied++; return send(res, 403, { errors: ['permission denied'] }); }
    const ttl = staticTtl();
    if (url.pathname.endsWith('lookup-self')) {
      if (req.method !== 'GET') return send(res, 405, { errors: [] });
      stats.lookups++;
      if (staticExpiry === 0 && ttl > 0) staticExpiry = Date.now() + ttl * 1000; // TTL from here
      const left = staticExpiry ? Math.max(0, Math.round((staticExpiry - Date.now()) / 1000)) : 0;
      return send(res, 200, { data: { id: t, ttl: left, renewable: ttl > 0, policies: ['default'] } });
    }
    if (req.method !== 'POST' || ttl <= 0) return send(res, 400, { errors: ['token not renewable'] });
    stats.renewals++;
    staticExpiry = Date.now() + ttl * 1000;
    return send(res, 200, { auth: { client_token: t, lease_duration: ttl, renewable: true } });
  }
  if (req.method === 'GET' && url.pathname === '/v1/secret/data/eth/signer1') {
    const t = req.headers['x-vault-token'];
    const live = typeof t === 'string' && ((tokens.has(t) && tokens.get(t) > Date.now()) ||
                                            (eq(t, readKey(dir, 'vault_token')) && staticLive()));
    if (!live) { stats.denied++; return send(res, 403, { errors: ['permission denied'] }); }
    stats.kv_reads++;
    const key = readKey(dir, m === 'wrongkey' ? 'key2.hex' : 'key.hex');
    const data = m === 'nofield' ? { other: 'x' } : { private_key: '0x' + key };
    return send(res, 200, { request_id: crypto.randomUUID(), lease_id: '', renewable: false, lease_duration: 0,
      data: { data, metadata: { created_time: '2026-01-01T00:00:00Z', custom_metadata: null, deletion_time: '',
                                destroyed: false, version: 1 } },
      wrap_info: null, warnings: null, auth: null });
  }
  return send(res, 404, { errors: [] });
});
