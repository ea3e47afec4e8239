// connector_reload.mjs - SIGHUP reloads of the connector's configuration sections other than the
// accounts (fullstack_reload.mjs covers those under load with a key server): the paymaster added
// and removed (its JSON-RPC methods and REST call appear and go; its account becomes pm-only and
// back; its daily cap survives a reload that leaves it alone), authentication turned on by a reload, the signing rate limit's buckets carried when the
// section is unchanged and replaced when it changes, an account rebuilt for one changed signer
// carrying its other signer's state, --profile re-applied, and restart-only
// settings refused, naming the setting. Real connector and anvil (--accounts 0), local keys;
// every signature checked with ethers. Processes are stopped by PID on every exit path.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import {
  assert, assertEq, localAccount, makeRunner, post, rpcRaw, startAnvil, startConnector, tmpDir, toolsRequire,
  waitFor,
} from '../lib/stack.mjs';

const { ethers } = toolsRequire('ethers');
const dir = tmpDir('ak-cn-reload-');
const { t, run } = makeRunner('connector_reload');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const EP = '0x0000000071727De22E5E9d8BAf0edAc6f37da032';
const OTHER_EP = '0x5FF137D4b0FDCD49DcA30c7CF57E578a026d2789';
let anvil, conn, pmAcct, user;

const count = (re) => (conn.log().match(re) || []).length;
async function reload(config, expectOk = true) {
  fs.writeFileSync(conn.configPath, JSON.stringify(config, null, 2));
  const ok0 = count(/SIGHUP: configuration reloaded/g), bad0 = count(/configuration not reloaded/g);
  process.kill(conn.pid, 'SIGHUP');
  await waitFor(() => count(/SIGHUP: configuration reloaded/g) > ok0 || count(/configuration not reloaded/g) > bad0,
    { what: 'reload answered', timeoutMs: 20000 });
  assertEq(count(/SIGHUP: configuration reloaded/g) > ok0, expectOk, 'reload took effect');
}

async function ethSign(addr, headers = {}) {
  const msg = ethers.hexlify(ethers.toUtf8Bytes('reload'));
  const r = await post(conn.url, { jsonrpc: '2.0', id: 1, method: 'eth_sign', params: [addr, msg] }, headers);
  if (r.status !== 200) return { status: r.status };
  const j = JSON.parse(r.text);
  if (j.error) return { status: 200, code: j.error.code, message: j.error.message };
  assertEq(ethers.verifyMessage(ethers.getBytes(msg), j.result), addr, 'signature recovers to the account');
  return { status: 200, ok: true };
}

const op = {
  sender: '0x00000000000000000000000000000000000000a1', nonce: '0x0', callData: '0x',
  callGasLimit: '0x186a0', verificationGasLimit: '0x186a0', preVerificationGas: '0xea60',
  maxFeePerGas: '0x77359400', maxPriorityFeePerGas: '0x3b9aca00', signature: '0x',
};
const paymaster = () => ({
  account: pmAcct.address, address: '0x9d3B8df2e7DC8fB1A2b4C6d8E0F1A3B5c7d9e1f3', entry_points: [EP],
  chain_ids: [31337], verification_gas_limit: 100000, post_op_gas_limit: 0, validity_seconds: 600,
  valid_after_skew_seconds: 60, allowed_senders: '*', max_gas_per_op: 3000000,
  daily_cap_wei_per_sender: '1000000000000000', // one operation of `op` (7.2e14 wei) a day
});
const base = () => ({ accounts: [pmAcct.config, user.config] });

t('set up: anvil, two local accounts, connector without paymaster', async () => {
  anvil = await startAnvil();
  pmAcct = localAccount(dir);
  user = localAccount(dir);
  conn = await startConnector({ config: base(), downstreamUrl: anvil.url, dir });
  assert((await ethSign(pmAcct.address)).ok, 'the future paymaster account signs eth_sign');
});

