// The peer: the cancel-verification relay as a merchant would write it by hand in TypeScript,
// with WebCrypto only (no dependencies), for bench/run.mjs to compare against the Rust/wasm relay.
// Same checks in the same order (route, content type, size, Standard Webhooks, JSON, fields),
// same form, canonical string, SHA1withRSA rsaSign, fetch with a timeout, one JSON log line.
// Not a product: one webhook secret, PKCS#8 PEM keys only, a coarse Baidu answer classification.
//
// PEER_KEY_IMPORT = "per-isolate" (default; the sensible version: keys imported once and the
// CryptoKeys cached) or "per-request" (the naive version: both keys imported on every request).
// PEER_LEDGER = "d1": also write the relay's D1 delivery ledger the way the relay does (insert a
// `pending` row, count the attempt, record the outcome: three statements, one after the other),
// for a like-for-like comparison with the relay's durable delivery. No retries or replays.

export interface Env {
  WEBHOOK_SECRET: string; // whsec_<base64>
  BAIDU_RSA_PRIVATE_KEY: string; // PKCS#8 PEM
  BAIDU_PAY_APP_KEY: string;
  BAIDU_CASHIER_URL: string;
  BAIDU_TIMEOUT_MS?: string;
  PEER_KEY_IMPORT?: string;
  PEER_LEDGER?: string;
  LEDGER?: D1Database;
}

// Minimal D1 types (the peer has no dependencies, not even @cloudflare/workers-types).
interface D1Result { meta: { changes?: number } }
interface D1PreparedStatement { bind(...values: unknown[]): D1PreparedStatement; run(): Promise<D1Result> }
interface D1Database { prepare(query: string): D1PreparedStatement }

// The relay's ledger statements (src/delivery/ledger.rs, migrations/0001_deliveries.sql).
const INSERT = "INSERT INTO deliveries (webhook_id, route, body, body_sha256, status, attempts, received_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', 1, ?5, ?5) ON CONFLICT(webhook_id) DO NOTHING";
const RECORD = "UPDATE deliveries SET status = ?2, last_error = ?3, answer_status = ?4, answer_body = ?5, baidu_answer = COALESCE(?6, baidu_answer), updated_at = ?7, next_attempt_at = ?8 WHERE webhook_id = ?1";

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface Keys {
  hmac: Promise<CryptoKey>;
  rsa: Promise<CryptoKey>;
}

const ROUTE = "/v1/cancel-verification";
const MAX_BODY = 64 * 1024;
const TOLERANCE_SECONDS = 300;
const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-1" };
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const U64_MAX = 18446744073709551615n;

let cachedKeys: Keys | undefined;

function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function bytesToBase64(bytes: ArrayBuffer): string {
  let bin = "";
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin);
}

function importKeys(env: Env): Keys {
  const secret = env.WEBHOOK_SECRET.trim().replace(/^whsec_/, "");
  const pem = env.BAIDU_RSA_PRIVATE_KEY.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  return {
    hmac: crypto.subtle.importKey("raw", base64ToBytes(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]),
    rsa: crypto.subtle.importKey("pkcs8", base64ToBytes(pem), RSA, false, ["sign"]),
  };
}

function keys(env: Env): Keys {
  if (env.PEER_KEY_IMPORT === "per-request") return importKeys(env);
  if (!cachedKeys) {
    cachedKeys = importKeys(env);
    // Forget a failed import so that a later request tries again.
    Promise.all([cachedKeys.hmac, cachedKeys.rsa]).catch(() => { cachedKeys = undefined; });
  }
  return cachedKeys;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly extra: Record<string, unknown> = {}) {
    super(message);
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

/** A JSON integer or a string of digits, 1..=u64::MAX, as its decimal string. */
function readId(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (value === undefined || value === null) throw new HttpError(422, "missing_field", `${field} is required`, { field });
  let text: string | undefined;
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) text = String(value);
  else if (typeof value === "string" && /^[0-9]{1,20}$/.test(value)) text = value.replace(/^0+(?=\d)/, "");
  if (text === undefined || BigInt(text) < 1n || BigInt(text) > U64_MAX) {
    throw new HttpError(422, "invalid_field", `${field} must be a positive integer`, { field });
  }
  return text;
}

