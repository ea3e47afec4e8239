// connector_audit.mjs - the connector's own audit log (cn_audit on rt_audit) end to end: a
// record per signature with the decoded request, the account, the signer, the client and the
// request id; chain checked here (SHA-256 in node) and by anode-keytool audit-verify; signatures
// judged by ethers; fail-closed on an fdatasync failure injected with an LD_PRELOAD shim; chain
// intact and every received signature recorded after kill -9 under 16 concurrent signers; the
// anchor detecting deleted trailing records; config errors refused.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  BUILD_DIR, assert, assertEq, fund, localAccount, makeRunner, post, rpc, rpcRaw, sleep, startAnvil,
  startConnector, tmpDir, toolsRequire, waitFor, CONNECTOR,
} from '../lib/stack.mjs';

const { ethers } = toolsRequire('ethers');
const KEYTOOL = path.join(BUILD_DIR, 'keyserver/keytool/anode-keytool');
const SHIM = path.join(BUILD_DIR, 'tests/e2e/connector/libak_fsync_fail.so');
const dir = tmpDir('ak-cn-audit-');
const { t, run } = makeRunner('connector_audit');
const TOKEN = 'tok_' + '0f1e2d3c4b5a'.repeat(3);
const AUTH = { authorization: `Bearer ${TOKEN}` };
const TOKEN_ID = 'token:' + crypto.createHash('sha256').update(TOKEN).digest('hex').slice(0, 16);
let anvil, acct;

