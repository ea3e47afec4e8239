// Independent known-answer vectors for tests/unit/test_tx_typed.c (never our own output).
// Run: cd tests/tools && node ../unit/tx_typed_vectors.js
// EIP-4844 (type 3) and EIP-7702 (type 4) transactions and EIP-7702 authorization digests.
// Every value is computed twice, by ethers v6 and by viem, and the script fails unless both
// agree: the unsigned serialization and its keccak (the signing hash), the signed serialization
// (signature by ethers' SigningKey over the hash, RFC 6979 like libsecp256k1), viem's parse of
// the signed bytes back into the same fields, and hashAuthorization of each authorization.
// Prints C initialisers for the vectors of test_tx_typed.c.
const path = require("path");
const assert = require("assert");
const tools = path.join(__dirname, "..", "tools", "node_modules");
const ethers = require(path.join(tools, "ethers"));
const viem = require(path.join(tools, "viem"));
const vutils = require(path.join(tools, "viem", "_cjs", "utils", "index.js"));

const sender = new ethers.SigningKey("0x" + "46".repeat(32));
const authority = new ethers.SigningKey("0x" + "47".repeat(32));
const A = "0x3535353535353535353535353535353535353535";
const D = "0x1111111111111111111111111111111111111111";
const H = (b) => "0x01" + b.repeat(31);

function hex(x) { return x.startsWith("0x") ? x.slice(2) : x; }
function q(v) { return "0x" + BigInt(v).toString(16); }

function signAuth(a) {
  const he = ethers.hashAuthorization({ chainId: a.chainId, address: a.address, nonce: a.nonce });
  const hv = vutils.hashAuthorization({ chainId: Number(a.chainId) <= Number.MAX_SAFE_INTEGER ? Number(a.chainId) : a.chainId,
    contractAddress: a.address, nonce: Number(a.nonce) <= Number.MAX_SAFE_INTEGER ? Number(a.nonce) : a.nonce });
  assert.strictEqual(he, hv, "authorization hash differs");
  const sig = authority.sign(he);
  return { ...a, hash: he, sig };
}

const auths = [
  signAuth({ chainId: 1n, address: D, nonce: 0n }),
  signAuth({ chainId: 0n, address: A, nonce: 18446744073709551615n }),
  signAuth({ chainId: (1n << 256n) - 1n, address: D, nonce: 5n }),
];
for (const a of auths)
  assert.strictEqual(ethers.verifyAuthorization({ chainId: a.chainId, address: a.address, nonce: a.nonce }, a.sig),
    ethers.computeAddress(authority.publicKey));

const txs = [
  { name: "blob_min", type: 3, chainId: 1n, nonce: 0n, maxPriorityFeePerGas: 1n, maxFeePerGas: 2n, gasLimit: 21000n,
    to: A, value: 0n, data: "0x", accessList: [], maxFeePerBlobGas: 1n, blobVersionedHashes: [H("aa")] },
  { name: "blob_full", type: 3, chainId: 11155111n, nonce: 9n, maxPriorityFeePerGas: 2000000000n,
    maxFeePerGas: 30000000000n, gasLimit: 100000n, to: A, value: 1000000000000000000n, data: "0xdeadbeef",
    accessList: [{ address: D, storageKeys: ["0x" + "00".repeat(31) + "01"] }],
    maxFeePerBlobGas: 123456789012345678901234567890n, blobVersionedHashes: [H("bb"), H("cc"), H("dd")] },
  { name: "setcode_one", type: 4, chainId: 1n, nonce: 3n, maxPriorityFeePerGas: 1000000000n,
    maxFeePerGas: 20000000000n, gasLimit: 60000n, to: A, value: 0n, data: "0x", accessList: [],
    authorizationList: [auths[0]] },
  { name: "setcode_three", type: 4, chainId: 31337n, nonce: 0n, maxPriorityFeePerGas: 0n, maxFeePerGas: 7n,
    gasLimit: 1000000n, to: D, value: 5n, data: "0x0102", accessList: [{ address: A, storageKeys: [] }],
    authorizationList: auths },
];

