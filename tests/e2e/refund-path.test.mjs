// The refund path, black box: the real wasm in workerd with its D1 ledger and retry queue, a
// fake Baidu that verifies every cashier signature with Node's crypto, Baidu's callbacks signed
// with a platform key by Node's crypto, and a merchant events receiver that checks the Standard
// Webhooks signature of every event. Payment callback → event; tpOrderId addressing; refunds 1.0
// (full: cancel verification, then refund, as two recorded steps) and 2.0; the audit and result
// callbacks; payment signing against Baidu's published example.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  prepareBuild, startRelay, startFakeBaidu, bindingsFor, publicKeyOf, assertError, KEYS, PATHS,
  APP_KEY, APP_SECRET,
} from "../support/e2e.mjs";
import { ADMIN_TOKEN, waitForStatus, ledgerRow, startResultReceiver } from "../support/delivery.mjs";
import {
  CALLBACK_PATHS, platformKeyPair, callbackForm, paymentFields, postCallback,
} from "../../sandbox/baidu-callbacks.mjs";
import { CASHIER_REFUND_PATH, PAYMENT_SERVICE_REFUND_PATH, canonicalString } from "../../sandbox/fake-baidu.mjs";
import { callbackVector, vector } from "../support/vectors.mjs";
import { newSecret } from "../../sandbox/webhook.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const PAY_ACK = { errno: 0, msg: "success", data: { isConsumed: 2 } };
const RESULT_ACK = { errno: 0, msg: "success", data: {} };

