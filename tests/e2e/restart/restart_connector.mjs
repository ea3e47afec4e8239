// restart_connector.mjs - the connector stops and restarts under load without losing an answer
// (issue 17 item 1): 200 concurrent eth_sendTransaction over fresh connections and 16 keep-alive
// eth_sign loops, through (a) SIGTERM of a connector that binds its own port, restarted by hand,
// and (b) the documented zero-downtime path, socket activation (ak_sockact stands in for the
// .socket unit; SIGHUP to it = systemctl restart). Judged on chain (anvil) and by ethers:
// every client gets its answer or a refusal before anything was sent, never an error after its
// transaction went out; clients retry blindly on errors and nobody pays twice.
import path from 'node:path';
import fs from 'node:fs';
import http from 'node:http';
import {
  CONNECTOR, assert, assertEq, fund, freePort, localAccount, makeRunner, rpc, sleep, startAnvil,
  startConnector, startProcess, tmpDir, toolsRequire, waitFor,
} from '../lib/stack.mjs';
import { request, startActivated } from './sockact_lib.mjs';

const { ethers } = toolsRequire('ethers');
const dir = tmpDir('ak-restart-cn-');
const { t, run: runAll } = makeRunner('restart_connector');
const N = 200;
const VALUE = 1000n;
let anvil;

function connectorConfig(acct) {
  return { accounts: [acct.config], http: { threads: 8, drain_timeout_s: 30 } };
}

// One client: eth_sendTransaction to its own fresh address, retried blindly on any failure until
// answered with a hash. After every failed attempt the chain is asked whether that client's
// transfer was already executed: that would be an error after the transaction went out.
async function sendClient(url, from, to, log) {
  for (let attempt = 0; attempt < 400; attempt++) {
    const body = { jsonrpc: '2.0', id: attempt + 1, method: 'eth_sendTransaction', params: [{ from, to, value: '0x' + VALUE.toString(16) }] };
    const r = await request(url, { body });
    if (r.kind === 'answer' && r.status === 200) {
      const j = JSON.parse(r.text);
      if (j.result) { log.answered.push({ to, hash: j.result }); return; }
      log.rpcErrors.push(j.error);
    } else if (r.kind === 'answer') {
      log.httpErrors.push(r.status);
    } else {
      log[r.kind === 'refused' ? 'refused' : 'errors'].push(r.code);
      const bal = BigInt(await rpc(anvil.url, 'eth_getBalance', [to, 'latest']));
      if (bal !== 0n) log.errorAfterSent.push({ to, code: r.code });
    }
    await sleep(20);
  }
  log.gaveUp.push(to);
}

async function sendStorm(url, from, onProgress) {
  const log = { answered: [], refused: [], errors: [], httpErrors: [], rpcErrors: [], errorAfterSent: [], gaveUp: [] };
  const dests = Array.from({ length: N }, () => ethers.Wallet.createRandom().address);
  const all = Promise.all(dests.map((to) => sendClient(url, from, to, log)));
  await onProgress(log);
  await all;
  return { log, dests };
}

// On chain: every destination received exactly VALUE once, the answered hashes are the mined
// transactions, and the sender's nonce grew by N.
async function judge({ log, dests }, from, nonceBefore) {
  assertEq(log.errorAfterSent, [], 'errors after the transaction went out');
  assertEq(log.gaveUp, [], 'clients that never got an answer');
  assertEq(log.answered.length, N, 'answers');
  for (const to of dests) {
    const bal = BigInt(await rpc(anvil.url, 'eth_getBalance', [to, 'latest']));
    assert(bal === VALUE, `${to} received ${bal} wei, not ${VALUE} (double spend or lost)`);
  }
  for (const { to, hash } of log.answered) {
    const tx = await rpc(anvil.url, 'eth_getTransactionByHash', [hash]);
    assert(tx && tx.to.toLowerCase() === to.toLowerCase() && tx.blockNumber, `answered hash ${hash} mined to ${to}`);
  }
  const nonce = Number(await rpc(anvil.url, 'eth_getTransactionCount', [from, 'latest']));
  assertEq(nonce - nonceBefore, N, 'transactions sent (no double spend)');
}

t('start anvil', async () => {
  anvil = await startAnvil();
});