function ethersTx(t) {
  const o = { type: t.type, chainId: t.chainId, nonce: Number(t.nonce), maxPriorityFeePerGas: t.maxPriorityFeePerGas,
    maxFeePerGas: t.maxFeePerGas, gasLimit: t.gasLimit, to: t.to, value: t.value, data: t.data, accessList: t.accessList };
  if (t.type === 3) { o.maxFeePerBlobGas = t.maxFeePerBlobGas; o.blobVersionedHashes = t.blobVersionedHashes; }
  if (t.type === 4) o.authorizationList = t.authorizationList.map((a) => ({ chainId: a.chainId, address: a.address, nonce: a.nonce, signature: a.sig }));
  return ethers.Transaction.from(o);
}

function viemTx(t) {
  const o = { type: t.type === 3 ? "eip4844" : "eip7702", chainId: Number(t.chainId), nonce: Number(t.nonce),
    maxPriorityFeePerGas: t.maxPriorityFeePerGas, maxFeePerGas: t.maxFeePerGas, gas: t.gasLimit, to: t.to, value: t.value,
    data: t.data, accessList: t.accessList };
  if (t.type === 3) { o.maxFeePerBlobGas = t.maxFeePerBlobGas; o.blobVersionedHashes = t.blobVersionedHashes; }
  if (t.type === 4) o.authorizationList = t.authorizationList.map((a) => ({ chainId: a.chainId <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(a.chainId) : a.chainId,
    address: a.address, nonce: a.nonce <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(a.nonce) : a.nonce,
    r: a.sig.r, s: a.sig.s, yParity: a.sig.yParity }));
  return o;
}

function rlpAccessList(al) {
  return hex(ethers.encodeRlp(al.map((e) => [e.address, e.storageKeys])));
}

function rlpAuthList(al) {
  const n = (v) => (v === 0n ? "0x" : ethers.toBeHex(v));
  return hex(ethers.encodeRlp(al.map((a) => [n(a.chainId), a.address, n(a.nonce), n(BigInt(a.sig.yParity)), n(BigInt(a.sig.r)), n(BigInt(a.sig.s))])));
}

const out = [];
for (const t of txs) {
  const et = ethersTx(t);
  const vo = viemTx(t);
  const unsignedE = et.unsignedSerialized;
  const unsignedV = viem.serializeTransaction(vo);
  assert.strictEqual(unsignedE, unsignedV, t.name + ": unsigned differs");
  const hashE = et.unsignedHash;
  assert.strictEqual(hashE, viem.keccak256(unsignedV), t.name + ": hash differs");
  const sig = sender.sign(hashE);
  et.signature = sig;
  const signedE = et.serialized;
  const signedV = viem.serializeTransaction(vo, { r: sig.r, s: sig.s, yParity: sig.yParity });
  assert.strictEqual(signedE, signedV, t.name + ": signed differs");
  // viem's parser takes authorization nonces and chain ids as JS numbers (<= 2^53 - 1): it
  // parses the cases that fit; ethers parses every case.
  const big = t.type === 4 && t.authorizationList.some((a) => a.nonce > 9007199254740991n || a.chainId > 9007199254740991n);
  const pe = ethers.Transaction.from(signedE);
  assert.strictEqual(pe.unsignedHash, hashE);
  if (t.type === 4) assert.deepStrictEqual(pe.authorizationList.map((a) => [a.chainId, a.address, a.nonce]),
    t.authorizationList.map((a) => [a.chainId, ethers.getAddress(a.address), a.nonce]));
  const p = big ? { to: pe.to, nonce: pe.nonce, maxFeePerGas: pe.maxFeePerGas, authorizationList: pe.authorizationList }
    : viem.parseTransaction(signedV);
  assert.strictEqual(p.to.toLowerCase(), t.to.toLowerCase());
  assert.strictEqual(BigInt(p.nonce ?? 0), t.nonce);
  assert.strictEqual(p.maxFeePerGas, t.maxFeePerGas);
  if (t.type === 3) assert.deepStrictEqual(p.blobVersionedHashes, t.blobVersionedHashes);
  if (t.type === 4) assert.strictEqual(p.authorizationList.length, t.authorizationList.length);
  assert.strictEqual(ethers.Transaction.from(signedE).from, ethers.computeAddress(sender.publicKey));
  out.push(`    {"${t.name}", ${t.type}, ${t.chainId}u, ${t.nonce}u, "${hex(q(t.maxPriorityFeePerGas))}", "${hex(q(t.maxFeePerGas))}", ` +
    `${t.gasLimit}u, "${hex(t.to)}", "${hex(q(t.value))}", "${hex(t.data)}", "${rlpAccessList(t.accessList)}", ` +
    `"${t.type === 3 ? hex(q(t.maxFeePerBlobGas)) : "0"}", "${t.type === 3 ? t.blobVersionedHashes.map(hex).join("") : ""}", ` +
    `"${t.type === 4 ? rlpAuthList(t.authorizationList) : ""}",\n     "${hex(unsignedE)}",\n     "${hex(hashE)}",\n     "${hex(signedE)}"},`);
}
console.log("/* txs: name, type, chain, nonce, tip, fee, gas, to, value, data, access list rlp, blob fee, blob hashes, auth list rlp, unsigned, hash, signed */");
console.log(out.join("\n"));
console.log("/* auths: chain id (hex), address, nonce, digest, y_parity, r, s */");
for (const a of auths)
  console.log(`    {"${hex(q(a.chainId))}", "${hex(a.address)}", ${a.nonce}u, "${hex(a.hash)}", ${a.sig.yParity}, "${hex(a.sig.r)}", "${hex(a.sig.s)}"},`);
