// restart_limits.mjs - the connector's resource limits end to end (issues 17 and 18): memory
// bounded by configuration (64 concurrent 1 MiB bodies: peak RSS under the documented budget,
// RSS back within 20 MB after), authentication before the body is read (100 unauthenticated
// connections with 1 MiB bodies add under 10 MiB), the header deadline (a slowloris client is
// closed), and TLS 1.2 as the floor of the listener (a TLS 1.0 / 1.1 client is refused).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import {
  CONNECTOR, assert, assertEq, localAccount, makeRunner, sleep, startAnvil, startConnector, tmpDir, waitFor,
} from '../lib/stack.mjs';
import { memOf, request } from './sockact_lib.mjs';

const dir = tmpDir('ak-restart-lim-');
const { t, run: runAll } = makeRunner('restart_limits');
const MiB = 1024 * 1024;
const BUDGET = 96 * MiB; // the default http.memory_budget_bytes (docs/connector.md)
// ASan keeps freed memory in its quarantine: RSS bounds only in a normal build.
const SANITIZED = /^(on|1|true|yes)$/i.test(process.env.AK_SANITIZE || '');
let anvil, acct;

// Raw request on its own socket: resolves with what the server answered (first line) when the
// connection ends.
function rawRequest(port, head, body) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString(); });
    s.on('error', () => {});
    s.on('close', () => resolve(got.split('\r\n')[0]));
    s.write(head);
    if (body) s.write(body);
  });
}

t('start anvil', async () => {
  anvil = await startAnvil();
  acct = localAccount(dir);
});

t('64 concurrent 1 MiB bodies: refused or answered within the budget, peak RSS bounded, memory returned', async () => {
  const conn = await startConnector({ config: { accounts: [acct.config] }, downstreamUrl: anvil.url });
  for (let i = 0; i < 20; i++) await request(conn.url, { body: { jsonrpc: '2.0', id: i, method: 'eth_chainId' } });
  await sleep(300);
  const start = memOf(conn.pid);
  const zeros = '[' + '0,'.repeat((MiB - 16) / 2) + '0]'; // a parse tree of ~512k nodes
  const hex = '0x' + 'ab'.repeat((MiB - 200) / 2);
  const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'web3_sha3', params: [hex] });
  assert(zeros.length <= MiB && big.length <= MiB, 'bodies fit max_body_bytes');
  let peak = start.rss;
  let sampling = true;
  const sampler = (async () => { while (sampling) { peak = Math.max(peak, memOf(conn.pid).rss); await sleep(5); } })();
  const res = await Promise.all(Array.from({ length: 64 }, (_, i) => request(conn.url, { body: i % 2 ? zeros : big })));
  sampling = false;
  await sampler;
  const count = (f) => res.filter(f).length;
  const tooLarge = count((r) => r.status === 413 && /per-request memory limit/.test(r.text));
  const busy = count((r) => r.status === 503 && /memory budget/.test(r.text));
  const answered = count((r) => r.status === 200 && JSON.parse(r.text).result);
  console.log(`  start RSS ${(start.rss / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB (VmHWM ${(memOf(conn.pid).hwm / MiB).toFixed(1)}); 413 ${tooLarge}, 503 ${busy}, answered ${answered}`);
  assertEq(tooLarge, 32, 'the 1 MiB arrays of zeros refused by the per-request limit, unparsed');
  assertEq(answered + busy, 32, 'the 1 MiB strings answered (or 503 busy)');
  assert(answered > 0, 'some answered');
  await sleep(1500);
  const after = memOf(conn.pid).rss;
  console.log(`  RSS after ${(after / MiB).toFixed(1)} MiB${SANITIZED ? ' (sanitizer build: RSS bounds not asserted)' : ''}`);
  if (!SANITIZED) {
    assert(memOf(conn.pid).hwm - start.rss < BUDGET + 32 * MiB, 'peak RSS under start + budget + 32 MiB (docs)');
    assert(after - start.rss < 20 * 1000 * 1000, `RSS back within 20 MB of the start (${after - start.rss} bytes more)`);
  }
  await conn.stop();
});

