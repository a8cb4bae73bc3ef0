// A fake of Baidu's server APIs on 127.0.0.1, for end-to-end tests and the dev sandbox.
// Node builtins only. One server, routed by path: the cashier, the access-token endpoint and the
// order center (see /work/shared/baidu-api.md §1-4 and docs/contract.md).
//
// Cashier paths (form POST, RSA-signed; see docs/contract.md and baidu-api.md §1-2): the fake parses
// the x-www-form-urlencoded body, rebuilds the canonical string itself and verifies `rsaSign`
// (SHA1withRSA) against the merchant public key it was given. Every request is recorded.
//
//   const baidu = await startFakeBaidu({ publicKey });       // PEM, bare base64 SPKI, or KeyObject
//   baidu.url                                                // "http://127.0.0.1:<port>"
//   baidu.calls                                              // recorded requests, oldest first
//   baidu.respondNext({ errno: 10002, msg: "..." })          // script the next answer (queue)
//   baidu.respondForOrder("2636635856", "hang")              // script answers by orderId
//   baidu.route("/some/path", (call) => ({ json: {...} }))   // by path, valid calls only (overrides the built-ins; "default" = built-in)
//   baidu.reset(); await baidu.close();
//
// Fails closed: every scripted answer (respondNext, respondNextAt, respondForOrder,
// respondForResource, rowsAffectedFor, route handlers, and so the sandbox's magic values) is served
// only to a VALID call; any other call gets what Baidu itself would answer, and the script is left
// in place (not consumed) for the next valid call. Valid means:
//   cashier       `rsaSign` verifies (SHA1withRSA over the canonical string, merchant public key);
//                 else {"errno":10000,"msg":"sign verify failed","data":[]} (HTTP 200)
//   token         POST form body with exactly grant_type=client_credentials, client_id,
//                 client_secret (the `openapi` credentials when given) and scope=smartapp_snsapi_base;
//                 else the OAuth error the default endpoint gives (invalid_client, invalid_scope, ...)
//   order center  the access_token is one this fake issued and is still valid (else error_code 110,
//                 or 111 once expired), the query/content-type/body are as documented (else errno
//                 10001), and every Data item's BizAPPID is the smart program's App Key (the
//                 `openapi` appKey, or else the client_id the token was issued to). An item naming
//                 another app gets errno 0 with rows_affected "0" for that item (the other items
//                 "1"): Baidu documents per-item failure only through rows_affected (baidu-api.md §4),
//                 and an item of another app matches none of this app's rows (inferred).
//   other paths   no Baidu contract to check: always valid (e.g. the sandbox's result receiver)
// call.valid and call.invalidReason say which way a call went. The explicit opt-out, for a test
// that deliberately wants to script what an invalid call gets: wrap the action in
// evenIfInvalid(action), or register route(path, fn, { evenIfInvalid: true }).
//
// Access token (POST /oauth/2.0/token, form body): verifies grant_type=client_credentials, client_id,
// client_secret (against the `openapi` option's appKey/appSecret when given) and
// scope=smartapp_snsapi_base, and issues tokens `24.<32 hex>.<expires_in>.<n>` (n = 100001, 100002, ...).
//
//   const baidu = await startFakeBaidu({ openapi: { appKey, appSecret, expiresIn: 2592000 } });
//   baidu.tokenFetches                 // token requests since the last reset()
//   baidu.issuedTokens                 // every token issued, oldest first (kept across reset())
//   baidu.tokenEndpoint({ reject: true })   // answer 401 {"error":"invalid_client",...} until reset()
//   baidu.tokenEndpoint({ delayMs: 300, expiresIn: 600, issueExpired: true })  // slow / short-lived / born expired
//   baidu.expireTokens()               // every token issued so far now gets error_code 111
//   baidu.revokeTokens()               // every token issued so far now gets error_code 110 (unknown)
//
// Payment 1.0's status query (GET /platform/entity/openapi/queryorderdetail, baidu-api.md §9.3):
// verifies `sign` (SHA1withRSA over the canonical string of appId, appKey, orderId and siteId, the
// merchant public key) and answers from the cashier orders' state: every order is paid and
// verified until a valid cancel verification (type=3) is processed (verification -1), and a valid
// 1.0 refund sets its refund state to 1 (in progress). A bad signature: errno 10000.
//
//   baidu.cashierOrder("2636635856")          // { verified, refundStatus }
//   baidu.setCashierOrder(id, { verified, refundStatus, cached })
//   baidu.processCashierCall(call)            // apply a cashier call (for "processed, answer lost")
//   baidu.orderDetailCalls()
//
// Order center (POST /rest/2.0/smartapp/ordercenter/app/{update/sub/info,append/sub/info,update/sub/status,
// add/main/info,update/main/info,update/main/status,add/main/logistics}):
// checks the access_token (unknown or revoked: {"error_code":110,...}; expired: {"error_code":111,...}),
// that the query holds exactly access_token, open_id, scene_id, scene_type, pm_app_key in that order
// (or swan_id in open_id's place, for a user without an openId; a swan_id equal to the scene_id is refused),
// and content-type application/json; records the parsed JSON body (call.json) and any deviation
// (call.problems, answered with errno 10001 and the deviation as msg). By default it answers
// {"errno":0,"msg":"success","data":[{biz_app_id,cate_id,resource_id,rows_affected:"1"}, ...]}, one per item.
//
//   baidu.rowsAffectedFor("R1", "0")        // that item's rows_affected (partial failure)
//   baidu.respondForResource("R1", action)  // the whole answer for calls carrying that ResourceID
//   baidu.respondNextAt(path, ...actions)   // script the next answers on one path (queue)
//   baidu.tokenCalls(), baidu.orderCenterCalls(), baidu.findByTpOrderIdCalls()
//   baidu.payOrder("T-1", {openId, ...})   // a paid 2.0 order findByTpOrderId knows (others: errno 10002)
//   baidu.order("R1"), baidu.orders        // the in-memory order center (main orders + after-sale items)
//   baidu.strictOrders(true)                // after-sale calls on an unknown order get rows_affected "0"
//   baidu.processOrderCall(call)            // apply a call to the store (for "processed, answer lost")
// Main-order calls use the store: update/status/logistics on an unknown ResourceID get
// rows_affected "0", and so does an import whose Payment.Amount breaks Baidu's formula (inferred).
//
// An answer ("action") is one of:
//   { errno, msg?, data? }        200 JSON {"errno","msg","data"} (data defaults to [])
//   { json, status? }             JSON body, status defaults to 200
//   { status, body?, headers? }   any status/body (e.g. { status: 500 })
//   "http500"                     HTTP 500 with a plain-text body
//   "garbage"                     HTTP 200, content-type application/json, body that is not JSON
//   "hang"                        never answers (the socket is destroyed on close())
//   "destroy"                     destroys the socket without answering
//   "default"                     the default behaviour of the path (Baidu's own answer)
//   evenIfInvalid(action)         `action`, served even to an invalid call (the opt-out above)
//   { delayMs, ...action }        answers `action` after a delay
//   (call) => action              computed per call
import http from "node:http";
import { createPublicKey, verify as cryptoVerify, KeyObject, randomBytes } from "node:crypto";

