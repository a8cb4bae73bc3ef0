// POST /v1/after-sale/{update,append,status} end to end: merchant webhook → relay (workerd, with the
// TOKEN_CACHE KV binding) → fake Baidu (token endpoint + order center) over HTTP.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  prepareBuild, startAfterSalePair, startFakeBaidu, assertError, assertNoLeak, refundItem,
  APP_KEY, APP_SECRET, PAY_APP_KEY, OPEN_ID, SCENE_ID, AFTER_SALE_ROUTES, ORDER_CENTER_PATHS, TOKEN_PATH, newSecret, healthFeatures,
} from "../support/e2e.mjs";
import { ORDER_CENTER_QUERY, TOKEN_SCOPE } from "../../sandbox/fake-baidu.mjs";
import { ROOT } from "../support/relay.mjs";

const KV_KEY = `baidu-access-token/v1/${APP_KEY}`;
const SUCCESS = (data) => ({ errno: 0, msg: "success", data });

let buildDir;
const tempDirs = [];
before(async () => { buildDir = await prepareBuild(); });
after(() => { for (const d of tempDirs) rmSync(d, { recursive: true, force: true }); });

// Everything every relay of this file answered and logged, for the leak checks at the end.
const seen = { relays: [], fakes: new Set(), responses: [], baiduCalls: [] };
const recordCall = (call) => { seen.baiduCalls.push(call); };

/** A fake Baidu that knows APP_KEY/APP_SECRET and records its calls for the leak checks. */
async function fakeBaidu(openapi = {}) {
  const baidu = await startFakeBaidu({ openapi: { appKey: APP_KEY, appSecret: APP_SECRET, ...openapi }, onCall: recordCall });
  seen.fakes.add(baidu);
  return baidu;
}

/** startAfterSalePair, remembering the relay, the fake and every answer for the leak checks. */
async function pairUp({ fake, ...options } = {}) {
  const pair = await startAfterSalePair({ buildDir, fake: { onCall: recordCall, ...fake }, ...options });
  seen.relays.push(pair.relay);
  seen.fakes.add(pair.baidu);
  for (const method of ["post", "get", "request"]) {
    const original = pair.relay[method];
    pair.relay[method] = async (...args) => {
      const r = await original(...args);
      seen.responses.push(r);
      return r;
    };
  }
  return pair;
}

function tempDir() {
  const d = mkdtempSync(path.join(os.tmpdir(), "relay-kv-"));
  tempDirs.push(d);
  return d;
}

function body({ openId = OPEN_ID, sceneId = SCENE_ID, sceneType, data } = {}) {
  const b = { openId, sceneId };
  if (sceneType !== undefined) b.sceneType = sceneType;
  b.data = data ?? [refundItem()];
  return b;
}

/** Each item as the relay must pass it on: unchanged, BizAPPID filled in when absent. */
function relayed(items) {
  return { Data: items.map((item) => ("BizAPPID" in item ? item : { ...item, BizAPPID: APP_KEY })) };
}

/** The fake's default answer for these items. */
function answerFor(items, rows = {}) {
  return SUCCESS(items.map((i) => ({ biz_app_id: APP_KEY, cate_id: i.CateID, resource_id: i.ResourceID, rows_affected: rows[i.ResourceID] ?? "1" })));
}

function assertDelivered(r, baiduAnswer) {
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { id: r.webhookId, status: "delivered", baidu: baiduAnswer });
}

/** One order-center call as the contract describes it. */
function assertOrderCenterCall(call, { kind, token, sceneId = String(SCENE_ID), sceneType = "2", data }) {
  assert.equal(call.method, "POST");
  assert.equal(call.path, ORDER_CENTER_PATHS[kind]);
  assert.deepEqual(call.queryKeys, ORDER_CENTER_QUERY, "query parameters, in this order, each once");
  assert.deepEqual(call.query, { access_token: token, open_id: OPEN_ID, scene_id: sceneId, scene_type: sceneType, pm_app_key: PAY_APP_KEY });
  assert.equal(call.headers["content-type"], "application/json");
  assert.deepEqual(call.problems, []);
  assert.deepEqual(call.json, relayed(data));
}

/** The token request as the contract describes it: POST form body, nothing in the URL. */
function assertTokenCall(call) {
  assert.equal(call.method, "POST");
  assert.equal(call.path, TOKEN_PATH);
  assert.deepEqual(call.query, {}, "credentials must not travel in the URL");
  assert.match(call.headers["content-type"], /^application\/x-www-form-urlencoded/);
  assert.deepEqual(call.paramList, [["grant_type", "client_credentials"], ["client_id", APP_KEY], ["client_secret", APP_SECRET], ["scope", TOKEN_SCOPE]]);
  assert.deepEqual(call.problems, []);
  assert.ok(call.issuedToken, "the fake issued a token");
}

/** The request log line of one webhook (log lines arrive asynchronously). */
async function logOf(relay, webhookId) {
  await relay.waitForLogs(() => relay.requestLogs().some((l) => l.webhookId === webhookId));
  return relay.requestLogs().find((l) => l.webhookId === webhookId);
}

async function assertTokenLog(relay, r, source, token, extra = {}) {
  const line = await logOf(relay, r.webhookId);
  const where = JSON.stringify(line);
  assert.equal(line.tokenSource, source, where);
  assert.equal(line.tokenLast4, token.slice(-4), where);
  assert.equal(line.status, r.status, where);
  for (const [k, v] of Object.entries(extra)) assert.deepEqual(line[k], v, `${k}: ${where}`);
  if (!("tokenRefreshed" in extra)) assert.ok(line.tokenRefreshed === undefined || line.tokenRefreshed === false, where);
  return line;
}

