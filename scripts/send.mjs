#!/usr/bin/env node
// npm run send -- <route> <json | file | -> : POSTs a Standard-Webhooks-signed webhook to the relay.
//
//   npm run send -- examples/cancel-verification-timeout.json   (route from the file name: cancel-verification*,
//                                                                after-sale-update*, after-sale-append*, after-sale-status*)
//   npm run send -- cancel-verification '{"orderId":2636635856,"userId":4188819900}'
//   npm run send -- cancel-verification examples/cancel-verification.json
//   npm run send -- after-sale/update examples/after-sale-update.json    (also after-sale/append, after-sale/status)
//   npm run send -- /v1/cancel-verification order.json
//   echo '{"orderId":1,"userId":2}' | npm run send -- cancel-verification -
//   npm run send -- healthz                       (GET, unsigned)
//
// RELAY_URL (default http://127.0.0.1:8787); WEBHOOK_SECRET (first of its space-separated secrets),
// else .dev/webhook-secret written by `npm start`. Prints the status and the pretty JSON answer;
// exits 1 unless the answer is 2xx. Node builtins only.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sign } from "../sandbox/webhook.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const RELAY_URL = (process.env.RELAY_URL || "http://127.0.0.1:8787").replace(/\/$/, "");
const USAGE = "usage: npm run send -- <route> <json | file | -> (route: cancel-verification, refund, payments/sign, after-sale/update, after-sale/append, after-sale/status, /v1/..., healthz)\n   or: npm run send -- <file> (route from the file name, e.g. examples/after-sale-status.json)";

/** The route a file is for, from its name (examples/after-sale-status-partial-failure.json -> after-sale/status). */
export function routeFromFileName(file) {
  const name = path.basename(file);
  if (/^payments-sign(?![a-z])/.test(name)) return "payments/sign";
  if (/^refund(?![a-z])/.test(name)) return "refund";
  const order = name.match(/^orders-(add|update|status|logistics)(?![a-z])/);
  if (order) return `orders/${order[1]}`;
  const m = name.match(/^(cancel-verification|after-sale-(update|append|status))(?![a-z])/);
  if (!m) return undefined;
  return m[2] ? `after-sale/${m[2]}` : "cancel-verification";
}

function routePath(route) {
  if (!route) throw new Error(USAGE);
  if (route.startsWith("/")) return route;
  if (route.startsWith("v1/")) return `/${route}`;
  if (route === "healthz") return "/healthz";
  return `/v1/${route}`;
}

function readBody(arg) {
  if (arg === undefined) throw new Error(USAGE);
  if (arg === "-") return readFileSync(0, "utf8");
  if (/^\s*[[{"]/.test(arg)) return arg;
  // `npm run` runs in the package root; a relative path is meant from where npm was started.
  const fromShell = process.env.INIT_CWD ? path.resolve(process.env.INIT_CWD, arg) : undefined;
  if (fromShell && existsSync(fromShell)) return readFileSync(fromShell, "utf8");
  if (existsSync(arg)) return readFileSync(arg, "utf8");
  throw new Error(`${arg}: neither JSON nor a readable file\n${USAGE}`);
}

function secret() {
  const fromEnv = (process.env.WEBHOOK_SECRET || "").split(/\s+/).filter(Boolean)[0];
  if (fromEnv) return fromEnv;
  const file = path.join(ROOT, ".dev", "webhook-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  throw new Error("no webhook secret: set WEBHOOK_SECRET or run `npm start` once (it writes .dev/webhook-secret)");
}

async function main() {
  let [route, bodyArg] = process.argv.slice(2);
  if (bodyArg === undefined && route && /\.json$/i.test(route)) {
    const inferred = routeFromFileName(route);
    if (!inferred) throw new Error(`${route}: cannot tell the route from the file name; name it first: npm run send -- <route> ${route}\n${USAGE}`);
    [route, bodyArg] = [inferred, route];
  }
  const pathname = routePath(route);
  const url = `${RELAY_URL}${pathname}`;
  let res;
  const t0 = performance.now();
  try {
    if (pathname === "/healthz") {
      console.log(`GET ${url}`);
      res = await fetch(url);
    } else {
      const body = readBody(bodyArg);
      const headers = { "content-type": "application/json", ...sign({ secret: secret(), body }) };
      console.log(`POST ${url}  webhook-id ${headers["webhook-id"]}`);
      res = await fetch(url, { method: "POST", headers, body });
    }
  } catch (err) {
    throw new Error(`cannot reach the relay at ${RELAY_URL} (${err.cause?.code ?? err.message}); is \`npm start\` running?`);
  }
  const text = await res.text();
  const ms = performance.now() - t0;
  console.log(`→ ${res.status} ${res.statusText} (${ms.toFixed(0)} ms)`);
  let json;
  try {
    json = JSON.parse(text);
    console.log(JSON.stringify(json, null, 2));
  } catch {
    console.log(text);
  }
  if (res.status === 202 && json?.id) {
    // Queued: the relay retries on its own; show how to follow the delivery.
    const tokenFile = path.join(ROOT, ".dev", "admin-token");
    const token = process.env.ADMIN_TOKEN || (existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : "<ADMIN_TOKEN>");
    console.log(`queued: the relay retries on its own. Follow it with\n  curl -s -H "Authorization: Bearer ${token}" ${RELAY_URL}/v1/deliveries/${encodeURIComponent(json.id)}`);
  }
  process.exitCode = res.ok ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`send: ${err.message}`);
    process.exit(2);
  });
}
