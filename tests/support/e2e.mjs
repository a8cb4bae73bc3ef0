// Shared fixtures of the end-to-end tests.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import path from "node:path";
import { build } from "../../scripts/build.mjs";
import { BUILD_DIR, startRelay } from "./relay.mjs";
import { startFakeBaidu, ORDER_CENTER_PATHS, TOKEN_PATH } from "../../sandbox/fake-baidu.mjs";
import { keyPem, pemBody, pemBodyLines } from "./vectors.mjs";
import { newSecret } from "../../sandbox/webhook.mjs";

export const ROUTE = "/v1/cancel-verification";
export const ORDER = { orderId: 2636635856, userId: 4188819900 };
export const PATHS = { etrade: "/cashier/syncOrderStatus", nuomi: "/nop/server/rest" };
export const U64_MAX = "18446744073709551615";

/**
 * Builds once (skipped when build/ is fresh) and returns the directory to run.
 * RELAY_BUILD_DIR=<dir> runs a prebuilt worker from elsewhere instead, without building.
 */
export async function prepareBuild() {
  if (process.env.RELAY_BUILD_DIR) return path.resolve(process.env.RELAY_BUILD_DIR);
  await build({ ifStale: true, quiet: true, log: (line) => process.stderr.write(`# ${line}\n`) });
  return BUILD_DIR;
}

/** The private keys under test, by label. `escaped*` are as a secrets UI may hand them over. */
export const KEYS = {
  "1024 PKCS#1 PEM": { name: "baidu-doc-sample-1024", appKey: "MMMabc", privateKey: keyPem("baidu-doc-sample-1024", "pkcs1") },
  "1024 PKCS#8 PEM": { name: "baidu-doc-sample-1024", appKey: "MMMabc", privateKey: keyPem("baidu-doc-sample-1024", "pkcs8") },
  "2048 PKCS#1 PEM": { name: "test-2048", appKey: "MMMzaA", privateKey: keyPem("test-2048", "pkcs1") },
  "2048 PKCS#8 PEM": { name: "test-2048", appKey: "MMMzaA", privateKey: keyPem("test-2048", "pkcs8") },
  // Bare base64 body (no BEGIN/END lines), its 64-char lines joined by literal backslash-n.
  "1024 PKCS#1 bare base64 with \\n escapes": {
    name: "baidu-doc-sample-1024", appKey: "MMMabc",
    privateKey: pemBodyLines(keyPem("baidu-doc-sample-1024", "pkcs1")).join("\\n"),
  },
};

export function publicKeyOf(name) {
  return keyPem(name, "pub");
}

/** Fragments of a private key that must never show up in a response or log line. */
export function keyFragments(privatePem) {
  const body = pemBody(privatePem.replace(/\\n/g, "\n"));
  const frags = [];
  for (let i = 0; i + 24 <= body.length; i += 24) frags.push(body.slice(i, i + 24));
  return frags;
}

/** Asserts that `text` contains none of `needles` (reports which one, not the text). */
export function assertNoLeak(text, needles, where) {
  for (const n of needles) {
    if (n && text.includes(n)) assert.fail(`${where} contains secret material (${n.slice(0, 6)}…, ${n.length} chars)`);
  }
}

/** Bindings for a healthy relay talking to `baidu`. Override or drop (undefined) any of them. */
export function bindingsFor({ baidu, key = KEYS["1024 PKCS#1 PEM"], api = "etrade", secret = newSecret(), ...overrides } = {}) {
  return {
    WEBHOOK_SECRET: secret,
    BAIDU_RSA_PRIVATE_KEY: key.privateKey,
    BAIDU_PAY_APP_KEY: key.appKey,
    BAIDU_CASHIER_API: api,
    BAIDU_CASHIER_URL: baidu ? `${baidu.url}${PATHS[api] ?? PATHS.etrade}` : undefined,
    ...overrides,
  };
}

/**
 * The `features` of /healthz: `callbacks` disabled and `refunds` following cancel verification
 * (payment 1.0) unless given.
 */
export function healthFeatures({ cancelVerification, afterSale, callbacks = "disabled", refunds = cancelVerification }) {
  return { cancelVerification, afterSale, callbacks, refunds };
}

/** Asserts a contract error answer: status, {error:{code, message (non-empty), ...extra}}. */
export function assertError(r, status, code, extra = {}) {
  const detail = `got ${r.status} ${r.text.slice(0, 300)}`;
  assert.equal(r.status, status, detail);
  assert.ok(r.json && typeof r.json === "object" && r.json.error && typeof r.json.error === "object", `body is not {"error":{...}}: ${detail}`);
  assert.equal(r.json.error.code, code, detail);
  assert.equal(typeof r.json.error.message, "string", detail);
  assert.ok(r.json.error.message.trim().length > 0, `empty message: ${detail}`);
  for (const [k, v] of Object.entries(extra)) assert.deepEqual(r.json.error[k], v, `error.${k}: ${detail}`);
}