describe("relaying: update, append, status", () => {
  let pair;
  before(async () => { pair = await pairUp(); });
  after(async () => { await pair?.close(); });

  test("GET /healthz: after-sale ok, cancel verification disabled", async () => {
    const h = await pair.relay.get("/healthz");
    assert.equal(h.status, 200, h.text);
    assert.deepEqual(h.json, { status: "ok", problems: [], features: healthFeatures({ cancelVerification: "disabled", afterSale: "ok" }) });
  });

  let token;
  test("update: one token fetch, then app/update/sub/info with the exact body (BizAPPID filled in)", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const data = [refundItem("M202604250001")];
    const r = await relay.post(AFTER_SALE_ROUTES.update, body({ sceneType: 2, data }));
    assertDelivered(r, answerFor(data));
    assert.equal(baidu.tokenFetches, 1);
    assert.equal(baidu.calls.length, 2);
    const [tokenCall, call] = baidu.calls;
    assertTokenCall(tokenCall);
    token = tokenCall.issuedToken;
    assertOrderCenterCall(call, { kind: "update", token, data });
    await assertTokenLog(relay, r, "baidu", token, { route: AFTER_SALE_ROUTES.update, outcome: "delivered", baiduErrno: 0, upstreamStatus: 200 });
  });

  test("append: sceneId as a digit string, BizAPPID given (equal), unknown fields passed through unchanged", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const first = refundItem("M202604250002", { BizAPPID: APP_KEY, MerchantNote: { tags: ["vip", 1, null, true], ratio: 0.25 } });
    first.EXT.Extra = "kept";
    first.EXT.SubsOrder.Unknown = [1, { a: "b" }];
    first.EXT.SubsOrder.Items[0].Custom = { 字段: "值" };
    first.EXT.SubsOrder.Items[0].Refund.Reason = "七天无理由";
    first.EXT.SubsOrder.Items[0].Refund.Product[0].Sku = { color: "red" };
    first.EXT.SubsOrder.Items[0].OrderDetail.Extra = 7;
    const second = refundItem("M202604250003");
    second.EXT.SubsOrder.Items.push({ ...second.EXT.SubsOrder.Items[0], SubOrderID: "M202604250003-AS2", OrderType: 3, Refund: { Amount: 0 } });
    const data = [first, second];
    const r = await relay.post(AFTER_SALE_ROUTES.append, { ...body({ sceneId: String(SCENE_ID), data }), merchantNote: "top-level fields are not sent" });
    assertDelivered(r, answerFor(data));
    assert.equal(baidu.tokenFetches, 0, "the token is reused");
    assert.equal(baidu.calls.length, 1);
    assertOrderCenterCall(baidu.calls[0], { kind: "append", token, data });
    await assertTokenLog(relay, r, "isolate", token);
  });

  test("numbers in fields the relay does not check reach Baidu as written (no float or 64-bit rounding)", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const item = JSON.stringify(refundItem("M202604250009"));
    // Written by hand: JavaScript itself would round these before sending.
    const raw = `{"openId":${JSON.stringify(OPEN_ID)},"sceneId":${SCENE_ID},"data":[${item.slice(0, -1)},"BigId":12345678901234567890,"Ratio":1.10,"Tiny":0.1000000000000000055511151231257827,"Hundred":1e2}]}`;
    const r = await relay.post(AFTER_SALE_ROUTES.update, raw);
    assert.equal(r.status, 200, r.text);
    assert.equal(baidu.calls.length, 1);
    const sent = baidu.calls[0].rawBody;
    for (const text of ['"BigId":12345678901234567890', '"Ratio":1.10', '"Tiny":0.1000000000000000055511151231257827', '"Hundred":1e+2']) {
      assert.ok(sent.includes(text), `${text} in ${sent}`);
    }
  });

  test("status: app/update/sub/status, sceneType defaults to 2, Items optional and their CTime/MTime/OrderType too", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const bare = { CateID: 2, ResourceID: "M202604250004", EXT: { SubsOrder: { Status: 404 } } };
    const slim = { CateID: 5, ResourceID: "M202604250005", EXT: { SubsOrder: { Status: 402, Items: [{ SubOrderID: "M202604250005-AS1", SubStatus: 402 }] } } };
    const data = [bare, slim];
    const r = await relay.post(AFTER_SALE_ROUTES.status, body({ data }));
    assertDelivered(r, answerFor(data));
    assert.equal(baidu.calls.length, 1);
    assertOrderCenterCall(baidu.calls[0], { kind: "status", token, data });
    await assertTokenLog(relay, r, "isolate", token);
  });

  for (const [name, sceneId, expected] of [
    ["sceneId as a JSON number", SCENE_ID, String(SCENE_ID)],
    ["sceneId as a digit string", "2636635857", "2636635857"],
    ["sceneId 1", 1, "1"],
  ]) {
    test(`update with ${name}`, async () => {
      const { relay, baidu } = pair;
      baidu.reset();
      const data = [refundItem()];
      const r = await relay.post(AFTER_SALE_ROUTES.update, body({ sceneId, data }));
      assertDelivered(r, answerFor(data));
      assertOrderCenterCall(baidu.calls[0], { kind: "update", token, sceneId: expected, data });
    });
  }

  test("examples/after-sale-update.json (what `npm run send` sends) is delivered as is", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const example = JSON.parse(readFileSync(path.join(ROOT, "examples", "after-sale-update.json"), "utf8"));
    const r = await relay.post(AFTER_SALE_ROUTES.update, example);
    assertDelivered(r, answerFor(example.data));
    assert.equal(baidu.calls[0].query.open_id, example.openId);
    assert.deepEqual(baidu.calls[0].json, relayed(example.data));
  });

  test("100 items are accepted", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    const data = Array.from({ length: 100 }, (_, i) => refundItem(`M2026042501${String(i).padStart(2, "0")}`));
    const r = await relay.post(AFTER_SALE_ROUTES.update, body({ data }));
    assertDelivered(r, answerFor(data));
    assertOrderCenterCall(baidu.calls[0], { kind: "update", token, data });
  });

  test("token reuse: ten sequential requests, no token fetch, every log line says isolate", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    for (let i = 0; i < 10; i++) {
      const r = await relay.post(AFTER_SALE_ROUTES.update, body());
      assert.equal(r.status, 200, r.text);
      await assertTokenLog(relay, r, "isolate", token);
    }
    assert.equal(baidu.tokenFetches, 0);
    assert.equal(baidu.orderCenterCalls().length, 10);
    assert.ok(baidu.orderCenterCalls().every((c) => c.query.access_token === token));
  });
});

