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

test("wrangler.toml has no [secrets] block (wrangler dev would read only its names from .dev.vars); npm run deploy guards WEBHOOK_SECRET", async () => {
  assert.doesNotMatch(read("wrangler.toml"), /^\s*\[secrets\]/m);
  const pkg = JSON.parse(read("package.json"));
  assert.equal(pkg.scripts.deploy, "node scripts/deploy.mjs");
  const { checkSecrets, REQUIRED_SECRETS, secretsFileNames, option } = await import("../../scripts/deploy.mjs");
  // Cancel verification (BAIDU_RSA_PRIVATE_KEY) and after-sale (BAIDU_APP_SECRET) are optional
  // features and ADMIN_TOKEN only guards the admin routes: requiring them would block deploys
  // that do not use them.
  assert.deepEqual(REQUIRED_SECRETS, ["WEBHOOK_SECRET"]);
  assert.deepEqual(checkSecrets({ listed: ["WEBHOOK_SECRET", "ADMIN_TOKEN"] }), { ok: true });
  const refused = checkSecrets({ listed: ["ADMIN_TOKEN"] });
  assert.equal(refused.ok, false);
  assert.match(refused.message, /WEBHOOK_SECRET is not set.*npx wrangler secret put WEBHOOK_SECRET/);
  const unlisted = checkSecrets({ listed: new Error("Worker not found") });
  assert.match(unlisted.message, /could not be listed: Worker not found/);
  // A first deploy that uploads the secrets with it.
  assert.deepEqual(checkSecrets({ listed: new Error("Worker not found"), fileNames: secretsFileNames('{"WEBHOOK_SECRET":"whsec_x"}') }), { ok: true });
  assert.deepEqual(secretsFileNames('WEBHOOK_SECRET="whsec_x"\nADMIN_TOKEN=abc\n').sort(), ["ADMIN_TOKEN", "WEBHOOK_SECRET"]);
  assert.equal(option(["--secrets-file", "s.json"], "--secrets-file"), "s.json");
  assert.equal(option(["--secrets-file=s.env"], "--secrets-file"), "s.env");
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

test("a newcomer's .dev.vars and plain `wrangler dev`: /healthz 200 with every feature ok", { timeout: 180_000 }, async () => {
  const { devBindings, parseDotEnv } = await import("../../scripts/dev.mjs");
  const { KEYS, APP_KEY, APP_SECRET, newSecret } = await import("../support/e2e.mjs");
  const { startWranglerDev, dotenv } = await import("../support/wrangler-dev.mjs");
  const { platformKeyPair } = await import("../../sandbox/baidu-callbacks.mjs");
  const key = KEYS["2048 PKCS#8 PEM"];
  const vars = devBindings({
    secret: newSecret(), resultSecret: newSecret(), privateKey: key.privateKey, appKey: APP_KEY, appSecret: APP_SECRET, adminToken: "newcomer-admin-token-0123",
    platformPublicKey: platformKeyPair().publicKeyBase64, eventsSecret: newSecret(),
  }, "http://127.0.0.1:9");
  assert.deepEqual(parseDotEnv(dotenv(vars)), Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(v)])), "the .dev.vars written reads back as written");
  const dev = await startWranglerDev({ vars, migrate: false });
  try {
    const r = await fetch(`${dev.url}/healthz`);
    const health = await r.json();
    assert.equal(r.status, 200, JSON.stringify(health));
    assert.deepEqual(health.features, { cancelVerification: "ok", afterSale: "ok", callbacks: "ok", refunds: "ok" }, JSON.stringify(health));
    assert.doesNotMatch(dev.output(), /secrets.*experimental/i, "no experimental [secrets] warning");
  } finally {
    await dev.close();
  }
});