async function waitFor(predicate, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

let buildDir;
before(async () => {
  buildDir = await prepareBuild();
});

/**
 * A fake Baidu, a merchant events receiver (scripted by `respond`), and a relay with the cashier
 * (1.0), the callbacks and fast retries. `platform` is Baidu's platform key pair.
 */
async function startRefundPath({ platform = platformKeyPair(), respond, overrides = {}, fake = {} } = {}) {
  const key = KEYS["1024 PKCS#1 PEM"];
  const baidu = await startFakeBaidu({ publicKey: publicKeyOf(key.name), openapi: { appKey: APP_KEY, appSecret: APP_SECRET }, ...fake });
  const eventsSecret = newSecret();
  const events = await startResultReceiver(eventsSecret, {}, { respond });
  const bindings = {
    ...bindingsFor({ baidu, key }),
    BAIDU_PLATFORM_PUBLIC_KEY: platform.publicKeyBase64,
    EVENTS_WEBHOOK_URL: events.url,
    EVENTS_WEBHOOK_SECRET: eventsSecret,
    BAIDU_OPENAPI_URL: baidu.url,
    ADMIN_TOKEN,
    MAX_ATTEMPTS: "4",
    RETRY_BASE_DELAY_SECONDS: "1",
    RETRY_MAX_DELAY_SECONDS: "1",
    ...overrides,
  };
  const relay = await startRelay({ bindings, buildDir, kvNamespaces: ["TOKEN_CACHE"] });
  return {
    baidu, events, relay, platform, key,
    async close() { await relay.close(); await events.close(); await baidu.close(); },
  };
}

const eventsOf = (events, type) => events.received.filter((e) => e.json?.type === type);
const cashierCalls = (baidu, path) => baidu.calls.filter((c) => c.path === path);

describe("the payment callback", () => {
  let t;
  before(async () => { t = await startRefundPath(); });
  after(() => t?.close());

  test("Baidu's real callback verifies with its platform key, is acknowledged, and reaches the merchant once as baidu.payment.succeeded", async () => {
    const relay = await startRelay({
      bindings: { ...bindingsFor({ baidu: t.baidu, key: t.key }), BAIDU_PLATFORM_PUBLIC_KEY: callbackVector.platform_public_key_spki_base64, EVENTS_WEBHOOK_URL: t.events.url, ADMIN_TOKEN },
      buildDir,
    });
    try {
      const body = new URLSearchParams(Object.entries(callbackVector.params)).toString();
      const first = await relay.request("POST", CALLBACK_PATHS.payment, { body, headers: { "content-type": "application/x-www-form-urlencoded" } });
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(first.json, PAY_ACK);
      await waitFor(() => eventsOf(t.events, "baidu.payment.succeeded").some((e) => e.json.data.orderId === "2645985458"), "the payment event");
      const again = await relay.request("POST", CALLBACK_PATHS.payment, { body, headers: { "content-type": "application/x-www-form-urlencoded" } });
      assert.deepEqual(again.json, PAY_ACK, "Baidu's repeat gets the same answer");
      await sleep(500);
      const received = eventsOf(t.events, "baidu.payment.succeeded").filter((e) => e.json.data.orderId === "2645985458");
      assert.equal(received.length, 1, "one event for Baidu's two callbacks");
      const [event] = received;
      assert.equal(event.id, "baidu-payment-2645985458");
      assert.equal(event.json.data.userId, "3269234686470", "ids are strings");
      assert.equal(event.json.data.totalMoney, 1, "amounts are integers in fen");
      assert.equal(event.json.data.tpOrderId, "18607895241");
      assert.equal(event.json.data.form.returnData, "", "the raw form rides along");
      assert.equal(event.json.data.form.rsaSign, undefined);
      assert.equal(event.json.signatureReading, "raw");
      // Signed with EVENTS_WEBHOOK_SECRET? This relay has none: WEBHOOK_SECRET signs.
      assert.equal(event.verifiesWith.length, 0);
      const delivered = await waitForStatus(relay, "baidu-payment-2645985458", "delivered");
      assert.equal(delivered.route, "/v1/baidu/payment");
    } finally {
      await relay.close();
    }
  });

  test("a forged or altered callback is refused (403) and reaches nobody; so does one with its empty values dropped", async () => {
    const forger = platformKeyPair();
    const fields = paymentFields({ orderId: "7100000001", tpOrderId: "T-forged" });
    const forged = await postCallback(t.relay, CALLBACK_PATHS.payment, fields, forger.privateKey);
    assertError(forged, 403, "callback_signature_invalid");
    const signed = callbackForm(fields, t.platform.privateKey);
    const altered = await postCallback(t.relay, CALLBACK_PATHS.payment, null, null, { body: signed.replace("totalMoney=9800", "totalMoney=1") });
    assertError(altered, 403, "callback_signature_invalid");
    const dropped = await postCallback(t.relay, CALLBACK_PATHS.payment, null, null, { body: signed.replace("promoDetail=&", "").replace("returnData=&", "") });
    assertError(dropped, 403, "callback_signature_invalid");
    const notForm = await postCallback(t.relay, CALLBACK_PATHS.payment, null, null, { body: "{}", contentType: "application/json" });
    assertError(notForm, 400, "invalid_callback");
    await sleep(300);
    assert.equal(t.events.received.filter((e) => e.json?.data?.orderId === "7100000001").length, 0);
    assert.equal(await ledgerRow(t.relay, "baidu-payment-7100000001"), null, "nothing recorded");
    assert.ok(t.relay.logs.some((l) => l.json?.alert === true), "the operator is alerted");
  });

  test("a callback signed over the URL-encoded values (Baidu's Go demo) is accepted too, and the log says which reading matched", async () => {
    const fields = paymentFields({ orderId: "7100000002", tpOrderId: "T-encoded", returnData: '{"coupon": "A B"}' });
    const encoded = canonicalString(Object.entries(fields).map(([k, v]) => [k, encodeURIComponent(v).replace(/%20/g, "+").replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)]));
    const r = await postCallback(t.relay, CALLBACK_PATHS.payment, fields, t.platform.privateKey, { canonical: encoded });
    assert.equal(r.status, 200, r.text);
    await waitFor(() => t.relay.logs.some((l) => l.json?.signatureReading === "url_encoded"), "a log line naming the encoded reading");
    await waitFor(() => eventsOf(t.events, "baidu.payment.succeeded").some((e) => e.json.data.orderId === "7100000002"), "the event");
    const event = eventsOf(t.events, "baidu.payment.succeeded").find((e) => e.json.data.orderId === "7100000002");
    assert.equal(event.json.data.returnData, '{"coupon": "A B"}');
    assert.equal(event.json.signatureReading, "url_encoded");
    assert.ok(event.valid, "events verify with EVENTS_WEBHOOK_SECRET");
  });
});

