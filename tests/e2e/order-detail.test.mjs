// Payment 1.0's status query (queryorderdetail), black box: the real wasm in workerd, a fake
// Baidu that verifies the query's `sign` with Node's crypto and keeps each cashier order's
// verification and refund state. A cancel verification or 1.0 refund whose answer was lost is
// settled by asking Baidu before anything is sent again; GET /v1/orders answers under 1.0.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  prepareBuild, startRelay, startFakeBaidu, bindingsFor, publicKeyOf, assertError, KEYS, PATHS,
} from "../support/e2e.mjs";
import { ADMIN_TOKEN, admin, waitForStatus } from "../support/delivery.mjs";
import { CALLBACK_PATHS, platformKeyPair, paymentFields, postCallback } from "../../sandbox/baidu-callbacks.mjs";
import { CASHIER_REFUND_PATH, ORDER_DETAIL_PATH, ORDER_DETAIL_QUERY, canonicalString } from "../../sandbox/fake-baidu.mjs";

const USER_ID = "3269234686470";
const APP_ID = "1234567";

let buildDir;
let baidu;
let relay;
const platform = platformKeyPair();
const key = KEYS["1024 PKCS#1 PEM"];

before(async () => {
  buildDir = await prepareBuild();
  baidu = await startFakeBaidu({ publicKey: publicKeyOf(key.name) });
  relay = await startRelay({
    buildDir,
    bindings: {
      ...bindingsFor({ baidu, key }),
      BAIDU_PAYMENT_APP_ID: APP_ID,
      BAIDU_ORDER_DETAIL_URL: `${baidu.url}${ORDER_DETAIL_PATH}`,
      BAIDU_PLATFORM_PUBLIC_KEY: platform.publicKeyBase64,
      EVENTS_WEBHOOK_URL: `${baidu.url}/merchant-events`,
      ADMIN_TOKEN,
      MAX_ATTEMPTS: "4",
      RETRY_BASE_DELAY_SECONDS: "1",
      RETRY_MAX_DELAY_SECONDS: "1",
    },
  });
});
after(async () => {
  await relay?.close();
  await baidu?.close();
});

const callsFor = (path, orderId) => baidu.calls.filter((c) => c.path === path && (c.params?.orderId ?? c.query?.orderId) === orderId);
/** Applies the call at Baidu, then loses the answer (the socket is destroyed). */
const processedThenLost = (call) => { baidu.processCashierCall(call); return "destroy"; };

function assertVerifiedQuery(call, orderId) {
  assert.ok(call.valid, call.invalidReason);
  assert.equal(call.method, "GET");
  assert.deepEqual(call.queryKeys, ORDER_DETAIL_QUERY, "appId, appKey, orderId, siteId, then sign");
  assert.equal(call.query.appId, APP_ID);
  assert.equal(call.query.appKey, key.appKey);
  assert.equal(call.query.orderId, orderId);
  assert.equal(call.query.siteId, USER_ID, "siteId is the payment callback's userId");
  assert.equal(call.canonical, `appId=${APP_ID}&appKey=${key.appKey}&orderId=${orderId}&siteId=${USER_ID}`);
  assert.ok(call.signatureValid, "sign verifies with Node's crypto over the four parameters");
}

