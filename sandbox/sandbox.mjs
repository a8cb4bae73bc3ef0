// The Baidu sandbox of `npm start` (docs/sandbox.md): the fake Baidu of the tests
// (sandbox/fake-baidu.mjs) with the dev credentials, one magic value per Baidu outcome, and
// a receiver for the relay's result webhooks that verifies their Standard Webhooks signature.
//
//   const sandbox = await startSandbox({ publicKey, appKey, appSecret, resultSecret, port, onCall, onResult });
//   sandbox.url, sandbox.resultsUrl, await sandbox.close()
//
// Magic values: the cashier looks at orderId, the order center at each item's ResourceID.
// Anything else succeeds (when the RSA signature verifies, for the cashier).
import { startFakeBaidu, TOKEN_INVALID } from "./fake-baidu.mjs";
import { callbackForm } from "./baidu-callbacks.mjs";
import { signature } from "./webhook.mjs";

export const RESULTS_PATH = "/relay-results";
/** Where the sandbox's merchant receives the relay's events (EVENTS_WEBHOOK_URL). */
export const EVENTS_PATH = "/merchant-events";

/**
 * Refund outcomes, by the refund's tpOrderId. After accepting a refund, the sandbox plays Baidu:
 * it calls the relay's refund-audit callback (1.0 always; 2.0 when isSkipAudit=0), then the
 * refund-result callback, both signed with the sandbox's platform key.
 */
export const REFUND_OUTCOMES = [
  { value: "(any other)", baidu: "refund accepted; audit callback (approved by the relay), then result refundStatus 1", events: "baidu.refund.succeeded" },
  { value: "REFUND-FAIL", baidu: "refund accepted; result refundStatus 2", events: "baidu.refund.failed" },
  { value: "REFUND-LATE", baidu: "refund accepted; the result callback 15 s later", events: "baidu.refund.succeeded, late" },
  { value: "REFUND-10002", baidu: "applyOrderRefund errno 10002", events: "none: the refund webhook answers 422 baidu_order_not_found" },
];

/**
 * Every outcome the sandbox plays. `value` is the orderId (cancel-verification) or ResourceID
 * (after-sale) that triggers it; `routes` says where it applies; `answer` is what the relay answers
 * (see docs/sandbox.md; tests/e2e/sandbox.test.mjs checks each against the examples/ files).
 */
export const OUTCOMES = [
  { value: "(any other)", routes: "both", baidu: "success (errno 0; rows_affected \"1\" per item)", answer: "200 delivered" },
  { value: "10000", routes: "cancel-verification", baidu: "errno 10000 sign verify failed", answer: "502 baidu_signature_rejected (not retried)" },
  { value: "10001", routes: "both", baidu: "errno 10001 参数错误", answer: "422 baidu_bad_parameter (not retried)" },
  { value: "10002", routes: "both", baidu: "errno 10002 订单不存在", answer: "422 baidu_order_not_found (not retried)" },
  { value: "10003", routes: "both", baidu: "errno 10003 企业余额不足 (balance)", answer: "cashier: 409 baidu_insufficient_balance; order center: 502 baidu_error (not retried)" },
  { value: "503", routes: "both", baidu: "errno 10003 系统内部错误，请稍后重试 twice, then success", answer: "202 queued (lastError baidu_internal_error); delivered on attempt 3" },
  { value: "500", routes: "both", baidu: "HTTP 500 twice, then success", answer: "202 queued (lastError upstream_unavailable); delivered on attempt 3" },
  { value: "504", routes: "both", baidu: "never answers (timeout)", answer: "202 queued (lastError upstream_unavailable); failed after MAX_ATTEMPTS" },
  { value: "401", routes: "after-sale", baidu: "token rejected: the call gets error_code 110, the fresh token request invalid_client", answer: "502 baidu_token_rejected (not retried)" },
  { value: "ROWS0", routes: "after-sale", baidu: "errno 0 but rows_affected \"0\" for that item", answer: "422 baidu_items_rejected, failedResourceIds [\"ROWS0\"] (not retried)" },
];

const ERRNO_ANSWERS = {
  10001: { errno: 10001, msg: "参数错误" },
  10002: { errno: 10002, msg: "订单不存在" },
  10003: { errno: 10003, msg: "企业余额不足" },
};
const INTERNAL_ERROR = { errno: 10003, msg: "系统内部错误，请稍后重试" };

/** An answer that fails the first two calls of every three (so the relay's third attempt succeeds). */
function failTwiceThenSucceed(failure) {
  let calls = 0;
  return () => (calls++ % 3 < 2 ? failure : "default");
}

/** Verifies a result webhook like the merchant's system should (Standard Webhooks, 300 s tolerance). */
export function verifyResultWebhook(call, resultSecret, nowSeconds = Math.floor(Date.now() / 1000)) {
  const id = call.headers["webhook-id"];
  const timestamp = call.headers["webhook-timestamp"];
  const given = String(call.headers["webhook-signature"] ?? "").split(" ");
  if (!id || !timestamp || !/^\d+$/.test(timestamp)) return { valid: false, why: "missing or malformed webhook-id/webhook-timestamp" };
  if (Math.abs(nowSeconds - Number(timestamp)) > 300) return { valid: false, why: "timestamp more than 300 s off" };
  const expected = signature({ secret: resultSecret, id, timestamp, body: Buffer.from(call.rawBody, "utf8") });
  return given.includes(expected) ? { valid: true } : { valid: false, why: "no signature matches RESULT_WEBHOOK_SECRET" };
}

