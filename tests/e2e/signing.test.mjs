// The Worker's own signing path (WebCrypto, from Rust) against every known-answer vector,
// through GET /healthz?signing=1, in real workerd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { prepareBuild, startPair } from "../support/e2e.mjs";

let pair;
before(async () => {
  pair = await startPair({ buildDir: await prepareBuild() });
});
after(async () => {
  await pair?.close();
});

test("WebCrypto in workerd reproduces every signing vector byte for byte", async () => {
  const vectors = JSON.parse(readFileSync(new URL("../vectors/signing.json", import.meta.url), "utf8")).vectors;
  const r = await pair.relay.get("/healthz?signing=1");
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.signingSelfTest, { vectors: vectors.length, passed: vectors.length, failed: [] });
  assert.equal(pair.baidu.calls.length, 0, "the self-test reaches nothing");
});

test("without the query, /healthz does not sign", async () => {
  const r = await pair.relay.get("/healthz");
  assert.equal(r.status, 200);
  assert.equal(r.json.signingSelfTest, undefined);
});
