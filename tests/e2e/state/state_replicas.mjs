// state_replicas.mjs - issue 13: three anode-connector replicas on one PostgreSQL state store,
// one key server (SoftHSM2) and anvil. Judged by the chain itself (anvil): nonces, receipts, and
// each request's marker (its value in wei, unique per request) mined at most once.
//   - --migrate: 0 against the database, 2 when it cannot be reached; a bad "state" refused (2);
//   - 300 concurrent eth_sendTransaction spread over the replicas -> 300 mined, nonces 0..299;
//   - again with one replica killed -9 halfway: every answer a mined hash or an error, no marker
//     mined twice, and the gaps the dead replica left are re-used after the trust window;
//   - the database stopped: -32603 "state store unavailable" within the statement timeout,
//     /ready 503 naming the database, personal_sign keeps working; back by itself;
//   - gas filled before the reservation, the fees while it is in flight (cn_m_tx.c): a send that
//     reverts takes nothing (the database's rows) and leaves no gap among concurrent sends; the database frozen
//     meanwhile: -32603, nothing signed, back by itself after the thaw.
// PostgreSQL (pg_lib.sh), the key server, anvil and the connectors are stopped by PID.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  CONNECTOR, SOURCE_DIR, assert, assertEq, fund, makeRunner, rpc, rpcRaw, sleep, startAnvil, startConnector,
  toolsRequire, waitFor,
} from '../lib/stack.mjs';
import { keylessAccount, makePki, makeToken, startKeyserver } from '../lib/fullstack.mjs';
import { PG_LIB, pgServer } from '../lib/pg.mjs';

const { ethers } = toolsRequire('ethers');
const { t, run } = makeRunner('state_replicas');
const TRUST_MS = 3000;
const STMT_MS = 1500;
const db = pgServer('ak-state-e2e-');
const { dir, pgDir } = db;
let token, pki, ks, anvil, addr, stateCfg, accountCfg;
let reps = [];
const to = ethers.Wallet.createRandom().address;


async function replica(i, { policy, state = stateCfg } = {}) {
  const d = path.join(dir, `r${i}`);
  fs.mkdirSync(d, { recursive: true });
  return startConnector({
    config: { accounts: [policy ? { ...accountCfg, policy } : accountCfg], state, nonce_retries: 10, http: { ready_refresh_ms: 200, threads: 16 } },
    downstreamUrl: anvil.url, args: ['--downstream-timeout-ms', '5000', '--log-level', 'warn'], dir: d,
  });
}

// n eth_sendTransaction, request k to replica k % 3 (alive ones), value = base + k wei (its marker).
async function sendMany(n, base, targets) {
  return Promise.all(Array.from({ length: n }, async (_, k) => {
    try {
      const j = await rpcRaw(targets[k % targets.length].url, 'eth_sendTransaction', [{ from: addr, to, value: ethers.toQuantity(base + k) }]);
      return { k, hash: j.result, error: j.error };
    } catch (e) {
      return { k, error: { transport: e.message } };
    }
  }));
}

// The account's mined transactions in blocks (from..latest]: [{hash, nonce, value}].
async function minedSince(fromBlock) {
  const latest = Number(await rpc(anvil.url, 'eth_blockNumber'));
  const out = [];
  for (let b = fromBlock + 1; b <= latest; b++) {
    const blk = await rpc(anvil.url, 'eth_getBlockByNumber', [ethers.toQuantity(b), true]);
    for (const tx of blk.transactions)
      if (tx.from.toLowerCase() === addr.toLowerCase()) out.push({ hash: tx.hash, nonce: Number(tx.nonce), value: BigInt(tx.value) });
  }
  return out;
}

// One value from the database, through psql on the server's socket (as the tests' superuser).
const sql = (q) => db.psql(['-d', 'anode', '-Atc', q]);

// The replicas' nonce retries (anode_connector_nonce_retries_total, summed).
async function retries() {
  let n = 0;
  for (const c of reps) {
    const m = /anode_connector_nonce_retries_total (\d+)/.exec(await (await fetch(`${c.url}/metrics`)).text());
    n += m ? Number(m[1]) : NaN;
  }
  return n;
}

const nonceOf = async (tag) => Number(await rpc(anvil.url, 'eth_getTransactionCount', [addr, tag]));

