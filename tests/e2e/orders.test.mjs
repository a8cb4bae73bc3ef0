// POST /v1/orders/{add,update,status,logistics} end to end: merchant webhook → relay (workerd, D1
// ledger, retry queue, TOKEN_CACHE KV) → fake Baidu whose in-memory order center keeps main orders.
// Covers each route's path, query and body, the Ctime/Mtime spelling guard, the Payment.Amount
// formula (reject and warn), rows_affected "0" for an unknown order, and `add` never repeated once
// its outcome is unknown; /v1/orders/sync's two steps, under a fault between them.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  prepareBuild, startAfterSalePair, assertError, APP_KEY, OPEN_ID, SCENE_ID, ORDER_CENTER_PATHS, PAY_APP_KEY,
} from "../support/e2e.mjs";
import { ORDER_CENTER_QUERY } from "../../sandbox/fake-baidu.mjs";
import { ADMIN_TOKEN, admin, waitForStatus, ledgerRow } from "../support/delivery.mjs";

const ROUTES = Object.freeze({
  add: "/v1/orders/add",
  update: "/v1/orders/update",
  status: "/v1/orders/status",
  logistics: "/v1/orders/logistics",
});
const SYNC = "/v1/orders/sync";

let buildDir;
before(async () => { buildDir = await prepareBuild(); });

/** Baidu's own example of a main order: 2 × 4900 paid, 500 shipping, a 1000 coupon → 9300 fen. */
function mainOrder(resourceId = "M202611300001", extra = {}) {
  return {
    CateID: 2,
    ResourceID: resourceId,
    Title: "Swimming lessons",
    Ctime: 1777100000,
    Mtime: 1777100100,
    Status: 200,
    EXT: {
      MainOrder: {
        Products: [{ ID: "SKU-1", Name: "Lesson", Quantity: 2, Price: 5000, PayPrice: 4900, DetailPage: { Status: 2, SwanSchema: "baiduboxapp://swan/x" } }],
        Payment: {
          Method: 1, Amount: 9300, IsPayment: true, Time: 1777100050,
          PaymentInfo: [{ Name: "shipping", Value: 500, Quantity: 1 }],
          PreferentialInfo: [{ Name: "coupon", Value: 1000, Quantity: 1 }],
        },
        OrderDetail: { Status: 2, SwanSchema: "baiduboxapp://swan/y" },
      },
    },
    ...extra,
  };
}

function body(data) {
  return { openId: OPEN_ID, sceneId: SCENE_ID, data };
}

const FAST_RETRIES = { ADMIN_TOKEN, MAX_ATTEMPTS: "3", RETRY_BASE_DELAY_SECONDS: "1", RETRY_MAX_DELAY_SECONDS: "1" };