describe("when the merchant's endpoint hangs or fails", () => {
  let t;
  let hang = true;
  before(async () => {
    t = await startRefundPath({ respond: (e) => (hang && e.json?.type === "baidu.payment.succeeded" ? "hang" : e.json?.type === "baidu.refund.audit" ? "hang" : undefined) });
  });
  after(() => t?.close());

  test("the payment callback is still answered at once, and the event is retried until the merchant takes it", async () => {
    const fields = paymentFields({ orderId: "7200000001", tpOrderId: "T-hang" });
    const started = Date.now();
    const r = await postCallback(t.relay, CALLBACK_PATHS.payment, fields, t.platform.privateKey);
    const took = Date.now() - started;
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, PAY_ACK);
    assert.ok(took < 2000, `answered in ${took} ms, within Baidu's 2 s`);
    hang = false;
    const delivered = await waitForStatus(t.relay, "baidu-payment-7200000001", "delivered", { ms: 40_000 });
    assert.ok(delivered.attempts >= 2, `retried: ${delivered.attempts} attempts`);
    assert.ok(eventsOf(t.events, "baidu.payment.succeeded").every((e) => e.valid));
  });

  test("a refund audit the relay did not request is asked of the merchant, and answered auditStatus 3 when the merchant does not answer in time", async () => {
    const fields = { orderId: "7200000002", userId: "3269234686470", tpOrderId: "T-audit", refundBatchId: "55501", applyRefundMoney: "100" };
    const started = Date.now();
    const r = await postCallback(t.relay, CALLBACK_PATHS.refundAudit, fields, t.platform.privateKey);
    const took = Date.now() - started;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.errno, 0);
    assert.equal(r.json.data.auditStatus, 3);
    assert.ok(took < 2000, `answered in ${took} ms`);
    assert.equal(eventsOf(t.events, "baidu.refund.audit").length, 1, "the merchant was asked");
  });
});

