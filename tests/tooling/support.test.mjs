// Self-tests of the test support code (fake Baidu, webhook signer). No worker involved.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { startFakeBaidu, canonicalString, verifySignature, toPublicKey, evenIfInvalid, TOKEN_PATH, ORDER_CENTER_PATHS } from "../../sandbox/fake-baidu.mjs";
import { sign, signature, newSecret, secretKey } from "../../sandbox/webhook.mjs";
import { keyPem, pemBody, signingVectors, callbackVector, rsaSignParams, vector } from "../support/vectors.mjs";

function form(params) {
  return new URLSearchParams(Object.entries(params)).toString();
}

async function postForm(url, params, extraHeaders = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded; charset=UTF-8", ...extraHeaders },
    body: form(params),
  });
  return { status: res.status, text: await res.text() };
}

describe("webhook signer", () => {
  test("matches the Standard Webhooks reference vector", () => {
    // From the Standard Webhooks specification / reference libraries' test suite.
    const headers = sign({
      secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
    });
    assert.deepEqual(headers, {
      "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
      "webhook-timestamp": "1614265330",
      "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    });
  });

  test("several secrets give several space-separated entries", () => {
    const a = newSecret();
    const b = newSecret();
    assert.match(a, /^whsec_[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(secretKey(a).length, 32);
    const h = sign({ secret: [a, b], id: "msg_1", timestamp: 1, body: "{}" });
    assert.equal(h["webhook-signature"], `${signature({ secret: a, id: "msg_1", timestamp: 1, body: "{}" })} ${signature({ secret: b, id: "msg_1", timestamp: 1, body: "{}" })}`);
  });
});

describe("canonical string and verification", () => {
  for (const v of signingVectors) {
    test(`vector ${v.name}`, () => {
      assert.equal(canonicalString(v.params), v.canonical);
      assert.equal(rsaSignParams(v.params, keyPem(v.key, "pkcs8")), v.rsaSign);
      assert.equal(rsaSignParams(v.params, keyPem(v.key, "pkcs1")), v.rsaSign);
      assert.equal(verifySignature(v.canonical, v.rsaSign, keyPem(v.key, "pub")), true);
      assert.equal(verifySignature(v.canonical, v.rsaSign, pemBody(keyPem(v.key, "pub"))), true);
      assert.equal(verifySignature(v.canonical + "x", v.rsaSign, keyPem(v.key, "pub")), false);
    });
  }

  test("Baidu's real callback verifies with the platform key, and fails without the empty values", () => {
    const { params, canonical, platform_public_key_spki_base64: pub } = callbackVector;
    assert.equal(canonicalString(params), canonical);
    assert.equal(verifySignature(canonical, params.rsaSign, pub), true);
    const dropped = Object.entries(params).filter(([, v]) => v !== "");
    assert.equal(verifySignature(canonicalString(dropped), params.rsaSign, pub), false);
  });

  test("malformed signatures are false, not exceptions", () => {
    const pub = keyPem("test-2048", "pub");
    for (const s of [undefined, "", "!!!", "abc", "YWJj\nZA=="]) assert.equal(verifySignature("a=b", s, pub), false);
  });

  test("public key forms", () => {
    const pem = keyPem("test-2048", "pub");
    const body = pemBody(pem);
    const escaped = pem.trim().replace(/\n/g, "\\n");
    for (const k of [pem, body, escaped, ` ${body.slice(0, 10)}\n${body.slice(10)} `]) {
      assert.equal(toPublicKey(k).asymmetricKeyDetails.modulusLength, 2048);
    }
  });
});

describe("fake Baidu", () => {
  const pub = keyPem("baidu-doc-sample-1024", "pub");
  const priv = keyPem("baidu-doc-sample-1024", "pkcs1");
  let baidu;
  before(async () => { baidu = await startFakeBaidu({ publicKey: pub }); });
  after(async () => { await baidu.close(); });

  function signedParams(params) {
    return { ...params, rsaSign: rsaSignParams(params, priv) };
  }

  test("valid signature → errno 0, and the call is recorded", async () => {
    baidu.reset();
    const v = vector("cancel-verification-new-host");
    const r = await postForm(`${baidu.url}/cashier/syncOrderStatus`, { ...v.params, rsaSign: v.rsaSign });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text), { errno: 0, msg: "success", data: [] });
    assert.equal(baidu.calls.length, 1);
    const c = baidu.calls[0];
    assert.equal(c.method, "POST");
    assert.equal(c.path, "/cashier/syncOrderStatus");
    assert.equal(c.headers["content-type"], "application/x-www-form-urlencoded; charset=UTF-8");
    assert.deepEqual(c.params, { ...v.params, rsaSign: v.rsaSign });
    assert.equal(c.canonical, v.canonical);
    assert.equal(c.signatureValid, true);
  });

  test("invalid signature → errno 10000", async () => {
    baidu.reset();
    const p = signedParams({ orderId: "1", userId: "2", type: "3", appKey: "MMMabc" });
    p.userId = "3";
    const r = await postForm(`${baidu.url}/cashier/syncOrderStatus`, p);
    assert.deepEqual(JSON.parse(r.text), { errno: 10000, msg: "sign verify failed", data: [] });
    assert.equal(baidu.calls[0].signatureValid, false);
  });

  test("UTF-8 values and empty values, url-encoded on the wire", async () => {
    const fake2048 = await startFakeBaidu({ publicKey: pemBody(keyPem("test-2048", "pub")) });
    try {
      for (const name of ["utf8-raw", "excluded-and-empty"]) {
        const v = vector(name);
        const params = { ...v.params, rsaSign: v.rsaSign };
        const r = await postForm(`${fake2048.url}/nop/server/rest`, params);
        assert.equal(JSON.parse(r.text).errno, 0, name);
        const c = fake2048.calls.at(-1);
        assert.equal(c.canonical, v.canonical);
        assert.equal(c.signatureValid, true);
      }
    } finally {
      await fake2048.close();
    }
  });

  test("scripted answers: next call, then per orderId", async () => {
    baidu.reset();
    const url = `${baidu.url}/cashier/syncOrderStatus`;
    const p = signedParams({ orderId: "42", userId: "2", type: "3", appKey: "MMMabc" });
    baidu.respondNext({ errno: 10002, msg: "order not found" }, "http500", "garbage");
    baidu.respondForOrder(42, { errno: 10003, msg: "企业余额不足" }, { times: 1 });
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await postForm(url, p));
    assert.deepEqual(JSON.parse(answers[0].text), { errno: 10002, msg: "order not found", data: [] });
    assert.equal(answers[1].status, 500);
    assert.equal(answers[2].status, 200);
    assert.throws(() => JSON.parse(answers[2].text));
    assert.deepEqual(JSON.parse(answers[3].text), { errno: 10003, msg: "企业余额不足", data: [] });
    assert.deepEqual(JSON.parse(answers[4].text), { errno: 0, msg: "success", data: [] });
    assert.equal(baidu.calls.length, 5);
  });

  test("destroy → the client sees a network error", async () => {
    baidu.reset();
    baidu.respondNext("destroy");
    await assert.rejects(postForm(`${baidu.url}/cashier/syncOrderStatus`, signedParams({ orderId: "1", userId: "2", type: "3", appKey: "MMMabc" })));
    assert.equal(baidu.calls.length, 1);
  });

  test("hang → no answer, and close() ends it promptly", async () => {
    const fake = await startFakeBaidu({ publicKey: pub });
    fake.respondNext("hang");
    const pending = postForm(`${fake.url}/cashier/syncOrderStatus`, signedParams({ orderId: "1", userId: "2", type: "3", appKey: "MMMabc" })).then(() => "answered", () => "failed");
    await fake.waitForCalls(1);
    const raced = await Promise.race([pending, new Promise((r) => setTimeout(() => r("still hanging"), 300))]);
    assert.equal(raced, "still hanging");
    const t0 = Date.now();
    await fake.close();
    assert.equal(await pending, "failed");
    assert.ok(Date.now() - t0 < 1000, "close() must not wait for the hanging request");
  });

  test("routes by path (valid calls only), 404 otherwise", async () => {
    baidu.reset();
    baidu.route("/oauth/2.0/token", (call) => ({ json: { access_token: "t", expires_in: 2592000, got: call.params.client_id } }));
    const creds = { grant_type: "client_credentials", client_id: "abc", client_secret: "s", scope: "smartapp_snsapi_base" };
    const r = await postForm(`${baidu.url}/oauth/2.0/token`, creds);
    assert.deepEqual(JSON.parse(r.text), { access_token: "t", expires_in: 2592000, got: "abc" });
    // Credentials in the URL (and no body): Baidu's own refusal, the route is not consulted.
    const bad = await fetch(`${baidu.url}/oauth/2.0/token?grant_type=client_credentials&client_id=abc`);
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error, "unsupported_grant_type");
    baidu.route("/cashier/syncOrderStatus", () => ({ errno: 0, msg: "routed", data: [] }));
    const routed = await postForm(`${baidu.url}/cashier/syncOrderStatus`, signedParams({ orderId: "1", userId: "2", type: "3", appKey: "MMMabc" }));
    assert.equal(JSON.parse(routed.text).msg, "routed");
    const unsigned = await postForm(`${baidu.url}/cashier/syncOrderStatus`, { orderId: "1", userId: "2", type: "3", appKey: "MMMabc", rsaSign: "AAAA" });
    assert.deepEqual(JSON.parse(unsigned.text), { errno: 10000, msg: "sign verify failed", data: [] });
    // Not a Baidu path: nothing to verify, routed for every call.
    baidu.route("/results", () => ({ json: { received: true } }));
    const results = await fetch(`${baidu.url}/results`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    assert.deepEqual(await results.json(), { received: true });
    const r2 = await fetch(`${baidu.url}/nowhere`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    assert.equal(r2.status, 404);
    await r2.text();
    assert.deepEqual(baidu.calls.map((c) => c.path), ["/oauth/2.0/token", "/oauth/2.0/token", "/cashier/syncOrderStatus", "/cashier/syncOrderStatus", "/results", "/nowhere"]);
    assert.deepEqual(baidu.calls.map((c) => c.valid), [true, false, true, false, true, true]);
    assert.deepEqual(baidu.calls[5].json, {});
  });

  test("fails closed: a bad signature gets 10000 whatever is scripted, and leaves the script for the next valid call", async () => {
    const fake = await startFakeBaidu({ publicKey: pub });
    try {
      const url = `${fake.url}/cashier/syncOrderStatus`;
      const good = signedParams({ orderId: "7", userId: "2", type: "3", appKey: "MMMabc" });
      const forged = { ...good, userId: "3" };
      const wrongKey = { ...good, rsaSign: rsaSignParams({ orderId: "7", userId: "2", type: "3", appKey: "MMMabc" }, keyPem("test-2048", "pkcs8")) };
      const { rsaSign, ...unsigned } = good;
      fake.respondNext({ errno: 0, msg: "scripted next", data: [] });
      fake.respondForOrder("7", { errno: 0, msg: "scripted for order", data: [] }, { times: 1 });
      fake.route("/cashier/syncOrderStatus", () => ({ errno: 0, msg: "routed", data: [] }));
      for (const p of [forged, wrongKey, unsigned, {}]) {
        const r = await postForm(url, p);
        assert.deepEqual(JSON.parse(r.text), { errno: 10000, msg: "sign verify failed", data: [] }, JSON.stringify(p));
      }
      const json = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(good) });
      assert.equal((await json.json()).errno, 10000, "a JSON body is not a signed form");
      assert.deepEqual(fake.calls.map((c) => c.valid), [false, false, false, false, false]);
      assert.match(fake.calls[0].invalidReason, /rsaSign/);
      // Nothing was consumed: the valid calls get the scripts, in order, then the route.
      const msgs = [];
      for (let i = 0; i < 3; i++) msgs.push(JSON.parse((await postForm(url, good)).text).msg);
      assert.deepEqual(msgs, ["scripted next", "scripted for order", "routed"]);
    } finally {
      await fake.close();
    }
  });

  test("fails closed: without a public key no cashier call is valid", async () => {
    const fake = await startFakeBaidu();
    try {
      fake.respondNext({ errno: 0, msg: "success", data: [] });
      const r = await postForm(`${fake.url}/cashier/syncOrderStatus`, signedParams({ orderId: "1", userId: "2", type: "3", appKey: "MMMabc" }));
      assert.equal(JSON.parse(r.text).errno, 10000);
    } finally {
      await fake.close();
    }
  });

  test("the explicit opt-out: evenIfInvalid(action) and route(..., { evenIfInvalid: true }) answer an invalid call", async () => {
    const fake = await startFakeBaidu({ publicKey: pub });
    try {
      const url = `${fake.url}/cashier/syncOrderStatus`;
      const forged = { ...signedParams({ orderId: "8", userId: "2", type: "3", appKey: "MMMabc" }), userId: "3" };
      fake.respondNext(evenIfInvalid("http500"));
      assert.equal((await postForm(url, forged)).status, 500);
      fake.respondForOrder("8", evenIfInvalid({ errno: 10001, msg: "scripted" }), { times: 1 });
      assert.equal(JSON.parse((await postForm(url, forged)).text).errno, 10001);
      assert.equal(JSON.parse((await postForm(url, forged)).text).errno, 10000, "times: 1 was used up");
      fake.route("/cashier/syncOrderStatus", (call) => ({ errno: 0, msg: `routed ${call.valid}`, data: [] }), { evenIfInvalid: true });
      assert.equal(JSON.parse((await postForm(url, forged)).text).msg, "routed false");
    } finally {
      await fake.close();
    }
  });

  test("close() frees the port", async () => {
    const fake = await startFakeBaidu({ publicKey: pub });
    const port = fake.port;
    await fake.close();
    await new Promise((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => s.close(resolve));
    });
  });
});

