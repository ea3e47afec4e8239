// fullstack_reload.mjs - hot reload of the connector's whole configuration (issue 14, item 2) under
// load, with real parts only: a SoftHSM2 token with two secp256k1 keys, anode-keyserver over mutual
// TLS, anode-connector (keyless accounts and one local account), anvil --accounts 0. 16 clients
// sign eth_sign and eth_signTransaction throughout while the connector is sent SIGHUP after each
// change of its file: an account added, one removed, policies changed (a refused request becomes
// allowed, an allowed one refused), the keyless signers' client certificate rotated (then the key
// server stops accepting the old one), a broken file, a restart-only change and an account whose
// key the key server does not have (all three refused, the configuration in force stays). Every answer is judged: a signature must recover to the
// account (ethers), an error must be the refusal the change meant (no signer for a removed or
// not-yet-added address, -32003 for a policy) - either outcome only for requests that overlapped
// the reload itself. anode_connector_config_generation counts each reload that took effect,
// config_reload_total{result} both kinds. Processes are stopped by PID on every exit path.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  assert, assertEq, localAccount, makeRunner, sleep, startAnvil, startConnector, tmpDir, toolsRequire,
  waitFor,
} from '../lib/stack.mjs';
import { SOFTHSM_MODULE, keylessAccount, makePki, makeToken, startKeyserver } from '../lib/fullstack.mjs';

const { ethers } = toolsRequire('ethers');
const CLIENTS = 16;
const TO = ethers.getAddress('0x00000000000000000000000000000000000000b2');
const dir = tmpDir('ak-reload-');
const { t, run: runAll } = makeRunner('fullstack_reload');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

