// sigv4_vectors.mjs - how test_cn_sigv4.c's SigV4 vectors are (re)computed with AWS's own
// signing library, @smithy/signature-v4 (tests/tools). Run: node sigv4_vectors.mjs
// The first two reproduce AWS's published vectors (test suite get-vanilla, IAM ListUsers);
// the last two are the KMS-shaped requests test_cn_sigv4.c checks.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(new URL("../../tools/package.json", import.meta.url));
const { SignatureV4 } = require("@smithy/signature-v4");
const { Sha256 } = require("@aws-crypto/sha256-js");

const creds = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
async function sign(req, region, service, c) {
  const s = new SignatureV4({ credentials: c, region, service, sha256: Sha256, applyChecksum: false });
  const out = await s.sign({ protocol: "https:", path: "/", ...req }, { signingDate: new Date("2015-08-30T12:36:00Z") });
  return out.headers.authorization;
}
const sha = (b) => createHash("sha256").update(b).digest("hex");

console.log("get-vanilla:", await sign({ method: "GET", hostname: "example.amazonaws.com",
  headers: { host: "example.amazonaws.com" } }, "us-east-1", "service", creds));
console.log("iam ListUsers:", await sign({ method: "GET", hostname: "iam.amazonaws.com",
  query: { Action: "ListUsers", Version: "2010-05-08" },
  headers: { host: "iam.amazonaws.com", "content-type": "application/x-www-form-urlencoded; charset=utf-8" } },
  "us-east-1", "iam", creds));
const body = '{"KeyId":"alias/test","Message":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","MessageType":"DIGEST","SigningAlgorithm":"ECDSA_SHA_256"}';
console.log("kms Sign + token + content-sha256:", await sign({ method: "POST", hostname: "kms.us-east-1.amazonaws.com",
  headers: { host: "kms.us-east-1.amazonaws.com", "content-type": "application/x-amz-json-1.1",
             "x-amz-target": "TrentService.Sign", "x-amz-content-sha256": sha(body) }, body },
  "us-east-1", "kms", { ...creds, sessionToken: "FQoGZXIvYXdzEXAMPLETOKEN+/=" }));
console.log("kms GetPublicKey eu-west-1:", await sign({ method: "POST", hostname: "kms.eu-west-1.amazonaws.com",
  headers: { host: "kms.eu-west-1.amazonaws.com", "content-type": "application/x-amz-json-1.1",
             "x-amz-target": "TrentService.GetPublicKey" }, body: '{"KeyId":"alias/test"}' },
  "eu-west-1", "kms", creds));
