// The console page (/admin) in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core) against the relay under plain `wrangler dev` (configured by .dev.vars, as a
// merchant runs it) and the `npm start` sandbox: log in, find a delivery the sandbox made fail,
// open it, retry it and watch it become delivered; then the bulk retry.
// Skips, saying why, only when no Chromium is installed (scripts/ensure-tools.mjs installs it
// with apt where it can). UPDATE_SCREENSHOTS=1 writes each screen to docs/console-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { prepareBuild, KEYS, publicKeyOf, APP_KEY, APP_SECRET, newSecret } from "../support/e2e.mjs";
import { relayClient } from "../support/relay.mjs";
import { startWranglerDev } from "../support/wrangler-dev.mjs";
import { waitForStatus } from "../support/delivery.mjs";
import { ROOT } from "../support/relay.mjs";
import { startSandbox } from "../../sandbox/sandbox.mjs";
import { devBindings } from "../../scripts/dev.mjs";
import { platformKeyPair } from "../../sandbox/baidu-callbacks.mjs";
import { findChromium } from "../../scripts/ensure-tools.mjs";

const ADMIN_TOKEN = "console-browser-admin-token-01";
const TIME_ZONE = "Asia/Shanghai";

const CHROMIUM = findChromium();
const SKIP = CHROMIUM ? false : "no Chromium installed: `apt-get install chromium` (npm test does this where it can), or set CHROMIUM_PATH";
const SHOTS = process.env.UPDATE_SCREENSHOTS ? path.join(ROOT, "docs") : mkdtempSync(path.join(os.tmpdir(), "relay-console-"));

let sandbox;
let dev;
let relay;
let browser;

before(async () => {
  if (SKIP) return;
  const buildDir = await prepareBuild();
  const key = KEYS["2048 PKCS#8 PEM"];
  const creds = {
    secret: newSecret(), resultSecret: newSecret(), privateKey: key.privateKey, appKey: APP_KEY, appSecret: APP_SECRET, adminToken: ADMIN_TOKEN,
    platformPublicKey: platformKeyPair().publicKeyBase64, eventsSecret: newSecret(),
  };
  sandbox = await startSandbox({ publicKey: publicKeyOf(key.name), appKey: APP_KEY, appSecret: APP_SECRET, resultSecret: creds.resultSecret });
  // The dev configuration; two attempts a round, retried at once, so the sandbox's "HTTP 500
  // twice, then success" ends a round failed and succeeds on the operator's retry.
  const vars = { ...devBindings(creds, sandbox.url), MAX_ATTEMPTS: "2", RETRY_BASE_DELAY_SECONDS: "0", RETRY_MAX_DELAY_SECONDS: "0", BAIDU_TIMEOUT_MS: "300" };
  dev = await startWranglerDev({ vars, buildDir });
  relay = relayClient(dev.url, { secrets: [creds.secret] });
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  await dev?.close();
  await sandbox?.close();
});

/** Sends an examples/ file as `npm run send` would. */
async function sendExample(file, id) {
  const body = readFileSync(path.join(ROOT, "examples", file), "utf8");
  return relay.post("/v1/cancel-verification", body, { id });
}

