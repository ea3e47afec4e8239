// pm_flow.mjs - the paymaster end-to-end flow, shared by paymaster_local.mjs (local signer) and
// paymaster_keyless.mjs (SoftHSM + anode-keyserver): on anvil (--accounts 0) deploy the real
// eth-infinitism v0.7.0 contracts from @account-abstraction/contracts' artifacts (EntryPoint,
// VerifyingPaymaster whose verifyingSigner is the connector's account, SimpleAccountFactory),
// deposit for the paymaster, build UserOperations of a SimpleAccount owned by an ordinary test
// key, take the paymaster fields from pm_getPaymasterStubData then pm_getPaymasterData (and
// the REST API), and submit handleOps from a funded EOA. Everything is judged by the contracts
// themselves (getHash, getUserOpHash, the UserOperationEvent, the deposit) and ethers v6.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  CONNECTOR, TOOLS, assert, assertEq, fund, post, rpc, rpcRaw, startAnvil, startConnector, toolsRequire, waitFor,
} from '../lib/stack.mjs';

const { ethers } = toolsRequire('ethers');
const req = createRequire(path.join(TOOLS, 'package.json'));
const art = (n) => req(`@account-abstraction/contracts/artifacts/${n}.json`);

export const POLICY_CODE = -32010;
const GWEI = 10n ** 9n;
const CAP = 5n * 10n ** 16n; // 0.05 ETH per sender per day
const MAX_GAS = 2000000;
const PM_VGL = 100000n;

// Unpacked (ERC-4337 v0.7 JSON-RPC) -> PackedUserOperation as the contracts take it.
export function pack(op) {
  const u128x2 = (hi, lo) => ethers.solidityPacked(['uint128', 'uint128'], [BigInt(hi), BigInt(lo)]);
  return {
    sender: op.sender,
    nonce: BigInt(op.nonce),
    initCode: op.factory ? ethers.concat([op.factory, op.factoryData || '0x']) : '0x',
    callData: op.callData,
    accountGasLimits: u128x2(op.verificationGasLimit, op.callGasLimit),
    preVerificationGas: BigInt(op.preVerificationGas),
    gasFees: u128x2(op.maxPriorityFeePerGas, op.maxFeePerGas),
    paymasterAndData: op.paymaster
      ? ethers.concat([op.paymaster, u128x2(op.paymasterVerificationGasLimit, op.paymasterPostOpGasLimit), op.paymasterData])
      : '0x',
    signature: op.signature || '0x',
  };
}

const q = (v) => ethers.toQuantity(BigInt(v));