t('PostgreSQL (pg_lib.sh), token, key server, anvil; --migrate 0, unreachable 2, bad state 2', async () => {
  fs.chmodSync(dir, 0o755); // the server runs as another user when the tests run as root (pg_lib.sh)
  fs.mkdirSync(pgDir);
  db.setup();
  const port = fs.readFileSync(path.join(pgDir, 'port'), 'utf8').trim();
  stateCfg = { backend: 'postgres', url: `postgresql://anode@/anode?host=${pgDir}/sock&port=${port}`,
    pool_size: 8, statement_timeout_ms: STMT_MS, nonce_trust_ms: TRUST_MS, migrate: false };
  token = makeToken(dir, { label: 'state' });
  addr = token.address;
  pki = makePki(dir);
  ks = await startKeyserver({ dir, token, pki, threads: 4, maxSessions: 4 });
  anvil = await startAnvil();
  await fund(anvil.url, addr);
  accountCfg = keylessAccount({ urls: [ks.url], pki, timeoutMs: 10000 });
  const cfg = (state) => {
    const f = path.join(dir, `migrate-${Math.random().toString(16).slice(2)}.json`);
    fs.writeFileSync(f, JSON.stringify({ accounts: [accountCfg], state }));
    return f;
  };
  const mig = (state) => spawnSync(CONNECTOR, ['--config', cfg(state), '--migrate', '--log-format', 'text'], { encoding: 'utf8', timeout: 30000 });
  let r = mig(stateCfg);
  assertEq(r.status, 0, `--migrate against the database: ${r.stdout}${r.stderr}`);
  r = mig(stateCfg); // idempotent
  assertEq(r.status, 0, `--migrate again: ${r.stdout}${r.stderr}`);
  r = mig({ ...stateCfg, url: `postgresql://anode@/anode?host=${dir}/nosock&port=${port}` });
  assertEq(r.status, 2, `--migrate with no database: ${r.stdout}${r.stderr}`);
  r = mig({ ...stateCfg, shards: 3 });
  assertEq(r.status, 2, 'an unknown state member');
  assert(/state.*shards/.test(r.stdout + r.stderr), `the member is named: ${r.stdout}${r.stderr}`);
  r = spawnSync(CONNECTOR, ['--config', cfg({ backend: 'postgres', url: 'postgresql://anode@127.0.0.1:1/x' }), '--check-config'], { encoding: 'utf8' });
  assertEq(r.status, 2, 'TCP without tls is refused');
  assert(/state.*tls/.test(r.stdout + r.stderr), `names state.tls: ${r.stdout}${r.stderr}`);
  reps = await Promise.all([0, 1, 2].map(replica));
  for (const c of reps) assertEq(await rpc(c.url, 'eth_accounts'), [addr], 'each replica signs as the HSM account');
  await waitFor(async () => (await fetch(`${reps[0].url}/ready`)).status === 200, { what: '/ready 200', timeoutMs: 10000 });
});

t('300 concurrent eth_sendTransaction over three replicas -> 300 mined, nonces 0..299', async () => {
  const block0 = Number(await rpc(anvil.url, 'eth_blockNumber'));
  const res = await sendMany(300, 1000, reps);
  const bad = res.filter((r) => !r.hash);
  assertEq(bad.length, 0, `every send answered with a hash (first error: ${JSON.stringify(bad[0] && bad[0].error)})`);
  assertEq(new Set(res.map((r) => r.hash)).size, 300, '300 distinct hashes');
  await waitFor(async () => (await nonceOf('latest')) === 300, { what: '300 mined', timeoutMs: 60000 });
  const mined = await minedSince(block0);
  assertEq(mined.length, 300, 'exactly 300 transactions of the account mined');
  assertEq(mined.map((m) => m.nonce).sort((a, b) => a - b).join(','), Array.from({ length: 300 }, (_, i) => i).join(','), 'nonces 0..299 each once');
  const byHash = new Map(mined.map((m) => [m.hash, m]));
  for (const r of res) {
    const m = byHash.get(r.hash);
    assert(m !== undefined, `answered hash ${r.hash} is mined`);
    assertEq(m.value, BigInt(1000 + r.k), `hash ${r.hash} carries its request's value`);
  }
  // The store, not the node's "nonce too low", made the nonces distinct: its row says 300, and
  // no replica had to retry a nonce.
  assertEq(sql(`SELECT next_nonce FROM anode.nonce WHERE account = '\\x${addr.slice(2).toLowerCase()}'::bytea AND chain_id = 31337`), '300', 'the store allocated 0..299');
  assertEq(await retries(), 0, 'no nonce retried by any replica');
  const perReplica = [0, 1, 2].map((i) => res.filter((r) => r.k % 3 === i).length);
  console.log(`  per replica: ${perReplica.join('/')}`);
});