/** A TCP port on 127.0.0.1 that nothing listens on (just closed). */
export async function closedPort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts a fake Baidu and a relay pointed at it. Returns {baidu, relay, secret, close()}. */
export async function startPair({ buildDir, key = KEYS["1024 PKCS#1 PEM"], api = "etrade", ...overrides } = {}) {
  const baidu = await startFakeBaidu({ publicKey: publicKeyOf(key.name) });
  const bindings = bindingsFor({ baidu, key, api, ...overrides });
  let relay;
  try {
    relay = await startRelay({ bindings, buildDir });
  } catch (err) {
    await baidu.close();
    throw err;
  }
  return {
    baidu, relay, bindings, secret: bindings.WEBHOOK_SECRET,
    async close() { await relay.close(); await baidu.close(); },
  };
}

// --- After-sale (order center) -------------------------------------------------------------

/** The smart program's credentials under test (App Key: 32 letters and digits, as Baidu issues them). */
export const APP_KEY = "4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c";
export const APP_SECRET = "Xq7TfVb2LcN9sKe4RwHp0ZyUj6MdGa3B";
export const PAY_APP_KEY = "MMMabc";
export const OPEN_ID = "k6bYMRbMDkF7hv0U4Dm1D2k9C8cPA4h5";
export const SCENE_ID = 2636635856;
export const AFTER_SALE_ROUTES = Object.freeze({
  update: "/v1/after-sale/update",
  append: "/v1/after-sale/append",
  status: "/v1/after-sale/status",
});
export { ORDER_CENTER_PATHS, TOKEN_PATH };

/**
 * A refund after-sale item in Baidu's shape (baidu-api.md §4), without BizAPPID unless given:
 * one sub-order refunded in full (9900 fen), refund only, detail page shown with a jump.
 */
export function refundItem(resourceId = "M202604250001", extra = {}) {
  return {
    CateID: 2,
    ResourceID: resourceId,
    EXT: {
      SubsOrder: {
        Status: 402,
        Items: [{
          SubOrderID: `${resourceId}-AS1`,
          SubStatus: 402,
          CTime: 1777100000,
          MTime: 1777103600,
          OrderType: 1,
          OrderDetail: { Status: 2, Name: "退款详情", SwanSchema: `baiduboxapp://swan/${APP_KEY}/pages/refund/detail?id=${resourceId}-AS1` },
          Refund: { Amount: 9900, Product: [{ ID: "SKU-1001", Quantity: 1, Amount: 9900 }] },
        }],
      },
    },
    ...extra,
  };
}

/** Bindings for a relay with only the after-sale feature configured, talking to `baidu`. */
export function afterSaleBindingsFor({ baidu, secret = newSecret(), ...overrides } = {}) {
  return {
    WEBHOOK_SECRET: secret,
    BAIDU_APP_KEY: APP_KEY,
    BAIDU_APP_SECRET: APP_SECRET,
    BAIDU_PAY_APP_KEY: PAY_APP_KEY,
    BAIDU_OPENAPI_URL: baidu?.url,
    ...overrides,
  };
}

/**
 * Starts a fake Baidu that knows APP_KEY/APP_SECRET (unless `baidu` is given) and a relay with the
 * after-sale feature and the TOKEN_CACHE KV binding (in memory, or on disk under `kvPersist`).
 * Returns {baidu, relay, bindings, secret, close()} (close() leaves a given `baidu` running).
 */
export async function startAfterSalePair({ buildDir, baidu: given, kvPersist, kv = true, fake = {}, ...overrides } = {}) {
  const baidu = given ?? await startFakeBaidu({ openapi: { appKey: APP_KEY, appSecret: APP_SECRET }, ...fake });
  const bindings = afterSaleBindingsFor({ baidu, ...overrides });
  let relay;
  try {
    relay = await startRelay({ bindings, buildDir, kvNamespaces: kv ? ["TOKEN_CACHE"] : undefined, kvPersist });
  } catch (err) {
    if (!given) await baidu.close();
    throw err;
  }
  return {
    baidu, relay, bindings, secret: bindings.WEBHOOK_SECRET,
    async close() { await relay.close(); if (!given) await baidu.close(); },
  };
}

export { startRelay, startFakeBaidu, newSecret };