describe("unknown outcomes settled by queryorderdetail", () => {
  test("a cancel verification Baidu applied but whose answer was lost is settled by the verification state, not sent again", async () => {
    const orderId = "7500000001";
    baidu.respondNextAt(PATHS.etrade, processedThenLost);
    const r = await relay.post("/v1/cancel-verification", { orderId: Number(orderId), userId: Number(USER_ID) });
    assert.equal(r.status, 202, r.text);
    const view = await waitForStatus(relay, r.webhookId, "delivered", { ms: 30_000 });
    assert.equal(callsFor(PATHS.etrade, orderId).length, 1, "the cancel reached Baidu once");
    const lookups = callsFor(ORDER_DETAIL_PATH, orderId);
    assert.equal(lookups.length, 1);
    assertVerifiedQuery(lookups[0], orderId);
    assert.equal(view.baidu.settledByLookup.query, "queryorderdetail");
    assert.equal(view.baidu.settledByLookup.verificationStatus, -1);
    assert.match(view.baidu.msg, /settled by lookup/);
    assert.equal(baidu.cashierOrder(orderId).verified, false);
    assert.ok(relay.logs.some((l) => l.json?.msg?.includes("queryorderdetail") && l.json.webhookId === r.webhookId), "the log tells how it was settled");
  });

  test("a cancel verification that never reached Baidu is found still verified and sent once more", async () => {
    const orderId = "7500000002";
    baidu.respondNextAt(PATHS.etrade, "destroy");
    const r = await relay.post("/v1/cancel-verification", { orderId: Number(orderId), userId: Number(USER_ID) });
    assert.equal(r.status, 202, r.text);
    const view = await waitForStatus(relay, r.webhookId, "delivered", { ms: 30_000 });
    assert.equal(callsFor(ORDER_DETAIL_PATH, orderId).length, 1, "asked once");
    assert.equal(callsFor(PATHS.etrade, orderId).length, 2, "then sent again");
    assert.equal(view.baidu.settledByLookup, undefined, "Baidu's own answer to the resend");
    assert.equal(baidu.cashierOrder(orderId).verified, false);
  });

  test("a status answer from Baidu's cache that does not show the earlier cancel is not trusted: asked again, then the cancel is resent", async () => {
    const orderId = "7500000005";
    baidu.respondNextAt(PATHS.etrade, "destroy");
    baidu.respondNextAt(ORDER_DETAIL_PATH, { json: { errno: 0, errmsg: "成功", cached: 1, data: { data: { payStatus: { statusNum: 1 }, refundStatus: { statusNum: -1 }, verification: { statusNum: 1 } } } } });
    const r = await relay.post("/v1/cancel-verification", { orderId: Number(orderId), userId: Number(USER_ID) });
    assert.equal(r.status, 202, r.text);
    const view = await waitForStatus(relay, r.webhookId, "delivered", { ms: 30_000 });
    assert.equal(view.attempts, 3, "the cached answer cost one attempt");
    assert.equal(callsFor(ORDER_DETAIL_PATH, orderId).length, 2, "asked twice");
    assert.equal(callsFor(PATHS.etrade, orderId).length, 2, "sent again only after an uncached answer");
    assert.ok(relay.logs.some((l) => l.json?.webhookId === r.webhookId && /cache/.test(l.json.msg ?? "")), "the log says why it waited");
  });

  test("a 1.0 refund whose answer was lost is settled by the order's refund state; one refund call", async () => {
    const orderId = "7500000003";
    baidu.respondNextAt(CASHIER_REFUND_PATH, processedThenLost);
    const r = await relay.post("/v1/refund", { orderId: Number(orderId), userId: Number(USER_ID), tpOrderId: "T-lost-refund", refundReason: "部分退款", applyRefundMoney: 500 });
    assert.equal(r.status, 202, r.text);
    const view = await waitForStatus(relay, r.webhookId, "delivered", { ms: 30_000 });
    assert.equal(callsFor(CASHIER_REFUND_PATH, orderId).length, 1, "the refund reached Baidu once");
    assert.equal(callsFor(PATHS.etrade, orderId).length, 0, "a partial refund never cancels");
    assertVerifiedQuery(callsFor(ORDER_DETAIL_PATH, orderId)[0], orderId);
    assert.equal(view.baidu.applyOrderRefund.settledByLookup.refundStatus, 1);
    assert.equal(baidu.cashierOrder(orderId).refundStatus, 1);
  });

  test("a lookup Baidu refuses cannot settle anything: the delivery ends outcome_unknown and the call is not sent again", async () => {
    const orderId = "7500000004";
    baidu.respondNextAt(PATHS.etrade, processedThenLost);
    baidu.respondNextAt(ORDER_DETAIL_PATH, { json: { errno: 10001, errmsg: "参数错误", msg: "参数错误" } });
    const r = await relay.post("/v1/cancel-verification", { orderId: Number(orderId), userId: Number(USER_ID) });
    assert.equal(r.status, 202, r.text);
    const view = await waitForStatus(relay, r.webhookId, "failed", { ms: 30_000 });
    assert.equal(view.lastError, "outcome_unknown");
    assert.deepEqual(view.steps, [{ pending: "cashier/syncOrderStatus" }], "the mark stays on the delivery");
    assert.match(view.errorMeaning, /queryorderdetail/);
    assert.ok(relay.logs.some((l) => l.json?.webhookId === r.webhookId && l.json.call === "cashier/syncOrderStatus" && l.json.answer === "baidu_bad_parameter"), "the log names the refusal");
    assert.equal(callsFor(PATHS.etrade, orderId).length, 1, "not resent blindly");
    // Once Baidu answers the query, an operator's retry settles it.
    const retry = await admin(relay, "POST", `/v1/deliveries/${r.webhookId}/retry`);
    assert.equal(retry.status, 202, retry.text);
    const settled = await waitForStatus(relay, r.webhookId, "delivered", { ms: 30_000 });
    assert.equal(settled.baidu.settledByLookup.verificationStatus, -1);
    assert.equal(callsFor(PATHS.etrade, orderId).length, 1);
  });
});

