// Configuration checks: GET /healthz, and POST refusing to work while misconfigured.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  prepareBuild, startRelay, startFakeBaidu, bindingsFor, assertError, assertNoLeak, keyFragments,
  KEYS, ORDER, ROUTE, publicKeyOf, newSecret, refundItem,
  APP_KEY, APP_SECRET, OPEN_ID, SCENE_ID, AFTER_SALE_ROUTES, healthFeatures,
} from "../support/e2e.mjs";
import { keyPem, pemBody } from "../support/vectors.mjs";
import { ORDER_DETAIL_PATH } from "../../sandbox/fake-baidu.mjs";

let buildDir;
let baidu;
before(async () => {
  buildDir = await prepareBuild();
  baidu = await startFakeBaidu({ publicKey: publicKeyOf("baidu-doc-sample-1024"), openapi: { appKey: APP_KEY, appSecret: APP_SECRET } });
});
after(async () => { await baidu?.close(); });

const secret = newSecret();
const healthyKey = KEYS["1024 PKCS#1 PEM"];
const AFTER_SALE_BODY = { openId: OPEN_ID, sceneId: SCENE_ID, data: [refundItem()] };
const SHARED = ["WEBHOOK_SECRET", "BAIDU_TIMEOUT_MS"];
const CASHIER_OWN = ["BAIDU_RSA_PRIVATE_KEY"];
const AFTER_SALE_OWN = ["BAIDU_APP_KEY", "BAIDU_APP_SECRET"];
/** The after-sale feature's variables, to add to a cashier configuration. */
const afterSaleVars = () => ({ BAIDU_APP_KEY: APP_KEY, BAIDU_APP_SECRET: APP_SECRET, BAIDU_OPENAPI_URL: baidu.url });

/** Everything secret that is configured in `bindings`. */
function secretNeedles(bindings) {
  const needles = [];
  for (const name of ["WEBHOOK_SECRET", "RESULT_WEBHOOK_SECRET"]) {
    for (const s of String(bindings[name] ?? "").split(/\s+/).filter(Boolean)) needles.push(s.replace(/^whsec_/, ""));
  }
  if (bindings.BAIDU_RSA_PRIVATE_KEY && bindings.BAIDU_RSA_PRIVATE_KEY.length > 40) needles.push(...keyFragments(bindings.BAIDU_RSA_PRIVATE_KEY));
  else if (bindings.BAIDU_RSA_PRIVATE_KEY) needles.push(bindings.BAIDU_RSA_PRIVATE_KEY);
  if (bindings.BAIDU_APP_SECRET) needles.push(bindings.BAIDU_APP_SECRET);
  return needles;
}

/** The recommended cashier settings include the payment APP ID (without it, /healthz notes so). */
const statusQuery = () => ({ BAIDU_PAYMENT_APP_ID: "1234567", BAIDU_ORDER_DETAIL_URL: `${baidu.url}${ORDER_DETAIL_PATH}` });

async function withRelay(overrides, fn) {
  const bindings = bindingsFor({ baidu, key: healthyKey, secret, ...statusQuery(), ...overrides });
  const relay = await startRelay({ buildDir, bindings });
  try {
    await fn(relay, bindings);
  } finally {
    await relay.close();
  }
}

for (const [label, api, bits] of [["1024 PKCS#1 PEM", "etrade", 1024], ["2048 PKCS#8 PEM", "nuomi", 2048]]) {
  test(`healthy configuration (${label}, ${api}) → GET /healthz 200 ok, after-sale disabled`, async () => {
    const key = KEYS[label];
    await withRelay({ BAIDU_RSA_PRIVATE_KEY: key.privateKey, BAIDU_CASHIER_API: api }, async (relay, bindings) => {
      const r = await relay.get("/healthz");
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { status: "ok", problems: [], features: healthFeatures({ cancelVerification: "ok", afterSale: "disabled" }), cashierApi: api, keyBits: bits });
      assertNoLeak(r.text, secretNeedles(bindings), "/healthz body");
    });
  });
}

test("both features configured → /healthz 200, both ok", async () => {
  await withRelay(afterSaleVars(), async (relay, bindings) => {
    const r = await relay.get("/healthz");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { status: "ok", problems: [], features: healthFeatures({ cancelVerification: "ok", afterSale: "ok" }), cashierApi: "etrade", keyBits: 1024 });
    assertNoLeak(r.text, secretNeedles(bindings), "/healthz body");
  });
});