t('a small global budget: requests past it get 503 "server busy" (not executed), the others are answered', async () => {
  const conn = await startConnector({ config: { accounts: [acct.config], http: { threads: 16, max_request_memory_bytes: 3 * MiB, memory_budget_bytes: 4 * MiB } }, downstreamUrl: anvil.url });
  const hex = '0x' + 'cd'.repeat((MiB - 200) / 2);
  const big = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'web3_sha3', params: [hex] });
  const res = await Promise.all(Array.from({ length: 32 }, () => request(conn.url, { body: big })));
  const busy = res.filter((r) => r.status === 503 && JSON.parse(r.text).error.code === -32005 && /not executed/.test(r.text)).length;
  const answered = res.filter((r) => r.status === 200 && JSON.parse(r.text).result).length;
  console.log(`  budget 4 MiB: ${answered} answered, ${busy} busy`);
  assertEq(answered + busy, 32, 'every request answered or refused as busy');
  assert(busy > 0 && answered > 0, 'both happen');
  const r = await request(conn.url, { body: '[' + '0,'.repeat(200000) + '0]' });
  assertEq(r.status, 413, 'a body whose parse tree exceeds the per-request limit');
  assert(/per-request memory limit of 3145728 bytes/.test(r.text), 'the error names the limit');
  await conn.stop();
});

t('the new limits are checked with the configuration (exit 2, naming the fields)', async () => {
  const cases = [
    [{ max_body_bytes: 2 * MiB, max_request_memory_bytes: MiB }, /max_body_bytes .* <= http.max_request_memory_bytes/],
    [{ max_request_memory_bytes: 32 * MiB, memory_budget_bytes: 16 * MiB }, /<= http.memory_budget_bytes/],
    [{ drain_timeout_s: -1 }, /http\.drain_timeout_s: must be an integer in 0\.\.3600/],
    [{ header_timeout_s: 3601 }, /http\.header_timeout_s: must be an integer in 0\.\.3600/],
    [{ memory_budget_bytes: 'x' }, /http\.memory_budget_bytes: must be an integer/],
    [{ drain_timeout: 5 }, /http: unknown field \\?\"drain_timeout\\?\"/],
  ];
  for (const [http, want] of cases) {
    const f = path.join(dir, 'bad-limits.json');
    fs.writeFileSync(f, JSON.stringify({ accounts: [acct.config], http }));
    const r = spawnSync(CONNECTOR, ['--config', f, '--check-config'], { encoding: 'utf8' });
    assertEq(r.status, 2, `${JSON.stringify(http)} refused`);
    assert(want.test(r.stderr + r.stdout), `${JSON.stringify(http)}: message ${r.stderr.slice(0, 300)}`);
  }
});

t('100 unauthenticated connections with 1 MiB bodies: 401 before the body is read, under 10 MiB', async () => {
  const TOKEN = 'tok_' + '0123456789ab'.repeat(3);
  fs.writeFileSync(path.join(dir, 'tokens'), `${TOKEN}\n`, { mode: 0o600 });
  const conn = await startConnector({ config: { accounts: [acct.config], auth: { bearer_tokens_file: path.join(dir, 'tokens') } }, downstreamUrl: anvil.url });
  for (let i = 0; i < 20; i++) await request(conn.url, { body: { jsonrpc: '2.0', id: i, method: 'eth_chainId' }, headers: { authorization: `Bearer ${TOKEN}` } });
  await sleep(300);
  const start = memOf(conn.pid);
  const body = Buffer.alloc(MiB, 0x30);
  const head = `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MiB}\r\n\r\n`;
  const firsts = await Promise.all(Array.from({ length: 100 }, () => rawRequest(conn.port, head, body)));
  const peak = memOf(conn.pid);
  console.log(`  start RSS ${(start.rss / MiB).toFixed(1)} MiB, VmHWM ${(peak.hwm / MiB).toFixed(1)} MiB`);
  // The server answers 401 and closes without reading the body: the client, still writing, may
  // see a reset before it reads the 401. Nothing else may happen.
  const n401 = firsts.filter((l) => / 401 /.test(l)).length;
  console.log(`  ${n401} saw the 401, ${firsts.filter((l) => l === '').length} a reset while writing`);
  assertEq(firsts.filter((l) => l !== '' && !/ 401 /.test(l)), [], 'no other answer');
  assert(n401 >= 50, 'most saw the 401');
  assert(peak.hwm - start.rss < 10 * MiB, `added under 10 MiB (${peak.hwm - start.rss} bytes)`);
  const ok = await request(conn.url, { body: { jsonrpc: '2.0', id: 1, method: 'eth_chainId' }, headers: { authorization: `Bearer ${TOKEN}` } });
  assertEq(ok.status, 200, 'an authenticated client is still answered');
  await conn.stop();
});

t('header deadline: a slowloris client (one byte per second) is closed; a prompt client is not', async () => {
  const conn = await startConnector({ config: { accounts: [acct.config], http: { header_timeout_s: 2 } }, downstreamUrl: anvil.url });
  const s = net.connect(conn.port, '127.0.0.1');
  const t0 = Date.now();
  let closedAt = 0;
  s.on('error', () => {});
  s.on('close', () => { closedAt = Date.now(); });
  const text = 'POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(100);
  for (let i = 0; i < text.length && !closedAt; i++) {
    s.write(text[i]);
    await sleep(1000);
  }
  s.destroy();
  assert(closedAt > 0, 'closed');
  const took = closedAt - t0;
  console.log(`  slowloris closed after ${took} ms (header_timeout_s 2)`);
  assert(took >= 1500 && took <= 2000 + 1500, `closed within the header deadline (${took} ms)`);
  // A keep-alive client that sends whole requests keeps its connection across the deadline.
  const r1 = await rawRequest(conn.port, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert(/ 200 /.test(r1), 'prompt client answered');
  await conn.stop();
});

// A TLS handshake at exactly version v; resolves "ok TLSvX" or "err CODE".
function tlsHello(port, v, ca) {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', ca, minVersion: v, maxVersion: v, ciphers: 'DEFAULT:@SECLEVEL=0' }, () => {
      resolve(`ok ${s.getProtocol()}`);
      s.destroy();
    });
    s.on('error', (e) => resolve(`err ${e.code || e.message}`));
  });
}

