// The operator's console: reads /healthz and /v1/deliveries..., shows them, and re-queues
// failed deliveries. No framework and no markup built from strings: every value from the
// ledger goes into the page as text (textContent), so a webhook body cannot become script.
"use strict";

const TOKEN_KEY = "baidu-order-relay.admin-token";
const LANG_KEY = "baidu-order-relay.lang";
const FINISHED = ["delivered", "rejected", "failed"];

const TEXT = {
  en: {
    title: "Deliveries", logout: "Log out", login: "Admin token",
    loginHelp: "The relay's ADMIN_TOKEN. It stays in this tab only (sessionStorage) and is sent only to this relay.",
    loginButton: "Open the console", badToken: "The relay refused this token.", health: "Health",
    counts: "Last 24 hours", status: "Status", route: "Route", since: "Since", until: "Until", search: "Search",
    searchHelp: "webhook id prefix, order id or ResourceID", apply: "Apply", bulkRetry: "Retry failed…",
    received: "Received", id: "Webhook id", attempts: "Attempts", lastError: "Last error", order: "Order / ResourceID",
    more: "Older deliveries", empty: "No delivery matches.", back: "← All deliveries", retryOne: "Retry this delivery…",
    attemptLog: "Attempts", startedAt: "Started", outcome: "Outcome", upstreamStatus: "HTTP", duration: "Duration",
    error: "Error", request: "Request the merchant sent", steps: "Steps done (recorded before the next one runs)", baidu: "Baidu's answer", answer: "The relay's answer",
    cancel: "Cancel", confirm: "Retry", any: "any", total: "total", healthOk: "Configured and ready",
    healthBad: "Misconfigured", noAttempts: "No attempt recorded yet.", none: "none",
    updatedAt: "Updated", nextAttemptAt: "Next attempt", receivedAt: "Received",
    confirmOne: (id) => `Re-queue delivery ${id}? The relay will call Baidu again for it.`,
    confirmBulk: "Re-queue every failed delivery that matches the filters (up to 100 per click)? The relay will call Baidu again for each.",
    requeued: (n, more) => `Re-queued: ${n}.${more ? " More match: click again to continue." : ""}`,
    retried: "Re-queued. Watching until it finishes…", finished: (s) => `Finished: ${s}.`,
    loadFailed: "Could not load: ", zone: (z) => `Times in ${z}`,
  },
  zh: {
    title: "投递记录", logout: "退出", login: "管理令牌",
    loginHelp: "中继的 ADMIN_TOKEN。只保存在当前标签页（sessionStorage），只发送给本中继。",
    loginButton: "打开控制台", badToken: "中继拒绝了此令牌。", health: "健康状态",
    counts: "最近 24 小时", status: "状态", route: "路由", since: "开始", until: "结束", search: "搜索",
    searchHelp: "webhook id 前缀、订单号或 ResourceID", apply: "筛选", bulkRetry: "重试失败的…",
    received: "接收时间", id: "Webhook id", attempts: "尝试次数", lastError: "最后错误", order: "订单 / ResourceID",
    more: "更早的记录", empty: "没有匹配的投递。", back: "← 全部投递", retryOne: "重试此投递…",
    attemptLog: "尝试记录", startedAt: "开始", outcome: "结果", upstreamStatus: "HTTP", duration: "耗时",
    error: "错误", request: "商户发送的请求", steps: "已完成的步骤（下一步开始前已记录）", baidu: "百度的应答", answer: "中继的应答",
    cancel: "取消", confirm: "重试", any: "全部", total: "合计", healthOk: "配置完整，运行正常",
    healthBad: "配置有误", noAttempts: "尚无尝试记录。", none: "无",
    updatedAt: "更新时间", nextAttemptAt: "下次尝试", receivedAt: "接收时间",
    confirmOne: (id) => `重新排队投递 ${id}？中继将再次调用百度。`,
    confirmBulk: "重新排队所有符合筛选条件的失败投递（每次最多 100 条）？中继将逐条再次调用百度。",
    requeued: (n, more) => `已重新排队 ${n} 条。${more ? "还有更多：再次点击继续。" : ""}`,
    retried: "已重新排队，正在等待结果…", finished: (s) => `已结束：${s}。`,
    loadFailed: "加载失败：", zone: (z) => `时间为 ${z}`,
  },
};

const $ = (id) => document.getElementById(id);
let lang = sessionStorage.getItem(LANG_KEY) || (navigator.language.startsWith("zh") ? "zh" : "en");
let cursor = null;
let filters = {};
let current = null; // the delivery shown in the detail view
let watcher = null;

const t = (key, ...args) => {
  const value = TEXT[lang][key] ?? TEXT.en[key] ?? key;
  return typeof value === "function" ? value(...args) : value;
};