test("BAIDU_CASHIER_API and BAIDU_CASHIER_URL are optional → /healthz 200", async () => {
  await withRelay({ BAIDU_CASHIER_API: undefined, BAIDU_CASHIER_URL: undefined, BAIDU_TIMEOUT_MS: undefined }, async (relay) => {
    const r = await relay.get("/healthz");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.cashierApi, "etrade", "etrade is the default API");
  });
});

const notPrivate = "-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf\n9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END PUBLIC KEY-----\n";

const CASHIER_ONLY = { cancelVerification: "misconfigured", afterSale: "disabled" };
const NONE = { cancelVerification: "disabled", afterSale: "disabled" };
const SHARED_BROKEN = undefined; // `features` is absent when the shared part is invalid

// [name, binding overrides (on a cashier-only configuration), variables named by /healthz,
//  features in /healthz, variables named by a POST to cancel verification (default: as /healthz)]
const misconfigurations = [
  ["missing BAIDU_RSA_PRIVATE_KEY (no feature configured at all)", { BAIDU_RSA_PRIVATE_KEY: undefined }, [...CASHIER_OWN, ...AFTER_SALE_OWN], NONE, CASHIER_OWN],
  ["empty BAIDU_RSA_PRIVATE_KEY (no feature configured at all)", { BAIDU_RSA_PRIVATE_KEY: "" }, [...CASHIER_OWN, ...AFTER_SALE_OWN], NONE, CASHIER_OWN],
  ["a public key (PEM) as private key", { BAIDU_RSA_PRIVATE_KEY: keyPem("baidu-doc-sample-1024", "pub") }, ["BAIDU_RSA_PRIVATE_KEY"], CASHIER_ONLY],
  ["a public key (bare base64, as Baidu's console shows it) as private key", { BAIDU_RSA_PRIVATE_KEY: pemBody(keyPem("test-2048", "pub")) }, ["BAIDU_RSA_PRIVATE_KEY"], CASHIER_ONLY],
  ["another public key PEM as private key", { BAIDU_RSA_PRIVATE_KEY: notPrivate }, ["BAIDU_RSA_PRIVATE_KEY"], CASHIER_ONLY],
  ["garbage private key", { BAIDU_RSA_PRIVATE_KEY: "this is not a key, it is a sentence" }, ["BAIDU_RSA_PRIVATE_KEY"], CASHIER_ONLY],
  ["truncated private key", { BAIDU_RSA_PRIVATE_KEY: healthyKey.privateKey.slice(0, 400) + "\n-----END RSA PRIVATE KEY-----\n" }, ["BAIDU_RSA_PRIVATE_KEY"], CASHIER_ONLY],
  ["missing WEBHOOK_SECRET", { WEBHOOK_SECRET: undefined }, ["WEBHOOK_SECRET"], SHARED_BROKEN],
  ["WEBHOOK_SECRET not whsec_<base64>", { WEBHOOK_SECRET: "whsec_%%%not-base64%%%" }, ["WEBHOOK_SECRET"], SHARED_BROKEN],
  ["missing BAIDU_PAY_APP_KEY", { BAIDU_PAY_APP_KEY: undefined }, ["BAIDU_PAY_APP_KEY"], CASHIER_ONLY],
  ['BAIDU_CASHIER_API="foo"', { BAIDU_CASHIER_API: "foo" }, ["BAIDU_CASHIER_API"], CASHIER_ONLY],
  ['BAIDU_TIMEOUT_MS="0"', { BAIDU_TIMEOUT_MS: "0" }, ["BAIDU_TIMEOUT_MS"], SHARED_BROKEN],
  ['BAIDU_TIMEOUT_MS="120001"', { BAIDU_TIMEOUT_MS: "120001" }, ["BAIDU_TIMEOUT_MS"], SHARED_BROKEN],
  ['BAIDU_TIMEOUT_MS="soon"', { BAIDU_TIMEOUT_MS: "soon" }, ["BAIDU_TIMEOUT_MS"], SHARED_BROKEN],
  ['BAIDU_CASHIER_URL="not a url"', { BAIDU_CASHIER_URL: "not a url" }, ["BAIDU_CASHIER_URL"], CASHIER_ONLY],
  ["BAIDU_CASHIER_URL plain http:// to a host that is not loopback", { BAIDU_CASHIER_URL: "http://etrade-api.example.com/cashier/syncOrderStatus" }, ["BAIDU_CASHIER_URL"], CASHIER_ONLY],
  // The shared part is broken and no feature is configured: /healthz names everything, a cancel
  // verification POST only the shared variables and its own feature's.
  ["both secrets missing", { WEBHOOK_SECRET: undefined, BAIDU_RSA_PRIVATE_KEY: undefined }, ["WEBHOOK_SECRET", ...CASHIER_OWN, ...AFTER_SALE_OWN], SHARED_BROKEN, ["WEBHOOK_SECRET", ...CASHIER_OWN]],
];