t('one replica killed -9 halfway: a mined hash or an error each, nothing mined twice, gaps re-used', async () => {
  const block0 = Number(await rpc(anvil.url, 'eth_blockNumber'));
  const start = await nonceOf('latest');
  const victim = reps[2];
  const pending = sendMany(300, 100000, reps);
  pending.catch(() => {}); // awaited below; a failure before that must not crash the runner
  await waitFor(async () => (await nonceOf('latest')) >= start + 100, { what: 'a third mined', timeoutMs: 60000 });
  process.kill(victim.pid, 'SIGKILL');
  const res = await pending;
  await victim.exited;
  const ok = res.filter((r) => r.hash), failed = res.filter((r) => !r.hash);
  console.log(`  ${ok.length} answered with a hash, ${failed.length} with an error`);
  assert(ok.length >= 100, 'the surviving replicas kept answering');
  for (const r of failed) assert(r.error && (r.error.transport || r.error.code || r.error.message), `request ${r.k} has an error`);
  // The dead replica may have allocated nonces it never sent: later ones wait in anvil's pool until
  // the gap is re-used (after the trust window) by new sends through the survivors.
  const want = new Set(ok.map((r) => r.hash));
  let fillers = 0;
  for (let round = 0; round < 60; round++) {
    const mined = new Set((await minedSince(block0)).map((m) => m.hash));
    if ([...want].every((h) => mined.has(h))) break;
    await sleep(TRUST_MS + 500);
    const f = await sendMany(2, 900000 + 2 * round, reps.slice(0, 2));
    fillers += f.filter((r) => r.hash).length;
    for (const r of f) if (r.hash) want.add(r.hash);
  }
  const mined = await minedSince(block0);
  const minedHashes = new Set(mined.map((m) => m.hash));
  for (const h of want) assert(minedHashes.has(h), `answered hash ${h} is mined`);
  const markers = mined.map((m) => m.value);
  assertEq(new Set(markers.map(String)).size, markers.length, 'no request mined twice (markers unique)');
  const nonces = mined.map((m) => m.nonce).sort((a, b) => a - b);
  assertEq(nonces.join(','), Array.from({ length: nonces.length }, (_, i) => start + i).join(','), 'mined nonces contiguous, each once');
  console.log(`  ${mined.length} mined (incl. ${fillers} filler sends), ${mined.length - ok.length - fillers} sent by the killed replica before it died`);
  reps[2] = await replica(2); // back to three
});

t('database stopped: -32603 "state store unavailable" in time, /ready 503 names it, personal_sign works, back by itself', async () => {
  db.stop();
  const t0 = Date.now();
  const j = await rpcRaw(reps[0].url, 'eth_sendTransaction', [{ from: addr, to, value: '0x1' }]);
  const took = Date.now() - t0;
  assert(j.error, `refused: ${JSON.stringify(j)}`);
  assertEq(j.error.code, -32603, 'code');
  assertEq(j.error.message, 'state store unavailable', 'stable message');
  assert(took < 2 * STMT_MS + 5000, `answered within the statement timeout (+ node and key server time): ${took} ms`);
  await waitFor(async () => {
    const r = await fetch(`${reps[1].url}/ready`);
    const text = await r.text();
    return r.status === 503 && /state store/.test(text) && /postgres/.test(text);
  }, { what: '/ready 503 naming the database', timeoutMs: 10000 });
  const sig = await rpc(reps[1].url, 'personal_sign', [ethers.hexlify(ethers.toUtf8Bytes('no state needed')), addr]);
  assertEq(ethers.verifyMessage('no state needed', sig), addr, 'personal_sign without the database (ethers)');
  const before = await nonceOf('pending');
  const many = await sendMany(9, 5000000, reps);
  for (const r of many) assertEq(r.error && r.error.message, 'state store unavailable', `request ${r.k} refused`);
  assertEq(await nonceOf('pending'), before, 'nothing signed and sent without the store');
  db.start();
  await waitFor(async () => {
    const r = await rpcRaw(reps[2].url, 'eth_sendTransaction', [{ from: addr, to, value: '0x2' }]);
    return typeof r.result === 'string';
  }, { what: 'sends work again without a restart', timeoutMs: 30000 });
  await waitFor(async () => (await fetch(`${reps[1].url}/ready`)).status === 200, { what: '/ready 200 again', timeoutMs: 10000 });
  const res = await sendMany(30, 6000000, reps);
  const failed = res.filter((r) => !r.hash);
  assertEq(failed.length, 0, `all 30 sends after the restart answered with a hash (first error: ${JSON.stringify(failed[0] && failed[0].error)})`);
  await waitFor(async () => (await nonceOf('latest')) === (await nonceOf('pending')), { what: 'all mined', timeoutMs: 60000 });
});

