// A fake of Baidu's server APIs on 127.0.0.1, for end-to-end tests and the dev sandbox.
// Node builtins only.
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
//   baidu.route("/oauth/2.0/token", (call) => ({ json: {...} }))  // other endpoints, by path
//   baidu.reset(); await baidu.close();
//
// An answer ("action") is one of:
//   { errno, msg?, data? }        200 JSON {"errno","msg","data"} (data defaults to [])
//   { json, status? }             JSON body, status defaults to 200
//   { status, body?, headers? }   any status/body (e.g. { status: 500 })
//   "http500"                     HTTP 500 with a plain-text body
//   "garbage"                     HTTP 200, content-type application/json, body that is not JSON
//   "hang"                        never answers (the socket is destroyed on close())
//   "destroy"                     destroys the socket without answering
//   "default"                     the default cashier behaviour
//   { delayMs, ...action }        answers `action` after a delay
//   (call) => action              computed per call
import http from "node:http";
import { createPublicKey, verify as cryptoVerify, KeyObject } from "node:crypto";

export const CASHIER_PATHS = ["/cashier/syncOrderStatus", "/nop/server/rest"];
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

function normaliseAction(action) {
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
 *   host, port   default 127.0.0.1 and a random free port
 *   cashierPaths paths handled as cashier calls (default CASHIER_PATHS)
 *   onCall(call) called for each recorded call once it has been answered (or left hanging)
 */
export async function startFakeBaidu({ publicKey, host = "127.0.0.1", port = 0, cashierPaths = CASHIER_PATHS, onCall } = {}) {
  const key = publicKey === undefined ? undefined : toPublicKey(publicKey);
  const calls = [];
  const nextQueue = [];
  const byOrder = new Map(); // orderId -> { action, times }
  const routes = new Map(); // path -> handler(call) => action
  const sockets = new Set();
  const waiters = new Set();

  function cashierDefault(call) {
    return call.signatureValid ? { errno: SUCCESS.errno, msg: SUCCESS.msg, data: [] } : { ...SIGN_FAILED, data: [] };
  }

  function pickAction(call) {
    if (nextQueue.length > 0) return nextQueue.shift();
    const orderId = call.params?.orderId;
    if (orderId !== undefined && byOrder.has(orderId)) {
      const entry = byOrder.get(orderId);
      if (--entry.times <= 0) byOrder.delete(orderId);
      return entry.action;
    }
    return undefined;
  }

  function resolveAction(action, call) {
    let a = normaliseAction(action);
    for (let i = 0; a.kind === "fn" && i < 5; i++) a = normaliseAction(a.fn(call));
    if (a.kind === "default") {
      const route = routes.get(call.path);
      if (route) return resolveAction(route(call), call);
      if (call.cashier) return normaliseAction(cashierDefault(call));
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
        params: undefined,
        paramList: undefined,
        canonical: undefined,
        rsaSign: undefined,
        signatureValid: undefined,
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
      if (call.cashier && call.paramList) {
        call.canonical = canonicalString(call.paramList);
        call.rsaSign = call.params.rsaSign;
        call.signatureValid = key ? verifySignature(call.canonical, call.rsaSign, key) : false;
      }
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
    /** Handler for another path, e.g. a token endpoint or order-center JSON API: (call) => action. */
    route(path, handler) {
      routes.set(path, typeof handler === "function" ? handler : () => handler);
      return this;
    },
    /** Clears recorded calls and scripted answers (routes stay). */
    reset() {
      calls.length = 0;
      nextQueue.length = 0;
      byOrder.clear();
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