describe("one token fetch for a burst", () => {
  test("50 concurrent updates on a cold relay (slow token endpoint): exactly 1 token fetch, all 50 delivered", async (t) => {
    const pair = await pairUp();
    try {
      const { relay, baidu } = pair;
      baidu.tokenEndpoint({ delayMs: 300 });
      const ids = Array.from({ length: 50 }, (_, i) => `M20260425B${String(i).padStart(3, "0")}`);
      const results = await Promise.all(ids.map((id) => relay.post(AFTER_SALE_ROUTES.update, body({ data: [refundItem(id)] }))));
      const fetches = baidu.tokenFetches;
      const statuses = {};
      for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      const report = `${fetches} token fetch(es) for 50 concurrent updates; answers ${JSON.stringify(statuses)}; ${baidu.orderCenterCalls().length} order-center calls`;
      console.log(`# after-sale burst: ${report}`);
      t.diagnostic(report);
      const failed = results.find((r) => r.status !== 200);
      assert.deepEqual(statuses, { 200: 50 }, `every request must be delivered (${report}); e.g. ${failed?.status} ${failed?.text.slice(0, 200)}`);
      for (const [i, r] of results.entries()) assertDelivered(r, answerFor([refundItem(ids[i])]));
      assert.equal(fetches, 1, "one shared token fetch");
      const token = baidu.issuedTokens[0];
      const calls = baidu.orderCenterCalls();
      assert.equal(calls.length, 50);
      assert.deepEqual(calls.map((c) => c.json.Data[0].ResourceID).sort(), ids);
      assert.ok(calls.every((c) => c.query.access_token === token && c.problems.length === 0));
      const sources = {};
      for (const r of results) {
        const line = await logOf(relay, r.webhookId);
        assert.ok(["baidu", "isolate"].includes(line.tokenSource), JSON.stringify(line));
        assert.equal(line.tokenLast4, token.slice(-4));
        sources[line.tokenSource] = (sources[line.tokenSource] ?? 0) + 1;
      }
      t.diagnostic(`tokenSource of the 50 log lines: ${JSON.stringify(sources)}`);
    } finally {
      await pair.close();
    }
  });
});

describe("concurrency: waiting on another request's token lookup", () => {
  const summary = (rs) => { const by = {}; for (const r of rs) by[r.status] = (by[r.status] ?? 0) + 1; return by; };
  const describeFailure = (rs) => { const f = rs.find((r) => r.status !== 200); return f ? `e.g. ${f.status} ${f.text.slice(0, 200)}` : ""; };

  test("cold isolate, token already in KV: 50 concurrent updates, no token fetch, all delivered", async () => {
    const dir = tempDir();
    const baidu = await fakeBaidu();
    try {
      const a = await pairUp({ baidu, kvPersist: dir });
      assert.equal((await a.relay.post(AFTER_SALE_ROUTES.update, body())).status, 200);
      await a.close();
      baidu.reset();
      const b = await pairUp({ baidu, kvPersist: dir });
      try {
        const rs = await Promise.all(Array.from({ length: 50 }, () => b.relay.post(AFTER_SALE_ROUTES.update, body())));
        assert.deepEqual(summary(rs), { 200: 50 }, describeFailure(rs));
        assert.equal(baidu.tokenFetches, 0);
        for (const r of rs) assert.ok(["kv", "isolate"].includes((await logOf(b.relay, r.webhookId)).tokenSource));
      } finally {
        await b.close();
      }
    } finally {
      await baidu.close();
    }
  });

  test("token expired at Baidu: 10 concurrent updates share one refresh, all delivered", async () => {
    const pair = await pairUp();
    try {
      const { relay, baidu } = pair;
      assert.equal((await relay.post(AFTER_SALE_ROUTES.update, body())).status, 200);
      baidu.reset();
      baidu.expireTokens();
      baidu.tokenEndpoint({ delayMs: 100 });
      const rs = await Promise.all(Array.from({ length: 10 }, () => relay.post(AFTER_SALE_ROUTES.update, body())));
      const report = `answers ${JSON.stringify(summary(rs))}, ${baidu.tokenFetches} token fetch(es), ${baidu.orderCenterCalls().length} order-center calls`;
      assert.deepEqual(summary(rs), { 200: 10 }, `${report}; ${describeFailure(rs)}`);
      assert.equal(baidu.tokenFetches, 1, report);
      assert.ok(baidu.orderCenterCalls().length <= 20, report);
    } finally {
      await pair.close();
    }
  });
});

