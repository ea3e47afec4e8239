// state_pm_caps.mjs - issue 13: the paymaster's daily caps (daily_cap_wei_per_sender and
// daily_cap_wei_global) on the state store shared by three anode-connector replicas on one
// PostgreSQL, the paymaster's key in SoftHSM2 behind one anode-keyserver, anvil with the real
// EntryPoint v0.7 and VerifyingPaymaster (@account-abstraction/contracts 0.7.0). Each signature
// is judged by the contract's own getHash (eth_call) and ethers' verifyMessage; the totals by
// the database's own rows.
//   - 64 concurrent pm_getPaymasterData for one sender, cap worth exactly 10 -> exactly 10 signed;
//   - the key server down after the reservation: -32000 and the reservation given back;
//   - the database stopped: -32603 "state store unavailable" (REST 503), nothing signed by the
//     key server; back by itself when the database returns;
//   - 64 concurrent over 8 other senders against the global cap -> exactly what is left of it;
//   - the memory backend in one process: the same two caps, exact.
// PostgreSQL (pg_lib.sh), the key server, anvil and the connectors are stopped by PID.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  CONNECTOR, SOURCE_DIR, TOOLS, assert, assertEq, fund, makeRunner, post, rpc, rpcRaw, startAnvil, startConnector,
  toolsRequire, waitFor,
} from '../lib/stack.mjs';
import { countSignedAudit, keylessAccount, makePki, makeToken, startKeyserver } from '../lib/fullstack.mjs';
import { pgServer } from '../lib/pg.mjs';

const { ethers } = toolsRequire('ethers');
const art = (n) => createRequire(path.join(TOOLS, 'package.json'))(`@account-abstraction/contracts/artifacts/${n}.json`);
const { t, run } = makeRunner('state_pm_caps');
const STMT_MS = 1500;
const GWEI = 10n ** 9n;
// One operation's most cost: maxFeePerGas 1 gwei x (100000 + 200000 + 50000 + 100000 + 0) gas.
const COST = 450000n * GWEI;
const SENDER_CAP = 10n * COST; // exactly 10 operations per sender
const GLOBAL_CAP = 25n * COST; // exactly 25 operations for everyone together
const DB = 'anode_pm'; // created by deploy/postgres/create.sql with its two roles
const db = pgServer('ak-pm-caps-');
const { dir, pgDir } = db;
let token, pki, ks, anvil, provider, entryPoint, paymaster, stateCfg, pmCfg, accountCfg;
let reps = [];


// psql on the server's socket as the tests' superuser (anode), in the database DB.
const psql = (args) => db.psql(args);
const sql = (q) => psql(['-d', DB, '-Atc', q]);
const bytea = (a) => `'\\x${a.slice(2).toLowerCase()}'::bytea`;
const spentOf = (sender) => BigInt(sql(`SELECT coalesce(sum(spent), 0) FROM anode.pm_spend WHERE sender = ${sender ? bytea(sender) : "''::bytea"}`));

async function replica(i, state = stateCfg) {
  const d = path.join(dir, `r${i}`);
  fs.mkdirSync(d, { recursive: true });
  return startConnector({
    config: { accounts: [accountCfg], paymaster: pmCfg, state, http: { threads: 16 } },
    downstreamUrl: anvil.url, args: ['--log-level', 'warn'], dir: d,
  });
}

