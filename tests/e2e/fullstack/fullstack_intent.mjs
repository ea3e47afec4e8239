// fullstack_intent.mjs - issue 11 end to end, real parts only: a SoftHSM2 token, anode-keyserver
// (mutual TLS) whose key has `raw_digest: false` and a policy, anode-connector with the keyless
// signer (send_intent "auto", the default) and anvil --hardfork prague; judged by ethers v6 and
// viem (tests/tools).
//
// Covers: through the connector, personal_sign, eth_sign, eth_signTypedData_v4,
// eth_sendTransaction of types 0, 1, 2 (mined by anvil), eth_signTransaction of types 0-4,
// anode_signAuthorization and opsigner_signBlockPayloadV2 each give a signature ethers/viem
// recover to the HSM address: the key server signed only digests it recomputed from the intents
// (it refuses digest-only requests for this key); its audit log holds the decoded intent of each
// signature and the connector's request id (joined to the connector's own audit records);
// requests its policy refuses (`to` not allowed, value over the cap) come back as JSON-RPC errors
// naming the rule, with no HSM signature; a connector with send_intent "never" is refused naming
// raw_digest_not_allowed; "always" signs. Every process is stopped by PID (stack.mjs).
import fs from 'node:fs';
import path from 'node:path';
import {
  assert, assertEq, fund, makeRunner, rpc, rpcRaw, startAnvil, startConnector, tmpDir, toolsRequire,
  waitFor,
} from '../lib/stack.mjs';
import { countSignedAudit, keylessAccount, makePki, makeToken, startKeyserver } from '../lib/fullstack.mjs';

const { ethers } = toolsRequire('ethers');
const viem = toolsRequire('viem');
const { recoverAuthorizationAddress } = toolsRequire('viem/utils');

const CHAIN = 31337;
const TO = ethers.getAddress('0x00000000000000000000000000000000000000b2');
const OTHER = ethers.getAddress('0x00000000000000000000000000000000000000c3');
const DELEGATE = ethers.getAddress('0x00000000000000000000000000000000000000d4');
const BLOB_HASH = `0x01${'ab'.repeat(31)}`;
const VC = '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC';
const typed = {
  domain: { name: 'Ether Mail', version: '1', chainId: CHAIN, verifyingContract: VC },
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

const dir = tmpDir('ak-fs-intent-');
const { t, run: runAll } = makeRunner('fullstack_intent');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const cnLog = path.join(dir, 'connector-audit.jsonl');
const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));
let token, pki, ks, anvil, conn, addr, provider;
const kindsSigned = new Set();

function account(sendIntent) {
  const a = keylessAccount({ urls: [ks.url], pki });
  if (sendIntent) a.signer.send_intent = sendIntent;
  return a;
}

async function receipt(hash) {
  let r = null;
  await waitFor(async () => (r = await provider.getTransactionReceipt(hash)) !== null, { what: `receipt ${hash}` });
  return r;
}

function txFrom(raw) {
  const tx = ethers.Transaction.from(raw);
  assertEq(tx.from, addr, `type ${tx.type} signed transaction recovers (ethers) to the HSM address`);
  return tx;
}

t('token, PKI, key server (raw_digest false + policy), anvil (prague), connector (send_intent auto, audit on)', async () => {
  token = makeToken(dir, { label: 'e2eintent' });
  addr = token.address;
  pki = makePki(dir);
  const policy = {
    raw_digest: false,
    allowed_chain_ids: [CHAIN],
    allowed_to: [TO, addr],
    max_value_wei: '1000000000000000000',
    allowed_domains: [{ name: 'Ether Mail', chainId: CHAIN, verifyingContract: VC }],
    allowed_delegates: [DELEGATE],
  };
  ks = await startKeyserver({
    dir, token, pki, extra: { keys: { k1: { uri: `pkcs11:token=${token.label};object=${token.keyLabel}`, policy } } },
  });
  anvil = await startAnvil({ args: ['--hardfork', 'prague'] });
  await fund(anvil.url, addr);
  provider = new ethers.JsonRpcProvider(anvil.url, CHAIN, { staticNetwork: true, cacheTimeout: -1 });
  conn = await startConnector({
    config: { accounts: [account(null)], audit: { path: cnLog, fsync: 'always' } }, downstreamUrl: anvil.url, dir,
  });
});