describe("token expiry: refresh once, retry once", () => {
  let pair;
  before(async () => { pair = await pairUp(); });
  after(async () => { await pair?.close(); });

  async function warm() {
    const r = await pair.relay.post(AFTER_SALE_ROUTES.update, body());
    assert.equal(r.status, 200, r.text);
  }

  for (const [name, invalidate, code] of [
    ["Baidu expired every token (error_code 111)", (b) => b.expireTokens(), 111],
    ["Baidu no longer knows the token (error_code 110)", (b) => b.revokeTokens(), 110],
  ]) {
    test(`${name} → one extra token fetch, two order-center calls, 200`, async () => {
      const { relay, baidu } = pair;
      await warm();
      const old = baidu.issuedTokens.at(-1);
      baidu.reset();
      invalidate(baidu);
      const data = [refundItem("M202604250010")];
      const r = await relay.post(AFTER_SALE_ROUTES.update, body({ data }));
      assertDelivered(r, answerFor(data));
      assert.equal(baidu.tokenFetches, 1, "exactly one extra token fetch");
      const calls = baidu.orderCenterCalls();
      assert.equal(calls.length, 2, "the call and one retry");
      assert.equal(calls[0].query.access_token, old);
      assert.deepEqual(JSON.parse(calls[0].answer.body), { error_code: code, error_msg: code === 111 ? "Access token expired" : "Access token invalid or no longer valid" });
      const fresh = baidu.tokenCalls()[0].issuedToken;
      assert.notEqual(fresh, old);
      assertOrderCenterCall(calls[1], { kind: "update", token: fresh, data });
      assert.deepEqual(baidu.calls.map((c) => c.kind), ["orderCenter", "token", "orderCenter"]);
      await assertTokenLog(relay, r, "baidu", fresh, { tokenRefreshed: true, baiduErrno: 0 });

      // The fresh token is what the isolate now holds.
      baidu.reset();
      const r2 = await relay.post(AFTER_SALE_ROUTES.update, body());
      assert.equal(r2.status, 200, r2.text);
      assert.equal(baidu.tokenFetches, 0);
      assert.equal(baidu.orderCenterCalls()[0].query.access_token, fresh);
      await assertTokenLog(relay, r2, "isolate", fresh);
    });
  }

  test('the token error as {"errno":111} also refreshes once', async () => {
    const { relay, baidu } = pair;
    await warm();
    baidu.reset();
    baidu.respondNextAt(ORDER_CENTER_PATHS.status, { errno: 111, msg: "access token expired" });
    const data = [refundItem("M202604250011")];
    const r = await relay.post(AFTER_SALE_ROUTES.status, body({ data }));
    assertDelivered(r, answerFor(data));
    assert.equal(baidu.tokenFetches, 1);
    assert.equal(baidu.orderCenterCalls().length, 2);
  });

  test("the fresh token is refused too → 502 baidu_error with baiduErrno 111, no further retries", async () => {
    const { relay, baidu } = pair;
    await warm();
    baidu.reset();
    baidu.expireTokens();
    baidu.tokenEndpoint({ issueExpired: true });
    const r = await relay.post(AFTER_SALE_ROUTES.update, body());
    assertError(r, 502, "baidu_error", { baiduErrno: 111, baiduMsg: "Access token expired" });
    await new Promise((res) => setTimeout(res, 300)); // nothing else may follow
    assert.equal(baidu.tokenFetches, 1, "one refresh");
    assert.equal(baidu.orderCenterCalls().length, 2, "one retry");
    assert.notEqual(baidu.orderCenterCalls()[0].query.access_token, baidu.orderCenterCalls()[1].query.access_token);
    await assertTokenLog(relay, r, "baidu", baidu.tokenCalls()[0].issuedToken, { tokenRefreshed: true, baiduErrno: 111, outcome: "baidu_error" });
  });

  test("errors other than 110/111 are not retried", async () => {
    const { relay, baidu } = pair;
    baidu.reset();
    await warm(); // a valid token again (the last one was born expired)
    for (const [answer, status, code, extra] of [
      [{ errno: 10001, msg: "参数错误" }, 422, "baidu_bad_parameter", { baiduErrno: 10001, baiduMsg: "参数错误" }],
      [{ errno: 10002, msg: "订单不存在" }, 422, "baidu_order_not_found", { baiduErrno: 10002, baiduMsg: "订单不存在" }],
      [{ errno: 10003, msg: "企业余额不足" }, 502, "baidu_error", { baiduErrno: 10003, baiduMsg: "企业余额不足" }],
      [{ json: { error_code: 100, error_msg: "Invalid parameter" } }, 502, "baidu_error", { baiduErrno: 100, baiduMsg: "Invalid parameter" }],
      ["http500", 502, "upstream_unavailable", { reason: "http_status", upstreamStatus: 500 }],
      ["garbage", 502, "upstream_unavailable", { reason: "invalid_answer", upstreamStatus: 200 }],
    ]) {
      baidu.reset();
      baidu.respondNextAt(ORDER_CENTER_PATHS.update, answer);
      const r = await relay.post(AFTER_SALE_ROUTES.update, body());
      assertError(r, status, code, extra);
      assert.equal(baidu.calls.length, 1, `${JSON.stringify(answer)}: one call, no token fetch, no retry`);
    }
  });
});

