// verify_sigs.mjs FILE ADDRESS - the independent judge of test_cn_cloudkms: every signature the
// gcp_kms / azure_key_vault signers returned (FILE: [{digest, r, s, v}] written by the test)
// must recover with ethers to ADDRESS (computed by ethers from the test's key) and be low-s.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const here = path.dirname(new URL(import.meta.url).pathname);
const { ethers } = createRequire(path.join(here, '../../tools/package.json'))('ethers');
const [file, want] = process.argv.slice(2);
const sigs = JSON.parse(fs.readFileSync(file, 'utf8'));
const half = ethers.N / 2n;
let bad = 0;
for (const x of sigs) {
  const sig = ethers.Signature.from({ r: x.r, s: x.s, v: x.v });
  const got = ethers.recoverAddress(x.digest, sig);
  if (got !== want || BigInt(x.s) > half) {
    bad++;
    console.error(`bad signature for ${x.digest}: recovers to ${got}, s ${x.s}`);
  }
}
if (sigs.length < 100) { console.error(`only ${sigs.length} signatures`); process.exit(1); }
console.log(`verify_sigs: ${sigs.length} signatures recover to ${want} with ethers and are low-s; ${bad} bad`);
process.exit(bad ? 1 : 0);
