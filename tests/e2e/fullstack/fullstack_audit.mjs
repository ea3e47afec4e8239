// fullstack_audit.mjs - the two audit logs together, real parts only (SoftHSM2 token,
// anode-keyserver over mutual TLS, anode-connector with the keyless signer, anvil): every
// signature the connector returns has a connector record whose request id is the one the key
// server recorded for the same digest (the connector sends a request id with every signature); a
// failed attempt is recorded too;
// both logs verify with anode-keytool audit-verify, also against their anchors after a clean stop.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  BUILD_DIR, assert, assertEq, makeRunner, post, rpcRaw, startAnvil, startConnector, tmpDir, toolsRequire,
} from '../lib/stack.mjs';
import { keylessAccount, makePki, makeToken, startKeyserver } from '../lib/fullstack.mjs';

const { ethers } = toolsRequire('ethers');
const KEYTOOL = path.join(BUILD_DIR, 'keyserver/keytool/anode-keytool');
const dir = tmpDir('ak-fs-audit-');
const { t, run } = makeRunner('fullstack_audit');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
let token, pki, ks, anvil, conn;
const cnLog = path.join(dir, 'connector-audit.jsonl');
const cnAnchor = path.join(dir, 'connector-audit.anchor');
const ksAnchor = path.join(dir, 'keyserver-audit.anchor');
const received = []; // {sig, digest}

const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));
const verify = (...args) => spawnSync(KEYTOOL, ['audit-verify', ...args], { encoding: 'utf8' });

t('start SoftHSM token, key server (anchored audit), anvil, connector (audit on)', async () => {
  token = makeToken(dir);
  pki = makePki(dir);
  ks = await startKeyserver({
    dir, token, pki,
    extra: { audit: { file: path.join(dir, 'audit.log'), fsync: 'always', anchor_file: ksAnchor, anchor_interval_ms: 100 } },
  });
  anvil = await startAnvil();
  conn = await startConnector({
    config: {
      accounts: [keylessAccount({ urls: [ks.url], pki })],
      audit: { path: cnLog, fsync: 'always', anchor_path: cnAnchor, anchor_interval_ms: 100 },
    },
    downstreamUrl: anvil.url,
  });
});

t('signatures through the key server: each has a connector record and a key server record with the same request id', async () => {
  for (let i = 0; i < 5; i++) {
    const msg = `fullstack audit ${i}`;
    const r = await rpcRaw(conn.url, 'personal_sign', [msg, token.address]);
    assertEq(ethers.verifyMessage(msg, r.result), token.address, 'HSM signature judged by ethers');
    received.push({ sig: r.result, digest: ethers.hashMessage(msg) });
  }
  const batch = await post(conn.url, [0, 1, 2, 3].map((i) => ({
    jsonrpc: '2.0', id: i, method: 'personal_sign', params: [`batch ${i}`, token.address],
  })));
  JSON.parse(batch.text).forEach((a) => received.push({ sig: a.result, digest: ethers.hashMessage(`batch ${a.id}`) }));

  const cn = lines(cnLog);
  const ksRecs = lines(ks.auditFile);
  const byRid = new Map(ksRecs.map((r) => [r.request_id, r]));
  assertEq(cn.length, received.length, 'one connector record per signature');
  for (const { sig, digest } of received) {
    const c = cn.find((r) => r.signature === sig);
    assert(c, `connector record for ${sig}`);
    assertEq([c.digest, c.signer_type, c.outcome], [digest, 'keyless', 'signed'], 'connector record');
    const k = byRid.get(c.request_id);
    assert(k, `the key server recorded request id ${c.request_id}`);
    assertEq(['0x' + k.digest, k.outcome, k.client_cn], [digest, 'signed', 'connector'], 'key server record of the same signature');
  }
});

t('key server down: the failed attempt is recorded (outcome failed, the error, no signature)', async () => {
  await ks.stop();
  const r = await rpcRaw(conn.url, 'personal_sign', ['while down', token.address]);
  assert(r.error && r.error.code === -32000 && r.result === undefined, JSON.stringify(r));
  const last = lines(cnLog).pop();
  assertEq([last.outcome, last.signature, last.signer_type, last.digest],
    ['failed', '', 'keyless', ethers.hashMessage('while down')], 'failure record');
  assert(last.error !== '', `the error is named: ${last.error}`);
});

t('both logs verify; after a clean stop also against their anchors', async () => {
  await conn.stop();
  for (const [log, anchor] of [[cnLog, cnAnchor], [ks.auditFile, ksAnchor]]) {
    const plain = verify(log);
    assertEq(plain.status, 0, `${log}: ${plain.stdout}${plain.stderr}`);
    const anchored = verify(log, '--anchor', anchor);
    assertEq(anchored.status, 0, `${log} with its anchor: ${anchored.stdout}${anchored.stderr}`);
    const n = lines(log).length;
    assertEq(JSON.parse(fs.readFileSync(anchor, 'utf8')).seq, n, 'the anchor names the last record');
    const cut = fs.readFileSync(log, 'utf8').split('\n').filter((l) => l).slice(0, n - 1);
    fs.writeFileSync(log, cut.join('\n') + '\n');
    assertEq(verify(log, '--anchor', anchor).status, 1, `${log}: the deleted last record is detected`);
  }
});

await run();
