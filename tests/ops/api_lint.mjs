// api_lint.mjs - lints the API specs with standard validators from npm (tests/tools):
//   docs/api/keyserver.openapi.yaml  with @seriousme/openapi-schema-validator (OpenAPI 3.1
//                                    meta-schema, $refs resolved);
//   docs/api/connector.openrpc.json  with @open-rpc/schema-utils-js (OpenRPC meta-schema,
//                                    parsed and dereferenced);
// and checks that they name what the docs and code name: the key server's error codes are
// those of docs/keyserver.md's error table and of the string literals in keyserver/ks_api.c /
// ks_http.c; the connector's JSON-RPC error codes are those of docs/connector.md's table and
// docs/paymaster.md. Prints "N passed, N failed".
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SOURCE_DIR, TOOLS, toolsRequire, makeRunner, assert, assertEq } from '../e2e/lib/stack.mjs';

const { t, run } = makeRunner('api_lint');
const YAML = toolsRequire('yaml');
const OPENAPI = path.join(SOURCE_DIR, 'docs/api/keyserver.openapi.yaml');
const OPENRPC = path.join(SOURCE_DIR, 'docs/api/connector.openrpc.json');
const read = (p) => fs.readFileSync(path.join(SOURCE_DIR, p), 'utf8');
const sorted = (xs) => [...new Set(xs)].sort();

t('keyserver.openapi.yaml is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator)', async () => {
  const { Validator } = await import(pathToFileURL(path.join(TOOLS,
    'node_modules/@seriousme/openapi-schema-validator/index.js')).href);
  const v = new Validator();
  const res = await v.validate(YAML.parse(fs.readFileSync(OPENAPI, 'utf8')));
  assert(res.valid, `invalid: ${JSON.stringify(res.errors, null, 1)}`);
  assertEq(v.version, '3.1', 'OpenAPI version');
});

t('a broken OpenAPI document is refused by the same validator', async () => {
  const { Validator } = await import(pathToFileURL(path.join(TOOLS,
    'node_modules/@seriousme/openapi-schema-validator/index.js')).href);
  const doc = YAML.parse(fs.readFileSync(OPENAPI, 'utf8'));
  doc.paths['/sign'].post.responses = 'none';
  const res = await new Validator().validate(doc);
  assert(!res.valid, 'validator accepted responses: "none"');
});

t('connector.openrpc.json is a valid OpenRPC document (@open-rpc/schema-utils-js)', async () => {
  const { validateOpenRPCDocument, parseOpenRPCDocument } = toolsRequire('@open-rpc/schema-utils-js');
  const doc = JSON.parse(fs.readFileSync(OPENRPC, 'utf8'));
  const r = validateOpenRPCDocument(doc);
  assert(r === true, `invalid: ${r && r.message}`);
  await parseOpenRPCDocument(doc); // dereferences every $ref, throws on a dangling one
});

t('a broken OpenRPC document is refused by the same validator', async () => {
  const { validateOpenRPCDocument } = toolsRequire('@open-rpc/schema-utils-js');
  const doc = JSON.parse(fs.readFileSync(OPENRPC, 'utf8'));
  delete doc.methods[0].params;
  assert(validateOpenRPCDocument(doc) !== true, 'validator accepted a method without params');
});

t('key server error codes: spec = docs/keyserver.md table = codes in the sources', async () => {
  const doc = YAML.parse(fs.readFileSync(OPENAPI, 'utf8'));
  const spec = sorted(doc.components.schemas.ErrorCode.enum);
  const md = read('docs/keyserver.md');
  const table = md.slice(md.indexOf('### Errors'), md.indexOf('## Configuration'));
  const inDocs = sorted([...table.matchAll(/^\| \d{3} \|([^|]*)\|/gm)]
    .flatMap((m) => [...m[1].matchAll(/`([a-z0-9_]+)`/g)].map((x) => x[1])));
  assertEq(spec, inDocs, 'spec ErrorCode vs docs/keyserver.md');
  const src = read('keyserver/ks_api.c') + read('keyserver/ks_http.c');
  const used = sorted([...src.matchAll(/(?:ks_api_error|reply_error)\([^"]*"([a-z0-9_]+)"/g)].map((m) => m[1])
    .concat([...src.matchAll(/(?:code|E403_CODE)\s*=?\s*"([a-z0-9_]+)"/g)].map((m) => m[1]))
    .concat([...src.matchAll(/error_obj\("([a-z0-9_]+)"/g)].map((m) => m[1])));
  const missing = used.filter((c) => !spec.includes(c));
  assertEq(missing, [], 'codes in keyserver sources missing from the spec');
  // each status' code list in the spec equals the docs table's row(s) for that status
  for (const [name, status] of [['BadRequest', 400], ['Forbidden', 403], ['RateLimited', 429],
    ['NotFound', 404], ['MethodNotAllowed', 405], ['TooLarge', 413], ['Unavailable', 503], ['Internal', 500]]) {
    const rows = [...table.matchAll(new RegExp(`^\\| ${status} \\|([^|]*)\\|`, 'gm'))]
      .flatMap((m) => [...m[1].matchAll(/`([a-z0-9_]+)`/g)].map((x) => x[1]));
    const specCodes = doc.components.schemas[`Error${name}`].allOf[1].properties.error.properties.code.enum;
    assertEq(sorted(specCodes), sorted(rows), `HTTP ${status} codes`);
  }
});

t('connector error codes: spec = docs/connector.md table + docs/paymaster.md', async () => {
  const doc = JSON.parse(fs.readFileSync(OPENRPC, 'utf8'));
  const spec = sorted(Object.values(doc.components.errors).map((e) => e.code));
  const md = read('docs/connector.md');
  const table = md.slice(md.indexOf('### Error codes'), md.indexOf('### Methods answered here'));
  const inDocs = [...table.matchAll(/^\| `(-\d+)` \|/gm)].map((m) => Number(m[1]));
  assert(/-32010/.test(read('docs/paymaster.md')), 'docs/paymaster.md names -32010');
  assertEq(spec, sorted([...inDocs, -32010]), 'spec errors vs docs');
});

t('connector methods: spec = the methods docs/connector.md and docs/paymaster.md answer', async () => {
  const doc = JSON.parse(fs.readFileSync(OPENRPC, 'utf8'));
  const names = sorted(doc.methods.map((m) => m.name));
  const want = sorted(['eth_accounts', 'eth_requestAccounts', 'eth_sign', 'personal_sign',
    'eth_signTypedData_v4', 'eth_signTypedData', 'eth_signTransaction', 'eth_sendTransaction',
    'pm_getPaymasterStubData', 'pm_getPaymasterData']);
  assertEq(names, want, 'methods');
  const src = read('connector/rpc/cn_methods.c') + read('connector/paymaster/cn_paymaster.c');
  for (const m of want) assert(src.includes(`"${m}"`), `${m} in connector sources`);
});

run();