describe("fake Baidu: access token and order center", () => {
  const APP_KEY = "4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c";
  const APP_SECRET = "fake-app-secret-0123456789";
  const creds = { grant_type: "client_credentials", client_id: APP_KEY, client_secret: APP_SECRET, scope: "smartapp_snsapi_base" };
  let baidu;
  before(async () => { baidu = await startFakeBaidu({ openapi: { appKey: APP_KEY, appSecret: APP_SECRET } }); });
  after(async () => { await baidu.close(); });

  async function token(params = creds) {
    const r = await postForm(`${baidu.url}${TOKEN_PATH}`, params);
    return { status: r.status, json: JSON.parse(r.text) };
  }

  async function orderCenter(path, query, body, contentType = "application/json") {
    const qs = query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
    const res = await fetch(`${baidu.url}${path}?${qs}`, { method: "POST", headers: { "content-type": contentType }, body: JSON.stringify(body) });
    return { status: res.status, json: await res.json() };
  }

  const item = (id, extra = {}) => ({ CateID: 2, BizAPPID: APP_KEY, ResourceID: id, EXT: { SubsOrder: { Status: 401 } }, ...extra });
  const query = (t) => [["access_token", t], ["open_id", "o1"], ["scene_id", "2636635856"], ["scene_type", "2"], ["pm_app_key", "MMMabc"]];

  test("issues tokens for the right credentials, counts fetches, refuses the wrong ones", async () => {
    baidu.reset();
    const a = await token();
    assert.equal(a.status, 200);
    assert.match(a.json.access_token, /^24\.[0-9a-f]{32}\.2592000\.\d+$/);
    assert.equal(a.json.expires_in, 2592000);
    const b = await token();
    assert.notEqual(a.json.access_token, b.json.access_token);
    assert.equal(baidu.tokenFetches, 2);
    assert.deepEqual(baidu.tokenCalls().map((c) => c.problems), [[], []]);
    assert.deepEqual(await token({ ...creds, client_id: "MMMabc" }), { status: 401, json: { error: "invalid_client", error_description: "unknown client id" } });
    assert.equal((await token({ ...creds, client_secret: "wrong" })).json.error, "invalid_client");
    assert.equal((await token({ ...creds, scope: "snsapi_base" })).json.error, "invalid_scope");
    assert.equal((await token({ ...creds, grant_type: "password" })).json.error, "unsupported_grant_type");
    const { scope, ...noScope } = creds;
    assert.equal((await token(noScope)).status, 400);
    assert.equal(baidu.tokenFetches, 7);
    assert.equal(baidu.issuedTokens.length, 2);
    baidu.tokenEndpoint({ reject: true });
    assert.deepEqual(await token(), { status: 401, json: { error: "invalid_client", error_description: "unknown client id" } });
    baidu.reset();
    assert.equal((await token()).status, 200, "reset() undoes reject");
    assert.equal(baidu.tokenFetches, 1);
  });

  test("slow token endpoint, configurable lifetime", async () => {
    baidu.reset();
    baidu.tokenEndpoint({ delayMs: 200, expiresIn: 600 });
    const t0 = Date.now();
    const a = await token();
    assert.ok(Date.now() - t0 >= 190);
    assert.equal(a.json.expires_in, 600);
    assert.match(a.json.access_token, /\.600\.\d+$/);
  });

  test("order center: default answer per item, rows_affected and resource scripting", async () => {
    baidu.reset();
    const t = (await token()).json.access_token;
    const body = { Data: [item("R1"), item("R2", { Extra: { a: [1] } })] };
    const r = await orderCenter(ORDER_CENTER_PATHS.update, query(t), body);
    assert.deepEqual(r.json, {
      errno: 0, msg: "success",
      data: [
        { biz_app_id: APP_KEY, cate_id: 2, resource_id: "R1", rows_affected: "1" },
        { biz_app_id: APP_KEY, cate_id: 2, resource_id: "R2", rows_affected: "1" },
      ],
    });
    const call = baidu.orderCenterCalls()[0];
    assert.equal(call.orderCenter, "update");
    assert.deepEqual(call.json, body);
    assert.deepEqual(call.problems, []);
    assert.equal(call.tokenStatus, "valid");
    baidu.rowsAffectedFor("R2", "0");
    assert.deepEqual((await orderCenter(ORDER_CENTER_PATHS.append, query(t), body)).json.data.map((d) => d.rows_affected), ["1", "0"]);
    baidu.respondForResource("R1", { errno: 10002, msg: "not found" }, { times: 1 });
    assert.equal((await orderCenter(ORDER_CENTER_PATHS.status, query(t), body)).json.errno, 10002);
    assert.equal((await orderCenter(ORDER_CENTER_PATHS.status, query(t), body)).json.errno, 0);
    baidu.respondNextAt(ORDER_CENTER_PATHS.status, { json: { error_code: 111, error_msg: "Access token expired" } });
    assert.equal((await orderCenter(ORDER_CENTER_PATHS.status, query(t), body)).json.error_code, 111);
  });

  test("order center: unknown, expired and revoked tokens; query order and content type", async () => {
    baidu.reset();
    const body = { Data: [item("R1")] };
    assert.deepEqual((await orderCenter(ORDER_CENTER_PATHS.update, query("24.nope"), body)).json, { error_code: 110, error_msg: "Access token invalid or no longer valid" });
    const t1 = (await token()).json.access_token;
    baidu.expireTokens();
    assert.deepEqual((await orderCenter(ORDER_CENTER_PATHS.update, query(t1), body)).json, { error_code: 111, error_msg: "Access token expired" });
    const t2 = (await token()).json.access_token;
    assert.equal((await orderCenter(ORDER_CENTER_PATHS.update, query(t2), body)).json.errno, 0, "tokens issued after expireTokens() are valid");
    baidu.revokeTokens();
    assert.equal((await orderCenter(ORDER_CENTER_PATHS.update, query(t2), body)).json.error_code, 110);
    baidu.tokenEndpoint({ issueExpired: true });
    const t3 = (await token()).json.access_token;
    assert.equal((await orderCenter(ORDER_CENTER_PATHS.update, query(t3), body)).json.error_code, 111, "born expired");
    baidu.reset();
    const t4 = (await token()).json.access_token;
    const swapped = query(t4);
    [swapped[1], swapped[2]] = [swapped[2], swapped[1]];
    const r = await orderCenter(ORDER_CENTER_PATHS.update, swapped, body);
    assert.equal(r.json.errno, 10001);
    assert.match(r.json.msg, /query parameters/);
    const r2 = await orderCenter(ORDER_CENTER_PATHS.update, query(t4), body, "text/plain");
    assert.equal(r2.json.errno, 10001);
    assert.match(r2.json.msg, /content-type/);
    assert.deepEqual(baidu.orderCenterCalls()[1].json, body, "the body is parsed whatever the content type");
  });

  test("fails closed: a bad token, a bad query or a wrong BizAPPID gets Baidu's answer whatever is scripted", async () => {
    baidu.reset();
    const body = { Data: [item("R1"), item("R2")] };
    baidu.respondNextAt(ORDER_CENTER_PATHS.update, { errno: 0, msg: "scripted at path", data: [] });
    baidu.respondForResource("R1", { errno: 0, msg: "scripted for resource", data: [] }, { times: 1 });
    baidu.rowsAffectedFor("R2", "0");
    baidu.route(ORDER_CENTER_PATHS.update, () => ({ errno: 0, msg: "routed", data: [] }));
    try {
      for (const t of ["24.nope", "", undefined]) {
        const q = query(t).filter(([k]) => t !== undefined || k !== "access_token");
        assert.deepEqual((await orderCenter(ORDER_CENTER_PATHS.update, q, body)).json, { error_code: 110, error_msg: "Access token invalid or no longer valid" }, `token ${t}`);
      }
      const t = (await token()).json.access_token;
      const swapped = query(t).reverse();
      assert.equal((await orderCenter(ORDER_CENTER_PATHS.update, swapped, body)).json.errno, 10001);
      // Another app's BizAPPID (or none): errno 0, rows_affected "0" for that item, "1" for the others
      // (the rowsAffectedFor script is not applied to an invalid call either).
      const { BizAPPID, ...noBiz } = item("R3");
      const foreign = { Data: [item("R1", { BizAPPID: "ZZZcoAqgCIUtzIyA4FAPgoyrc4oUc25c" }), item("R2"), noBiz, item("R4", { BizAPPID: "MMMabc" })] };
      const r = await orderCenter(ORDER_CENTER_PATHS.update, query(t), foreign);
      assert.deepEqual(r.json, {
        errno: 0, msg: "success",
        data: [
          { biz_app_id: "ZZZcoAqgCIUtzIyA4FAPgoyrc4oUc25c", cate_id: 2, resource_id: "R1", rows_affected: "0" },
          { biz_app_id: APP_KEY, cate_id: 2, resource_id: "R2", rows_affected: "1" },
          { cate_id: 2, resource_id: "R3", rows_affected: "0" },
          { biz_app_id: "MMMabc", cate_id: 2, resource_id: "R4", rows_affected: "0" },
        ],
      });
      const calls = baidu.orderCenterCalls();
      assert.deepEqual(calls.map((c) => c.valid), [false, false, false, false, false]);
      assert.match(calls.at(-1).invalidReason, /BizAPPID/);
      // Nothing was consumed: valid calls now get the scripts in order, then the route.
      const msgs = [];
      for (let i = 0; i < 3; i++) msgs.push((await orderCenter(ORDER_CENTER_PATHS.update, query(t), body)).json.msg);
      assert.deepEqual(msgs, ["scripted at path", "scripted for resource", "routed"]);
      baidu.route(ORDER_CENTER_PATHS.update, "default");
      assert.deepEqual((await orderCenter(ORDER_CENTER_PATHS.update, query(t), body)).json.data.map((d) => d.rows_affected), ["1", "0"]);
    } finally {
      baidu.route(ORDER_CENTER_PATHS.update, "default");
    }
  });

  test("fails closed: the token endpoint serves scripts only to the right credentials", async () => {
    baidu.reset();
    baidu.respondNextAt(TOKEN_PATH, { json: { access_token: "scripted", expires_in: 1 } });
    assert.equal((await token({ ...creds, client_secret: "wrong" })).json.error, "invalid_client");
    assert.equal((await token({ ...creds, scope: "snsapi_base" })).json.error, "invalid_scope");
    assert.equal((await token()).json.access_token, "scripted");
    assert.deepEqual(baidu.tokenCalls().map((c) => c.valid), [false, false, true]);
  });

  test("without configured credentials, BizAPPID must be the client_id the token was issued to", async () => {
    const fake = await startFakeBaidu();
    try {
      const r = await postForm(`${fake.url}${TOKEN_PATH}`, { ...creds, client_id: "OTHERoAqgCIUtzIyA4FAPgoyrc4oUc25c" });
      const t = JSON.parse(r.text).access_token;
      const qs = query(t).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
      const call = async (bizAppId) => {
        const res = await fetch(`${fake.url}${ORDER_CENTER_PATHS.update}?${qs}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ Data: [item("R1", { BizAPPID: bizAppId })] }) });
        return (await res.json()).data[0].rows_affected;
      };
      assert.equal(await call("OTHERoAqgCIUtzIyA4FAPgoyrc4oUc25c"), "1");
      assert.equal(await call(APP_KEY), "0");
    } finally {
      await fake.close();
    }
  });
});
