// fullstack_keyless.mjs - the whole product end to end with real parts only: a SoftHSM2 token with
// a secp256k1 key, anode-keyserver over mutual TLS, anode-connector with the `keyless` signer and
// anvil started with --accounts 0 (so only the HSM key can sign), judged by independent clients:
// ethers v6, viem and cast (tests/tools). The HSM address is computed from the token by pkcs11-tool
// + node crypto + ethers (fullstack.mjs), never taken from our daemons.
//
// Covers: signMessage/signTypedData/sendTransaction/signTransaction (ethers), viem's walletClient,
// cast send --unlocked and cast mktx --ethsign; the three transaction types; 50 concurrent sends;
// AK_E2E_SIGNATURES (default 10,000) HSM signatures through JSON-RPC batches, each checked to
// recover to the address and each digest found in the key server's audit log; the key server
// stopped (-32000 promptly, forwarding unaffected) and restarted (signing resumes); clean SIGTERM.
// Every process is started through stack.mjs and stopped by PID on every exit path.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import { promisify } from 'node:util';
import {
  CAST, assert, assertEq, fund, makeRunner, rpc, rpcRaw, post, startAnvil, startConnector, tmpDir,
  toolsRequire, waitFor,
} from '../lib/stack.mjs';
import {
  SECP256K1_N, countSignedAudit, derToRS, keylessAccount, makePki, makeToken, mtlsRequest,
  startKeyserver,
} from '../lib/fullstack.mjs';

const run = promisify(execFile);
const { ethers } = toolsRequire('ethers');
const viem = toolsRequire('viem');
const { foundry } = toolsRequire('viem/chains');
const { secp256k1 } = toolsRequire('@noble/curves/secp256k1');

const N_SIGS = Number(process.env.AK_E2E_SIGNATURES || 10000);
const BATCH = 100; // JSON-RPC batch size for the bulk signatures
const IN_FLIGHT = 8; // batches in flight at once
const TO = ethers.getAddress('0x00000000000000000000000000000000000000b2');
const dir = tmpDir('ak-fullstack-');
const { t, run: runAll } = makeRunner('fullstack_keyless');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
let token, pki, ks, anvil, conn, provider, addr;

