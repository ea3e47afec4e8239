// connector_local.mjs - anode-connector end to end with the `local` signer against a real anvil
// started with --accounts 0 (so only the connector can sign), judged by ethers v6, viem and cast.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CAST, assert, assertEq, fund, localAccount, makeRunner, post, rpc, rpcRaw, sleep, startAnvil,
  startConnector, tmpDir, toolsRequire, waitFor,
} from '../lib/stack.mjs';

const run = promisify(execFile);
const { ethers } = toolsRequire('ethers');
const viem = toolsRequire('viem');
const { foundry } = toolsRequire('viem/chains');

const dir = tmpDir('ak-cn-e2e-');
const { t, run: runAll } = makeRunner('connector_local');
let anvil, conn, acct, acct2, provider;
const TO = '0x00000000000000000000000000000000000000A1';

// EIP-712 example from the EIP itself (Mail / Person), with the chain id of anvil.
const typed = {
  domain: { name: 'Ether Mail', version: '1', chainId: 31337, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
  types: {
    Person: [{ name: 'name', type: 'string' }, { name: 'wallet', type: 'address' }],
    Mail: [{ name: 'from', type: 'Person' }, { name: 'to', type: 'Person' }, { name: 'contents', type: 'string' }],
  },
  message: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
    contents: 'Hello, Bob!',
  },
};

async function receipt(hash) {
  let r = null;
  await waitFor(async () => (r = await provider.getTransactionReceipt(hash)) !== null, { what: `receipt ${hash}` });
  return r;
}

t('start anvil --accounts 0 and the connector', async () => {
  anvil = await startAnvil();
  acct = localAccount(dir);
  acct2 = localAccount(dir);
  await fund(anvil.url, acct.address);
  await fund(anvil.url, acct2.address);
  conn = await startConnector({ config: { accounts: [acct.config, acct2.config], http: { ready_refresh_ms: 200 } }, downstreamUrl: anvil.url, args: ['--downstream-timeout-ms', '2000'] });
  assert(/NOT an HSM/.test(conn.log()), 'local signer start-up warning');
  provider = new ethers.JsonRpcProvider(conn.url, 31337, { staticNetwork: true, cacheTimeout: -1, polling: true, pollingInterval: 50 });
  const anvilAccounts = await rpc(anvil.url, 'eth_accounts');
  assertEq(anvilAccounts, [], 'anvil has no accounts of its own');
});

t('eth_accounts / eth_requestAccounts list our addresses (EIP-55)', async () => {
  assertEq(await rpc(conn.url, 'eth_accounts'), [acct.address, acct2.address], 'eth_accounts');
  assertEq(await rpc(conn.url, 'eth_requestAccounts'), [acct.address, acct2.address], 'eth_requestAccounts');
});

t('ethers: signMessage -> verifyMessage', async () => {
  const signer = await provider.getSigner(acct.address);
  for (const msg of ['hello', '', 'x'.repeat(1000), ethers.getBytes('0x00ff10')]) {
    const sig = await signer.signMessage(msg);
    assertEq(ethers.verifyMessage(msg, sig), acct.address, 'recovered address');
  }
});

t('eth_sign [address, data] recovers to the address', async () => {
  const sig = await rpc(conn.url, 'eth_sign', [acct.address, '0xdeadbeef']);
  assertEq(ethers.verifyMessage(ethers.getBytes('0xdeadbeef'), sig), acct.address, 'eth_sign');
});

t('ethers: signTypedData -> verifyTypedData', async () => {
  const signer = await provider.getSigner(acct.address);
  const sig = await signer.signTypedData(typed.domain, typed.types, typed.message);
  assertEq(ethers.verifyTypedData(typed.domain, typed.types, typed.message, sig), acct.address, 'typed');
});

