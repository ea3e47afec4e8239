// fallback_e2e.mjs - issue 15's fallback end to end, real parts only: ONE secp256k1 key imported
// both into a SoftHSM2 token (softhsm2-util --import, as a real deployment imports a key it also
// holds elsewhere) and into the Google Cloud KMS stand-in (gcp_server.mjs, TLS, JWT assertion
// checked with jose, CRC32C checked); anode-keyserver (mTLS) in front of the token; an
// anode-connector account with the `keyless` primary and a `gcp_kms` backup. Four clients sign
// personal_sign messages without pause; the key server is killed (SIGKILL) under that load, later
// restarted on its port. Every answer is checked with ethers.verifyMessage against the address
// ethers computes from the key: zero wrong signatures and zero failed requests; the backup signed
// while the primary was down and the primary signed again after its restart.
// Every process is started through tests/e2e/lib/stack.mjs and stopped by PID on every exit path.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import {
  assert, makeRunner, rpcRaw, sleep, startAnvil, startConnector, startProcess, tmpDir, toolsRequire, waitFor,
  freePort,
} from '../../e2e/lib/stack.mjs';
import { keylessAccount, makePki, startKeyserver, SOFTHSM_MODULE } from '../../e2e/lib/fullstack.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
const { ethers } = toolsRequire('ethers');
const dir = tmpDir('ak-cloudkms-fb-');
const { t, run } = makeRunner('cloudkms_fallback');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const KV = 'projects/p1/locations/global/keyRings/r1/cryptoKeys/k1/cryptoKeyVersions/1';
let token, pki, ks, gcp, gcpPort, anvil, conn, address;

const sh = (cmd, args, env = {}) => execFileSync(cmd, args, { cwd: dir, env: { ...process.env, ...env }, stdio: 'pipe' });

function gcpStats() {
  return new Promise((resolve, reject) => {
    https.get(`https://127.0.0.1:${gcpPort}/__stats`, { ca: fs.readFileSync(path.join(dir, 'ca.crt')) }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => { try { resolve(JSON.parse(b)); } catch (e) { reject(e); } });
    }).on('error', reject);
  });
}

t('one key in SoftHSM and in the Cloud KMS stand-in; key server, connector with keyless + gcp_kms', async () => {
  // The key, made by openssl; its address by ethers.
  sh('openssl', ['ecparam', '-name', 'secp256k1', '-genkey', '-noout', '-out', 'k.pem']);
  sh('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', 'k.pem', '-out', 'k.p8.pem']);
  const jwk = crypto.createPrivateKey(fs.readFileSync(path.join(dir, 'k.pem'))).export({ format: 'jwk' });
  const keyHex = Buffer.from(jwk.d, 'base64url').toString('hex').padStart(64, '0');
  fs.writeFileSync(path.join(dir, 'key.hex'), keyHex, { mode: 0o600 });
  address = new ethers.Wallet('0x' + keyHex).address;
  // SoftHSM2 token holding the imported pair.
  fs.mkdirSync(path.join(dir, 'hsm/tokens'), { recursive: true });
  const conf = path.join(dir, 'hsm/softhsm2.conf');
  fs.writeFileSync(conf, `directories.tokendir = ${dir}/hsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n` +
    'slots.removable = false\n', { mode: 0o600 });
  sh('softhsm2-util', ['--init-token', '--free', '--label', 'ak-fb', '--pin', '123456', '--so-pin', '654321'], { SOFTHSM2_CONF: conf });
  sh('softhsm2-util', ['--import', 'k.p8.pem', '--token', 'ak-fb', '--label', 'k1', '--id', '01', '--pin', '123456'],
    { SOFTHSM2_CONF: conf });
  fs.rmSync(path.join(dir, 'k.pem'));
  fs.rmSync(path.join(dir, 'k.p8.pem'));
  const pinFile = path.join(dir, 'pin');
  fs.writeFileSync(pinFile, '123456', { mode: 0o600 });
  token = { conf, label: 'ak-fb', keyLabel: 'k1', pinFile, module: SOFTHSM_MODULE };
  pki = makePki(dir);
  ks = await startKeyserver({ dir, token, pki });

  // The Cloud KMS stand-in: TLS material, a service account and its key file.
  sh('sh', [path.join(here, '../connector_remote/mkcert.sh'), dir]);
  sh('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'gcp_sa.pem']);
  sh('openssl', ['pkey', '-in', 'gcp_sa.pem', '-pubout', '-out', 'gcp_sa.pub.pem']);
  gcpPort = await freePort();
  fs.writeFileSync(path.join(dir, 'gcp_sa.json'), JSON.stringify({
    type: 'service_account', project_id: 'proj', private_key_id: 'kid-1',
    private_key: fs.readFileSync(path.join(dir, 'gcp_sa.pem'), 'utf8'),
    client_email: 'signer@proj.iam.gserviceaccount.com', token_uri: `https://127.0.0.1:${gcpPort}/token`,
  }), { mode: 0o600 });
  gcp = startProcess(process.execPath, [path.join(here, 'gcp_server.mjs'), String(gcpPort), dir], { name: 'gcp_server' });
  await waitFor(() => gcpStats().then(() => true), { what: 'gcp_server', timeoutMs: 20000 });

  anvil = await startAnvil();
  const primary = keylessAccount({ urls: [ks.url], pki, timeoutMs: 1500, retries: 0 }).signer;
  const backup = {
    type: 'gcp_kms', name: 'gcp-backup', key_version: KV, endpoint: `https://127.0.0.1:${gcpPort}`,
    credentials_file: path.join(dir, 'gcp_sa.json'), ca: path.join(dir, 'ca.crt'), timeout_ms: 3000, retries: 1,
  };
  conn = await startConnector({
    config: {
      accounts: [{ name: 'treasury', primary, backups: [backup] }],
      signer_manager: { failure_threshold: 3, health_interval_ms: 200 },
    },
    downstreamUrl: anvil.url, dir,
  });
  const accts = await rpcRaw(conn.url, 'eth_accounts');
  assert(accts.result && accts.result[0] === address, `eth_accounts ${JSON.stringify(accts)} is ${address}`);
});

