// Benchmark worker (run by bench/run.mjs in the same Miniflare as the relay and the peer).
//   GET /noop                          answers at once: the harness floor
//   GET /webcrypto?bits=2048&n=200     n sequential SHA1withRSA signatures with crypto.subtle, the
//                                      path src/platform/webcrypto.rs takes (key imported once)
//   GET /rsa-crate?bits=2048&n=20      n signatures with the `rsa` crate compiled to wasm (bench/rsa-wasm)
//   POST /fetch                        one POST to the fake Baidu's /floor: the outbound-fetch floor
//   POST /ledger                       the relay's three D1 ledger statements for a fresh id: the D1 floor
// Timed from outside: wall time of a request with n signatures minus one with n=0.
import rsaWasm from "./rsa_wasm_bench_bg.wasm";
import { initSync, RsaSigner } from "./rsa_wasm_bench.js";

initSync({ module: rsaWasm });

const ALGORITHM = { name: "RSASSA-PKCS1-v1_5", hash: { name: "SHA-1" } };
const MESSAGE = new TextEncoder().encode("appKey=MMMzaA&orderId=2636635856&type=3&userId=4188819900");
// The relay's ledger statements (src/delivery/ledger.rs), one after the other as the relay runs them.
const LEDGER = [
  ["INSERT INTO deliveries (webhook_id, route, body, body_sha256, status, attempts, received_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', 1, ?5, ?5) ON CONFLICT(webhook_id) DO NOTHING",
    (id, now) => [id, "/v1/cancel-verification", '{"orderId":1000000001,"userId":4188819900}', "0".repeat(64), now]],
  ["UPDATE deliveries SET status = ?2, last_error = ?3, answer_status = ?4, answer_body = ?5, baidu_answer = COALESCE(?6, baidu_answer), updated_at = ?7, next_attempt_at = ?8 WHERE webhook_id = ?1",
    (id, now) => [id, "delivered", null, 200, '{"id":"x","status":"delivered","baidu":{"errno":0,"msg":"success","data":[]}}', '{"errno":0,"msg":"success","data":[]}', now, null]],
];
let ledgerSequence = 0;
const webcryptoKeys = new Map();
const rsaSigners = new Map();

function pkcs8Der(pem) {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
}

function keyPem(env, bits) {
  const pem = env[`KEY_${bits}`];
  if (!pem) throw new Error(`no KEY_${bits} binding`);
  return pem;
}

function base64(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

function webcryptoKey(env, bits) {
  if (!webcryptoKeys.has(bits)) webcryptoKeys.set(bits, crypto.subtle.importKey("pkcs8", pkcs8Der(keyPem(env, bits)), ALGORITHM, false, ["sign"]));
  return webcryptoKeys.get(bits);
}

function rsaSigner(env, bits) {
  if (!rsaSigners.has(bits)) rsaSigners.set(bits, new RsaSigner(pkcs8Der(keyPem(env, bits))));
  return rsaSigners.get(bits);
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const bits = url.searchParams.get("bits") ?? "2048";
    const n = Number(url.searchParams.get("n") ?? "1");
    switch (url.pathname) {
      case "/noop":
        return new Response("ok");
      case "/webcrypto": {
        const key = await webcryptoKey(env, bits);
        let signature = new ArrayBuffer(0);
        for (let i = 0; i < n; i++) signature = await crypto.subtle.sign(ALGORITHM, key, MESSAGE);
        return Response.json({ n, signature: base64(signature) });
      }
      case "/rsa-crate": {
        const signer = rsaSigner(env, bits);
        const checksum = n > 1 ? signer.sign_n(MESSAGE, n - 1) : 0;
        const signature = n > 0 ? base64(signer.sign(MESSAGE)) : "";
        return Response.json({ n, checksum, signature });
      }
      case "/fetch": {
        const res = await fetch(`${env.FAKE_URL}/floor`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded; charset=UTF-8" },
          body: "appKey=MMMzaA&orderId=2636635856&type=3&userId=4188819900&rsaSign=floor",
        });
        return new Response(await res.text(), { status: res.status, headers: { "content-type": "application/json" } });
      }
      case "/ledger": {
        const id = `floor_${Date.now()}_${++ledgerSequence}`;
        for (const [sql, values] of LEDGER) await env.LEDGER.prepare(sql).bind(...values(id, Date.now())).run();
        return new Response("ok");
      }
      default:
        return new Response("not found", { status: 404 });
    }
  },
};