export const CASHIER_PATHS = ["/cashier/syncOrderStatus", "/nop/server/rest", "/cashier/applyOrderRefund"];
/** 1.0 refunds: their own path on the new host, `method` on the legacy gateway. */
export const CASHIER_REFUND_PATH = "/cashier/applyOrderRefund";
export const CASHIER_REFUND_METHOD = "nuomi.cashier.applyorderrefund";
/** 2.0 refunds (access token, nothing signed). */
export const PAYMENT_SERVICE_REFUND_PATH = "/rest/2.0/smartapp/pay/paymentservice/applyOrderRefund";
export const FIND_BY_TP_ORDER_ID_PATH = "/rest/2.0/smartapp/pay/paymentservice/findByTpOrderId";
export const FIND_ORDER_REFUND_PATH = "/rest/2.0/smartapp/pay/paymentservice/findOrderRefund";
/** Payment 1.0's status query: a GET signed as `sign` over appId, appKey, orderId and siteId. */
export const ORDER_DETAIL_PATH = "/platform/entity/openapi/queryorderdetail";
export const ORDER_DETAIL_QUERY = Object.freeze(["appId", "appKey", "orderId", "siteId", "sign"]);
export const TOKEN_PATH = "/oauth/2.0/token";
export const TOKEN_SCOPE = "smartapp_snsapi_base";
export const DEFAULT_EXPIRES_IN = 2592000;
export const ORDER_CENTER_PATHS = Object.freeze({
  update: "/rest/2.0/smartapp/ordercenter/app/update/sub/info",
  append: "/rest/2.0/smartapp/ordercenter/app/append/sub/info",
  status: "/rest/2.0/smartapp/ordercenter/app/update/sub/status",
  addMain: "/rest/2.0/smartapp/ordercenter/app/add/main/info",
  updateMain: "/rest/2.0/smartapp/ordercenter/app/update/main/info",
  statusMain: "/rest/2.0/smartapp/ordercenter/app/update/main/status",
  logistics: "/rest/2.0/smartapp/ordercenter/app/add/main/logistics",
});
export const ORDER_CENTER_QUERY = Object.freeze(["access_token", "open_id", "scene_id", "scene_type", "pm_app_key"]);
/** The same for a user without an openId: `swan_id` in `open_id`'s place (baidu-api.md §10). */
export const ORDER_CENTER_SWAN_QUERY = Object.freeze(["access_token", "swan_id", "scene_id", "scene_type", "pm_app_key"]);
export const INVALID_CLIENT = Object.freeze({ error: "invalid_client", error_description: "unknown client id" });
export const TOKEN_EXPIRED = Object.freeze({ error_code: 111, error_msg: "Access token expired" });
export const TOKEN_INVALID = Object.freeze({ error_code: 110, error_msg: "Access token invalid or no longer valid" });
export const SIGNATURE_EXCLUDED = new Set(["sign", "sign_type", "rsaSign"]);
export const SUCCESS = Object.freeze({ errno: 0, msg: "success", data: [] });
export const SIGN_FAILED = Object.freeze({ errno: 10000, msg: "sign verify failed", data: [] });

/** Public key from PEM (SPKI or PKCS#1), bare base64 SPKI (whitespace and literal "\n" allowed), or a KeyObject. */
export function toPublicKey(key) {
  if (key instanceof KeyObject) return key.type === "public" ? key : createPublicKey(key);
  if (typeof key !== "string" && !Buffer.isBuffer(key)) throw new TypeError("publicKey must be a PEM string, base64 string or KeyObject");
  const text = String(key).replace(/\\n/g, "\n").trim();
  if (text.includes("-----BEGIN")) return createPublicKey({ key: text, format: "pem" });
  const der = Buffer.from(text.replace(/\s+/g, ""), "base64");
  return createPublicKey({ key: der, format: "der", type: "spki" });
}