/** /healthz 503 naming exactly `variables` (each once per problem set), with `features` (absent when undefined). */
function assertHealth503(h, variables, features, needles) {
  assert.equal(h.status, 503, h.text);
  assert.equal(h.json?.status, "misconfigured", h.text);
  assert.ok(Array.isArray(h.json.problems), h.text);
  assert.deepEqual([...new Set(h.json.problems.map((p) => p.variable))].sort(), [...variables].sort(), h.text);
  for (const p of h.json.problems) {
    assert.deepEqual(Object.keys(p).sort(), ["message", "variable"], h.text);
    assert.equal(typeof p.message, "string");
    assert.ok(p.message.trim().length > 0, "problem message is empty");
    assert.ok(p.message.includes(p.variable), `message should name the variable: ${p.message}`);
  }
  if (features === undefined) assert.equal(h.json.features, undefined, `features must be absent when the shared part is invalid: ${h.text}`);
  else assert.deepEqual(h.json.features, healthFeatures(features), h.text);
  if (features?.cancelVerification !== "ok") {
    assert.equal(h.json.cashierApi, undefined, h.text);
    assert.equal(h.json.keyBits, undefined, h.text);
  }
  assertNoLeak(h.text, needles, "/healthz body");
}

/** POST answers 500 misconfigured naming exactly `variables`, and nothing reaches Baidu. */
function assertMisconfigured(p, variables, needles) {
  assertError(p, 500, "misconfigured");
  assert.ok(Array.isArray(p.json.error.variables), p.text);
  assert.deepEqual([...p.json.error.variables].sort(), [...variables].sort(), p.text);
  assert.equal(new Set(p.json.error.variables).size, p.json.error.variables.length, `variables named twice: ${p.text}`);
  assertNoLeak(p.text, needles, "POST body");
}

describe("misconfiguration: /healthz 503 names the variable, POST 500 misconfigured, Baidu sees nothing", () => {
  for (const [name, overrides, variables, features, postVariables = variables] of misconfigurations) {
    test(name, async () => {
      await withRelay(overrides, async (relay, bindings) => {
        baidu.reset();
        const needles = secretNeedles(bindingsFor({ baidu, key: healthyKey, secret, ...overrides }));

        assertHealth503(await relay.get("/healthz"), variables, features, needles);

        // Signed correctly whenever a usable secret is configured (the secret itself may be the problem).
        const signWith = variables.includes("WEBHOOK_SECRET") ? newSecret() : undefined;
        const p = await relay.post(ROUTE, ORDER, signWith ? { secret: signWith } : {});
        assertMisconfigured(p, postVariables, needles);
        assert.equal(baidu.calls.length, 0, "Baidu must see no call");

        // The (disabled) after-sale feature's routes name what to set for it, and nothing of the
        // cashier's. (With the shared part broken as well: see the dedicated test below.)
        if (features !== SHARED_BROKEN) {
          const a = await relay.post(AFTER_SALE_ROUTES.update, AFTER_SALE_BODY);
          assertMisconfigured(a, AFTER_SALE_OWN, needles);
          assert.equal(baidu.calls.length, 0, "Baidu must see no call");
        }

        // Configuration is checked before the content type and authentication.
        const q = await relay.post(ROUTE, "x", { contentType: "text/plain", secret: false });
        assertError(q, 500, "misconfigured");
        for (const l of relay.logs) assertNoLeak(l.message, needles, "a log line");
      });
    });
  }
});

