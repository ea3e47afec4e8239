// stack.mjs - reusable end-to-end harness: start anvil and anode-connector (and any other
// daemon) on random free loopback ports, talk JSON-RPC to them, stop them by PID, and report
// "N passed, N failed" like the C unit tests. Used by tests/e2e/connector/*.mjs.
//
// Everything a test starts is registered and stopped (SIGTERM, then SIGKILL after 3 s) by
// stopAll(), which runTests() calls on every exit path.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.AK_SOURCE_DIR || path.resolve(here, '../../..');
export const BUILD_DIR = process.env.AK_BUILD_DIR || path.join(SOURCE_DIR, 'build');
export const TOOLS = path.join(SOURCE_DIR, 'tests/tools');
export const ANVIL = path.join(TOOLS, 'node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');
export const CAST = path.join(TOOLS, 'node_modules/@foundry-rs/cast-linux-amd64/bin/cast');
export const CONNECTOR = path.join(BUILD_DIR, 'connector/anode-connector');
// npm packages (ethers, viem) live in tests/tools/node_modules.
export const toolsRequire = createRequire(path.join(TOOLS, 'package.json'));

const started = new Set();

// A private temporary directory (test keys, PKI, logs), removed when the process exits. A test
// whose exit handler still needs it (to stop a server by the PID file in it) passes
// { keep: true } and removes it itself after that.
export function tmpDir(prefix = 'ak-e2e-', { keep = false } = {}) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (!keep) process.on('exit', () => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Start a process; returns {proc, pid, log(), stop()}. Output is kept in memory (bounded).
export function startProcess(cmd, args, { env = {}, name = path.basename(cmd) } = {}) {
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d) => {
    out += d.toString();
    if (out.length > 1 << 20) out = out.slice(-(1 << 19));
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig })));
  const h = {
    name,
    proc,
    pid: proc.pid,
    exited,
    log: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        started.delete(h);
        return exited;
      }
      process.kill(proc.pid, 'SIGTERM');
      const t = setTimeout(() => {
        try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
      }, 3000);
      const r = await exited;
      clearTimeout(t);
      started.delete(h);
      return r;
    },
  };
  started.add(h);
  return h;
}

export async function stopAll() {
  await Promise.all([...started].map((h) => h.stop()));
}

// Raw HTTP POST; returns {status, text, headers}.
export async function post(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

let nextId = 1;
// JSON-RPC call; returns the whole response object.
export async function rpcRaw(url, method, params = [], headers = {}) {
  const r = await post(url, { jsonrpc: '2.0', id: nextId++, method, params }, headers);
  return JSON.parse(r.text);
}

// JSON-RPC call; returns result or throws with the error object attached.
export async function rpc(url, method, params = [], headers = {}) {
  const j = await rpcRaw(url, method, params, headers);
  if (j.error) {
    const e = new Error(`${method}: ${j.error.code} ${j.error.message}`);
    e.rpc = j.error;
    throw e;
  }
  return j.result;
}

export async function waitFor(fn, { timeoutMs = 10000, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      if (await fn()) return;
    } catch (e) {
      last = e;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

// anvil with no accounts of its own (it cannot sign for anyone).
export async function startAnvil({ args = [] } = {}) {
  const port = await freePort();
  const h = startProcess(ANVIL, ['--accounts', '0', '--host', '127.0.0.1', '--port', String(port), ...args], { name: 'anvil' });
  h.port = port;
  h.url = `http://127.0.0.1:${port}`;
  await waitFor(() => rpc(h.url, 'eth_chainId').then(() => true), { what: 'anvil' });
  return h;
}

export async function fund(anvilUrl, address, wei = 10n ** 21n) {
  await rpc(anvilUrl, 'anvil_setBalance', [address, '0x' + wei.toString(16)]);
}

// anode-connector with a config object; extra CLI args and env may be given.
export async function startConnector({ config, downstreamUrl, args = [], env = {}, dir = tmpDir(), waitReady = true }) {
  const port = await freePort();
  const cfgPath = path.join(dir, 'connector.json');
  fs.writeFileSync(cfgPath, JSON.stringify(config, null, 2));
  const h = startProcess(CONNECTOR, [
    '--config', cfgPath, '--http-host', '127.0.0.1', '--http-port', String(port),
    '--downstream-url', downstreamUrl, ...args,
  ], { env, name: 'anode-connector' });
  h.port = port;
  h.url = `http://127.0.0.1:${port}`;
  h.configPath = cfgPath;
  if (waitReady) {
    await waitFor(async () => {
      if (h.proc.exitCode !== null) throw new Error(`connector exited: ${h.log()}`);
      const r = await fetch(`${h.url}/health`);
      return r.status === 200;
    }, { what: 'anode-connector' });
  }
  return h;
}

// A local-signer account: writes the key file; returns {config, address, key}.
export function localAccount(dir, keyHex) {
  const { ethers } = toolsRequire('ethers');
  const key = keyHex || ethers.Wallet.createRandom().privateKey;
  const file = path.join(dir, `key-${Math.random().toString(16).slice(2)}.hex`);
  fs.writeFileSync(file, key.replace(/^0x/, '') + '\n', { mode: 0o600 });
  const address = new ethers.Wallet(key).address;
  return { config: { signer: { type: 'local', key_file: file } }, address, key };
}

// A tiny test runner: t(name, fn) then run(); prints one line per test and the closing count.
export function makeRunner(title) {
  const tests = [];
  const t = (name, fn) => tests.push({ name, fn });
  const run = async () => {
    let passed = 0, failed = 0;
    const onSig = async () => { await stopAll(); process.exit(1); };
    process.on('SIGINT', onSig);
    process.on('SIGTERM', onSig);
    try {
      for (const { name, fn } of tests) {
        const t0 = Date.now();
        try {
          await fn();
          passed++;
          console.log(`ok   ${name} (${Date.now() - t0} ms)`);
        } catch (e) {
          failed++;
          console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
        }
      }
    } finally {
      await stopAll();
    }
    console.log(`${title}: ${passed} passed, ${failed} failed`);
    process.exit(failed === 0 && passed > 0 ? 0 : 1);
  };
  return { t, run };
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

export function assertEq(a, b, msg) {
  const sa = typeof a === 'string' ? a : JSON.stringify(a, (k, v) => (typeof v === 'bigint' ? v.toString() : v));
  const sb = typeof b === 'string' ? b : JSON.stringify(b, (k, v) => (typeof v === 'bigint' ? v.toString() : v));
  if (sa !== sb) throw new Error(`${msg}: ${sa} != ${sb}`);
}