const ETH = 10n ** 18n;

t('cumulative_cap 10 ETH, 64 concurrent 1 ETH sends over three replicas -> exactly 10 signed', async () => {
  await Promise.all(reps.map((c) => c.stop()));
  const policy = { cumulative_cap: { value_wei: (10n * ETH).toString(), window_s: 3600 } };
  reps = await Promise.all([0, 1, 2].map((i) => replica(i, { policy })));
  const block0 = Number(await rpc(anvil.url, 'eth_blockNumber'));
  const res = await Promise.all(Array.from({ length: 64 }, (_, k) =>
    rpcRaw(reps[k % 3].url, 'eth_sendTransaction', [{ from: addr, to, value: ethers.toQuantity(ETH) }])));
  const ok = res.filter((r) => r.result);
  assertEq(ok.length, 10, 'exactly ten 1 ETH sends signed');
  for (const r of res.filter((x) => x.error)) {
    assertEq(r.error.code, -32003, 'refused by the policy');
    assert(/cumulative_over_cap/.test(r.error.message), `names the rule: ${r.error.message}`);
  }
  await waitFor(async () => (await nonceOf('latest')) === (await nonceOf('pending')), { what: 'mined', timeoutMs: 30000 });
  const mined = (await minedSince(block0)).filter((m) => m.value === ETH);
  assertEq(mined.length, 10, 'ten mined');
  const over = await rpcRaw(reps[0].url, 'eth_sendTransaction', [{ from: addr, to, value: '0x1' }]);
  assert(over.error && /cumulative_over_cap/.test(over.error.message), 'one wei more: refused');
  const zero = await rpcRaw(reps[1].url, 'eth_sendTransaction', [{ from: addr, to, value: '0x0' }]);
  assert(typeof zero.result === 'string', `zero value still fits: ${JSON.stringify(zero.error)}`);
});

t('a send the node refuses releases its reservation; max_tx counts transactions', async () => {
  await Promise.all(reps.map((c) => c.stop()));
  const policy = { cumulative_cap: { value_wei: (2n * ETH).toString(), max_tx: 3, window_s: 60 } };
  reps = await Promise.all([0, 1].map((i) => replica(i, { policy })));
  // The window of the previous test was 3600 s; this one is another (account, window) row.
  const refused = await rpcRaw(reps[0].url, 'eth_sendTransaction', [{ from: addr, to, value: ethers.toQuantity(ETH), nonce: '0x0' }]);
  assert(refused.error && /nonce/i.test(refused.error.message), `the node refuses nonce 0: ${JSON.stringify(refused)}`);
  for (let i = 0; i < 2; i++) {
    const r = await rpcRaw(reps[i].url, 'eth_sendTransaction', [{ from: addr, to, value: ethers.toQuantity(ETH) }]);
    assert(typeof r.result === 'string', `1 ETH #${i} signed: the refused one was released (${JSON.stringify(r.error)})`);
  }
  const third = await rpcRaw(reps[0].url, 'eth_sendTransaction', [{ from: addr, to, value: '0x1' }]);
  assert(third.error && /cumulative_over_cap/.test(third.error.message), `2 ETH used: ${JSON.stringify(third)}`);
  const zero = await rpcRaw(reps[1].url, 'eth_sendTransaction', [{ from: addr, to, value: '0x0' }]);
  assert(typeof zero.result === 'string', 'a zero-value send fits the value cap (third transaction)');
  const fourth = await rpcRaw(reps[0].url, 'eth_sendTransaction', [{ from: addr, to, value: '0x0' }]);
  assert(fourth.error && /cumulative_tx_over_cap/.test(fourth.error.message), `max_tx 3: ${JSON.stringify(fourth)}`);
  await Promise.all(reps.map((c) => c.stop()));
});

