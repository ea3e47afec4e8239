// fullstack_security.mjs - issue 18's connector findings on the real stack (SoftHSM2 token,
// anode-keyserver over mutual TLS, anode-connector with the keyless signer, anvil --accounts 0),
// replayed as an attacker would and counted from the outside:
//  - unauthenticated /ready probes: the key server's own request counter (its /metrics) and a
//    counting pass-through in front of anvil see no calls beyond the background refresh;
//  - the per-client signing rate limit: a client over its bucket gets -32005 and the key server
//    signs nothing for it (its sign counter), another client is unaffected, the refusals are
//    counted in anode_connector_rate_limited_total; a batch over max_signing_calls_per_batch
//    is refused whole;
//  - secret files (token file, local key, TLS key, the client key to the key server) that are
//    group/world readable stop the connector with a message naming the file, unless
//    allow_insecure_secret_files is set.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  CONNECTOR, assert, assertEq, freePort, localAccount, makeRunner, post, rpcRaw, startAnvil,
  startConnector, tmpDir, toolsRequire, waitFor,
} from '../lib/stack.mjs';
import { keylessAccount, makePki, makeToken, startKeyserver } from '../lib/fullstack.mjs';

const run = promisify(execFile);
const { ethers } = toolsRequire('ethers');
const dir = tmpDir('ak-fs-sec-');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const { t, run: runAll } = makeRunner('fullstack_security');
const s = { nodeCalls: 0 };
const TOKEN_A = 'client-a-token-0123456789abcdef';
const TOKEN_B = 'client-b-token-0123456789abcdef';
const REFRESH_MS = 1000;

// A pass-through to anvil that counts the requests the connector sends to "the node".
async function countingProxy(target) {
  const port = await freePort();
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      s.nodeCalls++;
      try {
        const r = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(await r.text());
      } catch {
        res.writeHead(502);
        res.end();
      }
    });
  });
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }) };
}

