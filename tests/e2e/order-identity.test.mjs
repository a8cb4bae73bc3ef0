// Order-center calls by tpOrderId alone, end to end: Baidu's payment callback (signed with a
// platform key by Node's crypto) → relay (workerd, D1 ledger) records orderId/userId; an after-sale
// or main-order webhook naming the order by tpOrderId → the relay asks the fake Baidu's payment 2.0
// findByTpOrderId for the openId once, keeps it in the ledger (paid_orders.open_id), and calls the
// order center with open_id and scene_id; the next call needs no lookup. Explicit ids win; swanId
// replaces openId (swan_id in the query); an unknown tpOrderId is order_unknown; a lookup without
// an answer is retried.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  prepareBuild, startAfterSalePair, assertError, refundItem, AFTER_SALE_ROUTES, ORDER_CENTER_PATHS, PAY_APP_KEY,
} from "../support/e2e.mjs";
import { ADMIN_TOKEN, waitForStatus, startResultReceiver } from "../support/delivery.mjs";
import { CALLBACK_PATHS, platformKeyPair, paymentFields, postCallback } from "../../sandbox/baidu-callbacks.mjs";
import { FIND_BY_TP_ORDER_ID_PATH, ORDER_CENTER_QUERY, ORDER_CENTER_SWAN_QUERY } from "../../sandbox/fake-baidu.mjs";
import { newSecret } from "../../sandbox/webhook.mjs";

const USER_ID = "3269234686470";

let buildDir;
before(async () => { buildDir = await prepareBuild(); });

/** Baidu's main order example (2 × 4900 paid, 500 shipping, a 1000 coupon → 9300 fen). */
function mainOrder(resourceId) {
  return {
    CateID: 2, ResourceID: resourceId, Title: "Swimming lessons", Ctime: 1777100000, Mtime: 1777100100, Status: 200,
    EXT: {
      MainOrder: {
        Products: [{ ID: "SKU-1", Name: "Lesson", Quantity: 2, Price: 5000, PayPrice: 4900 }],
        Payment: {
          Method: 1, Amount: 9300, IsPayment: true,
          PaymentInfo: [{ Name: "shipping", Value: 500, Quantity: 1 }],
          PreferentialInfo: [{ Name: "coupon", Value: 1000, Quantity: 1 }],
        },
      },
    },
  };
}