test("log in, see the sandbox's failed delivery, open it, retry it, watch it become delivered; then a bulk retry", { skip: SKIP, timeout: 180_000 }, async () => {
  assert.equal((await sendExample("cancel-verification.json", "evt_console_ok")).status, 200);
  assert.equal((await sendExample("cancel-verification-order-not-found.json", "evt_console_rejected")).status, 422);
  assert.equal((await sendExample("cancel-verification-http-500.json", "evt_console_failed")).status, 202);
  await waitForStatus(relay, "evt_console_failed", "failed", { token: ADMIN_TOKEN });

  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, timezoneId: TIME_ZONE, locale: "en-US" });
  const page = await context.newPage();
  const cspViolations = [];
  const pageErrors = [];
  page.on("console", (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text()); });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));

  await page.goto(`${relay.url}/admin`);
  await page.locator("#login").waitFor({ state: "visible" });
  await page.screenshot({ path: path.join(SHOTS, "console-login.png") });

  // A wrong token is refused and asked for again.
  await page.fill("#token", "not-the-admin-token-0000");
  await page.click("#login-submit");
  await page.locator("#login-error").filter({ hasText: "refused" }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused token is not kept");

  await page.fill("#token", ADMIN_TOKEN);
  await page.click("#login-submit");
  const failedRow = page.locator('tr[data-id="evt_console_failed"]');
  await failedRow.waitFor();
  assert.equal(await failedRow.locator(".status").textContent(), "failed");
  await page.locator("#health-status").filter({ hasText: "Configured and ready" }).waitFor();
  await page.locator("#counts li").first().waitFor();
  assert.match(await page.locator("#counts").textContent(), /3\s*total/);
  assert.match(await page.locator("#zone").textContent(), new RegExp(TIME_ZONE));
  // Times are the viewer's: the row's time is the ledger's receivedAt in the browser's zone.
  const listed = (await relay.get("/v1/deliveries/evt_console_failed", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json;
  const local = new Date(listed.receivedAt).toLocaleString("en-US", { timeZone: TIME_ZONE });
  assert.equal(await failedRow.locator("td").first().textContent(), local);
  // The token lives in this tab's sessionStorage only: not in the URL, a cookie or localStorage.
  assert.equal(await page.evaluate(() => Object.values(sessionStorage).includes("console-browser-admin-token-01")), true);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.deepEqual(await context.cookies(), []);
  assert.ok(requests.every((u) => !u.includes(ADMIN_TOKEN)), "never in a URL");
  await page.screenshot({ path: path.join(SHOTS, "console-list.png"), fullPage: true });

  // The filter narrows the list to failed deliveries.
  await page.selectOption("#f-status", "failed");
  await page.click("#apply");
  await page.locator('tr[data-id="evt_console_ok"]').waitFor({ state: "detached" });
  assert.equal(await page.locator("#rows tr").count(), 1);

  await failedRow.click();
  await page.locator("#detail").waitFor({ state: "visible" });
  assert.equal(await page.locator("#detail-title").textContent(), "evt_console_failed");
  assert.equal(await page.locator("#attempt-rows tr").count(), 2, "both attempts of the round");
  assert.match(await page.locator("#attempt-rows").textContent(), /500/);
  assert.match(await page.locator("#detail-meaning").textContent(), /Baidu could not be reached/);
  assert.match(await page.locator("#detail-request").textContent(), /"orderId": 500/);
  await page.screenshot({ path: path.join(SHOTS, "console-detail.png"), fullPage: true });

  await page.click("#retry-one");
  await page.locator("#confirm").waitFor({ state: "visible" });
  assert.match(await page.locator("#confirm-text").textContent(), /evt_console_failed/);
  await page.screenshot({ path: path.join(SHOTS, "console-confirm.png") });
  await page.click("#confirm-ok");
  await page.locator("#detail-fields .status").filter({ hasText: "delivered" }).waitFor({ timeout: 30_000 });
  assert.equal(await page.locator("#attempt-rows tr").count(), 3);
  assert.match(await page.locator("#detail-meaning").textContent(), /Finished: delivered/);
  assert.match(await page.locator("#detail-baidu").textContent(), /"errno": 0/);
  await page.screenshot({ path: path.join(SHOTS, "console-delivered.png"), fullPage: true });
  assert.equal((await waitForStatus(relay, "evt_console_failed", "delivered", { token: ADMIN_TOKEN })).attempts, 3);

  // Bulk: the sandbox fails the next two calls for order 500 again; retry every failed one. The
  // order is verified again first: the relay asks Baidu (queryorderdetail) before it resends a
  // cancel whose outcome is unknown, and an order already unverified would settle it at once.
  sandbox.setCashierOrder("500", { verified: true });
  assert.equal((await sendExample("cancel-verification-http-500.json", "evt_console_bulk")).status, 202);
  await waitForStatus(relay, "evt_console_bulk", "failed", { token: ADMIN_TOKEN });
  await page.click("#back");
  await page.locator('tr[data-id="evt_console_bulk"]').waitFor();
  await page.click("#bulk-retry");
  await page.locator("#confirm").waitFor({ state: "visible" });
  await page.click("#confirm-ok");
  await page.locator("#notice").filter({ hasText: "Re-queued: 1." }).waitFor();
  await waitForStatus(relay, "evt_console_bulk", "delivered", { token: ADMIN_TOKEN });

  // 中文 labels, over every delivery.
  await page.selectOption("#f-status", "");
  await page.click("#apply");
  await page.locator('tr[data-id="evt_console_ok"]').waitFor();
  await page.click("#lang");
  await page.locator("#apply").filter({ hasText: "筛选" }).waitFor();
  await page.locator("#health-status").filter({ hasText: "配置完整" }).waitFor();
  await page.screenshot({ path: path.join(SHOTS, "console-zh.png"), fullPage: true });

  assert.deepEqual(cspViolations, [], "the page runs within its Content-Security-Policy");
  assert.deepEqual(pageErrors, []);
  await context.close();
});