const typed = { // the EIP-712 example (Mail / Person) with anvil's chain id
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

// Fast independent check that a 65-byte r||s||v Ethereum signature of digest z recovers to the
// public key Q (@noble/curves, the arithmetic ethers itself uses): s low (EIP-2), v in {27, 28},
// and R = s^-1 (z G + r Q) has x == r and y parity == v - 27 — exactly when recovery with v gives
// Q. About 3x faster than a full ethers.verifyMessage; validated against it below.
const P = secp256k1.ProjectivePoint;
const N = SECP256K1_N;
const mod = (a) => ((a % N) + N) % N;
function inv(a) {
  let [x, y, u, v] = [mod(a), N, 1n, 0n];
  while (x) { const q = y / x; [x, y, u, v] = [y % x, x, v - q * u, u]; }
  return mod(v);
}
let Q;
function recoversTo(digestHex, sigHex) {
  const b = ethers.getBytes(sigHex);
  if (b.length !== 65) return false;
  const r = BigInt(ethers.hexlify(b.subarray(0, 32))), s = BigInt(ethers.hexlify(b.subarray(32, 64))), v = b[64];
  if (r <= 0n || r >= N || s <= 0n || s > N / 2n || (v !== 27 && v !== 28)) return false;
  const si = inv(s);
  const R = P.BASE.multiply(mod(BigInt(digestHex) * si)).add(Q.multiply(mod(r * si))).toAffine();
  return R.x === r && Number(R.y & 1n) === v - 27;
}

t('token, PKI, anode-keyserver (mTLS), anvil --accounts 0, anode-connector (keyless)', async () => {
  token = makeToken(dir, { label: 'fullstack' });
  addr = token.address;
  Q = P.fromHex(token.publicKey.slice(2));
  Q._setWindowSize(8);
  pki = makePki(dir);
  ks = await startKeyserver({ dir, token, pki });
  anvil = await startAnvil();
  assertEq(await rpc(anvil.url, 'eth_accounts'), [], 'anvil has no accounts of its own');
  await fund(anvil.url, addr);
  conn = await startConnector({
    config: { accounts: [keylessAccount({ urls: [ks.url], pki })], http: { ready_refresh_ms: 200 } }, downstreamUrl: anvil.url,
    args: ['--downstream-timeout-ms', '3000'], dir,
  });
  provider = new ethers.JsonRpcProvider(conn.url, 31337, { staticNetwork: true, cacheTimeout: -1, polling: true, pollingInterval: 50 });
  assertEq(await rpc(conn.url, 'eth_accounts'), [addr], 'eth_accounts is the HSM address (EIP-55)');
});

t('the recovery check agrees with ethers.verifyMessage and rejects tampering', async () => {
  const sig = await rpc(conn.url, 'personal_sign', [ethers.hexlify(ethers.toUtf8Bytes('judge')), addr]);
  assertEq(ethers.verifyMessage('judge', sig), addr, 'ethers');
  assert(recoversTo(ethers.hashMessage('judge'), sig), 'fast check accepts');
  const b = ethers.getBytes(sig);
  const otherV = b[64] === 27 ? 28 : 27;
  const flipV = ethers.hexlify(Uint8Array.from([...b.subarray(0, 64), otherV]));
  assert(!recoversTo(ethers.hashMessage('judge'), flipV), 'wrong v rejected');
  const highS = ethers.hexlify(Uint8Array.from([...b.subarray(0, 32), ...ethers.getBytes(ethers.toBeHex(N - BigInt(ethers.hexlify(b.subarray(32, 64))), 32)), otherV]));
  const twin = new secp256k1.Signature(BigInt(ethers.hexlify(b.subarray(0, 32))), N - BigInt(ethers.hexlify(b.subarray(32, 64)))).addRecoveryBit(otherV - 27);
  assert(twin.recoverPublicKey(ethers.getBytes(ethers.hashMessage('judge'))).equals(Q), 'the high-s twin recovers to the same key');
  assert(!recoversTo(ethers.hashMessage('judge'), highS), 'high-s twin rejected (EIP-2)');
  assert(!recoversTo(ethers.hashMessage('judgE'), sig), 'other message rejected');
});

t('ethers: signMessage -> verifyMessage', async () => {
  const signer = await provider.getSigner(addr);
  for (const msg of ['hello HSM', '', 'x'.repeat(2000), ethers.getBytes('0x00ff10')]) {
    const sig = await signer.signMessage(msg);
    assertEq(ethers.verifyMessage(msg, sig), addr, 'recovered address');
  }
});

t('ethers: signTypedData -> verifyTypedData; domain of another chain refused', async () => {
  const signer = await provider.getSigner(addr);
  const sig = await signer.signTypedData(typed.domain, typed.types, typed.message);
  assertEq(ethers.verifyTypedData(typed.domain, typed.types, typed.message, sig), addr, 'typed data');
  const r = await rpcRaw(conn.url, 'eth_signTypedData_v4', [addr, JSON.stringify({
    types: { EIP712Domain: [{ name: 'chainId', type: 'uint256' }], ...typed.types }, primaryType: 'Mail',
    domain: { chainId: 1 }, message: typed.message })]);
  assert(r.error, `chain 1 typed data refused: ${JSON.stringify(r)}`);
});

t('ethers: sendTransaction -> receipt status 1, balances moved', async () => {
  const signer = await provider.getSigner(addr);
  const [b0, t0] = [await provider.getBalance(addr), await provider.getBalance(TO)];
  const tx = await signer.sendTransaction({ to: TO, value: 123456789n });
  const r = await receipt(tx.hash);
  assertEq(r.status, 1, 'status');
  assertEq(r.from, addr, 'from');
  assertEq(await provider.getBalance(TO) - t0, 123456789n, 'receiver credited');
  assertEq(b0 - await provider.getBalance(addr), 123456789n + r.gasUsed * r.gasPrice, 'sender debited value + fee');
});

t('ethers: signTransaction -> Transaction.from(raw).from, all three types', async () => {
  const signer = await provider.getSigner(addr);
  const gp = (await provider.getFeeData()).gasPrice;
  const reqs = [
    { type: 0, to: TO, value: 1n, gasPrice: gp },
    { type: 1, to: TO, value: 1n, gasPrice: gp, accessList: [{ address: TO, storageKeys: [ethers.ZeroHash] }] },
    { type: 2, to: TO, value: 1n },
  ];
  for (const req of reqs) {
    const tx = ethers.Transaction.from(await signer.signTransaction(req));
    assertEq(tx.from, addr, `type ${req.type} from`);
    assertEq(tx.type, req.type, 'type');
    assertEq(tx.chainId, 31337n, 'chainId');
    assert(tx.signature.s <= ethers.toBeHex(N / 2n, 32), 'low s');
  }
});

t('ethers: sendTransaction of type 0 (gasPrice), 1 (accessList), 2 -> mined', async () => {
  const signer = await provider.getSigner(addr);
  const gp = (await provider.getFeeData()).gasPrice;
  const reqs = [
    { type: 0, to: TO, value: 10n, gasPrice: gp },
    { type: 1, to: TO, value: 11n, gasPrice: gp, accessList: [{ address: TO, storageKeys: [ethers.ZeroHash] }] },
    { type: 2, to: TO, value: 12n },
  ];
  for (const req of reqs) {
    const tx = await signer.sendTransaction(req);
    const r = await receipt(tx.hash);
    assertEq(r.status, 1, `type ${req.type} status`);
    const got = await provider.getTransaction(tx.hash);
    assertEq(got.type, req.type, 'mined type');
    assertEq(got.from, addr, 'from');
    if (req.type === 1) assertEq(got.accessList.length, 1, 'access list kept');
  }
});

t('viem walletClient over http: signMessage, signTypedData, sendTransaction', async () => {
  const wallet = viem.createWalletClient({ account: addr, chain: foundry, transport: viem.http(conn.url) });
  const pub = viem.createPublicClient({ chain: foundry, transport: viem.http(anvil.url) });
  const sig = await wallet.signMessage({ message: 'hello viem' });
  assert(await viem.verifyMessage({ address: addr, message: 'hello viem', signature: sig }), 'viem verifyMessage');
  const tsig = await wallet.signTypedData({ domain: typed.domain, types: typed.types, primaryType: 'Mail', message: typed.message });
  assert(await viem.verifyTypedData({ address: addr, domain: typed.domain, types: typed.types, primaryType: 'Mail', message: typed.message, signature: tsig }), 'viem verifyTypedData');
  const before = await pub.getBalance({ address: TO });
  const hash = await wallet.sendTransaction({ to: TO, value: 777n });
  const r = await pub.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  assertEq(r.status, 'success', 'viem receipt');
  assertEq(await pub.getBalance({ address: TO }) - before, 777n, 'balance moved');
});

t('cast: send --unlocked (1559, --legacy), mktx --ethsign (eth_signTransaction)', async () => {
  const base = ['--rpc-url', conn.url, '--from', addr];
  for (const extra of [[], ['--legacy']]) {
    const { stdout } = await run(CAST, ['send', '--unlocked', ...extra, ...base, '--json', TO, '--value', '5'], { timeout: 30000 });
    const r = JSON.parse(stdout);
    assertEq(r.status, '0x1', `cast send ${extra} status`);
    assertEq(ethers.getAddress(r.from), addr, 'cast send from');
    const tx = await provider.getTransaction(r.transactionHash);
    assertEq(tx.type, extra.length ? 0 : 2, 'cast send type');
    const { stdout: raw } = await run(CAST, ['mktx', '--ethsign', ...extra, ...base, TO, '--value', '7'], { timeout: 30000 });
    const signed = ethers.Transaction.from(raw.trim());
    assertEq(signed.from, addr, `cast mktx --ethsign ${extra} from`);
    assertEq(signed.type, extra.length ? 0 : 2, 'cast mktx type');
  }
});

t('50 concurrent eth_sendTransaction -> 50 distinct consecutive nonces, all mined', async () => {
  const start = await provider.getTransactionCount(addr, 'pending');
  const hashes = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    rpc(conn.url, 'eth_sendTransaction', [{ from: addr, to: TO, value: ethers.toQuantity(i + 1) }])));
  assertEq(new Set(hashes).size, 50, 'distinct hashes');
  const nonces = new Set();
  for (const h of hashes) {
    assertEq((await receipt(h)).status, 1, 'mined');
    nonces.add((await provider.getTransaction(h)).nonce);
  }
  assertEq(nonces.size, 50, 'distinct nonces');
  assertEq(Math.min(...nonces), start, 'first nonce');
  assertEq(Math.max(...nonces), start + 49, 'consecutive');
});

