// fullstack_7702.mjs - issue 10 end to end with real parts only: a SoftHSM2 key behind
// anode-keyserver (mTLS), anode-connector (keyless signer, policy allowed_delegates), anvil
// --hardfork prague --accounts 0. Judges: ethers v6, viem, anvil itself.
//
// Covers: anode_signAuthorization by the HSM account (ethers verifyAuthorization and viem
// recoverAuthorizationAddress find the HSM address); a type-4 transaction carrying it, parsed by
// ethers and viem, then sent and executed by anvil: the account's code becomes
// 0xef0100 || delegate and a call to the account runs the delegate's code (it returns ADDRESS,
// i.e. the HSM account itself); refusals (chainId 0 by default, a delegate not in
// allowed_delegates, an unknown member) with no signature made (the key server's audit log
// does not grow); a type-3 blob transaction signed by the HSM and parsed by ethers and viem;
// eth_sendTransaction of a blob transaction without sidecar refused naming it, and with a real
// sidecar (commitment and proof by kzg-wasm, c-kzg-4844 compiled to WASM) mined by anvil, which
// verifies the KZG proof.
import fs from 'node:fs';
import {
  assert, assertEq, fund, makeRunner, rpc, rpcRaw, startAnvil, startConnector, tmpDir, toolsRequire,
  waitFor,
} from '../lib/stack.mjs';
import { countSignedAudit, keylessAccount, makePki, makeToken, startKeyserver } from '../lib/fullstack.mjs';

const { ethers } = toolsRequire('ethers');
const viem = toolsRequire('viem');
const { recoverAuthorizationAddress } = toolsRequire('viem/utils');
const { loadKZG } = await import(toolsRequire.resolve('kzg-wasm'));

const TO = ethers.getAddress('0x00000000000000000000000000000000000000b2');
const OTHER = ethers.getAddress('0x00000000000000000000000000000000000000c3');
// Delegate runtime: ADDRESS PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN (returns the executing account).
const RUNTIME = '3060005260206000f3';
// Init code: CODECOPY the 9 runtime bytes that follow it to memory 0 and RETURN them.
const INITCODE = `0x6009600c60003960096000f3${RUNTIME}`;
const BLOB_HASH = `0x01${'ab'.repeat(31)}`;

// The sidecar's commitment and proof are computed before any connection is opened: the WASM
// computation blocks this process for 10-30 s on a loaded machine, longer than the connector
// keeps an idle keep-alive connection (20 s), and a pooled connection it closed meanwhile
// failed the next request ("other side closed").
const sidecar = await (async () => {
  const kzg = await loadKZG();
  const blob = new Uint8Array(131072);
  for (let i = 0; i < 4096; i++) blob[i * 32 + 31] = i & 0xff; // field elements below the modulus
  const blobHex = ethers.hexlify(blob);
  const commitment = kzg.blobToKZGCommitment(blobHex).toLowerCase();
  const proof = kzg.computeBlobKZGProof(blobHex, commitment).toLowerCase();
  return { blobHex, commitment, proof };
})();

const dir = tmpDir('ak-7702-');
const { t, run: runAll } = makeRunner('fullstack_7702');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
let token, pki, ks, anvil, conn, addr, delegate, auth, provider;

async function receipt(hash) {
  let r = null;
  await waitFor(async () => (r = await provider.getTransactionReceipt(hash)) !== null, { what: `receipt ${hash}` });
  return r;
}

