// Independent known-answer vectors for tests/unit/test_intent.c (never our own output).
// Run: cd tests/tools && node ../unit/intent_vectors.js
// One intent per kind of shared/ak_intent.h (every transaction type, pre-155 legacy included),
// with the digest ethers v6 computes for it: Transaction.unsignedSerialized / unsignedHash,
// hashMessage, TypedDataEncoder.hash, hashAuthorization, the VerifyingPaymaster v0.7 getHash
// (AbiCoder, as samples/VerifyingPaymaster.sol) under hashMessage, and the OP Stack block
// signing hash keccak256(domain || chainId || payloadHash). Prints C initialisers.
const path = require("path");
const tools = path.join(__dirname, "..", "tools", "node_modules");
const ethers = require(path.join(tools, "ethers"));

const A = "0x3535353535353535353535353535353535353535";
const D = "0x1111111111111111111111111111111111111111";
const authority = new ethers.SigningKey("0x" + "47".repeat(32));
const sa = (chainId, address, nonce) => {
  const h = ethers.hashAuthorization({ chainId, address, nonce });
  const s = authority.sign(h);
  return { chainId, address, nonce, signature: s };
};

const txs = [
  { name: "legacy_155", type: 0, chainId: 1n, nonce: 9n, gasPrice: 20000000000n, gasLimit: 21000n, to: A,
    value: 1000000000000000000n, data: "0x" },
  { name: "legacy_pre155", type: 0, chainId: 0n, nonce: 0n, gasPrice: 1n, gasLimit: 53000n, to: null,
    value: 0n, data: "0x6000" },
  { name: "type1", type: 1, chainId: 5n, nonce: 1n, gasPrice: 3n, gasLimit: 30000n, to: A, value: 7n,
    data: "0xa9059cbb" + "00".repeat(64), accessList: [{ address: D, storageKeys: ["0x" + "00".repeat(31) + "02"] }] },
  { name: "type2", type: 2, chainId: 31337n, nonce: 0n, maxPriorityFeePerGas: 1000000000n,
    maxFeePerGas: 2000000000n, gasLimit: 21000n, to: A, value: 123456789n, data: "0x" },
  { name: "type3", type: 3, chainId: 1n, nonce: 2n, maxPriorityFeePerGas: 1n, maxFeePerGas: 2n, gasLimit: 21000n,
    to: A, value: 0n, data: "0x", accessList: [], maxFeePerBlobGas: 5n,
    blobVersionedHashes: ["0x01" + "aa".repeat(31)] },
  { name: "type4", type: 4, chainId: 1n, nonce: 3n, maxPriorityFeePerGas: 1n, maxFeePerGas: 2n, gasLimit: 60000n,
    to: A, value: 0n, data: "0x", accessList: [], authorizationList: [sa(1n, D, 0n)] },
];

const out = [];
for (const t of txs) {
  const tx = ethers.Transaction.from(t);
  out.push({ name: "tx_" + t.name, json: { kind: "eth_transaction", payload: tx.unsignedSerialized },
    digest: tx.unsignedHash });
}
const msg = "0x48656c6c6f2c20776f726c6421"; // "Hello, world!"
out.push({ name: "eip191", json: { kind: "eip191_message", message: msg }, digest: ethers.hashMessage(ethers.getBytes(msg)) });

const domain = { name: "Ether Mail", version: "1", chainId: 1, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" };
const types = {
  Person: [{ name: "name", type: "string" }, { name: "wallet", type: "address" }],
  Mail: [{ name: "from", type: "Person" }, { name: "to", type: "Person" }, { name: "contents", type: "string" }],
};
const message = { from: { name: "Cow", wallet: "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826" },
  to: { name: "Bob", wallet: "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB" }, contents: "Hello, Bob!" };
out.push({ name: "eip712", json: { kind: "eip712_typed_data", typed_data: {
  types: { EIP712Domain: [{ name: "name", type: "string" }, { name: "version", type: "string" },
    { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }], ...types },
  primaryType: "Mail", domain, message } }, digest: ethers.TypedDataEncoder.hash(domain, types, message) });

// VerifyingPaymaster v0.7 getHash, then toEthSignedMessageHash.
const op = { sender: A, nonce: "0x5", callData: "0xb61d27f6", callGasLimit: "0x186a0",
  verificationGasLimit: "0x30d40", preVerificationGas: "0xc350", maxFeePerGas: "0x77359400",
  maxPriorityFeePerGas: "0x3b9aca00", paymasterVerificationGasLimit: "0x249f0", paymasterPostOpGasLimit: "0x0" };
const PM = "0x2222222222222222222222222222222222222222", EP = "0x0000000071727De22E5E9d8BAf0edAc6f37da032";
const pack = (hi, lo) => ethers.concat([ethers.zeroPadValue(ethers.toBeHex(BigInt(hi)), 16), ethers.zeroPadValue(ethers.toBeHex(BigInt(lo)), 16)]);
const abi = ethers.AbiCoder.defaultAbiCoder();
const vp = ethers.keccak256(abi.encode(
  ["address", "uint256", "bytes32", "bytes32", "bytes32", "uint256", "uint256", "bytes32", "uint256", "address", "uint48", "uint48"],
  [op.sender, op.nonce, ethers.keccak256("0x"), ethers.keccak256(op.callData), pack(op.verificationGasLimit, op.callGasLimit),
    BigInt(pack(op.paymasterVerificationGasLimit, op.paymasterPostOpGasLimit)), op.preVerificationGas,
    pack(op.maxPriorityFeePerGas, op.maxFeePerGas), 11155111n, PM, 1893456000n, 0n]));
out.push({ name: "paymaster", json: { kind: "erc4337_paymaster", user_operation: { ...op, paymaster: PM },
  entry_point: EP, paymaster: PM, chain_id: "0xaa36a7", valid_until: "0x70dbd880", valid_after: "0x0" },
  digest: ethers.hashMessage(ethers.getBytes(vp)) });

out.push({ name: "auth", json: { kind: "eip7702_authorization", chain_id: "0x1", address: D, nonce: "0x7" },
  digest: ethers.hashAuthorization({ chainId: 1n, address: D, nonce: 7n }) });
out.push({ name: "auth_any_chain", json: { kind: "eip7702_authorization", chain_id: "0x0", address: D, nonce: "0x0" },
  digest: ethers.hashAuthorization({ chainId: 0n, address: D, nonce: 0n }) });

const ph = ethers.keccak256("0x1234");
out.push({ name: "op_block", json: { kind: "op_block_payload", domain: ethers.ZeroHash, chain_id: "0xa", payload_hash: ph },
  digest: ethers.keccak256(ethers.concat([ethers.ZeroHash, ethers.zeroPadValue("0x0a", 32), ph])) });

// A JSON string literal is a valid C string literal here (ASCII only, no \u escapes).
for (const v of out)
  console.log(`    {"${v.name}",\n     ${JSON.stringify(JSON.stringify(v.json))},\n     "${v.digest.slice(2)}"},`);
