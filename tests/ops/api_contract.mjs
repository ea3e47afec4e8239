// api_contract.mjs - contract test of the API specs against the running daemons (real SoftHSM,
// real TLS, anvil): every key server endpoint and every documented error code is provoked and
// its response validated (ajv, JSON Schema 2020-12) against docs/api/keyserver.openapi.yaml;
// every connector method answered here and every documented JSON-RPC error code is provoked and
// validated against docs/api/connector.openrpc.json (result schema, or an error the method lists).
// Also checks the TLS expiry metrics of both daemons against openssl's reading of the files.
// Not provoked: `internal` / -32603 (out of memory), `shutting_down` (needs a draining server),
// `state_unavailable` (needs PostgreSQL: e2e_state_ha_cap validates it against the same spec).
// hsm_unavailable uses the test-only PKCS#11 fault module (tests/integration/pkcs11, forwarding to
// SoftHSM) when P11_FAULT_MODULE_PATH is set. Prints "N passed, N failed".
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import {
  SOURCE_DIR, toolsRequire, makeRunner, assert, assertEq, tmpDir, startAnvil, startConnector,
  localAccount, fund, rpc, rpcRaw, post, waitFor, sleep, freePort,
} from '../e2e/lib/stack.mjs';
import { makeToken, makePki, startKeyserver, keylessAccount, derToRS, SECP256K1_N } from '../e2e/lib/fullstack.mjs';

const { t, run } = makeRunner('api_contract');
const YAML = toolsRequire('yaml');
const Ajv2020 = toolsRequire('ajv/dist/2020').default;
const addFormats = toolsRequire('ajv-formats').default;
const { ethers } = toolsRequire('ethers');

const ksDoc = YAML.parse(fs.readFileSync(path.join(SOURCE_DIR, 'docs/api/keyserver.openapi.yaml'), 'utf8'));
const cnDoc = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, 'docs/api/connector.openrpc.json'), 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(ksDoc, 'ks');
ajv.addSchema(cnDoc, 'cn');
const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const compiled = new Map();
function validator(ref) {
  if (!compiled.has(ref)) compiled.set(ref, ajv.compile({ $ref: ref }));
  return compiled.get(ref);
}
function validate(ref, value, what) {
  const v = validator(ref);
  if (!v(value)) throw new Error(`${what}: does not match ${ref}: ${ajv.errorsText(v.errors)}\n${JSON.stringify(value).slice(0, 400)}`);
}

// ---- key server -------------------------------------------------------------------------------
const ksCodesSeen = new Set();
const ksOpsSeen = new Set();
// Validate one key server answer against the OpenAPI document.
function checkKs(method, url, r, wantStatus, wantCode) {
  const p = url.split('?')[0];
  const op = ksDoc.paths[p] && ksDoc.paths[p][method.toLowerCase()];
  let base;
  let resp;
  if (op) {
    resp = op.responses[String(r.status)];
    base = `ks#/paths/${esc(p)}/${method.toLowerCase()}/responses/${r.status}`;
    assert(resp, `${method} ${p}: status ${r.status} is not in the spec (${r.text.slice(0, 200)})`);
    ksOpsSeen.add(`${method} ${p}`);
  } else {
    // a method the path does not have: 405 (components.responses.MethodNotAllowed); an unknown
    // path: 404 (components.responses.NotFound)
    resp = { $ref: `#/components/responses/${ksDoc.paths[p] ? 'MethodNotAllowed' : 'NotFound'}` };
  }
  if (resp.$ref) {
    const name = resp.$ref.split('/').pop();
    resp = ksDoc.components.responses[name];
    base = `ks#/components/responses/${name}`;
  }
  const ct = (r.headers['content-type'] || '').split(';')[0].trim();
  assert(resp.content && resp.content[ct], `${method} ${p} ${r.status}: content type ${ct} not in the spec`);
  for (const [h, spec] of Object.entries(resp.headers || {})) {
    if (spec.required) assert(r.headers[h.toLowerCase()] !== undefined, `${method} ${p} ${r.status}: header ${h} missing`);
    if (spec.schema && spec.schema.enum) assert(spec.schema.enum.includes(r.headers[h.toLowerCase()]), `header ${h}: ${r.headers[h.toLowerCase()]}`);
  }
  const value = ct === 'application/json' ? JSON.parse(r.text) : r.text;
  validate(`${base}/content/${esc(ct)}/schema`, value, `${method} ${p} ${r.status}`);
  if (wantStatus !== undefined) assertEq(r.status, wantStatus, `${method} ${p} status`);
  if (wantCode !== undefined) assertEq(value.error.code, wantCode, `${method} ${p} error code`);
  if (value && value.error) ksCodesSeen.add(value.error.code);
  if (value && value.results) for (const it of value.results) if (it.error) ksCodesSeen.add(it.error.code);
  return value;
}