console.log(`/* authority: ${ethers.computeAddress(authority.publicKey)} */`);
// EIP-4844 kzg_to_versioned_hash: viem commitmentToVersionedHash, and ethers sha256 with the
// first byte replaced by 0x01.
console.log("/* versioned hashes: commitment, hash */");
for (const c of ["0xc0" + "00".repeat(47), "0x" + [...Array(48).keys()].map((i) => i.toString(16).padStart(2, "0")).join("")]) {
  const v = viem.commitmentToVersionedHash({ commitment: c, to: "hex" });
  const e = "0x01" + ethers.sha256(c).slice(4);
  assert.strictEqual(v, e, "versioned hash differs");
  console.log(`    {"${hex(c)}", "${hex(v)}"},`);
}
// EIP-4844 network form (signed transaction with its sidecar): one all-zero blob, whose
// commitment and proof are both the G1 point at infinity (0xc0 || 47 zero bytes). ethers
// (tx.blobs) and viem (sidecars) must agree; printed: the signed tx, length and keccak256.
{
  const c = "0xc0" + "00".repeat(47);
  const vh = viem.commitmentToVersionedHash({ commitment: c, to: "hex" });
  const blob = "0x" + "00".repeat(131072);
  const f = { chainId: 1n, nonce: 0, maxPriorityFeePerGas: 1n, maxFeePerGas: 2n, gasLimit: 21000n, to: A,
    value: 0n, data: "0x", accessList: [], maxFeePerBlobGas: 1n, blobVersionedHashes: [vh] };
  const et = ethers.Transaction.from({ type: 3, ...f });
  const sig = sender.sign(et.unsignedHash);
  et.signature = sig;
  const signed = et.serialized;
  et.blobs = [{ data: blob, proof: c, commitment: c }];
  const net = et.serialized;
  const { gasLimit, ...vf } = f;
  const vnet = viem.serializeTransaction({ type: "eip4844", ...vf, chainId: 1, gas: gasLimit,
    sidecars: [{ blob, commitment: c, proof: c }] }, { r: sig.r, s: sig.s, yParity: sig.yParity });
  assert.strictEqual(net, vnet, "network form differs");
  console.log("/* blob network form: signed, length, keccak256 */");
  console.log(`    "${hex(signed)}", ${(net.length - 2) / 2}u, "${hex(ethers.keccak256(net))}"`);
}
