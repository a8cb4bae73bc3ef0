// wrangler.toml as wrangler itself reads it: the KV binding for the token cache, and a deploy dry run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "../../scripts/ensure-tools.mjs";

const read = (f) => readFileSync(path.join(ROOT, f), "utf8");

test("wrangler.toml declares the TOKEN_CACHE KV namespace, without an id (provisioned on deploy)", () => {
  const toml = read("wrangler.toml");
  const blocks = toml.split(/^\[\[kv_namespaces\]\]\s*$/m).slice(1).map((b) => b.split(/^\[/m)[0]);
  const cache = blocks.find((b) => /^binding = "TOKEN_CACHE"$/m.test(b));
  assert.ok(cache, "no [[kv_namespaces]] block with binding = \"TOKEN_CACHE\"");
  assert.doesNotMatch(cache, /^\s*id\s*=/m, "an id pins one account's namespace; wrangler deploy provisions one instead");
  assert.doesNotMatch(cache, /^\s*remote\s*=\s*true/m, "wrangler dev must use a local namespace");
});

test("wrangler.toml requires WEBHOOK_SECRET, and only the secrets every deployment needs", async () => {
  const { requiredSecrets } = await import("../../scripts/dev.mjs");
  // Cancel verification (BAIDU_RSA_PRIVATE_KEY) and after-sale (BAIDU_APP_SECRET) are optional
  // features and ADMIN_TOKEN only guards the admin routes: requiring them would block deploys
  // that do not use them.
  assert.deepEqual(requiredSecrets(read("wrangler.toml")), ["WEBHOOK_SECRET"]);
});

function run(cmd, args, { timeoutMs }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_UPDATE_NOTIFIER: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => { clearTimeout(timer); resolve({ code, signal, out }); });
  });
}

test("npx wrangler deploy --dry-run passes and binds TOKEN_CACHE", { timeout: 600_000 }, async () => {
  const outdir = mkdtempSync(path.join(os.tmpdir(), "wrangler-dry-run-"));
  try {
    // The [build] command runs first (skipped when build/ is fresh; npm test has just built).
    const r = await run(path.join(ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", outdir], { timeoutMs: 540_000 });
    assert.equal(r.code, 0, `wrangler deploy --dry-run failed (${r.signal ?? r.code}):\n${r.out}`);
    assert.match(r.out, /--dry-run: exiting now/, r.out);
    assert.match(r.out, /env\.TOKEN_CACHE\s+KV Namespace/, r.out);
    assert.ok(existsSync(path.join(outdir, "index.js")), "no bundle in --outdir");
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});
