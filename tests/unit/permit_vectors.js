// Independent known-answer vectors for tests/unit/test_permit.c (never our own output).
// Run: cd tests/tools && node ../unit/permit_vectors.js
// Real value-moving EIP-712 structures: ERC-2612 (USDC on mainnet), DAI's permit, and Uniswap
// Permit2's PermitSingle / PermitBatch / PermitTransferFrom / PermitBatchTransferFrom. The script
// first checks that ethers' encodeType of each primary type is the type string the contracts
// hash (EIP-2612; DAI's PERMIT_TYPEHASH; Permit2's PermitHash.sol), then hashes each case with
// ethers v6 TypedDataEncoder.hash and viem hashTypedData and fails unless both agree.
// Prints C initialisers: {label, json, digest}.
const path = require("path");
const tools = path.join(__dirname, "..", "tools", "node_modules");
const ethers = require(path.join(tools, "ethers"));
const viem = require(path.join(tools, "viem"));

const CANON = {
  erc2612: "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)",
  dai: "Permit(address holder,address spender,uint256 nonce,uint256 expiry,bool allowed)",
  single: "PermitSingle(PermitDetails details,address spender,uint256 sigDeadline)PermitDetails(address token,uint160 amount,uint48 expiration,uint48 nonce)",
  batch: "PermitBatch(PermitDetails[] details,address spender,uint256 sigDeadline)PermitDetails(address token,uint160 amount,uint48 expiration,uint48 nonce)",
  xfer: "PermitTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline)TokenPermissions(address token,uint256 amount)",
  bxfer: "PermitBatchTransferFrom(TokenPermissions[] permitted,address spender,uint256 nonce,uint256 deadline)TokenPermissions(address token,uint256 amount)",
};
// Published type hashes: EIP-2612's PERMIT_TYPEHASH and DAI's (dai.sol).
const KNOWN_TYPEHASH = {
  erc2612: "0x6e71edae12b1b97f4d1f60370fef10105fa2faae0126114a169c64845d6126c9",
  dai: "0xea2aa0a1be11a07ed86d755c93467f4f82362b452371d1ba94d1715123511acb",
};
const USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
const DAI = "0x6B175474E89094C44Da98b954EedeAC495271d0F";
const WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2";
const P2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3";
const OWNER = "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826";
const SPENDER = "0x3fC91A3afd70395Cd496C647d5a6CC9D4B2b7FAD"; // Uniswap Universal Router
const MAX256 = (2n ** 256n - 1n).toString();
const MAX160 = (2n ** 160n - 1n).toString();

const T = {
  erc2612: { Permit: [{ name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }] },
  dai: { Permit: [{ name: "holder", type: "address" }, { name: "spender", type: "address" }, { name: "nonce", type: "uint256" }, { name: "expiry", type: "uint256" }, { name: "allowed", type: "bool" }] },
  single: { PermitSingle: [{ name: "details", type: "PermitDetails" }, { name: "spender", type: "address" }, { name: "sigDeadline", type: "uint256" }], PermitDetails: [{ name: "token", type: "address" }, { name: "amount", type: "uint160" }, { name: "expiration", type: "uint48" }, { name: "nonce", type: "uint48" }] },
  batch: { PermitBatch: [{ name: "details", type: "PermitDetails[]" }, { name: "spender", type: "address" }, { name: "sigDeadline", type: "uint256" }], PermitDetails: [{ name: "token", type: "address" }, { name: "amount", type: "uint160" }, { name: "expiration", type: "uint48" }, { name: "nonce", type: "uint48" }] },
  xfer: { PermitTransferFrom: [{ name: "permitted", type: "TokenPermissions" }, { name: "spender", type: "address" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }], TokenPermissions: [{ name: "token", type: "address" }, { name: "amount", type: "uint256" }] },
  bxfer: { PermitBatchTransferFrom: [{ name: "permitted", type: "TokenPermissions[]" }, { name: "spender", type: "address" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }], TokenPermissions: [{ name: "token", type: "address" }, { name: "amount", type: "uint256" }] },
};
const PRIMARY = { erc2612: "Permit", dai: "Permit", single: "PermitSingle", batch: "PermitBatch", xfer: "PermitTransferFrom", bxfer: "PermitBatchTransferFrom" };
for (const k of Object.keys(CANON)) {
  const enc = ethers.TypedDataEncoder.from(T[k]).encodeType(PRIMARY[k]);
  if (enc !== CANON[k]) throw new Error(`${k}: encodeType ${enc}`);
  if (KNOWN_TYPEHASH[k] && ethers.id(enc) !== KNOWN_TYPEHASH[k]) throw new Error(`${k}: typehash`);
}

const domFull = [{ name: "name", type: "string" }, { name: "version", type: "string" }, { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }];
const domP2 = [{ name: "name", type: "string" }, { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }];
const usdcDomain = { name: "USD Coin", version: "2", chainId: 1, verifyingContract: USDC };
const daiDomain = { name: "Dai Stablecoin", version: "1", chainId: 1, verifyingContract: DAI };
const p2Domain = { name: "Permit2", chainId: 1, verifyingContract: P2 };
const cases = [
  ["usdc_permit", domFull, usdcDomain, "erc2612", { owner: OWNER, spender: SPENDER, value: "1000000", nonce: 0, deadline: "1767225600" }],
  ["usdc_permit_max", domFull, usdcDomain, "erc2612", { owner: OWNER, spender: SPENDER, value: MAX256, nonce: 7, deadline: "0x6955b900" }],
  ["dai_permit", domFull, daiDomain, "dai", { holder: OWNER, spender: SPENDER, nonce: 3, expiry: "1767225600", allowed: true }],
  ["dai_revoke", domFull, daiDomain, "dai", { holder: OWNER, spender: SPENDER, nonce: 4, expiry: 0, allowed: false }],
  ["permit2_single", domP2, p2Domain, "single", { details: { token: USDC, amount: MAX160, expiration: 1767225600, nonce: 0 }, spender: SPENDER, sigDeadline: "1767225600" }],
  ["permit2_batch", domP2, p2Domain, "batch", { details: [{ token: USDC, amount: "5000000", expiration: 1767225600, nonce: 1 }, { token: WETH, amount: "1000000000000000000", expiration: 1767225600, nonce: 0 }], spender: SPENDER, sigDeadline: "1767225600" }],
  ["permit2_transfer_from", domP2, p2Domain, "xfer", { permitted: { token: DAI, amount: "250000000000000000000" }, spender: SPENDER, nonce: "12345", deadline: "1767225600" }],
  ["permit2_batch_transfer_from", domP2, p2Domain, "bxfer", { permitted: [{ token: DAI, amount: "1" }, { token: WETH, amount: "2" }], spender: SPENDER, nonce: 9, deadline: "1767225600" }],
];
for (const [label, domTypes, domain, k, message] of cases) {
  const e = ethers.TypedDataEncoder.hash(domain, T[k], message);
  const v = viem.hashTypedData({ domain, types: T[k], primaryType: PRIMARY[k], message });
  if (e !== v) throw new Error(`${label}: ethers ${e} != viem ${v}`);
  const json = JSON.stringify({ types: { EIP712Domain: domTypes, ...T[k] }, primaryType: PRIMARY[k], domain, message });
  console.log(`    {"${label}",\n     ${JSON.stringify(json)},\n     "${e.slice(2)}"},`);
}