t('primary killed under load, then restarted: zero wrong signatures, zero failures', async () => {
  const counts = { ok: 0, wrong: 0, failed: 0 };
  let stop = false;
  const worker = async (w) => {
    for (let i = 0; !stop; i++) {
      const msg = `fallback ${w} ${i} ${crypto.randomBytes(8).toString('hex')}`;
      const r = await rpcRaw(conn.url, 'personal_sign', [ethers.hexlify(ethers.toUtf8Bytes(msg)), address]);
      if (r.error || typeof r.result !== 'string') {
        counts.failed++;
        if (counts.failed <= 3) console.log(`  failed: ${JSON.stringify(r.error)}`);
        continue;
      }
      const sig = ethers.Signature.from(r.result);
      const ok = ethers.verifyMessage(msg, r.result) === address && BigInt(sig.s) <= ethers.N / 2n;
      counts[ok ? 'ok' : 'wrong']++;
    }
  };
  const load = [0, 1, 2, 3].map(worker);
  await sleep(1500);
  const before = (await gcpStats()).signs;
  const port = ks.port;
  ks.proc.kill('SIGKILL');
  await ks.exited;
  await sleep(2500);
  const during = (await gcpStats()).signs - before;
  ks = await startKeyserver({ dir, token, pki, port });
  await sleep(2500);
  const okBefore = counts.ok;
  const gcpBefore = (await gcpStats()).signs;
  await sleep(1000);
  stop = true;
  await Promise.all(load);
  const gcpAfter = (await gcpStats()).signs;
  const st = await gcpStats();
  console.log(`  signatures ${counts.ok} ok, ${counts.wrong} wrong, ${counts.failed} failed; backup signed ${during} ` +
    `while the primary was down; last second: ${counts.ok - okBefore} ok, ${gcpAfter - gcpBefore} by the backup`);
  assert(counts.wrong === 0, 'no wrong signature');
  assert(counts.failed === 0, 'no failed request');
  assert(counts.ok >= 50, 'enough signatures under load');
  assert(during > 0, 'the gcp_kms backup signed while the primary was down');
  assert(gcpAfter - gcpBefore < counts.ok - okBefore, 'the primary signs again after its restart');
  assert(st.badcrc === 0 && st.badreq === 0 && st.bad_assertions === 0, `the stand-in saw no bad request ${JSON.stringify(st)}`);
});

run();