/** An element with text children only. */
function el(tag, { cls, text, title } = {}, ...children) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (title) node.title = title;
  for (const child of children) node.append(child);
  return node;
}

const localTime = (ms) => (ms === null || ms === undefined ? "—" : new Date(ms).toLocaleString(lang === "zh" ? "zh-CN" : undefined));
const statusBadge = (status) => el("span", { cls: `status status-${status}`, text: status });
const pretty = (value) => (value === null || value === undefined ? t("none") : JSON.stringify(value, null, 2));

function translate() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  $("lang").textContent = lang === "zh" ? "English" : "中文";
  $("zone").textContent = t("zone", Intl.DateTimeFormat().resolvedOptions().timeZone);
}

class Unauthorized extends Error {}

/** Calls the relay with the token; JSON back. A refused token logs out. */
async function api(method, path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, { method, headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
  const body = await response.json().catch(() => null);
  if (response.status === 401) throw new Unauthorized(t("badToken"));
  if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
  return body;
}

function show(view) {
  for (const id of ["login", "console", "detail"]) $(id).hidden = id !== view;
  $("logout").hidden = view === "login";
}

function logout(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  stopWatching();
  $("login-error").textContent = message;
  $("token").value = "";
  show("login");
  $("token").focus();
}

async function guarded(action) {
  try {
    await action();
  } catch (error) {
    if (error instanceof Unauthorized) logout(error.message);
    else $("notice").textContent = t("loadFailed") + error.message;
  }
}

async function loadHealth() {
  const response = await fetch("/healthz", { cache: "no-store" });
  const health = await response.json();
  const ok = health.status === "ok";
  const status = $("health-status");
  status.replaceChildren(el("span", { cls: ok ? "health-ok" : "health-bad", text: ok ? t("healthOk") : t("healthBad") }));
  const features = Object.entries(health.features ?? {}).map(([name, state]) => `${name}: ${state}`).join(" · ");
  if (features) status.append(el("br"), el("span", { cls: "muted", text: features }));
  $("health-problems").replaceChildren(...[...(health.problems ?? []), ...(health.notes ?? [])]
    .map((p) => el("li", { text: `${p.variable}: ${p.message}` })));
}

async function loadCounts() {
  const summary = await api("GET", "/v1/deliveries/summary");
  const items = [el("li", {}, el("b", { text: summary.total }), t("total"))];
  for (const [status, n] of Object.entries(summary.byStatus)) items.push(el("li", {}, el("b", { text: n }), statusBadge(status)));
  for (const [code, n] of Object.entries(summary.byError)) items.push(el("li", { cls: "muted" }, el("b", { text: n }), code));
  for (const [errno, n] of Object.entries(summary.byBaiduErrno)) items.push(el("li", { cls: "muted" }, el("b", { text: n }), `errno ${errno}`));
  $("counts").replaceChildren(...items);
}

function query(extra = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries({ ...filters, ...extra })) if (value !== "" && value !== null && value !== undefined) params.set(key, value);
  const text = params.toString();
  return text ? `?${text}` : "";
}

function readFilters() {
  const time = (id) => ($(id).value ? String(new Date($(id).value).getTime()) : "");
  filters = { status: $("f-status").value, route: $("f-route").value, since: time("f-since"), until: time("f-until"), q: $("f-q").value.trim() };
}

function row(delivery) {
  const tr = el("tr", { cls: "row" },
    el("td", { text: localTime(delivery.receivedAt) }),
    el("td", { cls: "id", text: delivery.id }),
    el("td", { text: delivery.route }),
    el("td", {}, statusBadge(delivery.status)),
    el("td", { text: delivery.attempts }),
    el("td", { text: delivery.lastError ?? "" }),
    el("td", { text: [delivery.orderId, delivery.resourceId].filter(Boolean).join(" / ") }));
  tr.dataset.id = delivery.id;
  tr.tabIndex = 0;
  const open = () => guarded(() => openDetail(delivery.id));
  tr.addEventListener("click", open);
  tr.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
  return tr;
}

async function loadPage(append = false) {
  const page = await api("GET", `/v1/deliveries${query({ cursor: append ? cursor : "" })}`);
  const rows = page.items.map(row);
  if (append) $("rows").append(...rows);
  else $("rows").replaceChildren(...rows);
  cursor = page.cursor;
  $("more").hidden = !cursor;
  $("empty").hidden = $("rows").children.length > 0;
}

async function refresh() {
  await Promise.all([loadHealth(), loadCounts(), loadPage()]);
}

