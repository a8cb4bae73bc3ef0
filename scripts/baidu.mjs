#!/usr/bin/env node
// npm run baidu: plays Baidu's side against the relay of `npm start`, signed with the sandbox's
// platform key (.dev/platform-private.pkcs8.pem, made by `npm start`).
//
//   npm run baidu -- pay <tpOrderId> [totalMoney fen, default 9800]   Baidu's payment callback
//   npm run baidu -- pay <tpOrderId> --forged                           the same, signed with another key (403)
//   npm run baidu -- refund-result <refundBatchId> <1|2>               a refund result for a refund id
//
// Each prints the form sent, the relay's answer, and what it means. RELAY_URL overrides the relay.
import { generateKeyPairSync, randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { callbackForm, paymentFields, CALLBACK_PATHS } from "../sandbox/baidu-callbacks.mjs";
import { DEV_FILES } from "./dev.mjs";

const RELAY = process.env.RELAY_URL || `http://127.0.0.1:${process.env.RELAY_PORT || 8787}`;
const USAGE = "usage: npm run baidu -- pay <tpOrderId> [totalMoney] [--forged] | refund-result <refundBatchId> <1|2>";

function platformKey(forged) {
  if (forged) return generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
  try {
    return readFileSync(DEV_FILES.platformPrivateKey, "utf8");
  } catch {
    throw new Error("no sandbox platform key in .dev/: run `npm start` once first");
  }
}

async function post(path, fields, key) {
  const body = callbackForm(fields, key);
  console.log(`baidu: POST ${RELAY}${path}\nbaidu:   form ${body.length > 400 ? `${body.slice(0, 400)}…` : body}`);
  const r = await fetch(`${RELAY}${path}`, { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
  const text = await r.text();
  console.log(`baidu:   relay answered ${r.status} ${text}`);
  return r;
}

async function main(args) {
  const forged = args.includes("--forged");
  const [command, ...rest] = args.filter((a) => a !== "--forged");
  if (command === "pay" && rest[0]) {
    const fields = paymentFields({ orderId: String(randomInt(2_000_000_000, 2_999_999_999)), tpOrderId: rest[0], totalMoney: Number(rest[1] ?? 9800) });
    const r = await post(CALLBACK_PATHS.payment, fields, platformKey(forged));
    console.log(r.status === 200
      ? `baidu: acknowledged; orderId ${fields.orderId} userId ${fields.userId} are now known by tpOrderId ${rest[0]} (cancel verification and refunds may name it alone)`
      : "baidu: not acknowledged: Baidu would call again in 2 minutes");
    return;
  }
  if (command === "refund-result" && rest[0] && ["1", "2"].includes(rest[1])) {
    await post(CALLBACK_PATHS.refundResult, { orderId: "1", userId: "", tpOrderId: "", refundBatchId: rest[0], refundStatus: rest[1] }, platformKey(forged));
    return;
  }
  throw new Error(USAGE);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`baidu: ${err.message}`);
  process.exit(1);
});