t('the paymaster added by a reload answers, its account becomes pm-only; removed, both undone', async () => {
  const stub = () => rpcRaw(conn.url, 'pm_getPaymasterStubData', [op, OTHER_EP, '0x7a69', {}]);
  const before = await stub();
  assert(before.error && before.error.code !== -32010, `no paymaster yet: the node answers (${JSON.stringify(before)})`);
  await reload({ ...base(), paymaster: paymaster() });
  const refused = await stub();
  assertEq(refused.error && refused.error.code, -32010, 'our paymaster answers');
  assert(refused.error.message.includes('rule entry_points'), `the rule is named: ${refused.error.message}`);
  const rest = await post(`${conn.url}/api/v1/paymaster/sponsor`, { userOperation: op, entryPoint: OTHER_EP });
  assertEq(rest.status, 403, 'the REST call answers');
  assertEq(JSON.parse(rest.text).error.rule, 'entry_points', 'REST refusal rule');
  // The daily cap: one sponsorship, then refused - also after a reload that leaves the paymaster
  // and its account alone (the paymaster is carried), and after one that changes its section:
  // the caps count on the process's state store, which every generation shares.
  const final = () => rpcRaw(conn.url, 'pm_getPaymasterData', [op, EP, '0x7a69', {}]);
  const sponsored = await final();
  assert(sponsored.result && /^0x[0-9a-f]+$/i.test(sponsored.result.paymasterData), `sponsored: ${JSON.stringify(sponsored)}`);
  const overCap = async (what) => {
    const j = await final();
    assertEq(j.error && j.error.code, -32010, what);
    assert(j.error.message.includes('rule daily_cap_wei_per_sender'), `${what}: ${j.error.message}`);
  };
  await overCap('the second operation is over the daily cap');
  await reload({ accounts: [pmAcct.config, { ...user.config, policy: { allowed_methods: ['eth_sign'] } }], paymaster: paymaster() });
  await overCap('still over the cap after an unrelated reload');
  await reload({ ...base(), paymaster: { ...paymaster(), validity_seconds: 601 } });
  await overCap('still over the cap after the paymaster section changed (the store is the same)');
  const generic = await ethSign(pmAcct.address);
  assertEq(generic.code, -32003, 'the paymaster\'s key no longer signs eth_sign (one purpose)');
  assert((await ethSign(user.address)).ok, 'the other account still signs');
  await reload(base());
  assert((await ethSign(pmAcct.address)).ok, 'paymaster removed: its account signs eth_sign again');
  const gone = await stub();
  assert(gone.error && gone.error.code !== -32010, 'paymaster removed: its method is forwarded again');
});

t('authentication turned on by a reload; a bad token file changes nothing', async () => {
  const TOKEN = 'tok_' + 'a1b2c3d4e5f6'.repeat(3);
  fs.writeFileSync(`${dir}/tokens`, `${TOKEN}\n`, { mode: 0o600 });
  await reload({ ...base(), auth: { bearer_tokens_file: `${dir}/tokens` } });
  assertEq((await ethSign(user.address)).status, 401, 'no token: 401');
  assert((await ethSign(user.address, { authorization: `Bearer ${TOKEN}` })).ok, 'the token signs');
  await reload({ ...base(), auth: { bearer_tokens_file: `${dir}/missing` } }, false);
  assert((await ethSign(user.address, { authorization: `Bearer ${TOKEN}` })).ok, 'auth in force unchanged');
  await reload(base());
  assert((await ethSign(user.address)).ok, 'auth off again');
});

t('rate-limit buckets: carried when the section is unchanged, new when it changes', async () => {
  const limited = (perS, burst) => ({ ...base(), signing_rate_limit: { per_second: perS, burst } });
  await reload(limited(0.001, 2));
  assert((await ethSign(user.address)).ok && (await ethSign(user.address)).ok, 'two signatures (burst 2)');
  assertEq((await ethSign(user.address)).code, -32005, 'the third is over the limit');
  const cfg = limited(0.001, 2);
  cfg.accounts[1] = { ...user.config, policy: { allowed_methods: ['eth_sign', 'personal_sign'] } };
  await reload(cfg);
  assertEq((await ethSign(user.address)).code, -32005, 'an unrelated change keeps the empty bucket');
  await reload(limited(0.001, 3));
  assert((await ethSign(user.address)).ok, 'a changed limit starts with full buckets');
  await reload(base());
});