describe("main orders", () => {
  let pair;
  before(async () => { pair = await startAfterSalePair({ buildDir, ...FAST_RETRIES }); });
  after(async () => { await pair?.close(); });

  test("add: app/add/main/info with the after-sale query, CTime/MTime sent as Baidu's Ctime/Mtime, unknown fields kept", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const item = mainOrder("M-ADD-1", { FutureField: { kept: [1, 2] } });
    delete item.Ctime;
    delete item.Mtime;
    item.CTime = 1777100000;
    item.MTime = 1777100100;
    const r = await relay.post(ROUTES.add, body([item]));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, "delivered");
    const [call] = baidu.orderCenterCalls();
    assert.equal(call.path, ORDER_CENTER_PATHS.addMain);
    assert.deepEqual(call.queryKeys, ORDER_CENTER_QUERY);
    assert.equal(call.query.open_id, OPEN_ID);
    assert.equal(call.query.scene_id, String(SCENE_ID));
    assert.equal(call.query.scene_type, "2");
    assert.equal(call.query.pm_app_key, PAY_APP_KEY);
    const sent = call.json.Data[0];
    assert.equal(sent.Ctime, 1777100000);
    assert.equal(sent.Mtime, 1777100100);
    assert.ok(!("CTime" in sent) && !("MTime" in sent), JSON.stringify(sent));
    assert.equal(sent.BizAPPID, APP_KEY);
    assert.deepEqual(sent.FutureField, { kept: [1, 2] });
    assert.deepEqual(sent.EXT, item.EXT);
    assert.equal(baidu.order("M-ADD-1").main.Ctime, 1777100000, "Baidu kept the time");
  });

  test("update, status and logistics reach their paths and change the stored order", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    assert.equal((await relay.post(ROUTES.add, body([mainOrder("M-UPD-1")]))).status, 200);
    const update = { CateID: 2, ResourceID: "M-UPD-1", Status: 3, EXT: { MainOrder: { OrderDetail: { Status: 1, SwanSchema: "s" } } } };
    const u = await relay.post(ROUTES.update, body([update]));
    assert.equal(u.status, 200, u.text);
    const s = await relay.post(ROUTES.status, body([{ CateID: 2, ResourceID: "M-UPD-1", Status: 4 }]));
    assert.equal(s.status, 200, s.text);
    const express = { Code: "SF", ID: "SF1234567890", Name: "顺丰速运", Status: 0, Type: 1 };
    const l = await relay.post(ROUTES.logistics, body([{ CateID: 2, ResourceID: "M-UPD-1", EXT: { MainOrder: { Express: express } } }]));
    assert.equal(l.status, 200, l.text);
    assert.deepEqual(baidu.orderCenterCalls().map((c) => c.path), [
      ORDER_CENTER_PATHS.addMain, ORDER_CENTER_PATHS.updateMain, ORDER_CENTER_PATHS.statusMain, ORDER_CENTER_PATHS.logistics,
    ]);
    assert.equal(ORDER_CENTER_PATHS.logistics, "/rest/2.0/smartapp/ordercenter/app/add/main/logistics");
    const stored = baidu.order("M-UPD-1");
    assert.equal(stored.main.Status, 4);
    assert.deepEqual(stored.express, express);
    assert.deepEqual(stored.history, ["addMain", "updateMain", "statusMain", "logistics"]);
  });

  test('update of an order Baidu does not know → rows_affected "0" → 422 baidu_items_rejected naming it', async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const r = await relay.post(ROUTES.update, body([{ CateID: 2, ResourceID: "M-NEVER-IMPORTED", Status: 3, EXT: { MainOrder: {} } }]));
    assertError(r, 422, "baidu_items_rejected");
    assert.deepEqual(r.json.error.failedResourceIds, ["M-NEVER-IMPORTED"]);
    assert.equal(r.json.error.baidu.data[0].rows_affected, "0");
  });

  test("a Payment.Amount that breaks Baidu's formula → 422 amount_mismatch naming the term; nothing sent", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const item = mainOrder("M-AMT-1");
    item.EXT.MainOrder.Payment.Amount = 10300; // the coupon forgotten
    const r = await relay.post(ROUTES.add, body([item]));
    assertError(r, 422, "amount_mismatch");
    assert.equal(r.json.error.field, "data[0].EXT.MainOrder.Payment.Amount");
    assert.equal(r.json.error.expected, 9300);
    assert.equal(r.json.error.given, 10300);
    assert.deepEqual(r.json.error.terms, { products: 9800, paymentInfo: 500, preferentialInfo: 1000 });
    assert.match(r.json.error.message, /PreferentialInfo/);
    assert.equal(baidu.orderCenterCalls().length, 0);
  });

  test("validation names the field by its JSON path", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const item = mainOrder("M-VAL-1");
    delete item.EXT.MainOrder.Products[0].PayPrice;
    assertError(await relay.post(ROUTES.add, body([item])), 422, "missing_field", { field: "data[0].EXT.MainOrder.Products[0].PayPrice" });
    const conflicting = mainOrder("M-VAL-2", { CTime: 1 });
    assertError(await relay.post(ROUTES.add, body([conflicting])), 422, "invalid_field", { field: "data[0].Ctime" });
    assertError(await relay.post(ROUTES.add, body([mainOrder("A"), mainOrder("B")])), 422, "invalid_field", { field: "data" });
    const logistics = { CateID: 2, ResourceID: "M-VAL-3", EXT: { MainOrder: { Express: { Code: "SF", ID: 12, Name: "x", Status: 0, Type: 1 } } } };
    assertError(await relay.post(ROUTES.logistics, body([logistics])), 422, "invalid_field", { field: "data[0].EXT.MainOrder.Express.ID" });
    assert.equal(baidu.orderCenterCalls().length, 0);
  });

  test("add whose answer is lost after Baidu imported it → 502 outcome_unknown, delivery failed, never sent again", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    baidu.respondNextAt(ORDER_CENTER_PATHS.addMain, (call) => { baidu.processOrderCall(call); return "destroy"; });
    const r = await relay.post(ROUTES.add, body([mainOrder("M-LOST-1")]));
    assertError(r, 502, "outcome_unknown", { call: "add/main/info", cause: "upstream_unavailable" });
    assert.match(r.json.error.message, /\/v1\/orders\/update/);
    const delivery = await waitForStatus(relay, r.webhookId, "failed");
    assert.equal(delivery.lastError, "outcome_unknown");
    assert.deepEqual(delivery.steps, [{ pending: "add/main/info" }], "the mark stays on the delivery");
    assert.ok(baidu.order("M-LOST-1"), "Baidu did import it");
    // An operator's retry does not import it again either.
    const retry = await admin(relay, "POST", `/v1/deliveries/${encodeURIComponent(r.webhookId)}/retry`);
    assert.equal(retry.status, 202, retry.text);
    const again = await waitForStatus(relay, r.webhookId, "failed");
    assert.equal(again.lastError, "outcome_unknown");
    assert.equal(baidu.orderCenterCalls().filter((c) => c.path === ORDER_CENTER_PATHS.addMain).length, 1);
  });

  test("add refused transiently by Baidu (an answer, so nothing imported) is retried and delivered; the mark is gone", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    baidu.respondNextAt(ORDER_CENTER_PATHS.addMain, { errno: 5010002, msg: "网络错误，请稍后重试" });
    const r = await relay.post(ROUTES.add, body([mainOrder("M-BUSY-1")]));
    assert.equal(r.status, 202, r.text);
    const delivery = await waitForStatus(relay, r.webhookId, "delivered");
    assert.deepEqual(delivery.steps, []);
    assert.equal(baidu.orderCenterCalls().filter((c) => c.path === ORDER_CENTER_PATHS.addMain).length, 2);
    assert.ok(baidu.order("M-BUSY-1"));
    const row = await ledgerRow(relay, r.webhookId);
    assert.equal(row.attempts, 2);
  });
});

