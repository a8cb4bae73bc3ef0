// Baidu's side of the callbacks (payment, refund audit, refund result): a platform key pair and
// forms signed as Baidu signs them (SHA1withRSA over every field but rsaSign, sorted by byte
// order, empty values kept), with Node's crypto, not the relay's code. Node builtins only.
import { createSign, generateKeyPairSync } from "node:crypto";
import { canonicalString } from "./fake-baidu.mjs";

export const CALLBACK_PATHS = Object.freeze({
  payment: "/v1/baidu/payment",
  refundAudit: "/v1/baidu/refund-audit",
  refundResult: "/v1/baidu/refund-result",
});

/** A fresh platform key pair; `publicKeyBase64` is the bare SPKI base64 Baidu's console shows. */
export function platformKeyPair(bits = 1024) {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  const der = publicKey.export({ type: "spki", format: "der" });
  return { privateKey, publicKey, publicKeyBase64: der.toString("base64") };
}

/** `rsaSign` over `fields` (an object of strings) with `privateKey`; `canonical` overrides the string signed. */
export function callbackSignature(fields, privateKey, canonical) {
  const text = canonical ?? canonicalString(Object.entries(fields));
  return createSign("RSA-SHA1").update(text, "utf8").sign(privateKey, "base64");
}

/** The form body Baidu posts: the fields and their rsaSign, percent-encoded. */
export function callbackForm(fields, privateKey, { canonical } = {}) {
  const form = new URLSearchParams(Object.entries(fields));
  form.append("rsaSign", callbackSignature(fields, privateKey, canonical));
  return form.toString();
}

/** A payment callback's fields (money in fen), as Baidu sends them. */
export function paymentFields({ orderId = "2645985458", userId = "3269234686470", tpOrderId = "T-1001", totalMoney = 9800, ...extra } = {}) {
  return {
    count: "1", dealId: "2500207776", giftCardMoney: "0", hbBalanceMoney: "0", hbMoney: "0",
    orderId: String(orderId), partnerId: "0", payMoney: String(totalMoney), payTime: "1777100000", payType: "1117",
    promoDetail: "", promoMoney: "0", returnData: "", status: "2", totalMoney: String(totalMoney),
    tpOrderId: String(tpOrderId), unitPrice: String(totalMoney), userId: String(userId),
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, String(v)])),
  };
}

/** POSTs a signed callback form to the relay, as Baidu would. */
export function postCallback(relay, path, fields, privateKey, options = {}) {
  const body = options.body ?? callbackForm(fields, privateKey, options);
  return relay.request("POST", path, {
    body,
    headers: { "content-type": options.contentType ?? "application/x-www-form-urlencoded" },
  });
}