let dir, token, pki, ks, cn, anvil, proxy, local, pmAcct;
const faultModule = process.env.P11_FAULT_MODULE_PATH || '';
const faultFile = () => path.join(dir, 'fault.ctl');
let faultSeq = 1;
const fault = (cmd) => fs.writeFileSync(faultFile(), `${faultSeq++} ${cmd}\n`);

function ksReq(client, method, p, { body, agent, port = ks.port } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
    const req = https.request({
      host: '127.0.0.1', port, path: p, method, agent: agent || false,
      ca: fs.readFileSync(pki.ca), cert: fs.readFileSync(pki.cert(client)), key: fs.readFileSync(pki.key(client)),
      headers: data !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {},
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}
const D32 = Buffer.alloc(32, 7).toString('base64');
const sreq = (o = {}) => ({ key_id: 'k1', data: D32, ...o });
async function ks1(client, method, p, body, wantStatus, wantCode) {
  return checkKs(method, p, await ksReq(client, method, p, { body }), wantStatus, wantCode);
}

t('start: SoftHSM token, PKI, key server (mTLS, CRL, limits), anvil, connector (keyless + local + paymaster)', async () => {
  dir = tmpDir('ak-contract-');
  token = makeToken(dir, { label: 'contract', keyLabel: 'k1' });
  pki = makePki(dir, ['connector', 'limited', 'revokee', 'stranger']);
  process.env.P11_FAULT_TARGET = '/usr/lib/softhsm/libsofthsm2.so';
  process.env.P11_FAULT_FILE = faultFile();
  fault('none');
  const module = faultModule || '/usr/lib/softhsm/libsofthsm2.so';
  ks = await startKeyserver({
    dir, token, pki, keyId: 'k1', threads: 0,
    extra: {
      tls: { cert: path.join(pki.dir, 'server.crt'), key: path.join(pki.dir, 'server.key'), client_ca: pki.ca,
        crl: path.join(pki.dir, 'crl.pem') },
      pkcs11: { module, token_label: token.label, pin_file: token.pinFile, max_sessions: 4, op_timeout_ms: 2000 },
      // k2: the same key object with raw_digest off (issue 11), for policy_denied
      keys: { k1: `pkcs11:token=${token.label};object=${token.keyLabel}`,
        k2: { uri: `pkcs11:token=${token.label};object=${token.keyLabel}`, policy: { raw_digest: false } } },
      clients: { 'cn:connector': ['k1'], 'cn:limited': { keys: ['k1'], max_signatures_per_s: 1, burst: 1 }, 'cn:revokee': ['k1', 'k2'] },
      limits: { max_body: 2048, max_batch: 4, max_json_depth: 8, threads: 0 },
    },
  });
  anvil = await startAnvil();
  // A stand-in for the path to the node: forwards to anvil, or answers like a broken proxy
  // (HTML 502: -32001) or drops the connection (-32002), as the test asks.
  proxy = { mode: 'forward' };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      if (proxy.mode === 'html') { res.writeHead(502, { 'content-type': 'text/html' }); res.end('<html>bad gateway</html>'); return; }
      if (proxy.mode === 'drop') { req.socket.destroy(); return; }
      const r = await post(anvil.url, body);
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(r.text);
    });
  });
  const pport = await freePort();
  await new Promise((r) => server.listen(pport, '127.0.0.1', r));
  server.unref();
  proxy.url = `http://127.0.0.1:${pport}/`;
  local = localAccount(dir);
  // The paymaster's account answers only pm_* (docs/paymaster.md): it gets a key of its own, so the
  // generic signing methods below are exercised on the keyless (HSM) account.
  pmAcct = localAccount(dir);
  const sender = ethers.Wallet.createRandom().address;
  proxy.sender = sender;
  cn = await startConnector({
    dir,
    downstreamUrl: proxy.url,
    args: ['--chain-id', '31337', '--downstream-timeout-ms', '3000'],
    config: {
      accounts: [
        keylessAccount({ urls: [ks.url], keyId: 'k1', pki, name: 'hsm' }),
        { ...local.config, policy: { allowed_methods: ['eth_sign'] } },
        pmAcct.config,
      ],
      paymaster: {
        account: pmAcct.address,
        address: '0x9d3b8df2e7dc8fb1a2b4c6d8e0f1a3b5c7d9e1f3',
        entry_points: ['0x0000000071727de22e5e9d8baf0edac6f37da032'],
        chain_ids: [31337],
        allowed_senders: [sender],
        max_gas_per_op: 3000000,
        sponsor_name: 'Contract Test',
      },
    },
  });
  await fund(anvil.url, token.address);
});