describe("ORDER_AMOUNT_CHECK=warn", () => {
  let pair;
  before(async () => { pair = await startAfterSalePair({ buildDir, ORDER_AMOUNT_CHECK: "warn" }); });
  after(async () => { await pair?.close(); });

  test("a mismatch is relayed with a logged warning (and Baidu's own refusal, rows_affected \"0\", comes back)", async () => {
    const { relay, baidu } = pair;
    const item = mainOrder("M-WARN-1");
    item.EXT.MainOrder.Payment.Amount = 8800; // shipping forgotten
    const r = await relay.post(ROUTES.add, body([item]));
    assertError(r, 422, "baidu_items_rejected");
    assert.equal(baidu.orderCenterCalls().length, 1);
    await relay.waitForLogs(() => relay.requestLogs().some((l) => l.webhookId === r.webhookId));
    const line = relay.requestLogs().find((l) => l.webhookId === r.webhookId);
    assert.match(line.warning, /PaymentInfo/);
    assert.match(line.warning, /9300/);
  });

  test("a bad setting makes the order routes misconfigured", async () => {
    const bad = await startAfterSalePair({ buildDir, ORDER_AMOUNT_CHECK: "maybe" });
    try {
      const r = await bad.relay.post(ROUTES.add, body([mainOrder()]));
      assertError(r, 500, "misconfigured");
      assert.ok(r.json.error.variables.includes("ORDER_AMOUNT_CHECK"), r.text);
    } finally {
      await bad.close();
    }
  });
});