function field(list, label, value) {
  list.append(el("dt", { text: label }), el("dd", {}, value instanceof Node ? value : document.createTextNode(String(value ?? "—"))));
}

function renderDetail(d) {
  current = d;
  $("detail-title").textContent = d.id;
  const fields = $("detail-fields");
  fields.replaceChildren();
  field(fields, t("status"), statusBadge(d.status));
  field(fields, t("route"), d.route);
  field(fields, t("attempts"), d.attempts);
  field(fields, t("lastError"), d.lastError ?? t("none"));
  field(fields, t("receivedAt"), localTime(d.receivedAt));
  field(fields, t("updatedAt"), localTime(d.updatedAt));
  field(fields, t("nextAttemptAt"), localTime(d.nextAttemptAt));
  $("detail-meaning").textContent = d.errorMeaning ?? "";
  $("retry-one").hidden = d.status !== "failed";
  const attempts = (d.attemptLog ?? []).map((a) => el("tr", {},
    el("td", { text: a.attempt }), el("td", { text: localTime(a.startedAt) }), el("td", {}, statusBadge(a.outcome)),
    el("td", { text: a.upstreamStatus ?? "" }), el("td", { text: a.errno ?? "" }), el("td", { text: `${a.durationMs} ms` }),
    el("td", { text: a.error ?? "" })));
  $("attempt-rows").replaceChildren(...(attempts.length ? attempts : [el("tr", {}, el("td", { text: t("noAttempts") }))]));
  $("detail-request").textContent = pretty(d.request);
  // A multi-step delivery (a 1.0 full refund, an order sync, an import's mark) shows the steps it has done.
  const hasSteps = Array.isArray(d.steps) && d.steps.length > 0;
  $("detail-steps-title").hidden = !hasSteps;
  $("detail-steps").hidden = !hasSteps;
  $("detail-steps").textContent = hasSteps ? pretty(d.steps) : "";
  $("detail-baidu").textContent = pretty(d.baidu);
  $("detail-answer").textContent = pretty(d.answer);
}

async function openDetail(id) {
  stopWatching();
  renderDetail(await api("GET", `/v1/deliveries/${encodeURIComponent(id)}`));
  $("notice").textContent = "";
  show("detail");
}

function stopWatching() {
  if (watcher) clearInterval(watcher);
  watcher = null;
}

/** Re-reads the shown delivery every second until it finishes (or a minute passes). */
function watch(id) {
  stopWatching();
  const until = Date.now() + 60_000;
  watcher = setInterval(() => guarded(async () => {
    const d = await api("GET", `/v1/deliveries/${encodeURIComponent(id)}`);
    if (current?.id === id) renderDetail(d);
    if (FINISHED.includes(d.status) || Date.now() > until) {
      stopWatching();
      $("detail-meaning").textContent = [t("finished", d.status), d.errorMeaning ?? ""].join(" ").trim();
    }
  }), 1000);
}

/** The confirmation dialog: resolves true when the operator confirms. */
function confirmAction(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

async function retryOne() {
  const id = current?.id;
  if (!id || !(await confirmAction(t("confirmOne", id)))) return;
  await api("POST", `/v1/deliveries/${encodeURIComponent(id)}/retry`);
  renderDetail(await api("GET", `/v1/deliveries/${encodeURIComponent(id)}`));
  $("detail-meaning").textContent = t("retried");
  watch(id);
}

async function retryBulk() {
  readFilters();
  if (!(await confirmAction(t("confirmBulk")))) return;
  const result = await api("POST", `/v1/deliveries/retry${query({ status: "" })}`);
  $("notice").textContent = t("requeued", result.requeued, Boolean(result.cursor));
  await Promise.all([loadCounts(), loadPage()]);
}

async function login(event) {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  $("login-error").textContent = "";
  show("console");
  await guarded(refresh);
}

function start() {
  translate();
  $("login-form").addEventListener("submit", (event) => login(event));
  $("logout").addEventListener("click", () => logout());
  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    sessionStorage.setItem(LANG_KEY, lang);
    translate();
    $("notice").textContent = "";
    if (!$("console").hidden) guarded(refresh);
    if (current && !$("detail").hidden) renderDetail(current);
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    readFilters();
    guarded(loadPage);
  });
  $("more").addEventListener("click", () => guarded(() => loadPage(true)));
  $("bulk-retry").addEventListener("click", () => guarded(retryBulk));
  $("retry-one").addEventListener("click", () => guarded(retryOne));
  $("back").addEventListener("click", () => {
    stopWatching();
    current = null;
    show("console");
    guarded(refresh);
  });
  if (sessionStorage.getItem(TOKEN_KEY)) {
    show("console");
    guarded(refresh);
  } else {
    logout();
  }
}

start();
