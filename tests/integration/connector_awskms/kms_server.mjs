// kms_server.mjs - a local AWS KMS stand-in for test_cn_awskms (loopback only, test-only).
//
// Speaks KMS's JSON 1.1 protocol (POST /, X-Amz-Target: TrentService.GetPublicKey|Sign,
// Content-Type: application/x-amz-json-1.1) and VERIFIES every request's SigV4 with AWS's own
// signing library (@smithy/signature-v4 from tests/tools): it re-signs the received request
// (the headers named in SignedHeaders, the body, the x-amz-date) with the known secret and
// rejects a mismatch with 403 InvalidSignatureException, an unknown access key id or a wrong
// session token with 400 UnrecognizedClientException, a date more than 5 minutes off with
// 403, and an x-amz-content-sha256 that is not the body's hash with 400. Signatures are real
// secp256k1 ECDSA over the given digest (ethers SigningKey, no extra hashing), DER-encoded
// here, with s flipped to the high half every other time (as KMS does not normalise s).
//
// Keys by KeyId: alias/good (key A); alias/throttle (each digest: ThrottlingException, then
// 429, then success; GetPublicKey throttled once); alias/always-throttle; alias/bad-der
// (malformed DER variants); alias/wrong-key (public key A, signs with key B); alias/slow
// (Sign answers after 2 s); alias/missing (NotFoundException); alias/p256 (a P-256 key).
// Credentials: AKIDPLAIN/KMS_SECRET (no token), ASIATEMP/KMS_SECRET2 + KMS_TOKEN.
// GET /__stats (unsigned, test-only) -> {connections, requests, throttled, attempts, issued}.
// Also the two places AWS hands a workload temporary credentials, each issuing a NEW key id,
// secret and token every time (valid for KMS from then on), expiring CRED_TTL_S (env, default
// 3600) seconds later: EC2 instance metadata, IMDSv2 only (PUT /latest/api/token with the TTL
// header, then GET /latest/meta-data/iam/security-credentials/[role] with that token), and a
// container credentials endpoint (GET /ecs/creds with "Authorization: ecs-test-auth").
// Prints "PORT <n>" and "ADDRESS <0x..>" (key A's address, by ethers) on stdout.
import http from "node:http";
import crypto from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(process.env.AK_SOURCE_DIR
  ? `${process.env.AK_SOURCE_DIR}/tests/tools/package.json`
  : new URL("../../tools/package.json", import.meta.url));
const { SignatureV4 } = require("@smithy/signature-v4");
const { Sha256 } = require("@aws-crypto/sha256-js");
const ethers = require("ethers");

const REGION = process.env.KMS_REGION || "us-east-1";
const CREDS = {
  AKIDPLAIN: { secret: process.env.KMS_SECRET, token: null },
  ASIATEMP: { secret: process.env.KMS_SECRET2, token: process.env.KMS_TOKEN },
};
const N = BigInt("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");

const keyA = new ethers.SigningKey(ethers.hexlify(crypto.randomBytes(32)));
const keyB = new ethers.SigningKey(ethers.hexlify(crypto.randomBytes(32)));

function spkiOf(signingKey) {
  const pub = Buffer.from(signingKey.publicKey.slice(2), "hex"); // 04|X|Y
  const jwk = { kty: "EC", crv: "secp256k1", x: pub.subarray(1, 33).toString("base64url"),
                y: pub.subarray(33, 65).toString("base64url") };
  return crypto.createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "der" });
}
const spkiA = spkiOf(keyA);
const spkiP256 = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey
  .export({ type: "spki", format: "der" });

function derInt(hex) {
  let b = Buffer.from(hex.replace(/^0x/, "").padStart(64, "0"), "hex");
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && b[i + 1] < 0x80) i++;
  b = b.subarray(i);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}