t('raw HSM signatures are about half high-s (direct key server sample over mTLS)', async () => {
  // The connector never shows the DER it gets; this sample shows what it has to normalise.
  const requests = Array.from({ length: 200 }, (_, i) => ({
    key_id: ks.keyId, algorithm: 'ECDSA_SHA256', request_id: `hs-${i}`,
    data: Buffer.from(ethers.getBytes(ethers.id(`sample ${i}`))).toString('base64'),
  }));
  const { status, json } = await mtlsRequest(pki, `${ks.url}/sign`, { method: 'POST', body: { requests } });
  assertEq(status, 200, `batch /sign: ${JSON.stringify(json).slice(0, 200)}`);
  let high = 0;
  for (const res of json.results) {
    const { s } = derToRS(Buffer.from(res.signature, 'base64'));
    if (s > N / 2n) high++;
  }
  console.log(`     raw HSM DER signatures with high s: ${high} of ${json.results.length}`);
  assert(high > 40 && high < 160, `high-s share plausible (${high}/200)`);
});

t(`${N_SIGS} HSM signatures through the connector all recover to the address`, async () => {
  const audit0 = countSignedAudit(ks.auditFile);
  const t0 = Date.now();
  const msgs = Array.from({ length: N_SIGS }, (_, i) => `fullstack message ${i} ${t0}`);
  const sigs = new Array(N_SIGS);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const from = next;
      if (from >= N_SIGS) return;
      next = Math.min(N_SIGS, from + BATCH);
      const body = [];
      for (let i = from; i < next; i++) {
        // alternate personal_sign [data, addr] and eth_sign [addr, data]
        const data = ethers.hexlify(ethers.toUtf8Bytes(msgs[i]));
        body.push({ jsonrpc: '2.0', id: i, method: i % 2 ? 'eth_sign' : 'personal_sign', params: i % 2 ? [addr, data] : [data, addr] });
      }
      const res = JSON.parse((await post(conn.url, body)).text);
      assertEq(res.length, body.length, 'batch answer length');
      for (const r of res) {
        if (!r.result) throw new Error(`signature ${r.id} failed: ${JSON.stringify(r.error)}`);
        sigs[r.id] = r.result;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const tSign = Date.now() - t0;
  let bad = 0;
  const digests = new Set();
  for (let i = 0; i < N_SIGS; i++) {
    const z = ethers.hashMessage(msgs[i]);
    digests.add(z.slice(2));
    if (!recoversTo(z, sigs[i])) bad++;
    // Every 10th also through ethers' own recovery (the clients' view).
    if (i % 10 === 0 && ethers.verifyMessage(msgs[i], sigs[i]) !== addr) bad++;
  }
  console.log(`     ${N_SIGS} signatures in ${tSign} ms (${Math.round(N_SIGS * 1000 / tSign)}/s), checked in ${Date.now() - t0 - tSign} ms`);
  assertEq(bad, 0, 'signatures that do not recover to the HSM address');
  // The key server audited each one: N_SIGS more "signed" lines, every digest among them.
  const lines = fs.readFileSync(ks.auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assertEq(countSignedAudit(ks.auditFile) - audit0, N_SIGS, 'audited HSM signatures');
  for (const l of lines) digests.delete(l.digest.replace(/^0x/, ''));
  assertEq(digests.size, 0, 'digests missing from the audit log');
});

t('key server stopped: signing -> -32000 in < 2 s, forwarding still works; restarted: resumes', async () => {
  const port = ks.port;
  const { code } = await ks.stop();
  assertEq(code, 0, 'key server exits 0 on SIGTERM');
  for (const [m, p] of [['personal_sign', ['0x6869', addr]], ['eth_sendTransaction', [{ from: addr, to: TO, value: '0x1' }]]]) {
    const t0 = Date.now();
    const r = await rpcRaw(conn.url, m, p);
    const dt = Date.now() - t0;
    assert(r.error && r.error.code === -32000, `${m} without key server: ${JSON.stringify(r)}`);
    assert(dt < 2000, `${m} answered in ${dt} ms`);
    console.log(`     ${m} without the key server: ${r.error.code} in ${dt} ms`);
  }
  for (const q of [{ jsonrpc: '2.0', id: 5, method: 'eth_blockNumber' }, { jsonrpc: '2.0', id: 'b', method: 'eth_getBalance', params: [TO, 'latest'] }]) {
    assertEq((await post(conn.url, q)).text, (await post(anvil.url, q)).text, `forwarded ${q.method}`);
  }
  // /ready answers from a cache refreshed every http.ready_refresh_ms (200 ms here)
  await waitFor(async () => (await fetch(`${conn.url}/ready`)).status === 503, { what: 'not ready without key server' });

  ks = await startKeyserver({ dir, token, pki, port });
  let sig;
  const t0 = Date.now();
  await waitFor(async () => (sig = (await rpcRaw(conn.url, 'personal_sign', ['0x6869', addr])).result) !== undefined,
    { what: 'signing to resume', timeoutMs: 15000 });
  console.log(`     signing resumed ${Date.now() - t0} ms after the key server was back`);
  assertEq(ethers.verifyMessage('hi', sig), addr, 'resumed signature');
  const h = await rpc(conn.url, 'eth_sendTransaction', [{ from: addr, to: TO, value: '0x2' }]);
  assertEq((await receipt(h)).status, 1, 'send after restart mined');
});

t('SIGTERM: connector and key server exit 0 with no sanitizer report', async () => {
  for (const h of [conn, ks]) {
    const { code, sig } = await h.stop();
    assert(code === 0 && sig === null, `${h.name} exit ${code} ${sig}: ${h.log().slice(-2000)}`);
    assert(!/AddressSanitizer|LeakSanitizer|runtime error/.test(h.log()), h.log().slice(-3000));
  }
  https.globalAgent.destroy();
});

await runAll();
