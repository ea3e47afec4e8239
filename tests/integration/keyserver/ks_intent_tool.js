// ks_intent_tool.js - the independent side of test_ks_intent.sh: builds intents with ethers v6
// and checks the key server's signatures against the digest ETHERS computes from the same intent
// (never the key server's own). Usage:
//   node ks_intent_tool.js tx TYPE CHAIN_ID TO VALUE_WEI [DATA]  -> intent JSON (eth_transaction,
//        types 0..4; type 3 with one blob hash, type 4 with one authorization signed by ethers)
//   node ks_intent_tool.js typed NAME CHAIN_ID CONTRACT            -> intent JSON (eip712_typed_data)
//   node ks_intent_tool.js digest INTENT_JSON                      -> base64 of ethers' digest
//   node ks_intent_tool.js verify INTENT_JSON SIG_B64 ADDRESS      -> exit 0 if the DER signature
//        over ethers' digest recovers to ADDRESS (either recovery id), else 1
const path = require("path");
const src = process.env.AK_SOURCE_DIR || path.join(__dirname, "..", "..", "..");
const ethers = require(path.join(src, "tests", "tools", "node_modules", "ethers"));

function txIntent(type, chainId, to, value, data) {
  const t = { type: Number(type), chainId: BigInt(chainId), nonce: 1, gasLimit: 100000n, to,
    value: BigInt(value), data: data || "0x" };
  if (t.type >= 2) { t.maxPriorityFeePerGas = 1000000000n; t.maxFeePerGas = 2000000000n; }
  else t.gasPrice = 1000000000n;
  if (t.type >= 1) t.accessList = [];
  if (t.type === 3) { t.maxFeePerBlobGas = 1n; t.blobVersionedHashes = ["0x01" + "ab".repeat(31)]; }
  if (t.type === 4) {
    const auth = { chainId: t.chainId, address: "0x" + "77".repeat(20), nonce: 0n };
    const k = new ethers.SigningKey("0x" + "47".repeat(32));
    t.authorizationList = [{ ...auth, signature: k.sign(ethers.hashAuthorization(auth)) }];
  }
  return { kind: "eth_transaction", payload: ethers.Transaction.from(t).unsignedSerialized };
}

const MAIL_TYPES = {
  Person: [{ name: "name", type: "string" }, { name: "wallet", type: "address" }],
  Mail: [{ name: "from", type: "Person" }, { name: "to", type: "Person" }, { name: "contents", type: "string" }],
};
function typedIntent(name, chainId, contract) {
  return { kind: "eip712_typed_data", typed_data: {
    types: { EIP712Domain: [{ name: "name", type: "string" }, { name: "chainId", type: "uint256" },
      { name: "verifyingContract", type: "address" }], ...MAIL_TYPES },
    primaryType: "Mail", domain: { name, chainId: Number(chainId), verifyingContract: contract },
    message: { from: { name: "A", wallet: "0x" + "aa".repeat(20) }, to: { name: "B", wallet: "0x" + "bb".repeat(20) },
      contents: "hello" } } };
}

function digestOf(intent) {
  switch (intent.kind) {
    case "eth_transaction": return ethers.keccak256(intent.payload);
    case "eip191_message": return ethers.hashMessage(ethers.getBytes(intent.message));
    case "eip712_typed_data": {
      const { EIP712Domain, ...types } = intent.typed_data.types;
      return ethers.TypedDataEncoder.hash(intent.typed_data.domain, types, intent.typed_data.message);
    }
    case "eip7702_authorization":
      return ethers.hashAuthorization({ chainId: BigInt(intent.chain_id), address: intent.address, nonce: BigInt(intent.nonce) });
    case "erc4337_paymaster": { // VerifyingPaymaster v0.7 getHash, then toEthSignedMessageHash
      const op = intent.user_operation, q = (x) => BigInt(x || 0);
      const pack = (hi, lo) => ethers.concat([ethers.zeroPadValue(ethers.toBeHex(q(hi)), 16), ethers.zeroPadValue(ethers.toBeHex(q(lo)), 16)]);
      const initCode = op.factory ? ethers.concat([op.factory, op.factoryData || "0x"]) : "0x";
      const h = ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(
        ["address", "uint256", "bytes32", "bytes32", "bytes32", "uint256", "uint256", "bytes32", "uint256", "address", "uint48", "uint48"],
        [op.sender, q(op.nonce), ethers.keccak256(initCode), ethers.keccak256(op.callData), pack(op.verificationGasLimit, op.callGasLimit),
          BigInt(pack(op.paymasterVerificationGasLimit, op.paymasterPostOpGasLimit)), q(op.preVerificationGas),
          pack(op.maxPriorityFeePerGas, op.maxFeePerGas), q(intent.chain_id), intent.paymaster, q(intent.valid_until), q(intent.valid_after)]));
      return ethers.hashMessage(ethers.getBytes(h));
    }
    case "op_block_payload":
      return ethers.keccak256(ethers.concat([intent.domain, ethers.zeroPadValue(ethers.toBeHex(BigInt(intent.chain_id)), 32),
        intent.payload_hash]));
    default: throw new Error("no independent digest for " + intent.kind);
  }
}

// DER SEQUENCE{INTEGER r, INTEGER s} -> [r, s] as 32-byte hex
function derToRS(der) {
  let i = 2;
  const ints = [];
  for (let k = 0; k < 2; k++) {
    if (der[i] !== 0x02) throw new Error("bad DER");
    const len = der[i + 1];
    ints.push(ethers.zeroPadValue(ethers.toBeHex(BigInt(ethers.hexlify(der.subarray(i + 2, i + 2 + len)))), 32));
    i += 2 + len;
  }
  return ints;
}

const [cmd, ...a] = process.argv.slice(2);
if (cmd === "tx") console.log(JSON.stringify(txIntent(...a)));
else if (cmd === "typed") console.log(JSON.stringify(typedIntent(...a)));
else if (cmd === "digest") console.log(Buffer.from(ethers.getBytes(digestOf(JSON.parse(a[0])))).toString("base64"));
else if (cmd === "verify") {
  const d = digestOf(JSON.parse(a[0]));
  const [r, s] = derToRS(Buffer.from(a[1], "base64"));
  const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const sl = BigInt(s) > N / 2n ? ethers.zeroPadValue(ethers.toBeHex(N - BigInt(s)), 32) : s; // low-s form
  const ok = [27, 28].some((v) => ethers.recoverAddress(d, { r, s: sl, v }).toLowerCase() === a[2].toLowerCase());
  process.exit(ok ? 0 : 1);
} else { console.error("usage: see the header"); process.exit(2); }