describe("orders by tpOrderId, refunds and their callbacks (payment 1.0)", () => {
  let t;
  let auditAnswer = { auditStatus: 2 };
  before(async () => {
    t = await startRefundPath({ respond: (e) => (e.json?.type === "baidu.refund.audit" ? { status: 200, json: auditAnswer } : undefined) });
  });
  after(() => t?.close());

  async function pay(orderId, tpOrderId, totalMoney = 9800) {
    const r = await postCallback(t.relay, CALLBACK_PATHS.payment, paymentFields({ orderId, tpOrderId, totalMoney }), t.platform.privateKey);
    assert.equal(r.status, 200, r.text);
  }

  test("cancel verification by tpOrderId alone uses the ids of the payment callback; an unknown tpOrderId is order_unknown", async () => {
    await pay("7300000001", "T-cv");
    const r = await t.relay.post("/v1/cancel-verification", { tpOrderId: "T-cv" });
    assert.equal(r.status, 200, r.text);
    const call = cashierCalls(t.baidu, PATHS.etrade).at(-1);
    assert.equal(call.params.orderId, "7300000001");
    assert.equal(call.params.userId, "3269234686470");
    assert.ok(call.signatureValid, "verified by Node's crypto");
    const unknown = await t.relay.post("/v1/cancel-verification", { tpOrderId: "T-never-paid" });
    assertError(unknown, 422, "order_unknown", { field: "tpOrderId" });
  });

  test("a full 1.0 refund cancels the verification first, then refunds, each call signed; the audit is approved and the result reaches the merchant once", async () => {
    await pay("7300000002", "T-full", 9800);
    const before = cashierCalls(t.baidu, PATHS.etrade).length;
    const r = await t.relay.post("/v1/refund", { tpOrderId: "T-full", refundReason: "用户申请退款" });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, "delivered");
    const cancels = cashierCalls(t.baidu, PATHS.etrade).slice(before).filter((c) => c.params.orderId === "7300000002");
    assert.equal(cancels.length, 1, "one cancel verification");
    const refunds = cashierCalls(t.baidu, CASHIER_REFUND_PATH).filter((c) => c.params.orderId === "7300000002");
    assert.equal(refunds.length, 1);
    const [refund] = refunds;
    assert.ok(refund.signatureValid, "the refund's rsaSign verifies with Node's crypto");
    assert.ok(refund.seq > cancels[0].seq, "cancel first, then refund");
    assert.equal(refund.params.refundReason, "用户申请退款", "signed raw, sent form-encoded");
    assert.equal(refund.params.applyRefundMoney, undefined, "a full refund carries no amount");
    assert.equal(refund.params.bizRefundBatchId, r.json.baidu.bizRefundBatchId);
    const refundBatchId = r.json.baidu.refundBatchId;
    assert.ok(refundBatchId);
    const view = await waitForStatus(t.relay, r.webhookId, "delivered");
    assert.equal(view.steps.length, 1, "the cancel step is recorded");

    const audit = await postCallback(t.relay, CALLBACK_PATHS.refundAudit, { orderId: "7300000002", userId: "3269234686470", tpOrderId: "T-full", refundBatchId }, t.platform.privateKey);
    assert.deepEqual(audit.json, { errno: 0, msg: "success", data: { auditStatus: 1, calculateRes: { refundPayMoney: 9800 } } });
    assert.equal(eventsOf(t.events, "baidu.refund.audit").filter((e) => e.json.data.refundBatchId === refundBatchId).length, 0, "the relay's own refund is not asked of the merchant");

    const resultFields = { orderId: "7300000002", userId: "3269234686470", tpOrderId: "T-full", refundBatchId, refundStatus: "1" };
    for (let i = 0; i < 2; i++) {
      const result = await postCallback(t.relay, CALLBACK_PATHS.refundResult, resultFields, t.platform.privateKey);
      assert.equal(result.status, 200, result.text);
      assert.deepEqual(result.json, RESULT_ACK);
    }
    await waitFor(() => eventsOf(t.events, "baidu.refund.succeeded").some((e) => e.json.data.refundBatchId === refundBatchId), "the refund event");
    await sleep(500);
    const succeeded = eventsOf(t.events, "baidu.refund.succeeded").filter((e) => e.json.data.refundBatchId === refundBatchId);
    assert.equal(succeeded.length, 1, "one event for Baidu's two callbacks");
    assert.ok(succeeded[0].valid);
  });

  test("a partial refund leaves the order verified: no cancel, the amount sent, the audit approved for that amount", async () => {
    await pay("7300000003", "T-partial", 9800);
    const r = await t.relay.post("/v1/refund", { tpOrderId: "T-partial", refundReason: "部分退款", applyRefundMoney: 1200 });
    assert.equal(r.status, 200, r.text);
    assert.equal(cashierCalls(t.baidu, PATHS.etrade).filter((c) => c.params.orderId === "7300000003").length, 0, "no cancel verification");
    const [refund] = cashierCalls(t.baidu, CASHIER_REFUND_PATH).filter((c) => c.params.orderId === "7300000003");
    assert.equal(refund.params.applyRefundMoney, "1200");
    // Baidu's audit may name only the order and the amount (before the refund's answer).
    const audit = await postCallback(t.relay, CALLBACK_PATHS.refundAudit, { orderId: "7300000003", userId: "3269234686470", tpOrderId: "T-partial", refundBatchId: "999999", applyRefundMoney: "1200" }, t.platform.privateKey);
    assert.deepEqual(audit.json.data, { auditStatus: 1, calculateRes: { refundPayMoney: 1200 } });
  });

  test("a fault between the two steps: the refund is retried on its own, the verification is not cancelled twice, and one refund id is used", async () => {
    await pay("7300000004", "T-fault", 5000);
    t.baidu.respondNextAt(CASHIER_REFUND_PATH, "http500");
    const r = await t.relay.post("/v1/refund", { tpOrderId: "T-fault", refundReason: "retry me" });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.status, "queued");
    const view = await waitForStatus(t.relay, r.webhookId, "delivered", { ms: 30_000 });
    assert.equal(view.steps.length, 1);
    assert.equal(cashierCalls(t.baidu, PATHS.etrade).filter((c) => c.params.orderId === "7300000004").length, 1, "one cancel verification");
    const refunds = cashierCalls(t.baidu, CASHIER_REFUND_PATH).filter((c) => c.params.orderId === "7300000004");
    assert.equal(refunds.length, 2);
    assert.equal(new Set(refunds.map((c) => c.params.bizRefundBatchId)).size, 1, "the same bizRefundBatchId both times");
  });

  test("an audit of a refund the relay did not request is the merchant's decision", async () => {
    auditAnswer = { auditStatus: 2 };
    const refused = await postCallback(t.relay, CALLBACK_PATHS.refundAudit, { orderId: "7300000099", userId: "1", tpOrderId: "T-other", refundBatchId: "77701" }, t.platform.privateKey);
    assert.equal(refused.json.data.auditStatus, 2);
    auditAnswer = { auditStatus: 1, refundPayMoney: 300 };
    const approved = await postCallback(t.relay, CALLBACK_PATHS.refundAudit, { orderId: "7300000099", userId: "1", tpOrderId: "T-other", refundBatchId: "77702" }, t.platform.privateKey);
    assert.deepEqual(approved.json.data, { auditStatus: 1, calculateRes: { refundPayMoney: 300 } });
    const asked = eventsOf(t.events, "baidu.refund.audit").filter((e) => e.json.data.orderId === "7300000099");
    assert.equal(asked.length, 2);
    assert.ok(asked.every((e) => e.valid));
  });

  test("a failed refund's result reaches the merchant as baidu.refund.failed", async () => {
    const fields = { orderId: "7300000005", userId: "", tpOrderId: "", refundBatchId: "88801", refundStatus: "2" };
    const r = await postCallback(t.relay, CALLBACK_PATHS.refundResult, fields, t.platform.privateKey);
    assert.deepEqual(r.json, RESULT_ACK);
    await waitFor(() => eventsOf(t.events, "baidu.refund.failed").some((e) => e.json.data.refundBatchId === "88801"), "the failed event");
    const event = eventsOf(t.events, "baidu.refund.failed").find((e) => e.json.data.refundBatchId === "88801");
    assert.equal(event.json.data.userId, null, "empty values signed, reported as null");
  });

  test("payment signing reproduces Baidu's published example byte for byte", async () => {
    const example = vector("baidu-doc-example");
    const r = await t.relay.post("/v1/payments/sign", { dealId: example.params.dealId, totalAmount: Number(example.params.totalAmount), tpOrderId: example.params.tpOrderId, dealTitle: "百度小程序Demo支付" });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.rsaSign, example.rsaSign);
    assert.deepEqual(r.json.orderInfo, {
      appKey: "MMMabc", dealId: "470193086", totalAmount: "11300", tpOrderId: "3028903626", dealTitle: "百度小程序Demo支付",
      signFieldsRange: "1", rsaSign: example.rsaSign,
    });
  });
});

