// paymaster_keyless.mjs - the paymaster flow (pm_flow.mjs) with the key in an HSM: a SoftHSM2
// token with a secp256k1 key, anode-keyserver over mutual TLS, and the connector's `keyless`
// signer as the VerifyingPaymaster's verifyingSigner. The HSM address the contract trusts is
// computed from the token's public key by pkcs11-tool + node crypto + ethers (fullstack.mjs).
// The key has `raw_digest: false` (issue 11): the key server signs only the erc4337_paymaster
// intents the connector sends (send_intent auto) and recomputes the hash the contract checks.
import fs from 'node:fs';
import { makeRunner, tmpDir } from '../lib/stack.mjs';
import { keylessAccount, makePki, makeToken, startKeyserver } from '../lib/fullstack.mjs';
import { paymasterTests } from './pm_flow.mjs';

const dir = tmpDir('ak-pm-hsm-');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const { t, run } = makeRunner('paymaster_keyless');
paymasterTests(t, {
  dir,
  label: 'keyless (HSM)',
  makeSigner: async (d) => {
    const token = makeToken(d);
    const pki = makePki(d);
    const keys = { k1: { uri: `pkcs11:token=${token.label};object=${token.keyLabel}`, policy: { raw_digest: false } } };
    const ks = await startKeyserver({ dir: d, token, pki, extra: { keys } });
    return { config: keylessAccount({ urls: [ks.url], pki }), address: token.address };
  },
});
await run();