const q = (v) => ethers.toQuantity(BigInt(v));
// A unique operation of sender (its nonce k); the cost is COST.
const op = (sender, k) => ({
  sender, nonce: q(k), callData: '0xb61d27f6', callGasLimit: q(100000), verificationGasLimit: q(200000),
  preVerificationGas: q(50000), maxFeePerGas: q(GWEI), maxPriorityFeePerGas: q(GWEI), signature: '0x',
});
const u128x2 = (hi, lo) => ethers.solidityPacked(['uint128', 'uint128'], [BigInt(hi), BigInt(lo)]);
const packed = (o, res) => ({
  sender: o.sender, nonce: BigInt(o.nonce), initCode: '0x', callData: o.callData,
  accountGasLimits: u128x2(o.verificationGasLimit, o.callGasLimit), preVerificationGas: BigInt(o.preVerificationGas),
  gasFees: u128x2(o.maxPriorityFeePerGas, o.maxFeePerGas),
  paymasterAndData: ethers.concat([res.paymaster, u128x2(res.paymasterVerificationGasLimit, res.paymasterPostOpGasLimit), res.paymasterData]),
  signature: '0x',
});

async function pmCall(url, method, o) {
  return rpcRaw(url, method, [o, await entryPoint.getAddress(), q(31337), {}]);
}

// The final answer's signature over the contract's getHash (eth_call) recovers to the HSM key.
async function verify(o, res) {
  const [until, after] = ethers.AbiCoder.defaultAbiCoder().decode(['uint48', 'uint48'], ethers.dataSlice(res.paymasterData, 0, 64));
  const h = await paymaster.getHash(packed(o, res), until, after);
  assertEq(ethers.verifyMessage(ethers.getBytes(h), ethers.dataSlice(res.paymasterData, 64)), token.address,
    'the sponsorship signature over getHash (eth_call) recovers to the HSM address (ethers)');
}

// n concurrent pm_getPaymasterData spread over targets; sender of request k: senders[k % len].
async function sponsorMany(n, senders, targets, nonceBase) {
  const ops = Array.from({ length: n }, (_, k) => op(senders[k % senders.length], nonceBase + k));
  const res = await Promise.all(ops.map((o, k) => pmCall(targets[k % targets.length].url, 'pm_getPaymasterData', o)));
  return res.map((r, k) => ({ op: ops[k], ...r }));
}

function expectRefusals(res, rule) {
  for (const r of res.filter((x) => x.error)) {
    assertEq(r.error.code, -32010, `refused by the policy: ${JSON.stringify(r.error)}`);
    assert(r.error.message.includes(`(rule ${rule})`), `names ${rule}: ${r.error.message}`);
  }
}

