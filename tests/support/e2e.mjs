// Shared fixtures of the end-to-end tests.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import path from "node:path";
import { build } from "../../scripts/build.mjs";
import { BUILD_DIR, startRelay } from "./relay.mjs";
import { startFakeBaidu } from "./fake-baidu.mjs";
import { keyPem, pemBody, pemBodyLines } from "./vectors.mjs";
import { newSecret } from "./webhook.mjs";

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

export { startRelay, startFakeBaidu, newSecret };
