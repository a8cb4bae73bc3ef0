// The operator's console API (GET /v1/deliveries, /summary, POST /v1/deliveries/retry, the
// attempts log) against the real wasm in workerd, a real D1 and the fake Baidu; and the plan
// SQLite makes of every listing query the Worker can run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  prepareBuild, startRelay, startFakeBaidu, publicKeyOf, bindingsFor, afterSaleBindingsFor, assertError,
  KEYS, ROUTE, APP_KEY, APP_SECRET, OPEN_ID, AFTER_SALE_ROUTES, refundItem,
} from "../support/e2e.mjs";
import { ADMIN_TOKEN, admin, waitForStatus } from "../support/delivery.mjs";
import { ROOT } from "../support/relay.mjs";

let buildDir;
let baidu;
let relay;
const key = KEYS["1024 PKCS#1 PEM"];

before(async () => {
  buildDir = await prepareBuild();
  baidu = await startFakeBaidu({ publicKey: publicKeyOf(key.name), openapi: { appKey: APP_KEY, appSecret: APP_SECRET } });
  relay = await startRelay({
    buildDir,
    bindings: {
      ...afterSaleBindingsFor({ baidu }),
      ...bindingsFor({ baidu, key }),
      BAIDU_PAY_APP_KEY: key.appKey,
      ADMIN_TOKEN,
    },
  });
});

after(async () => {
  await relay?.close();
  await baidu?.close();
});

let orderSeq = 7_100_000_000;
const cancel = (orderId = ++orderSeq) => ({ orderId, userId: 4188819900 });
const list = async (query = "") => {
  const r = await admin(relay, "GET", `/v1/deliveries${query}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
};
/** A cancel verification that Baidu answers with HTTP 500 once: failed (MAX_ATTEMPTS=1). */
async function failedDelivery(id) {
  const order = cancel();
  baidu.respondForOrder(String(order.orderId), "http500", { times: 1 });
  const r = await relay.post(ROUTE, order, { id });
  assert.equal(r.status, 502, r.text);
  return order;
}

test("newest first, keyset pages that neither repeat nor skip, and a null cursor on the last page", async () => {
  const ids = [];
  for (let i = 0; i < 7; i++) {
    const id = `page_${i}`;
    const r = await relay.post(ROUTE, cancel(), { id });
    assert.equal(r.status, 200, r.text);
    ids.push(id);
  }
  const seen = [];
  let cursor = "";
  for (let pages = 0; pages < 5; pages++) {
    const page = await list(`?q=page_&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    seen.push(...page.items.map((item) => item.id));
    if (!page.cursor) break;
    assert.equal(page.items.length, 3);
    cursor = page.cursor;
    // A row arriving between pages lands on top, not in the next page.
    if (pages === 0) assert.equal((await relay.post(ROUTE, cancel(), { id: "page_late" })).status, 200);
  }
  assert.deepEqual(seen, [...ids].reverse(), "every row once, newest first");
  const all = await list("?q=page_");
  assert.equal(all.items[0].id, "page_late");
  for (const item of all.items) {
    assert.equal(item.status, "delivered");
    assert.equal(item.route, ROUTE);
    assert.match(item.orderId, /^71\d{8}$/);
  }
  const received = all.items.map((item) => item.receivedAt);
  assert.deepEqual(received, [...received].sort((a, b) => b - a));
});