t('key server POST /sign: single and batch (signed items, refused items) match the spec', async () => {
  const one = await ks1('connector', 'POST', '/sign', sreq({ algorithm: 'ECDSA_SHA256', request_id: 'r-1' }), 200);
  assertEq(one.request_id, 'r-1', 'request_id echoed');
  // the DER signature is by the token's key: ethers recovers the public key from (r, s) and the digest
  const { r, s } = derToRS(Buffer.from(one.signature, 'base64'));
  const lowS = s > SECP256K1_N / 2n ? SECP256K1_N - s : s;
  const hex = (n) => ethers.toBeHex(n, 32);
  const digest = ethers.hexlify(Buffer.alloc(32, 7));
  const recovered = [27, 28].map((v) => ethers.SigningKey.recoverPublicKey(digest, { r: hex(r), s: hex(lowS), v }));
  assert(recovered.includes(token.publicKey), 'signature recovers to the token\'s public key');
  const b = await ks1('connector', 'POST', '/sign', { requests: [sreq({ request_id: 'a' }), sreq({ key_id: 'k9', request_id: 'b' }),
    sreq({ data: 'AAAA' })] }, 200);
  assertEq(b.results.map((r) => (r.error ? r.error.code : 'signed')), ['signed', 'key_not_allowed', 'bad_digest_length'], 'batch items');
});

t('key server /pubkey (GET one, GET list, POST) and /health (GET, POST) match the spec', async () => {
  const g = await ks1('connector', 'GET', '/pubkey?key_id=k1', undefined, 200);
  assertEq(g.address, token.address, 'address (computed by ethers from pkcs11-tool\'s public key)');
  assertEq(g.public_key, token.publicKey, 'public key');
  const l = await ks1('connector', 'GET', '/pubkey', undefined, 200);
  assertEq(l.keys.length, 1, 'one key listed');
  await ks1('connector', 'POST', '/pubkey', { key_id: 'k1' }, 200);
  await ks1('connector', 'GET', '/health', undefined, 200);
  await ks1('connector', 'POST', '/health', { key_id: 'k1' }, 200);
});

t('key server GET /metrics matches the spec; TLS expiry gauges equal openssl\'s dates', async () => {
  const r = await ksReq('connector', 'GET', '/metrics');
  const text = checkKs('GET', '/metrics', r, 200);
  const unix = (s) => Math.floor(Date.parse(s) / 1000);
  const enddate = (f) => unix(execFileSync('openssl', ['x509', '-noout', '-enddate', '-in', f], { encoding: 'utf8' }).split('=')[1]);
  const nextupd = unix(execFileSync('openssl', ['crl', '-noout', '-nextupdate', '-in', path.join(pki.dir, 'crl.pem')], { encoding: 'utf8' }).split('=')[1]);
  const g = (file) => Number((new RegExp(`^anode_keyserver_tls_expiry_timestamp_seconds\\{file="${file}"\\} (\\d+)$`, 'm').exec(text) || [])[1]);
  assertEq(g('cert'), enddate(path.join(pki.dir, 'server.crt')), 'server certificate notAfter');
  assertEq(g('client_ca'), enddate(pki.ca), 'client CA notAfter');
  assertEq(g('crl'), nextupd, 'CRL nextUpdate');
  execFileSync('promtool', ['check', 'metrics'], { input: text });
});

