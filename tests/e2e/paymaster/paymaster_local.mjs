// paymaster_local.mjs - the paymaster flow (pm_flow.mjs) with the connector's `local` signer as
// the VerifyingPaymaster's verifyingSigner.
import { localAccount, makeRunner, tmpDir } from '../lib/stack.mjs';
import { paymasterTests } from './pm_flow.mjs';

const dir = tmpDir('ak-pm-e2e-');
const { t, run } = makeRunner('paymaster_local');
paymasterTests(t, { dir, label: 'local', makeSigner: async (d) => localAccount(d) });
await run();