// A second key pair in the token; its address computed by pkcs11-tool + node crypto + ethers.
function addKey(token, label, id) {
  const env = { ...process.env, SOFTHSM2_CONF: token.conf };
  execFileSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', token.label, '--login', '--pin',
    token.pin, '--keypairgen', '--key-type', 'EC:secp256k1', '--label', label, '--id', id], { env, stdio: 'ignore' });
  const spki = path.join(dir, `${label}.spki`);
  execFileSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', token.label, '--read-object',
    '--type', 'pubkey', '--id', id, '-o', spki], { env, stdio: 'ignore' });
  const jwk = crypto.createPublicKey({ key: fs.readFileSync(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' });
  const hex = (s) => Buffer.from(s, 'base64url').toString('hex').padStart(64, '0');
  return ethers.computeAddress(`0x04${hex(jwk.x)}${hex(jwk.y)}`);
}

let token, pki, ks, anvil, conn, local, A1, A2, AL, ksCfgPath;
const reloads = []; // {what, sent, done}: the windows in which either outcome is right

// The connector's file: which accounts, their policies, which client certificate.
function connectorConfig({ withK2, withLocal, tightPolicy, cert }) {
  const keyless = (keyId, name, policy) => {
    const a = keylessAccount({ urls: [ks.url], keyId, pki, name, timeoutMs: 5000 });
    a.signer.client_cert = pki.cert(cert);
    a.signer.client_key = pki.key(cert);
    a.policy = policy;
    return a;
  };
  const accounts = [keyless('k1', 'hsm-k1', { max_value_wei: tightPolicy ? '1000' : '10000' })];
  if (withLocal) accounts.push(local.config);
  if (withK2) {
    accounts.push(keyless('k2', 'hsm-k2', {
      allowed_methods: tightPolicy ? ['eth_sign', 'eth_signTransaction'] : ['eth_sign'],
    }));
  }
  return { accounts, signer_manager: { failure_threshold: 3, health_interval_ms: 1000 } };
}

async function metric(name) {
  const text = await (await fetch(`${conn.url}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}"=|]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

const count = (re) => (conn.log().match(re) || []).length;

// Write the file, SIGHUP, wait for the connector's verdict; records the window.
async function reload(what, config, { expectOk = true, key = null } = {}) {
  fs.writeFileSync(conn.configPath, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  const ok0 = count(/SIGHUP: configuration reloaded/g), bad0 = count(/SIGHUP: configuration not reloaded/g);
  const w = { what, sent: Date.now(), done: Infinity }; // in force for the judge from now on
  if (key) phase[key] = w;
  process.kill(conn.pid, 'SIGHUP');
  await waitFor(() => count(/SIGHUP: configuration reloaded/g) > ok0 || count(/SIGHUP: configuration not reloaded/g) > bad0,
    { what: `reload "${what}" answered`, timeoutMs: 30000 });
  w.done = Date.now();
  reloads.push(w);
  console.log(`     reload "${what}": answered within ${w.done - w.sent} ms`);
  const ok = count(/SIGHUP: configuration reloaded/g) > ok0;
  assertEq(ok, expectOk, `reload "${what}" took effect`);
  return w;
}

// ---- the load: 16 clients, each answer judged -------------------------------------------------
const stats = { ok: 0, refusedAsMeant: 0, either: 0, bad: [] };
let stopLoad = false;
const phase = { k2Added: null, localRemoved: null, policyChanged: null }; // the reload windows

// What the answer to a request made in [t0, t1] may be: 'ok', a refusal kind, or both.
function expected(task, t0, t1) {
  const at = (w) => (w === null || t1 < w.sent ? 'before' : t0 > w.done ? 'after' : 'during');
  if (task.who === 'k2') {
    const a = at(phase.k2Added);
    if (a === 'before') return ['unknown'];
    if (task.method === 'eth_signTransaction') {
      const p = at(phase.policyChanged);
      if (a === 'during') return ['unknown', 'policy', 'ok'];
      return p === 'before' ? ['policy'] : p === 'after' ? ['ok'] : ['policy', 'ok'];
    }
    return a === 'after' ? ['ok'] : ['unknown', 'ok'];
  }
  if (task.who === 'local') {
    const a = at(phase.localRemoved);
    return a === 'before' ? ['ok'] : a === 'after' ? ['unknown'] : ['ok', 'unknown'];
  }
  if (task.method === 'eth_signTransaction') { // k1, value 2000: allowed until the policy tightens
    const p = at(phase.policyChanged);
    return p === 'before' ? ['ok'] : p === 'after' ? ['policy'] : ['ok', 'policy'];
  }
  return ['ok'];
}

let nonce = 0;
async function oneRequest(task) {
  const addr = { k1: A1, k2: A2, local: AL }[task.who];
  let params;
  if (task.method === 'eth_sign') {
    params = [addr, ethers.hexlify(ethers.toUtf8Bytes(`reload test ${crypto.randomUUID()}`))];
  } else {
    params = [{ from: addr, to: TO, value: '0x7d0', gas: '0x5208', maxFeePerGas: '0x3b9aca00',
      maxPriorityFeePerGas: '0x1', nonce: ethers.toQuantity(nonce++ % 1000), chainId: '0x7a69', type: '0x2' }];
  }
  const t0 = Date.now();
  let outcome, detail = '';
  try {
    const res = await fetch(conn.url, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: task.method, params }) });
    const j = await res.json();
    if (res.status !== 200) {
      outcome = 'http';
      detail = `HTTP ${res.status}`;
    } else if (j.error) {
      detail = `${j.error.code} ${j.error.message}`;
      if (j.error.code === -32000 && /no signer configured for address/.test(j.error.message)) outcome = 'unknown';
      else if (j.error.code === -32003) outcome = 'policy';
      else outcome = 'error';
    } else if (task.method === 'eth_sign') {
      const got = ethers.verifyMessage(ethers.getBytes(params[1]), j.result);
      outcome = got === addr ? 'ok' : 'wrong-signer';
      detail = got;
    } else {
      const tx = ethers.Transaction.from(j.result);
      outcome = tx.from === addr && tx.to === TO && tx.value === 2000n ? 'ok' : 'wrong-tx';
      detail = `${tx.from} ${tx.to} ${tx.value}`;
    }
  } catch (e) {
    outcome = 'exception';
    detail = e.message;
  }
  const allowed = expected(task, t0, Date.now());
  if (!allowed.includes(outcome)) {
    stats.bad.push(`${task.who} ${task.method}: ${outcome} (${detail}); allowed ${allowed.join('|')}`);
  } else if (allowed.length > 1) {
    stats.either++;
  } else if (outcome === 'ok') {
    stats.ok++;
  } else {
    stats.refusedAsMeant++;
  }
}

const TASKS = [
  { who: 'k1', method: 'eth_sign' }, { who: 'k1', method: 'eth_signTransaction' },
  { who: 'local', method: 'eth_sign' }, { who: 'k2', method: 'eth_sign' },
  { who: 'k2', method: 'eth_signTransaction' }, { who: 'k1', method: 'eth_sign' },
];

async function client(i) {
  for (let n = i; !stopLoad; n++) await oneRequest(TASKS[n % TASKS.length]);
}

// ---- the test ----------------------------------------------------------------------------------
t('set up: token with two keys, PKI with two client certificates, key server, anvil, connector', async () => {
  token = makeToken(dir);
  A1 = token.address;
  A2 = addKey(token, 'k2', '02');
  pki = makePki(dir, ['connector', 'connector2']);
  ks = await startKeyserver({
    dir, token, pki,
    extra: {
      keys: { k1: `pkcs11:token=${token.label};object=k1`, k2: `pkcs11:token=${token.label};object=k2` },
      clients: { 'cn:connector': '*', 'cn:connector2': '*' },
    },
  });
  ksCfgPath = fs.readdirSync(dir).filter((f) => /^keyserver-\d+\.json$/.test(f)).map((f) => path.join(dir, f))[0];
  anvil = await startAnvil();
  local = localAccount(dir);
  AL = local.address;
  conn = await startConnector({
    config: connectorConfig({ withK2: false, withLocal: true, tightPolicy: false, cert: 'connector' }),
    downstreamUrl: anvil.url, dir,
  });
  assertEq(await metric('anode_connector_config_generation'), 1, 'generation at start');
});

t(`${CLIENTS} clients sign throughout five reloads; every answer is the one the configuration meant`, async () => {
  const load = [...Array(CLIENTS).keys()].map((i) => client(i));
  try {
    await sleep(1500);
    const before = JSON.parse(await (await fetch(`${conn.url}/signers`)).text());
    const k1Before = before.accounts.find((a) => a.address === A1).signers[0].signatures;

    await reload('add account k2',
      connectorConfig({ withK2: true, withLocal: true, tightPolicy: false, cert: 'connector' }), { key: 'k2Added' });
    assertEq(await metric('anode_connector_config_generation'), 2, 'generation after adding');
    const after = JSON.parse(await (await fetch(`${conn.url}/signers`)).text());
    const k1After = after.accounts.find((a) => a.address === A1).signers[0].signatures;
    assert(k1After >= k1Before && k1Before > 0, `k1's signer counters carried (${k1Before} -> ${k1After})`);
    assertEq(after.accounts.length, 3, 'three accounts after adding');
    assertEq(count(/account \(signers unchanged, kept\)/g), 2, 'k1 and the local account kept their signers');
    await sleep(1500);

    await reload('remove the local account',
      connectorConfig({ withK2: true, withLocal: false, tightPolicy: false, cert: 'connector' }), { key: 'localRemoved' });
    await sleep(1500);

    await reload('change the policies',
      connectorConfig({ withK2: true, withLocal: false, tightPolicy: true, cert: 'connector' }), { key: 'policyChanged' });
    assertEq(count(/account \(signers unchanged, kept\)/g), 2 + 2 + 2, 'a policy change keeps the signers');
    await sleep(1500);

    const rotated = await reload('rotate the client certificate',
      connectorConfig({ withK2: true, withLocal: false, tightPolicy: true, cert: 'connector2' }));
    await sleep(1000);
    // The key server stops accepting the old certificate: nothing may still use it.
    const ksCfg = JSON.parse(fs.readFileSync(ksCfgPath, 'utf8'));
    ksCfg.clients = { 'cn:connector2': '*' };
    fs.writeFileSync(ksCfgPath, JSON.stringify(ksCfg, null, 2));
    const ksReloads = (ks.log().match(/reloaded: generation/g) || []).length;
    process.kill(ks.pid, 'SIGHUP');
    await waitFor(() => (ks.log().match(/reloaded: generation/g) || []).length > ksReloads, { what: 'key server reload' });
    await sleep(1500);
    assertEq(await metric('anode_connector_config_generation'), 5, 'generation after four reloads');

    await reload('a broken file', '{"accounts": [', { expectOk: false });
    assert(/SIGHUP: configuration not reloaded[^\n]*generation[^\n]*5/.test(conn.log()), 'the refusal names the generation in force');
    const restartOnly = connectorConfig({ withK2: true, withLocal: false, tightPolicy: true, cert: 'connector2' });
    restartOnly.http = { max_body_bytes: 2 << 20 };
    await reload('a restart-only change', restartOnly, { expectOk: false });
    assert(/not reloaded[^\n]*\\?"http\\?" changed: only a restart applies it/.test(conn.log()), 'the restart-only setting is named');
    // An account the key server does not know (key k9): the new generation cannot be built.
    const unknownKey = connectorConfig({ withK2: true, withLocal: false, tightPolicy: true, cert: 'connector2' });
    unknownKey.accounts.push({ ...keylessAccount({ urls: [ks.url], keyId: 'k9', pki, name: 'hsm-k9' }) });
    unknownKey.accounts.at(-1).signer.client_cert = pki.cert('connector2');
    unknownKey.accounts.at(-1).signer.client_key = pki.key('connector2');
    await reload('an account whose key cannot be found', unknownKey, { expectOk: false });
    assert(/not reloaded[^\n]*an account was refused/.test(conn.log()), 'the refused account is the reason');
    await sleep(1500);
    assertEq(await metric('anode_connector_config_generation'), 5, 'generation unchanged by the refused reloads');
    assertEq(await metric('anode_connector_config_reload_total{result="ok"}'), 4, 'reloads ok');
    assertEq(await metric('anode_connector_config_reload_total{result="error"}'), 3, 'reloads refused');

    // The key server saw the new certificate after the rotation, and only it after its own reload.
    const audit = fs.readFileSync(ks.auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const signedBy = (cn) => audit.filter((r) => r.outcome === 'signed' && r.client_cn === cn).length;
    assert(signedBy('connector2') > 0, 'signatures made with the rotated certificate');
    assert(signedBy('connector') > 0, 'signatures made with the first certificate');
    assert(rotated.done > 0, 'rotation recorded');
  } finally {
    stopLoad = true;
    await Promise.all(load);
  }
  console.log(`     ${stats.ok} signatures verified, ${stats.refusedAsMeant} refusals as meant, ` +
    `${stats.either} answers during a reload, ${stats.bad.length} wrong`);
  assertEq(stats.bad.slice(0, 5), [], 'answers the configuration did not mean');
  assert(stats.ok > 200 && stats.refusedAsMeant > 50, 'the load ran throughout');
  assert(conn.proc.exitCode === null, 'the connector is still running');
});

t('the connector stops cleanly after the reloads (every generation freed)', async () => {
  const r = await conn.stop();
  assertEq(r.code, 0, 'exit status');
});

await runAll();