t('key server 400 codes: each documented request-shape error, with the spec\'s schema', async () => {
  const cases = [
    ['{"key_id":', 'bad_json'], ['[1,2]', 'bad_json'],
    [`${'{"a":'.repeat(10)}1${'}'.repeat(10)}`, 'json_too_deep'],
    ['{"key_id":"k1","key_id":"k1","data":"x"}', 'invalid_json'], ['{"key_id":"k\\u0000","data":"x"}', 'invalid_json'],
    [sreq({ data: 'not*base64' }), 'bad_base64'], [sreq({ data: 'AAAA' }), 'bad_digest_length'],
    [sreq({ algorithm: 'ECDSA_SHA512' }), 'unknown_algorithm'], [{ key_id: 1, data: D32 }, 'bad_field_type'],
    [sreq({ extra: 'x' }), 'unknown_field'], [{ data: D32 }, 'missing_field'], [sreq({ key_id: '' }), 'bad_key_id'],
    [sreq({ request_id: 'x'.repeat(129) }), 'bad_request_id'], [{ requests: [sreq()], more: 1 }, 'bad_request'],
    [{ requests: [] }, 'empty_batch'],
    [{ key_id: 'k1', intent: { kind: 'eip191_message', message: '0x00', extra: 1 } }, 'bad_intent'],
    [{ key_id: 'k1', data: D32, intent: { kind: 'eip191_message', message: '0x00' } }, 'digest_mismatch'],
  ];
  for (const [body, code] of cases) await ks1('connector', 'POST', '/sign', body, 400, code);
  await ks1('connector', 'POST', '/pubkey', { key: 'k1' }, 400, 'missing_field');
});

t('key server 403/404/405/413/429 codes match the spec', async () => {
  await ks1('connector', 'POST', '/sign', sreq({ key_id: 'k9' }), 403, 'key_not_allowed');
  await ks1('revokee', 'POST', '/sign', sreq({ key_id: 'k2' }), 403, 'policy_denied');
  await ks1('revokee', 'POST', '/sign', { key_id: 'k2', intent: { kind: 'eip191_message', message: '0x00' } }, 200);
  await ks1('connector', 'GET', '/pubkey?key_id=k9', undefined, 403, 'key_not_allowed');
  await ks1('stranger', 'POST', '/sign', sreq(), 403, 'client_not_allowed');
  await ks1('stranger', 'GET', '/health', undefined, 403, 'client_not_allowed');
  await ks1('connector', 'GET', '/nowhere', undefined, 404, 'not_found');
  await ks1('connector', 'GET', '/sign', undefined, 405, 'method_not_allowed');
  await ks1('connector', 'DELETE', '/pubkey', undefined, 405, 'method_not_allowed');
  await ks1('connector', 'POST', '/metrics', '{}', 405, 'method_not_allowed');
  await ks1('connector', 'POST', '/sign', sreq({ request_id: 'x'.repeat(100), pad: 'y'.repeat(3000) }), 413, 'body_too_large');
  await ks1('connector', 'POST', '/sign', { requests: [sreq(), sreq(), sreq(), sreq(), sreq()] }, 413, 'batch_too_large');
  await ks1('limited', 'POST', '/sign', sreq(), 200);
  await ks1('limited', 'POST', '/sign', sreq(), 429, 'rate_limited');
});

t('key server 403 client_certificate_required: revoked (CRL + SIGHUP) on an open keep-alive connection', async () => {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  checkKs('GET', '/health', await ksReq('revokee', 'GET', '/health', { agent }), 200);
  const cnf = path.join(pki.dir, 'ca.cnf');
  execFileSync('openssl', ['ca', '-config', cnf, '-revoke', pki.cert('revokee')], { stdio: 'ignore' });
  execFileSync('openssl', ['ca', '-config', cnf, '-gencrl', '-out', path.join(pki.dir, 'crl.pem')], { stdio: 'ignore' });
  process.kill(ks.pid, 'SIGHUP');
  await waitFor(() => /TLS certificate, key, client CA and CRL reloaded/.test(ks.log()), { what: 'reload' });
  const r = await ksReq('revokee', 'GET', '/health', { agent });
  checkKs('GET', '/health', r, 403, 'client_certificate_required');
  agent.destroy();
});

t('key server 503 hsm_unavailable (sign, batch item, health) with the PKCS#11 fault module', async () => {
  assert(faultModule, 'P11_FAULT_MODULE_PATH not set (tests/ops/CMakeLists.txt sets it)');
  fault('all 0xE0'); // CKR_TOKEN_NOT_PRESENT on every call
  await ks1('connector', 'POST', '/sign', sreq(), 503, 'hsm_unavailable');
  const b = await ks1('connector', 'POST', '/sign', { requests: [sreq()] }, 200);
  assertEq(b.results[0].error.code, 'hsm_unavailable', 'batch item');
  await ks1('connector', 'GET', '/health', undefined, 503, 'hsm_unavailable');
  fault('none');
  await waitFor(async () => (await ksReq('connector', 'GET', '/health')).status === 200, { what: 'HSM back', timeoutMs: 15000 });
});

