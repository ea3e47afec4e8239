// sockact_lib.mjs - helpers of the restart tests: a socket-activated daemon under ak_sockact (the
// test's stand-in for a systemd .socket unit; SIGHUP to it = `systemctl restart`), plain HTTP
// requests that report how they ended, and /proc/PID/status readings.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { startProcess, waitFor } from '../lib/stack.mjs';

export const SOCKACT = process.env.AK_SOCKACT;

// Start cmd+args under ak_sockact on host:port. Returns the process handle plus:
// pids() - the daemon pids started so far; restart() - SIGHUP, resolves when the new one runs.
export async function startActivated(port, cmd, args, { env = {}, name = 'sockact', host = '127.0.0.1' } = {}) {
  if (!SOCKACT) throw new Error('AK_SOCKACT is not set (run through ctest)');
  const h = startProcess(SOCKACT, [host, String(port), '--', cmd, ...args], { env, name });
  h.pids = () => [...h.log().matchAll(/^started (\d+)$/gm)].map((m) => Number(m[1]));
  h.exits = () => [...h.log().matchAll(/^exited (\d+) (\d+)$/gm)].map((m) => ({ pid: Number(m[1]), status: Number(m[2]) }));
  await waitFor(() => h.pids().length === 1, { what: 'ak_sockact start' });
  h.daemonPid = () => h.pids().at(-1);
  h.restart = async () => {
    const n = h.pids().length;
    process.kill(h.pid, 'SIGHUP');
    await waitFor(() => h.pids().length === n + 1, { what: 'restart', timeoutMs: 60000 });
  };
  return h;
}

// One HTTP(S) request; never throws. Returns {kind, status, text, code}: kind "answer" (any HTTP
// answer), "refused" (ECONNREFUSED: nothing was sent) or "error" (reset, hang-up... after the
// connection was accepted).
export function request(url, { method = 'POST', body, headers = {}, agent, tls } = {}) {
  return new Promise((resolve) => {
    const mod = url.startsWith('https:') ? https : http;
    const data = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
    const req = mod.request(url, {
      method, agent: agent ?? false, ...tls,
      headers: { ...(data !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ kind: 'answer', status: res.statusCode, text: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', (e) => resolve({ kind: 'error', code: e.code || e.message }));
    });
    req.on('error', (e) => resolve({ kind: e.code === 'ECONNREFUSED' ? 'refused' : 'error', code: e.code || e.message }));
    req.end(data);
  });
}

// VmRSS / VmHWM of a process, in bytes.
export function memOf(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}