describe("order-center calls by tpOrderId", () => {
  let pair;
  let events;
  const platform = platformKeyPair();
  before(async () => {
    const eventsSecret = newSecret();
    events = await startResultReceiver(eventsSecret);
    pair = await startAfterSalePair({
      buildDir, ADMIN_TOKEN, MAX_ATTEMPTS: "3", RETRY_BASE_DELAY_SECONDS: "1", RETRY_MAX_DELAY_SECONDS: "1",
      BAIDU_PLATFORM_PUBLIC_KEY: platform.publicKeyBase64, EVENTS_WEBHOOK_URL: events.url, EVENTS_WEBHOOK_SECRET: eventsSecret,
    });
  });
  after(async () => { await pair?.close(); await events?.close(); });

  /** Baidu's payment callback for `tpOrderId`, and the same order as findByTpOrderId knows it. */
  async function paid(tpOrderId, orderId, openId) {
    pair.baidu.payOrder(tpOrderId, { orderId: Number(orderId), userId: Number(USER_ID), openId });
    const r = await postCallback(pair.relay, CALLBACK_PATHS.payment, paymentFields({ orderId, userId: USER_ID, tpOrderId }), platform.privateKey);
    assert.equal(r.status, 200, r.text);
  }

  async function paidOrderRow(tpOrderId) {
    const db = await pair.relay.mf.getD1Database("LEDGER");
    return db.prepare("SELECT order_id, user_id, open_id, total_money FROM paid_orders WHERE tp_order_id = ?1").bind(tpOrderId).first();
  }

  const lookups = (tpOrderId) => pair.baidu.findByTpOrderIdCalls().filter((c) => c.query.tpOrderId === tpOrderId);
  const lastOrderCenterCall = () => pair.baidu.orderCenterCalls().at(-1);

  test("after a payment callback, an after-sale import by tpOrderId alone asks findByTpOrderId once for the openId; the next call uses the one kept in the ledger", async () => {
    const { relay, baidu } = pair;
    await paid("T-ID-1", "7400000001", "open-T-ID-1");
    assert.equal((await paidOrderRow("T-ID-1")).open_id, null, "the payment callback carries no openId");
    baidu.reset();

    const append = await relay.post(AFTER_SALE_ROUTES.append, { tpOrderId: "T-ID-1", data: [refundItem("M-ID-1")] });
    assert.equal(append.status, 200, append.text);
    assert.equal(append.json.status, "delivered");
    const [lookup] = lookups("T-ID-1");
    assert.ok(lookup, "findByTpOrderId was asked");
    assert.equal(lookup.method, "GET");
    assert.deepEqual(lookup.queryKeys, ["access_token", "tpOrderId", "pmAppKey"]);
    assert.equal(lookup.query.pmAppKey, PAY_APP_KEY);
    let call = lastOrderCenterCall();
    assert.equal(call.path, ORDER_CENTER_PATHS.append);
    assert.ok(call.valid, call.invalidReason);
    assert.deepEqual(call.queryKeys, ORDER_CENTER_QUERY);
    assert.equal(call.query.open_id, "open-T-ID-1", "the openId findByTpOrderId gave");
    assert.equal(call.query.scene_id, "7400000001", "the payment callback's orderId");
    assert.equal(call.query.scene_type, "2");
    assert.equal(lookup.seq < call.seq, true, "looked up before the order-center call");
    const row = await paidOrderRow("T-ID-1");
    assert.equal(row.open_id, "open-T-ID-1", "kept in the ledger");
    assert.equal(row.order_id, "7400000001", "the callback's ids stay");
    assert.equal(row.total_money, 9800, "the callback's amounts stay");

    const update = await relay.post(AFTER_SALE_ROUTES.update, { tpOrderId: "T-ID-1", data: [refundItem("M-ID-1")] });
    assert.equal(update.status, 200, update.text);
    assert.equal(lookups("T-ID-1").length, 1, "no second findByTpOrderId: the kept openId was used");
    call = lastOrderCenterCall();
    assert.equal(call.path, ORDER_CENTER_PATHS.update);
    assert.equal(call.query.open_id, "open-T-ID-1");
    assert.equal(call.query.scene_id, "7400000001");

    const status = await relay.post(AFTER_SALE_ROUTES.status, { tpOrderId: "T-ID-1", data: [{ CateID: 2, ResourceID: "M-ID-1", EXT: { SubsOrder: { Status: 402 } } }] });
    assert.equal(status.status, 200, status.text);
    assert.equal(lookups("T-ID-1").length, 1);
    assert.equal(lastOrderCenterCall().query.open_id, "open-T-ID-1");
  });

  test("explicit openId and sceneId win over the tpOrderId and need no lookup; one of them alone is completed from the ledger", async () => {
    const { relay, baidu } = pair;
    await paid("T-ID-2", "7400000002", "open-T-ID-2");
    baidu.reset();
    const both = await relay.post(AFTER_SALE_ROUTES.update, { openId: "open-explicit", sceneId: "7499999999", tpOrderId: "T-ID-2", data: [refundItem("M-ID-2")] });
    assert.equal(both.status, 200, both.text);
    assert.equal(lastOrderCenterCall().query.open_id, "open-explicit");
    assert.equal(lastOrderCenterCall().query.scene_id, "7499999999");
    const withOpenId = await relay.post(AFTER_SALE_ROUTES.update, { openId: "open-explicit", tpOrderId: "T-ID-2", data: [refundItem("M-ID-2")] });
    assert.equal(withOpenId.status, 200, withOpenId.text);
    assert.equal(lastOrderCenterCall().query.open_id, "open-explicit");
    assert.equal(lastOrderCenterCall().query.scene_id, "7400000002", "the sceneId from the payment callback");
    assert.equal(lookups("T-ID-2").length, 0, "the explicit openId spared the lookup");
    const withSceneId = await relay.post(AFTER_SALE_ROUTES.update, { sceneId: 7499999998, tpOrderId: "T-ID-2", data: [refundItem("M-ID-2")] });
    assert.equal(withSceneId.status, 200, withSceneId.text);
    assert.equal(lastOrderCenterCall().query.open_id, "open-T-ID-2", "the openId from the lookup");
    assert.equal(lastOrderCenterCall().query.scene_id, "7499999998", "the explicit sceneId");
    assert.equal(lookups("T-ID-2").length, 1);
  });

  test("without a payment callback, findByTpOrderId alone fills the ledger's row: main orders by tpOrderId, then no more lookups", async () => {
    const { relay, baidu } = pair;
    baidu.payOrder("T-ID-3", { orderId: 7400000003, userId: 4188819903, openId: "open-T-ID-3", totalMoney: 9300, payMoney: 9300 });
    baidu.reset();
    const add = await relay.post("/v1/orders/add", { tpOrderId: "T-ID-3", data: [mainOrder("M-ID-3")] });
    assert.equal(add.status, 200, add.text);
    let call = lastOrderCenterCall();
    assert.equal(call.path, ORDER_CENTER_PATHS.addMain);
    assert.equal(call.query.open_id, "open-T-ID-3");
    assert.equal(call.query.scene_id, "7400000003", "Baidu's orderId");
    assert.deepEqual(await paidOrderRow("T-ID-3"), { order_id: "7400000003", user_id: "4188819903", open_id: "open-T-ID-3", total_money: 9300 });
    const status = await relay.post("/v1/orders/status", { tpOrderId: "T-ID-3", data: [{ CateID: 2, ResourceID: "M-ID-3", Status: 100 }] });
    assert.equal(status.status, 200, status.text);
    call = lastOrderCenterCall();
    assert.equal(call.path, ORDER_CENTER_PATHS.statusMain);
    assert.equal(call.query.open_id, "open-T-ID-3");
    assert.equal(call.query.scene_id, "7400000003");
    assert.equal(lookups("T-ID-3").length, 1, "one lookup for both calls");
    assert.equal(baidu.order("M-ID-3").main.Status, 100);
  });

  test("/v1/orders/sync by tpOrderId: both steps go to the same user and order, after one lookup", async () => {
    const { relay, baidu } = pair;
    baidu.payOrder("T-ID-4", { orderId: 7400000004, userId: 4188819904, openId: "open-T-ID-4" });
    baidu.reset();
    const order = mainOrder("M-ID-4");
    order.EXT.SubsOrder = { Status: 401, Items: [{ SubOrderID: "M-ID-4-AS1", SubStatus: 401, CTime: 1777100200, MTime: 1777100300, OrderType: 1 }] };
    const r = await relay.post("/v1/orders/sync", { tpOrderId: "T-ID-4", data: [order] });
    assert.equal(r.status, 200, r.text);
    const calls = baidu.orderCenterCalls();
    assert.deepEqual(calls.map((c) => c.path), [ORDER_CENTER_PATHS.addMain, ORDER_CENTER_PATHS.append]);
    for (const c of calls) {
      assert.equal(c.query.open_id, "open-T-ID-4");
      assert.equal(c.query.scene_id, "7400000004");
    }
    assert.equal(lookups("T-ID-4").length, 1);
  });

  test("a tpOrderId Baidu does not know → 422 order_unknown naming tpOrderId; nothing reaches the order center", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const r = await relay.post(AFTER_SALE_ROUTES.update, { tpOrderId: "T-ID-NEVER", data: [refundItem("M-ID-X")] });
    assertError(r, 422, "order_unknown", { field: "tpOrderId" });
    assert.equal(lookups("T-ID-NEVER").length, 1);
    assert.equal(baidu.orderCenterCalls().length, 0);
    const main = await relay.post("/v1/orders/update", { tpOrderId: "T-ID-NEVER", data: [{ CateID: 2, ResourceID: "M-ID-X", Status: 3, EXT: { MainOrder: {} } }] });
    assertError(main, 422, "order_unknown", { field: "tpOrderId" });
    assert.equal(baidu.orderCenterCalls().length, 0);
  });

  test("a lookup that gets no answer is transient: queued, retried, then delivered with the openId it found", async () => {
    const { relay, baidu } = pair;
    baidu.payOrder("T-ID-5", { orderId: 7400000005, userId: 4188819905, openId: "open-T-ID-5" });
    baidu.reset();
    baidu.respondNextAt(FIND_BY_TP_ORDER_ID_PATH, "http500");
    const r = await relay.post(AFTER_SALE_ROUTES.update, { tpOrderId: "T-ID-5", data: [refundItem("M-ID-5")] });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.lastError, "upstream_unavailable");
    assert.equal(baidu.orderCenterCalls().length, 0, "nothing sent without the openId");
    await waitForStatus(relay, r.webhookId, "delivered");
    assert.equal(lookups("T-ID-5").length, 2);
    assert.equal(lastOrderCenterCall().query.open_id, "open-T-ID-5");
  });

  test("swanId replaces openId: swan_id is sent in open_id's place; a swanId that is the sceneId is refused", async () => {
    const { relay, baidu } = pair;
    await paid("T-ID-6", "7400000006", "open-T-ID-6");
    baidu.reset();
    const bySwan = await relay.post(AFTER_SALE_ROUTES.update, { swanId: "swan-user-6", tpOrderId: "T-ID-6", data: [refundItem("M-ID-6")] });
    assert.equal(bySwan.status, 200, bySwan.text);
    let call = lastOrderCenterCall();
    assert.ok(call.valid, call.invalidReason);
    assert.deepEqual(call.queryKeys, ORDER_CENTER_SWAN_QUERY);
    assert.equal(call.query.swan_id, "swan-user-6");
    assert.equal(call.query.open_id, undefined);
    assert.equal(call.query.scene_id, "7400000006");
    assert.equal(lookups("T-ID-6").length, 0, "a swanId needs no openId: the scene came from the ledger");
    const explicit = await relay.post("/v1/orders/status", { swanId: "swan-user-7", sceneId: "7400000007", data: [{ CateID: 2, ResourceID: "M-ID-7", Status: 1 }] });
    assert.equal(explicit.status, 422, explicit.text, "an order never imported: rows_affected 0");
    call = lastOrderCenterCall();
    assert.equal(call.query.swan_id, "swan-user-7");
    assert.equal(call.query.scene_id, "7400000007");
    const calls = baidu.orderCenterCalls().length;
    // The official Java SDK's mistake, as given and as resolved.
    assertError(await relay.post(AFTER_SALE_ROUTES.update, { swanId: "7400000006", sceneId: 7400000006, data: [refundItem("M-ID-6")] }), 422, "invalid_field", { field: "swanId" });
    assertError(await relay.post(AFTER_SALE_ROUTES.update, { swanId: "7400000006", tpOrderId: "T-ID-6", data: [refundItem("M-ID-6")] }), 422, "invalid_field", { field: "swanId" });
    assert.equal(baidu.orderCenterCalls().length, calls, "neither reached Baidu");
  });

  test("an openId is kept only for the user of the recorded payment callback; a callback naming another user forgets it", async () => {
    const { relay, baidu } = pair;
    await paid("T-ID-9", "7400000009", "open-T-ID-9");
    // Baidu's lookup now names another user (and order): its ids go together, and nothing is kept.
    baidu.payOrder("T-ID-9", { orderId: 7400000019, userId: 4188819919, openId: "open-other-user" });
    baidu.reset();
    const r = await relay.post(AFTER_SALE_ROUTES.update, { tpOrderId: "T-ID-9", data: [refundItem("M-ID-9")] });
    assert.equal(r.status, 200, r.text);
    assert.equal(lastOrderCenterCall().query.open_id, "open-other-user");
    assert.equal(lastOrderCenterCall().query.scene_id, "7400000019", "the lookup's orderId, with its openId");
    assert.deepEqual(await paidOrderRow("T-ID-9"), { order_id: "7400000009", user_id: USER_ID, open_id: null, total_money: 9800 });
    // T-ID-1's kept openId is forgotten when a payment callback names another user for it.
    assert.equal((await paidOrderRow("T-ID-1")).open_id, "open-T-ID-1");
    const again = await postCallback(relay, CALLBACK_PATHS.payment, paymentFields({ orderId: "7400000001", userId: "4188819999", tpOrderId: "T-ID-1" }), platform.privateKey);
    assert.equal(again.status, 200, again.text);
    assert.equal((await paidOrderRow("T-ID-1")).open_id, null);
  });

  test("validation: a body naming no order names openId; openId and swanId together name swanId", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    assertError(await relay.post(AFTER_SALE_ROUTES.update, { data: [refundItem("M-ID-8")] }), 422, "missing_field", { field: "openId" });
    assertError(await relay.post(AFTER_SALE_ROUTES.update, { swanId: "s", data: [refundItem("M-ID-8")] }), 422, "missing_field", { field: "sceneId" });
    assertError(await relay.post("/v1/orders/add", { openId: "o", swanId: "s", tpOrderId: "T-ID-1", data: [mainOrder("M-ID-8")] }), 422, "invalid_field", { field: "swanId" });
    assertError(await relay.post(AFTER_SALE_ROUTES.update, { tpOrderId: "", data: [refundItem("M-ID-8")] }), 422, "invalid_field", { field: "tpOrderId" });
    assert.equal(baidu.calls.length, 0, "nothing was sent");
  });
});