// Register the tests. makeSigner(dir) -> {config, address} of the paymaster's signing account.
export function paymasterTests(t, { dir, makeSigner, label }) {
  const s = {}; // shared state
  const ep = () => s.entryPoint;

  // A fresh unsigned UserOperation for owner's SimpleAccount (salt), creating it if needed.
  async function userOp(owner, salt, { maxFee = 2n * GWEI, callData, verificationGasLimit = 1000000n } = {}) {
    const sender = await s.factory['getAddress(address,uint256)'](owner.address, salt);
    const code = await s.provider.getCode(sender);
    const nonce = await ep().getNonce(sender, 0);
    const op = {
      sender,
      nonce: q(nonce),
      callData: callData || s.accountIface.encodeFunctionData('execute', [s.target, 0n, '0x1234']),
      callGasLimit: q(100000n),
      verificationGasLimit: q(verificationGasLimit),
      preVerificationGas: q(60000n),
      maxFeePerGas: q(maxFee),
      maxPriorityFeePerGas: q(GWEI),
      signature: '0x',
    };
    if (code === '0x') {
      op.factory = await s.factory.getAddress();
      op.factoryData = s.factory.interface.encodeFunctionData('createAccount', [owner.address, salt]);
    }
    return op;
  }

  async function ownerSign(owner, op) {
    const h = await ep().getUserOpHash(pack(op));
    op.signature = await owner.signMessage(ethers.getBytes(h));
    return h;
  }

  // handleOps by the bundler; returns the receipt (throws with the decoded FailedOp on revert).
  async function handleOps(op) {
    try {
      await ep().handleOps.staticCall([pack(op)], s.bundler.address);
    } catch (e) {
      const parsed = e.data ? ep().interface.parseError(e.data) : null;
      const err = new Error(parsed ? `${parsed.name}: ${parsed.args.map(String).join(', ')}` : e.message);
      err.reason = parsed ? String(parsed.args[1]) : '';
      throw err;
    }
    const tx = await ep().handleOps([pack(op)], s.bundler.address, { gasLimit: 3000000n });
    let r = null;
    await waitFor(async () => (r = await s.provider.getTransactionReceipt(tx.hash)) !== null, { what: 'handleOps receipt' });
    return r;
  }

  async function expectFailedOp(op, code) {
    try {
      await handleOps(op);
    } catch (e) {
      assert(e.reason && e.reason.startsWith(code), `expected ${code}, got ${e.message}`);
      return;
    }
    throw new Error(`handleOps did not revert (expected ${code})`);
  }

  async function pmData(op, method = 'pm_getPaymasterData', params) {
    return rpc(s.conn.url, method, params || [op, await ep().getAddress(), q(31337), {}]);
  }

  async function sponsor(op) {
    const stub = await pmData(op, 'pm_getPaymasterStubData');
    Object.assign(op, {
      paymaster: stub.paymaster,
      paymasterVerificationGasLimit: stub.paymasterVerificationGasLimit,
      paymasterPostOpGasLimit: stub.paymasterPostOpGasLimit,
    });
    const fin = await pmData(op);
    Object.assign(op, fin);
    return { stub, fin };
  }

  t(`${label}: deploy EntryPoint, VerifyingPaymaster (signer = the connector account), SimpleAccountFactory`, async () => {
    s.anvil = await startAnvil();
    s.provider = new ethers.JsonRpcProvider(s.anvil.url, 31337, { staticNetwork: true, cacheTimeout: -1 });
    s.deployer = ethers.Wallet.createRandom().connect(s.provider);
    s.bundler = ethers.Wallet.createRandom().connect(s.provider);
    await fund(s.anvil.url, s.deployer.address, 10n ** 22n);
    await fund(s.anvil.url, s.bundler.address, 10n ** 21n);
    s.signer = await makeSigner(dir);
    const deploy = async (name, ...args) => {
      const a = art(name);
      const c = await new ethers.ContractFactory(a.abi, a.bytecode, s.deployer).deploy(...args);
      await c.waitForDeployment();
      return c;
    };
    s.entryPoint = await deploy('EntryPoint');
    s.paymaster = await deploy('VerifyingPaymaster', await s.entryPoint.getAddress(), s.signer.address);
    s.factory = await deploy('SimpleAccountFactory', await s.entryPoint.getAddress());
    s.accountIface = new ethers.Interface(art('SimpleAccount').abi);
    assertEq(await s.paymaster.verifyingSigner(), s.signer.address, 'verifyingSigner');
    await (await s.paymaster.deposit({ value: 10n ** 18n })).wait();
    assertEq(await s.entryPoint.balanceOf(await s.paymaster.getAddress()), 10n ** 18n, 'deposit');
    s.target = ethers.Wallet.createRandom().address;
    s.owner = ethers.Wallet.createRandom();
    s.capOwner = ethers.Wallet.createRandom();
    s.stranger = ethers.Wallet.createRandom();
    s.sender = await s.factory['getAddress(address,uint256)'](s.owner.address, 0n);
    s.capSender = await s.factory['getAddress(address,uint256)'](s.capOwner.address, 0n);
    s.conn = await startConnector({
      config: {
        accounts: [s.signer.config],
        paymaster: {
          account: s.signer.address,
          address: await s.paymaster.getAddress(),
          entry_points: [await s.entryPoint.getAddress()],
          chain_ids: [31337],
          verification_gas_limit: Number(PM_VGL),
          post_op_gas_limit: 0,
          validity_seconds: 600,
          valid_after_skew_seconds: 60,
          allowed_senders: [s.sender, s.capSender],
          max_gas_per_op: MAX_GAS,
          daily_cap_wei_per_sender: CAP.toString(),
          sponsor_name: 'anode-keyless e2e',
        },
      },
      downstreamUrl: s.anvil.url,
      dir,
    });
  });

  t(`${label}: stub -> final -> owner signs -> handleOps: success, paid from the paymaster's deposit`, async () => {
    const op = await userOp(s.owner, 0n);
    const { stub, fin } = await sponsor(op);
    assertEq(stub.paymaster, await s.paymaster.getAddress(), 'stub paymaster');
    assertEq(stub.isFinal, false, 'isFinal');
    assertEq(stub.sponsor, { name: 'anode-keyless e2e' }, 'sponsor');
    assertEq(stub.paymasterVerificationGasLimit, q(PM_VGL), 'stub paymasterVerificationGasLimit');
    assertEq(stub.paymasterPostOpGasLimit, '0x0', 'stub paymasterPostOpGasLimit');
    const sb = ethers.getBytes(stub.paymasterData), fb = ethers.getBytes(fin.paymasterData);
    assertEq(sb.length, 129, 'stub paymasterData length');
    assertEq(fb.length, 129, 'final paymasterData length');
    assert(sb.slice(64).every((x) => x !== 0), 'stub signature has no zero bytes');
    const zeros = (b) => b.filter((x) => x === 0).length;
    assert(zeros(sb.slice(64)) <= zeros(fb.slice(64)), 'stub has no more zero bytes than the final signature');
    assertEq(fin.paymaster, stub.paymaster, 'final paymaster');
    // The contract's getHash for these fields, and the signature recovers to the HSM/local address.
    const [until, after] = ethers.AbiCoder.defaultAbiCoder().decode(['uint48', 'uint48'], ethers.dataSlice(fin.paymasterData, 0, 64));
    const now = BigInt(Math.floor(Date.now() / 1000));
    assert(until >= now + 590n && until <= now + 610n, `validUntil ~ now + 600 (${until})`);
    assert(after >= now - 70n && after <= now - 50n, `validAfter ~ now - 60 (${after})`);
    const packed = pack(op);
    const h = await s.paymaster.getHash(packed, until, after);
    const sig = ethers.dataSlice(fin.paymasterData, 64);
    assertEq(ethers.verifyMessage(ethers.getBytes(h), sig), s.signer.address, 'paymaster signature over getHash (eth_call) recovers to the verifying signer');
    // The stub signature recovers to some address (estimation does not revert) - AA34, not AA33.
    const stubOp = { ...op, paymasterData: stub.paymasterData };
    await ownerSign(s.owner, stubOp);
    await expectFailedOp(stubOp, 'AA34');

    const pmAddr = await s.paymaster.getAddress();
    const before = await ep().balanceOf(pmAddr);
    const userOpHash = await ownerSign(s.owner, op);
    const r = await handleOps(op);
    const ev = r.logs.map((l) => { try { return ep().interface.parseLog(l); } catch { return null; } })
      .find((l) => l && l.name === 'UserOperationEvent');
    assert(ev, 'UserOperationEvent emitted');
    assertEq(ev.args.userOpHash, userOpHash, 'event userOpHash');
    assertEq(ev.args.sender, op.sender, 'event sender');
    assertEq(ev.args.paymaster, pmAddr, 'event paymaster');
    assertEq(ev.args.success, true, 'UserOperationEvent.success');
    const after2 = await ep().balanceOf(pmAddr);
    assert(after2 < before, 'deposit decreased');
    assertEq(before - after2, ev.args.actualGasCost, 'deposit paid exactly actualGasCost');
    assert((await s.provider.getCode(op.sender)) !== '0x', 'account deployed');
  });

  t(`${label}: REST POST /api/v1/paymaster/sponsor and POST /api/v1/rpc, then on chain`, async () => {
    const op = await userOp(s.owner, 0n);
    const stub = await rpc(`${s.conn.url}/api/v1/rpc`, 'pm_getPaymasterStubData', [op, await ep().getAddress(), q(31337), {}]);
    assertEq(stub.isFinal, false, '/api/v1/rpc stub');
    Object.assign(op, { paymaster: stub.paymaster, paymasterVerificationGasLimit: stub.paymasterVerificationGasLimit, paymasterPostOpGasLimit: stub.paymasterPostOpGasLimit });
    const res = await post(`${s.conn.url}/api/v1/paymaster/sponsor`, { userOperation: op, entryPoint: await ep().getAddress(), chainId: q(31337) });
    assertEq(res.status, 200, `REST status (${res.text})`);
    const j = JSON.parse(res.text);
    Object.assign(op, { paymasterData: j.paymasterData });
    assertEq(j.paymasterAndData, pack(op).paymasterAndData, 'paymasterAndData layout');
    assertEq(j.userOpHash, await ep().getUserOpHash(pack(op)), 'userOpHash equals EntryPoint.getUserOpHash (eth_call)');
    assert(typeof j.validUntil === 'number' && j.validUntil > j.validAfter, 'window');
    await ownerSign(s.owner, op);
    const r = await handleOps(op);
    const ev = r.logs.map((l) => { try { return ep().interface.parseLog(l); } catch { return null; } }).find((l) => l && l.name === 'UserOperationEvent');
    assertEq(ev.args.success, true, 'REST-sponsored operation succeeded');
  });

  t(`${label}: callData tampered after signing -> handleOps reverts AA34`, async () => {
    const op = await userOp(s.owner, 0n);
    await sponsor(op);
    op.callData = s.accountIface.encodeFunctionData('execute', [s.target, 0n, '0x5678']);
    await ownerSign(s.owner, op); // the account's own signature is valid: only the paymaster's fails
    await expectFailedOp(op, 'AA34');
  });

  t(`${label}: expired window -> handleOps reverts AA32`, async () => {
    const op = await userOp(s.owner, 0n);
    await sponsor(op);
    await ownerSign(s.owner, op);
    const snap = await rpc(s.anvil.url, 'evm_snapshot');
    try {
      await rpc(s.anvil.url, 'evm_increaseTime', [700]);
      await rpc(s.anvil.url, 'evm_mine');
      await expectFailedOp(op, 'AA32');
    } finally {
      await rpc(s.anvil.url, 'evm_revert', [snap]);
    }
  });

  t(`${label}: policy refusals at the stub stage name their rule`, async () => {
    const epAddr = await ep().getAddress();
    const refused = async (op, params, rule, method = 'pm_getPaymasterStubData') => {
      const j = await rpcRaw(s.conn.url, method, params || [op, epAddr, q(31337), {}]);
      assert(j.error, `${rule}: refused (${JSON.stringify(j)})`);
      assertEq(j.error.code, POLICY_CODE, `${rule}: code`);
      assert(j.error.message.includes(`rule ${rule}`), `${rule}: message names the rule: ${j.error.message}`);
    };
    const outsider = await userOp(s.stranger, 0n);
    await refused(outsider, null, 'allowed_senders');
    await refused(outsider, null, 'allowed_senders', 'pm_getPaymasterData');
    const op = await userOp(s.owner, 0n);
    await refused(op, [op, '0x0000000071727De22E5E9d8BAf0edAc6f37da032', q(31337), {}], 'entry_points');
    await refused(op, [op, epAddr, q(1), {}], 'chain_ids');
    await refused({ ...op, callGasLimit: q(MAX_GAS) }, null, 'max_gas_per_op');
    const r = await post(`${s.conn.url}/api/v1/paymaster/sponsor`, { userOperation: outsider, entryPoint: epAddr });
    assertEq(r.status, 403, 'REST refusal status');
    assertEq(JSON.parse(r.text).error.rule, 'allowed_senders', 'REST refusal rule');
    const bad = await post(`${s.conn.url}/api/v1/paymaster/sponsor`, { userOperation: { sender: '0x1' }, entryPoint: epAddr });
    assertEq(bad.status, 400, 'REST invalid request');
    const sp = `${s.conn.url}/api/v1/paymaster/sponsor`;
    assertEq((await post(sp, `{"userOperation":${JSON.stringify(op)},"userOperation":{},"entryPoint":"${epAddr}"}`)).status, 400, 'REST duplicate keys');
    assertEq((await post(sp, `{"userOperation":${JSON.stringify({ ...op, callData: '0x12' }).replace('0x12', '0x12\\u000034')},"entryPoint":"${epAddr}"}`)).status, 400, 'REST \\u0000');
    assertEq((await post(sp, '[1]')).status, 400, 'REST not an object');
    const inv = await rpcRaw(s.conn.url, 'pm_getPaymasterData', [{ ...op, maxFeePerGas: undefined }, epAddr, q(31337), {}]);
    assertEq(inv.error && inv.error.code, -32602, 'final stage needs every gas field');
    assert(/paymaster sponsorship.*refused.*allowed_senders/.test(s.conn.log()), 'refusal logged');
    assert(/paymaster sponsorship.*sponsored/.test(s.conn.log()), 'sponsorship logged');
  });

  // Issue 18, finding 1, replayed as the attacker did: a sender the sponsorship policy refuses
  // asks the paymaster's key for personal_sign(getHash(op, validUntil = 0, validAfter = 0)) -
  // a sponsorship that never expires - and every other generic signing method. All refused
  // before the signer is asked (kind_not_served); the operation is not sponsored.
  t(`${label}: attacker: generic signing on the paymaster's key is refused (no never-expiring sponsorship)`, async () => {
    const epAddr = await ep().getAddress();
    const op = await userOp(s.stranger, 0n);
    const pre = await rpcRaw(s.conn.url, 'pm_getPaymasterStubData', [op, epAddr, q(31337), {}]);
    assertEq(pre.error && pre.error.code, POLICY_CODE, 'the sponsorship policy refuses this sender');
    Object.assign(op, { paymaster: await s.paymaster.getAddress(), paymasterVerificationGasLimit: q(PM_VGL), paymasterPostOpGasLimit: '0x0' });
    const window = ethers.AbiCoder.defaultAbiCoder().encode(['uint48', 'uint48'], [0, 0]);
    op.paymasterData = ethers.concat([window, '0x' + '00'.repeat(65)]);
    const h = await s.paymaster.getHash(pack(op), 0, 0);
    const addr = s.signer.address;
    const attempts = [
      ['personal_sign', [h, addr]],
      ['eth_sign', [addr, h]],
      ['personal_sign', ['0x68656c6c6f', addr]],
      ['eth_signTypedData_v4', [addr, { types: { EIP712Domain: [{ name: 'chainId', type: 'uint256' }], M: [{ name: 'h', type: 'bytes32' }] }, primaryType: 'M', domain: { chainId: 31337 }, message: { h } }]],
      ['eth_signTransaction', [{ from: addr, to: s.target, value: '0x0', gas: '0x5208', gasPrice: '0x1', nonce: '0x0' }]],
      ['eth_sendTransaction', [{ from: addr, to: s.target, value: '0x0' }]],
    ];
    for (const [m, params] of attempts) {
      const j = await rpcRaw(s.conn.url, m, params);
      assert(j.error, `${m} refused: ${JSON.stringify(j)}`);
      assertEq(j.error.code, -32003, `${m}: -32003`);
      assert(j.error.message.includes('policy rule kind_not_served'), `${m}: names the rule: ${j.error.message}`);
    }
    // The signature the attacker wanted would have been accepted: made here with the key itself
    // (local signer only), the EntryPoint takes it - so the refusal above is what stops it.
    if (s.signer.key) {
      const forged = new ethers.Wallet(s.signer.key).signMessageSync(ethers.getBytes(h));
      const snap = await rpc(s.anvil.url, 'evm_snapshot');
      try {
        op.paymasterData = ethers.concat([window, forged]);
        await ownerSign(s.stranger, op);
        const r = await handleOps(op);
        assertEq(r.status, 1, 'a never-expiring sponsorship is accepted on chain when signed');
      } finally {
        await rpc(s.anvil.url, 'evm_revert', [snap]);
      }
    }
    // ... and the paymaster itself still sponsors allowed senders (pm_* is what the key serves).
    const ok = await userOp(s.owner, 0n);
    await sponsor(ok);
    await ownerSign(s.owner, ok);
    const r = await handleOps(ok);
    assertEq(r.status, 1, 'a sponsored operation still goes through');
  });

  t(`${label}: the paymaster's account: "serves" without erc4337_paymaster is refused, more than it warns`, async () => {
    const pmSection = {
      account: s.signer.address, address: await s.paymaster.getAddress(),
      entry_points: [await ep().getAddress()], allowed_senders: '*',
    };
    const check = (policy) => {
      const f = path.join(dir, 'serves.json');
      fs.writeFileSync(f, JSON.stringify({ accounts: [{ ...s.signer.config, policy }], paymaster: pmSection }));
      const r = spawnSync(CONNECTOR, ['--config', f, '--check-config', '--chain-id', '31337'], { encoding: 'utf8' });
      return { code: r.status, out: r.stdout + r.stderr };
    };
    let r = check({ serves: ['eip191_message'] });
    assert(r.code === 2 && r.out.includes('without erc4337_paymaster'), `refused (exit 2): ${r.out}`);
    r = check({ serves: ['erc4337_paymaster', 'eip191_message'] });
    assertEq(r.code, 0, `accepted: ${r.out}`);
    assert(r.out.includes('also signs other intents'), `warned: ${r.out}`);
    r = check({ serves: ['erc4337_paymaster'] });
    assertEq(r.code, 0, `accepted: ${r.out}`);
    assert(!r.out.includes('also signs other intents'), `no warning: ${r.out}`);
  });

  t(`${label}: per-sender daily cap (maxFeePerGas x total gas)`, async () => {
    // 15 gwei x (100000 + 1000000 + 60000 + 100000) = 0.0189 ETH: two fit in 0.05, a third does not.
    const op = await userOp(s.capOwner, 0n, { maxFee: 15n * GWEI });
    await pmData(op, 'pm_getPaymasterStubData');
    await pmData(op);
    await pmData(op);
    const j = await rpcRaw(s.conn.url, 'pm_getPaymasterData', [op, await ep().getAddress(), q(31337), {}]);
    assertEq(j.error && j.error.code, POLICY_CODE, 'third refused');
    assert(j.error.message.includes('rule daily_cap_wei_per_sender'), j.error.message);
    const st = await rpcRaw(s.conn.url, 'pm_getPaymasterStubData', [op, await ep().getAddress(), q(31337), {}]);
    assertEq(st.error && st.error.code, POLICY_CODE, 'refused at the stub stage too');
    // A cheaper operation still fits what is left (0.05 - 0.0378 = 0.0122 ETH).
    await pmData(await userOp(s.capOwner, 0n, { maxFee: 2n * GWEI }));
  });
  t(`${label}: bad paymaster sections are refused (--check-config)`, async () => {
    const base = {
      account: s.signer.address, address: await s.paymaster.getAddress(),
      entry_points: [await ep().getAddress()], allowed_senders: '*',
    };
    // One letter of a checksummed address in the other case: a bad EIP-55 checksum.
    const flipCase = (a) => {
      const i = [...a].findIndex((ch, k) => k > 1 && /[a-fA-F]/.test(ch));
      const c = a[i] === a[i].toLowerCase() ? a[i].toUpperCase() : a[i].toLowerCase();
      return a.slice(0, i) + c + a.slice(i + 1);
    };
    const check = (paymaster) => {
      const f = path.join(dir, 'check.json');
      fs.writeFileSync(f, JSON.stringify({ accounts: [s.signer.config], paymaster }));
      const r = spawnSync(CONNECTOR, ['--config', f, '--check-config', '--chain-id', '31337'], { encoding: 'utf8' });
      return { code: r.status, out: r.stdout + r.stderr };
    };
    assertEq(check(base).code, 0, `a good section passes: ${check(base).out}`);
    const cases = [
      [{ ...base, account: ethers.Wallet.createRandom().address }, 'paymaster.account is not one of'],
      [{ ...base, bogus: 1 }, 'paymaster: unknown field'],
      [{ ...base, address: flipCase(base.address) }, 'wrong EIP-55 checksum'],
      [{ ...base, allowed_senders: 'all' }, 'allowed_senders'],
      [{ ...base, allowed_senders: ['0x12'] }, 'allowed_senders'],
      [{ ...base, entry_points: [] }, 'entry_points'],
      [{ ...base, address: { 1: base.address } }, 'no valid paymaster address for chain 31337'],
      [{ ...base, daily_cap_wei_per_sender: '-1' }, 'daily_cap_wei_per_sender'],
      [{ ...base, validity_seconds: 1 }, 'validity_seconds'],
      [{ ...base, chain_ids: [0] }, 'chain_ids'],
      [{ ...base, sponsor_name: '' }, 'sponsor_name'],
    ];
    for (const [cfg, msg] of cases) {
      const r = check(cfg);
      assertEq(r.code, 2, `refused as a configuration error (exit 2): ${JSON.stringify(cfg)}`);
      assert(r.out.includes(msg), `reason names ${msg}: ${r.out}`);
    }
  });
  t(`${label}: the connector stops cleanly (exit 0, no sanitizer report)`, async () => {
    const r = await s.conn.stop();
    assert(!/Sanitizer|runtime error/.test(s.conn.log()), `sanitizer report: ${s.conn.log().slice(-2000)}`);
    assertEq(r.code, 0, 'exit code');
  });
  return s;
}
