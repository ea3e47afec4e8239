// common.mjs - shared plumbing of the connector_remote mock servers: a node https server on
// 127.0.0.1 with the test's certificate (DIR/server.crt, DIR/server.key), bounded request bodies,
// per-backend fault modes read from DIR/<name>.mode on every request, and JSON helpers.
// Test-only endpoints (/__stats, /__last, /__health) are unauthenticated and never part of a
// documented protocol.
import https from 'node:https';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

// ESM ignores NODE_PATH: load the test tools (ethers, @noble/curves) from tests/tools.
const here = path.dirname(new URL(import.meta.url).pathname);
export const requireTool = createRequire(path.join(here, '../../tools/package.json'));

export function mode(dir, name) {
  try { return fs.readFileSync(path.join(dir, name + '.mode'), 'utf8').trim(); } catch { return 'ok'; }
}

export function send(res, status, obj) {
  const b = typeof obj === 'string' ? obj : JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
  res.end(b);
}

export function readKey(dir, file) {
  return fs.readFileSync(path.join(dir, file), 'utf8').trim();
}

// serve(port, dir, name, handler(req, res, body, url, mode)) - handler may be async.
export function serve(port, dir, name, handler) {
  const server = https.createServer({
    key: fs.readFileSync(path.join(dir, 'server.key')),
    cert: fs.readFileSync(path.join(dir, 'server.crt')),
    minVersion: 'TLSv1.2',
    keepAliveTimeout: 60000,
  }, (req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 65536) { send(res, 413, { error: 'too large' }); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url, 'https://x');
      if (url.pathname === '/__health') return send(res, 200, { ok: true });
      const m = mode(dir, name);
      if (m === 'slow') await new Promise((r) => setTimeout(r, 3000));
      if (m === 'close') return req.socket.destroy();
      if (m === 'garbage' && !url.pathname.startsWith('/__')) return send(res, 200, '{"data": nope');
      if (m === '503' && !url.pathname.startsWith('/__')) return send(res, 503, { errors: ['unavailable'] });
      try {
        await handler(req, res, body, url, m);
      } catch (e) {
        send(res, 500, { error: String(e && e.message || e) });
      }
    });
  });
  server.listen(port, '127.0.0.1');
  const stop = () => process.exit(0); // tests stop mocks abruptly, like a crash
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return server;
}
