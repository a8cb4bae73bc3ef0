// How deliveries end, black box: the real wasm in workerd, its D1 ledger and retry queue in
// Miniflare, a fake Baidu scripted per call. A queued retry refused for good (and its result
// webhook), order-center answers that claim success without proof, missing delivery bindings,
// a key broken (and fixed) while a retry waits, and a key the configuration accepts but
// WebCrypto refuses (internal_error).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createPrivateKey } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  prepareBuild, startPair, startAfterSalePair, startRelay, startFakeBaidu, bindingsFor, publicKeyOf, assertError,
  refundItem, KEYS, ROUTE, APP_KEY, APP_SECRET, OPEN_ID, SCENE_ID, AFTER_SALE_ROUTES, healthFeatures,
} from "../support/e2e.mjs";
import { signature } from "../../sandbox/webhook.mjs";
import { ADMIN_TOKEN, admin, waitForStatus, ledgerRow as row, waitForRow, startResultReceiver } from "../support/delivery.mjs";
import { loadSpec, deref, responseChecker } from "../support/openapi.mjs";
import { keyPem } from "../support/vectors.mjs";

const FAST_RETRIES = { MAX_ATTEMPTS: "3", RETRY_BASE_DELAY_SECONDS: "0", RETRY_MAX_DELAY_SECONDS: "0", ADMIN_TOKEN };
const SECRET = "whsec_" + Buffer.alloc(32, 9).toString("base64");
const ORDER_NOT_FOUND = { errno: 10002, msg: "order not exist" };

let buildDir;
const tempDirs = [];
before(async () => {
  buildDir = await prepareBuild();
});
after(() => { for (const d of tempDirs) rmSync(d, { recursive: true, force: true }); });

