// connector_http.mjs - the connector's HTTP surface options end to end: TLS on the listener,
// bearer-token client authentication (cn_auth), body limit from the config, keep-alive.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import { promisify } from 'node:util';
import {
  assert, assertEq, localAccount, makeRunner, post, startAnvil, startConnector, tmpDir, toolsRequire, waitFor,
} from '../lib/stack.mjs';

const run = promisify(execFile);
const { ethers } = toolsRequire('ethers');
const dir = tmpDir('ak-cn-http-');
const { t, run: runAll } = makeRunner('connector_http');
let anvil, acct;
const TOKEN = 'tok_' + 'a1b2c3d4e5f6'.repeat(3);

function httpsPost(url, body, headers = {}, ca) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let d = '';
      res.on('data', (c) => (d += c));
      res.on('end', () => resolve({ status: res.statusCode, text: d }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

t('start anvil', async () => {
  anvil = await startAnvil();
  acct = localAccount(dir);
});

t('bearer tokens: missing/wrong -> 401, right -> 200; /health and /ready stay open', async () => {
  fs.writeFileSync(`${dir}/tokens`, `# clients\n${TOKEN}\n`, { mode: 0o600 });
  const conn = await startConnector({
    config: { accounts: [acct.config], auth: { bearer_tokens_file: `${dir}/tokens` }, http: { max_body_bytes: 4096 } },
    downstreamUrl: anvil.url,
  });
  const q = { jsonrpc: '2.0', id: 1, method: 'eth_accounts' };
  assertEq((await post(conn.url, q)).status, 401, 'no token');
  assertEq((await post(conn.url, q, { authorization: `Bearer ${TOKEN}x` })).status, 401, 'wrong token');
  assertEq((await post(conn.url, q, { authorization: `Basic ${TOKEN}` })).status, 401, 'wrong scheme');
  const ok = await post(conn.url, q, { authorization: `Bearer ${TOKEN}` });
  assertEq(ok.status, 200, 'right token');
  assertEq(JSON.parse(ok.text).result, [acct.address], 'answered');
  assertEq((await fetch(`${conn.url}/metrics`)).status, 401, 'metrics need auth');
  assertEq((await fetch(`${conn.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200, 'metrics with auth');
  assertEq((await fetch(`${conn.url}/health`)).status, 200, 'health open');
  assertEq((await fetch(`${conn.url}/ready`)).status, 200, 'ready open');
  assertEq((await post(conn.url, 'x'.repeat(5000), { authorization: `Bearer ${TOKEN}` })).status, 413, 'config body limit');
  assert(!conn.log().includes(TOKEN), 'token never logged');
  const m = await (await fetch(`${conn.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  assert(/anode_connector_auth_failures_total [3-9]/.test(m), 'auth failures counted');
  await conn.stop();
});

t('SIGHUP re-reads the token file (with the whole configuration): a removed token is refused, a new one accepted; a bad file changes nothing', async () => {
  const NEW = 'tok_' + 'f6e5d4c3b2a1'.repeat(3);
  fs.writeFileSync(`${dir}/tokens2`, `${TOKEN}\n`, { mode: 0o600 });
  const conn = await startConnector({
    config: { accounts: [acct.config], auth: { bearer_tokens_file: `${dir}/tokens2` } },
    downstreamUrl: anvil.url,
  });
  const q = { jsonrpc: '2.0', id: 1, method: 'eth_accounts' };
  const status = async (tok) => (await post(conn.url, q, { authorization: `Bearer ${tok}` })).status;
  assertEq(await status(TOKEN), 200, 'old token before the reload');
  assertEq(await status(NEW), 401, 'new token before the reload');
  fs.writeFileSync(`${dir}/tokens2`, `# rotated\n${NEW}\n`, { mode: 0o600 });
  process.kill(conn.pid, 'SIGHUP');
  await waitFor(async () => conn.log().includes('SIGHUP: configuration reloaded'), { what: 'reload logged' });
  assertEq(await status(TOKEN), 401, 'removed token refused after the reload');
  assertEq(await status(NEW), 200, 'new token accepted after the reload');
  fs.writeFileSync(`${dir}/tokens2`, 'short\n', { mode: 0o600 });
  process.kill(conn.pid, 'SIGHUP');
  await waitFor(async () => conn.log().includes('configuration not reloaded'), { what: 'refusal logged' });
  assertEq(await status(NEW), 200, 'a bad file on reload keeps the tokens in force');
  assertEq(await status(TOKEN), 401, '... and does not bring back the removed one');
  assert(conn.proc.exitCode === null, 'the connector is still running');
  assert(!conn.log().includes(NEW) && !conn.log().includes(TOKEN), 'tokens never logged');
  await conn.stop();
});

t('TLS on the listener (self-signed for 127.0.0.1)', async () => {
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${dir}/tls.key`, '-out', `${dir}/tls.crt`, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1']);
  const conn = await startConnector({
    config: { accounts: [acct.config], http: { tls: { cert_file: `${dir}/tls.crt`, key_file: `${dir}/tls.key` } } },
    downstreamUrl: anvil.url,
    waitReady: false,
  });
  const url = conn.url.replace('http:', 'https:');
  const ca = fs.readFileSync(`${dir}/tls.crt`);
  let r;
  for (let i = 0; i < 100; i++) {
    try { r = await httpsPost(url, { jsonrpc: '2.0', id: 'tls', method: 'personal_sign', params: ['0x6869', acct.address] }, {}, ca); break; } catch { await new Promise((s) => setTimeout(s, 50)); }
  }
  assertEq(r.status, 200, 'https');
  assertEq(ethers.verifyMessage('hi', JSON.parse(r.text).result), acct.address, 'signed over TLS');
  const plain = await post(conn.url, { jsonrpc: '2.0', id: 1, method: 'eth_accounts' }).then(() => 'answered', () => 'refused');
  assertEq(plain, 'refused', 'plain HTTP is not served on a TLS listener');
  await conn.stop();
});

await runAll();