describe("Baidu's answers", () => {
  test("partial failure: one item with rows_affected \"0\" → 422 baidu_items_rejected naming exactly it", async () => {
    const pair = await pairUp();
    try {
      const { relay, baidu } = pair;
      const data = [refundItem("M202604250020"), refundItem("M202604250021"), refundItem("M202604250022")];
      baidu.rowsAffectedFor("M202604250021", "0");
      const r = await relay.post(AFTER_SALE_ROUTES.update, body({ data }));
      const answer = answerFor(data, { M202604250021: "0" });
      assertError(r, 422, "baidu_items_rejected", { failedResourceIds: ["M202604250021"], baidu: answer });
      assert.equal(baidu.orderCenterCalls().length, 1, "no retry");
      const line = await logOf(relay, r.webhookId);
      assert.equal(line.outcome, "baidu_items_rejected");

      // rows_affected as numbers: 0 fails, 1 succeeds.
      baidu.reset();
      baidu.rowsAffectedFor("M202604250020", 0).rowsAffectedFor("M202604250022", 1);
      const r2 = await relay.post(AFTER_SALE_ROUTES.append, body({ data }));
      assertError(r2, 422, "baidu_items_rejected", { failedResourceIds: ["M202604250020"] });
      baidu.reset();
      baidu.rowsAffectedFor("M202604250020", 1);
      const r3 = await relay.post(AFTER_SALE_ROUTES.append, body({ data: [data[0]] }));
      assertDelivered(r3, SUCCESS([{ biz_app_id: APP_KEY, cate_id: 2, resource_id: "M202604250020", rows_affected: 1 }]));
    } finally {
      await pair.close();
    }
  });

  test("order center never answers → 502 upstream_unavailable (timeout), no retry", async () => {
    const pair = await pairUp({ BAIDU_TIMEOUT_MS: "500" });
    try {
      pair.baidu.respondNextAt(ORDER_CENTER_PATHS.update, "hang");
      const r = await pair.relay.post(AFTER_SALE_ROUTES.update, body());
      assertError(r, 502, "upstream_unavailable", { reason: "timeout" });
      assert.equal(pair.baidu.orderCenterCalls().length, 1);
    } finally {
      await pair.close();
    }
  });
});

describe("token endpoint failures", () => {
  test("invalid_client → 502 baidu_token_rejected naming the App Key and the payment appKey; no order-center call", async () => {
    const pair = await pairUp();
    try {
      const { relay, baidu } = pair;
      baidu.tokenEndpoint({ reject: true });
      const r = await relay.post(AFTER_SALE_ROUTES.update, body());
      assertError(r, 502, "baidu_token_rejected", { baiduError: "invalid_client" });
      assert.match(r.json.error.message, /App Key/);
      assert.match(r.json.error.message, /payment appKey/);
      assert.equal(baidu.tokenFetches, 1);
      assert.equal(baidu.orderCenterCalls().length, 0);
      assert.equal(JSON.parse(baidu.calls[0].answer.body).error, "invalid_client");
      assert.equal(baidu.calls[0].answer.status, 401);

      // A refusal is not cached: the next request asks again, and works once Baidu accepts.
      baidu.reset();
      const r2 = await relay.post(AFTER_SALE_ROUTES.update, body());
      assert.equal(r2.status, 200, r2.text);
      assert.equal(baidu.tokenFetches, 1);
    } finally {
      await pair.close();
    }
  });

  test("the payment appKey configured as BAIDU_APP_KEY is refused by the (verifying) token endpoint → baidu_token_rejected", async () => {
    const pair = await pairUp({ BAIDU_APP_KEY: PAY_APP_KEY });
    try {
      const r = await pair.relay.post(AFTER_SALE_ROUTES.update, body({ data: [refundItem("M1", { BizAPPID: PAY_APP_KEY })] }));
      assertError(r, 502, "baidu_token_rejected", { baiduError: "invalid_client" });
      assert.equal(pair.baidu.tokenCalls()[0].params.client_id, PAY_APP_KEY);
      assert.equal(pair.baidu.orderCenterCalls().length, 0);
    } finally {
      await pair.close();
    }
  });

  for (const [name, action, extra] of [
    ["HTTP 500", "http500", { reason: "http_status", upstreamStatus: 500 }],
    ["a non-JSON answer", "garbage", { reason: "invalid_answer", upstreamStatus: 200 }],
    ["no answer within BAIDU_TIMEOUT_MS", "hang", { reason: "timeout" }],
  ]) {
    test(`token endpoint: ${name} → 502 upstream_unavailable, no order-center call`, async () => {
      const pair = await pairUp({ BAIDU_TIMEOUT_MS: "500" });
      try {
        pair.baidu.respondNextAt(TOKEN_PATH, action);
        const r = await pair.relay.post(AFTER_SALE_ROUTES.update, body());
        assertError(r, 502, "upstream_unavailable", extra);
        assert.equal(pair.baidu.tokenFetches, 1);
        assert.equal(pair.baidu.orderCenterCalls().length, 0);
      } finally {
        await pair.close();
      }
    });
  }
});

