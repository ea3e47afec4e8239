// opstack_signer.mjs - anode-connector as the remote signer of an OP Stack chain: the requests
// ethereum-optimism/optimism op-service/signer's client sends (as op-batcher, op-proposer and
// op-node do with --signer.endpoint / --signer.address / --signer.header), written here byte for
// byte as Go's encoding/json and go-ethereum's rpc client produce them:
//   - health_status with no params (client.go pingVersion: a string back);
//   - eth_signTransaction with TransactionArgs (transaction_args.go: from, to, gas, gasPrice
//     null, maxFeePerGas, maxPriorityFeePerGas, value, nonce, data null, input, accessList,
//     chainId; lower-case hex addresses), answered with the raw signed transaction, which ethers
//     parses (type 2, sender = the HSM address) and anvil mines once sent;
//   - the same with blobVersionedHashes + maxFeePerBlobGas (op-batcher's blob transactions):
//     a signed type-3 transaction without sidecar, which ethers parses;
//   - opsigner_signBlockPayload with BlockPayloadArgs (blockpayload_args.go V1: domain as an array
//     of 32 numbers, chainId a JSON number, payloadHash base64) and opsigner_signBlockPayloadV2
//     (domain/payloadHash 0x hex, chainId a decimal string), answered with r || s || yParity,
//     which recovers (ethers) to the HSM address over keccak256(domain || chainId || payloadHash)
//     computed here with ethers;
//   - refusals: another domain, another chain id, unknown members, a sender we do not have.
// The account signs through the key server (SoftHSM); the client sends a bearer token header as
// `--signer.header "Authorization=Bearer ..."` would. Every process is stopped by PID.
import fs from 'node:fs';
import path from 'node:path';
import {
  assert, assertEq, fund, makeRunner, post, startAnvil, startConnector, tmpDir, toolsRequire, waitFor,
} from '../lib/stack.mjs';
import { keylessAccount, makePki, makeToken, startKeyserver } from '../lib/fullstack.mjs';

const { ethers } = toolsRequire('ethers');
const dir = tmpDir('ak-opstack-');
const { t, run } = makeRunner('opstack_signer');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const TOKEN = 'op-batcher-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const CHAIN = 31337n;
let token, conn, anvil, addr, lower;
let id = 1;

// POST a request body given as exact text; returns the parsed answer.
async function send(text, headers = AUTH) {
  const r = await post(conn.url, text, headers);
  assertEq(r.status, 200, `HTTP status for ${text.slice(0, 80)}: ${r.text}`);
  return JSON.parse(r.text);
}
// go-ethereum rpc.Client.CallContext(ctx, &res, method, args...): {"jsonrpc","id","method","params"}
const call = (method, paramsText) =>
  `{"jsonrpc":"2.0","id":${id++},"method":"${method}"${paramsText === undefined ? '' : `,"params":${paramsText}`}}`;

const q = (v) => `0x${BigInt(v).toString(16)}`;
// op-service TransactionArgs as json.Marshal writes it for a DynamicFeeTx (type 2).
function txArgs({ nonce, to, gas, maxFee, tip, value, input }) {
  return `{"from":"${lower}","to":"${to.toLowerCase()}","gas":"${q(gas)}","gasPrice":null,` +
    `"maxFeePerGas":"${q(maxFee)}","maxPriorityFeePerGas":"${q(tip)}","value":"${q(value)}",` +
    `"nonce":"${q(nonce)}","data":null,"input":"${input}","accessList":[],"chainId":"${q(CHAIN)}"}`;
}
// BlockPayloadArgs (V1) as json.Marshal writes it: [32]byte -> numbers, []byte -> base64.
function v1Args(domain, chainId, payloadHash, sender) {
  return `{"domain":[${Array.from(ethers.getBytes(domain)).join(',')}],"chainId":${chainId},` +
    `"payloadHash":"${ethers.encodeBase64(payloadHash)}","senderAddress":${sender ? `"${sender}"` : 'null'}}`;
}
// BlockPayloadArgsV2: eth.Bytes32 and common.Hash as 0x hex, eth.ChainID as decimal text.
function v2Args(domain, chainId, payloadHash, sender) {
  return `{"domain":"${domain}","chainId":"${chainId}","payloadHash":"${payloadHash}",` +
    `"senderAddress":${sender ? `"${sender}"` : 'null'}}`;
}
const signingHash = (domain, chainId, payloadHash) =>
  ethers.keccak256(ethers.concat([domain, ethers.toBeHex(chainId, 32), payloadHash]));