// The key server's /metrics text, fetched with the connector's client certificate.
function ksMetrics() {
  return new Promise((resolve, reject) => {
    const req = https.request(`${s.ks.url}/metrics`, {
      ca: fs.readFileSync(s.pki.ca), cert: fs.readFileSync(s.pki.cert('connector')), key: fs.readFileSync(s.pki.key('connector')),
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
}

// anode_keyserver_requests_total for endpoint (and status), summed over the label sets.
async function ksCount(endpoint, status) {
  let n = 0;
  for (const line of (await ksMetrics()).split('\n')) {
    const x = /^anode_keyserver_requests_total\{endpoint="([^"]+)",status="(\d+)"\} (\d+)/.exec(line);
    if (x && x[1] === endpoint && (status === undefined || x[2] === String(status))) n += Number(x[3]);
  }
  return n;
}

async function connMetric(name) {
  const r = await fetch(`${s.conn.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN_A}` } });
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec(await r.text());
  return m ? Number(m[1]) : NaN;
}

const bearer = (tok) => ({ authorization: `Bearer ${tok}` });

t('start SoftHSM + anode-keyserver, anvil behind a counting pass-through, the connector', async () => {
  s.token = makeToken(dir);
  s.pki = makePki(dir);
  s.ks = await startKeyserver({ dir, token: s.token, pki: s.pki });
  s.anvil = await startAnvil();
  s.proxy = await countingProxy(s.anvil.url);
  s.tokens = path.join(dir, 'tokens');
  fs.writeFileSync(s.tokens, `${TOKEN_A}\n${TOKEN_B}\n`, { mode: 0o600 });
  s.addr = s.token.address;
  s.conn = await startConnector({
    config: {
      accounts: [keylessAccount({ urls: [s.ks.url], pki: s.pki })],
      signer_manager: { health_interval_ms: 3600000 },
      http: { ready_refresh_ms: REFRESH_MS },
      auth: { bearer_tokens_file: s.tokens },
      signing_rate_limit: { per_second: 0.001, burst: 6 },
      max_signing_calls_per_batch: 3,
    },
    downstreamUrl: s.proxy.url,
    dir,
  });
  await waitFor(async () => (await fetch(`${s.conn.url}/ready`)).status === 200, { what: 'ready' });
});

t('attacker: 300 unauthenticated /ready probes cause no key server or node calls beyond the background refresh', async () => {
  const ks0 = await ksCount('health');
  const node0 = s.nodeCalls;
  const t0 = Date.now();
  let ok = 0;
  for (let i = 0; i < 30; i++) {
    const rs = await Promise.all(Array.from({ length: 10 }, () => fetch(`${s.conn.url}/ready`)));
    ok += rs.filter((r) => r.status === 200).length;
  }
  const elapsed = Date.now() - t0;
  const ks = (await ksCount('health')) - ks0;
  const node = s.nodeCalls - node0;
  // one refresh per REFRESH_MS (each: one eth_chainId, one key server /health), plus 2 of slack
  const bound = Math.ceil(elapsed / REFRESH_MS) + 2;
  console.log(`     300 probes in ${elapsed} ms: key server /health calls ${ks}, node calls ${node} (bound ${bound})`);
  assertEq(ok, 300, 'every probe answered ready');
  assert(ks <= bound, `key server calls ${ks} <= ${bound}`);
  assert(node <= bound, `node calls ${node} <= ${bound}`);
  // the cache is refreshed: the node going away turns /ready 503 without any probe driving it
  await s.proxy.close();
  await waitFor(async () => (await fetch(`${s.conn.url}/ready`)).status === 503, { what: 'not ready after the node went away' });
});

t('attacker: a client over its signing rate gets -32005 before the key server is asked; another client is unaffected', async () => {
  const sign0 = await ksCount('sign', 200);
  const limited0 = await connMetric('anode_connector_rate_limited_total');
  let signed = 0;
  let refused = 0;
  for (let i = 0; i < 10; i++) {
    const j = await rpcRaw(s.conn.url, 'personal_sign', [ethers.hexlify(ethers.toUtf8Bytes(`m${i}`)), s.addr], bearer(TOKEN_A));
    if (j.result) {
      assertEq(ethers.verifyMessage(`m${i}`, j.result), s.addr, 'signature');
      signed++;
    } else {
      assertEq(j.error.code, -32005, `rate limited: ${JSON.stringify(j)}`);
      refused++;
    }
  }
  assertEq(signed, 6, 'the burst is signed');
  assertEq(refused, 4, 'the rest is refused');
  assertEq((await ksCount('sign', 200)) - sign0, 6, 'the key server signed only the admitted calls');
  assertEq((await connMetric('anode_connector_rate_limited_total')) - limited0, 4, 'refusals counted');
  // forwarding is not a signing call: still answered for the limited client
  const fwd = await rpcRaw(s.conn.url, 'eth_accounts', [], bearer(TOKEN_A));
  assertEq(fwd.result, [s.addr], 'non-signing calls still answered');
  const b = await rpcRaw(s.conn.url, 'personal_sign', ['0x6869', s.addr], bearer(TOKEN_B));
  assertEq(ethers.verifyMessage('hi', b.result), s.addr, 'client B has its own bucket');
});

t('attacker: a batch with more signing calls than max_signing_calls_per_batch is refused whole', async () => {
  const sign0 = await ksCount('sign');
  const call = (i) => ({ jsonrpc: '2.0', id: i, method: 'personal_sign', params: ['0x6869', s.addr] });
  const r = await post(s.conn.url, [call(1), call(2), call(3), call(4)], bearer(TOKEN_B));
  const j = JSON.parse(r.text);
  assert(!Array.isArray(j) && j.error && j.error.code === -32600 && /4 signing calls, more than 3/.test(j.error.message), `refused: ${r.text}`);
  assertEq((await ksCount('sign')) - sign0, 0, 'nothing reached the key server');
  const ok = JSON.parse((await post(s.conn.url, [call(1), call(2), call(3)], bearer(TOKEN_B))).text);
  assert(Array.isArray(ok) && ok.every((x) => x.result), `3 signing calls pass: ${JSON.stringify(ok)}`);
});

t('secret files group/world readable stop the connector, naming the file; allow_insecure_secret_files overrides', async () => {
  const loose = (name, from) => {
    const f = path.join(dir, name);
    fs.copyFileSync(from, f);
    fs.chmodSync(f, 0o644);
    return f;
  };
  const acct = localAccount(dir);
  const check = async (config, env = {}) => {
    const f = path.join(dir, 'check.json');
    fs.writeFileSync(f, JSON.stringify(config));
    return run(CONNECTOR, ['--config', f, '--check-config', '--chain-id', '31337'], { env: { ...process.env, ...env } })
      .then((r) => ({ code: 0, out: r.stdout + r.stderr }), (e) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }));
  };
  const tokens = loose('tokens-644', s.tokens);
  const key = loose('key-644.hex', acct.config.signer.key_file);
  const tlsKey = loose('tls-644.key', s.pki.key('connector'));
  const clientKey = loose('client-644.key', s.pki.key('connector'));
  const keyless = keylessAccount({ urls: [s.ks.url], pki: s.pki });
  keyless.signer.client_key = clientKey;
  const cases = [
    [{ accounts: [acct.config], auth: { bearer_tokens_file: tokens } }, tokens],
    [{ accounts: [{ signer: { type: 'local', key_file: key } }] }, key],
    [{ accounts: [acct.config], http: { tls: { cert_file: s.pki.cert('connector'), key_file: tlsKey } } }, tlsKey],
    [{ accounts: [keyless] }, clientKey],
  ];
  for (const [config, file] of cases) {
    const r = await check(config);
    assert(r.code !== 0, `refused: ${file}`);
    assert(r.out.includes(`secret file ${file}`) && /readable or writable by group or others/.test(r.out), `names ${file}: ${r.out}`);
    const o = await check({ ...config, allow_insecure_secret_files: true });
    assertEq(o.code, 0, `override: ${o.out}`);
    assert(/secret file permissions not enforced/.test(o.out), `override warns: ${o.out}`);
    const e = await check(config, { ANODE_ALLOW_INSECURE_SECRET_FILES: '1' });
    assertEq(e.code, 0, `environment override: ${e.out}`);
  }
  fs.chmodSync(key, 0o600);
  assertEq((await check({ accounts: [{ signer: { type: 'local', key_file: key } }] })).code, 0, '0600 accepted');
});

t('the connector stops cleanly (exit 0, no sanitizer report)', async () => {
  const r = await s.conn.stop();
  assert(!/Sanitizer|runtime error/.test(s.conn.log()), `sanitizer report: ${s.conn.log().slice(-2000)}`);
  assertEq(r.code, 0, 'exit code');
});

await runAll();