t('PostgreSQL, token, key server, anvil with EntryPoint + VerifyingPaymaster, three replicas', async () => {
  fs.chmodSync(dir, 0o755); // the server runs as another user when the tests run as root (pg_lib.sh)
  fs.mkdirSync(pgDir);
  db.setup();
  const port = fs.readFileSync(path.join(pgDir, 'port'), 'utf8').trim();
  // The operator's set-up (deploy/postgres/create.sql): the schema migrated by the admin role,
  // the replicas connect as the app role, which can create nothing.
  psql(['-d', 'postgres', '-q', '-v', `db=${DB}`, '-v', 'admin=pm_admin', '-v', 'app=pm_app', '-f', path.join(SOURCE_DIR, 'deploy/postgres/create.sql')]);
  const url = (user) => `postgresql://${user}@/${DB}?host=${pgDir}/sock&port=${port}`;
  stateCfg = { backend: 'postgres', url: url('pm_app'), pool_size: 8, statement_timeout_ms: STMT_MS, migrate: false };
  token = makeToken(dir, { label: 'pmcaps' });
  pki = makePki(dir);
  ks = await startKeyserver({ dir, token, pki });
  anvil = await startAnvil();
  provider = new ethers.JsonRpcProvider(anvil.url, 31337, { staticNetwork: true, cacheTimeout: -1 });
  const deployer = ethers.Wallet.createRandom().connect(provider);
  await fund(anvil.url, deployer.address, 10n ** 22n);
  const deploy = async (name, ...args) => {
    const a = art(name);
    const c = await new ethers.ContractFactory(a.abi, a.bytecode, deployer).deploy(...args);
    await c.waitForDeployment();
    return c;
  };
  entryPoint = await deploy('EntryPoint');
  paymaster = await deploy('VerifyingPaymaster', await entryPoint.getAddress(), token.address);
  accountCfg = keylessAccount({ urls: [ks.url], pki, timeoutMs: 10000, retries: 0 });
  pmCfg = {
    account: token.address, address: await paymaster.getAddress(), entry_points: [await entryPoint.getAddress()],
    chain_ids: [31337], verification_gas_limit: 100000, post_op_gas_limit: 0, allowed_senders: '*',
    daily_cap_wei_per_sender: SENDER_CAP.toString(), daily_cap_wei_global: GLOBAL_CAP.toString(),
  };
  const cfgFile = (state) => {
    const f = path.join(dir, `cfg-${Math.random().toString(16).slice(2)}.json`);
    fs.writeFileSync(f, JSON.stringify({ accounts: [accountCfg], paymaster: pmCfg, state }));
    return f;
  };
  const migrate = (state) => spawnSync(CONNECTOR, ['--config', cfgFile(state), '--migrate'], { encoding: 'utf8', timeout: 30000 });
  let m = migrate({ ...stateCfg, migrate: true });
  assertEq(m.status, 2, `the app role cannot create the schema: ${m.stdout}${m.stderr}`);
  m = migrate({ ...stateCfg, url: url('pm_admin') });
  assertEq(m.status, 0, `--migrate as the admin role: ${m.stdout}${m.stderr}`);
  assertEq(sql("SELECT has_schema_privilege('pm_app', 'anode', 'CREATE')"), 'f', 'the app role creates nothing');
  reps = await Promise.all([0, 1, 2].map((i) => replica(i)));
  // A bad cap is refused at start-up, naming the member.
  const f = path.join(dir, 'bad.json');
  fs.writeFileSync(f, JSON.stringify({ accounts: [accountCfg], paymaster: { ...pmCfg, daily_cap_wei_global: '-1' } }));
  const r = spawnSync(CONNECTOR, ['--config', f, '--check-config'], { encoding: 'utf8' });
  assertEq(r.status, 2, 'a negative global cap is refused');
  assert(/daily_cap_wei_global/.test(r.stdout + r.stderr), `names the member: ${r.stdout}${r.stderr}`);
});

const A = ethers.Wallet.createRandom().address;

t('per sender: 64 concurrent pm_getPaymasterData over three replicas, cap worth 10 -> exactly 10 signed', async () => {
  const res = await sponsorMany(64, [A], reps, 0);
  const ok = res.filter((r) => r.result);
  assertEq(ok.length, 10, 'exactly ten sponsored');
  expectRefusals(res, 'daily_cap_wei_per_sender');
  for (const r of ok) await verify(r.op, r.result);
  assertEq(spentOf(A), SENDER_CAP, 'the store counted the cap exactly, not one wei more');
  assertEq(spentOf(null), SENDER_CAP, 'the global row counts them too');
  // The stub stage refuses early: nothing left for A; another sender is fine.
  const stub = await pmCall(reps[1].url, 'pm_getPaymasterStubData', op(A, 1000));
  assert(stub.error && stub.error.message.includes('(rule daily_cap_wei_per_sender)'), `stub refused: ${JSON.stringify(stub)}`);
  const other = await pmCall(reps[2].url, 'pm_getPaymasterStubData', op(ethers.Wallet.createRandom().address, 0));
  assert(other.result && other.result.isFinal === false, `another sender's stub: ${JSON.stringify(other)}`);
});

t('the key server down after the reservation: -32000, the reservation given back', async () => {
  const X = ethers.Wallet.createRandom().address;
  const before = spentOf(null);
  await ks.stop();
  const r = await pmCall(reps[0].url, 'pm_getPaymasterData', op(X, 0));
  assert(r.error && r.error.code === -32000, `a signer failure: ${JSON.stringify(r)}`);
  assertEq(spentOf(X), 0n, "the sender's reservation released");
  assertEq(spentOf(null), before, 'the global total unchanged');
  ks = await startKeyserver({ dir, token, pki, port: ks.port });
  await waitFor(async () => (await pmCall(reps[0].url, 'pm_getPaymasterData', op(X, 1))).result !== undefined,
    { what: 'signing again', timeoutMs: 20000 });
  assertEq(spentOf(X), COST, 'one operation counted');
});