function recover(digest, sigHex) {
  const b = ethers.getBytes(sigHex);
  assertEq(b.length, 65, 'signature length');
  assert(b[64] === 0 || b[64] === 1, `yParity byte is 0 or 1, got ${b[64]}`);
  return ethers.recoverAddress(digest, { r: ethers.hexlify(b.subarray(0, 32)), s: ethers.hexlify(b.subarray(32, 64)), yParity: b[64] });
}

t('token, PKI, anode-keyserver, anvil, anode-connector (keyless signer, bearer token)', async () => {
  token = makeToken(dir, { label: 'opstack' });
  addr = token.address;
  lower = addr.toLowerCase();
  const pki = makePki(dir);
  const ks = await startKeyserver({ dir, token, pki });
  anvil = await startAnvil();
  await fund(anvil.url, addr);
  const tokens = path.join(dir, 'tokens');
  fs.writeFileSync(tokens, `${TOKEN}\n`, { mode: 0o600 });
  conn = await startConnector({
    config: { auth: { bearer_tokens_file: tokens }, accounts: [keylessAccount({ urls: [ks.url], pki })] },
    downstreamUrl: anvil.url, dir,
  });
});

t('health_status (no params, as pingVersion sends it) is answered with a string', async () => {
  const j = await send(call('health_status'));
  assert(typeof j.result === 'string' && j.result.length > 0, `a string: ${JSON.stringify(j)}`);
  const r = await post(conn.url, call('health_status'), {});
  assertEq(r.status, 401, 'without the --signer.header token: 401');
});