describe("token cached in KV (TOKEN_CACHE)", () => {
  test("key baidu-access-token/v1/<app key>, {accessToken, refreshAtMs}; refreshAtMs = expires_in minus min(300 s, 10%)", async () => {
    for (const expiresIn of [2592000, 600]) {
      const pair = await pairUp({ fake: { openapi: { appKey: APP_KEY, appSecret: APP_SECRET, expiresIn } } });
      try {
        const t0 = Date.now();
        const r = await pair.relay.post(AFTER_SALE_ROUTES.update, body());
        const t1 = Date.now();
        assert.equal(r.status, 200, r.text);
        const kv = await pair.relay.mf.getKVNamespace("TOKEN_CACHE");
        const { keys } = await kv.list();
        assert.deepEqual(keys.map((k) => k.name), [KV_KEY]);
        const record = JSON.parse(await kv.get(KV_KEY));
        assert.deepEqual(Object.keys(record).sort(), ["accessToken", "refreshAtMs"]);
        assert.equal(record.accessToken, pair.baidu.issuedTokens[0]);
        const lifetime = (expiresIn - Math.min(300, expiresIn / 10)) * 1000;
        assert.ok(record.refreshAtMs >= t0 + lifetime - 1000 && record.refreshAtMs <= t1 + lifetime + 1000,
          `refreshAtMs ${record.refreshAtMs} not ≈ now + ${lifetime} ms`);
        assertNoLeak(JSON.stringify(record), [APP_SECRET], "the KV record");
      } finally {
        await pair.close();
      }
    }
  });

  test("a second relay instance sharing the KV persistence uses the cached token: no token fetch", async () => {
    const dir = tempDir();
    const baidu = await fakeBaidu();
    const a = await pairUp({ baidu, kvPersist: dir });
    let b;
    try {
      const r1 = await a.relay.post(AFTER_SALE_ROUTES.update, body());
      assert.equal(r1.status, 200, r1.text);
      assert.equal(baidu.tokenFetches, 1);
      const token = baidu.issuedTokens[0];
      await assertTokenLog(a.relay, r1, "baidu", token);

      // B runs at the same time as A, in its own workerd, on the same on-disk KV.
      b = await pairUp({ baidu, kvPersist: dir });
      baidu.reset();
      const r2 = await b.relay.post(AFTER_SALE_ROUTES.update, body());
      assert.equal(r2.status, 200, r2.text);
      assert.equal(baidu.tokenFetches, 0, "B found the token in KV");
      assert.equal(baidu.orderCenterCalls()[0].query.access_token, token);
      await assertTokenLog(b.relay, r2, "kv", token);
      const r3 = await b.relay.post(AFTER_SALE_ROUTES.update, body());
      await assertTokenLog(b.relay, r3, "isolate", token);
      assert.equal(baidu.tokenFetches, 0);
    } finally {
      await b?.close();
      await a.close();
      await baidu.close();
    }
  });

  test("a KV token Baidu refuses is skipped: one refresh, and KV then holds the fresh token", async () => {
    const dir = tempDir();
    const baidu = await fakeBaidu();
    const a = await pairUp({ baidu, kvPersist: dir });
    let aOpen = true;
    let b;
    try {
      assert.equal((await a.relay.post(AFTER_SALE_ROUTES.update, body())).status, 200);
      const old = baidu.issuedTokens[0];
      await a.close();
      aOpen = false;
      baidu.expireTokens();
      baidu.reset();
      b = await pairUp({ baidu, kvPersist: dir });
      const r = await b.relay.post(AFTER_SALE_ROUTES.update, body());
      assert.equal(r.status, 200, r.text);
      assert.equal(baidu.tokenFetches, 1);
      const calls = baidu.orderCenterCalls();
      assert.deepEqual(calls.map((c) => c.query.access_token), [old, baidu.issuedTokens[1]]);
      await assertTokenLog(b.relay, r, "baidu", baidu.issuedTokens[1], { tokenRefreshed: true });
      const kv = await b.relay.mf.getKVNamespace("TOKEN_CACHE");
      assert.equal(JSON.parse(await kv.get(KV_KEY)).accessToken, baidu.issuedTokens[1]);
    } finally {
      await b?.close();
      if (aOpen) await a.close();
      await baidu.close();
    }
  });

  test("a KV record past its refreshAtMs is not used; a fresh token is fetched", async () => {
    const pair = await pairUp();
    try {
      const kv = await pair.relay.mf.getKVNamespace("TOKEN_CACHE");
      await kv.put(KV_KEY, JSON.stringify({ accessToken: "24.stale.2592000.1", refreshAtMs: Date.now() - 1000 }));
      const r = await pair.relay.post(AFTER_SALE_ROUTES.update, body());
      assert.equal(r.status, 200, r.text);
      assert.equal(pair.baidu.tokenFetches, 1);
      assert.equal(pair.baidu.orderCenterCalls().length, 1);
      assert.equal(pair.baidu.orderCenterCalls()[0].query.access_token, pair.baidu.issuedTokens[0]);
      await assertTokenLog(pair.relay, r, "baidu", pair.baidu.issuedTokens[0]);
    } finally {
      await pair.close();
    }
  });

  test("without the KV binding the relay still works (isolate cache only)", async () => {
    const pair = await pairUp({ kv: false });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await pair.relay.post(AFTER_SALE_ROUTES.update, body())).status, 200);
      assert.equal(pair.baidu.tokenFetches, 1);
    } finally {
      await pair.close();
    }
  });
});