t('key server 503 audit_unavailable (audit log on /dev/full) matches the spec', async () => {
  fault('none');
  const full = await startKeyserver({
    dir, token, pki, keyId: 'k1', threads: 0,
    extra: { clients: { 'cn:connector': ['k1'] }, audit: { file: '/dev/full', fsync: 'always' } },
  });
  const r = await ksReq('connector', 'POST', '/sign', { body: sreq(), port: full.port });
  checkKs('POST', '/sign', r, 503, 'audit_unavailable');
  await full.stop();
});

t('every key server endpoint and error code of the spec was exercised (but internal, shutting_down, state_unavailable)', async () => {
  const ops = Object.entries(ksDoc.paths).flatMap(([p, o]) => Object.keys(o).map((m) => `${m.toUpperCase()} ${p}`));
  assertEq(ops.filter((o) => !ksOpsSeen.has(o)), [], 'operations not exercised');
  // shutting_down is not provoked either: it needs a key server mid-shutdown (draining after SIGTERM).
  // state_unavailable needs an HA pair's PostgreSQL: provoked and validated against this spec by
  // e2e_state_ha_cap (tests/e2e/state/state_ha_cap.mjs).
  const codes = ksDoc.components.schemas.ErrorCode.enum.filter((c) => c !== 'internal' && c !== 'shutting_down' && c !== 'state_unavailable');
  assertEq(codes.filter((c) => !ksCodesSeen.has(c)), [], 'error codes not exercised');
});

// ---- connector --------------------------------------------------------------------------------
const cnCodesSeen = new Set();
const cnMethodsSeen = new Set();
const errorsByCode = Object.fromEntries(Object.entries(cnDoc.components.errors).map(([, e]) => [e.code, e]));
function methodErrors(m) {
  return m.errors.map((e) => cnDoc.components.errors[e.$ref.split('/').pop()].code);
}
// Validate one JSON-RPC answer against the OpenRPC document.
function checkCn(method, resp, wantCode) {
  assertEq(resp.jsonrpc, '2.0', 'jsonrpc');
  const i = cnDoc.methods.findIndex((m) => m.name === method);
  if (resp.error) {
    assert(Number.isInteger(resp.error.code) && typeof resp.error.message === 'string', 'error object shape');
    assert(errorsByCode[resp.error.code], `${method}: error ${resp.error.code} is not in the spec`);
    if (i >= 0) assert(methodErrors(cnDoc.methods[i]).includes(resp.error.code), `${method}: error ${resp.error.code} not listed for the method`);
    cnCodesSeen.add(resp.error.code);
    if (wantCode !== undefined) assertEq(resp.error.code, wantCode, `${method} error code (${resp.error.message})`);
    return resp.error;
  }
  assert(wantCode === undefined, `${method}: expected error ${wantCode}, got ${JSON.stringify(resp.result).slice(0, 200)}`);
  assert(i >= 0, `${method} is not a method of the spec`);
  validate(`cn#/methods/${i}/result/schema`, resp.result, method);
  cnMethodsSeen.add(method);
  return resp.result;
}
const call = async (method, params, wantCode) => checkCn(method, await rpcRaw(cn.url, method, params), wantCode);

t('connector eth_accounts, eth_requestAccounts, eth_sign, personal_sign match the spec', async () => {
  const accts = await call('eth_accounts', []);
  assertEq(accts, [token.address, local.address, pmAcct.address], 'accounts');
  await call('eth_requestAccounts', []);
  const s1 = await call('eth_sign', [token.address, '0xdeadbeef']);
  assertEq(ethers.verifyMessage(ethers.getBytes('0xdeadbeef'), s1), token.address, 'eth_sign recovers');
  const s2 = await call('personal_sign', ['0x68656c6c6f', token.address]);
  assertEq(ethers.verifyMessage('hello', s2), token.address, 'personal_sign recovers');
});