t('token, PKI, anode-keyserver, anvil --hardfork prague, connector; delegate deployed by the HSM account', async () => {
  token = makeToken(dir, { label: 'e2e7702' });
  addr = token.address;
  pki = makePki(dir);
  ks = await startKeyserver({ dir, token, pki });
  anvil = await startAnvil({ args: ['--hardfork', 'prague'] });
  await fund(anvil.url, addr);
  provider = new ethers.JsonRpcProvider(anvil.url, 31337, { staticNetwork: true, cacheTimeout: -1 });
  // The delegate is deployed first (its address is needed for the policy): by the HSM account
  // through a connector without policy.
  const plain = await startConnector({
    config: { accounts: [keylessAccount({ urls: [ks.url], pki })] }, downstreamUrl: anvil.url, dir,
  });
  const hash = await rpc(plain.url, 'eth_sendTransaction', [{ from: addr, data: INITCODE }]);
  const r = await receipt(hash);
  assertEq(r.status, 1, 'deployment status');
  delegate = r.contractAddress;
  assertEq(await provider.getCode(delegate), `0x${RUNTIME}`, 'delegate code');
  await plain.stop();
  const account = keylessAccount({ urls: [ks.url], pki });
  account.policy = { allowed_delegates: [delegate] };
  // anvil loads the KZG trusted setup on its first blob transaction (~7 s measured here): the
  // node timeout leaves room for it.
  conn = await startConnector({ config: { accounts: [account] }, downstreamUrl: anvil.url, dir,
    args: ['--downstream-timeout-ms', '60000'] });
});

t('anode_signAuthorization: ethers and viem recover the HSM address', async () => {
  auth = await rpc(conn.url, 'anode_signAuthorization', [addr, { address: delegate, executor: 'self' }]);
  const pending = await provider.getTransactionCount(addr, 'pending');
  assertEq(BigInt(auth.nonce), BigInt(pending) + 1n, 'nonce = pending + 1 (executor self)');
  assertEq(BigInt(auth.chainId), 31337n, 'chainId ours');
  assertEq(ethers.getAddress(auth.address), delegate, 'delegate');
  const sig = ethers.Signature.from({ r: ethers.toBeHex(auth.r, 32), s: ethers.toBeHex(auth.s, 32), yParity: Number(auth.yParity) });
  assertEq(ethers.verifyAuthorization({ address: delegate, nonce: BigInt(auth.nonce), chainId: 31337n }, sig), addr, 'ethers verifyAuthorization');
  const viemAuth = { address: delegate, chainId: 31337, nonce: Number(auth.nonce), r: ethers.toBeHex(auth.r, 32), s: ethers.toBeHex(auth.s, 32), yParity: Number(auth.yParity) };
  assertEq(await recoverAuthorizationAddress({ authorization: viemAuth }), addr, 'viem recoverAuthorizationAddress');
});

t('authorization refusals: chainId 0 by default, delegate not allowed, unknown member; nothing signed', async () => {
  const before = countSignedAudit(ks.auditFile);
  const zero = await rpcRaw(conn.url, 'anode_signAuthorization', [addr, { address: delegate, chainId: '0x0' }]);
  assertEq(zero.error && zero.error.code, -32003, `chain 0 refused: ${JSON.stringify(zero)}`);
  assert(/chainId 0/.test(zero.error.message), 'message names chainId 0');
  const other = await rpcRaw(conn.url, 'anode_signAuthorization', [addr, { address: OTHER }]);
  assertEq(other.error && other.error.code, -32003, `other delegate refused: ${JSON.stringify(other)}`);
  assert(other.error.message.includes('allowed_delegates'), 'message names allowed_delegates');
  const bogus = await rpcRaw(conn.url, 'anode_signAuthorization', [addr, { address: delegate, bogus: 1 }]);
  assertEq(bogus.error && bogus.error.code, -32602, 'unknown member refused');
  assert(bogus.error.message.includes('"bogus"'), 'message names the member');
  assertEq(countSignedAudit(ks.auditFile), before, 'no HSM signature made');
});