async function verifyWebhook(request: Request, body: Uint8Array, hmacKey: CryptoKey): Promise<string> {
  const id = request.headers.get("webhook-id");
  const timestamp = request.headers.get("webhook-timestamp");
  const signature = request.headers.get("webhook-signature");
  for (const [name, v] of [["webhook-id", id], ["webhook-timestamp", timestamp], ["webhook-signature", signature]]) {
    if (v === null) throw new HttpError(401, "missing_webhook_header", `The ${name} header is missing.`, { field: name });
  }
  if (!/^[\x21-\x7e]{1,256}$/.test(id!)) throw new HttpError(401, "invalid_webhook_header", "bad webhook-id", { field: "webhook-id" });
  if (!/^[0-9]{1,18}$/.test(timestamp!)) throw new HttpError(401, "invalid_webhook_header", "bad webhook-timestamp", { field: "webhook-timestamp" });
  const now = Math.floor(Date.now() / 1000);
  const ts = Number(timestamp);
  if (ts < now - TOLERANCE_SECONDS) throw new HttpError(401, "webhook_timestamp_expired", "The webhook-timestamp is too old.");
  if (ts > now + TOLERANCE_SECONDS) throw new HttpError(401, "webhook_timestamp_in_future", "The webhook-timestamp is in the future.");
  const prefix = encoder.encode(`${id}.${timestamp}.`);
  const signed = new Uint8Array(prefix.length + body.length);
  signed.set(prefix);
  signed.set(body, prefix.length);
  for (const entry of signature!.split(" ")) {
    if (!entry.startsWith("v1,")) continue;
    let candidate: Uint8Array;
    try { candidate = base64ToBytes(entry.slice(3)); } catch { continue; }
    // crypto.subtle.verify compares in constant time.
    if (await crypto.subtle.verify("HMAC", hmacKey, candidate, signed)) return id!;
  }
  throw new HttpError(401, "invalid_webhook_signature", "No webhook-signature matches.");
}

