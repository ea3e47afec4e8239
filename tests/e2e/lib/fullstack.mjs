// fullstack.mjs - helpers for end-to-end tests of the whole product with real parts only:
// a private SoftHSM2 token with a secp256k1 key (deploy/softhsm-init.sh), a private PKI
// (deploy/pki.sh), anode-keyserver over mutual TLS, and an anode-connector whose account uses the
// `keyless` signer. Builds on stack.mjs (processes are registered there and stopped by PID by
// stopAll() / makeRunner on every exit path).
//
// The HSM address is computed independently of our code: pkcs11-tool reads the public key from
// the token, node's crypto decodes the SubjectPublicKeyInfo, ethers.computeAddress hashes it.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { BUILD_DIR, SOURCE_DIR, startProcess, toolsRequire, waitFor } from './stack.mjs';

export const KEYSERVER = path.join(BUILD_DIR, 'keyserver/anode-keyserver');
export const SOFTHSM_MODULE = process.env.SOFTHSM2_MODULE || '/usr/lib/softhsm/libsofthsm2.so';

// A SoftHSM2 token under dir/hsm with one secp256k1 key pair (label keyLabel, CKA_ID 01).
// Returns {conf, label, keyLabel, pin, pinFile, publicKey (0x04...), address (EIP-55)}.
export function makeToken(dir, { label = 'ak-e2e', keyLabel = 'k1', pin = '123456', soPin = '654321' } = {}) {
  const out = execFileSync('sh', [path.join(SOURCE_DIR, 'deploy/softhsm-init.sh'), path.join(dir, 'hsm'),
    label, pin, soPin, keyLabel, '01'], { encoding: 'utf8' });
  const conf = out.trim().split('\n').pop();
  const pinFile = path.join(dir, 'pin');
  fs.writeFileSync(pinFile, pin, { mode: 0o600 });
  const spki = path.join(dir, `${keyLabel}.spki`);
  execFileSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', label, '--read-object',
    '--type', 'pubkey', '--id', '01', '-o', spki], { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'ignore' });
  const jwk = crypto.createPublicKey({ key: fs.readFileSync(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' });
  if (jwk.crv !== 'secp256k1') throw new Error(`token key is ${jwk.crv}, not secp256k1`);
  const hex = (s) => Buffer.from(s, 'base64url').toString('hex').padStart(64, '0');
  const publicKey = `0x04${hex(jwk.x)}${hex(jwk.y)}`;
  const { ethers } = toolsRequire('ethers');
  return { conf, label, keyLabel, pin, pinFile, publicKey, address: ethers.computeAddress(publicKey), jwk };
}

// CA, server certificate (127.0.0.1) and one client certificate per name, in dir/pki.
export function makePki(dir, clients = ['connector']) {
  const pki = path.join(dir, 'pki');
  execFileSync('bash', [path.join(SOURCE_DIR, 'deploy/pki.sh'), pki, ...clients], { stdio: 'ignore' });
  return { dir: pki, ca: path.join(pki, 'ca.crt'), cert: (cn) => path.join(pki, `${cn}.crt`), key: (cn) => path.join(pki, `${cn}.key`) };
}

// anode-keyserver on 127.0.0.1 (port 0 = let it choose; pass the old port to restart on it).
// keyId names the token's key; the client "connector" may use every key.
export async function startKeyserver({ dir, token, pki, keyId = 'k1', port = 0, threads = 4, maxSessions = 4,
  fsync = 100, extra = {} }) {
  const cfg = {
    listen: { address: '127.0.0.1', port },
    tls: { cert: path.join(pki.dir, 'server.crt'), key: path.join(pki.dir, 'server.key'), client_ca: pki.ca },
    pkcs11: { module: SOFTHSM_MODULE, token_label: token.label, pin_file: token.pinFile, max_sessions: maxSessions },
    keys: { [keyId]: `pkcs11:token=${token.label};object=${token.keyLabel}` },
    clients: { 'cn:connector': '*' },
    audit: { file: path.join(dir, 'audit.log'), fsync },
    limits: { threads },
    ...extra,
  };
  const cfgPath = path.join(dir, `keyserver-${Date.now()}.json`);
  fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  const h = startProcess(KEYSERVER, ['--config', cfgPath], { env: { SOFTHSM2_CONF: token.conf }, name: 'anode-keyserver' });
  await waitFor(() => {
    if (h.proc.exitCode !== null) throw new Error(`anode-keyserver exited: ${h.log()}`);
    const m = /listening on \S+ port (\d+)/.exec(h.log());
    if (m) h.port = Number(m[1]);
    return m !== null;
  }, { what: 'anode-keyserver', timeoutMs: 20000 });
  h.url = `https://127.0.0.1:${h.port}`;
  h.keyId = keyId;
  h.auditFile = cfg.audit.file;
  return h;
}

// The connector account config of a keyless signer that uses key server(s) at urls.
export function keylessAccount({ urls, keyId = 'k1', pki, name = 'hsm', timeoutMs = 3000, retries = 2, poolSize = 16 }) {
  return {
    signer: {
      type: 'keyless', name, urls, key_id: keyId,
      client_cert: pki.cert('connector'), client_key: pki.key('connector'), ca: pki.ca,
      timeout_ms: timeoutMs, connect_timeout_ms: 1000, retries, pool_size: poolSize,
    },
  };
}

// A request to the key server with the connector's client certificate (keep-alive agent).
// Returns {status, json}.
export function mtlsRequest(pki, url, { method = 'GET', body, agent } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method, agent, ca: fs.readFileSync(pki.ca), cert: fs.readFileSync(pki.cert('connector')),
      key: fs.readFileSync(pki.key('connector')), headers: body ? { 'content-type': 'application/json' } : {},
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        try { resolve({ status: res.statusCode, json: JSON.parse(text) }); } catch (e) { reject(e); }
      });
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

// secp256k1 group order; s > N/2 is "high-s" (EIP-2 forbids it in transactions).
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

// Strict-enough DER SEQUENCE{INTEGER r, INTEGER s} reader for counting high-s signatures.
export function derToRS(der) {
  const b = Buffer.from(der);
  let i = 0;
  if (b[i++] !== 0x30 || b[i++] !== b.length - 2) throw new Error('not a DER sequence');
  const int = () => {
    if (b[i++] !== 0x02) throw new Error('not a DER integer');
    const n = b[i++];
    const v = BigInt(`0x${b.subarray(i, i + n).toString('hex')}`);
    i += n;
    return v;
  };
  const r = int();
  const s = int();
  if (i !== b.length) throw new Error('trailing bytes');
  return { r, s };
}

// Lines of the key server's audit log with outcome "signed" (the log is hash chained, one JSON
// object per line).
export function countSignedAudit(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l && JSON.parse(l).outcome === 'signed').length;
}