function records(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

// The chain as rt_audit.h defines it, recomputed here: seq = line number, prev = SHA-256 of the
// previous line's bytes (64 zeros for the first).
function chainOk(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  assertEq(lines.pop(), '', 'the log ends with a newline');
  let prev = '0'.repeat(64);
  lines.forEach((l, i) => {
    const r = JSON.parse(l);
    assertEq(r.seq, i + 1, `seq of line ${i + 1}`);
    assertEq(r.prev, prev, `prev of line ${i + 1}`);
    prev = crypto.createHash('sha256').update(l).digest('hex');
  });
  return lines.length;
}

function keytool(...args) {
  const r = spawnSync(KEYTOOL, ['audit-verify', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

const sign = (url, msg, headers = AUTH) => rpcRaw(url, 'personal_sign', [ethers.hexlify(ethers.toUtf8Bytes(msg)), acct.address], headers);

function auditConfig(extra = {}, audit = {}) {
  return {
    accounts: [{ name: 'treasury', ...acct.config }],
    auth: { bearer_tokens_file: `${dir}/tokens` },
    audit: { path: `${dir}/audit-${Math.random().toString(16).slice(2)}.jsonl`, fsync: 'always', ...audit },
    ...extra,
  };
}

t('start anvil', async () => {
  anvil = await startAnvil();
  acct = localAccount(dir);
  fs.writeFileSync(`${dir}/tokens`, `${TOKEN}\n`, { mode: 0o600 });
  await fund(anvil.url, acct.address);
});

t('each signature has a record: decoded request, account, signer, client, request id, signature', async () => {
  const cfg = auditConfig();
  const conn = await startConnector({ config: cfg, downstreamUrl: anvil.url });
  const log = cfg.audit.path;
  const chainId = Number(await rpc(anvil.url, 'eth_chainId'));

  const text = 'hello audit';
  const s1 = (await rpcRaw(conn.url, 'personal_sign', [text, acct.address], AUTH)).result;
  assertEq(ethers.verifyMessage(text, s1), acct.address, 'personal_sign judged by ethers');

  const domain = { name: 'Audit Test', version: '1', chainId, verifyingContract: '0x' + '11'.repeat(20) };
  const types = { Mail: [{ name: 'to', type: 'address' }, { name: 'contents', type: 'string' }] };
  const message = { to: '0x' + '22'.repeat(20), contents: 'hi' };
  const td = JSON.stringify(ethers.TypedDataEncoder.getPayload(domain, types, message));
  const s2 = (await rpcRaw(conn.url, 'eth_signTypedData_v4', [acct.address, td], AUTH)).result;
  assertEq(ethers.verifyTypedData(domain, types, message, s2), acct.address, 'typed data judged by ethers');

  const to = ethers.getAddress('0x' + '33'.repeat(20));
  const raw = (await rpcRaw(conn.url, 'eth_signTransaction', [{
    from: acct.address, to, value: '0x1234', gas: '0x5208', nonce: '0x7',
    maxFeePerGas: '0x3b9aca00', maxPriorityFeePerGas: '0x1',
  }], AUTH)).result;
  const tx = ethers.Transaction.from(raw);
  assertEq(tx.from, acct.address, 'signed transaction judged by ethers');

  const hash = (await rpcRaw(conn.url, 'eth_sendTransaction', [{ from: acct.address, to, value: '0x5' }], AUTH)).result;
  assert(/^0x[0-9a-f]{64}$/.test(hash), `sent: ${hash}`);

  const batch = await post(conn.url, [1, 2, 3].map((i) => ({
    jsonrpc: '2.0', id: i, method: 'personal_sign', params: [`batch ${i}`, acct.address],
  })), AUTH);
  const bsigs = JSON.parse(batch.text).map((a) => a.result);
  assertEq(bsigs.length, 3, 'batch answered');
  await conn.stop();

  const n = chainOk(log);
  assertEq(n, 7, 'one record per signature');
  const v = keytool(log);
  assertEq(v.code, 0, `anode-keytool audit-verify: ${v.out}`);
  assert(v.out.includes('7 records, chain OK'), v.out);

  const rs = records(log);
  for (const r of rs) {
    assertEq(r.account, acct.address, 'account');
    assertEq(r.account_name, 'treasury', 'account name');
    assertEq(r.signer_type, 'local', 'the backend that signed');
    assertEq(r.client, TOKEN_ID, 'client identity (token fingerprint, not the token)');
    assertEq(r.outcome, 'signed', 'outcome');
    assert(/^cn-[0-9a-f]{16}-\d+$/.test(r.request_id), `request id ${r.request_id}`);
  }
  assertEq(new Set(rs.map((r) => r.request_id)).size, rs.length, 'request ids are unique');
  // Each record also names the JSON-RPC call it answers: the batch members' ids 1, 2, 3.
  assertEq(rs.slice(-3).map((r) => r.rpc_id).sort(), ['1', '2', '3'], 'rpc_id = the call\'s id (any order: a batch runs concurrently)');
  assert(!fs.readFileSync(log, 'utf8').includes(TOKEN), 'the token is never in the log');

  assertEq([rs[0].method, rs[0].message_len, rs[0].signature], ['personal_sign', text.length, s1], 'personal_sign record');
  assertEq(rs[0].digest, ethers.hashMessage(text), 'digest = EIP-191 hash (ethers)');
  assertEq([rs[1].method, rs[1].signature, rs[1].chain_id], ['eth_signTypedData_v4', s2, chainId], 'typed data record');
  assertEq(rs[1].typed_data, { primary_type: 'Mail', domain: { name: 'Audit Test', version: '1', chain_id: String(JSON.parse(td).domain.chainId), verifying_contract: domain.verifyingContract } }, 'typed data decoded');
  assertEq(rs[1].digest, ethers.TypedDataEncoder.hash(domain, types, message), 'digest = EIP-712 hash (ethers)');
  assertEq(rs[2].method, 'eth_signTransaction', 'tx method');
  assertEq(rs[2].tx, { type: 2, nonce: 7, to, value: '0x1234', gas_limit: 21000, data_len: 0 }, 'tx decoded');
  assertEq(rs[2].digest, tx.unsignedHash, 'digest = the transaction signing hash (ethers)');
  assertEq(rs[2].signature.slice(0, 130), tx.signature.r + tx.signature.s.slice(2), 'tx signature r||s');
  assertEq([rs[3].method, rs[3].tx.to, rs[3].tx.value], ['eth_sendTransaction', to, '0x5'], 'send record');
  assertEq(rs.slice(4).map((r) => r.signature).sort(), [...bsigs].sort(), 'batch members (signed on worker threads) recorded with their client');
});

t('no client authentication configured: records say client ""', async () => {
  const cfg = auditConfig({ auth: undefined });
  delete cfg.auth;
  const conn = await startConnector({ config: cfg, downstreamUrl: anvil.url });
  const r = await sign(conn.url, 'anonymous', {});
  assert(r.result, JSON.stringify(r));
  await conn.stop();
  assertEq(records(cfg.audit.path).map((x) => x.client), [''], 'client');
});

t('fdatasync fails (LD_PRELOAD shim): no signature is returned, ever again, until restart', async () => {
  assert(fs.existsSync(SHIM), `the shim is built: ${SHIM}`);
  const flag = `${dir}/fsync-fail`;
  const cfg = auditConfig();
  const conn = await startConnector({
    config: cfg, downstreamUrl: anvil.url,
    env: { LD_PRELOAD: SHIM, AK_FSYNC_FAIL_FLAG: flag, ASAN_OPTIONS: 'verify_asan_link_order=0:detect_leaks=0' },
  });
  const before = await sign(conn.url, 'before');
  assert(before.result, `signed before the fault: ${JSON.stringify(before)}`);
  fs.writeFileSync(flag, '');
  const during = await Promise.all(Array.from({ length: 16 }, (_, i) => sign(conn.url, `during ${i}`)));
  for (const d of during) {
    assert(d.result === undefined, `no signature while the disk fails: ${JSON.stringify(d)}`);
    assertEq(d.error.code, -32000, 'signer error');
    assert(/audit/.test(d.error.message), `the error names the audit: ${d.error.message}`);
  }
  fs.unlinkSync(flag);
  const after = await sign(conn.url, 'after');
  assert(after.result === undefined && /audit/.test(after.error.message), `still refused after the disk came back: ${JSON.stringify(after)}`);
  assert(conn.log().includes('audit fdatasync failed'), 'logged');
  assertEq(conn.proc.exitCode, null, 'no crash');
  await conn.stop();
  const got = new Set(records(cfg.audit.path).filter((r) => r.outcome === 'signed').map((r) => r.signature));
  assert(got.has(before.result), 'the signature returned before the fault has its record');
  chainOk(cfg.audit.path);
});

t('kill -9 during 16 concurrent signers: the chain verifies and every received signature has a record', async () => {
  const cfg = auditConfig();
  const conn = await startConnector({ config: cfg, downstreamUrl: anvil.url });
  const received = [];
  let stop = false;
  const worker = async (w) => {
    for (let i = 0; !stop; i++) {
      try {
        const r = await sign(conn.url, `w${w} #${i}`);
        if (r.result) received.push(r.result);
      } catch {
        return; // connection refused / reset: the process is gone
      }
    }
  };
  const workers = Array.from({ length: 16 }, (_, w) => worker(w));
  await waitFor(async () => received.length >= 200, { timeoutMs: 30000, what: '200 signatures' });
  process.kill(conn.pid, 'SIGKILL');
  await conn.exited;
  stop = true;
  await Promise.all(workers);
  const n = chainOk(cfg.audit.path);
  const v = keytool(cfg.audit.path);
  assertEq(v.code, 0, `audit-verify after kill -9: ${v.out}`);
  const logged = new Set(records(cfg.audit.path).map((r) => r.signature));
  const missing = received.filter((s) => !logged.has(s));
  assertEq(missing.length, 0, `received signatures without a record (of ${received.length}, ${n} records)`);

  // A restart continues the same chain.
  const again = await startConnector({ config: cfg, downstreamUrl: anvil.url });
  assert((await sign(again.url, 'after restart')).result, 'signs after restart');
  await again.stop();
  assertEq(chainOk(cfg.audit.path), n + 1, 'the chain continues after the restart');
  assertEq(keytool(cfg.audit.path).code, 0, 'audit-verify after the restart');
});

t('anchor: deleted trailing records pass audit-verify alone but not with the anchor; restart refused', async () => {
  const anchor = `${dir}/anchor-${Date.now()}.json`;
  const cfg = auditConfig({}, { anchor_path: anchor, anchor_interval_ms: 100 });
  const conn = await startConnector({ config: cfg, downstreamUrl: anvil.url });
  for (let i = 0; i < 5; i++) assert((await sign(conn.url, `anchored ${i}`)).result, 'signed');
  await waitFor(async () => fs.existsSync(anchor) && JSON.parse(fs.readFileSync(anchor, 'utf8')).seq === 5, { what: 'anchor at seq 5' });
  await conn.stop();
  const a = JSON.parse(fs.readFileSync(anchor, 'utf8'));
  const lines = fs.readFileSync(cfg.audit.path, 'utf8').split('\n').filter((l) => l);
  assertEq(a.hash, crypto.createHash('sha256').update(lines[4]).digest('hex'), 'the anchor holds the last line\'s hash');
  assertEq(keytool(cfg.audit.path, '--anchor', anchor).code, 0, 'intact log verifies with its anchor');

  fs.writeFileSync(cfg.audit.path, lines.slice(0, 3).join('\n') + '\n');
  assertEq(keytool(cfg.audit.path).code, 0, 'without the anchor a truncated log still verifies (documented)');
  const v = keytool(cfg.audit.path, '--anchor', anchor);
  assertEq(v.code, 1, `with the anchor the truncation is detected: ${v.out}`);
  assert(/truncated/.test(v.out), v.out);

  const again = await startConnector({ config: cfg, downstreamUrl: anvil.url, waitReady: false });
  const ex = await again.exited;
  assert(ex.code !== 0, 'the connector refuses a log shorter than its anchor');
  assert(/anchor/.test(again.log()), again.log());

  lines[1] = lines[1].replace('"outcome":"signed"', '"outcome":"refused"');
  fs.writeFileSync(cfg.audit.path, lines.join('\n') + '\n');
  const e = keytool(cfg.audit.path, '--anchor', anchor);
  assertEq(e.code, 1, 'an edited line is detected');
  assert(/line 3: prev hash/.test(e.out), e.out);
});

t('config: bad audit sections are refused; absent or disabled writes nothing', async () => {
  const check = (audit) => {
    const f = `${dir}/check-${Math.random().toString(16).slice(2)}.json`;
    fs.writeFileSync(f, JSON.stringify({ accounts: [acct.config], audit }));
    const r = spawnSync(CONNECTOR, ['--config', f, '--check-config', '--chain-id', '1'], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout + r.stderr };
  };
  for (const [bad, why] of [
    [5, 'must be an object'], [{}, 'path'], [{ path: '' }, 'path'], [{ path: 'x', fsync: 'sometimes' }, 'fsync'],
    [{ path: 'x', fsync: 0 }, 'fsync'], [{ path: 'x', fsync: 1.5 }, 'fsync'], [{ path: 'x', pathh: 'y' }, 'pathh'],
    [{ path: 'x', enabled: 'yes' }, 'enabled'], [{ path: 'x', anchor_interval_ms: 5 }, 'anchor_interval_ms'],
  ]) {
    const r = check(bad);
    assertEq(r.code, 2, `refused: ${JSON.stringify(bad)} (${r.out})`);
    assert(r.out.includes(why), `the error names ${why}: ${r.out}`);
  }
  assertEq(check({ enabled: false }).code, 0, 'disabled without a path');
  assertEq(check({ path: 'x', fsync: 50 }).code, 0, 'an interval');

  const off = await startConnector({ config: { accounts: [acct.config], audit: { enabled: false, path: `${dir}/never.jsonl` } }, downstreamUrl: anvil.url });
  assert((await sign(off.url, 'off', {})).result, 'signs with the audit disabled');
  await off.stop();
  assert(!fs.existsSync(`${dir}/never.jsonl`), 'disabled: no file');

  const bad = await startConnector({ config: { accounts: [acct.config], audit: { path: `${dir}/no/such/dir/a.jsonl` } }, downstreamUrl: anvil.url, waitReady: false });
  const ex = await bad.exited;
  assert(ex.code !== 0, 'an audit log that cannot be opened stops the start');
  assert(/cannot open the audit log/.test(bad.log()), bad.log());
});

await run();
await sleep(0);