describe("per-feature configuration", () => {
  // Contract: a POST names the shared variables plus its route's feature's; a disabled feature's
  // routes name what to set. So with the shared part broken and after-sale disabled, an after-sale
  // POST names both, whether or not the cashier is configured.
  for (const [name, overrides, expected] of [
    ["WEBHOOK_SECRET missing, cashier configured", { WEBHOOK_SECRET: undefined }, ["WEBHOOK_SECRET", ...AFTER_SALE_OWN]],
    ['BAIDU_TIMEOUT_MS="0", cashier configured', { BAIDU_TIMEOUT_MS: "0" }, ["BAIDU_TIMEOUT_MS", ...AFTER_SALE_OWN]],
    ["WEBHOOK_SECRET missing, no feature configured", { WEBHOOK_SECRET: undefined, BAIDU_RSA_PRIVATE_KEY: undefined }, ["WEBHOOK_SECRET", ...AFTER_SALE_OWN]],
  ]) {
    test(`shared part broken and after-sale disabled (${name}) → an after-sale POST names ${expected.join(", ")}`, async () => {
      await withRelay(overrides, async (relay, bindings) => {
        baidu.reset();
        const a = await relay.post(AFTER_SALE_ROUTES.update, AFTER_SALE_BODY, { secret: newSecret() });
        assertMisconfigured(a, expected, secretNeedles(bindings));
        assert.equal(baidu.calls.length, 0, "Baidu must see no call");
      });
    });
  }

  test("only after-sale configured → /healthz 200; cancel verification answers 500 misconfigured naming BAIDU_RSA_PRIVATE_KEY", async () => {
    const overrides = { BAIDU_RSA_PRIVATE_KEY: undefined, BAIDU_CASHIER_API: undefined, BAIDU_CASHIER_URL: undefined, ...afterSaleVars() };
    await withRelay(overrides, async (relay, bindings) => {
      baidu.reset();
      const needles = secretNeedles(bindings);
      const h = await relay.get("/healthz");
      assert.equal(h.status, 200, h.text);
      assert.deepEqual(h.json, { status: "ok", problems: [], features: healthFeatures({ cancelVerification: "disabled", afterSale: "ok" }) });
      assertNoLeak(h.text, needles, "/healthz body");

      assertMisconfigured(await relay.post(ROUTE, ORDER), ["BAIDU_RSA_PRIVATE_KEY"], needles);
      assertMisconfigured(await relay.post(ROUTE, "x", { contentType: "text/plain", secret: false }), ["BAIDU_RSA_PRIVATE_KEY"], needles);
      assert.equal(baidu.calls.length, 0, "Baidu must see no call");

      const a = await relay.post(AFTER_SALE_ROUTES.update, AFTER_SALE_BODY);
      assert.equal(a.status, 200, a.text);
      assert.equal(a.json.status, "delivered", a.text);
      assert.deepEqual(baidu.calls.map((c) => c.kind), ["token", "orderCenter"]);
      assertNoLeak(a.text, [...needles, ...baidu.issuedTokens], "after-sale answer");
      for (const l of relay.logs) assertNoLeak(l.message, [...needles, ...baidu.issuedTokens], "a log line");
    });
  });

  test("after-sale half configured (BAIDU_APP_SECRET missing) → /healthz 503; after-sale 500 naming BAIDU_APP_SECRET; cancel verification still works", async () => {
    const overrides = { ...afterSaleVars(), BAIDU_APP_SECRET: undefined };
    await withRelay(overrides, async (relay, bindings) => {
      baidu.reset();
      const needles = secretNeedles(bindings);
      const h = await relay.get("/healthz");
      assertHealth503(h, ["BAIDU_APP_SECRET"], { cancelVerification: "ok", afterSale: "misconfigured" }, needles);
      assert.equal(h.json.cashierApi, "etrade", "cashierApi while cancelVerification is ok");
      assert.equal(h.json.keyBits, 1024, "keyBits while cancelVerification is ok");

      for (const route of Object.values(AFTER_SALE_ROUTES)) {
        assertMisconfigured(await relay.post(route, AFTER_SALE_BODY), ["BAIDU_APP_SECRET"], needles);
      }
      assert.equal(baidu.calls.length, 0, "Baidu must see no call");

      const c = await relay.post(ROUTE, ORDER);
      assert.equal(c.status, 200, c.text);
      assert.deepEqual(c.json, { id: c.webhookId, status: "delivered", baidu: { errno: 0, msg: "success", data: [] } });
      assert.deepEqual(baidu.calls.map((x) => x.kind), ["cashier"]);
      for (const l of relay.logs) assertNoLeak(l.message, needles, "a log line");
    });
  });

  test("after-sale with a secret but an App Key that is not one → /healthz 503 naming BAIDU_APP_KEY; after-sale 500", async () => {
    const overrides = { ...afterSaleVars(), BAIDU_APP_KEY: "not/a key" };
    await withRelay(overrides, async (relay, bindings) => {
      const needles = secretNeedles(bindings);
      assertHealth503(await relay.get("/healthz"), ["BAIDU_APP_KEY"], { cancelVerification: "ok", afterSale: "misconfigured" }, needles);
      assertMisconfigured(await relay.post(AFTER_SALE_ROUTES.status, AFTER_SALE_BODY), ["BAIDU_APP_KEY"], needles);
      assert.equal((await relay.post(ROUTE, ORDER)).status, 200);
    });
  });

  test("only after-sale configured, BAIDU_PAY_APP_KEY missing → after-sale misconfigured naming it, cancel verification disabled", async () => {
    const overrides = { BAIDU_RSA_PRIVATE_KEY: undefined, BAIDU_PAY_APP_KEY: undefined, ...afterSaleVars() };
    await withRelay(overrides, async (relay, bindings) => {
      const needles = secretNeedles(bindings);
      assertHealth503(await relay.get("/healthz"), ["BAIDU_PAY_APP_KEY"], { cancelVerification: "disabled", afterSale: "misconfigured" }, needles);
      assertMisconfigured(await relay.post(AFTER_SALE_ROUTES.append, AFTER_SALE_BODY), ["BAIDU_PAY_APP_KEY"], needles);
      assertMisconfigured(await relay.post(ROUTE, ORDER), ["BAIDU_RSA_PRIVATE_KEY"], needles);
    });
  });
});

