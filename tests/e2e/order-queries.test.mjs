// GET /v1/orders/{tpOrderId} and /v1/orders/{tpOrderId}/refunds end to end: admin token → relay
// (workerd) → fake Baidu's payment 2.0 findByTpOrderId / findOrderRefund (GET, access token in
// the query, nothing signed), answers normalised into one shape with every id a string.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { prepareBuild, startAfterSalePair, assertError, PAY_APP_KEY } from "../support/e2e.mjs";
import { FIND_BY_TP_ORDER_ID_PATH, FIND_ORDER_REFUND_PATH, PAYMENT_SERVICE_REFUND_PATH, TOKEN_EXPIRED } from "../../sandbox/fake-baidu.mjs";
import { ADMIN_TOKEN, admin, waitForStatus } from "../support/delivery.mjs";

let buildDir;
before(async () => { buildDir = await prepareBuild(); });

describe("order queries", () => {
  let pair;
  before(async () => {
    pair = await startAfterSalePair({ buildDir, ADMIN_TOKEN, BAIDU_PAYMENT_VERSION: "2" });
    pair.baidu.payOrder("T-Q1", { orderId: 2636635856, userId: 4188819900, totalMoney: 9800 });
    pair.baidu.payOrder("T-Q2", { orderId: "2636635857", userId: "4188819901", openId: "open-2", appKey: "MMMabc" });
  });
  after(async () => { await pair?.close(); });

  test("GET /v1/orders/{tpOrderId}: findByTpOrderId with the token, tpOrderId and pmAppKey; ids answered as strings", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const r = await admin(relay, "GET", "/v1/orders/T-Q1");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.tpOrderId, "T-Q1");
    const { order } = r.json;
    assert.equal(order.orderId, "2636635856");
    assert.equal(order.userId, "4188819900");
    assert.equal(order.openId, "k6bYMRbMDkF7hv0U4Dm1D2k9C8cPA4h5");
    assert.equal(typeof order.appId, "string");
    assert.equal(order.status, 2);
    assert.equal(order.paid, true);
    assert.equal(order.totalMoney, 9800);
    assert.equal(order.baidu.orderId, 2636635856, "Baidu's own data is kept as sent");
    const [call] = baidu.calls.filter((c) => c.path === FIND_BY_TP_ORDER_ID_PATH);
    assert.equal(call.method, "GET");
    assert.deepEqual(call.queryKeys, ["access_token", "tpOrderId", "pmAppKey"]);
    assert.equal(call.query.pmAppKey, PAY_APP_KEY);
    assert.equal(call.rawBody, "");
    // The same shape when Baidu sends the ids as strings.
    const other = await admin(relay, "GET", "/v1/orders/T-Q2");
    assert.equal(other.json.order.orderId, "2636635857");
    assert.equal(other.json.order.userId, "4188819901");
  });

  test("GET /v1/orders/{tpOrderId}/refunds: the relay's 2.0 refund found by its bizRefundBatchId, refundBatchId as a string", async () => {
    const { relay, baidu } = pair;
    const refund = await relay.post("/v1/refund", { tpOrderId: "T-Q1", orderId: 2636635856, userId: 4188819900, refundReason: "查询测试", applyRefundMoney: 1200 });
    assert.equal(refund.status, 200, refund.text);
    baidu.reset();
    const r = await admin(relay, "GET", "/v1/orders/T-Q1/refunds");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.userId, "4188819900");
    assert.equal(r.json.refunds.length, 1);
    const [found] = r.json.refunds;
    assert.equal(found.bizRefundBatchId, refund.json.baidu.bizRefundBatchId);
    assert.equal(found.refundBatchId, refund.json.baidu.refundBatchId);
    assert.equal(typeof found.refundBatchId, "string");
    assert.equal(found.orderId, "2636635856");
    assert.equal(found.status, "in_progress");
    baidu.refundStatus(found.bizRefundBatchId, 2);
    assert.equal((await admin(relay, "GET", "/v1/orders/T-Q1/refunds")).json.refunds[0].status, "succeeded");
    const [call] = baidu.calls.filter((c) => c.path === FIND_ORDER_REFUND_PATH);
    assert.deepEqual(call.queryKeys, ["access_token", "tpOrderId", "userId", "pmAppKey"]);
    assert.equal(call.query.userId, "4188819900");
  });

  test("an order Baidu does not know → 422 baidu_order_not_found; no refunds query follows", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    assertError(await admin(relay, "GET", "/v1/orders/T-NOPE/refunds"), 422, "baidu_order_not_found");
    assert.equal(baidu.calls.filter((c) => c.path === FIND_ORDER_REFUND_PATH).length, 0);
  });

  test("an expired token is refreshed once; the query then answers", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    baidu.respondNextAt(FIND_BY_TP_ORDER_ID_PATH, { json: TOKEN_EXPIRED });
    const r = await admin(relay, "GET", "/v1/orders/T-Q1");
    assert.equal(r.status, 200, r.text);
    assert.equal(baidu.calls.filter((c) => c.path === FIND_BY_TP_ORDER_ID_PATH).length, 2);
    assert.equal(baidu.tokenFetches, 1);
  });

  test("admin token required; wrong methods and paths; a percent-encoded tpOrderId", async () => {
    const { relay } = pair;
    assertError(await relay.request("GET", "/v1/orders/T-Q1"), 401, "unauthorized");
    assertError(await admin(relay, "GET", "/v1/orders/T-Q1", "wrong-token-0123456789"), 401, "unauthorized");
    assertError(await admin(relay, "POST", "/v1/orders/T-Q1"), 405, "method_not_allowed");
    assertError(await admin(relay, "GET", "/v1/orders/a/b"), 404, "not_found");
    assertError(await admin(relay, "GET", "/v1/orders/T%20Q1"), 422, "invalid_field", { field: "tpOrderId" });
    pair.baidu.payOrder("订单-1");
    const r = await admin(relay, "GET", `/v1/orders/${encodeURIComponent("订单-1")}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.tpOrderId, "订单-1");
  });
});

test("without ADMIN_TOKEN the queries are misconfigured", async () => {
  const pair = await startAfterSalePair({ buildDir });
  try {
    const r = await admin(pair.relay, "GET", "/v1/orders/T-1");
    assertError(r, 500, "misconfigured");
  } finally {
    await pair.close();
  }
});

describe("a 2.0 refund whose outcome is unknown is settled by findOrderRefund before any resend", () => {
  let pair;
  const FAST = { ADMIN_TOKEN, BAIDU_PAYMENT_VERSION: "2", MAX_ATTEMPTS: "3", RETRY_BASE_DELAY_SECONDS: "1", RETRY_MAX_DELAY_SECONDS: "1" };
  before(async () => { pair = await startAfterSalePair({ buildDir, ...FAST }); });
  after(async () => { await pair?.close(); });
  const refundBody = (tp) => ({ tpOrderId: tp, orderId: 2636635999, userId: 4188819900, refundReason: "lookup", applyRefundMoney: 500 });

  test("Baidu took the refund but the answer was lost: the retry finds it by bizRefundBatchId and sends nothing again", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    baidu.respondNextAt(PAYMENT_SERVICE_REFUND_PATH, (call) => { baidu.paymentServiceAnswer(call); return "destroy"; });
    const r = await relay.post("/v1/refund", refundBody("T-LOOKUP-1"));
    assert.equal(r.status, 202, r.text);
    const delivery = await waitForStatus(relay, r.webhookId, "delivered");
    assert.equal(delivery.attempts, 2);
    const answer = delivery.answer.body.baidu;
    assert.equal(answer.applyOrderRefund.settledByLookup.bizRefundBatchId, answer.bizRefundBatchId);
    assert.equal(answer.refundBatchId, baidu.refunds.find((x) => x.tpOrderId === "T-LOOKUP-1").refundBatchId.toString());
    assert.equal(baidu.calls.filter((c) => c.path === PAYMENT_SERVICE_REFUND_PATH).length, 1, "applyOrderRefund sent once");
    const lookups = baidu.calls.filter((c) => c.path === FIND_ORDER_REFUND_PATH);
    assert.equal(lookups.length, 1);
    assert.equal(lookups[0].query.userId, "4188819900");
    assert.deepEqual(delivery.steps, []);
  });

  test("the refund never reached Baidu: the lookup finds nothing and the refund is sent again, once", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    baidu.respondNextAt(PAYMENT_SERVICE_REFUND_PATH, "destroy");
    const r = await relay.post("/v1/refund", refundBody("T-LOOKUP-2"));
    assert.equal(r.status, 202, r.text);
    const delivery = await waitForStatus(relay, r.webhookId, "delivered");
    assert.equal(delivery.answer.body.baidu.applyOrderRefund.settledByLookup, undefined);
    assert.equal(baidu.calls.filter((c) => c.path === PAYMENT_SERVICE_REFUND_PATH).length, 2);
    assert.equal(baidu.calls.filter((c) => c.path === FIND_ORDER_REFUND_PATH).length, 1);
    assert.equal(baidu.refunds.filter((x) => x.tpOrderId === "T-LOOKUP-2").length, 1);
  });

  test("the token expired before the lookup: refreshed once, and the refund is still settled by the lookup", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    baidu.respondNextAt(PAYMENT_SERVICE_REFUND_PATH, (call) => { baidu.paymentServiceAnswer(call); baidu.expireTokens(); return "destroy"; });
    const r = await relay.post("/v1/refund", refundBody("T-LOOKUP-3"));
    assert.equal(r.status, 202, r.text);
    const delivery = await waitForStatus(relay, r.webhookId, "delivered");
    assert.ok(delivery.answer.body.baidu.applyOrderRefund.settledByLookup, JSON.stringify(delivery));
    const lookups = baidu.calls.filter((c) => c.path === FIND_ORDER_REFUND_PATH);
    assert.equal(lookups.length, 2, "refused once (token expired), asked again with a fresh token");
    assert.notEqual(lookups[0].query.access_token, lookups[1].query.access_token);
    assert.equal(baidu.calls.filter((c) => c.path === PAYMENT_SERVICE_REFUND_PATH).length, 1, "applyOrderRefund sent once");
  });

  test("Baidu refuses the lookup: the delivery ends outcome_unknown, and the refund is not sent again", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    baidu.respondNextAt(PAYMENT_SERVICE_REFUND_PATH, (call) => { baidu.paymentServiceAnswer(call); return "destroy"; });
    baidu.respondNextAt(FIND_ORDER_REFUND_PATH, { errno: 10001, msg: "参数错误" });
    const r = await relay.post("/v1/refund", refundBody("T-LOOKUP-4"));
    assert.equal(r.status, 202, r.text);
    const delivery = await waitForStatus(relay, r.webhookId, "failed");
    assert.equal(delivery.lastError, "outcome_unknown");
    assert.deepEqual(delivery.steps, [{ pending: "paymentservice/applyOrderRefund" }]);
    assert.equal(baidu.calls.filter((c) => c.path === PAYMENT_SERVICE_REFUND_PATH).length, 1);
  });
});
