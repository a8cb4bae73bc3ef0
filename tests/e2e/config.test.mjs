// Configuration checks: GET /healthz, and POST refusing to work while misconfigured.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  prepareBuild, startRelay, startFakeBaidu, bindingsFor, assertError, assertNoLeak, keyFragments,
  KEYS, ORDER, ROUTE, publicKeyOf, newSecret,
} from "../support/e2e.mjs";
import { keyPem, pemBody } from "../support/vectors.mjs";

let buildDir;
let baidu;
before(async () => {
  buildDir = await prepareBuild();
  baidu = await startFakeBaidu({ publicKey: publicKeyOf("baidu-doc-sample-1024") });
});
after(async () => { await baidu?.close(); });

const secret = newSecret();
const healthyKey = KEYS["1024 PKCS#1 PEM"];

/** Everything secret that is configured in `bindings`. */
function secretNeedles(bindings) {
  const needles = [];
  for (const s of String(bindings.WEBHOOK_SECRET ?? "").split(/\s+/).filter(Boolean)) needles.push(s.replace(/^whsec_/, ""));
  if (bindings.BAIDU_RSA_PRIVATE_KEY && bindings.BAIDU_RSA_PRIVATE_KEY.length > 40) needles.push(...keyFragments(bindings.BAIDU_RSA_PRIVATE_KEY));
  else if (bindings.BAIDU_RSA_PRIVATE_KEY) needles.push(bindings.BAIDU_RSA_PRIVATE_KEY);
  return needles;
}

async function withRelay(overrides, fn) {
  const bindings = bindingsFor({ baidu, key: healthyKey, secret, ...overrides });
  const relay = await startRelay({ buildDir, bindings });
  try {
    await fn(relay, bindings);
  } finally {
    await relay.close();
  }
}

for (const [label, api, bits] of [["1024 PKCS#1 PEM", "etrade", 1024], ["2048 PKCS#8 PEM", "nuomi", 2048]]) {
  test(`healthy configuration (${label}, ${api}) → GET /healthz 200 ok`, async () => {
    const key = KEYS[label];
    await withRelay({ BAIDU_RSA_PRIVATE_KEY: key.privateKey, BAIDU_CASHIER_API: api }, async (relay, bindings) => {
      const r = await relay.get("/healthz");
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { status: "ok", problems: [], cashierApi: api, keyBits: bits });
      assertNoLeak(r.text, secretNeedles(bindings), "/healthz body");
    });
  });
}

test("BAIDU_CASHIER_API and BAIDU_CASHIER_URL are optional → /healthz 200", async () => {
  await withRelay({ BAIDU_CASHIER_API: undefined, BAIDU_CASHIER_URL: undefined, BAIDU_TIMEOUT_MS: undefined }, async (relay) => {
    const r = await relay.get("/healthz");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.cashierApi, "etrade", "etrade is the default API");
  });
});

const notPrivate = "-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf\n9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END PUBLIC KEY-----\n";

