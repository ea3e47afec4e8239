// connector_security.mjs - issue 18's connector findings replayed as an attacker would, against
// a real anvil (--accounts 0) and anode-connector with the local signer; signatures judged by
// ethers v6. Typed data under an account policy (ERC-2612 / DAI / Permit2 permits to a spender
// outside allowed_to or above the cap refused, inside signed and accepted by verifyTypedData;
// typed data the policy cannot judge; no domain chainId), 32-byte messages on a limited account.
import {
  assert, assertEq, localAccount, makeRunner, rpcRaw, startAnvil, startConnector, tmpDir, toolsRequire,
} from '../lib/stack.mjs';

const { ethers } = toolsRequire('ethers');
const dir = tmpDir('ak-cn-sec-');
const { t, run } = makeRunner('connector_security');
const s = {};

const USDC = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const DAI = '0x6B175474E89094C44Da98b954EedeAC495271d0F';
const PERMIT2 = '0x000000000022D473030F116dDEE9F6B43aC78BA3';
const SPENDER = '0x3fC91A3afd70395Cd496C647d5a6CC9D4B2b7FAD';
const EVIL = ethers.getAddress('0x' + 'e'.repeat(40));
const MAX256 = 2n ** 256n - 1n;
const CHAIN = 31337;

const permitTypes = { Permit: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' }, { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] };
const daiTypes = { Permit: [{ name: 'holder', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'nonce', type: 'uint256' }, { name: 'expiry', type: 'uint256' }, { name: 'allowed', type: 'bool' }] };
const singleTypes = {
  PermitSingle: [{ name: 'details', type: 'PermitDetails' }, { name: 'spender', type: 'address' }, { name: 'sigDeadline', type: 'uint256' }],
  PermitDetails: [{ name: 'token', type: 'address' }, { name: 'amount', type: 'uint160' }, { name: 'expiration', type: 'uint48' }, { name: 'nonce', type: 'uint48' }],
};
const xferTypes = {
  PermitTransferFrom: [{ name: 'permitted', type: 'TokenPermissions' }, { name: 'spender', type: 'address' }, { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }],
  TokenPermissions: [{ name: 'token', type: 'address' }, { name: 'amount', type: 'uint256' }],
};
const usdcDomain = { name: 'USD Coin', version: '2', chainId: CHAIN, verifyingContract: USDC };
const daiDomain = { name: 'Dai Stablecoin', version: '1', chainId: CHAIN, verifyingContract: DAI };
const p2Domain = { name: 'Permit2', chainId: CHAIN, verifyingContract: PERMIT2 };

// The full eth_signTypedData_v4 object (ethers sends it as a JSON string: so do we, sometimes).
function full(domain, types, primaryType, message) {
  const dt = Object.keys(domain).map((k) => ({
    name: k, type: { name: 'string', version: 'string', chainId: 'uint256', verifyingContract: 'address' }[k],
  }));
  return { types: { EIP712Domain: dt, ...types }, primaryType, domain, message: JSON.parse(JSON.stringify(message, (k, v) => (typeof v === 'bigint' ? v.toString() : v))) };
}

async function signTyped(addr, domain, types, primaryType, message, asString) {
  const td = full(domain, types, primaryType, message);
  return rpcRaw(s.conn.url, 'eth_signTypedData_v4', [addr, asString ? JSON.stringify(td) : td]);
}

function refused(j, rule, what) {
  assert(j.error, `${what}: refused (${JSON.stringify(j)})`);
  assertEq(j.error.code, -32003, `${what}: -32003`);
  assert(j.error.message.includes(`policy rule ${rule}`), `${what}: names ${rule}: ${j.error.message}`);
}

t('start anvil and the connector: one limited account, one without a policy', async () => {
  s.anvil = await startAnvil();
  s.limited = localAccount(dir);
  s.free = localAccount(dir);
  s.tokens = localAccount(dir);
  s.conn = await startConnector({
    config: {
      accounts: [
        // the account: max_value_wei 0, a spender list, typed data allowed by allowed_methods
        { ...s.limited.config, policy: { max_value_wei: '0', allowed_to: [SPENDER] } },
        s.free.config,
        { ...s.tokens.config, policy: { allowed_to: [SPENDER], token_caps: { [USDC]: '1000000' }, allow_hash_like_messages: true, allow_typed_data_without_chain_id: true } },
      ],
    },
    downstreamUrl: s.anvil.url,
    dir,
  });
});

t('attacker: an ERC-2612 permit for 2^256-1 to a spender outside allowed_to is refused', async () => {
  const msg = { owner: s.limited.address, spender: EVIL, value: MAX256, nonce: 0, deadline: 2n ** 40n };
  refused(await signTyped(s.limited.address, usdcDomain, permitTypes, 'Permit', msg), 'spender_not_allowed', 'permit to EVIL');
  refused(await signTyped(s.limited.address, usdcDomain, permitTypes, 'Permit', msg, true), 'spender_not_allowed', 'same as a JSON string');
  // inside allowed_to but above max_value_wei (0)
  refused(await signTyped(s.limited.address, usdcDomain, permitTypes, 'Permit', { ...msg, spender: SPENDER }), 'token_amount_over_cap', 'permit above the cap');
});

t('DAI and Permit2 permits are judged the same way', async () => {
  const a = s.limited.address;
  refused(await signTyped(a, daiDomain, daiTypes, 'Permit', { holder: a, spender: SPENDER, nonce: 0, expiry: 0, allowed: true }), 'token_amount_over_cap', 'DAI allowed=true (unlimited)');
  refused(await signTyped(a, daiDomain, daiTypes, 'Permit', { holder: a, spender: EVIL, nonce: 0, expiry: 0, allowed: false }), 'spender_not_allowed', 'DAI to EVIL');
  refused(await signTyped(a, p2Domain, singleTypes, 'PermitSingle', { details: { token: USDC, amount: 2n ** 160n - 1n, expiration: 0, nonce: 0 }, spender: SPENDER, sigDeadline: 1 }), 'token_amount_over_cap', 'Permit2 single');
  refused(await signTyped(a, p2Domain, xferTypes, 'PermitTransferFrom', { permitted: { token: DAI, amount: 1 }, spender: EVIL, nonce: 0, deadline: 1 }), 'spender_not_allowed', 'Permit2 transfer');
  // a DAI revoke (allowed = false, amount 0) to an allowed spender is inside the policy
  const ok = await signTyped(a, daiDomain, daiTypes, 'Permit', { holder: a, spender: SPENDER, nonce: 0, expiry: 0, allowed: false });
  assert(ok.result, `DAI revoke signed: ${JSON.stringify(ok)}`);
  assertEq(ethers.verifyTypedData(daiDomain, daiTypes, { holder: a, spender: SPENDER, nonce: 0, expiry: 0, allowed: false }, ok.result), a, 'verifyTypedData');
});

t('a permit inside allowed_to and token_caps is signed; ethers verifyTypedData accepts it', async () => {
  const a = s.tokens.address;
  const msg = { owner: a, spender: SPENDER, value: 1000000n, nonce: 3, deadline: 2n ** 40n };
  const j = await signTyped(a, usdcDomain, permitTypes, 'Permit', msg, true);
  assert(j.result, `signed: ${JSON.stringify(j)}`);
  assertEq(ethers.verifyTypedData(usdcDomain, permitTypes, msg, j.result), a, 'ERC-2612 permit recovers to the account');
  const p2 = { details: { token: USDC, amount: 999999n, expiration: 1767225600, nonce: 0 }, spender: SPENDER, sigDeadline: 1767225600n };
  const j2 = await signTyped(a, p2Domain, singleTypes, 'PermitSingle', p2);
  assert(j2.result, `Permit2 signed: ${JSON.stringify(j2)}`);
  assertEq(ethers.verifyTypedData(p2Domain, singleTypes, p2, j2.result), a, 'Permit2 PermitSingle recovers to the account');
  refused(await signTyped(a, usdcDomain, permitTypes, 'Permit', { ...msg, value: 1000001n }), 'token_amount_over_cap', 'one unit over the token cap');
  refused(await signTyped(a, usdcDomain, permitTypes, 'Permit', { ...msg, spender: EVIL }), 'spender_not_allowed', 'other spender');
});

t('typed data the policy cannot judge, a look-alike permit, no chainId', async () => {
  const mailTypes = { Mail: [{ name: 'contents', type: 'string' }] };
  refused(await signTyped(s.limited.address, { name: 'x', chainId: CHAIN }, mailTypes, 'Mail', { contents: 'hi' }), 'typed_data_not_judged', 'Mail on a limited account');
  // one more field: not the ERC-2612 structure, so not judged and refused
  const look = { Permit: [...permitTypes.Permit, { name: 'memo', type: 'string' }] };
  refused(await signTyped(s.limited.address, usdcDomain, look, 'Permit', { owner: s.limited.address, spender: SPENDER, value: 0, nonce: 0, deadline: 0, memo: '' }), 'typed_data_not_judged', 'look-alike');
  // without a policy: any typed data with a chainId is signed, without one it is refused
  const free = await signTyped(s.free.address, { name: 'x', chainId: CHAIN }, mailTypes, 'Mail', { contents: 'hi' });
  assertEq(ethers.verifyTypedData({ name: 'x', chainId: CHAIN }, mailTypes, { contents: 'hi' }, free.result), s.free.address, 'no policy: signed');
  refused(await signTyped(s.free.address, { name: 'x' }, mailTypes, 'Mail', { contents: 'hi' }), 'typed_data_no_chain_id', 'no chainId, no policy');
  // allowed explicitly (and a permit without chainId still judged: the spender)
  const nc = await signTyped(s.tokens.address, { name: 'USD Coin', version: '2', verifyingContract: USDC }, permitTypes, 'Permit', { owner: s.tokens.address, spender: SPENDER, value: 5, nonce: 0, deadline: 0 });
  assert(nc.result, `allow_typed_data_without_chain_id: ${JSON.stringify(nc)}`);
});

t('attacker: eth_sign / personal_sign of a 32-byte value on a limited account is refused', async () => {
  const h = ethers.id('anything the policy would refuse');
  refused(await rpcRaw(s.conn.url, 'personal_sign', [h, s.limited.address]), 'message_may_be_hash', 'personal_sign 32 bytes');
  refused(await rpcRaw(s.conn.url, 'eth_sign', [s.limited.address, h]), 'message_may_be_hash', 'eth_sign 32 bytes');
  const text = await rpcRaw(s.conn.url, 'personal_sign', ['0x68656c6c6f', s.limited.address]);
  assertEq(ethers.verifyMessage('hello', text.result), s.limited.address, 'other lengths are signed');
  const allowed = await rpcRaw(s.conn.url, 'personal_sign', [h, s.tokens.address]);
  assertEq(ethers.verifyMessage(ethers.getBytes(h), allowed.result), s.tokens.address, 'allow_hash_like_messages');
  const free = await rpcRaw(s.conn.url, 'personal_sign', [h, s.free.address]);
  assert(free.result, 'no limits: signed');
});

t('bad policy fields are refused at start-up', async () => {
  const { spawnSync } = await import('node:child_process');
  const fs = await import('node:fs');
  const { CONNECTOR } = await import('../lib/stack.mjs');
  const cases = [
    [{ serves: ['transactions'] }, 'policy.serves[0]'],
    [{ serves: [] }, 'policy.serves'],
    [{ token_caps: { '0x12': '1' } }, 'policy.token_caps.0x12'],
    [{ token_caps: { [USDC]: 5 } }, 'policy.token_caps'],
    [{ allow_hash_like_messages: 'yes' }, 'policy.allow_hash_like_messages'],
  ];
  for (const [policy, want] of cases) {
    const f = `${dir}/bad.json`;
    fs.writeFileSync(f, JSON.stringify({ accounts: [{ ...s.free.config, policy }] }));
    const r = spawnSync(CONNECTOR, ['--config', f, '--check-config', '--chain-id', '1'], { encoding: 'utf8' });
    assert(r.status !== 0 && (r.stdout + r.stderr).includes(want), `${want}: ${r.stdout}${r.stderr}`);
  }
});

t('the connector stops cleanly', async () => {
  const r = await s.conn.stop();
  assert(!/Sanitizer|runtime error/.test(s.conn.log()), `sanitizer report: ${s.conn.log().slice(-2000)}`);
  assertEq(r.code, 0, 'exit code');
});

await run();