// Gas is filled before the reservation; the fees while it is in flight (cn_m_tx.c).
t('a send whose gas cannot be filled takes no nonce and no reservation (rows), no gap among concurrent sends', async () => {
  const policy = { cumulative_cap: { value_wei: (2n * ETH).toString(), window_s: 900 } };
  reps = await Promise.all([0, 1].map((i) => replica(i, { policy })));
  const reverter = ethers.Wallet.createRandom().address;
  await rpc(anvil.url, 'anvil_setCode', [reverter, '0x60006000fd']); // PUSH1 0 PUSH1 0 REVERT
  await waitFor(async () => (await nonceOf('latest')) === (await nonceOf('pending')), { what: 'mined', timeoutMs: 30000 });
  const acct = `'\\x${addr.slice(2).toLowerCase()}'::bytea`;
  const nextNonce = () => Number(sql(`SELECT next_nonce FROM anode.nonce WHERE account = ${acct}`));
  const spendRows = () => Number(sql(`SELECT count(*) FROM anode.spend WHERE account = ${acct} AND window_s = 900`));
  const pending = await nonceOf('pending');
  for (let i = 0; i < 3; i++) { // one after the other: each gives its nonce back before the next
    const j = await rpcRaw(reps[i % 2].url, 'eth_sendTransaction', [{ from: addr, to: reverter, value: ethers.toQuantity(ETH) }]);
    assert(j.error && !j.result, `estimateGas reverts, the send fails: ${JSON.stringify(j)}`);
    assert(!/state store/.test(j.error.message), `fill's error, not the store's: ${j.error.message}`);
    assertEq(spendRows(), 0, `send ${i}: its 1 ETH reservation was released`);
    assertEq(nextNonce(), pending, `send ${i}: its nonce was given back`);
  }
  // The client's own nonce: the spend reservation alone is in flight during fill (st_spend_reserve_begin).
  const own = await rpcRaw(reps[0].url, 'eth_sendTransaction', [{ from: addr, to: reverter, value: ethers.toQuantity(ETH), nonce: ethers.toQuantity(pending) }]);
  assert(own.error && !own.result, `own nonce, estimateGas reverts: ${JSON.stringify(own)}`);
  assertEq(spendRows(), 0, 'own nonce: its 1 ETH reservation was released');
  assertEq(nextNonce(), pending, 'own nonce: the store\'s nonce untouched');
  assertEq(await nonceOf('pending'), pending, 'nothing sent');
  const hashes = [];
  for (let i = 0; i < 2; i++) { // the whole 2 ETH is still there, and no nonce gap
    const j = await rpcRaw(reps[i].url, 'eth_sendTransaction', [{ from: addr, to, value: ethers.toQuantity(ETH) }]);
    assert(typeof j.result === 'string', `1 ETH #${i} signed: ${JSON.stringify(j.error)}`);
    hashes.push(j.result);
  }
  const over = await rpcRaw(reps[0].url, 'eth_sendTransaction', [{ from: addr, to, value: '0x1' }]);
  assert(over.error && /cumulative_over_cap/.test(over.error.message), `2 ETH used: ${JSON.stringify(over)}`);
  await waitFor(async () => (await nonceOf('latest')) === pending + 2, { what: 'both mined', timeoutMs: 30000 });
  const nonces = await Promise.all(hashes.map(async (h) => Number((await rpc(anvil.url, 'eth_getTransactionByHash', [h])).nonce)));
  assertEq(nonces.sort((a, b) => a - b).join(','), `${pending},${pending + 1}`, 'the given-back nonces were used, no gap');
  // Concurrent with good sends (value 0: under the cap): a send that reverts is refused before
  // anything is reserved, so it leaves no nonce gap that would hold the others at the node.
  const mix = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => rpcRaw(reps[i % 2].url, 'eth_sendTransaction', [{ from: addr, to: i % 2 ? reverter : to, value: '0x0' }])));
  mix.forEach((j, i) => assert(i % 2 ? j.error && !j.result : typeof j.result === 'string', `mixed send ${i}: ${JSON.stringify(j)}`));
  await waitFor(async () => (await nonceOf('latest')) === pending + 5, { what: 'the three good sends mined without waiting for the trust window', timeoutMs: TRUST_MS / 2 });
});