t('a digest-only request is refused by the key server for this key (what send_intent avoids)', async () => {
  const before = countSignedAudit(ks.auditFile);
  const never = await startConnector({ config: { accounts: [account('never')] }, downstreamUrl: anvil.url, dir });
  try {
    const r = await rpcRaw(never.url, 'personal_sign', ['digest only', addr]);
    assert(r.error, `refused: ${JSON.stringify(r)}`);
    assert(/raw_digest_not_allowed/.test(r.error.message), `the error names the rule: ${r.error.message}`);
  } finally {
    await never.stop();
  }
  assertEq(countSignedAudit(ks.auditFile), before, 'no HSM signature made');
});

t('personal_sign, eth_sign, eth_signTypedData_v4: ethers and viem recover the HSM address', async () => {
  const msg = 'hello, intent';
  const s1 = await rpc(conn.url, 'personal_sign', [ethers.hexlify(ethers.toUtf8Bytes(msg)), addr]);
  assertEq(ethers.verifyMessage(msg, s1), addr, 'personal_sign (ethers)');
  assert(await viem.verifyMessage({ address: addr, message: msg, signature: s1 }), 'personal_sign (viem)');
  const s2 = await rpc(conn.url, 'eth_sign', [addr, '0xdeadbeef']);
  assertEq(ethers.verifyMessage(ethers.getBytes('0xdeadbeef'), s2), addr, 'eth_sign (ethers)');
  const s3 = await rpc(conn.url, 'eth_signTypedData_v4', [addr, JSON.stringify({
    ...typed, types: { EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' },
      { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' }], ...typed.types },
    primaryType: 'Mail',
  })]);
  assertEq(ethers.verifyTypedData(typed.domain, typed.types, typed.message, s3), addr, 'typed data (ethers)');
  assert(await viem.verifyTypedData({ address: addr, domain: typed.domain, types: typed.types, primaryType: 'Mail',
    message: typed.message, signature: s3 }), 'typed data (viem)');
  ['eip191_message', 'eip712_typed_data'].forEach((k) => kindsSigned.add(k));
});

t('eth_sendTransaction types 0, 1, 2: mined by anvil, sent by the HSM address', async () => {
  for (const extra of [{ type: '0x0', gasPrice: '0x77359400' }, { type: '0x1', gasPrice: '0x77359400', accessList: [] }, {}]) {
    const hash = await rpc(conn.url, 'eth_sendTransaction', [{ from: addr, to: TO, value: '0x1', ...extra }]);
    const r = await receipt(hash);
    assertEq(r.status, 1, `status of ${JSON.stringify(extra)}`);
    const tx = await provider.getTransaction(hash);
    assertEq(tx.from, addr, 'sender');
  }
  kindsSigned.add('eth_transaction');
});

t('eth_signTransaction types 0-4 and anode_signAuthorization: ethers and viem recover the HSM address', async () => {
  const base = { from: addr, to: TO, value: '0x2', nonce: '0x40', gas: '0x30000' };
  const fees = { maxFeePerGas: '0x77359400', maxPriorityFeePerGas: '0x1' };
  txFrom(await rpc(conn.url, 'eth_signTransaction', [{ ...base, type: '0x0', gasPrice: '0x77359400' }]));
  txFrom(await rpc(conn.url, 'eth_signTransaction', [{ ...base, type: '0x1', gasPrice: '0x77359400',
    accessList: [{ address: TO, storageKeys: [ethers.ZeroHash] }] }]));
  const raw2 = await rpc(conn.url, 'eth_signTransaction', [{ ...base, ...fees, data: '0xa9059cbb' }]);
  txFrom(raw2);
  const vtx = viem.parseTransaction(raw2);
  assertEq(await viem.recoverTransactionAddress({ serializedTransaction: raw2 }), addr, 'type 2 (viem)');
  assertEq(vtx.type, 'eip1559', 'viem type');
  const raw3 = await rpc(conn.url, 'eth_signTransaction', [{ ...base, ...fees, maxFeePerBlobGas: '0x2',
    blobVersionedHashes: [BLOB_HASH] }]);
  assertEq(txFrom(raw3).type, 3, 'type 3');
  const auth = await rpc(conn.url, 'anode_signAuthorization', [addr, { address: DELEGATE, chainId: '0x7a69', nonce: '0x41' }]);
  const sig = ethers.Signature.from({ r: ethers.toBeHex(auth.r, 32), s: ethers.toBeHex(auth.s, 32), yParity: Number(auth.yParity) });
  assertEq(ethers.verifyAuthorization({ address: DELEGATE, nonce: 0x41n, chainId: BigInt(CHAIN) }, sig), addr, 'authorization (ethers)');
  assertEq(await recoverAuthorizationAddress({ authorization: { address: DELEGATE, chainId: CHAIN, nonce: 0x41,
    r: ethers.toBeHex(auth.r, 32), s: ethers.toBeHex(auth.s, 32), yParity: Number(auth.yParity) } }), addr, 'authorization (viem)');
  const raw4 = await rpc(conn.url, 'eth_signTransaction', [{ ...base, ...fees, to: addr, authorizationList: [auth] }]);
  assertEq(txFrom(raw4).type, 4, 'type 4');
  assertEq(await viem.recoverTransactionAddress({ serializedTransaction: raw4 }), addr, 'type 4 (viem)');
  ['eth_transaction', 'eip7702_authorization'].forEach((k) => kindsSigned.add(k));
});

t('opsigner_signBlockPayloadV2: r||s||yParity recovers (ethers) over the block-gossip signing hash', async () => {
  const domain = ethers.ZeroHash, ph = ethers.keccak256('0x' + 'ab'.repeat(64));
  const out = await rpc(conn.url, 'opsigner_signBlockPayloadV2', [{ domain, chainId: String(CHAIN), payloadHash: ph }]);
  const b = ethers.getBytes(out);
  const digest = ethers.keccak256(ethers.concat([domain, ethers.toBeHex(CHAIN, 32), ph]));
  assertEq(ethers.recoverAddress(digest, { r: ethers.hexlify(b.subarray(0, 32)), s: ethers.hexlify(b.subarray(32, 64)), yParity: b[64] }),
    addr, 'block payload signature');
  kindsSigned.add('op_block_payload');
});

t('key server policy refusals come back from the connector naming the rule; nothing signed', async () => {
  const before = countSignedAudit(ks.auditFile);
  const other = await rpcRaw(conn.url, 'eth_sendTransaction', [{ from: addr, to: OTHER, value: '0x1' }]);
  assert(other.error, `to OTHER refused: ${JSON.stringify(other)}`);
  assert(/to_not_allowed/.test(other.error.message), `names to_not_allowed: ${other.error.message}`);
  const big = await rpcRaw(conn.url, 'eth_signTransaction', [{ from: addr, to: TO, value: '0x1bc16d674ec80000',
    nonce: '0x50', gas: '0x5208', maxFeePerGas: '0x77359400', maxPriorityFeePerGas: '0x1' }]);
  assert(big.error, `2 ETH refused: ${JSON.stringify(big)}`);
  assert(/value_over_cap/.test(big.error.message), `names value_over_cap: ${big.error.message}`);
  const dom = await rpcRaw(conn.url, 'eth_signTypedData_v4', [addr, {
    ...typed, domain: { ...typed.domain, name: 'Other' }, primaryType: 'Mail',
    types: { EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' },
      { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' }], ...typed.types },
  }]);
  assert(dom.error && /domain_not_allowed/.test(dom.error.message), `names domain_not_allowed: ${JSON.stringify(dom)}`);
  assertEq(countSignedAudit(ks.auditFile), before, 'no HSM signature made');
});

t('the key server audit holds the decoded intent of every signature, joined to the connector record by request id', async () => {
  const ksRecs = lines(ks.auditFile).filter((r) => r.key_id === 'k1');
  const signed = ksRecs.filter((r) => r.outcome === 'signed');
  assert(signed.length >= 13, `signed records: ${signed.length}`);
  // A single /sign's intent is in its durable "allowed" decision record (the "signed" result
  // record carries none); a batch item's is in its "signed" record (docs/keyserver.md, Audit).
  const allowed = new Map(ksRecs.filter((r) => r.outcome === 'allowed').map((r) => [r.request_id, r]));
  const intentOf = (r) => r.intent || (allowed.get(r.request_id) || {}).intent;
  for (const r of signed) {
    const i = intentOf(r);
    assert(i && i.kind, `signed record (or its allowed decision) carries its intent: ${JSON.stringify(r)}`);
  }
  const kinds = new Set(signed.map((r) => intentOf(r).kind));
  for (const k of kindsSigned) assert(kinds.has(k), `an audited ${k} intent`);
  const toOther = ksRecs.find((r) => r.rule === 'to_not_allowed');
  assert(toOther && toOther.intent && toOther.intent.to && ethers.getAddress(toOther.intent.to) === OTHER,
    `refusal audited with its decoded intent: ${JSON.stringify(toOther)}`);
  const byRid = new Map(ksRecs.map((r) => [r.request_id, r]));
  const all = lines(cnLog);
  assert(all.length > 0, 'connector audit records');
  let joined = 0;
  for (const c of all) {
    assert(c.request_id, `connector record has a request id: ${JSON.stringify(c)}`);
    const k = byRid.get(c.request_id);
    assert(k, `the key server recorded request id ${c.request_id}`);
    if (k && k.outcome === 'signed') {
      assertEq(k.digest.replace(/^0x/, '').toLowerCase(), String(c.digest).replace(/^0x/, '').toLowerCase(), 'same digest');
      joined++;
    }
  }
  assert(joined >= 13, `joined signed records: ${joined}`);
});

t('batch form: with one request in flight, concurrent signatures go as batches whose items carry their intents', async () => {
  const a = account(null);
  a.signer.max_inflight = 1; // the second and later concurrent signatures queue and go as a batch
  const b = await startConnector({ config: { accounts: [a] }, downstreamUrl: anvil.url, dir });
  try {
    const ownBefore = lines(ks.auditFile).filter((r) => r.outcome === 'signed' && r.intent).length;
    const msgs = Array.from({ length: 16 }, (_, i) => `batched ${i}`);
    const sigs = await Promise.all(msgs.map((m) => rpc(b.url, 'personal_sign', [m, addr])));
    msgs.forEach((m, i) => assertEq(ethers.verifyMessage(m, sigs[i]), addr, `batched ${i}: ethers recovers`));
    // A batch item's "signed" record carries its intent itself (a single /sign's does not).
    const own = lines(ks.auditFile).filter((r) => r.outcome === 'signed' && r.intent);
    assert(own.length > ownBefore, `batch items audited with their intents: ${own.length - ownBefore}`);
    for (const r of own.slice(ownBefore)) assert(r.intent.kind, `batch item intent: ${JSON.stringify(r)}`);
  } finally {
    await b.stop();
  }
});

t('send_intent "always": signs (every kind is advertised)', async () => {
  const always = await startConnector({ config: { accounts: [account('always')] }, downstreamUrl: anvil.url, dir });
  try {
    const s = await rpc(always.url, 'personal_sign', ['always', addr]);
    assertEq(ethers.verifyMessage('always', s), addr, 'always: ethers recovers');
  } finally {
    await always.stop();
  }
});

t('bad send_intent value: the connector refuses its config naming the field', async () => {
  const a = account('sometimes');
  const r = await startConnector({ config: { accounts: [a] }, downstreamUrl: anvil.url, dir, waitReady: false });
  await waitFor(() => r.proc.exitCode !== null, { what: 'connector exit' });
  assertEq(r.proc.exitCode, 2, 'exit code 2 (configuration)');
  assert(/send_intent/.test(r.log()), `log names send_intent: ${r.log()}`);
});

await runAll();
