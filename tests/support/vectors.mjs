// Access to tests/vectors (keys and known-answer signing vectors). Node builtins only.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { sign as cryptoSign } from "node:crypto";
import { canonicalString } from "../../sandbox/fake-baidu.mjs";

export const VECTORS_DIR = fileURLToPath(new URL("../vectors/", import.meta.url));
export const KEYS_DIR = fileURLToPath(new URL("../vectors/keys/", import.meta.url));

/** Contents of tests/vectors/keys/<name>.<form>.pem, form = "pkcs1" | "pkcs8" | "pub". */
export function keyPem(name, form) {
  return readFileSync(`${KEYS_DIR}${name}.${form}.pem`, "utf8");
}

/** The base64 body of a PEM (no BEGIN/END lines), as lines. */
export function pemBodyLines(pem) {
  return pem.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("-----"));
}

/** The base64 body of a PEM on one line. */
export function pemBody(pem) {
  return pemBodyLines(pem).join("");
}

export const signingVectors = JSON.parse(readFileSync(`${VECTORS_DIR}signing.json`, "utf8")).vectors;
export const callbackVector = JSON.parse(readFileSync(`${VECTORS_DIR}callback.json`, "utf8"));

export function vector(name) {
  const v = signingVectors.find((x) => x.name === name);
  if (!v) throw new Error(`no signing vector named ${name}`);
  return v;
}

/** SHA1withRSA base64 signature of params' canonical string with a PEM private key (Node crypto). */
export function rsaSignParams(params, privatePem) {
  return cryptoSign("RSA-SHA1", Buffer.from(canonicalString(params), "utf8"), privatePem).toString("base64");
}