t('TLS 1.2 floor: TLS 1.0 and 1.1 clients are refused, TLS 1.2 and 1.3 accepted', async () => {
  const key = path.join(dir, 'tls.key');
  const crt = path.join(dir, 'tls.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key,
    '-out', crt, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  fs.chmodSync(key, 0o600);
  const ca = fs.readFileSync(crt);
  // Control: this client does speak TLS 1.0/1.1 to a server that allows them.
  const control = tls.createServer({ key: fs.readFileSync(key), cert: ca, minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' }, (c) => c.end());
  await new Promise((r) => control.listen(0, '127.0.0.1', r));
  for (const v of ['TLSv1', 'TLSv1.1']) assertEq(await tlsHello(control.address().port, v, ca), `ok ${v}`, `control ${v}`);
  control.close();
  const conn = await startConnector({ config: { accounts: [acct.config], http: { tls: { cert_file: crt, key_file: key } } }, downstreamUrl: anvil.url, waitReady: false });
  await waitFor(() => /anode-connector listening/.test(conn.log()), { what: 'TLS connector' });
  for (const v of ['TLSv1', 'TLSv1.1']) {
    const r = await tlsHello(conn.port, v, ca);
    assert(r.startsWith('err'), `${v} refused (${r})`);
  }
  for (const v of ['TLSv1.2', 'TLSv1.3']) assertEq(await tlsHello(conn.port, v, ca), `ok ${v}`, `${v} accepted`);
  await conn.stop();
});

runAll();