/**
 * `resultSecret`: the relay's RESULT_WEBHOOK_SECRET, which result webhooks must verify with.
 * `platform` ({privateKey}) signs the callbacks Baidu sends to `relayUrl`; `eventsSecret` verifies
 * the relay's events; `onBaidu(line)` tells what the sandbox sent as Baidu, `onEvent` what the
 * merchant received.
 */
export async function startSandbox({ publicKey, appKey, appSecret, resultSecret, port = 0, onCall, onResult, platform, relayUrl, eventsSecret, onEvent, onBaidu }) {
  let rejectingTokens = false;
  const sandbox = await startFakeBaidu({
    publicKey,
    openapi: { appKey, appSecret },
    port,
    onCall: (call) => {
      // "401": the token request that follows the refused call is refused once, then all is well again.
      if (call.kind === "token" && rejectingTokens) {
        rejectingTokens = false;
        sandbox.tokenEndpoint({ reject: false });
      }
      onCall?.(call);
      if (call.refund && call.valid && platform && relayUrl) playRefundCallbacks(call);
    },
  });

  /** Baidu's side after an accepted refund: the audit (when it applies), then the result. */
  async function playRefundCallbacks(call) {
    let answer;
    try { answer = JSON.parse(call.answer?.body ?? ""); } catch { return; }
    if (answer?.errno !== 0 || !answer.data) return;
    const p = call.params;
    const refundBatchId = String(answer.data.refundBatchId);
    const ids = { orderId: p.orderId, userId: p.userId, tpOrderId: p.tpOrderId, refundBatchId };
    const post = async (path, fields) => {
      const body = callbackForm(fields, platform.privateKey);
      try {
        const base = typeof relayUrl === "function" ? relayUrl() : relayUrl;
        const r = await fetch(`${base}${path}`, { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
        const text = await r.text();
        onBaidu?.(`Baidu → relay ${path} ${JSON.stringify(fields)} → ${r.status} ${text}`);
        try { return JSON.parse(text); } catch { return undefined; }
      } catch (err) {
        onBaidu?.(`Baidu → relay ${path} failed: ${err.message}`);
        return undefined;
      }
    };
    await new Promise((r) => setTimeout(r, 300));
    let approved = true;
    if (call.kind !== "paymentService" || p.isSkipAudit === "0") {
      const audit = await post("/v1/baidu/refund-audit", { ...ids, ...(p.applyRefundMoney ? { applyRefundMoney: p.applyRefundMoney } : {}) });
      approved = audit?.data?.auditStatus === 1;
    }
    const late = p.tpOrderId === "REFUND-LATE" ? 15_000 : 500;
    await new Promise((r) => setTimeout(r, late));
    const refundStatus = approved && p.tpOrderId !== "REFUND-FAIL" ? "1" : "2";
    await post("/v1/baidu/refund-result", { ...ids, refundStatus });
  }

  // A paid 2.0 order for GET /v1/orders/{tpOrderId} (findByTpOrderId) to find.
  sandbox.payOrder("T-SANDBOX-1", { totalMoney: 9800, payMoney: 9800 });
  sandbox.route("/cashier/applyOrderRefund", (call) => (call.params?.tpOrderId === "REFUND-10002" ? ERRNO_ANSWERS[10002] : "default"));
  sandbox.route("/rest/2.0/smartapp/pay/paymentservice/applyOrderRefund", (call) => (call.params?.tpOrderId === "REFUND-10002" ? ERRNO_ANSWERS[10002] : "default"));
  sandbox.route(EVENTS_PATH, (call) => {
    const verdict = eventsSecret ? verifyResultWebhook(call, eventsSecret) : { valid: false, why: "no EVENTS_WEBHOOK_SECRET" };
    onEvent?.({ ...verdict, id: call.headers["webhook-id"], event: call.json, call });
    if (!verdict.valid) return { status: 401, json: { error: verdict.why } };
    // The sandbox's merchant approves every audit it is asked, for the amount asked (else 1 fen).
    if (call.json?.type === "baidu.refund.audit") return { json: { auditStatus: 1, refundPayMoney: call.json.data.applyRefundMoney ?? 1 } };
    return { json: { received: true } };
  });

  sandbox.respondForOrder("10000", { errno: 10000, msg: "sign verify failed" });
  for (const [value, answer] of Object.entries(ERRNO_ANSWERS)) {
    sandbox.respondForOrder(value, answer);
    sandbox.respondForResource(value, answer);
  }
  for (const respond of [sandbox.respondForOrder, sandbox.respondForResource]) {
    respond.call(sandbox, "503", failTwiceThenSucceed(INTERNAL_ERROR));
    respond.call(sandbox, "500", failTwiceThenSucceed("http500"));
    respond.call(sandbox, "504", "hang");
  }
  sandbox.respondForResource("401", () => {
    rejectingTokens = true;
    sandbox.tokenEndpoint({ reject: true });
    return { json: TOKEN_INVALID };
  });
  sandbox.rowsAffectedFor("ROWS0", "0");

  sandbox.route(RESULTS_PATH, (call) => {
    const verdict = verifyResultWebhook(call, resultSecret);
    onResult?.({ ...verdict, id: call.headers["webhook-id"], event: call.json, call });
    return verdict.valid ? { json: { received: true } } : { status: 401, json: { error: verdict.why } };
  });

  return Object.assign(sandbox, { resultsUrl: `${sandbox.url}${RESULTS_PATH}`, eventsUrl: `${sandbox.url}${EVENTS_PATH}` });
}