t('database stopped: -32603 "state store unavailable" (REST 503), nothing signed; back by itself', async () => {
  const Y = ethers.Wallet.createRandom().address;
  const signed0 = countSignedAudit(ks.auditFile);
  db.stop();
  const t0 = Date.now();
  const res = await sponsorMany(6, [Y], reps, 0);
  for (const r of res) {
    assert(r.error, `refused: ${JSON.stringify(r)}`);
    assertEq(r.error.code, -32603, 'code');
    assertEq(r.error.message, 'state store unavailable', 'stable message');
  }
  assert(Date.now() - t0 < 2 * STMT_MS + 5000, `answered within the statement timeout: ${Date.now() - t0} ms`);
  const stub = await pmCall(reps[1].url, 'pm_getPaymasterStubData', op(Y, 0));
  assertEq(stub.error && stub.error.message, 'state store unavailable', 'the stub stage too');
  const rest = await post(`${reps[2].url}/api/v1/paymaster/sponsor`,
    { userOperation: op(Y, 0), entryPoint: await entryPoint.getAddress(), chainId: q(31337) });
  assertEq(rest.status, 503, `REST: 503 (${rest.text})`);
  assertEq(countSignedAudit(ks.auditFile), signed0, 'the key server signed nothing meanwhile');
  db.start();
  let ok = null;
  await waitFor(async () => (ok = await pmCall(reps[2].url, 'pm_getPaymasterData', op(Y, 100))).result !== undefined,
    { what: 'sponsoring again without a restart', timeoutMs: 30000 });
  await verify(op(Y, 100), ok.result);
  assertEq(spentOf(Y), COST, 'counted once');
});

t('global cap: 64 concurrent over 8 other senders -> exactly what is left of it', async () => {
  const used = spentOf(null);
  const left = Number((GLOBAL_CAP - used) / COST);
  assert(left > 0 && left < 64, `some of the global cap left (${left})`);
  const senders = Array.from({ length: 8 }, () => ethers.Wallet.createRandom().address);
  const res = await sponsorMany(64, senders, reps, 0);
  const ok = res.filter((r) => r.result);
  assertEq(ok.length, left, `exactly ${left} sponsored`);
  expectRefusals(res, 'daily_cap_wei_global');
  for (const r of ok) await verify(r.op, r.result);
  assertEq(spentOf(null), GLOBAL_CAP, 'the global total is the cap exactly');
  const stub = await pmCall(reps[0].url, 'pm_getPaymasterStubData', op(ethers.Wallet.createRandom().address, 0));
  assert(stub.error && stub.error.message.includes('(rule daily_cap_wei_global)'), `stub refused: ${JSON.stringify(stub)}`);
  await Promise.all(reps.map((c) => c.stop()));
});

t('memory backend, one connector: 64 concurrent for one sender -> 10, then the global cap -> 15', async () => {
  const c = await replica(5, { backend: 'memory' });
  let res = await sponsorMany(64, [A], [c], 0);
  assertEq(res.filter((r) => r.result).length, 10, 'ten sponsored');
  expectRefusals(res, 'daily_cap_wei_per_sender');
  const senders = Array.from({ length: 8 }, () => ethers.Wallet.createRandom().address);
  res = await sponsorMany(64, senders, [c], 0);
  const ok = res.filter((r) => r.result);
  assertEq(ok.length, 15, 'the global cap: 15 more');
  expectRefusals(res, 'daily_cap_wei_global');
  for (const r of ok.slice(0, 3)) await verify(r.op, r.result);
  await c.stop();
});

run();