t('SIGTERM under 200 concurrent eth_sendTransaction: answers sent, then refusals; restart by hand; no double spend', async () => {
  const acct = localAccount(dir);
  await fund(anvil.url, acct.address);
  const nonceBefore = 0;
  let conn = await startConnector({ config: connectorConfig(acct), downstreamUrl: anvil.url });
  const port = conn.port;
  let exit;
  const res = await sendStorm(conn.url, acct.address, async (log) => {
    await waitFor(() => log.answered.length >= 40, { what: '40 answers', timeoutMs: 60000 });
    log.atStop = log.answered.length;
    exit = await conn.stop(); // SIGTERM, waits for the exit
    log.atExit = log.answered.length;
    conn = startProcess(CONNECTOR, ['--config', conn.configPath, '--http-host', '127.0.0.1', '--http-port', String(port),
      '--downstream-url', anvil.url], { name: 'anode-connector-2' });
  });
  assertEq(exit.code, 0, 'clean exit after the drain');
  console.log(`  by hand: ${res.log.atStop} answered at SIGTERM, ${res.log.atExit} at exit, ${res.log.answered.length} answered, ${res.log.refused.length} refused attempts, ${res.log.errors.length} other errors (${[...new Set(res.log.errors)].join(',')}), http ${res.log.httpErrors.length}`);
  await judge(res, acct.address, nonceBefore);
  await conn.stop();
});

t('socket-activated restart under 200 concurrent eth_sendTransaction: no refusal, no error, no double spend', async () => {
  const acct = localAccount(dir);
  await fund(anvil.url, acct.address);
  const port = await freePort();
  const cfgPath = path.join(dir, 'activated.json');
  fs.writeFileSync(cfgPath, JSON.stringify(connectorConfig(acct)));
  const sa = await startActivated(port, CONNECTOR, ['--config', cfgPath, '--downstream-url', anvil.url], { name: 'sockact-connector' });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await request(`${url}/health`, { method: 'GET' })).status === 200, { what: 'activated connector' });
  const res = await sendStorm(url, acct.address, async (log) => {
    await waitFor(() => log.answered.length >= 40, { what: '40 answers', timeoutMs: 60000 });
    await sa.restart();
  });
  console.log(`  activated: ${res.log.answered.length} answered, ${res.log.refused.length} refused, ${res.log.errors.length} errors, http ${res.log.httpErrors.length}`);
  assertEq(res.log.refused.length, 0, 'refused connections');
  assertEq(res.log.errors, [], 'connection errors');
  assertEq(res.log.httpErrors, [], 'HTTP errors');
  await judge(res, acct.address, 0);
  assertEq(sa.exits().map((e) => e.status), [0], 'the first connector exited cleanly');
  assert(/drained: every request in flight was answered/.test(sa.log()), 'drain logged');
  await sa.stop();
});

t('socket-activated restart under 16 keep-alive eth_sign loops: every call answered, every signature valid', async () => {
  const acct = localAccount(dir);
  const port = await freePort();
  const cfgPath = path.join(dir, 'activated2.json');
  fs.writeFileSync(cfgPath, JSON.stringify(connectorConfig(acct)));
  const sa = await startActivated(port, CONNECTOR, ['--config', cfgPath, '--downstream-url', anvil.url], { name: 'sockact-connector2' });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await request(`${url}/health`, { method: 'GET' })).status === 200, { what: 'activated connector' });
  let stop = false;
  const bad = [];
  const sigs = [];
  let calls = 0;
  const loop = async (i) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let n = 0;
    while (!stop || n < 5) {
      const data = ethers.hexlify(ethers.toUtf8Bytes(`client ${i} call ${n}`));
      const r = await request(url, { agent, body: { jsonrpc: '2.0', id: n, method: 'eth_sign', params: [acct.address, data] } });
      if (r.kind !== 'answer' || r.status !== 200) { bad.push(`${r.kind} ${r.code || r.status}`); await sleep(20); continue; }
      sigs.push([data, JSON.parse(r.text).result]); // verified after the loops (CPU work)
      n++;
      calls++;
    }
    agent.destroy();
  };
  const loops = Array.from({ length: 16 }, (_, i) => loop(i));
  await waitFor(() => calls >= 200, { what: '200 signatures', timeoutMs: 60000 });
  await sa.restart();
  const after = calls;
  await waitFor(() => calls >= after + 200, { what: '200 signatures after the restart', timeoutMs: 60000 });
  stop = true;
  await Promise.all(loops);
  for (const [data, sig] of sigs) if (ethers.verifyMessage(ethers.getBytes(data), sig) !== acct.address) bad.push('wrong signature');
  console.log(`  eth_sign: ${calls} calls, ${bad.length} failed attempts`);
  assertEq(bad, [], 'failed attempts');
  assertEq(sa.exits().map((e) => e.status), [0], 'the first connector exited cleanly');
  await sa.stop();
});

runAll();