function der(r, s) {
  const body = Buffer.concat([derInt(r), derInt(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

const stats = { connections: 0, requests: 0, throttled: 0, attempts: {} };
let flip = 0;
let badDer = 0;
const throttleSeen = new Map();

function reply(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { "Content-Type": "application/x-amz-json-1.1",
                          "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}
const fail = (res, status, type, message) => reply(res, status, { __type: type, message });

async function verify(req, body) {
  const auth = req.headers["authorization"] || "";
  const m = /^AWS4-HMAC-SHA256 Credential=([A-Za-z0-9]+)\/(\d{8})\/([a-z0-9-]+)\/kms\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return [403, "IncompleteSignatureException", "malformed Authorization"];
  const cred = CREDS[m[1]];
  if (!cred || !cred.secret) return [400, "UnrecognizedClientException", "unknown access key"];
  const token = req.headers["x-amz-security-token"];
  if ((cred.token || null) !== (token || null))
    return [400, "UnrecognizedClientException", "security token invalid"];
  const amzDate = req.headers["x-amz-date"] || "";
  const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!dm || dm[1] + dm[2] + dm[3] !== m[2]) return [403, "InvalidSignatureException", "bad date"];
  const date = new Date(`${dm[1]}-${dm[2]}-${dm[3]}T${dm[4]}:${dm[5]}:${dm[6]}Z`);
  if (Math.abs(Date.now() - date.getTime()) > 5 * 60 * 1000)
    return [403, "InvalidSignatureException", "Signature expired"];
  const sha = req.headers["x-amz-content-sha256"];
  if (sha !== undefined && sha !== crypto.createHash("sha256").update(body).digest("hex"))
    return [400, "XAmzContentSHA256Mismatch", "content hash mismatch"];
  const names = m[4].split(";");
  for (const must of ["host", "x-amz-date", "x-amz-target", "content-type"])
    if (!names.includes(must)) return [403, "InvalidSignatureException", `${must} not signed`];
  if (token && !names.includes("x-amz-security-token"))
    return [403, "InvalidSignatureException", "token not signed"];
  const headers = {};
  for (const n of names) {
    if (req.headers[n] === undefined) return [403, "InvalidSignatureException", `no ${n}`];
    headers[n] = req.headers[n];
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: m[1], secretAccessKey: cred.secret, sessionToken: token },
    region: REGION, service: "kms", sha256: Sha256, applyChecksum: false,
  });
  const signed = await signer.sign(
    { method: req.method, protocol: "http:", hostname: "127.0.0.1", path: req.url, headers, body },
    { signingDate: date });
  const want = Buffer.from(signed.headers["authorization"]);
  const got = Buffer.from(auth);
  if (want.length !== got.length || !crypto.timingSafeEqual(want, got))
    return [403, "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided."];
  return null;
}

function signWith(key, digestHex) {
  const sig = key.sign("0x" + digestHex);
  let s = BigInt(sig.s);
  if (flip++ % 2 === 1) s = N - s; // high s, like KMS
  return der(sig.r, "0x" + s.toString(16));
}

const IMDS_TOKEN = crypto.randomBytes(16).toString("hex");
function issue(prefix) {
  stats.issued = (stats.issued || 0) + 1;
  const id = `${prefix}${stats.issued}`;
  CREDS[id] = { secret: crypto.randomBytes(30).toString("base64"), token: crypto.randomBytes(60).toString("base64") };
  const ttl = Number(process.env.CRED_TTL_S || 3600);
  return { Code: "Success", Type: "AWS-HMAC", AccessKeyId: id, SecretAccessKey: CREDS[id].secret,
           Token: CREDS[id].token, Expiration: new Date(Date.now() + ttl * 1000).toISOString().replace(/\.\d+Z$/, "Z") };
}
function credentialEndpoints(req, res) {
  const text = (status, t) => { res.writeHead(status, { "content-type": "text/plain" }); res.end(t); };
  if (req.url === "/latest/api/token") {
    if (req.method !== "PUT" || !req.headers["x-aws-ec2-metadata-token-ttl-seconds"]) return text(400, "bad token request");
    return text(200, IMDS_TOKEN);
  }
  if (req.url.startsWith("/latest/meta-data/iam/security-credentials/")) {
    if (req.headers["x-aws-ec2-metadata-token"] !== IMDS_TOKEN) return text(401, "unauthorized"); // IMDSv2 only
    const role = req.url.slice("/latest/meta-data/iam/security-credentials/".length);
    if (role === "") return text(200, "test-role\n");
    if (role !== "test-role") return text(404, "not found");
    return reply(res, 200, issue("ASIAIMDS"));
  }
  if (req.url === "/ecs/creds") {
    if (req.headers["authorization"] !== "ecs-test-auth") return text(403, "forbidden");
    return reply(res, 200, issue("ASIAECS"));
  }
  return false;
}

async function handle(req, res, raw) {
  stats.requests++;
  if (req.method === "GET" && req.url === "/__stats") return reply(res, 200, stats);
  if (credentialEndpoints(req, res) !== false) return undefined;
  if (req.method !== "POST" || req.url !== "/") return fail(res, 404, "UnknownOperationException", "");
  const body = raw.toString("utf8");
  const bad = await verify(req, raw);
  if (bad) return fail(res, bad[0], bad[1], bad[2]);
  if (req.headers["content-type"] !== "application/x-amz-json-1.1")
    return fail(res, 400, "SerializationException", "content type");
  let j;
  try { j = JSON.parse(body); } catch { return fail(res, 400, "SerializationException", "json"); }
  const op = req.headers["x-amz-target"];
  const kid = j.KeyId;
  stats.attempts[kid] = (stats.attempts[kid] || 0) + 1;
  if (kid === "alias/missing") return fail(res, 400, "NotFoundException", "no such key");
  if (kid === "alias/always-throttle") {
    stats.throttled++;
    return fail(res, 400, "ThrottlingException", "Rate exceeded");
  }
  if (op === "TrentService.GetPublicKey") {
    if (kid === "alias/throttle" && !throttleSeen.has("pk")) {
      throttleSeen.set("pk", 1);
      stats.throttled++;
      return fail(res, 400, "ThrottlingException", "Rate exceeded");
    }
    const p256 = kid === "alias/p256";
    return reply(res, 200, {
      KeyId: `arn:aws:kms:${REGION}:111122223333:key/${kid.replace("alias/", "")}`,
      KeySpec: p256 ? "ECC_NIST_P256" : "ECC_SECG_P256K1",
      CustomerMasterKeySpec: p256 ? "ECC_NIST_P256" : "ECC_SECG_P256K1",
      KeyUsage: "SIGN_VERIFY", SigningAlgorithms: ["ECDSA_SHA_256"],
      PublicKey: (p256 ? spkiP256 : spkiA).toString("base64"),
    });
  }
  if (op !== "TrentService.Sign") return fail(res, 400, "UnknownOperationException", op);
  const msg = Buffer.from(j.Message || "", "base64");
  if (j.MessageType !== "DIGEST" || j.SigningAlgorithm !== "ECDSA_SHA_256" || msg.length !== 32)
    return fail(res, 400, "ValidationException", "bad Sign parameters");
  const hex = msg.toString("hex");
  if (kid === "alias/throttle") {
    const n = throttleSeen.get(hex) || 0;
    throttleSeen.set(hex, n + 1);
    if (n === 0) { stats.throttled++; return fail(res, 400, "ThrottlingException", "Rate exceeded"); }
    if (n === 1) { stats.throttled++; return fail(res, 429, "", "Too Many Requests"); }
  }
  let sig;
  if (kid === "alias/bad-der") {
    const good = signWith(keyA, hex);
    const variants = [
      Buffer.concat([good, Buffer.from([0])]),             // trailing byte
      Buffer.concat([Buffer.from([0x31]), good.subarray(1)]), // not a SEQUENCE
      good.subarray(0, good.length - 1),                    // truncated
      Buffer.from("3006020100020101", "hex"),               // r = 0 (valid DER, invalid sig)
      Buffer.from([0x30, 0x03, 0x02, 0x01]),                // lengths disagree
    ];
    sig = variants[badDer++ % variants.length];
  } else if (kid === "alias/wrong-key") {
    sig = signWith(keyB, hex);
  } else {
    sig = signWith(keyA, hex);
  }
  const answer = { KeyId: `arn:aws:kms:${REGION}:111122223333:key/x`, Signature: sig.toString("base64"),
                   SigningAlgorithm: "ECDSA_SHA_256" };
  if (kid === "alias/slow") return setTimeout(() => reply(res, 200, answer), 2000);
  return reply(res, 200, answer);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on("data", (c) => { size += c.length; if (size <= 65536) chunks.push(c); });
  req.on("end", () => {
    if (size > 65536) return fail(res, 413, "ValidationException", "too large");
    handle(req, res, Buffer.concat(chunks)).catch((e) => fail(res, 500, "KMSInternalException", String(e)));
  });
});
server.on("connection", () => stats.connections++);
server.keepAliveTimeout = 30000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT ${server.address().port}\nADDRESS ${ethers.computeAddress(keyA.publicKey)}\n`);
});
process.on("SIGTERM", () => process.exit(0));