t('eth_signTypedData_v4 with an object (cast style) and eth_signTypedData', async () => {
  const full = { ...typed, primaryType: 'Mail', types: { ...typed.types, EIP712Domain: [
    { name: 'name', type: 'string' }, { name: 'version', type: 'string' }, { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' }] } };
  const s1 = await rpc(conn.url, 'eth_signTypedData_v4', [acct.address, full]);
  const s2 = await rpc(conn.url, 'eth_signTypedData', [acct.address, JSON.stringify(full)]);
  assertEq(ethers.verifyTypedData(typed.domain, typed.types, typed.message, s1), acct.address, 'object form');
  assertEq(s1, s2, 'string and object forms give the same signature');
  const other = { ...full, domain: { ...full.domain, chainId: 1 } };
  const r = await rpcRaw(conn.url, 'eth_signTypedData_v4', [acct.address, other]);
  assert(r.error && /chainId/.test(r.error.message), `domain of another chain refused: ${JSON.stringify(r)}`);
});

t('ethers: sendTransaction -> receipt status 1, balances moved', async () => {
  const signer = await provider.getSigner(acct.address);
  const before = await provider.getBalance(TO);
  const tx = await signer.sendTransaction({ to: TO, value: 12345n });
  const r = await receipt(tx.hash);
  assertEq(r.status, 1, 'status');
  assertEq(r.from, acct.address, 'from');
  assertEq(await provider.getBalance(TO) - before, 12345n, 'balance moved');
});

t('ethers: signTransaction -> Transaction.from(raw).from', async () => {
  const signer = await provider.getSigner(acct.address);
  const raw = await signer.signTransaction({ to: TO, value: 1n });
  const tx = ethers.Transaction.from(raw);
  assertEq(tx.from, acct.address, 'from');
  assertEq(tx.chainId, 31337n, 'chainId');
});

t('all three transaction types (explicit and inferred) are mined', async () => {
  const signer = await provider.getSigner(acct.address);
  const gp = (await provider.getFeeData()).gasPrice;
  const cases = [
    [{ type: 0, to: TO, value: 1n }, 0],
    [{ type: 1, to: TO, value: 1n, accessList: [{ address: TO, storageKeys: [ethers.ZeroHash] }] }, 1],
    [{ type: 2, to: TO, value: 1n }, 2],
  ];
  for (const [req, type] of cases) {
    const tx = await signer.sendTransaction(req);
    const r = await receipt(tx.hash);
    assertEq(r.status, 1, `type ${type} status`);
    assertEq((await provider.getTransaction(tx.hash)).type, type, `type ${type}`);
  }
  // Inferred from the fee fields (raw JSON-RPC, as web3.py/cast send them).
  const inferred = [
    [{ from: acct.address, to: TO, value: '0x1', gasPrice: ethers.toQuantity(gp) }, 0],
    [{ from: acct.address, to: TO, value: '0x1', gasPrice: ethers.toQuantity(gp), accessList: [] }, 1],
    [{ from: acct.address, to: TO, value: '0x1', maxFeePerGas: ethers.toQuantity(gp * 3n) }, 2],
    [{ from: acct.address, to: TO, value: '0x1', input: '0x', data: '0x', gasLimit: '0x5208' }, 2],
  ];
  for (const [req, type] of inferred) {
    const hash = await rpc(conn.url, 'eth_sendTransaction', [req]);
    const r = await receipt(hash);
    assertEq(r.status, 1, `inferred type ${type} status`);
    assertEq((await provider.getTransaction(hash)).type, type, `inferred type ${type}`);
  }
});

t('viem walletClient: signMessage, signTypedData, sendTransaction', async () => {
  const wallet = viem.createWalletClient({ account: acct2.address, chain: foundry, transport: viem.http(conn.url) });
  const pub = viem.createPublicClient({ chain: foundry, transport: viem.http(anvil.url) });
  const sig = await wallet.signMessage({ message: 'hello viem' });
  assert(await viem.verifyMessage({ address: acct2.address, message: 'hello viem', signature: sig }), 'viem verifyMessage');
  const tsig = await wallet.signTypedData({ domain: typed.domain, types: typed.types, primaryType: 'Mail', message: typed.message });
  assert(await viem.verifyTypedData({ address: acct2.address, domain: typed.domain, types: typed.types, primaryType: 'Mail', message: typed.message, signature: tsig }), 'viem verifyTypedData');
  const hash = await wallet.sendTransaction({ to: TO, value: 777n });
  const r = await pub.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  assertEq(r.status, 'success', 'viem receipt');
});

t('cast send --unlocked and cast mktx --ethsign (legacy and 1559)', async () => {
  const base = ['--rpc-url', conn.url, '--from', acct2.address];
  const { stdout } = await run(CAST, ['send', '--unlocked', ...base, '--json', TO, '--value', '5'], { timeout: 30000 });
  assertEq(JSON.parse(stdout).status, '0x1', 'cast send status');
  const { stdout: s2 } = await run(CAST, ['send', '--unlocked', '--legacy', ...base, '--json', TO, '--value', '6'], { timeout: 30000 });
  assertEq(JSON.parse(s2).status, '0x1', 'cast send --legacy status');
  for (const extra of [[], ['--legacy']]) {
    const { stdout: raw } = await run(CAST, ['mktx', '--ethsign', ...extra, ...base, TO, '--value', '7'], { timeout: 30000 });
    const tx = ethers.Transaction.from(raw.trim());
    assertEq(tx.from, acct2.address, `cast mktx --ethsign ${extra} from`);
    assertEq(tx.type, extra.length ? 0 : 2, 'cast mktx type');
  }
});

t('50 concurrent sends -> 50 distinct nonces, all mined', async () => {
  const start = await provider.getTransactionCount(acct.address, 'pending');
  const hashes = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    rpc(conn.url, 'eth_sendTransaction', [{ from: acct.address, to: TO, value: ethers.toQuantity(i + 1) }])));
  const nonces = new Set();
  for (const h of hashes) {
    const r = await receipt(h);
    assertEq(r.status, 1, 'mined');
    nonces.add((await provider.getTransaction(h)).nonce);
  }
  assertEq(nonces.size, 50, 'distinct nonces');
  assertEq(Math.min(...nonces), start, 'first nonce');
  assertEq(Math.max(...nonces), start + 49, 'consecutive');
});

t('nonce retry: a nonce taken behind our back is retried with a fresh one', async () => {
  // Sign with an explicit nonce (not sent), submit it directly to anvil, then ask the connector
  // to send: its cached next nonce is stale only if it raced; the node count is authoritative.
  const n = await provider.getTransactionCount(acct.address, 'pending');
  const raw = await rpc(conn.url, 'eth_signTransaction', [{ from: acct.address, to: TO, value: '0x1', nonce: ethers.toQuantity(n) }]);
  await rpc(anvil.url, 'eth_sendRawTransaction', [raw]);
  const h = await rpc(conn.url, 'eth_sendTransaction', [{ from: acct.address, to: TO, value: '0x2' }]);
  assertEq((await receipt(h)).status, 1, 'mined');
  assertEq((await provider.getTransaction(h)).nonce, n + 1, 'next nonce');
});

t('refusals: unknown from, wrong chainId, unprotected legacy, bad params', async () => {
  const stranger = ethers.Wallet.createRandom().address;
  let r = await rpcRaw(conn.url, 'eth_sendTransaction', [{ from: stranger, to: TO, value: '0x1' }]);
  assertEq(r.error.code, -32000, 'unknown from');
  assert(r.error.message.includes(stranger), 'message names the address');
  r = await rpcRaw(conn.url, 'personal_sign', ['0x00', stranger]);
  assertEq(r.error.code, -32000, 'unknown address personal_sign');
  r = await rpcRaw(conn.url, 'eth_signTransaction', [{ from: acct.address, to: TO, value: '0x1', chainId: '0x1' }]);
  assertEq(r.error.code, -32602, 'wrong chain');
  r = await rpcRaw(conn.url, 'eth_signTransaction', [{ from: acct.address, to: TO, value: '0x1', chainId: '0x0', gasPrice: '0x1' }]);
  assertEq(r.error.code, -32602, 'unprotected refused');
  r = await rpcRaw(conn.url, 'eth_signTransaction', [{ from: acct.address, to: TO, data: '0x01', input: '0x02' }]);
  assertEq(r.error.code, -32602, 'data/input disagree');
  r = await rpcRaw(conn.url, 'eth_sign', [acct.address, 'not hex']);
  assertEq(r.error.code, -32602, 'eth_sign non-hex');
});

t('forwarding parity with anvil: blockNumber, getBalance, unknown method, node error', async () => {
  const reqs = [
    { jsonrpc: '2.0', id: 7, method: 'eth_blockNumber', params: [] },
    { jsonrpc: '2.0', id: 'abc', method: 'eth_getBalance', params: [TO, 'latest'] },
    { jsonrpc: '2.0', id: null, method: 'no_such_method', params: [] },
    { jsonrpc: '2.0', id: 9, method: 'eth_getBalance', params: ['0x1234', 'latest'] },
    { jsonrpc: '2.0', id: 10, method: 'eth_call', params: [{ to: TO, data: '0x' }, 'nope'] },
  ];
  for (const q of reqs) {
    const a = await post(anvil.url, q);
    const c = await post(conn.url, q);
    assertEq(c.text, a.text, `forwarded ${q.method}`);
  }
  // A batch of forwarded calls (ids of each type anvil accepts) gives exactly anvil's answer.
  const batch = '[{"jsonrpc":"2.0","id":42,"method":"eth_chainId"},' +
    '{"jsonrpc":"2.0","id":"s","method":"eth_getBalance","params":["' + TO + '","latest"]},' +
    '{"jsonrpc":"2.0","id":null,"method":"no_such_method"},{"jsonrpc":"2.0","id":0,"method":"eth_blockNumber"}]';
  const a = await post(anvil.url, batch);
  const c = await post(conn.url, batch);
  assertEq(c.text.trim(), a.text.trim(), 'forwarded batch');
});

t('batch through the stack: order, ids, notifications, mixed local/forwarded', async () => {
  const body = [
    { jsonrpc: '2.0', id: 'a', method: 'eth_chainId' },
    { jsonrpc: '2.0', method: 'eth_blockNumber' },
    { jsonrpc: '2.0', id: 2, method: 'eth_accounts' },
    { jsonrpc: '2.0', id: null, method: 'personal_sign', params: ['0x6869', acct.address] },
    { foo: 1 },
  ];
  const r = JSON.parse((await post(conn.url, body)).text);
  assertEq(r.length, 4, 'notification has no answer');
  assertEq(r.map((x) => x.id), ['a', 2, null, null], 'ids in order');
  assertEq(r[0].result, '0x7a69', 'chainId forwarded');
  assertEq(ethers.verifyMessage('hi', r[2].result), acct.address, 'batch personal_sign');
  assertEq(r[3].error.code, -32600, 'invalid member');
  // 40 forwarded members (ethers batches reads like this) go to anvil as two batch requests of
  // 20 (not 40 requests), and each answer is anvil's own for that member.
  const dsOk = async () => Number(/anode_connector_downstream_requests_total\{result="ok"\} (\d+)/.exec(await (await fetch(`${conn.url}/metrics`)).text())[1]);
  const reads = [];
  for (let i = 0; i < 20; i++) {
    reads.push({ jsonrpc: '2.0', id: `b${i}`, method: 'eth_getBalance', params: [acct.address, 'latest'] });
    reads.push({ jsonrpc: '2.0', id: 1000 + i, method: 'eth_chainId' });
  }
  const before = await dsOk();
  const big = JSON.parse((await post(conn.url, reads)).text);
  assertEq(await dsOk() - before, 2, 'two downstream requests for 40 forwarded members');
  assertEq(big.map((x) => x.id), reads.map((x) => x.id), 'ids in order');
  const bal = await rpc(anvil.url, 'eth_getBalance', [acct.address, 'latest']);
  assert(big.every((x, i) => x.result === (i % 2 ? '0x7a69' : bal)), `answers: ${JSON.stringify(big.slice(0, 4))}`);
  const onlyNotes = await post(conn.url, [{ jsonrpc: '2.0', method: 'eth_chainId' }]);
  assertEq(onlyNotes.status, 200, 'status');
  assertEq(onlyNotes.text, '', 'empty body');
  assertEq(JSON.parse((await post(conn.url, '[]')).text).error.code, -32600, 'empty batch');
  assertEq(JSON.parse((await post(conn.url, '{')).text).error.code, -32700, 'parse error');
});

t('HTTP surface: /health, /ready, /metrics (promtool), 404, 413', async () => {
  assertEq((await fetch(`${conn.url}/health`)).status, 200, 'health');
  const ready = await fetch(`${conn.url}/ready`);
  assertEq(ready.status, 200, 'ready');
  const metrics = await (await fetch(`${conn.url}/metrics`)).text();
  assert(/anode_connector_rpc_requests_total\{method="eth_sendTransaction"\} [1-9]/.test(metrics), 'counted');
  const fs = await import('node:fs');
  const mpath = `${dir}/metrics.txt`;
  fs.writeFileSync(mpath, metrics);
  const { stdout, stderr } = await run('sh', ['-c', `promtool check metrics < ${mpath}`]).catch((e) => e);
  assertEq(`${stdout}${stderr}`.trim(), '', 'promtool check metrics is clean');
  assertEq((await fetch(`${conn.url}/nope`)).status, 404, '404');
  assertEq((await post(conn.url, 'x'.repeat(2 * 1024 * 1024))).status, 413, 'body limit');
});

t('downstream stopped -> -32002 within the timeout; ready turns 503', async () => {
  await anvil.stop();
  for (const m of [['eth_blockNumber', []], ['eth_sendTransaction', [{ from: acct.address, to: TO, value: '0x1' }]]]) {
    const t0 = Date.now();
    const r = await rpcRaw(conn.url, m[0], m[1]);
    const dt = Date.now() - t0;
    assert(r.error && (r.error.code === -32002 || r.error.code === -32001), `${m[0]}: ${JSON.stringify(r)}`);
    assert(dt < 2500, `${m[0]} answered in ${dt} ms (timeout 2000)`);
  }
  // /ready answers from a cache refreshed every ready_refresh_ms (200 ms here)
  await waitFor(async () => (await fetch(`${conn.url}/ready`)).status === 503, { what: 'not ready' });
  // Signing that needs no node still works.
  const sig = await rpc(conn.url, 'personal_sign', ['0x6869', acct.address]);
  assertEq(ethers.verifyMessage('hi', sig), acct.address, 'offline personal_sign');
});

t('SIGTERM stops the connector cleanly (exit 0, no sanitizer report)', async () => {
  const { code, sig } = await conn.stop();
  assert(code === 0 && sig === null, `exit ${code} ${sig}: ${conn.log().slice(-3000)}`);
  assert(!/AddressSanitizer|LeakSanitizer|runtime error/.test(conn.log()), conn.log().slice(-3000));
  assert(/"msg":"stopping"/.test(conn.log()), 'logged the stop');
});

t('bad start-up: --check-config, unknown keys, bad key, chain id mismatch', async () => {
  const { CONNECTOR } = await import('../lib/stack.mjs');
  const fs = await import('node:fs');
  const cfg = `${dir}/check.json`;
  fs.writeFileSync(cfg, JSON.stringify({ accounts: [acct.config] }));
  const ok = await run(CONNECTOR, ['--config', cfg, '--check-config']);
  assert(/configuration OK: 1 account/.test(ok.stdout), ok.stdout);
  const fails = async (config, args = [], env = {}) => {
    fs.writeFileSync(cfg, JSON.stringify(config));
    const r = await run(CONNECTOR, ['--config', cfg, '--check-config', ...args], { env: { ...process.env, ...env } }).then(() => null, (e) => e);
    assert(r && r.code !== 0, `should fail: ${JSON.stringify(config)} ${args}`);
    return r.stderr;
  };
  assert(/unknown field \\?"acounts/.test(await fails({ accounts: [acct.config], acounts: 1 })), 'typo refused');
  const badPolicy = await fails({ accounts: [{ ...acct.config, policy: { allowed_methods: ['eth_call'] } }] });
  assert(/accounts\[0\]: policy\.allowed_methods\[0\]/.test(badPolicy), `bad policy: ${badPolicy}`);
  assert(/unknown signer type/.test(await fails({ accounts: [{ signer: { type: 'nope' } }] })), 'type');
  fs.writeFileSync(`${dir}/bad.hex`, 'zz', { mode: 0o600 });
  assert(/64 hex/.test(await fails({ accounts: [{ signer: { type: 'local', key_file: `${dir}/bad.hex` } }] })), 'bad key');
  assert(/same address/.test(await fails({ accounts: [acct.config, acct.config] })), 'duplicate');
  await fails({ accounts: [acct.config] }, ['--http-port', 'x']);
  await fails({ accounts: [acct.config] }, [], { ANODE_HTTP_PORT: '70000' });
  // key from the environment
  fs.writeFileSync(cfg, JSON.stringify({ accounts: [{ signer: { type: 'local', key_env: 'AK_TEST_KEY' } }] }));
  const envOk = await run(CONNECTOR, ['--config', cfg, '--check-config'], { env: { ...process.env, AK_TEST_KEY: acct.key } });
  assert(/configuration OK/.test(envOk.stdout), 'key_env');
  assert(!envOk.stderr.includes(acct.key.slice(2)), 'key never logged');
  // --chain-id that disagrees with the node refuses to start
  const a2 = await startAnvil();
  const bad = await startConnector({ config: { accounts: [acct.config] }, downstreamUrl: a2.url, args: ['--chain-id', '1'], waitReady: false });
  const { code } = await bad.exited;
  assert(code !== 0 && /does not match/.test(bad.log()), `chain id mismatch: ${bad.log()}`);
  await a2.stop();
});

t('account policy: a method it does not list and a transaction over its cap get -32003', async () => {
  const node = await startAnvil();
  const c = await startConnector({
    config: { accounts: [{ ...acct.config, policy: { allowed_methods: ['personal_sign', 'eth_sendTransaction'], max_value_wei: '1000' } }] },
    downstreamUrl: node.url,
  });
  assertEq(ethers.verifyMessage('hi', await rpc(c.url, 'personal_sign', ['0x6869', acct.address])), acct.address, 'allowed method signs');
  const r1 = await rpcRaw(c.url, 'eth_signTransaction', [{ from: acct.address, to: TO, value: '0x1' }]);
  assertEq(r1.error && r1.error.code, -32003, `method not listed: ${JSON.stringify(r1)}`);
  const r2 = await rpcRaw(c.url, 'eth_sendTransaction', [{ from: acct.address, to: TO, value: '0x3e9' }]);
  assertEq(r2.error && r2.error.code, -32003, `over the cap: ${JSON.stringify(r2)}`);
  assert(/max_value_wei 1000/.test(r2.error.message), r2.error.message);
  await c.stop();
  await node.stop();
});

t('node unreachable at start-up, then up on another chain: /ready says so (503), and recovers', async () => {
  const { ANVIL, freePort, startProcess, waitFor } = await import('../lib/stack.mjs');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const c = await startConnector({ config: { accounts: [acct.config], http: { ready_refresh_ms: 200 } }, downstreamUrl: url, args: ['--chain-id', '5'] });
  assert(/using --chain-id unchecked/.test(c.log()), 'started unchecked');
  const node = (chain) => startProcess(ANVIL, ['--accounts', '0', '--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chain)], { name: 'anvil' });
  let a = node(31337);
  await waitFor(() => rpc(url, 'eth_chainId').then(() => true), { what: 'anvil on 31337' });
  let body = '';
  await waitFor(async () => /chain 31337.*chain 5/.test(body = await (await fetch(`${c.url}/ready`)).text()),
    { what: `/ready naming both chains (${body})` });
  assert(/"not ready"/.test(body), `ready on the wrong chain: ${body}`);
  assert(/another chain/.test(c.log()), 'logged');
  await a.stop();
  a = node(5);
  await waitFor(() => rpc(url, 'eth_chainId').then(() => true), { what: 'anvil on 5' });
  await waitFor(async () => (await fetch(`${c.url}/ready`)).status === 200, { what: 'ready once the node is on chain 5' });
  await a.stop();
  await c.stop();
});

await runAll();
