// Redirects are never followed: a 3xx from Baidu (the token endpoint, the cashier, the order
// center) or from the result webhook's receiver is the answer itself. Following one would resend
// the request (the App Secret, a signed form, a signed result) to wherever it points, so each
// Location here points at a trap listener on 127.0.0.1 that must see nothing.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import {
  prepareBuild, startRelay, startFakeBaidu, bindingsFor, assertError, assertNoLeak, refundItem, publicKeyOf,
  KEYS, ORDER, ROUTE, PATHS, APP_KEY, APP_SECRET, OPEN_ID, SCENE_ID, AFTER_SALE_ROUTES, ORDER_CENTER_PATHS, TOKEN_PATH,
} from "../support/e2e.mjs";

const ADMIN_TOKEN = "redirect-test-admin-token-01";
// Retries on: a redirect must still be final at once, never queued.
const RETRIES = { MAX_ATTEMPTS: "3", RETRY_BASE_DELAY_SECONDS: "0", RETRY_MAX_DELAY_SECONDS: "0" };
const KEY = KEYS["1024 PKCS#1 PEM"];

/** An HTTP server on 127.0.0.1 that records every request and answers `answer(req)` ({status, headers}). */
async function startListener(answer = () => ({ status: 200, headers: { "content-type": "application/json" }, body: "{}" })) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      requests.push({ method: req.method, path: req.url, headers: { ...req.headers }, body: Buffer.concat(chunks).toString("utf8") });
      const { status, headers = {}, body = "" } = answer(req);
      res.writeHead(status, headers).end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    port: server.address().port,
    requests,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}

const redirectTo = (status, location) => ({ status, headers: { location, "content-type": "text/html" }, body: `<a href="${location}">moved</a>` });

let buildDir;
let baidu;
let trap;
let receiver;
let relay;
let orderSeq = 5_000_000_000;
const nextOrder = () => ({ ...ORDER, orderId: ++orderSeq });

before(async () => {
  buildDir = await prepareBuild();
  trap = await startListener();
  baidu = await startFakeBaidu({ publicKey: publicKeyOf(KEY.name), openapi: { appKey: APP_KEY, appSecret: APP_SECRET } });
  receiver = await startListener(() => redirectTo(302, `${trap.url}/moved-results`));
  relay = await startRelay({
    buildDir,
    bindings: bindingsFor({
      baidu, key: KEY,
      BAIDU_APP_KEY: APP_KEY, BAIDU_APP_SECRET: APP_SECRET, BAIDU_OPENAPI_URL: baidu.url,
      RESULT_WEBHOOK_URL: `${receiver.url}/results`, ADMIN_TOKEN, ...RETRIES,
    }),
  });
});
after(async () => {
  await relay?.close();
  await baidu?.close();
  await receiver?.close();
  await trap?.close();
});

function ledgerRow(id) {
  return relay.request("GET", `/v1/deliveries/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
}

/** The answer is a final 502 upstream_unavailable (redirect), the ledger holds it as rejected, and the trap saw nothing. */
async function assertRefusedRedirect(r, status) {
  assertError(r, 502, "upstream_unavailable", { reason: "redirect", upstreamStatus: status });
  assert.match(r.json.error.message, new RegExp(`HTTP ${status} with a redirect`), r.text);
  assertNoLeak(r.text, [trap.url, `127.0.0.1:${trap.port}`], "the answer");
  const row = await ledgerRow(r.webhookId);
  assert.equal(row.status, 200, row.text);
  assert.deepEqual(
    { status: row.json.status, attempts: row.json.attempts, lastError: row.json.lastError, nextAttemptAt: row.json.nextAttemptAt },
    { status: "rejected", attempts: 1, lastError: "upstream_unavailable", nextAttemptAt: null },
  );
  assert.deepEqual(row.json.answer.body.error, r.json.error);
  assert.deepEqual(trap.requests, [], "the redirect was followed");
}

const afterSaleBody = () => ({ openId: OPEN_ID, sceneId: SCENE_ID, data: [refundItem()] });

describe("Baidu redirects", () => {
  for (const status of [302, 307]) {
    test(`the token endpoint answers ${status} → 502 upstream_unavailable (redirect), final; the App Secret goes nowhere else`, async () => {
      baidu.reset();
      trap.requests.length = 0;
      baidu.respondNextAt(TOKEN_PATH, redirectTo(status, `${trap.url}${TOKEN_PATH}`));
      const r = await relay.post(AFTER_SALE_ROUTES.update, afterSaleBody());
      await assertRefusedRedirect(r, status);
      assert.equal(baidu.tokenFetches, 1);
      assert.equal(baidu.orderCenterCalls().length, 0);
    });
  }

  test("the cashier answers 302 → 502 upstream_unavailable (redirect), final; the signed form goes nowhere else", async () => {
    baidu.reset();
    trap.requests.length = 0;
    baidu.respondNextAt(PATHS.etrade, redirectTo(302, `${trap.url}${PATHS.etrade}`));
    const r = await relay.post(ROUTE, nextOrder());
    await assertRefusedRedirect(r, 302);
    assert.equal(baidu.calls.filter((c) => c.kind === "cashier").length, 1);
  });

  test("the order center answers 301 → 502 upstream_unavailable (redirect), final", async () => {
    baidu.reset();
    trap.requests.length = 0;
    baidu.respondNextAt(ORDER_CENTER_PATHS.update, redirectTo(301, `${trap.url}${ORDER_CENTER_PATHS.update}`));
    const r = await relay.post(AFTER_SALE_ROUTES.update, afterSaleBody());
    await assertRefusedRedirect(r, 301);
    assert.equal(baidu.orderCenterCalls().length, 1);
  });
});

test("a result webhook receiver answering 302 is not followed; the delivery is delivered all the same", async () => {
  baidu.reset();
  trap.requests.length = 0;
  const order = nextOrder();
  baidu.respondForOrder(String(order.orderId), "http500", { times: 1 });
  const r = await relay.post(ROUTE, order);
  assert.equal(r.status, 202, r.text);

  const deadline = Date.now() + 20_000;
  while (!receiver.requests.some((q) => JSON.parse(q.body).id === r.webhookId) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const events = receiver.requests.filter((q) => JSON.parse(q.body).id === r.webhookId);
  assert.equal(events.length, 1, "one result webhook reached the receiver");
  assert.equal(JSON.parse(events[0].body).status, "delivered");
  await relay.waitForLogs((logs) => logs.some((l) => l.json?.msg === "result webhook" && l.json.webhookId === r.webhookId));
  const logged = relay.logs.find((l) => l.json?.msg === "result webhook" && l.json.webhookId === r.webhookId).json;
  assert.deepEqual(
    { delivered: logged.delivered, reason: logged.reason, upstreamStatus: logged.upstreamStatus },
    { delivered: false, reason: "redirect", upstreamStatus: 302 },
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(trap.requests, [], "the redirect was followed");

  const row = await ledgerRow(r.webhookId);
  assert.deepEqual({ status: row.json.status, attempts: row.json.attempts }, { status: "delivered", attempts: 2 });
});