describe("refunds on payment 2.0", () => {
  let t;
  before(async () => {
    t = await startRefundPath({
      overrides: { BAIDU_PAYMENT_VERSION: "2", BAIDU_APP_KEY: APP_KEY, BAIDU_APP_SECRET: APP_SECRET },
    });
  });
  after(() => t?.close());

  test("a full refund needs no cancel: the access token in the query, the rest in the form, isSkipAudit=1 and the paid amount", async () => {
    const pay = await postCallback(t.relay, CALLBACK_PATHS.payment, paymentFields({ orderId: "7400000001", tpOrderId: "T-v2", totalMoney: 4200 }), t.platform.privateKey);
    assert.equal(pay.status, 200);
    const r = await t.relay.post("/v1/refund", { tpOrderId: "T-v2", refundReason: "2.0" });
    assert.equal(r.status, 200, r.text);
    assert.equal(typeof r.json.baidu.refundBatchId, "string", "Baidu's number is reported as a string");
    assert.equal(cashierCalls(t.baidu, PATHS.etrade).length, 0, "no cancel verification on 2.0");
    const [call] = t.baidu.calls.filter((c) => c.path === PAYMENT_SERVICE_REFUND_PATH);
    assert.ok(call.valid, call.invalidReason);
    assert.deepEqual(Object.keys(call.query), ["access_token"]);
    assert.equal(call.params.isSkipAudit, "1");
    assert.equal(call.params.applyRefundMoney, "4200");
    assert.equal(call.params.orderId, "7400000001");
    assert.equal(call.params.rsaSign, undefined);
  });
});