// [name, binding overrides, variable(s) named as problems]
const misconfigurations = [
  ["missing BAIDU_RSA_PRIVATE_KEY", { BAIDU_RSA_PRIVATE_KEY: undefined }, ["BAIDU_RSA_PRIVATE_KEY"]],
  ["empty BAIDU_RSA_PRIVATE_KEY", { BAIDU_RSA_PRIVATE_KEY: "" }, ["BAIDU_RSA_PRIVATE_KEY"]],
  ["a public key (PEM) as private key", { BAIDU_RSA_PRIVATE_KEY: keyPem("baidu-doc-sample-1024", "pub") }, ["BAIDU_RSA_PRIVATE_KEY"]],
  ["a public key (bare base64, as Baidu's console shows it) as private key", { BAIDU_RSA_PRIVATE_KEY: pemBody(keyPem("test-2048", "pub")) }, ["BAIDU_RSA_PRIVATE_KEY"]],
  ["another public key PEM as private key", { BAIDU_RSA_PRIVATE_KEY: notPrivate }, ["BAIDU_RSA_PRIVATE_KEY"]],
  ["garbage private key", { BAIDU_RSA_PRIVATE_KEY: "this is not a key, it is a sentence" }, ["BAIDU_RSA_PRIVATE_KEY"]],
  ["truncated private key", { BAIDU_RSA_PRIVATE_KEY: healthyKey.privateKey.slice(0, 400) + "\n-----END RSA PRIVATE KEY-----\n" }, ["BAIDU_RSA_PRIVATE_KEY"]],
  ["missing WEBHOOK_SECRET", { WEBHOOK_SECRET: undefined }, ["WEBHOOK_SECRET"]],
  ["WEBHOOK_SECRET not whsec_<base64>", { WEBHOOK_SECRET: "whsec_%%%not-base64%%%" }, ["WEBHOOK_SECRET"]],
  ["missing BAIDU_PAY_APP_KEY", { BAIDU_PAY_APP_KEY: undefined }, ["BAIDU_PAY_APP_KEY"]],
  ['BAIDU_CASHIER_API="foo"', { BAIDU_CASHIER_API: "foo" }, ["BAIDU_CASHIER_API"]],
  ['BAIDU_TIMEOUT_MS="0"', { BAIDU_TIMEOUT_MS: "0" }, ["BAIDU_TIMEOUT_MS"]],
  ['BAIDU_TIMEOUT_MS="120001"', { BAIDU_TIMEOUT_MS: "120001" }, ["BAIDU_TIMEOUT_MS"]],
  ['BAIDU_TIMEOUT_MS="soon"', { BAIDU_TIMEOUT_MS: "soon" }, ["BAIDU_TIMEOUT_MS"]],
  ['BAIDU_CASHIER_URL="not a url"', { BAIDU_CASHIER_URL: "not a url" }, ["BAIDU_CASHIER_URL"]],
  ["both secrets missing", { WEBHOOK_SECRET: undefined, BAIDU_RSA_PRIVATE_KEY: undefined }, ["WEBHOOK_SECRET", "BAIDU_RSA_PRIVATE_KEY"]],
];

describe("misconfiguration: /healthz 503 names the variable, POST 500 misconfigured, Baidu sees nothing", () => {
  for (const [name, overrides, variables] of misconfigurations) {
    test(name, async () => {
      await withRelay(overrides, async (relay, bindings) => {
        baidu.reset();
        const needles = secretNeedles(bindingsFor({ baidu, key: healthyKey, secret, ...overrides }));

        const h = await relay.get("/healthz");
        assert.equal(h.status, 503, h.text);
        assert.equal(h.json?.status, "misconfigured", h.text);
        assert.ok(Array.isArray(h.json.problems), h.text);
        assert.deepEqual([...new Set(h.json.problems.map((p) => p.variable))].sort(), [...variables].sort(), h.text);
        for (const p of h.json.problems) {
          assert.equal(typeof p.message, "string");
          assert.ok(p.message.trim().length > 0, "problem message is empty");
          assert.ok(p.message.includes(p.variable), `message should name the variable: ${p.message}`);
        }
        assertNoLeak(h.text, needles, "/healthz body");

        // Signed correctly whenever a usable secret is configured (the secret itself may be the problem).
        const signWith = variables.includes("WEBHOOK_SECRET") ? newSecret() : undefined;
        const p = await relay.post(ROUTE, ORDER, signWith ? { secret: signWith } : {});
        assertError(p, 500, "misconfigured");
        assert.ok(Array.isArray(p.json.error.variables), p.text);
        assert.deepEqual([...p.json.error.variables].sort(), [...variables].sort(), p.text);
        assertNoLeak(p.text, needles, "POST body");
        assert.equal(baidu.calls.length, 0, "Baidu must see no call");

        // Configuration is checked before the content type and authentication.
        const q = await relay.post(ROUTE, "x", { contentType: "text/plain", secret: false });
        assertError(q, 500, "misconfigured");
        for (const l of relay.logs) assertNoLeak(l.message, needles, "a log line");
      });
    });
  }
});

test("misconfigured relay still answers 404 and 405 first", async () => {
  await withRelay({ BAIDU_RSA_PRIVATE_KEY: undefined }, async (relay) => {
    assertError(await relay.post("/nowhere", "{}"), 404, "not_found");
    assertError(await relay.get(ROUTE), 405, "method_not_allowed");
  });
});

test("a corrupted PKCS#8 key is misconfigured and never echoed", async () => {
  // The 2048 PKCS#8 key with its first base64 line corrupted: invalid DER.
  const pem = keyPem("test-2048", "pkcs8").split("\n");
  pem[1] = pem[1].replace(/^.{8}/, "AAAAAAAA");
  const broken = pem.join("\n");
  await withRelay({ BAIDU_RSA_PRIVATE_KEY: broken }, async (relay) => {
    const h = await relay.get("/healthz");
    assert.equal(h.status, 503, h.text);
    assertNoLeak(h.text, keyFragments(broken), "/healthz body");
  });
});
