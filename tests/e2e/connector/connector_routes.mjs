// connector_routes.mjs - the connector's route table (net/cn_server + app/cn_http) end to end:
// every route with its method, status and headers; HEAD like GET; 404 and 405 (with Allow);
// 401 (with WWW-Authenticate) on the authenticated routes - a POST's at once with the connection
// closed, a GET's on a connection kept alive; the metrics label of each; no libmicrohttpd
// warning at start.
import fs from 'node:fs';
import net from 'node:net';
import { assert, assertEq, localAccount, makeRunner, startConnector, tmpDir } from '../lib/stack.mjs';

const { t, run } = makeRunner('connector_routes');
const TOKEN = 'tok_' + '0f1e2d3c4b5a'.repeat(3);
const dir = tmpDir('ak-cn-routes-');
let conn, acct;

// One raw HTTP/1.1 exchange on a new connection; resolves with {status, head, body, closed}.
function raw(port, text) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      const end = buf.indexOf('\r\n\r\n');
      const m = /content-length:\s*(\d+)/i.exec(buf);
      const len = text.startsWith('HEAD ') ? 0 : m ? Number(m[1]) : -1; // HEAD: no body follows
      if (end >= 0 && len >= 0 && buf.length >= end + 4 + len) {
        // Answered: does the server keep the connection? (closed within 300 ms = no)
        const head = buf.slice(0, end);
        const t0 = setTimeout(() => { s.destroy(); resolve({ status: Number(head.split(' ')[1]), head, body: buf.slice(end + 4), closed: false }); }, 300);
        s.once('close', () => { clearTimeout(t0); resolve({ status: Number(head.split(' ')[1]), head, body: buf.slice(end + 4), closed: true }); });
      }
    });
    s.on('error', reject);
  });
}

const req = (method, path, { body = '', auth = false } = {}) =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth ? `Authorization: Bearer ${TOKEN}\r\n` : ''}` +
  `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

async function metric(path, cls) {
  const text = await (await fetch(`${conn.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const m = new RegExp(`anode_connector_http_requests_total\\{path="${path}",status="${cls}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

t('start', async () => {
  acct = localAccount(dir);
  fs.writeFileSync(`${dir}/tokens`, `${TOKEN}\n`, { mode: 0o600 });
  conn = await startConnector({
    config: { accounts: [acct.config], auth: { bearer_tokens_file: `${dir}/tokens` } },
    downstreamUrl: 'http://127.0.0.1:9/', args: ['--chain-id', '31337'], dir,
  });
  assert(!/libmicrohttpd/.test(conn.log()), `no libmicrohttpd warning at start: ${conn.log()}`);
});

t('open routes: /health and /ready, GET and HEAD, kept alive', async () => {
  const h = await raw(conn.port, req('GET', '/health'));
  assertEq([h.status, h.body, h.closed], [200, '{"status":"ok"}', false], 'GET /health');
  assert(/content-type: application\/json/i.test(h.head), 'json');
  const hd = await raw(conn.port, req('HEAD', '/health'));
  assertEq([hd.status, hd.closed], [200, false], 'HEAD /health');
  const r = await raw(conn.port, req('GET', '/ready'));
  assert(r.status === 200 || r.status === 503, `GET /ready ${r.status}`);
  assert(/"status":"(not )?ready"/.test(r.body), `/ready body ${r.body}`);
});

t('authenticated routes: 401 with WWW-Authenticate; GET kept alive, POST closed at once', async () => {
  for (const path of ['/metrics', '/signers']) {
    const no = await raw(conn.port, req('GET', path));
    assertEq([no.status, no.body, no.closed], [401, '{"error":"unauthorized"}', false], `GET ${path} without token`);
    assert(/www-authenticate: Bearer/i.test(no.head), `WWW-Authenticate on ${path}`);
    const yes = await raw(conn.port, req('GET', path, { auth: true }));
    assertEq(yes.status, 200, `GET ${path} with token`);
  }
  const signers = await raw(conn.port, req('GET', '/signers', { auth: true }));
  assert(signers.body.includes(acct.address.slice(2).toLowerCase()) || signers.body.includes(acct.address), '/signers lists the account');
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_accounts' });
  const p = await raw(conn.port, req('POST', '/', { body }));
  assertEq([p.status, p.closed], [401, true], 'POST without token: 401, connection closed');
  assert(/www-authenticate: Bearer/i.test(p.head), 'WWW-Authenticate on POST');
  const ok = await raw(conn.port, req('POST', '/any/path', { body, auth: true }));
  assertEq([ok.status, JSON.parse(ok.body).result, ok.closed], [200, [acct.address], false], 'POST any path = JSON-RPC');
});

t('404 and 405 (Allow: GET, POST), each counted under its label', async () => {
  const other404 = await metric('other', '4xx');
  const health4 = await metric('health', '4xx');
  const nf = await raw(conn.port, req('GET', '/nope'));
  assertEq([nf.status, nf.body], [404, '{"error":"not found"}'], 'GET /nope');
  assertEq((await raw(conn.port, req('GET', '/'))).status, 404, 'GET / (JSON-RPC is POST only)');
  const na = await raw(conn.port, req('PUT', '/health'));
  assertEq([na.status, na.body], [405, '{"error":"method not allowed"}'], 'PUT /health');
  assert(/allow: GET, POST/i.test(na.head), 'Allow header');
  assertEq((await raw(conn.port, req('DELETE', '/nope'))).status, 405, 'DELETE /nope');
  assertEq(await metric('other', '4xx'), other404 + 3, 'GET /nope, GET /, DELETE /nope counted as other');
  assertEq(await metric('health', '4xx'), health4 + 1, 'PUT /health counted as health');
});

t('POST /api/v1/paymaster/sponsor without a paymaster is JSON-RPC (no such route)', async () => {
  const r = await raw(conn.port, req('POST', '/api/v1/paymaster/sponsor', { body: '{"x":1}', auth: true }));
  assertEq(r.status, 200, 'answered by the JSON-RPC route');
  assertEq(JSON.parse(r.body).error.code, -32600, 'as an invalid JSON-RPC request');
});

t('clean stop: exit 0, no sanitizer report', async () => {
  const ex = await conn.stop();
  assertEq(ex.code, 0, 'exit code');
  assert(!/AddressSanitizer|LeakSanitizer|runtime error/.test(conn.log()), `sanitizer report: ${conn.log().slice(-2000)}`);
});

run();
