// The `npm start` sandbox (sandbox/sandbox.mjs) with the relay's dev configuration (scripts/dev.mjs),
// driven with every file of examples/ as `npm run send -- <file>` would send it: each plays the
// outcome docs/sandbox.md promises, queued ones finish, and each result webhook verifies.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { prepareBuild, startRelay, KEYS, publicKeyOf, APP_KEY, APP_SECRET, newSecret } from "../support/e2e.mjs";
import { ROOT } from "../support/relay.mjs";
import { startSandbox } from "../../sandbox/sandbox.mjs";
import { platformKeyPair, paymentFields, postCallback, CALLBACK_PATHS } from "../../sandbox/baidu-callbacks.mjs";
import { devBindings, DEV_SETTINGS } from "../../scripts/dev.mjs";
import { routeFromFileName } from "../../scripts/send.mjs";

const ADMIN_TOKEN = "sandbox-test-admin-token-01";
const MAX_ATTEMPTS = Number(DEV_SETTINGS.MAX_ATTEMPTS);

// What docs/sandbox.md promises for each example: [status, error code or status field, final ledger status, attempts].
const EXPECTED = {
  "cancel-verification.json": [200, "delivered"],
  "cancel-verification-signature-rejected.json": [502, "baidu_signature_rejected"],
  "cancel-verification-bad-parameter.json": [422, "baidu_bad_parameter"],
  "cancel-verification-order-not-found.json": [422, "baidu_order_not_found"],
  "cancel-verification-insufficient-balance.json": [409, "baidu_insufficient_balance"],
  "cancel-verification-internal-error.json": [202, "baidu_internal_error", "delivered", 3],
  "cancel-verification-http-500.json": [202, "upstream_unavailable", "delivered", 3],
  "cancel-verification-timeout.json": [202, "upstream_unavailable", "failed", MAX_ATTEMPTS],
  "after-sale-update.json": [200, "delivered"],
  "after-sale-update-by-tp-order-id.json": [200, "delivered"],
  "after-sale-append.json": [200, "delivered"],
  "after-sale-status.json": [200, "delivered"],
  "after-sale-update-order-not-found.json": [422, "baidu_order_not_found"],
  "after-sale-update-internal-error.json": [202, "baidu_internal_error", "delivered", 3],
  "after-sale-update-token-rejected.json": [502, "baidu_token_rejected"],
  "after-sale-status-partial-failure.json": [422, "baidu_items_rejected"],
  "refund.json": [200, "delivered"],
  "refund-partial.json": [200, "delivered"],
  "refund-order-not-found.json": [422, "baidu_order_not_found"],
  "payments-sign.json": [200, "signed"],
  "orders-add.json": [200, "delivered"],
  "orders-add-amount-mismatch.json": [422, "amount_mismatch"],
  "orders-logistics.json": [200, "delivered"],
  "orders-status.json": [200, "delivered"],
  "orders-update.json": [200, "delivered"],
  "orders-update-order-unknown.json": [422, "baidu_items_rejected"],
};

let sandbox;
let relay;
const results = [];
const events = [];
const baiduLines = [];
const platform = platformKeyPair();
before(async () => {
  const buildDir = await prepareBuild();
  const key = KEYS["2048 PKCS#8 PEM"];
  const creds = {
    secret: newSecret(), resultSecret: newSecret(), privateKey: key.privateKey, appKey: APP_KEY, appSecret: APP_SECRET, adminToken: ADMIN_TOKEN,
    platformPublicKey: platform.publicKeyBase64, eventsSecret: newSecret(),
  };
  sandbox = await startSandbox({
    publicKey: publicKeyOf(key.name), appKey: APP_KEY, appSecret: APP_SECRET, resultSecret: creds.resultSecret, onResult: (r) => results.push(r),
    platform, relayUrl: () => relay.url, eventsSecret: creds.eventsSecret, onEvent: (e) => events.push(e), onBaidu: (line) => baiduLines.push(line),
  });
  relay = await startRelay({
    // The dev configuration, with retries and the timeout shortened for the test.
    bindings: { ...devBindings(creds, sandbox.url), RETRY_BASE_DELAY_SECONDS: "0", RETRY_MAX_DELAY_SECONDS: "0", BAIDU_TIMEOUT_MS: "300" },
    kvNamespaces: ["TOKEN_CACHE"],
    buildDir,
  });
});
after(async () => {
  await relay?.close();
  await sandbox?.close();
});