t('the database frozen while the reservation is in flight: -32603, nothing signed; back after the thaw', async () => {
  const pgctl = (cmd) => spawnSync('bash', [PG_LIB, cmd, pgDir], { stdio: 'inherit' }).status;
  await Promise.all(reps.map((c) => c.stop()));
  reps = [await replica(0)];
  for (let i = 0; i < 3; i++) { // pooled connections that are live when the server stops answering
    const j = await rpcRaw(reps[0].url, 'eth_sendTransaction', [{ from: addr, to, value: '0x0' }]);
    assert(typeof j.result === 'string', `warm-up send: ${JSON.stringify(j.error)}`);
  }
  await waitFor(async () => (await nonceOf('latest')) === (await nonceOf('pending')), { what: 'mined', timeoutMs: 30000 });
  const before = await nonceOf('pending');
  assertEq(pgctl('freeze'), 0, 'pg_lib.sh freeze');
  let j, took;
  try {
    const t0 = Date.now();
    j = await rpcRaw(reps[0].url, 'eth_sendTransaction', [{ from: addr, to, value: '0x3' }]);
    took = Date.now() - t0;
  } finally {
    assertEq(pgctl('thaw'), 0, 'pg_lib.sh thaw');
  }
  assert(j.error, `refused: ${JSON.stringify(j)}`);
  assertEq(j.error.code, -32603, 'code');
  assertEq(j.error.message, 'state store unavailable', 'stable message');
  assert(took < 2 * STMT_MS + 5000, `answered within the statement timeout (+ node time): ${took} ms`);
  assertEq(await nonceOf('pending'), before, 'nothing signed and sent');
  // The frozen server runs the statement once thawed: a nonce allocated and never sent, re-used
  // after the trust window.
  await sleep(TRUST_MS + 500);
  const r = await rpcRaw(reps[0].url, 'eth_sendTransaction', [{ from: addr, to, value: '0x4' }]);
  assert(typeof r.result === 'string', `back by itself: ${JSON.stringify(r.error)}`);
  await waitFor(async () => (await nonceOf('latest')) === before + 1, { what: 'mined with the node\'s nonce', timeoutMs: 30000 });
  await Promise.all(reps.map((c) => c.stop()));
});

t('memory backend (one connector, no database): cumulative_cap 3 ETH over 8 concurrent sends -> 3', async () => {
  const policy = { cumulative_cap: { value_wei: (3n * ETH).toString(), window_s: 60 } };
  const c = await replica(5, { policy, state: { backend: 'memory' } });
  const res = await Promise.all(Array.from({ length: 8 }, () =>
    rpcRaw(c.url, 'eth_sendTransaction', [{ from: addr, to, value: ethers.toQuantity(ETH) }])));
  assertEq(res.filter((r) => r.result).length, 3, 'three signed');
  for (const r of res.filter((x) => x.error)) assert(/cumulative_over_cap/.test(r.error.message), r.error.message);
  const bad = spawnSync(CONNECTOR, ['--config', c.configPath, '--check-config'], { encoding: 'utf8' });
  assertEq(bad.status, 0, 'the config checks');
  const cfg = JSON.parse(fs.readFileSync(c.configPath, 'utf8'));
  cfg.accounts[0].policy.cumulative_cap = { value_wei: '1', window_s: 60, per: 'day' };
  const f = path.join(dir, 'badcap.json');
  fs.writeFileSync(f, JSON.stringify(cfg));
  const r = spawnSync(CONNECTOR, ['--config', f, '--check-config'], { encoding: 'utf8' });
  assertEq(r.status, 2, 'an unknown cumulative_cap field');
  assert(/cumulative_cap\.per/.test(r.stdout + r.stderr), `named: ${r.stdout}${r.stderr}`);
  await c.stop();
});

// A figure, not an assertion: the p50 of one eth_sendTransaction (node, key server and all)
// through a replica on PostgreSQL and through one on the memory backend, alternating.
t('measured: p50 of eth_sendTransaction, postgres vs memory (printed)', async () => {
  const pgRep = await replica(6);
  const memRep = await replica(7, { state: { backend: 'memory' } });
  const times = { pg: [], mem: [] };
  for (let i = 0; i < 100; i++) {
    for (const [k, c] of (i % 2 ? [['pg', pgRep], ['mem', memRep]] : [['mem', memRep], ['pg', pgRep]])) {
      const t0 = process.hrtime.bigint();
      const r = await rpcRaw(c.url, 'eth_sendTransaction', [{ from: addr, to, value: '0x0' }]);
      times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
      assert(typeof r.result === 'string', `send ${k} ${i}: ${JSON.stringify(r.error)}`);
    }
  }
  const p50 = (a) => a.sort((x, y) => x - y)[a.length >> 1];
  console.log(`  p50 eth_sendTransaction: postgres ${p50(times.pg).toFixed(2)} ms, memory ${p50(times.mem).toFixed(2)} ms (Unix socket, 100 each, loaded machine)`);
  await pgRep.stop();
  await memRep.stop();
});

run();