/** Byte-order comparison of two strings' UTF-8 encodings. */
export function compareBytes(a, b) {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * The canonical string Baidu signs: every parameter except sign, sign_type and rsaSign, keys in
 * byte order, `k=v` joined with "&", empty values kept, raw (decoded) UTF-8 values.
 * `params` is an object or a list of [key, value] pairs.
 */
export function canonicalString(params) {
  const list = Array.isArray(params) ? params : Object.entries(params);
  return list
    .filter(([k]) => !SIGNATURE_EXCLUDED.has(k))
    .sort(([a], [b]) => compareBytes(a, b))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Verifies a base64 SHA1withRSA signature over `canonical`. False (never throws) on any malformation. */
export function verifySignature(canonical, rsaSign, publicKey) {
  if (typeof rsaSign !== "string" || rsaSign.length === 0 || !STRICT_BASE64.test(rsaSign)) return false;
  try {
    return cryptoVerify("RSA-SHA1", Buffer.from(canonical, "utf8"), toPublicKey(publicKey), Buffer.from(rsaSign, "base64"));
  } catch {
    return false;
  }
}

const EVEN_IF_INVALID = "evenIfInvalid";

/**
 * Opt-out of failing closed, for one scripted answer: `action` is served even when the call is
 * invalid (bad signature, unknown token, wrong BizAPPID, ...). Only for tests that deliberately
 * look at what an invalid request gets.
 */
export function evenIfInvalid(action) {
  normaliseAction(action);
  return { kind: EVEN_IF_INVALID, action };
}

const servesInvalid = (action) => action !== null && typeof action === "object" && action.kind === EVEN_IF_INVALID;

function normaliseAction(action) {
  if (servesInvalid(action)) return normaliseAction(action.action);
  if (action === undefined || action === null || action === "default") return { kind: "default" };
  if (typeof action === "function") return { kind: "fn", fn: action };
  if (typeof action === "string") {
    switch (action) {
      case "hang": return { kind: "hang" };
      case "destroy": return { kind: "destroy" };
      case "garbage": return { kind: "raw", status: 200, headers: { "content-type": "application/json;charset=utf-8" }, body: "<html><body>not json</body></html>" };
      case "http500": return { kind: "raw", status: 500, headers: { "content-type": "text/plain" }, body: "Internal Server Error" };
      default: throw new Error(`fake-baidu: unknown action "${action}"`);
    }
  }
  if (typeof action !== "object") throw new Error(`fake-baidu: bad action ${String(action)}`);
  const { delayMs, ...rest } = action;
  let inner;
  if ("kind" in rest) inner = rest;
  else if ("errno" in rest) inner = { kind: "raw", status: rest.status ?? 200, headers: jsonHeaders(rest.headers), body: JSON.stringify({ errno: rest.errno, msg: rest.msg ?? "", data: rest.data ?? [] }) };
  else if ("json" in rest) inner = { kind: "raw", status: rest.status ?? 200, headers: jsonHeaders(rest.headers), body: JSON.stringify(rest.json) };
  else if ("status" in rest || "body" in rest) inner = { kind: "raw", status: rest.status ?? 200, headers: rest.headers ?? { "content-type": "text/plain" }, body: rest.body ?? "" };
  else throw new Error(`fake-baidu: cannot understand action ${JSON.stringify(action)}`);
  return delayMs ? { ...inner, delayMs } : inner;
}

function jsonHeaders(extra) {
  return { "content-type": "application/json;charset=utf-8", ...(extra ?? {}) };
}

/**
 * Starts the fake. Options:
 *   publicKey    merchant public key the cashier paths verify with (required for cashier paths)
 *   openapi      { appKey, appSecret, expiresIn }: the smart program credentials the token endpoint
 *                accepts (any non-empty ones when not given) and the tokens' lifetime in seconds
 *   host, port   default 127.0.0.1 and a random free port
 *   cashierPaths paths handled as cashier calls (default CASHIER_PATHS)
 *   onCall(call) called for each recorded call once it has been answered (or left hanging)
 */
export async function startFakeBaidu({ publicKey, openapi = {}, host = "127.0.0.1", port = 0, cashierPaths = CASHIER_PATHS, onCall } = {}) {
  const key = publicKey === undefined ? undefined : toPublicKey(publicKey);
  const calls = [];
  const nextQueue = [];
  const pathQueues = new Map(); // path -> [action, ...]
  const byOrder = new Map(); // orderId -> { action, times }
  const byResource = new Map(); // ResourceID -> { action, times }
  const rowsAffected = new Map(); // ResourceID -> rows_affected value in the default answer
  const routes = new Map(); // path -> { handler(call) => action, evenIfInvalid }
  const sockets = new Set();
  const waiters = new Set();
  const orderCenterKinds = new Map(Object.entries(ORDER_CENTER_PATHS).map(([k, v]) => [v, k]));

  // Token endpoint state. Issued tokens are Baidu's state and survive reset().
  const defaultTokenEndpoint = () => ({ reject: false, delayMs: 0, expiresIn: openapi.expiresIn ?? DEFAULT_EXPIRES_IN, issueExpired: false });
  let tokenSettings = defaultTokenEndpoint();
  const issued = new Map(); // token -> { seq, clientId, issuedAt, expiresAt, state: "valid" | "expired" | "revoked" }
  const issuedList = [];

  // Payment 1.0's orders as the status query sees them: orderId -> { verified, refundStatus, cached }.
  const cashierOrders = new Map();
  const cashierOrder = (orderId) => {
    const id = String(orderId);
    if (!cashierOrders.has(id)) cashierOrders.set(id, { verified: true, refundStatus: -1, cached: 0 });
    return cashierOrders.get(id);
  };

  /** What a valid cashier call changes: a cancel unverifies the order, a refund starts one. */
  function applyCashierCall(call) {
    if (!call.signatureValid || !call.params?.orderId) return;
    const order = cashierOrder(call.params.orderId);
    if (call.refund) order.refundStatus = 1;
    else if (call.params.type === "3") order.verified = false;
  }

  function orderDetailDefault(call) {
    if (call.problems.length) return { json: { errno: 10001, errmsg: `fake-baidu: ${call.problems.join("; ")}`, msg: "参数错误" } };
    if (!call.signatureValid) return { json: { errno: 10000, errmsg: "sign verify failed", msg: "签名错误" } };
    const order = cashierOrder(call.query.orderId);
    return { json: {
      errno: 0, errmsg: "成功", msg: "成功",
      data: { data: {
        payStatus: { statusNum: 1, statusDesc: "已支付" },
        refundStatus: { statusNum: order.refundStatus, statusDesc: "" },
        verification: { statusNum: order.verified ? 1 : -1, statusDesc: order.verified ? "已核销" : "未核销" },
      } },
      timestamp: Math.floor(Date.now() / 1000), cached: order.cached, serverlogid: `fake-${call.seq}`,
    } };
  }

  function cashierDefault(call) {
    if (!call.signatureValid) return { ...SIGN_FAILED, data: [] };
    applyCashierCall(call);
    if (call.refund) return { json: { errno: 0, msg: "success", data: { refundBatchId: String(152713800 + call.seq), refundPayMoney: String(call.params.applyRefundMoney ?? 9800) } } };
    return { errno: SUCCESS.errno, msg: SUCCESS.msg, data: [] };
  }

  /** 2.0's refund: the token checked as the order center checks it; ids as numbers, as Baidu sends them here. */
  function paymentServiceDefault(call) {
    if (call.tokenStatus === "expired") return { json: TOKEN_EXPIRED };
    if (call.tokenStatus !== "valid") return { json: TOKEN_INVALID };
    const missing = ["bizRefundBatchId", "orderId", "userId", "tpOrderId", "refundReason", "refundType", "pmAppKey"].filter((k) => !call.params?.[k]);
    if (missing.length) return { errno: 10001, msg: `fake-baidu: missing ${missing.join(",")}` };
    refundStore.push({ bizRefundBatchId: call.params.bizRefundBatchId, tpOrderId: call.params.tpOrderId, orderId: Number(call.params.orderId), userId: Number(call.params.userId), refundBatchId: 900000 + call.seq, refundStatus: 1 });
    return { json: { errno: 0, msg: "success", data: { refundBatchId: 900000 + call.seq, refundPayMoney: Number(call.params.applyRefundMoney ?? 9800) } } };
  }

  // Payment 2.0's queries (baidu-api.md §9.1, §9.2) over the orders paid (payOrder) and the 2.0
  // refunds accepted. Baidu's own mixed types: orderId/userId numbers, openId and appKey strings,
  // refundBatchId a number. An order it does not know: errno 10002 (inferred; undocumented).
  const paidOrders = new Map(); // tpOrderId -> findByTpOrderId's data
  const refundStore = []; // findOrderRefund's entries, with tpOrderId

  function paymentQueryDefault(call) {
    const status = tokenStatus(call.query.access_token);
    if (status === "expired") return { json: TOKEN_EXPIRED };
    if (status !== "valid") return { json: TOKEN_INVALID };
    const refunds = call.path === FIND_ORDER_REFUND_PATH;
    const expected = refunds ? ["access_token", "tpOrderId", "userId", "pmAppKey"] : ["access_token", "tpOrderId", "pmAppKey"];
    if (call.method !== "GET" || JSON.stringify(call.queryKeys) !== JSON.stringify(expected)) {
      return { errno: 10001, msg: `fake-baidu: ${call.method} with ${call.queryKeys.join(",")}, expected GET with ${expected.join(",")}` };
    }
    const order = paidOrders.get(call.query.tpOrderId);
    if (!order && !refunds) return { errno: 10002, msg: "order not exist" };
    if (!refunds) return { json: { errno: 0, msg: "success", data: order } };
    const data = refundStore.filter((r) => r.tpOrderId === call.query.tpOrderId && String(r.userId) === call.query.userId).map(({ tpOrderId, ...r }) => r);
    return { json: { errno: 0, msg: "success", data } };
  }

  function issueToken(clientId) {
    const seq = issuedList.length + 1;
    const { expiresIn } = tokenSettings;
    const token = `24.${randomBytes(16).toString("hex")}.${expiresIn}.${100000 + seq}`;
    const issuedAt = Date.now();
    issued.set(token, { seq, clientId, issuedAt, expiresAt: issuedAt + expiresIn * 1000, state: tokenSettings.issueExpired ? "expired" : "valid" });
    issuedList.push(token);
    return token;
  }

  /** "valid", "expired", "revoked" or "unknown" (also for a missing token). */
  function tokenStatus(token) {
    const t = token === undefined ? undefined : issued.get(token);
    if (!t) return "unknown";
    if (t.state === "valid" && Date.now() >= t.expiresAt) return "expired";
    return t.state;
  }

  /** What is wrong with a token request's shape (its credentials aside). */
  function tokenRequestProblems(call) {
    const problems = [];
    if (call.method !== "POST") problems.push(`method ${call.method}, expected POST`);
    if (!String(call.headers["content-type"] ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded")) problems.push(`content-type ${call.headers["content-type"]}, expected application/x-www-form-urlencoded`);
    if (Object.keys(call.query).length > 0) problems.push(`query string ${Object.keys(call.query).join(",")}: credentials belong in the body`);
    const list = call.paramList ?? [];
    const names = list.map(([k]) => k);
    for (const name of ["grant_type", "client_id", "client_secret", "scope"]) {
      const n = names.filter((k) => k === name).length;
      if (n !== 1) problems.push(`${name} appears ${n} times in the body`);
    }
    const extra = names.filter((k) => !["grant_type", "client_id", "client_secret", "scope"].includes(k));
    if (extra.length) problems.push(`unexpected body parameters ${extra.join(",")}`);
    return problems;
  }

  /** The OAuth answer Baidu gives these credentials when it refuses them; undefined when they are right. */
  function credentialsRefusal(p) {
    if (p.grant_type !== "client_credentials") return { status: 400, json: { error: "unsupported_grant_type", error_description: "The authorization grant type is not supported" } };
    if (!p.client_id || (openapi.appKey !== undefined && p.client_id !== openapi.appKey)) return { status: 401, json: INVALID_CLIENT };
    if (!p.client_secret || (openapi.appSecret !== undefined && p.client_secret !== openapi.appSecret)) return { status: 401, json: { error: "invalid_client", error_description: "Client authentication failed" } };
    if (p.scope !== TOKEN_SCOPE) return { status: 400, json: { error: "invalid_scope", error_description: "The requested scope is invalid" } };
    return undefined;
  }

  function tokenDefault(call) {
    const p = call.params ?? {};
    const delay = tokenSettings.delayMs ? { delayMs: tokenSettings.delayMs } : {};
    if (tokenSettings.reject) return { ...delay, status: 401, json: INVALID_CLIENT };
    const refusal = credentialsRefusal(p);
    if (refusal) return { ...delay, ...refusal };
    if (call.problems.length) return { ...delay, status: 400, json: { error: "invalid_request", error_description: `fake-baidu: ${call.problems.join("; ")}` } };
    const token = issueToken(p.client_id);
    call.issuedToken = token;
    return {
      ...delay,
      json: {
        access_token: token,
        expires_in: tokenSettings.expiresIn,
        refresh_token: `25.${randomBytes(16).toString("hex")}.315360000.${100000 + issuedList.length}`,
        scope: `${TOKEN_SCOPE} snsapi_base`,
        session_key: "",
        session_secret: "",
      },
    };
  }

  function orderCenterDefault(call) {
    if (call.tokenStatus === "expired") return { json: TOKEN_EXPIRED };
    if (call.tokenStatus !== "valid") return { json: TOKEN_INVALID };
    if (call.problems.length) return { errno: 10001, msg: `fake-baidu: ${call.problems.join("; ")}` };
    // An item of another app (wrong or missing BizAPPID) matches none of this app's rows: "0".
    // rowsAffectedFor() is a script, so it only applies to a valid call.
    const stored = call.valid ? applyToOrderStore(call) : [];
    const data = call.json.Data.map((item, i) => ({
      biz_app_id: item?.BizAPPID,
      cate_id: item?.CateID,
      resource_id: item?.ResourceID,
      rows_affected: call.foreignItems.includes(i) ? "0"
        : call.valid && rowsAffected.has(item?.ResourceID) ? rowsAffected.get(item?.ResourceID) : stored[i] ?? "1",
    }));
    return { errno: 0, msg: "success", data };
  }

  // The in-memory order center: main orders and their after-sale items, as Baidu keeps them.
  // Main-order calls always use it; the after-sale calls consult it only once strictOrders(true)
  // is set (the sandbox), so that suites relaying after-sale data alone need no import first.
  const orderStore = new Map(); // ResourceID -> { main: {...Data item without EXT.SubsOrder}, subs: [...], express, history: [kind, ...] }
  let strict = false;

  /** Baidu's formula (baidu-api.md §10): Σ PayPrice×Quantity + Σ PaymentInfo − Σ PreferentialInfo. */
  function formulaAmount(mainOrder) {
    const sum = (list, value) => (Array.isArray(list) ? list : []).reduce((t, x) => t + Number(x?.[value] ?? 0) * Number(x?.Quantity ?? 0), 0);
    const p = mainOrder?.Payment ?? {};
    return sum(mainOrder?.Products, "PayPrice") + sum(p.PaymentInfo, "Value") - sum(p.PreferentialInfo, "Value");
  }

  /**
   * Applies a valid order-center call to the store; returns each item's rows_affected ("0": the
   * order is unknown (main-order updates; after-sale calls when strict), a duplicate SubOrderID
   * on append (strict), or an imported order whose Payment.Amount breaks Baidu's formula).
   */
  function applyToOrderStore(call) {
    const kind = call.orderCenter;
    return call.json.Data.map((item) => {
      const id = item?.ResourceID;
      const known = orderStore.get(id);
      if (kind === "addMain") {
        const main = item?.EXT?.MainOrder;
        if (main?.Products && main?.Payment && formulaAmount(main) !== Number(main.Payment.Amount)) return "0";
        const { SubsOrder, ...ext } = item.EXT ?? {};
        // Baidu reads Ctime/Mtime on main orders: another spelling is silently ignored (inferred).
        const { CTime, MTime, ...rest } = item;
        orderStore.set(id, { main: { ...rest, EXT: ext }, subs: SubsOrder?.Items ?? [], subsStatus: SubsOrder?.Status, express: undefined, history: ["addMain"] });
        return "1";
      }
      if (!known) return kind.endsWith("Main") || kind === "logistics" || strict ? "0" : undefined;
      known.history.push(kind);
      if (kind === "updateMain") known.main = { ...known.main, ...item, EXT: { ...known.main.EXT, ...item.EXT } };
      else if (kind === "statusMain") known.main = { ...known.main, Status: item.Status };
      else if (kind === "logistics") known.express = item?.EXT?.MainOrder?.Express;
      else if (kind === "append") {
        const items = item?.EXT?.SubsOrder?.Items ?? [];
        if (strict && items.some((s) => known.subs.some((k) => k.SubOrderID === s.SubOrderID))) return "0";
        known.subs.push(...items);
        known.subsStatus = item?.EXT?.SubsOrder?.Status;
      } else if (kind === "update") {
        known.subs = item?.EXT?.SubsOrder?.Items ?? [];
        known.subsStatus = item?.EXT?.SubsOrder?.Status;
      } else if (kind === "status") {
        known.subsStatus = item?.EXT?.SubsOrder?.Status;
        for (const s of item?.EXT?.SubsOrder?.Items ?? []) {
          const k = known.subs.find((x) => x.SubOrderID === s.SubOrderID);
          if (k) k.SubStatus = s.SubStatus;
          else if (strict) return "0";
        }
      }
      return "1";
    });
  }

  /** The smart program's App Key a token belongs to: the configured one, else the client_id it was issued to. */
  function appKeyOf(token) {
    return openapi.appKey ?? issued.get(token)?.clientId;
  }

  /**
   * Whether Baidu would accept the call (see "Fails closed" above): sets call.valid and, when it is
   * not, call.invalidReason. Scripted answers and routes are only consulted for valid calls.
   */
  function validate(call) {
    let reason;
    if (call.kind === "cashier") {
      if (!call.signatureValid) reason = key ? "rsaSign does not verify" : "no public key to verify rsaSign with";
    } else if (call.kind === "token") {
      const refusal = credentialsRefusal(call.params ?? {});
      if (refusal) reason = `credentials refused (${refusal.json.error})`;
      else if (call.problems.length) reason = call.problems.join("; ");
    } else if (call.kind === "paymentService") {
      if (call.tokenStatus !== "valid") reason = `access_token ${call.tokenStatus}`;
    } else if (call.kind === "orderDetail") {
      if (call.problems.length) reason = call.problems.join("; ");
      else if (!call.signatureValid) reason = key ? "sign does not verify" : "no public key to verify sign with";
    } else if (call.kind === "orderCenter") {
      call.foreignItems = [];
      if (call.tokenStatus !== "valid") reason = `access_token ${call.tokenStatus}`;
      else if (call.problems.length) reason = call.problems.join("; ");
      else {
        const appKey = appKeyOf(call.token);
        call.json.Data.forEach((item, i) => { if (item?.BizAPPID !== appKey) call.foreignItems.push(i); });
        if (call.foreignItems.length) reason = `BizAPPID is not the App Key ${appKey} in Data[${call.foreignItems.join(",")}]`;
      }
    }
    call.valid = reason === undefined;
    call.invalidReason = reason;
  }

  function resourceIds(call) {
    const data = call.json?.Data;
    return Array.isArray(data) ? data.map((item) => item?.ResourceID).filter((id) => typeof id === "string") : [];
  }

  /**
   * The scripted answer for this call, consumed; undefined when there is none. An invalid call gets
   * none (and consumes none) unless the script that would answer it was wrapped in evenIfInvalid().
   */
  function pickAction(call) {
    const take = (action, consume) => {
      if (!call.valid && !servesInvalid(action)) return undefined;
      consume();
      return action;
    };
    const queue = pathQueues.get(call.path);
    if (queue?.length) return take(queue[0], () => queue.shift());
    if (nextQueue.length > 0) return take(nextQueue[0], () => nextQueue.shift());
    const orderId = call.params?.orderId;
    if (orderId !== undefined && byOrder.has(orderId)) {
      const entry = byOrder.get(orderId);
      return take(entry.action, () => { if (--entry.times <= 0) byOrder.delete(orderId); });
    }
    if (call.kind === "orderCenter") {
      for (const id of resourceIds(call)) {
        if (!byResource.has(id)) continue;
        const entry = byResource.get(id);
        return take(entry.action, () => { if (--entry.times <= 0) byResource.delete(id); });
      }
    }
    return undefined;
  }

  /** The answer for `action`; "default" means the path's route (valid calls only), else the built-in answer. */
  function resolveAction(action, call, routed = false) {
    let a = normaliseAction(action);
    for (let i = 0; a.kind === "fn" && i < 5; i++) a = normaliseAction(a.fn(call));
    if (a.kind === "default") {
      // A route handler answering "default" gets the built-in answer (not itself again).
      const route = routed ? undefined : routes.get(call.path);
      if (route && (call.valid || route.evenIfInvalid)) return resolveAction(route.handler(call), call, true);
      if (call.kind === "token") return normaliseAction(tokenDefault(call));
      if (call.kind === "orderCenter") return normaliseAction(orderCenterDefault(call));
      if (call.kind === "paymentService") return normaliseAction(paymentServiceDefault(call));
      if (call.path === FIND_BY_TP_ORDER_ID_PATH || call.path === FIND_ORDER_REFUND_PATH) return normaliseAction(paymentQueryDefault(call));
      if (call.cashier) return normaliseAction(cashierDefault(call));
      if (call.kind === "orderDetail") return normaliseAction(orderDetailDefault(call));
      return normaliseAction({ status: 404, headers: { "content-type": "text/html" }, body: "<html><body>404 Not Found</body></html>" });
    }
    return a;
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("error", () => {});
    req.on("end", () => {
      const rawBody = Buffer.concat(chunks);
      const url = new URL(req.url, "http://fake.invalid");
      const call = {
        seq: calls.length + 1,
        at: Date.now(),
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: { ...req.headers },
        rawBody: rawBody.toString("utf8"),
        cashier: cashierPaths.includes(url.pathname),
        kind: cashierPaths.includes(url.pathname) ? "cashier" : url.pathname === TOKEN_PATH ? "token" : orderCenterKinds.has(url.pathname) ? "orderCenter"
          : url.pathname === PAYMENT_SERVICE_REFUND_PATH ? "paymentService" : url.pathname === ORDER_DETAIL_PATH ? "orderDetail" : "other",
        queryKeys: [...url.searchParams.keys()],
        params: undefined,
        paramList: undefined,
        canonical: undefined,
        rsaSign: undefined,
        signatureValid: undefined,
        valid: undefined, // would Baidu accept it? (see "Fails closed" above)
        invalidReason: undefined,
        answer: undefined,
      };
      const contentType = String(req.headers["content-type"] ?? "").toLowerCase();
      if (contentType.startsWith("application/x-www-form-urlencoded") || (call.cashier && rawBody.length > 0 && !contentType.includes("json"))) {
        const list = [...new URLSearchParams(call.rawBody)];
        call.paramList = list;
        call.params = Object.fromEntries(list);
      } else if (contentType.includes("json")) {
        try { call.json = JSON.parse(call.rawBody); } catch { call.json = undefined; }
      }
      if (call.kind === "orderCenter") {
        call.orderCenter = orderCenterKinds.get(call.path); // "update" | "append" | "status"
        call.token = call.query.access_token;
        call.tokenStatus = tokenStatus(call.token);
        const problems = [];
        if (call.method !== "POST") problems.push(`method ${call.method}, expected POST`);
        const keys = JSON.stringify(call.queryKeys);
        if (keys !== JSON.stringify(ORDER_CENTER_QUERY) && keys !== JSON.stringify(ORDER_CENTER_SWAN_QUERY)) {
          problems.push(`query parameters ${call.queryKeys.join(",")}, expected ${ORDER_CENTER_QUERY.join(",")} (or swan_id in open_id's place)`);
        }
        // The official Java SDK's mistake: swan_id filled with the scene_id (no such user).
        if (call.query.swan_id !== undefined && call.query.swan_id === call.query.scene_id) problems.push("swan_id is the scene_id, not a user's swanId");
        if (!/^application\/json\s*(;|$)/.test(contentType)) problems.push(`content-type ${req.headers["content-type"]}, expected application/json`);
        if (call.json === undefined) {
          try { call.json = JSON.parse(call.rawBody); } catch { /* recorded as a problem below */ }
        }
        if (call.json === undefined) problems.push("body is not JSON");
        else if (!call.json || typeof call.json !== "object" || !Array.isArray(call.json.Data)) problems.push("body is not {\"Data\":[...]}");
        call.problems = problems;
      }
      if (call.cashier) {
        if (call.paramList) {
          call.canonical = canonicalString(call.paramList);
          call.rsaSign = call.params.rsaSign;
        }
        call.signatureValid = Boolean(key && call.paramList && verifySignature(call.canonical, call.rsaSign, key));
      }
      if (call.kind === "orderDetail") {
        const problems = [];
        if (call.method !== "GET") problems.push(`method ${call.method}, expected GET`);
        const keys = [...call.queryKeys].sort();
        if (JSON.stringify(keys) !== JSON.stringify([...ORDER_DETAIL_QUERY].sort())) problems.push(`query parameters ${call.queryKeys.join(",")}, expected ${ORDER_DETAIL_QUERY.join(",")}`);
        call.problems = problems;
        call.canonical = canonicalString(Object.entries(call.query));
        call.signatureValid = Boolean(key && verifySignature(call.canonical, call.query.sign, key));
      }
      if (call.kind === "token") call.problems = tokenRequestProblems(call);
      call.refund = call.path === CASHIER_REFUND_PATH || call.params?.method === CASHIER_REFUND_METHOD || call.kind === "paymentService";
      if (call.kind === "paymentService") {
        call.token = call.query.access_token;
        call.tokenStatus = tokenStatus(call.token);
      }
      validate(call);
      calls.push(call);
      let action;
      try {
        action = resolveAction(pickAction(call), call);
      } catch (err) {
        action = normaliseAction({ status: 599, body: `fake-baidu: ${err.message}` });
      }
      const answer = () => {
        if (action.kind === "hang") {
          call.answer = { kind: "hang" };
        } else if (action.kind === "destroy") {
          call.answer = { kind: "destroy" };
          req.socket.destroy();
        } else {
          call.answer = { kind: "raw", status: action.status, body: action.body };
          res.writeHead(action.status, { ...action.headers, "content-length": Buffer.byteLength(action.body) });
          res.end(action.body);
        }
        for (const w of [...waiters]) w();
        onCall?.(call);
      };
      if (action.delayMs) {
        const t = setTimeout(answer, action.delayMs);
        req.socket.once("close", () => clearTimeout(t));
      } else answer();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => { server.off("error", reject); resolve(); });
  });
  const address = server.address();
  let closed = false;

  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    host,
    calls,
    publicKey: key,
    /** Scripts the answer to the next call (queued; each call consumes one). */
    respondNext(...actions) {
      for (const a of actions) { normaliseAction(a); nextQueue.push(a); }
      return this;
    },
    /** Scripts the answer for calls carrying `orderId` (string or number), `times` times (default: always). */
    respondForOrder(orderId, action, { times = Infinity } = {}) {
      normaliseAction(action);
      byOrder.set(String(orderId), { action, times });
      return this;
    },
    /** Scripts the next answers on one path (queued per path; consulted before respondNext's queue). */
    respondNextAt(path, ...actions) {
      if (!pathQueues.has(path)) pathQueues.set(path, []);
      for (const a of actions) { normaliseAction(a); pathQueues.get(path).push(a); }
      return this;
    },
    /** Scripts the order center's whole answer for calls carrying `resourceId`, `times` times (default: always). */
    respondForResource(resourceId, action, { times = Infinity } = {}) {
      normaliseAction(action);
      byResource.set(String(resourceId), { action, times });
      return this;
    },
    /** The `rows_affected` the default order-center answer gives the item `resourceId` ("0" = that item failed). */
    rowsAffectedFor(resourceId, value) {
      rowsAffected.set(String(resourceId), value);
      return this;
    },
    /** The order center's record of `resourceId` ({main, subs, subsStatus, express, history}), or undefined. */
    order(resourceId) {
      return orderStore.get(String(resourceId));
    },
    /** Every order the order center holds, by ResourceID. */
    get orders() {
      return new Map(orderStore);
    },
    /** Records a paid 2.0 order, as findByTpOrderId answers it ({orderId, userId, openId, totalMoney, ...}). */
    payOrder(tpOrderId, fields = {}) {
      const seq = paidOrders.size + 1;
      paidOrders.set(String(tpOrderId), {
        orderId: 2636635856 + seq, userId: 4188819900, openId: "k6bYMRbMDkF7hv0U4Dm1D2k9C8cPA4h5", appKey: "MMMabc", appId: 14000000 + seq,
        dealId: 470193086, tradeNo: `20261130${String(seq).padStart(8, "0")}`, tpOrderId: String(tpOrderId), status: 2, subStatus: 0,
        totalMoney: 9800, payMoney: 9800, oriPrice: 9800, settlePrice: 9800, count: 1, createTime: 1777100000, parentOrderId: 0, parentType: 0, type: 2, bizInfo: "{}", tpId: 0,
        ...fields,
      });
      return this;
    },
    /** Processes a 2.0 refund call as Baidu would (records the refund) and returns its answer, for a script that then loses it. */
    paymentServiceAnswer(call) {
      return paymentServiceDefault(call);
    },
    /** Sets a 2.0 refund's refundStatus (1 in progress, 2 ok, 3 failed) by its bizRefundBatchId. */
    refundStatus(bizRefundBatchId, refundStatus) {
      for (const r of refundStore) if (r.bizRefundBatchId === bizRefundBatchId) r.refundStatus = refundStatus;
      return this;
    },
    /** The 2.0 refunds accepted so far. */
    get refunds() {
      return refundStore.map((r) => ({ ...r }));
    },
    /** Forgets every order (reset() keeps them: they are Baidu's state). */
    clearOrders() {
      orderStore.clear();
      return this;
    },
    /** After-sale calls on an unknown order (or a duplicate SubOrderID on append) get rows_affected "0". */
    strictOrders(on = true) {
      strict = on;
      return this;
    },
    /** Payment 1.0's state of an order, as queryorderdetail reports it: { verified, refundStatus, cached }. */
    cashierOrder(orderId) {
      return { ...cashierOrder(orderId) };
    },
    /** Sets payment 1.0's state of an order (any of verified, refundStatus, cached). */
    setCashierOrder(orderId, fields) {
      Object.assign(cashierOrder(orderId), fields);
      return this;
    },
    /** Applies a cashier call as Baidu would and returns its answer, for a script that then loses it. */
    processCashierCall(call) {
      return cashierDefault(call);
    },
    orderDetailCalls() {
      return calls.filter((c) => c.kind === "orderDetail");
    },
    /** Applies an order-center call to the store as Baidu would, for a script that then loses the answer. */
    processOrderCall(call) {
      return call.valid ? applyToOrderStore(call) : [];
    },
    /** Changes the token endpoint: { reject, delayMs, expiresIn, issueExpired }. Undone by reset(). */
    tokenEndpoint(settings) {
      tokenSettings = { ...tokenSettings, ...settings };
      return this;
    },
    /** Every token issued so far answers error_code 111 from now on. */
    expireTokens() {
      for (const t of issued.values()) if (t.state === "valid") t.state = "expired";
      return this;
    },
    /** Every token issued so far answers error_code 110 (unknown) from now on. */
    revokeTokens() {
      for (const t of issued.values()) t.state = "revoked";
      return this;
    },
    /** "valid", "expired", "revoked" or "unknown". */
    tokenStatus,
    /** Every access token issued, oldest first (not cleared by reset()). */
    get issuedTokens() {
      return [...issuedList];
    },
    /** Requests to the token endpoint since the last reset(). */
    get tokenFetches() {
      return calls.filter((c) => c.kind === "token").length;
    },
    tokenCalls() {
      return calls.filter((c) => c.kind === "token");
    },
    orderCenterCalls() {
      return calls.filter((c) => c.kind === "orderCenter");
    },
    /** Payment 2.0's findByTpOrderId lookups, oldest first (call.query.tpOrderId names the order). */
    findByTpOrderIdCalls() {
      return calls.filter((c) => c.path === FIND_BY_TP_ORDER_ID_PATH);
    },
    /**
     * Handler for a path: (call) => action. Takes precedence over the built-in answers, for valid
     * calls only (an invalid one gets Baidu's own answer) unless `evenIfInvalid` is set.
     */
    route(path, handler, { evenIfInvalid: serveInvalid = false } = {}) {
      routes.set(path, { handler: typeof handler === "function" ? handler : () => handler, evenIfInvalid: serveInvalid });
      return this;
    },
    /** Clears recorded calls, scripted answers and token-endpoint settings (routes and issued tokens stay). */
    reset() {
      calls.length = 0;
      nextQueue.length = 0;
      pathQueues.clear();
      byOrder.clear();
      byResource.clear();
      rowsAffected.clear();
      tokenSettings = defaultTokenEndpoint();
      return this;
    },
    /** Resolves once at least `n` calls have been answered/handled, or rejects after `timeoutMs`. */
    async waitForCalls(n, timeoutMs = 5000) {
      if (calls.filter((c) => c.answer).length >= n) return calls;
      return new Promise((resolve, reject) => {
        const check = () => {
          if (calls.filter((c) => c.answer).length >= n) { cleanup(); resolve(calls); }
        };
        const timer = setTimeout(() => { cleanup(); reject(new Error(`fake-baidu: expected ${n} call(s), saw ${calls.length}`)); }, timeoutMs);
        const cleanup = () => { clearTimeout(timer); waiters.delete(check); };
        waiters.add(check);
      });
    },
    /** Stops listening and destroys every open socket (hanging answers included). */
    async close() {
      if (closed) return;
      closed = true;
      const done = new Promise((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      server.closeAllConnections?.();
      await done;
    },
  };
}