describe("bad inputs reach neither the token endpoint nor the order center", () => {
  let pair;
  before(async () => { pair = await pairUp(); });
  after(async () => { await pair?.close(); });

  const U = AFTER_SALE_ROUTES.update;
  const item = () => refundItem();
  const withItem = (mutate) => { const i = item(); mutate(i); return body({ data: [i] }); };
  const twoSubOrders = (mutate) => withItem((i) => {
    i.EXT.SubsOrder.Items.push({ ...structuredClone(i.EXT.SubsOrder.Items[0]), SubOrderID: "M202604250001-AS2" });
    mutate(i.EXT.SubsOrder.Items[1]);
  });
  const { openId, ...noOpenId } = body();

  // [name, route, body (object or raw string), status, code, extra, post options]
  const cases = [
    ["missing openId", U, noOpenId, 422, "missing_field", { field: "openId" }],
    ["openId a number", U, body({ openId: 123 }), 422, "invalid_field", { field: "openId" }],
    ["missing sceneId", U, (() => { const { sceneId, ...b } = body(); return b; })(), 422, "missing_field", { field: "sceneId" }],
    ['sceneId "abc"', U, body({ sceneId: "abc" }), 422, "invalid_field", { field: "sceneId" }],
    ["sceneId -1", U, body({ sceneId: -1 }), 422, "invalid_field", { field: "sceneId" }],
    ["sceneId 1.5", U, body({ sceneId: 1.5 }), 422, "invalid_field", { field: "sceneId" }],
    ["missing data", U, { openId: OPEN_ID, sceneId: SCENE_ID }, 422, "missing_field", { field: "data" }],
    ["data empty", U, body({ data: [] }), 422, "invalid_field", { field: "data" }],
    ["data not an array", U, body({ data: item() }), 422, "invalid_field", { field: "data" }],
    ["data with 101 items", U, body({ data: Array.from({ length: 101 }, () => item()) }), 422, "invalid_field", { field: "data" }],
    ["data[0] not an object", U, body({ data: ["M1"] }), 422, "invalid_field", { field: "data[0]" }],
    ["missing CateID", U, withItem((i) => delete i.CateID), 422, "missing_field", { field: "data[0].CateID" }],
    ['CateID "2" (a string)', U, withItem((i) => { i.CateID = "2"; }), 422, "invalid_field", { field: "data[0].CateID" }],
    ["CateID -2", U, withItem((i) => { i.CateID = -2; }), 422, "invalid_field", { field: "data[0].CateID" }],
    ["missing ResourceID", U, withItem((i) => delete i.ResourceID), 422, "missing_field", { field: "data[0].ResourceID" }],
    ["ResourceID a number", U, withItem((i) => { i.ResourceID = 1001; }), 422, "invalid_field", { field: "data[0].ResourceID" }],
    ["ResourceID empty", U, withItem((i) => { i.ResourceID = ""; }), 422, "invalid_field", { field: "data[0].ResourceID" }],
    ["BizAPPID another app's key", U, withItem((i) => { i.BizAPPID = "ZZZcoAqgCIUtzIyA4FAPgoyrc4oUc25c"; }), 422, "invalid_field", { field: "data[0].BizAPPID" }],
    ["BizAPPID the payment appKey", U, withItem((i) => { i.BizAPPID = PAY_APP_KEY; }), 422, "invalid_field", { field: "data[0].BizAPPID" }],
    ["missing EXT", U, withItem((i) => delete i.EXT), 422, "missing_field", { field: "data[0].EXT" }],
    ["EXT.SubsOrder not an object", U, withItem((i) => { i.EXT.SubsOrder = []; }), 422, "invalid_field", { field: "data[0].EXT.SubsOrder" }],
    ['EXT.SubsOrder.Status "402"', U, withItem((i) => { i.EXT.SubsOrder.Status = "402"; }), 422, "invalid_field", { field: "data[0].EXT.SubsOrder.Status" }],
    ["missing Items for update", U, withItem((i) => delete i.EXT.SubsOrder.Items), 422, "missing_field", { field: "data[0].EXT.SubsOrder.Items" }],
    ["missing Items for append", AFTER_SALE_ROUTES.append, withItem((i) => delete i.EXT.SubsOrder.Items), 422, "missing_field", { field: "data[0].EXT.SubsOrder.Items" }],
    ["Items empty", U, withItem((i) => { i.EXT.SubsOrder.Items = []; }), 422, "invalid_field", { field: "data[0].EXT.SubsOrder.Items" }],
    ["Items[0].SubOrderID a number", U, withItem((i) => { i.EXT.SubsOrder.Items[0].SubOrderID = 1; }), 422, "invalid_field", { field: "data[0].EXT.SubsOrder.Items[0].SubOrderID" }],
    ["Items[0].CTime missing for update", U, withItem((i) => delete i.EXT.SubsOrder.Items[0].CTime), 422, "missing_field", { field: "data[0].EXT.SubsOrder.Items[0].CTime" }],
    ["Items[0].OrderType 1.5", U, withItem((i) => { i.EXT.SubsOrder.Items[0].OrderType = 1.5; }), 422, "invalid_field", { field: "data[0].EXT.SubsOrder.Items[0].OrderType" }],
    ["Items[0].OrderDetail.Name a number", U, withItem((i) => { i.EXT.SubsOrder.Items[0].OrderDetail.Name = 5; }), 422, "invalid_field", { field: "data[0].EXT.SubsOrder.Items[0].OrderDetail.Name" }],
    ['Items[1].Refund.Amount "100"', U, twoSubOrders((s) => { s.Refund.Amount = "100"; }), 422, "invalid_field", { field: "data[0].EXT.SubsOrder.Items[1].Refund.Amount" }],
    ["Items[1].Refund.Amount missing", U, twoSubOrders((s) => { delete s.Refund.Amount; }), 422, "missing_field", { field: "data[0].EXT.SubsOrder.Items[1].Refund.Amount" }],
    ['Items[1].Refund.Product[0].Quantity "1"', U, twoSubOrders((s) => { s.Refund.Product[0].Quantity = "1"; }), 422, "invalid_field", { field: "data[0].EXT.SubsOrder.Items[1].Refund.Product[0].Quantity" }],
    ["Items[0].SubStatus missing for status", AFTER_SALE_ROUTES.status, withItem((i) => delete i.EXT.SubsOrder.Items[0].SubStatus), 422, "missing_field", { field: "data[0].EXT.SubsOrder.Items[0].SubStatus" }],
    ["first bad field wins (data[1] before data[2])", U, body({ data: [item(), refundItem("M2", { CateID: "x" }), refundItem("M3", { ResourceID: 3 })] }), 422, "invalid_field", { field: "data[1].CateID" }],
    ["invalid JSON", U, '{"openId":"o","sceneId":', 400, "invalid_json"],
    ["JSON array", U, JSON.stringify([body()]), 400, "invalid_json"],
    ["bad signature", U, body(), 401, "invalid_webhook_signature", {}, { secret: newSecret() }],
    ["unsigned", U, body(), 401, "missing_webhook_header", {}, { secret: false }],
    ["wrong content type (text/plain)", U, body(), 415, "unsupported_media_type", {}, { contentType: "text/plain" }],
    ["body over 65536 bytes", U, body({ data: [refundItem("M1", { Pad: "x".repeat(65536) })] }), 413, "payload_too_large"],
    ["GET on an after-sale route", U, null, 405, "method_not_allowed"],
    ["unknown after-sale route", "/v1/after-sale/delete", body(), 404, "not_found"],
  ];

  for (const [name, route, b, status, code, extra = {}, options = {}] of cases) {
    test(`${name} → ${status} ${code}`, async () => {
      const { relay, baidu } = pair;
      const r = b === null ? await relay.get(route) : await relay.post(route, b, options);
      assertError(r, status, code, extra);
      if (code === "method_not_allowed") assert.match(r.headers.get("allow") ?? "", /POST/);
      assert.equal(baidu.calls.length, 0, `Baidu saw ${baidu.calls.map((c) => c.path).join(", ")}`);
    });
  }

  test("(after all of the above) missing Items is fine for status → delivered", async () => {
    const { relay, baidu } = pair;
    assert.equal(baidu.calls.length, 0);
    const i = item();
    delete i.EXT.SubsOrder.Items;
    const r = await relay.post(AFTER_SALE_ROUTES.status, body({ data: [i] }));
    assertDelivered(r, answerFor([i]));
    assert.equal(baidu.tokenFetches, 1);
    assertOrderCenterCall(baidu.orderCenterCalls()[0], { kind: "status", token: baidu.issuedTokens[0], data: [i] });
  });
});