t('an account rebuilt for a changed backup: its unchanged primary keeps its counters', async () => {
  const keyFile = (name) => {
    const f = `${dir}/${name}.hex`;
    fs.writeFileSync(f, `${user.key.replace(/^0x/, '')}\n`, { mode: 0o600 });
    return f;
  };
  const acct = (backupFile) => ({ name: 'm', primary: { type: 'local', key_file: keyFile('p') },
    backups: [{ type: 'local', key_file: backupFile }] });
  const signers = async () => JSON.parse(await (await fetch(`${conn.url}/signers`)).text())
    .accounts.find((a) => a.address === user.address).signers;
  await reload({ accounts: [pmAcct.config, acct(keyFile('b1'))] });
  for (let i = 0; i < 3; i++) assert((await ethSign(user.address)).ok, 'signs');
  assertEq((await signers())[0].signatures, 3, 'primary signatures before');
  const kept = count(/account \(signers unchanged, kept\)/g);
  await reload({ accounts: [pmAcct.config, acct(keyFile('b2'))] });
  assertEq(count(/account \(signers unchanged, kept\)/g), kept + 1, 'only the unchanged account kept whole');
  assertEq((await signers())[0].signatures, 3, 'the rebuilt account\'s primary carried its count');
  assert((await ethSign(user.address)).ok, 'signs after');
  const after = await signers();
  assertEq([after[0].signatures, after[1].signatures], [4, 0], 'primary counts on, the new backup from 0');
  await reload(base());
});

t('restart-only settings are refused, naming them; the flags and --profile stay', async () => {
  await reload({ ...base(), state: { backend: 'memory' } }, false);
  assert(/not reloaded[^\n]*\\?"state\\?" changed: only a restart applies it/.test(conn.log()), 'state named');
  await reload({ ...base(), nonce_retries: 5 }, false);
  assert(/\\?"nonce_retries\\?" changed/.test(conn.log()), 'nonce_retries named');
  await reload({ ...base(), downstream: { max_response_bytes: 1 << 20 } }, false);
  assert(/\\?"downstream\\?" changed/.test(conn.log()), 'downstream named');
  assert((await ethSign(user.address)).ok, 'the configuration in force still signs');
  const m = await (await fetch(`${conn.url}/metrics`)).text();
  assert(/anode_connector_config_reload_total\{result="error"\} 4\n/.test(m), 'four refused reloads counted');
  assert(/anode_connector_config_generation 14\n/.test(m), 'generation: 1 + 13 reloads');
  // Signers rebuilt by reloads keep their series: no duplicate, the exposition stays valid.
  const lint = execFileSync('sh', ['-c', 'promtool check metrics 2>&1; true'], { input: m, encoding: 'utf8' });
  assertEq(lint.trim(), '', 'promtool check metrics after the reloads');
  const series = m.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.slice(0, l.lastIndexOf(' ')));
  assertEq(series.filter((x, i) => series.indexOf(x) !== i), [], 'no series twice (promtool does not check it)');
  assert(series.some((x) => x.startsWith('anode_connector_signer_signatures_total{') && x.includes('role="backup1"')),
    'the rebuilt account\'s signers are exposed');
  assertEq((await conn.stop()).code, 0, 'clean exit after 13 reloads (every generation freed)');

  // --profile: the same profile is selected again by every reload.
  const other = localAccount(dir);
  conn = await startConnector({
    config: { profiles: { a: { accounts: [user.config] }, b: { accounts: [other.config] } } },
    downstreamUrl: anvil.url, dir, args: ['--profile', 'b'],
  });
  assert((await ethSign(other.address)).ok, 'profile b signs');
  await reload({ profiles: { a: { accounts: [user.config] }, b: { accounts: [other.config, pmAcct.config] } } });
  assert((await ethSign(pmAcct.address)).ok, 'the account added to profile b signs');
  assertEq((await ethSign(user.address)).code, -32000, 'profile a is still not in force');
  assertEq((await conn.stop()).code, 0, 'clean exit');
});

await run();