test("every example plays its documented outcome; queued ones finish and send a verified result webhook", async () => {
  const files = readdirSync(path.join(ROOT, "examples")).filter((f) => f.endsWith(".json")).sort();
  assert.deepEqual(files, Object.keys(EXPECTED).sort(), "every examples/ file needs its expected outcome here (and in docs/sandbox.md)");
  const queued = [];
  for (const file of files) {
    const route = routeFromFileName(file);
    assert.ok(route, `${file}: no route in its name`);
    const r = await relay.post(`/v1/${route}`, readFileSync(path.join(ROOT, "examples", file), "utf8"));
    const [status, what, finalStatus, attempts] = EXPECTED[file];
    assert.equal(r.status, status, `${file}: ${r.text}`);
    if (status === 200 && what === "signed") assert.match(r.json.rsaSign, /^[A-Za-z0-9+/]+=*$/, file);
    else if (status === 200) assert.equal(r.json.status, what, file);
    else if (status === 202) { assert.equal(r.json.lastError, what, `${file}: ${r.text}`); queued.push({ file, id: r.webhookId, finalStatus, attempts }); }
    else assert.equal(r.json.error.code, what, `${file}: ${r.text}`);
  }
  const deadline = Date.now() + 30_000;
  for (const q of queued) {
    let row;
    while (Date.now() < deadline) {
      row = (await relay.get(`/v1/deliveries/${q.id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json;
      if (row?.status === q.finalStatus && results.some((e) => e.event?.id === q.id)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(row?.status, q.finalStatus, `${q.file}: ${JSON.stringify(row)}`);
    assert.equal(row.attempts, q.attempts, q.file);
    const events = results.filter((e) => e.event?.id === q.id);
    assert.equal(events.length, 1, `${q.file}: one result webhook`);
    assert.equal(events[0].valid, true, `${q.file}: result webhook signature`);
    assert.equal(events[0].event.status, q.finalStatus, q.file);
  }
});

test("the order center keeps what was imported: the example order, updated, shipped, with its after-sale item appended", async () => {
  const stored = sandbox.order("M-SANDBOX-1");
  assert.ok(stored, "examples/orders-add.json imported M-SANDBOX-1");
  assert.equal(stored.main.Status, 3, "orders-status.json, then orders-update.json, moved it");
  assert.deepEqual(stored.history, ["addMain", "logistics", "statusMain", "updateMain"]);
  assert.equal(stored.express.ID, "SF1234567890", "orders-logistics.json shipped it");
  const append = await relay.post("/v1/after-sale/append", {
    openId: "k6bYMRbMDkF7hv0U4Dm1D2k9C8cPA4h5", sceneId: "2636635856",
    data: [{ CateID: 2, ResourceID: "M-SANDBOX-1", EXT: { SubsOrder: { Status: 401, Items: [{ SubOrderID: "M-SANDBOX-1-AS1", SubStatus: 401, CTime: 1777200000, MTime: 1777200000, OrderType: 1 }] } } }],
  });
  assert.equal(append.status, 200, append.text);
  assert.deepEqual(sandbox.order("M-SANDBOX-1").subs.map((s) => s.SubOrderID), ["M-SANDBOX-1-AS1"]);
  assert.equal(sandbox.order("M-SANDBOX-AMOUNT"), undefined, "the mismatched order never reached Baidu");
  const admin = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };
  // examples/after-sale-update-by-tp-order-id.json named T-SANDBOX-1 alone: the sandbox's
  // findByTpOrderId told its orderId (the scene_id) and openId.
  const byTp = sandbox.orderCenterCalls().find((c) => c.json?.Data?.[0]?.ResourceID === "M202604250001" && c.query.scene_id === "2636635857");
  assert.ok(byTp, "the order center was called with T-SANDBOX-1's orderId as scene_id");
  assert.equal(byTp.query.open_id, "k6bYMRbMDkF7hv0U4Dm1D2k9C8cPA4h5");
  // The sandbox runs payment 1.0: an order is queried (queryorderdetail) once its payment
  // callback reached the relay.
  const pay = await postCallback(relay, CALLBACK_PATHS.payment, paymentFields({ orderId: "2700000009", tpOrderId: "T-SANDBOX-PAID" }), platform.privateKey);
  assert.equal(pay.status, 200, pay.text);
  const query = await relay.get("/v1/orders/T-SANDBOX-PAID", admin);
  assert.equal(query.status, 200, query.text);
  assert.equal(query.json.order.tpOrderId, "T-SANDBOX-PAID");
  assert.equal(query.json.order.orderId, "2700000009");
  assert.equal(query.json.order.verified, true);
  assert.equal(query.json.order.refund, "none");
  assert.equal((await relay.get("/v1/orders/T-SANDBOX-PAID/refunds", admin)).json.refunds.length, 0);
  assert.equal((await relay.get("/v1/orders/T-UNKNOWN", admin)).json.error.code, "order_unknown");
});

test("the refund path plays end to end: Baidu's payment callback, a refund by tpOrderId, Baidu's audit and result callbacks, the merchant's verified events", async () => {
  const pay = await postCallback(relay, CALLBACK_PATHS.payment, paymentFields({ orderId: "2700000001", tpOrderId: "T-WALK" }), platform.privateKey);
  assert.equal(pay.status, 200, pay.text);
  const r = await relay.post("/v1/refund", { tpOrderId: "T-WALK", refundReason: "用户申请退款" });
  assert.equal(r.status, 200, r.text);
  const refundBatchId = r.json.baidu.refundBatchId;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !events.some((e) => e.event?.type === "baidu.refund.succeeded" && e.event.data.refundBatchId === refundBatchId)) {
    await new Promise((res) => setTimeout(res, 100));
  }
  const types = events.filter((e) => e.event?.data?.tpOrderId === "T-WALK" || e.event?.data?.refundBatchId === refundBatchId).map((e) => e.event.type);
  assert.deepEqual(types, ["baidu.payment.succeeded", "baidu.refund.succeeded"], JSON.stringify(baiduLines));
  assert.ok(events.every((e) => e.valid), "every event verifies with EVENTS_WEBHOOK_SECRET");
  assert.ok(baiduLines.some((l) => l.includes("/v1/baidu/refund-audit") && l.includes('"auditStatus":1')), `the relay approved its own refund: ${baiduLines.join("\n")}`);

  // REFUND-FAIL: Baidu reports the refund failed.
  await postCallback(relay, CALLBACK_PATHS.payment, paymentFields({ orderId: "2700000002", tpOrderId: "REFUND-FAIL" }), platform.privateKey);
  const failing = await relay.post("/v1/refund", { tpOrderId: "REFUND-FAIL", refundReason: "r" });
  assert.equal(failing.status, 200, failing.text);
  const failedBatch = failing.json.baidu.refundBatchId;
  const until = Date.now() + 15_000;
  while (Date.now() < until && !events.some((e) => e.event?.type === "baidu.refund.failed" && e.event.data.refundBatchId === failedBatch)) {
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(events.some((e) => e.event?.type === "baidu.refund.failed" && e.event.data.refundBatchId === failedBatch), "baidu.refund.failed reached the merchant");
});