describe("timing", () => {
  test("one relayed update in local workerd, median of 20 sequential requests", async (t) => {
    const pair = await pairUp();
    try {
      const warmUp = await pair.relay.post(AFTER_SALE_ROUTES.update, body()); // token fetch, isolate start
      assert.equal(warmUp.status, 200, warmUp.text);
      const times = [];
      for (let i = 0; i < 20; i++) {
        const r = await pair.relay.post(AFTER_SALE_ROUTES.update, body());
        assert.equal(r.status, 200, r.text);
        times.push(r.ms);
      }
      assert.equal(pair.baidu.tokenFetches, 1);
      times.sort((a, b) => a - b);
      const median = (times[9] + times[10]) / 2;
      const line = `after-sale update: median ${median.toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times.at(-1).toFixed(1)} ms over 20 (merchant → relay → fake order center → merchant, cached token, local HTTP)`;
      console.log(`# ${line}`);
      t.diagnostic(line);
    } finally {
      await pair.close();
    }
  });
});

test("no access token (beyond its last 4 characters) and never the App Secret in any answer or log line of this file", () => {
  const tokens = [...seen.fakes].flatMap((f) => f.issuedTokens);
  assert.ok(tokens.length >= 10, `only ${tokens.length} tokens issued?`);
  const needles = [APP_SECRET, ...tokens, ...tokens.map((tk) => tk.split(".")[1])];
  assert.ok(seen.responses.length > 100);
  for (const r of seen.responses) assertNoLeak(r.text, needles, `an answer (${r.status})`);
  let lines = 0;
  for (const relay of seen.relays) {
    for (const l of relay.logs) {
      lines++;
      assertNoLeak(l.message, needles, `log line ${JSON.stringify(l.message.slice(0, 80))}`);
    }
    for (const line of relay.requestLogs()) {
      if (line.tokenSource !== undefined) assert.ok(["baidu", "isolate", "kv"].includes(line.tokenSource), JSON.stringify(line));
      if (line.tokenLast4 !== undefined) assert.equal(line.tokenLast4.length, 4, JSON.stringify(line));
      if (line.outcome === "delivered" && line.route.startsWith("/v1/after-sale/")) {
        assert.ok(line.tokenSource, `a delivered after-sale request logs its tokenSource: ${JSON.stringify(line)}`);
      }
    }
  }
  assert.ok(lines > 100);
  // The App Secret only ever travels in the token request's body.
  assert.ok(seen.baiduCalls.length > 100);
  for (const c of seen.baiduCalls) {
    const where = c.kind === "token" ? { q: c.query, h: c.headers } : { q: c.query, b: c.rawBody, h: c.headers };
    assertNoLeak(JSON.stringify(where), [APP_SECRET], `a ${c.kind} call to ${c.path}`);
  }
});
