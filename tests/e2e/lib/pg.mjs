// tests/e2e/lib/pg.mjs - the PostgreSQL server of an e2e test (tests/integration/state/pg_lib.sh:
// Debian's server in <dir>/pg, as an unprivileged user, on a Unix socket and a loopback TLS port).
// On every exit path - after makeRunner's stopAll, and on an uncaught error after stopping every
// other process - the server is stopped by its PID and the test's directory removed.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR, stopAll, tmpDir } from './stack.mjs';

export const PG_LIB = path.join(SOURCE_DIR, 'tests/integration/state/pg_lib.sh');

export function pgServer(prefix) {
  const dir = tmpDir(prefix, { keep: true }); // removed below, once the server is stopped
  const pgDir = path.join(dir, 'pg');
  let up = false;
  for (const ev of ['uncaughtException', 'unhandledRejection']) {
    process.on(ev, async (e) => {
      console.log(`FAIL ${ev}: ${e && e.stack ? e.stack : e}`);
      await stopAll();
      process.exit(1);
    });
  }
  process.on('exit', () => {
    if (up) spawnSync('bash', [PG_LIB, 'stop', pgDir], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const ctl = (cmd) => execFileSync('bash', [PG_LIB, cmd, pgDir], { stdio: 'inherit' });
  return {
    dir,
    pgDir,
    // initdb, start, the databases anode, anode_mig and anode_nomig (pg_lib.sh's pg_setup)
    setup() {
      up = true;
      execFileSync('bash', ['-c', `. "${PG_LIB}" && pg_setup "${pgDir}"`], { stdio: 'inherit' });
    },
    stop: () => ctl('stop'),
    start: () => ctl('start'),
    // psql on the server's socket as the tests' superuser (anode); the output, trimmed
    psql(args) {
      const bin = fs.readdirSync('/usr/lib/postgresql').sort().map((v) => `/usr/lib/postgresql/${v}/bin/psql`).pop();
      const port = fs.readFileSync(path.join(pgDir, 'port'), 'utf8').trim();
      return execFileSync(bin, ['-h', path.join(pgDir, 'sock'), '-p', port, '-U', 'anode', '-v', 'ON_ERROR_STOP=1', ...args], { encoding: 'utf8' }).trim();
    },
  };
}