describe("outbound URLs are https://, plain http:// only for loopback hosts", () => {
  // Both features configured, so each case shows what a bad URL stops and what keeps working.
  for (const [variable, value, features, stopped] of [
    ["BAIDU_CASHIER_URL", "http://etrade-api.example.com/cashier/syncOrderStatus", { cancelVerification: "misconfigured", afterSale: "ok" }, ROUTE],
    ["BAIDU_OPENAPI_URL", "http://openapi.example.com", { cancelVerification: "ok", afterSale: "misconfigured" }, AFTER_SALE_ROUTES.update],
    ["BAIDU_OPENAPI_URL", "http://127.0.0.1@openapi.example.com", { cancelVerification: "ok", afterSale: "misconfigured" }, AFTER_SALE_ROUTES.update],
    ["RESULT_WEBHOOK_URL", "http://orders.example.com/baidu-relay/results", { cancelVerification: "ok", afterSale: "ok" }, undefined],
  ]) {
    test(`${variable}=${value} → /healthz 503 naming ${variable}: https is required except for loopback`, async () => {
      await withRelay({ ...afterSaleVars(), [variable]: value }, async (relay, bindings) => {
        baidu.reset();
        const needles = secretNeedles(bindings);
        const h = await relay.get("/healthz");
        assertHealth503(h, [variable], features, needles);
        const [problem] = h.json.problems;
        assert.match(problem.message, /https:\/\//, problem.message);
        assert.match(problem.message, /loopback/, problem.message);
        assert.ok(!problem.message.includes("example.com"), `the value is echoed: ${problem.message}`);

        if (stopped) {
          const body = stopped === ROUTE ? ORDER : AFTER_SALE_BODY;
          assertMisconfigured(await relay.post(stopped, body), [variable], needles);
          assert.equal(baidu.calls.length, 0, "Baidu must see no call");
        }
        // What the bad URL does not serve keeps working.
        const working = stopped === ROUTE ? [[AFTER_SALE_ROUTES.update, AFTER_SALE_BODY]] : stopped ? [[ROUTE, ORDER]] : [[ROUTE, ORDER], [AFTER_SALE_ROUTES.update, AFTER_SALE_BODY]];
        for (const [route, body] of working) {
          const r = await relay.post(route, body);
          assert.equal(r.status, 200, `${route}: ${r.text}`);
        }
      });
    });
  }

  test("http:// to localhost, 127.x.y.z and [::1] is accepted", async () => {
    const closed = "1";
    await withRelay({ ...afterSaleVars(), RESULT_WEBHOOK_URL: `http://localhost:${closed}/results`, BAIDU_OPENAPI_URL: baidu.url.replace("127.0.0.1", "localhost") }, async (relay) => {
      const h = await relay.get("/healthz");
      assert.equal(h.status, 200, h.text);
      assert.deepEqual(h.json.problems, []);
    });
    await withRelay({ RESULT_WEBHOOK_URL: `http://[::1]:${closed}/results`, BAIDU_CASHIER_URL: "HTTP://127.1.2.3:1/cashier/syncOrderStatus" }, async (relay) => {
      const h = await relay.get("/healthz");
      assert.equal(h.status, 200, h.text);
      assert.deepEqual(h.json.problems, []);
    });
  });
});

describe("RESULT_WEBHOOK_SECRET", () => {
  const resultsUrl = "http://127.0.0.1:1/results";
  const healthy = { status: "ok", problems: [], features: healthFeatures({ cancelVerification: "ok", afterSale: "disabled" }), cashierApi: "etrade", keyBits: 1024 };

  test("unset while result webhooks are on → /healthz 200 with a note naming it (not a problem)", async () => {
    await withRelay({ RESULT_WEBHOOK_URL: resultsUrl }, async (relay, bindings) => {
      const h = await relay.get("/healthz");
      assert.equal(h.status, 200, h.text);
      const { notes, ...rest } = h.json;
      assert.deepEqual(rest, healthy);
      assert.equal(notes.length, 1, h.text);
      assert.deepEqual(Object.keys(notes[0]).sort(), ["message", "variable"]);
      assert.equal(notes[0].variable, "RESULT_WEBHOOK_SECRET");
      assert.match(notes[0].message, /WEBHOOK_SECRET/);
      assertNoLeak(h.text, secretNeedles(bindings), "/healthz body");
    });
  });

  test("set → /healthz 200 exactly as before, no notes; not without result webhooks either", async () => {
    const resultSecret = newSecret();
    await withRelay({ RESULT_WEBHOOK_URL: resultsUrl, RESULT_WEBHOOK_SECRET: resultSecret }, async (relay, bindings) => {
      const h = await relay.get("/healthz");
      assert.deepEqual(h.json, healthy, h.text);
      assertNoLeak(h.text, secretNeedles(bindings), "/healthz body");
    });
    await withRelay({}, async (relay) => {
      assert.deepEqual((await relay.get("/healthz")).json, healthy);
    });
  });

  test("not whsec_<base64> → /healthz 503 naming it, never its value; the webhook routes keep working", async () => {
    const broken = "whsec_%%%result-secret-not-base64%%%";
    await withRelay({ RESULT_WEBHOOK_URL: resultsUrl, RESULT_WEBHOOK_SECRET: broken }, async (relay, bindings) => {
      baidu.reset();
      const h = await relay.get("/healthz");
      assertHealth503(h, ["RESULT_WEBHOOK_SECRET"], { cancelVerification: "ok", afterSale: "disabled" }, [...secretNeedles(bindings), "result-secret-not-base64"]);
      const r = await relay.post(ROUTE, ORDER);
      assert.equal(r.status, 200, r.text);
    });
  });

  test("set without RESULT_WEBHOOK_URL → /healthz 503 naming RESULT_WEBHOOK_URL", async () => {
    await withRelay({ RESULT_WEBHOOK_SECRET: newSecret() }, async (relay, bindings) => {
      assertHealth503(await relay.get("/healthz"), ["RESULT_WEBHOOK_URL"], { cancelVerification: "ok", afterSale: "disabled" }, secretNeedles(bindings));
      assert.equal((await relay.post(ROUTE, ORDER)).status, 200);
    });
  });
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