async function cancelVerification(request: Request, env: Env, log: Record<string, unknown>): Promise<Response> {
  const { hmac, rsa } = keys(env);
  const contentType = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (contentType !== "application/json") throw new HttpError(415, "unsupported_media_type", "Send application/json.");
  if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY) throw new HttpError(413, "payload_too_large", "Body over 64 KiB.");
  const body = new Uint8Array(await request.arrayBuffer());
  if (body.length > MAX_BODY) throw new HttpError(413, "payload_too_large", "Body over 64 KiB.");
  const sentId = request.headers.get("webhook-id");
  if (sentId && /^[\x21-\x7e]{1,256}$/.test(sentId)) log.webhookId = sentId;
  const webhookId = await verifyWebhook(request, body, await hmac);

  let parsed: unknown;
  try { parsed = JSON.parse(decoder.decode(body)); } catch { throw new HttpError(400, "invalid_json", "The body is not JSON."); }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new HttpError(400, "invalid_json", "The body is not a JSON object.");
  const input = parsed as Record<string, unknown>;
  const params: Record<string, string> = {
    orderId: readId(input, "orderId"),
    userId: readId(input, "userId"),
    type: "3",
    appKey: env.BAIDU_PAY_APP_KEY,
  };
  // Baidu's canonical string: keys in byte order, k=v joined with &, raw values.
  const canonical = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join("&");
  const ledger = env.PEER_LEDGER === "d1" ? env.LEDGER : undefined;
  const id = webhookId;
  if (ledger) {
    const hash = hex(await crypto.subtle.digest("SHA-256", body));
    const inserted = await ledger.prepare(INSERT).bind(id, ROUTE, decoder.decode(body), hash, Date.now()).run();
    if (inserted.meta.changes !== 1) throw new HttpError(409, "in_progress", "A webhook with this id was already received.");
  }
  const rsaSign = bytesToBase64(await crypto.subtle.sign(RSA, await rsa, encoder.encode(canonical)));
  const form = new URLSearchParams();
  for (const k of Object.keys(params).sort()) form.append(k, params[k]);
  form.append("rsaSign", rsaSign);

  let upstream: Response;
  try {
    upstream = await fetch(env.BAIDU_CASHIER_URL, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded; charset=UTF-8" },
      body: form.toString(),
      signal: AbortSignal.timeout(Number(env.BAIDU_TIMEOUT_MS ?? 10_000)),
    });
  } catch (err) {
    const reason = (err as Error).name === "TimeoutError" ? "timeout" : "unreachable";
    throw new HttpError(502, "upstream_unavailable", "Baidu did not answer.", { reason });
  }
  log.upstreamStatus = upstream.status;
  const text = await upstream.text();
  if (!upstream.ok) throw new HttpError(502, "upstream_unavailable", "Baidu answered an HTTP error.", { reason: "http_status", upstreamStatus: upstream.status });
  let baidu: Record<string, unknown>;
  try { baidu = JSON.parse(text); } catch { throw new HttpError(502, "upstream_unavailable", "Baidu's answer is not JSON.", { reason: "invalid_answer" }); }
  const errno = Number(baidu.errno ?? baidu.error_code);
  log.baiduErrno = errno;
  if (errno === 0) {
    const answer = { id, status: "delivered", baidu };
    if (ledger) await ledger.prepare(RECORD).bind(id, "delivered", null, 200, JSON.stringify(answer), text, Date.now(), null).run();
    return json(200, answer);
  }
  const msg = String(baidu.msg ?? baidu.error_msg ?? "");
  const known: Record<number, [number, string]> = {
    10000: [502, "baidu_signature_rejected"],
    10001: [422, "baidu_bad_parameter"],
    10002: [422, "baidu_order_not_found"],
    10003: /internal|retry|busy|内部错误|稍后|重试/i.test(msg) ? [503, "baidu_internal_error"] : [409, "baidu_insufficient_balance"],
  };
  const [status, code] = known[errno] ?? [502, "baidu_error"];
  throw new HttpError(status, code, `Baidu refused the call: ${msg}`, { baiduErrno: errno, baiduMsg: msg });
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const started = Date.now();
    const url = new URL(request.url);
    const log: Record<string, unknown> = { msg: "request", method: request.method, route: url.pathname === ROUTE || url.pathname === "/healthz" ? url.pathname : "unmatched" };
    let response: Response;
    try {
      if (url.pathname === "/healthz") {
        if (request.method !== "GET") throw new HttpError(405, "method_not_allowed", "Use GET.", {});
        const ok = Boolean(env.WEBHOOK_SECRET && env.BAIDU_RSA_PRIVATE_KEY && env.BAIDU_PAY_APP_KEY);
        response = json(ok ? 200 : 503, { status: ok ? "ok" : "misconfigured" });
      } else if (url.pathname === ROUTE) {
        if (request.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST.");
        response = await cancelVerification(request, env, log);
      } else {
        throw new HttpError(404, "not_found", "Unknown path.");
      }
      log.outcome = url.pathname === "/healthz" ? (response.status === 200 ? "ok" : "misconfigured") : "delivered";
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, "internal_error", "The relay failed unexpectedly.");
      response = json(e.status, { error: { code: e.code, message: e.message, ...e.extra } }, e.status === 405 ? { allow: url.pathname === ROUTE ? "POST" : "GET" } : {});
      log.outcome = e.code;
    }
    log.status = response.status;
    log.durationMs = Date.now() - started;
    console.log(JSON.stringify(log));
    return response;
  },
};
