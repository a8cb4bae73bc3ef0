// Standard Webhooks (https://www.standardwebhooks.com/) signer for tests and scripts/send.mjs.
// Node builtins only.
import { createHmac, randomBytes } from "node:crypto";

/** A fresh `whsec_<base64 of 32 random bytes>` secret. */
export function newSecret(bytes = 32) {
  return `whsec_${randomBytes(bytes).toString("base64")}`;
}

/** A fresh message id in the style Standard Webhooks senders use (`msg_...`). */
export function newMessageId() {
  return `msg_${randomBytes(12).toString("base64url")}`;
}

/** Current Unix time in whole seconds. */
export function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

/** The key bytes of a `whsec_<base64>` secret (the prefix is optional, as in the reference libraries). */
export function secretKey(secret) {
  if (typeof secret !== "string" || secret.length === 0) throw new TypeError("secret must be a non-empty string");
  const b64 = secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret;
  return Buffer.from(b64, "base64");
}

/** One signature entry: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`. */
export function signature({ secret, id, timestamp, body }) {
  const payload = Buffer.concat([
    Buffer.from(`${id}.${timestamp}.`, "utf8"),
    Buffer.isBuffer(body) ? body : Buffer.from(String(body), "utf8"),
  ]);
  return `v1,${createHmac("sha256", secretKey(secret)).update(payload).digest("base64")}`;
}

/**
 * Standard Webhooks headers for `body`.
 * `secret` may be one secret or an array (one signature entry per secret, space-separated).
 * Returns {"webhook-id", "webhook-timestamp", "webhook-signature"}.
 */
export function sign({ secret, id = newMessageId(), timestamp = nowSeconds(), body }) {
  if (body === undefined) throw new TypeError("body is required");
  const secrets = Array.isArray(secret) ? secret : [secret];
  return {
    "webhook-id": String(id),
    "webhook-timestamp": String(timestamp),
    "webhook-signature": secrets.map((s) => signature({ secret: s, id, timestamp, body })).join(" "),
  };
}
