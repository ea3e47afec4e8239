// Independent known-answer vectors for tests/unit/test_eip712.c (never our own output).
// Run: cd tests/tools && node ../unit/eip712_vectors.js
// Each case is hashed by ethers v6 TypedDataEncoder.hash(domain, types, message) (types without
// EIP712Domain) and by viem hashTypedData({domain, types, primaryType, message}); the script
// fails unless both agree (or, for "viem-only" cases whose declared EIP712Domain is not in
// ethers' canonical order, uses viem alone). Prints C initialisers: {label, json, digest}.
const path = require("path");
const tools = path.join(__dirname, "..", "tools", "node_modules");
const ethers = require(path.join(tools, "ethers"));
const viem = require(path.join(tools, "viem"));

const A1 = "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826";
const A2 = "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB";
const A3 = "0x1111111111111111111111111111111111111111";
const mailTypes = {
  Person: [{ name: "name", type: "string" }, { name: "wallet", type: "address" }],
  Mail: [{ name: "from", type: "Person" }, { name: "to", type: "Person" }, { name: "contents", type: "string" }],
};
const fullDomain = [
  { name: "name", type: "string" }, { name: "version", type: "string" },
  { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" },
];
const cases = [];
function add(label, domainTypes, domain, types, primaryType, message, viemOnly) {
  cases.push({ label, domainTypes, domain, types, primaryType, message, viemOnly });
}

// 1. The EIP-712 specification's example (assets/eip-712/Example.js).
add("mail", fullDomain,
  { name: "Ether Mail", version: "1", chainId: 1, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" },
  mailTypes, "Mail",
  { from: { name: "Cow", wallet: A1 }, to: { name: "Bob", wallet: "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB" }, contents: "Hello, Bob!" });

// 2. Nested arrays of structs, arrays of arrays, empty arrays.
add("nested", fullDomain.slice(0, 3), { name: "Nest", version: "2", chainId: "0x89" },
  {
    Group: [
      { name: "title", type: "string" }, { name: "members", type: "Person[]" },
      { name: "pairs", type: "Person[2][]" }, { name: "grid", type: "uint8[2][3]" },
      { name: "none", type: "Person[]" }, { name: "tags", type: "string[]" }, { name: "blobs", type: "bytes[]" },
    ],
    Person: [{ name: "name", type: "string" }, { name: "wallets", type: "address[]" }, { name: "pet", type: "Animal" }],
    Animal: [{ name: "kind", type: "string" }, { name: "legs", type: "uint8" }],
  }, "Group",
  {
    title: "g",
    members: [
      { name: "a", wallets: [A1, A2], pet: { kind: "cat", legs: 4 } },
      { name: "b", wallets: [], pet: { kind: "bird", legs: "2" } },
    ],
    pairs: [[{ name: "c", wallets: [A3], pet: { kind: "x", legs: 0 } }, { name: "d", wallets: [], pet: { kind: "y", legs: "0x1" } }]],
    grid: [[1, 2], [3, 4], [5, 255]],
    none: [], tags: ["x", "", "z"], blobs: ["0x", "0xdeadbeef"],
  });

// 3. Integer edges: int8 -128/127, uint256 max, int256 min/-1, hex and decimal strings.
add("ints", [{ name: "chainId", type: "uint256" }], { chainId: 10 },
  {
    Ints: [
      { name: "a", type: "int8" }, { name: "b", type: "int8" }, { name: "c", type: "uint256" },
      { name: "d", type: "int256" }, { name: "e", type: "int256" }, { name: "f", type: "uint8" },
      { name: "g", type: "int16" }, { name: "h", type: "uint64" }, { name: "i", type: "int64" },
      { name: "j", type: "uint32" }, { name: "k", type: "int24" }, { name: "l", type: "uint256" },
    ],
  }, "Ints",
  {
    a: -128, b: 127, c: "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    d: "-57896044618658097711785492504343953926634992332820282019728792003956564819968", e: "-1",
    f: 255, g: -32768, h: "18446744073709551615", i: -9007199254740991, j: "0x00ff", k: "-0", l: "007",
  });

// 4. bytesN, dynamic bytes (crossing the 128-byte decode chunk), unicode strings, bools.
add("bytes", [{ name: "name", type: "string" }], { name: "B\u00e9" },
  {
    Blob: [
      { name: "b1", type: "bytes1" }, { name: "b32", type: "bytes32" }, { name: "b5", type: "bytes5" },
      { name: "dyn", type: "bytes" }, { name: "empty", type: "bytes" }, { name: "s", type: "string" },
      { name: "u", type: "string" }, { name: "t", type: "bool" }, { name: "f", type: "bool" },
    ],
  }, "Blob",
  {
    b1: "0xab", b32: "0x" + "0123456789abcdef".repeat(4), b5: "0xDEADBEEF01",
    dyn: "0x" + "00112233445566778899aabbccddeeff".repeat(19), empty: "0x",
    s: "", u: "h\u00e9llo \u4e16\u754c \ud83c\udf0d", t: true, f: false,
  });

// 5. Domain with every field including salt.
add("salt", fullDomain.concat([{ name: "salt", type: "bytes32" }]),
  { name: "S", version: "1", chainId: "1", verifyingContract: A3, salt: "0x" + "f".repeat(64) },
  { M: [{ name: "x", type: "uint256" }] }, "M", { x: 1 });

// 6. Domain with only some fields (chainId, verifyingContract), and an empty domain.
add("partial", [{ name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }],
  { chainId: 5, verifyingContract: A1.toLowerCase() },
  { M: [{ name: "x", type: "bytes32" }] }, "M", { x: "0x" + "00".repeat(31) + "01" });
add("emptydomain", [], {}, { M: [] }, "M", {});

// 7. EIP712Domain declared out of ethers' canonical order (viem honours the declared order).
add("reordered", [{ name: "verifyingContract", type: "address" }, { name: "name", type: "string" }],
  { verifyingContract: A2, name: "R" }, { M: [{ name: "x", type: "string" }] }, "M", { x: "y" }, true);

const out = [];
for (const c of cases) {
  const v = viem.hashTypedData({
    domain: c.domain, types: Object.assign({ EIP712Domain: c.domainTypes }, c.types),
    primaryType: c.primaryType, message: c.message,
  });
  if (!c.viemOnly) {
    const e = ethers.TypedDataEncoder.hash(c.domain, c.types, c.message);
    if (e !== v) throw new Error(`${c.label}: ethers ${e} != viem ${v}`);
  }
  const json = JSON.stringify({
    types: Object.assign({ EIP712Domain: c.domainTypes }, c.types),
    primaryType: c.primaryType, domain: c.domain, message: c.message,
  });
  out.push(`    {"${c.label}", ${JSON.stringify(json)},\n     "${v.slice(2)}"},`);
}
console.log(out.join("\n"));
// The same Mail data without EIP712Domain in types (domain derived from the domain object).
const m = cases[0];
console.log("mail domain separator:", ethers.TypedDataEncoder.hashDomain(m.domain));
console.log("mail message hash:", ethers.TypedDataEncoder.from(m.types).hash(m.message));
