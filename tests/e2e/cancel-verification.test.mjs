// POST /v1/cancel-verification end to end: merchant webhook → relay (workerd) → fake Baidu over HTTP.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  prepareBuild, startPair, startRelay, startFakeBaidu, bindingsFor, assertError, closedPort,
  KEYS, ORDER, ROUTE, PATHS, U64_MAX, publicKeyOf,
} from "../support/e2e.mjs";
import { vector } from "../support/vectors.mjs";

let buildDir;
before(async () => { buildDir = await prepareBuild(); });

// Known answers from tests/vectors/signing.json, by key name and API.
const KNOWN = {
  "baidu-doc-sample-1024/etrade": "cancel-verification-new-host",
  "baidu-doc-sample-1024/nuomi": "cancel-verification-legacy-host",
  "test-2048/etrade": "cancel-verification-2048",
};

function assertDelivered(r, baiduAnswer = { errno: 0, msg: "success", data: [] }) {
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { id: r.webhookId, status: "delivered", baidu: baiduAnswer });
}

/** The one call the fake saw, checked against the contract's form. */
function assertOneCall(baidu, { api, appKey, orderId = String(ORDER.orderId), userId = String(ORDER.userId) }) {
  assert.equal(baidu.calls.length, 1, `Baidu saw ${baidu.calls.length} calls`);
  const call = baidu.calls[0];
  assert.equal(call.method, "POST");
  assert.equal(call.path, PATHS[api]);
  assert.deepEqual(call.query, {}, "nothing in the query string");
  assert.equal(call.headers["content-type"], "application/x-www-form-urlencoded; charset=UTF-8");
  const keys = call.paramList.map(([k]) => k);
  assert.equal(new Set(keys).size, keys.length, `duplicate form parameters: ${keys}`);
  const expected = { orderId, userId, type: "3", appKey, rsaSign: call.params.rsaSign };
  if (api === "nuomi") expected.method = "nuomi.cashier.syncorderstatus";
  assert.deepEqual(call.params, expected);
  assert.match(call.params.rsaSign, /^[A-Za-z0-9+/]+={0,2}$/, "rsaSign is standard base64, no line breaks");
  assert.equal(call.signatureValid, true, `signature does not verify over ${call.canonical}`);
  return call;
}

describe("signing: every key form × cashier API", () => {
  for (const [label, key] of Object.entries(KEYS)) {
    for (const api of ["etrade", "nuomi"]) {
      test(`${label}, ${api}`, async () => {
        const pair = await startPair({ buildDir, key, api });
        try {
          const r = await pair.relay.post(ROUTE, ORDER);
          assertDelivered(r);
          const call = assertOneCall(pair.baidu, { api, appKey: key.appKey });
          const known = KNOWN[`${key.name}/${api}`];
          if (known) {
            const v = vector(known);
            assert.equal(call.canonical, v.canonical);
            assert.equal(call.params.rsaSign, v.rsaSign, `rsaSign differs from vector ${known}`);
          }
        } finally {
          await pair.close();
        }
      });
    }
  }
});

describe("order and user ids", () => {
  let pair;
  before(async () => { pair = await startPair({ buildDir }); });
  after(async () => { await pair?.close(); });

  const cases = [
    ["digit strings", JSON.stringify({ orderId: "2636635856", userId: "4188819900" }), "2636635856", "4188819900"],
    ["string and number mixed", JSON.stringify({ orderId: "2636635856", userId: 4188819900 }), "2636635856", "4188819900"],
    ["u64::MAX as JSON numbers", `{"orderId":${U64_MAX},"userId":${U64_MAX}}`, U64_MAX, U64_MAX],
    ["u64::MAX as strings", `{"orderId":"${U64_MAX}","userId":"${U64_MAX}"}`, U64_MAX, U64_MAX],
    ["1", `{"orderId":1,"userId":1}`, "1", "1"],
    ["unknown fields are ignored", `{"orderId":2636635856,"userId":4188819900,"note":"hi","nested":{"a":[1,2]}}`, "2636635856", "4188819900"],
    ["whitespace around JSON", ` \n{ "orderId" : 2636635856 , "userId" : 4188819900 }\n `, "2636635856", "4188819900"],
  ];
  for (const [name, body, orderId, userId] of cases) {
    test(name, async () => {
      pair.baidu.reset();
      const r = await pair.relay.post(ROUTE, body);
      assertDelivered(r);
      assertOneCall(pair.baidu, { api: "etrade", appKey: "MMMabc", orderId, userId });
    });
  }

  test("content type with a charset parameter is application/json", async () => {
    pair.baidu.reset();
    const r = await pair.relay.post(ROUTE, ORDER, { contentType: "application/json; charset=utf-8" });
    assertDelivered(r);
    assert.equal(pair.baidu.calls.length, 1);
  });
});