t('type 4: eth_signTransaction parsed by ethers and viem', async () => {
  const raw = await rpc(conn.url, 'eth_signTransaction', [{ from: addr, to: addr, authorizationList: [auth] }]);
  const tx = ethers.Transaction.from(raw);
  assertEq(tx.type, 4, 'ethers type');
  assertEq(tx.from, addr, 'ethers from');
  assertEq(tx.to, addr, 'ethers to');
  assertEq(tx.authorizationList.length, 1, 'one authorization');
  assertEq(tx.authorizationList[0].address, delegate, 'authorization address');
  assertEq(tx.authorizationList[0].nonce, BigInt(auth.nonce), 'authorization nonce');
  assertEq(ethers.verifyAuthorization(tx.authorizationList[0], tx.authorizationList[0].signature), addr, 'authority inside the tx');
  const p = viem.parseTransaction(raw);
  assertEq(p.type, 'eip7702', 'viem type');
  assertEq(p.authorizationList.length, 1, 'viem authorizations');
  assertEq(await viem.recoverTransactionAddress({ serializedTransaction: raw }), addr, 'viem sender');
});

t('type 4 on anvil (prague): delegation set, a call to the account runs the delegate', async () => {
  const hash = await rpc(conn.url, 'eth_sendTransaction', [{ from: addr, to: addr, authorizationList: [auth] }]);
  const r = await receipt(hash);
  assertEq(r.status, 1, 'status');
  const mined = await provider.getTransaction(hash);
  assertEq(mined.type, 4, 'mined type');
  assertEq((await provider.getCode(addr)).toLowerCase(), `0xef0100${delegate.slice(2).toLowerCase()}`, 'delegation designator');
  const out = await provider.call({ to: addr, data: '0x' });
  assertEq(ethers.getAddress(ethers.dataSlice(out, 12)), addr, 'the delegate ran as the account');
});

t('type 3: HSM-signed blob transaction (no sidecar) parsed by ethers and viem', async () => {
  const raw = await rpc(conn.url, 'eth_signTransaction', [{ from: addr, to: TO, blobVersionedHashes: [BLOB_HASH] }]);
  const tx = ethers.Transaction.from(raw);
  assertEq(tx.type, 3, 'ethers type');
  assertEq(tx.from, addr, 'ethers from');
  assertEq(tx.blobVersionedHashes, [BLOB_HASH], 'hashes');
  assert(tx.maxFeePerBlobGas > 0n, 'maxFeePerBlobGas filled');
  const p = viem.parseTransaction(raw);
  assertEq(p.type, 'eip4844', 'viem type');
  assertEq(p.blobVersionedHashes, [BLOB_HASH], 'viem hashes');
  assertEq(await viem.recoverTransactionAddress({ serializedTransaction: raw }), addr, 'viem sender');
  const sent = await rpcRaw(conn.url, 'eth_sendTransaction', [{ from: addr, to: TO, blobVersionedHashes: [BLOB_HASH] }]);
  assertEq(sent.error && sent.error.code, -32602, `send without sidecar refused: ${JSON.stringify(sent)}`);
  assert(sent.error.message.includes('sidecar'), 'names the sidecar');
});

t('type 3 with its sidecar (kzg-wasm commitments and proofs): sent by the connector, mined by anvil', async () => {
  const { blobHex, commitment, proof } = sidecar;
  const vh = `0x01${ethers.sha256(commitment).slice(4)}`;
  // a wrong hash is refused before anything is signed
  const bad = await rpcRaw(conn.url, 'eth_sendTransaction', [{ from: addr, to: TO, blobVersionedHashes: [BLOB_HASH],
    blobs: [blobHex], commitments: [commitment], proofs: [proof] }]);
  assertEq(bad.error && bad.error.code, -32602, 'mismatched hash refused');
  const hash = await rpc(conn.url, 'eth_sendTransaction', [{ from: addr, to: TO, blobs: [blobHex], commitments: [commitment], proofs: [proof] }]);
  const r = await receipt(hash);
  assertEq(r.status, 1, 'status');
  const mined = await provider.getTransaction(hash);
  assertEq(mined.type, 3, 'mined type');
  assertEq(mined.from, addr, 'from');
  assertEq(mined.blobVersionedHashes, [vh], 'versioned hash of the commitment');
});

await runAll();