t('eth_signTransaction with op-service TransactionArgs (type 2) -> raw tx ethers parses, anvil mines', async () => {
  const to = '0x00000000000000000000000000000000000000b2';
  const nonce = BigInt(await (await fetch(anvil.url, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getTransactionCount', params: [addr, 'pending'] }) })).json().then((j) => j.result));
  const args = { nonce, to, gas: 21000n, maxFee: 10n ** 10n, tip: 10n ** 9n, value: 12345n, input: '0x' };
  const j = await send(call('eth_signTransaction', `[${txArgs(args)}]`));
  assert(typeof j.result === 'string', `raw transaction string: ${JSON.stringify(j)}`);
  const tx = ethers.Transaction.from(j.result); // as signed.UnmarshalBinary(result)
  assertEq(tx.type, 2, 'type 2');
  assertEq(tx.from, addr, 'sender is the HSM address');
  assertEq(tx.to, ethers.getAddress(to), 'to');
  assertEq([tx.nonce, tx.gasLimit, tx.maxFeePerGas, tx.maxPriorityFeePerGas, tx.value, tx.chainId, tx.data],
    [Number(nonce), 21000n, 10n ** 10n, 10n ** 9n, 12345n, CHAIN, '0x'], 'fields as sent');
  const sent = JSON.parse((await post(anvil.url, { jsonrpc: '2.0', id: 2, method: 'eth_sendRawTransaction', params: [j.result] })).text);
  assertEq(sent.result, tx.hash, 'anvil accepted the transaction');
  let rc = null; // anvil mines on its own thread: poll the receipt (STACK-NOTES)
  await waitFor(async () => (rc = JSON.parse((await post(anvil.url, { jsonrpc: '2.0', id: 3,
    method: 'eth_getTransactionReceipt', params: [tx.hash] })).text).result) !== null, { what: 'receipt' });
  assertEq(rc.status, '0x1', 'mined with status 1');
});

t('eth_signTransaction with op-batcher blob TransactionArgs (type 3, no type member) -> signed type 3 without sidecar', async () => {
  const hashes = ['0x01' + '11'.repeat(31), '0x01' + '22'.repeat(31)];
  const args = txArgs({ nonce: 7n, to: '0x00000000000000000000000000000000000000b3', gas: 21000n, maxFee: 10n ** 10n,
    tip: 10n ** 9n, value: 0n, input: '0x' })
    .replace(/}$/, `,"blobVersionedHashes":${JSON.stringify(hashes)},"maxFeePerBlobGas":"${q(3n * 10n ** 9n)}"}`);
  const j = await send(call('eth_signTransaction', `[${args}]`));
  assert(typeof j.result === 'string', `raw transaction string: ${JSON.stringify(j)}`);
  const tx = ethers.Transaction.from(j.result);
  assertEq(tx.type, 3, 'type 3 inferred from the blob members');
  assertEq(tx.from, addr, 'sender is the HSM address');
  assertEq(tx.blobVersionedHashes, hashes, 'versioned hashes as sent');
  assertEq(tx.maxFeePerBlobGas, 3n * 10n ** 9n, 'maxFeePerBlobGas as sent');
  assertEq(tx.nonce, 7, 'nonce as sent');
});

t('eth_signTransaction: a TransactionArgs member we do not know is refused (-32602 naming it)', async () => {
  const bad = txArgs({ nonce: 0n, to: '0x00000000000000000000000000000000000000b2', gas: 21000n, maxFee: 1n, tip: 1n, value: 0n, input: '0x' })
    .replace('"chainId"', '"bogusField":"0x1","chainId"');
  const j = await send(call('eth_signTransaction', `[${bad}]`));
  assert(j.error && j.error.code === -32602 && j.error.message.includes('bogusField'), JSON.stringify(j));
});

t('opsigner_signBlockPayload (V1 JSON shape) -> r||s||yParity recovering to the HSM address', async () => {
  const domain = ethers.ZeroHash;
  for (const [payload, sender] of [['0x' + 'ab'.repeat(300), lower], ['0x', null]]) {
    const ph = ethers.keccak256(payload);
    const j = await send(call('opsigner_signBlockPayload', `[${v1Args(domain, CHAIN, ph, sender)}]`));
    assert(typeof j.result === 'string', JSON.stringify(j));
    assertEq(recover(signingHash(domain, CHAIN, ph), j.result), addr, 'V1 signature recovers to the HSM address');
  }
});

t('opsigner_signBlockPayloadV2 (V2 JSON shape) -> the same signing hash, recovering to the HSM address', async () => {
  const ph = ethers.keccak256(ethers.toUtf8Bytes('an execution payload envelope'));
  const j = await send(call('opsigner_signBlockPayloadV2', `[${v2Args(ethers.ZeroHash, CHAIN, ph, lower)}]`));
  assert(typeof j.result === 'string', JSON.stringify(j));
  assertEq(recover(signingHash(ethers.ZeroHash, CHAIN, ph), j.result), addr, 'V2 signature recovers');
});

t('block payloads refused: another domain, another chain, unknown member, unknown sender', async () => {
  const ph = ethers.keccak256('0x01');
  const cases = [
    [call('opsigner_signBlockPayload', `[${v1Args(ethers.zeroPadBytes('0x03', 32), CHAIN, ph, lower)}]`), -32602, 'domain'],
    [call('opsigner_signBlockPayloadV2', `[${v2Args(ethers.ZeroHash, 10n, ph, lower)}]`), -32602, 'chainId'],
    [call('opsigner_signBlockPayloadV2', `[${v2Args(ethers.ZeroHash, CHAIN, ph, lower).replace('}', ',"extra":1}')}]`), -32602, 'extra'],
    [call('opsigner_signBlockPayload', `[${v1Args(ethers.ZeroHash, CHAIN, ph, lower).replace('"chainId":31337', '"chainId":"31337"')}]`), -32602, 'chainId'],
    [call('opsigner_signBlockPayloadV2', `[${v2Args(ethers.ZeroHash, CHAIN, ph, '0x00000000000000000000000000000000000000b2')}]`), -32000, 'no signer'],
    [call('opsigner_signBlockPayloadV2', '[]'), -32602, 'expected'],
  ];
  for (const [text, code, word] of cases) {
    const j = await send(text);
    assert(j.error && j.error.code === code && j.error.message.includes(word), `${text} -> ${JSON.stringify(j)}`);
  }
});

run();