describe("Baidu's answers map to the contract", () => {
  let pair;
  before(async () => { pair = await startPair({ buildDir }); });
  after(async () => { await pair?.close(); });

  const baiduCases = [
    ["errno 10002", { errno: 10002, msg: "订单不存在" }, 422, "baidu_order_not_found"],
    ["errno 10003, balance", { errno: 10003, msg: "企业余额不足" }, 409, "baidu_insufficient_balance"],
    ["errno 10003, internal error", { errno: 10003, msg: "内部错误，请稍后重试" }, 503, "baidu_internal_error"],
    ["errno 10000", { errno: 10000, msg: "sign verify failed" }, 502, "baidu_signature_rejected"],
    ["errno 10001", { errno: 10001, msg: "参数错误" }, 422, "baidu_bad_parameter"],
    ["errno 12345", { errno: 12345, msg: "something new" }, 502, "baidu_error"],
    ["gateway errno 970", { errno: 970, msg: "no permission" }, 502, "baidu_error"],
  ];
  for (const [name, answer, status, code] of baiduCases) {
    test(`${name} → ${status} ${code}`, async () => {
      pair.baidu.reset();
      pair.baidu.respondNext(answer);
      const r = await pair.relay.post(ROUTE, ORDER);
      assertError(r, status, code, { baiduErrno: answer.errno, baiduMsg: answer.msg });
      assert.equal(pair.baidu.calls.length, 1, "exactly one call, no retry");
    });
  }

  test("success passes Baidu's answer through unchanged", async () => {
    pair.baidu.reset();
    const answer = { errno: 0, msg: "success", data: { extra: [1, "二"] } };
    pair.baidu.respondNext(answer);
    const r = await pair.relay.post(ROUTE, ORDER);
    assertDelivered(r, answer);
  });

  test("a real (non-scripted) wrong signature is reported as baidu_signature_rejected", async () => {
    // The fake verifies with the 2048 test key while the relay signs with the 1024 one.
    const baidu = await startFakeBaidu({ publicKey: publicKeyOf("test-2048") });
    const relay = await startRelay({ buildDir, bindings: bindingsFor({ baidu, key: KEYS["1024 PKCS#1 PEM"] }) });
    try {
      const r = await relay.post(ROUTE, ORDER);
      assertError(r, 502, "baidu_signature_rejected", { baiduErrno: 10000, baiduMsg: "sign verify failed" });
      assert.equal(baidu.calls[0].signatureValid, false);
    } finally {
      await relay.close();
      await baidu.close();
    }
  });

  test("HTTP 500 → 502 upstream_unavailable (http_status)", async () => {
    pair.baidu.reset();
    pair.baidu.respondNext("http500");
    const r = await pair.relay.post(ROUTE, ORDER);
    assertError(r, 502, "upstream_unavailable", { reason: "http_status", upstreamStatus: 500 });
    assert.equal(pair.baidu.calls.length, 1);
  });

  test("HTTP 404 with an HTML page → 502 upstream_unavailable (http_status)", async () => {
    pair.baidu.reset();
    pair.baidu.respondNext({ status: 404, headers: { "content-type": "text/html" }, body: "<html>404</html>" });
    const r = await pair.relay.post(ROUTE, ORDER);
    assertError(r, 502, "upstream_unavailable", { reason: "http_status", upstreamStatus: 404 });
  });

  test("a non-JSON answer → 502 upstream_unavailable (invalid_answer)", async () => {
    pair.baidu.reset();
    pair.baidu.respondNext("garbage");
    const r = await pair.relay.post(ROUTE, ORDER);
    assertError(r, 502, "upstream_unavailable", { reason: "invalid_answer", upstreamStatus: 200 });
    assert.equal(pair.baidu.calls.length, 1);
  });

  test("connection dropped without an answer → 502 upstream_unavailable", async () => {
    pair.baidu.reset();
    pair.baidu.respondNext("destroy");
    const r = await pair.relay.post(ROUTE, ORDER);
    assertError(r, 502, "upstream_unavailable");
    assert.ok(["unreachable", "invalid_answer"].includes(r.json.error.reason), `reason ${r.json.error.reason}`);
    assert.equal(pair.baidu.calls.length, 1, "no retry");
  });

  test("nothing listening → 502 upstream_unavailable (unreachable)", async () => {
    const port = await closedPort();
    const relay = await startRelay({
      buildDir,
      bindings: bindingsFor({ BAIDU_CASHIER_URL: `http://127.0.0.1:${port}${PATHS.etrade}` }),
    });
    try {
      const r = await relay.post(ROUTE, ORDER);
      assertError(r, 502, "upstream_unavailable", { reason: "unreachable" });
      assert.equal(r.json.error.upstreamStatus, undefined, "no upstream status when nothing answered");
    } finally {
      await relay.close();
    }
  });

  test("Baidu never answers → 502 upstream_unavailable (timeout) after BAIDU_TIMEOUT_MS", async () => {
    const pair2 = await startPair({ buildDir, BAIDU_TIMEOUT_MS: "500" });
    try {
      pair2.baidu.respondNext("hang");
      const r = await pair2.relay.post(ROUTE, ORDER);
      assertError(r, 502, "upstream_unavailable", { reason: "timeout" });
      assert.ok(r.ms >= 450, `answered after ${r.ms.toFixed(0)} ms, before the 500 ms timeout`);
      assert.ok(r.ms < 5000, `answered after ${r.ms.toFixed(0)} ms`);
      assert.equal(pair2.baidu.calls.length, 1, "no retry");
    } finally {
      await pair2.close();
    }
  });
});

describe("timing", () => {
  test("one relayed request (1024 and 2048-bit keys), median of 20", async (t) => {
    for (const label of ["1024 PKCS#1 PEM", "2048 PKCS#1 PEM"]) {
      const pair = await startPair({ buildDir, key: KEYS[label] });
      try {
        await pair.relay.post(ROUTE, ORDER); // warm-up: key import, isolate start
        const times = [];
        for (let i = 0; i < 20; i++) {
          const r = await pair.relay.post(ROUTE, ORDER);
          assert.equal(r.status, 200, r.text);
          times.push(r.ms);
        }
        times.sort((a, b) => a - b);
        t.diagnostic(`${label}: median ${times[10].toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times.at(-1).toFixed(1)} ms (merchant → relay → fake Baidu → merchant, over local HTTP)`);
      } finally {
        await pair.close();
      }
    }
  });
});