t('connector eth_signTypedData_v4 (JSON text) and eth_signTypedData (object) match the spec', async () => {
  const domain = { name: 'Contract', version: '1', chainId: 31337 };
  const types = { Mail: [{ name: 'contents', type: 'string' }] };
  const td = { types: { EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' }, { name: 'chainId', type: 'uint256' }], ...types },
    primaryType: 'Mail', domain, message: { contents: 'hi' } };
  const a = await call('eth_signTypedData_v4', [token.address, JSON.stringify(td)]);
  assertEq(ethers.verifyTypedData(domain, types, { contents: 'hi' }, a), token.address, 'v4 recovers');
  await call('eth_signTypedData', [token.address, td]);
});

t('connector eth_signTransaction and eth_sendTransaction match the spec', async () => {
  const tx = { from: token.address, to: '0x00000000000000000000000000000000000000a1', value: '0x1' };
  const raw = await call('eth_signTransaction', [tx]);
  assertEq(ethers.Transaction.from(raw).from, token.address, 'raw transaction signer');
  const hash = await call('eth_sendTransaction', [tx]);
  await waitFor(async () => (await rpc(anvil.url, 'eth_getTransactionReceipt', [hash])) !== null, { what: 'receipt' });
});

t('connector pm_getPaymasterStubData and pm_getPaymasterData match the spec; -32010 on a refused sender', async () => {
  const op = { sender: proxy.sender, nonce: '0x0', callData: '0x', callGasLimit: '0x186a0', verificationGasLimit: '0xf4240',
    preVerificationGas: '0xea60', maxFeePerGas: '0x77359400', maxPriorityFeePerGas: '0x3b9aca00' };
  const ep = '0x0000000071727De22E5E9d8BAf0edAc6f37da032';
  const stub = await call('pm_getPaymasterStubData', [op, ep, '0x7a69', {}]);
  assertEq(stub.sponsor.name, 'Contract Test', 'sponsor');
  await call('pm_getPaymasterData', [op, ep, '0x7a69', {}]);
  await call('pm_getPaymasterData', [{ ...op, sender: ethers.Wallet.createRandom().address }, ep, '0x7a69', {}], -32010);
});

t('connector error codes -32700 -32600 -32005 -32602 -32000 -32003 -32001 -32002 match the spec', async () => {
  const parse = JSON.parse((await post(cn.url, '{"jsonrpc":"2.0",')).text);
  checkCn('(parse)', parse, -32700);
  const inv = JSON.parse((await post(cn.url, { jsonrpc: '1.0', id: 1, method: 'eth_accounts' })).text);
  checkCn('(invalid)', inv, -32600);
  // -32005: a body under max_body_bytes whose parse tree would exceed max_request_memory_bytes (413)
  const big = await post(cn.url, `[${'0,'.repeat(500000)}0]`);
  assertEq(big.status, 413, 'over the per-request memory limit: HTTP status');
  checkCn('(too large)', JSON.parse(big.text), -32005);
  await call('eth_sign', ['0x1234', '0xdeadbeef'], -32602);
  await call('eth_sign', [ethers.Wallet.createRandom().address, '0xdeadbeef'], -32000);
  await call('personal_sign', ['0x68656c6c6f', local.address], -32003);
  const tx = { from: token.address, to: '0x00000000000000000000000000000000000000a1', value: '0x1' };
  proxy.mode = 'html';
  await call('eth_signTransaction', [tx], -32001);
  proxy.mode = 'drop';
  await call('eth_signTransaction', [tx], -32002);
  proxy.mode = 'forward';
});

t('connector /metrics: client certificate expiry equals openssl\'s notAfter', async () => {
  const text = await (await fetch(`${cn.url}/metrics`)).text();
  const m = /^anode_connector_tls_expiry_timestamp_seconds\{certificate="client",name="hsm"\} (\d+)$/m.exec(text);
  assert(m, 'client certificate expiry gauge present');
  const end = execFileSync('openssl', ['x509', '-noout', '-enddate', '-in', pki.cert('connector')], { encoding: 'utf8' }).split('=')[1];
  assertEq(Number(m[1]), Math.floor(Date.parse(end) / 1000), 'notAfter');
  execFileSync('promtool', ['check', 'metrics'], { input: text });
});

t('every connector method and error code of the spec was exercised (but -32603)', async () => {
  assertEq(cnDoc.methods.map((m) => m.name).filter((n) => !cnMethodsSeen.has(n)), [], 'methods not exercised');
  const codes = Object.values(cnDoc.components.errors).map((e) => e.code).filter((c) => c !== -32603);
  assertEq(codes.filter((c) => !cnCodesSeen.has(c)), [], 'error codes not exercised');
});

// runTests exits the process: the temporary directory goes in the exit hook (after stopAll).
process.on('exit', () => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });
run();