test("filters combine: status, route, since/until, and q by id prefix, order id or ResourceID", async () => {
  const failedOrder = await failedDelivery("filt_failed");
  const rejectedOrder = cancel();
  baidu.respondForOrder(String(rejectedOrder.orderId), { errno: 10002, msg: "order not exist" }, { times: 1 });
  assert.equal((await relay.post(ROUTE, rejectedOrder, { id: "filt_rejected" })).status, 422);
  const item = refundItem("RES-CONSOLE-1");
  const afterSale = await relay.post(AFTER_SALE_ROUTES.update, { openId: OPEN_ID, sceneId: "7199999999", data: [item] }, { id: "filt_aftersale" });
  assert.equal(afterSale.status, 200, afterSale.text);

  assert.deepEqual((await list("?q=filt_&status=failed")).items.map((i) => i.id), ["filt_failed"]);
  assert.deepEqual((await list("?q=filt_&status=rejected")).items.map((i) => i.id), ["filt_rejected"]);
  assert.deepEqual((await list(`?q=filt_&route=${encodeURIComponent(AFTER_SALE_ROUTES.update)}`)).items.map((i) => i.id), ["filt_aftersale"]);
  assert.deepEqual((await list(`?q=${failedOrder.orderId}`)).items.map((i) => i.id), ["filt_failed"], "by order id");
  assert.deepEqual((await list("?q=RES-CONSOLE-1")).items.map((i) => i.id), ["filt_aftersale"], "by ResourceID");
  assert.deepEqual((await list("?q=7199999999")).items.map((i) => i.id), ["filt_aftersale"], "by an after-sale's sceneId");
  const found = (await list("?q=filt_aftersale")).items[0];
  assert.equal(found.resourceId, "RES-CONSOLE-1");

  const failed = (await list("?q=filt_failed")).items[0];
  assert.deepEqual((await list(`?q=filt_&since=${failed.receivedAt}&until=${failed.receivedAt + 1}&status=failed`)).items.map((i) => i.id), ["filt_failed"]);
  assert.deepEqual((await list(`?q=filt_&until=${failed.receivedAt}&status=failed`)).items, []);
  // Without q, a filter alone reads its own index.
  const failedPage = await list("?status=failed&route=%2Fv1%2Fcancel-verification&limit=100");
  assert.ok(failedPage.items.some((i) => i.id === "filt_failed"));
  assert.ok(failedPage.items.every((i) => i.status === "failed" && i.route === ROUTE));
});

test("a refused query parameter is 400 invalid_query naming it; the token is checked first", async () => {
  for (const [query, parameter] of [
    ["?stauts=failed", "stauts"], ["?status=lost", "status"], ["?limit=101", "limit"], ["?cursor=forged", "cursor"],
    ["?since=yesterday", "since"], ["?route=%2Fhealthz", "route"], ["?status=failed&status=queued", "status"],
  ]) {
    assertError(await admin(relay, "GET", `/v1/deliveries${query}`), 400, "invalid_query", { parameter });
  }
  assertError(await admin(relay, "GET", "/v1/deliveries/summary?since=soon"), 400, "invalid_query", { parameter: "since" });
  assertError(await admin(relay, "POST", "/v1/deliveries/retry?status=delivered"), 400, "invalid_query", { parameter: "status" });
  assertError(await admin(relay, "GET", "/v1/deliveries?stauts=x", "wrong-token-0123456789"), 401, "unauthorized");
  assertError(await relay.get("/v1/deliveries/summary"), 401, "unauthorized");
  assertError(await admin(relay, "POST", "/v1/deliveries"), 405, "method_not_allowed");
});

test("the detail lists every attempt (time, outcome, HTTP status, errno, duration) and what the error means", async () => {
  await failedDelivery("detail_1");
  let detail = (await admin(relay, "GET", "/v1/deliveries/detail_1")).json;
  assert.equal(detail.status, "failed");
  assert.equal(detail.attemptLog.length, 1);
  const [first] = detail.attemptLog;
  assert.equal(first.attempt, 1);
  assert.equal(first.outcome, "failed");
  assert.equal(first.error, "upstream_unavailable");
  assert.equal(first.upstreamStatus, 500);
  assert.equal(first.errno, null);
  assert.ok(first.durationMs >= 0 && first.startedAt >= detail.receivedAt, JSON.stringify(first));
  assert.match(detail.errorMeaning, /Baidu could not be reached/);

  assert.equal((await admin(relay, "POST", "/v1/deliveries/detail_1/retry")).status, 202);
  detail = await waitForStatus(relay, "detail_1", "delivered");
  assert.deepEqual(detail.attemptLog.map((a) => [a.attempt, a.outcome, a.upstreamStatus, a.errno]), [[1, "failed", 500, null], [2, "delivered", 200, 0]]);
  assert.equal(detail.errorMeaning, null);
});