describe("GET /v1/orders under payment 1.0", () => {
  test("answers the order the payment callback recorded, as queryorderdetail reports it, ids as strings", async () => {
    const orderId = "7500000010";
    const pay = await postCallback(relay, CALLBACK_PATHS.payment, paymentFields({ orderId, tpOrderId: "T-q1", totalMoney: 9800 }), platform.privateKey);
    assert.equal(pay.status, 200, pay.text);
    const first = await admin(relay, "GET", "/v1/orders/T-q1");
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.tpOrderId, "T-q1");
    assert.equal(first.json.order.orderId, orderId);
    assert.equal(first.json.order.userId, USER_ID);
    assert.equal(first.json.order.paid, true);
    assert.equal(first.json.order.verified, true);
    assert.equal(first.json.order.refund, "none");
    assert.equal(first.json.order.totalMoney, 9800);
    assert.equal(first.json.order.baidu.payStatus.statusNum, 1);
    assertVerifiedQuery(callsFor(ORDER_DETAIL_PATH, orderId).at(-1), orderId);
    const none = await admin(relay, "GET", "/v1/orders/T-q1/refunds");
    assert.deepEqual(none.json, { tpOrderId: "T-q1", userId: USER_ID, refunds: [] });

    const refund = await relay.post("/v1/refund", { tpOrderId: "T-q1", refundReason: "全额退款" });
    assert.equal(refund.status, 200, refund.text);
    const after = await admin(relay, "GET", "/v1/orders/T-q1");
    assert.equal(after.json.order.verified, false, "the full refund cancelled the verification");
    assert.equal(after.json.order.refund, "in_progress");
    const refunds = await admin(relay, "GET", "/v1/orders/T-q1/refunds");
    assert.deepEqual(refunds.json.refunds, [{ bizRefundBatchId: null, refundBatchId: null, orderId, userId: USER_ID, refundStatus: 1, status: "in_progress" }]);
  });

  test("an order no payment callback recorded is order_unknown; Baidu's refusal is passed on", async () => {
    assertError(await admin(relay, "GET", "/v1/orders/T-never-paid"), 422, "order_unknown", { field: "tpOrderId" });
    const pay = await postCallback(relay, CALLBACK_PATHS.payment, paymentFields({ orderId: "7500000011", tpOrderId: "T-q2" }), platform.privateKey);
    assert.equal(pay.status, 200);
    baidu.respondNextAt(ORDER_DETAIL_PATH, { json: { errno: 10002, errmsg: "订单不存在" } });
    const refused = await admin(relay, "GET", "/v1/orders/T-q2");
    assertError(refused, 422, "baidu_order_not_found");
  });
});

test("without BAIDU_PAYMENT_APP_ID, /healthz points out that unknown outcomes are resent unchecked, and 1.0 order queries name the variable", async () => {
  const plain = await startRelay({ buildDir, bindings: { ...bindingsFor({ baidu, key }), ADMIN_TOKEN } });
  try {
    const health = await plain.request("GET", "/healthz");
    assert.equal(health.status, 200, health.text);
    const note = health.json.notes?.find((n) => n.variable === "BAIDU_PAYMENT_APP_ID");
    assert.ok(note, health.text);
    assert.match(note.message, /queryorderdetail/);
    assertError(await admin(plain, "GET", "/v1/orders/T-q1"), 500, "misconfigured", { variables: ["BAIDU_PAYMENT_APP_ID"] });
  } finally {
    await plain.close();
  }
});

test("the canonical string the fake verifies is the relay's rule (keys in byte order, sign left out)", () => {
  assert.equal(canonicalString({ siteId: "2", sign: "x", appKey: "MMMabc", orderId: "1", appId: "9" }), "appId=9&appKey=MMMabc&orderId=1&siteId=2");
});