describe("POST /v1/orders/sync: the main order, then its after-sale items, as two recorded steps", () => {
  let pair;
  before(async () => { pair = await startAfterSalePair({ buildDir, ...FAST_RETRIES }); pair.baidu.strictOrders(true); });
  after(async () => { await pair?.close(); });

  function syncOrder(resourceId) {
    const item = mainOrder(resourceId);
    item.EXT.SubsOrder = {
      Status: 401,
      Items: [{ SubOrderID: `${resourceId}-AS1`, SubStatus: 401, Ctime: 1777200000, MTime: 1777200100, OrderType: 1, Refund: { Amount: 4900, Product: [{ ID: "SKU-1", Quantity: 1, Amount: 4900 }] } }],
    };
    return item;
  }

  test("imports the main order (without SubsOrder), then appends the after-sale items (CTime/MTime); both steps recorded", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const r = await relay.post(SYNC, body([syncOrder("M-SYNC-1")]));
    assert.equal(r.status, 200, r.text);
    const calls = baidu.orderCenterCalls();
    assert.deepEqual(calls.map((c) => c.path), [ORDER_CENTER_PATHS.addMain, ORDER_CENTER_PATHS.append]);
    assert.ok(!("SubsOrder" in calls[0].json.Data[0].EXT), "the import carries no after-sale data");
    const appended = calls[1].json.Data[0];
    assert.deepEqual(Object.keys(appended).sort(), ["BizAPPID", "CateID", "EXT", "ResourceID"]);
    assert.equal(appended.EXT.SubsOrder.Items[0].CTime, 1777200000);
    assert.ok(!("Ctime" in appended.EXT.SubsOrder.Items[0]));
    assert.deepEqual(calls[1].queryKeys, ORDER_CENTER_QUERY);
    assert.equal(r.json.baidu.addMainInfo.data[0].rows_affected, "1");
    assert.equal(r.json.baidu.appendSubInfo.data[0].rows_affected, "1");
    assert.deepEqual(baidu.order("M-SYNC-1").subs.map((s) => s.SubOrderID), ["M-SYNC-1-AS1"]);
    const delivery = await admin(relay, "GET", `/v1/deliveries/${r.webhookId}`);
    assert.equal(delivery.json.steps.length, 1);
    assert.equal(delivery.json.steps[0].data[0].resource_id, "M-SYNC-1");
  });

  test("a fault between the steps: the append fails transiently, the retry sends only the append; the order is imported once", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    baidu.respondNextAt(ORDER_CENTER_PATHS.append, "http500");
    const r = await relay.post(SYNC, body([syncOrder("M-SYNC-2")]));
    assert.equal(r.status, 202, r.text);
    const queued = await ledgerRow(relay, r.webhookId);
    assert.equal(JSON.parse(queued.step_answers)[0].data[0].resource_id, "M-SYNC-2", "the import is recorded before the retry");
    const delivery = await waitForStatus(relay, r.webhookId, "delivered");
    assert.equal(delivery.attempts, 2);
    const paths = baidu.orderCenterCalls().map((c) => c.path);
    assert.deepEqual(paths, [ORDER_CENTER_PATHS.addMain, ORDER_CENTER_PATHS.append, ORDER_CENTER_PATHS.append]);
    assert.deepEqual(baidu.order("M-SYNC-2").history, ["addMain", "append"]);
    assert.deepEqual(baidu.order("M-SYNC-2").subs.map((s) => s.SubOrderID), ["M-SYNC-2-AS1"]);
  });

  test("the import's answer lost → failed outcome_unknown; the append is never sent", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    baidu.respondNextAt(ORDER_CENTER_PATHS.addMain, (call) => { baidu.processOrderCall(call); return "destroy"; });
    const r = await relay.post(SYNC, body([syncOrder("M-SYNC-3")]));
    assertError(r, 502, "outcome_unknown", { call: "add/main/info", cause: "upstream_unavailable" });
    const delivery = await waitForStatus(relay, r.webhookId, "failed");
    assert.deepEqual(delivery.steps, [{ pending: "add/main/info" }]);
    assert.deepEqual(baidu.orderCenterCalls().map((c) => c.path), [ORDER_CENTER_PATHS.addMain]);
  });

  test("the append's answer lost after Baidu took the items: the resend is refused as a duplicate, and the delivery ends outcome_unknown, never rejected", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    baidu.respondNextAt(ORDER_CENTER_PATHS.append, (call) => { baidu.processOrderCall(call); return "destroy"; });
    const r = await relay.post(SYNC, body([syncOrder("M-SYNC-5")]));
    assert.equal(r.status, 202, r.text);
    const delivery = await waitForStatus(relay, r.webhookId, "failed");
    assert.equal(delivery.lastError, "outcome_unknown");
    assert.equal(delivery.steps[0].data[0].resource_id, "M-SYNC-5", "the import's answer");
    assert.deepEqual(delivery.steps[1], { pending: "append/sub/info" }, "the mark stays on the delivery");
    assert.match(delivery.errorMeaning, /append/);
    assert.deepEqual(baidu.orderCenterCalls().map((c) => c.path), [ORDER_CENTER_PATHS.addMain, ORDER_CENTER_PATHS.append, ORDER_CENTER_PATHS.append]);
    assert.deepEqual(baidu.order("M-SYNC-5").subs.map((s) => s.SubOrderID), ["M-SYNC-5-AS1"], "Baidu holds the items once");
  });

  test("/v1/after-sale/append whose answer was lost: the same; one that Baidu never got is simply sent again", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    assert.equal((await relay.post(ROUTES.add, body([mainOrder("M-APPEND-1")]))).status, 200);
    const item = (sub) => ({ CateID: 2, ResourceID: "M-APPEND-1", EXT: { SubsOrder: { Status: 401, Items: [{ SubOrderID: sub, SubStatus: 401, CTime: 1777200000, MTime: 1777200000, OrderType: 1 }] } } });
    baidu.respondNextAt(ORDER_CENTER_PATHS.append, (call) => { baidu.processOrderCall(call); return "destroy"; });
    const lost = await relay.post("/v1/after-sale/append", body([item("AS-LOST")]));
    assert.equal(lost.status, 202, lost.text);
    const failed = await waitForStatus(relay, lost.webhookId, "failed");
    assert.equal(failed.lastError, "outcome_unknown");
    assert.deepEqual(failed.steps, [{ pending: "append/sub/info" }]);

    baidu.respondNextAt(ORDER_CENTER_PATHS.append, "destroy");
    const never = await relay.post("/v1/after-sale/append", body([item("AS-NEVER")]));
    assert.equal(never.status, 202, never.text);
    const delivered = await waitForStatus(relay, never.webhookId, "delivered");
    assert.deepEqual(delivered.steps, [], "the mark is taken back once Baidu answered");
    assert.deepEqual(baidu.order("M-APPEND-1").subs.map((s) => s.SubOrderID), ["AS-LOST", "AS-NEVER"]);
  });

  test("without EXT.SubsOrder → 422 missing_field data[0].EXT.SubsOrder; nothing sent", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    assertError(await relay.post(SYNC, body([mainOrder("M-SYNC-4")])), 422, "missing_field", { field: "data[0].EXT.SubsOrder" });
    assert.equal(baidu.orderCenterCalls().length, 0);
  });

  test("after-sale data for an order Baidu never imported is refused by the (strict) order center", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const item = { CateID: 2, ResourceID: "M-NOT-THERE", EXT: { SubsOrder: { Status: 401, Items: [{ SubOrderID: "x", SubStatus: 401, CTime: 1, MTime: 1, OrderType: 1 }] } } };
    const r = await relay.post("/v1/after-sale/append", body([item]));
    assertError(r, 422, "baidu_items_rejected");
    assert.deepEqual(r.json.error.failedResourceIds, ["M-NOT-THERE"]);
  });
});