test("bulk retry re-queues failed deliveries page by page, reports a cursor, and is idempotent", async () => {
  for (const id of ["bulk_a", "bulk_b", "bulk_c"]) await failedDelivery(id);
  const first = await admin(relay, "POST", "/v1/deliveries/retry?q=bulk_&limit=2");
  assert.equal(first.status, 202, first.text);
  assert.deepEqual([first.json.matched, first.json.requeued, first.json.ids], [2, 2, ["bulk_c", "bulk_b"]]);
  assert.ok(first.json.cursor);
  const second = await admin(relay, "POST", `/v1/deliveries/retry?q=bulk_&limit=2&cursor=${encodeURIComponent(first.json.cursor)}`);
  assert.deepEqual([second.json.matched, second.json.requeued, second.json.ids, second.json.cursor], [1, 1, ["bulk_a"], null]);
  // Sent again: nothing is failed any more, nothing is re-queued twice.
  const again = await admin(relay, "POST", "/v1/deliveries/retry?q=bulk_&limit=2");
  assert.deepEqual([again.json.matched, again.json.requeued], [0, 0]);
  for (const id of ["bulk_a", "bulk_b", "bulk_c"]) {
    const done = await waitForStatus(relay, id, "delivered");
    assert.equal(done.attemptLog.length, 2, `${id}: one attempt per round`);
  }
  const calls = baidu.calls.filter((c) => c.cashier && c.answer).length;
  const repeat = await admin(relay, "POST", "/v1/deliveries/retry?q=bulk_");
  assert.deepEqual([repeat.json.matched, repeat.json.requeued], [0, 0]);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(baidu.calls.filter((c) => c.cashier && c.answer).length, calls, "no further call to Baidu");
});