let orderSeq = 3_700_000_000;
const nextOrder = () => ({ orderId: ++orderSeq, userId: 4188819900 });
const callsFor = (baidu, orderId) => baidu.calls.filter((c) => c.params?.orderId === String(orderId));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(predicate, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

function tempDir() {
  const d = mkdtempSync(path.join(os.tmpdir(), "relay-d1-"));
  tempDirs.push(d);
  return d;
}

/**
 * Checks a result webhook against openapi.yaml's `webhooks: delivery.finished`: the body against
 * `DeliveryFinished`, the headers against its header parameters. responseChecker checks answers
 * of operations, so the event is checked as the answer of a stand-in operation built from the
 * webhook's own request definition. Returns (event) => problems ([] = valid).
 */
function resultWebhookChecker() {
  const spec = loadSpec();
  const event = spec.webhooks["delivery.finished"].post;
  const headers = Object.fromEntries(event.parameters.map((p) => deref(spec, p)).filter((p) => p.in === "header").map((p) => [p.name, p]));
  const check = responseChecker({
    ...spec,
    paths: { "/delivery.finished": { post: { responses: { 200: { description: "the event", headers, content: event.requestBody.content } } } } },
  });
  return ({ headers: h, text }) => check({ method: "POST", path: "/delivery.finished", status: 200, headers: h, text });
}

describe("a queued delivery refused for good on its retry", () => {
  let pair;
  let results;
  let checkEvent;
  before(async () => {
    checkEvent = resultWebhookChecker();
    results = await startResultReceiver(SECRET);
    pair = await startPair({ buildDir, key: KEYS["2048 PKCS#8 PEM"], secret: SECRET, RESULT_WEBHOOK_URL: results.url, ...FAST_RETRIES });
  });
  after(async () => {
    await pair?.close();
    await results?.close();
  });

  test("the result-webhook check is not vacuous", () => {
    const good = {
      headers: { "content-type": "application/json", "webhook-id": `evt_${"0".repeat(24)}`, "webhook-timestamp": "1777100000", "webhook-signature": "v1,AAAA" },
      text: JSON.stringify({ type: "delivery.finished", id: "msg_1", route: ROUTE, status: "rejected", attempts: 2, answer: { status: 422, body: {} } }),
    };
    assert.deepEqual(checkEvent(good), []);
    assert.notDeepEqual(checkEvent({ ...good, text: good.text.replace('"rejected"', '"queued"') }), []);
    assert.notDeepEqual(checkEvent({ ...good, text: good.text.replace('"attempts":2', '"attempts":2,"extra":1') }), []);
    assert.notDeepEqual(checkEvent({ ...good, headers: { ...good.headers, "webhook-id": "msg_1" } }), []);
  });

  for (const [what, transient, lastError] of [
    ["HTTP 503", { status: 503, body: "Service Unavailable" }, "upstream_unavailable"],
    ["errno 10003 系统内部错误，请稍后重试", { errno: 10003, msg: "系统内部错误，请稍后重试" }, "baidu_internal_error"],
  ]) {
    test(`first ${what}, then errno 10002: rejected after 2 attempts, one signed result webhook`, async () => {
      const order = nextOrder();
      let n = 0;
      pair.baidu.respondForOrder(String(order.orderId), () => (++n === 1 ? transient : ORDER_NOT_FOUND));
      const r = await pair.relay.post(ROUTE, order);
      assert.equal(r.status, 202, r.text);
      assert.deepEqual({ id: r.json.id, status: r.json.status, attempts: r.json.attempts, lastError: r.json.lastError },
        { id: r.webhookId, status: "queued", attempts: 1, lastError });

      const done = await waitForStatus(pair.relay, r.webhookId, "rejected");
      assert.equal(done.attempts, 2);
      assert.equal(done.lastError, "baidu_order_not_found");
      assert.equal(done.nextAttemptAt, null);
      assert.equal(done.answer.status, 422);
      assert.equal(done.answer.body.error.code, "baidu_order_not_found");
      assert.equal(done.answer.body.error.baiduErrno, 10002);
      assert.equal(done.answer.body.error.baiduMsg, "order not exist");
      assert.deepEqual({ errno: done.baidu?.errno, msg: done.baidu?.msg }, ORDER_NOT_FOUND);
      const calls = callsFor(pair.baidu, order.orderId);
      assert.equal(calls.length, 2);
      assert.ok(calls.every((c) => c.valid && c.signatureValid), "every attempt is signed");

      await waitFor(() => results.received.some((e) => e.json?.id === r.webhookId), "the result webhook");
      await sleep(1_500);
      const events = results.received.filter((e) => e.json?.id === r.webhookId);
      assert.equal(events.length, 1, "exactly one result webhook");
      const [event] = events;
      assert.equal(event.method, "POST");
      assert.equal(event.path, "/results");
      assert.equal(event.valid, true, "the result webhook's signature verifies with WEBHOOK_SECRET");
      assert.match(event.id, /^evt_[0-9a-f]{24}$/);
      assert.ok(Math.abs(Number(event.timestamp) - Date.now() / 1000) < 60, `webhook-timestamp ${event.timestamp}`);
      assert.deepEqual(checkEvent(event), [], "the event matches webhooks.delivery.finished in openapi.yaml");
      assert.deepEqual(event.json, {
        type: "delivery.finished", id: r.webhookId, route: ROUTE, status: "rejected", attempts: 2,
        answer: { status: 422, body: done.answer.body },
      });

      // Final: never retried, and a duplicate gets the stored refusal without a call.
      const again = await pair.relay.post(ROUTE, order, { id: r.webhookId });
      assertError(again, 422, "baidu_order_not_found", { baiduErrno: 10002 });
      assert.equal(again.headers.get("idempotent-replayed"), "true");
      assert.equal(callsFor(pair.baidu, order.orderId).length, 2);
      assert.equal((await row(pair.relay, r.webhookId)).status, "rejected");
    });
  }
});

describe("the ledger keeps what Baidu said", () => {
  let pair;
  before(async () => {
    pair = await startPair({ buildDir, ...FAST_RETRIES });
  });
  after(async () => pair?.close());

  test("a refusal is kept as its errno and msg (GET /v1/deliveries/{id} `baidu`), the rest of the answer is not stored", async () => {
    const order = nextOrder();
    pair.baidu.respondForOrder(String(order.orderId), { errno: 10002, msg: "order not exist", data: [] });
    const r = await pair.relay.post(ROUTE, order);
    assertError(r, 422, "baidu_order_not_found");
    const done = await waitForStatus(pair.relay, r.webhookId, "rejected");
    assert.equal(JSON.parse(pair.baidu.calls.at(-1).answer.body).data.length, 0);
    assert.deepEqual(done.baidu, { errno: 10002, msg: "order not exist" });
  });
});

describe("order-center answers that claim success without proof", () => {
  let pair;
  before(async () => {
    pair = await startAfterSalePair({ buildDir, ...FAST_RETRIES });
  });
  after(async () => pair?.close());

  const callsCarrying = (id) => pair.baidu.orderCenterCalls().filter((c) => c.json?.Data?.some((item) => item.ResourceID === id));
  const post = (ids) => pair.relay.post(AFTER_SALE_ROUTES.update, { openId: OPEN_ID, sceneId: SCENE_ID, data: ids.map((id) => refundItem(id)) });

  for (const [what, answer] of [
    ["no data at all", { json: { errno: 0, msg: "success" } }],
    ["data: {}", { json: { errno: 0, msg: "success", data: {} } }],
  ]) {
    test(`errno 0 with ${what}: an unknown outcome, queued and retried, then delivered`, async () => {
      const ids = [`M-UNPROVEN-${orderSeq}-1`, `M-UNPROVEN-${orderSeq++}-2`];
      pair.baidu.respondForResource(ids[0], answer, { times: 1 });
      const r = await post(ids);
      assert.equal(r.status, 202, r.text);
      assert.deepEqual({ status: r.json.status, attempts: r.json.attempts, lastError: r.json.lastError },
        { status: "queued", attempts: 1, lastError: "upstream_unavailable" });
      const done = await waitForStatus(pair.relay, r.webhookId, "delivered");
      assert.equal(done.attempts, 2);
      assert.equal(done.answer.status, 200);
      assert.deepEqual(done.baidu.data.map((e) => [e.resource_id, e.rows_affected]), ids.map((id) => [id, "1"]));
      assert.equal(callsCarrying(ids[0]).length, 2);
      assert.ok(callsCarrying(ids[0]).every((c) => c.valid), "both calls were ones Baidu accepts");
    });
  }

  test("errno 0 with an empty data list: 422 baidu_items_rejected naming every item, never retried", async () => {
    const ids = [`M-EMPTY-${orderSeq}-1`, `M-EMPTY-${orderSeq++}-2`];
    const answer = { errno: 0, msg: "success", data: [] };
    pair.baidu.respondForResource(ids[0], answer);
    const r = await post(ids);
    assertError(r, 422, "baidu_items_rejected", { failedResourceIds: ids, baidu: answer });
    const done = await waitForStatus(pair.relay, r.webhookId, "rejected");
    assert.equal(done.attempts, 1);
    assert.equal(done.lastError, "baidu_items_rejected");
    assert.deepEqual(done.answer, { status: 422, body: r.json });
    await sleep(1_500);
    assert.equal(callsCarrying(ids[0]).length, 1);
  });

  test("errno 0 with fewer entries than items: 422 baidu_items_rejected naming exactly the missing ones", async () => {
    const ids = [`M-SHORT-${orderSeq}-1`, `M-SHORT-${orderSeq}-2`, `M-SHORT-${orderSeq++}-3`];
    // Baidu answers for the second item only.
    const answer = { errno: 0, msg: "success", data: [{ biz_app_id: APP_KEY, cate_id: 2, resource_id: ids[1], rows_affected: "1" }] };
    pair.baidu.respondForResource(ids[0], answer);
    const r = await post(ids);
    assertError(r, 422, "baidu_items_rejected", { failedResourceIds: [ids[0], ids[2]], baidu: answer });
    const done = await waitForStatus(pair.relay, r.webhookId, "rejected");
    assert.equal(done.attempts, 1);
    assert.deepEqual(done.answer.body.error.failedResourceIds, [ids[0], ids[2]]);
    assert.deepEqual(done.baidu, answer);
    await sleep(1_500);
    assert.equal(callsCarrying(ids[0]).length, 1);
  });

  test("with retries off, an answer without data is 502 upstream_unavailable (invalid_answer), failed, not rejected", async () => {
    const single = await startAfterSalePair({ buildDir, ADMIN_TOKEN, MAX_ATTEMPTS: "1" });
    try {
      for (const answer of [{ json: { errno: 0, msg: "success" } }, { json: { errno: 0, msg: "success", data: {} } }]) {
        const id = `M-NORETRY-${orderSeq++}`;
        single.baidu.respondForResource(id, answer);
        const r = await single.relay.post(AFTER_SALE_ROUTES.update, { openId: OPEN_ID, sceneId: SCENE_ID, data: [refundItem(id)] });
        assertError(r, 502, "upstream_unavailable", { reason: "invalid_answer", upstreamStatus: 200 });
        const done = await waitForStatus(single.relay, r.webhookId, "failed");
        assert.equal(done.lastError, "upstream_unavailable");
        assert.equal(done.attempts, 1);
      }
    } finally {
      await single.close();
    }
  });
});

describe("a missing delivery binding", () => {
  for (const binding of ["LEDGER", "RETRIES"]) {
    test(`without ${binding}: /healthz 503 names it, webhooks answer 500 misconfigured, Baidu sees nothing`, async () => {
      const key = KEYS["1024 PKCS#1 PEM"];
      const baidu = await startFakeBaidu({ publicKey: publicKeyOf(key.name), openapi: { appKey: APP_KEY, appSecret: APP_SECRET } });
      let relay;
      try {
        // Both features configured: every webhook route needs the binding.
        relay = await startRelay({
          buildDir,
          omitBindings: [binding],
          bindings: bindingsFor({ baidu, key, ...FAST_RETRIES, BAIDU_APP_KEY: APP_KEY, BAIDU_APP_SECRET: APP_SECRET, BAIDU_OPENAPI_URL: baidu.url }),
        });
        const health = await relay.get("/healthz");
        assert.equal(health.status, 503, health.text);
        assert.equal(health.json.status, "misconfigured");
        assert.deepEqual(health.json.problems.map((p) => p.variable), [binding]);
        assert.match(health.json.problems[0].message, new RegExp(binding));
        assert.deepEqual(health.json.features, healthFeatures({ cancelVerification: "ok", afterSale: "ok" }));

        const cancel = await relay.post(ROUTE, nextOrder());
        assertError(cancel, 500, "misconfigured", { variables: [binding] });
        const afterSale = await relay.post(AFTER_SALE_ROUTES.update, { openId: OPEN_ID, sceneId: SCENE_ID, data: [refundItem()] });
        assertError(afterSale, 500, "misconfigured", { variables: [binding] });
        await sleep(500);
        assert.equal(baidu.calls.length, 0, `Baidu saw ${baidu.calls.map((c) => c.path).join(", ")}`);
        if (binding !== "LEDGER") {
          // Nothing was accepted: no ledger row.
          const db = await relay.mf.getD1Database("LEDGER");
          assert.equal((await db.prepare("SELECT COUNT(*) AS n FROM deliveries").first()).n, 0);
        }
      } finally {
        await relay?.close();
        await baidu.close();
      }
    });
  }
});

/** Moves a queued row's retry to now, as the passing of its delay would (the message is sent by hand). */
async function fallDue(relay, id) {
  const db = await relay.mf.getD1Database("LEDGER");
  await db.prepare("UPDATE deliveries SET next_attempt_at = ?2 WHERE webhook_id = ?1 AND status = 'queued'").bind(id, Date.now()).run();
}

describe("a key broken while a retry is queued", () => {
  test("the retry waits (queued, misconfigured, no attempt used) and is delivered once the key is fixed", async () => {
    const key = KEYS["1024 PKCS#1 PEM"];
    const baidu = await startFakeBaidu({ publicKey: publicKeyOf(key.name) });
    const d1Persist = tempDir();
    // Two attempts in all; the retry is long enough off that the first relay is gone before it runs.
    const settings = { ...FAST_RETRIES, MAX_ATTEMPTS: "2", RETRY_BASE_DELAY_SECONDS: "600", RETRY_MAX_DELAY_SECONDS: "600" };
    const goodBindings = bindingsFor({ baidu, key, secret: SECRET, ...settings });
    // A rotation gone wrong: the key pasted with half its body missing.
    const lines = key.privateKey.trim().split("\n");
    const brokenKey = [...lines.slice(0, Math.floor(lines.length / 2)), lines[lines.length - 1]].join("\n");
    const order = nextOrder();
    let relay;
    try {
      // 1. The first attempt fails transiently: queued.
      relay = await startRelay({ buildDir, d1Persist, bindings: goodBindings });
      baidu.respondForOrder(String(order.orderId), { status: 503, body: "Service Unavailable" }, { times: 1 });
      const r = await relay.post(ROUTE, order);
      assert.equal(r.status, 202, r.text);
      assert.equal(r.json.status, "queued");
      const queued = await row(relay, r.webhookId);
      assert.deepEqual({ status: queued.status, attempts: queued.attempts, lease: queued.lease }, { status: "queued", attempts: 1, lease: 1 });
      await relay.close();
      relay = undefined;

      // 2. The relay comes back, on the same ledger, with the broken key; the retry's message arrives.
      relay = await startRelay({ buildDir, d1Persist, bindings: { ...goodBindings, BAIDU_RSA_PRIVATE_KEY: brokenKey } });
      const health = await relay.get("/healthz");
      assert.equal(health.status, 503);
      assert.ok(health.json.problems.some((p) => p.variable === "BAIDU_RSA_PRIVATE_KEY"), health.text);
      assertError(await relay.post(ROUTE, nextOrder()), 500, "misconfigured", { variables: ["BAIDU_RSA_PRIVATE_KEY"] });
      const retries = await relay.mf.getQueueProducer("RETRIES");
      let lease = queued.lease;
      // A message ahead of its row's due time changes nothing: it waits for the retry's time.
      await retries.send({ id: r.webhookId, lease });
      await sleep(1_500);
      const early = await row(relay, r.webhookId);
      assert.deepEqual({ status: early.status, lease: early.lease, attempts: early.attempts, next: early.next_attempt_at },
        { status: "queued", lease, attempts: 1, next: queued.next_attempt_at }, "an early message claims nothing");
      // More times than MAX_ATTEMPTS: waiting uses up no attempt, and never rejects.
      for (let i = 0; i < 3; i++) {
        const before = Date.now();
        await fallDue(relay, r.webhookId);
        await retries.send({ id: r.webhookId, lease });
        const waiting = await waitForRow(relay, r.webhookId, (x) => x.lease === lease + 1, `claimed under lease ${lease + 1}`);
        assert.deepEqual({ status: waiting.status, attempts: waiting.attempts, lastError: waiting.last_error },
          { status: "queued", attempts: 1, lastError: "misconfigured" }, `deferral ${i + 1}`);
        assert.ok(waiting.next_attempt_at >= before + 299_000 && waiting.next_attempt_at <= Date.now() + 301_000,
          `next attempt in about 300 s, is ${waiting.next_attempt_at - before} ms`);
        assert.equal(waiting.answer_status, null);
        lease = waiting.lease;
      }
      const shown = await admin(relay, "GET", `/v1/deliveries/${r.webhookId}`);
      assert.equal(shown.status, 200, shown.text);
      assert.deepEqual({ status: shown.json.status, attempts: shown.json.attempts, lastError: shown.json.lastError, answer: shown.json.answer },
        { status: "queued", attempts: 1, lastError: "misconfigured", answer: null });
      assert.equal(callsFor(baidu, order.orderId).length, 1, "Baidu saw nothing while the key was broken");
      assert.equal(baidu.calls.length, 1);
      await relay.close();
      relay = undefined;

      // 3. The key is fixed: the waiting retry is delivered, with one more call.
      relay = await startRelay({ buildDir, d1Persist, bindings: goodBindings });
      assert.equal((await relay.get("/healthz")).status, 200);
      await fallDue(relay, r.webhookId);
      await (await relay.mf.getQueueProducer("RETRIES")).send({ id: r.webhookId, lease });
      const done = await waitForStatus(relay, r.webhookId, "delivered");
      assert.equal(done.attempts, 2);
      assert.equal(done.answer.status, 200);
      assert.deepEqual(done.baidu, { errno: 0, msg: "success", data: [] });
      await sleep(500);
      const calls = callsFor(baidu, order.orderId);
      assert.equal(calls.length, 2, "exactly one call after the fix");
      assert.ok(calls[1].valid && calls[1].signatureValid);
    } finally {
      await relay?.close();
      await baidu.close();
    }
  });
});

/**
 * The 1024-bit test key with its CRT coefficient `qi` (q^-1 mod p) off by one bit. The relay's
 * configuration checks the structure and n = p·q, which still hold; WebCrypto (BoringSSL)
 * checks the CRT values on import and refuses the key. Node's OpenSSL does not check on import,
 * so the key is written from a JWK.
 */
function keyWithBadCrtCoefficient() {
  const jwk = createPrivateKey(keyPem("baidu-doc-sample-1024", "pkcs1")).export({ format: "jwk" });
  const qi = Buffer.from(jwk.qi, "base64url");
  qi[qi.length - 1] ^= 0x01;
  return createPrivateKey({ key: { ...jwk, qi: qi.toString("base64url") }, format: "jwk" }).export({ type: "pkcs1", format: "pem" });
}

describe("a key the configuration accepts but WebCrypto refuses", () => {
  const key = { ...KEYS["1024 PKCS#1 PEM"], privateKey: keyWithBadCrtCoefficient() };

  test("with retries off: 500 internal_error, the row failed with internal_error, Baidu sees nothing", async () => {
    const pair = await startPair({ buildDir, key, ADMIN_TOKEN, MAX_ATTEMPTS: "1" });
    try {
      const health = await pair.relay.get("/healthz");
      assert.equal(health.status, 200, health.text);
      assert.equal(health.json.features.cancelVerification, "ok");
      assert.equal(health.json.keyBits, 1024);

      const order = nextOrder();
      const r = await pair.relay.post(ROUTE, order);
      assertError(r, 500, "internal_error");
      const done = await waitForStatus(pair.relay, r.webhookId, "failed");
      assert.equal(done.attempts, 1);
      assert.equal(done.lastError, "internal_error");
      assert.deepEqual(done.answer, { status: 500, body: r.json });
      assert.equal(done.baidu, null);
      const line = pair.relay.requestLogs().find((l) => l.webhookId === r.webhookId);
      assert.equal(line?.outcome, "internal_error");
      // The stored answer is replayed; still nothing reaches Baidu.
      const again = await pair.relay.post(ROUTE, order, { id: r.webhookId });
      assertError(again, 500, "internal_error");
      assert.equal(again.headers.get("idempotent-replayed"), "true");
      assert.equal(pair.baidu.calls.length, 0);
    } finally {
      await pair.close();
    }
  });

  test("with retries on: internal_error is transient, retried until the round is used up, Baidu sees nothing", async () => {
    const pair = await startPair({ buildDir, key, ...FAST_RETRIES, MAX_ATTEMPTS: "2" });
    try {
      const r = await pair.relay.post(ROUTE, nextOrder());
      assert.equal(r.status, 202, r.text);
      assert.deepEqual({ status: r.json.status, attempts: r.json.attempts, lastError: r.json.lastError },
        { status: "queued", attempts: 1, lastError: "internal_error" });
      const done = await waitForStatus(pair.relay, r.webhookId, "failed");
      assert.equal(done.attempts, 2);
      assert.equal(done.lastError, "internal_error");
      assert.equal(done.answer.status, 502);
      assert.deepEqual(done.answer.body.error, { ...done.answer.body.error, code: "delivery_failed", attempts: 2, lastError: "internal_error" });
      assert.equal(pair.baidu.calls.length, 0);
    } finally {
      await pair.close();
    }
  });
});

describe("an answer larger than 256 KiB", () => {
  /** A stand-in for Baidu's cashier that answers every call with `answer(res)`; counts calls. */
  async function oversizedBaidu(answer) {
    const server = http.createServer((req, res) => {
      server.calls++;
      req.resume();
      answer(res);
    });
    server.calls = 0;
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    return server;
  }

  for (const [what, answer] of [
    ["streamed without Content-Length and never finished", (res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(64 * 1024, " ");
      res.write('{"errno":0,"msg":"');
      const timer = setInterval(() => res.write(chunk), 5);
      res.on("close", () => clearInterval(timer));
    }],
    ["declaring 300,000 bytes", (res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "300000" });
      res.end(`{"errno":0,"msg":"${" ".repeat(300_000 - 20)}"}`);
    }],
  ]) {
    test(`${what}: read no further than the cap, upstream_unavailable (invalid_answer), never stored`, async () => {
      const baidu = await oversizedBaidu(answer);
      const relay = await startRelay({
        buildDir,
        bindings: bindingsFor({ secret: SECRET, ADMIN_TOKEN, MAX_ATTEMPTS: "1", BAIDU_TIMEOUT_MS: "20000",
          BAIDU_CASHIER_URL: `http://127.0.0.1:${baidu.address().port}/cashier/syncOrderStatus` }),
      });
      try {
        const started = Date.now();
        const r = await relay.post(ROUTE, nextOrder());
        assertError(r, 502, "upstream_unavailable", { reason: "invalid_answer" });
        assert.ok(Date.now() - started < 10_000, "refused at the cap, not at the 20 s timeout");
        assert.equal(baidu.calls, 1);
        const stored = await row(relay, r.webhookId);
        assert.equal(stored.status, "failed");
        assert.ok(stored.answer_body.length < 2_000, `${stored.answer_body.length} bytes stored`);
        assert.equal(stored.baidu_answer, null);
      } finally {
        await relay.close();
        baidu.closeAllConnections();
        await new Promise((resolve) => baidu.close(resolve));
      }
    });
  }
});

describe("Baidu's answer is stored once per row", () => {
  test("a delivery keeps it in the stored answer only; GET /v1/deliveries/{id} still shows it as `baidu`", async () => {
    const pair = await startPair({ buildDir, ADMIN_TOKEN });
    try {
      const order = nextOrder();
      const r = await pair.relay.post(ROUTE, order);
      assert.equal(r.status, 200, r.text);
      const stored = await row(pair.relay, r.webhookId);
      assert.equal(stored.baidu_answer, null);
      assert.deepEqual(JSON.parse(stored.answer_body).baidu, r.json.baidu);
      const shown = await admin(pair.relay, "GET", `/v1/deliveries/${r.webhookId}`);
      assert.deepEqual(shown.json.baidu, r.json.baidu);
    } finally {
      await pair.close();
    }
  });
});
