// Independent known-answer vectors for tests/unit/test_opsig.c (never our own output).
// Run: cd tests/tools && node ../unit/opsig_vectors.js
// The OP Stack block signing hash (op-service/signer BlockSigningMessage.ToSigningHash, specs
// rollup-node-p2p "Block signatures"): keccak256(domain || uint256(chainId) || payloadHash), with
// payloadHash = keccak256(payload), computed with ethers; and the signature r || s || yParity
// of the 0x46..46 key over it (ethers SigningKey, RFC 6979 like libsecp256k1). The first case is
// TestBlockPayloadArgs of op-service/signer/blockpayload_args_test.go, whose expected hash
// (0xc724de7a...) the script asserts too.
const path = require("path");
const assert = require("assert");
const ethers = require(path.join(__dirname, "..", "tools", "node_modules", "ethers"));

const key = new ethers.SigningKey("0x" + "46".repeat(32));
function signingHash(domain, chainId, payloadHash) {
  return ethers.keccak256(ethers.concat([domain, ethers.zeroPadValue(ethers.toBeHex(chainId), 32), payloadHash]));
}
const cases = [
  { domain: ethers.zeroPadBytes("0x7b2a", 32), chainId: 100n, payload: ethers.toUtf8Bytes("arbitraryData") },
  { domain: ethers.ZeroHash, chainId: 901n, payload: ethers.toUtf8Bytes("an execution payload") },
  { domain: ethers.ZeroHash, chainId: 11155420n, payload: new Uint8Array(0) },
];
console.log("/* domain, chain id, payload (hex), payload hash, payload hash (base64), signing hash, r||s||yParity */");
for (const c of cases) {
  const ph = ethers.keccak256(c.payload);
  const h = signingHash(c.domain, c.chainId, ph);
  if (c.chainId === 100n)
    assert.strictEqual(h, "0xc724de7aefa316a12cbbd5edc39d512830598cce5d6ac81d1b518ef69450ad77");
  const sig = key.sign(h);
  const rsv = ethers.concat([sig.r, sig.s, sig.yParity ? "0x01" : "0x00"]);
  assert.strictEqual(ethers.recoverAddress(h, { r: sig.r, s: sig.s, yParity: sig.yParity }), ethers.computeAddress(key.publicKey));
  console.log(`    {"${c.domain.slice(2)}", ${c.chainId}u, "${ethers.hexlify(c.payload).slice(2)}", "${ph.slice(2)}",\n     "${ethers.encodeBase64(ph)}",\n     "${h.slice(2)}",\n     "${rsv.slice(2)}"},`);
}