test("the summary counts by status, route, error code and Baidu errno since a time", async () => {
  const since = Date.now();
  await failedDelivery("sum_failed");
  const rejected = cancel();
  baidu.respondForOrder(String(rejected.orderId), { errno: 10002, msg: "order not exist" }, { times: 1 });
  await relay.post(ROUTE, rejected, { id: "sum_rejected" });
  assert.equal((await relay.post(ROUTE, cancel(), { id: "sum_ok" })).status, 200);
  const r = await admin(relay, "GET", `/v1/deliveries/summary?since=${since}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.since, since);
  assert.equal(r.json.total, 3);
  assert.deepEqual(r.json.byStatus, { pending: 0, queued: 0, delivered: 1, rejected: 1, failed: 1 });
  assert.deepEqual(r.json.byRoute, { [ROUTE]: { delivered: 1, rejected: 1, failed: 1 } });
  assert.deepEqual(r.json.byError, { upstream_unavailable: 1, baidu_order_not_found: 1 });
  assert.deepEqual(r.json.byBaiduErrno, { 10002: 1 });
  const day = await admin(relay, "GET", "/v1/deliveries/summary");
  assert.ok(day.json.total >= 3 && day.json.since < since);
});

test("every console query reads an index: a page stops at its limit without sorting the ledger", async () => {
  const queries = JSON.parse(readFileSync(path.join(ROOT, "tests", "vectors", "console-queries.json"), "utf8"));
  const db = await relay.mf.getD1Database("LEDGER");
  assert.ok(queries.length >= 64);
  for (const { sql, params, q } of queries) {
    const values = Array.from({ length: params }, (_, i) => (i % 2 ? 1 : "x"));
    const plan = (await db.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...values).all()).results.map((r) => r.detail);
    const where = `${sql}\n  ${plan.join("\n  ")}`;
    for (const line of plan) {
      if (/\b(SCAN|SEARCH) (deliveries|delivery_attempts)\b/.test(line)) {
        assert.match(line, /USING (COVERING INDEX|INDEX|INTEGER PRIMARY KEY|PRIMARY KEY)/, where);
      }
    }
    if (sql.startsWith("SELECT webhook_id") && !q) {
      assert.ok(!plan.some((line) => line.includes("TEMP B-TREE")), `a listing without q is read in index order:\n${where}`);
      assert.ok(plan.some((line) => /SEARCH deliveries USING INDEX deliveries_\w*received|SCAN deliveries USING INDEX deliveries_received/.test(line)), where);
    }
  }
});

test("the console page is served with a strict CSP, no framing, and its own script and style only", async () => {
  const page = await relay.get("/admin");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type"), /^text\/html/);
  const csp = page.headers.get("content-security-policy");
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe/);
  assert.equal(page.headers.get("x-frame-options"), "DENY");
  assert.match(page.text, /<script src="\/admin\/console.js" defer><\/script>/);
  const script = await relay.get("/admin/console.js");
  assert.match(script.headers.get("content-type"), /^text\/javascript/);
  assert.match(script.text, /sessionStorage/);
  assert.match((await relay.get("/admin/console.css")).headers.get("content-type"), /^text\/css/);
  assertError(await relay.get("/admin/other.js"), 404, "not_found");
});

test("without the attempts table (migration 0004 not applied yet) a webhook is still delivered and recorded", async () => {
  const own = await startRelay({ buildDir, bindings: { ...bindingsFor({ baidu, key }), ADMIN_TOKEN } });
  try {
    const db = await own.mf.getD1Database("LEDGER");
    await db.prepare("DROP TABLE delivery_attempts").run();
    const r = await own.post(ROUTE, cancel(), { id: "no_attempts_table" });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, "delivered");
    const row = await db.prepare("SELECT status, attempts FROM deliveries WHERE webhook_id = 'no_attempts_table'").first();
    assert.deepEqual({ ...row }, { status: "delivered", attempts: 1 });
  } finally {
    await own.close();
  }
});

test("the attempts log keeps a delivery's newest 20 attempts, and the purge takes them with the delivery", async () => {
  const queries = JSON.parse(readFileSync(path.join(ROOT, "tests", "vectors", "console-queries.json"), "utf8")).map((q) => q.sql);
  const trim = queries.find((sql) => sql.startsWith("DELETE FROM delivery_attempts WHERE webhook_id = ?1"));
  const purgeAttempts = queries.find((sql) => sql.startsWith("DELETE FROM delivery_attempts WHERE webhook_id IN"));
  const db = await relay.mf.getD1Database("LEDGER");
  const insert = db.prepare("INSERT INTO delivery_attempts (webhook_id, attempt, started_at, duration_ms, outcome) VALUES (?1, ?2, 1, 1, 'queued')");
  await db.batch(Array.from({ length: 25 }, (_, i) => insert.bind("trim_me", i + 1)));
  await db.prepare(trim).bind("trim_me", 25).run();
  const kept = (await db.prepare("SELECT attempt FROM delivery_attempts WHERE webhook_id = 'trim_me' ORDER BY attempt").all()).results.map((r) => r.attempt);
  assert.deepEqual(kept, Array.from({ length: 20 }, (_, i) => i + 6));

  // A finished delivery last written long ago, with attempts: the purge's batch takes both.
  await relay.post(ROUTE, cancel(), { id: "purge_me" });
  await db.prepare("UPDATE deliveries SET updated_at = 1 WHERE webhook_id = 'purge_me'").run();
  assert.equal((await db.prepare("SELECT COUNT(*) AS n FROM delivery_attempts WHERE webhook_id = 'purge_me'").first()).n, 1);
  await db.prepare(purgeAttempts).bind(2, 10).run();
  assert.equal((await db.prepare("SELECT COUNT(*) AS n FROM delivery_attempts WHERE webhook_id = 'purge_me'").first()).n, 0);
  assert.equal((await db.prepare("SELECT COUNT(*) AS n FROM delivery_attempts WHERE webhook_id = 'trim_me'").first()).n, 20, "only the purged delivery's");
});
