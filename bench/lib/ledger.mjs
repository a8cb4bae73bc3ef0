// The relay's D1 ledger at scale, for the retention benchmark: finished rows shaped as the relay
// writes them (src/delivery/ledger.rs INSERT + SETTLE), inserted fast, and the size of the
// SQLite file behind a persisted local D1.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { newMessageId } from "../../sandbox/webhook.mjs";

export const CANCEL_ROUTE = "/v1/cancel-verification";
const AFTER_SALE_ROUTES = ["/v1/after-sale/update", "/v1/after-sale/update", "/v1/after-sale/append", "/v1/after-sale/status"];
const FINISHED = ["delivered", "rejected", "failed"];

/**
 * The row mix, by index so that every fill has exactly these shares: 1 row in 5 is an
 * after-sale webhook (2–4 refund items, 1–2 KB), the rest cancel verifications; of each kind
 * 90% delivered, 8% rejected by Baidu, 2% failed after every retry.
 */
export const MIX = {
  afterSaleShare: 0.2,
  afterSaleItems: [2, 3, 4],
  status: { delivered: 0.9, rejected: 0.08, failed: 0.02 },
  failedAttempts: 8,
};

/** Whether row `n` of the mix is an after-sale webhook. */
export const afterSaleIndex = (n) => n % 5 === 4;

function kindOf(i) {
  const j = Math.floor(i / 5);
  const slot = j % 50;
  return {
    afterSale: afterSaleIndex(i),
    status: slot < 45 ? "delivered" : slot < 49 ? "rejected" : "failed",
    items: MIX.afterSaleItems[j % MIX.afterSaleItems.length],
    route: AFTER_SALE_ROUTES[j % AFTER_SALE_ROUTES.length],
  };
}

// A smart program's App Key as Baidu issues them (32 letters and digits) and an openId.
const APP_KEY = "4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c";
const OPEN_ID = "k6bYMRbMDkF7hv0U4Dm1D2k9C8cPA4h5";

/**
 * A cancel verification as a merchant's order system sends it: the two fields the relay reads,
 * plus the merchant's own order number and a reason, which it ignores but stores (~100 B).
 */
function cancelBody(n) {
  return JSON.stringify({ orderId: 2_600_000_000 + n, userId: 4_100_000_000 + ((n * 7919) % 99_999_999), tpOrderId: `TP2026${String(n).padStart(14, "0")}`, reason: "user_cancelled" });
}

function refundItem(resourceId, k) {
  const amount = 1990 + 1000 * k;
  return {
    CateID: 2,
    ResourceID: resourceId,
    EXT: {
      SubsOrder: {
        Status: 402,
        Items: [{
          SubOrderID: `${resourceId}-AS1`,
          SubStatus: 402,
          CTime: 1777100000 + k,
          MTime: 1777103600 + k,
          OrderType: 1,
          OrderDetail: { Status: 2, Name: "退款详情", SwanSchema: `baiduboxapp://swan/${APP_KEY}/pages/refund/detail?id=${resourceId}-AS1` },
          Refund: { Amount: amount, Product: [{ ID: `SKU-${1001 + k}`, Quantity: 1, Amount: amount }] },
        }],
      },
    },
  };
}

function afterSaleBody(n, items) {
  const sceneId = 2_600_000_000 + n;
  return JSON.stringify({ openId: OPEN_ID, sceneId, sceneType: 2, data: Array.from({ length: items }, (_, k) => refundItem(`M${sceneId}${k}`, k)) });
}

/** Object keys sorted at every level, as serde_json writes the relay's answers. */
function sortedJson(value) {
  if (Array.isArray(value)) return value.map(sortedJson);
  if (value && typeof value === "object") return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortedJson(value[k])]));
  return value;
}

/** Baidu's answer to a call the relay made for `body` on `route` (what the fast fake answers). */
function baiduAnswer(route, body, appKey, rowsAffected = () => "1") {
  if (route === CANCEL_ROUTE) return { errno: 0, msg: "success", data: [] };
  const data = JSON.parse(body).data.map((item, k) => ({ biz_app_id: item.BizAPPID ?? appKey, cate_id: item.CateID, resource_id: item.ResourceID, rows_affected: rowsAffected(k) }));
  return { errno: 0, msg: "success", data };
}

/** The stored answer of a delivered webhook: `{"baidu":…,"id":…,"status":"delivered"}`. */
export function deliveredAnswer(route, id, body, appKey = APP_KEY) {
  return JSON.stringify(sortedJson({ baidu: baiduAnswer(route, body, appKey), id, status: "delivered" }));
}

// The relay's answers for the two usual permanent refusals and for retries run out (503s),
// copied from rows it wrote against sandbox/fake-baidu.mjs.
const CANCEL_REJECTED_BAIDU = { errno: 10002, msg: "订单不存在" };
const CANCEL_REJECTED = JSON.stringify({ error: { baiduErrno: 10002, baiduMsg: "订单不存在", code: "baidu_order_not_found", message: "Baidu does not know this order for this user (errno 10002: 订单不存在). Check orderId and userId against Baidu's payment callback." } });
const FAILED = JSON.stringify({ error: { code: "upstream_unavailable", message: "Baidu answered HTTP 503. Retry later.", reason: "http_status", upstreamStatus: 503 } });

function afterSaleRejected(body) {
  const items = JSON.parse(body).data;
  const last = items.length - 1;
  const failed = items[last].ResourceID;
  return JSON.stringify(sortedJson({
    error: {
      baidu: baiduAnswer("after-sale", body, APP_KEY, (k) => (k === last ? "0" : "1")),
      code: "baidu_items_rejected",
      failedResourceIds: [failed],
      message: `Baidu accepted the call but wrote no rows for ResourceID ${failed}. The order and every SubOrderID must already exist at Baidu (import them with /v1/after-sale/append first) and BizAPPID must be this smart program's App Key.`,
    },
  }));
}

/**
 * Row `n` of the mix (a ledger row as SELECT * returns it), finished at `updatedAt` (ms).
 * `n` also numbers the orders, so that every row has its own body.
 */
export function finishedRow(n, updatedAt) {
  const kind = kindOf(n);
  const route = kind.afterSale ? kind.route : CANCEL_ROUTE;
  const body = kind.afterSale ? afterSaleBody(n, kind.items) : cancelBody(n);
  const id = newMessageId();
  const failed = kind.status === "failed";
  const row = {
    webhook_id: id, route, body, body_sha256: createHash("sha256").update(body).digest("hex"), status: kind.status,
    attempts: failed ? MIX.failedAttempts : 1, round_start: 0, lease: failed ? MIX.failedAttempts : 1,
    last_error: null, answer_status: 200, answer_body: null, baidu_answer: null,
    // Retries run out about 20 h after the webhook arrived (the default backoff).
    received_at: updatedAt - (failed ? 72_000_000 : 25), updated_at: updatedAt, next_attempt_at: null, sweep_at: null,
  };
  if (kind.status === "delivered") {
    row.answer_body = deliveredAnswer(route, id, body);
  } else if (failed) {
    Object.assign(row, { last_error: "upstream_unavailable", answer_status: 502, answer_body: FAILED });
  } else if (kind.afterSale) {
    Object.assign(row, { last_error: "baidu_items_rejected", answer_status: 422, answer_body: afterSaleRejected(body) });
  } else {
    Object.assign(row, { last_error: "baidu_order_not_found", answer_status: 422, answer_body: CANCEL_REJECTED, baidu_answer: JSON.stringify(CANCEL_REJECTED_BAIDU) });
  }
  return row;
}

export const isAfterSale = (row) => row.route !== CANCEL_ROUTE;

const COLUMNS = ["webhook_id", "route", "body", "body_sha256", "status", "attempts", "round_start", "lease", "last_error",
  "answer_status", "answer_body", "baidu_answer", "received_at", "updated_at", "next_attempt_at", "sweep_at"];
const INSERT_HEAD = `INSERT INTO deliveries (${COLUMNS.join(", ")}) VALUES `;

// D1 allows 100 bound parameters and 100 KB of SQL per statement: literal values go much
// further per statement than placeholders.
const MAX_STATEMENT_BYTES = 90_000;
const STATEMENTS_PER_BATCH = 10;

function literal(v) {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "number") return String(v);
  return `'${String(v).replaceAll("'", "''")}'`;
}

/**
 * Inserts `rows` (finishedRow shape), in their order, with multi-row INSERTs, 10 per D1 batch.
 * Returns {rows, statements, ms, sizeAfter (D1's size_after once done)}.
 */
export async function insertRows(db, rows) {
  const started = performance.now();
  const statements = [];
  let values = [];
  let bytes = INSERT_HEAD.length;
  for (const row of rows) {
    const value = `(${COLUMNS.map((c) => literal(row[c])).join(",")})`;
    const size = Buffer.byteLength(value) + 1;
    if (bytes + size > MAX_STATEMENT_BYTES) {
      statements.push(INSERT_HEAD + values.join(","));
      values = [];
      bytes = INSERT_HEAD.length;
    }
    values.push(value);
    bytes += size;
  }
  if (values.length) statements.push(INSERT_HEAD + values.join(","));
  let sizeAfter = null;
  for (let i = 0; i < statements.length; i += STATEMENTS_PER_BATCH) {
    const results = await db.batch(statements.slice(i, i + STATEMENTS_PER_BATCH).map((sql) => db.prepare(sql)));
    sizeAfter = results.at(-1).meta.size_after;
  }
  return { rows: rows.length, statements: statements.length, ms: performance.now() - started, sizeAfter };
}

/** The SQLite file of the only D1 database persisted under `persistDir` (Miniflare's layout). */
export function d1SqliteFile(persistDir) {
  const dir = path.join(persistDir, "miniflare-D1DatabaseObject");
  const files = readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  if (files.length !== 1) throw new Error(`expected one D1 database file in ${dir}, found ${files.join(", ") || "none"}`);
  return path.join(dir, files[0]);
}

/** SQLite's WAL checksum over `length` bytes at `offset`, continuing from (s0, s1). */
function walChecksum(buf, offset, length, s0, s1, bigEndian) {
  const word = bigEndian ? (o) => buf.readUInt32BE(o) : (o) => buf.readUInt32LE(o);
  for (let o = offset; o < offset + length; o += 8) {
    s0 = (s0 + word(o) + s1) >>> 0;
    s1 = (s1 + word(o + 4) + s0) >>> 0;
  }
  return [s0, s1];
}

/**
 * The size a checkpoint would leave a SQLite database in WAL mode, read without one (D1 refuses
 * PRAGMA wal_checkpoint and page_count, and workerd does not checkpoint on exit): the database
 * size recorded by the last committed WAL frame (else the main file's header), and the free-list
 * count from the newest committed copy of page 1. Read it while nothing writes.
 * Returns {pageSize, pages, freelistPages, bytes, walBytes}.
 */
export function sqliteSize(file) {
  const main = readFileSync(file);
  const rawPageSize = main.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const headerValid = main.readUInt32BE(92) === main.readUInt32BE(24);
  let pages = headerValid && main.readUInt32BE(28) > 0 ? main.readUInt32BE(28) : main.length / pageSize;
  let page1 = main.subarray(0, 100);
  const walFile = `${file}-wal`;
  const wal = existsSync(walFile) ? readFileSync(walFile) : Buffer.alloc(0);
  const magic = wal.length >= 32 ? wal.readUInt32BE(0) : 0;
  if ((magic & 0xfffffffe) === 0x377f0682) {
    const bigEndian = (magic & 1) === 1;
    if (wal.readUInt32BE(8) !== pageSize) throw new Error(`${walFile}: page size ${wal.readUInt32BE(8)} ≠ ${pageSize}`);
    const salt1 = wal.readUInt32BE(16);
    const salt2 = wal.readUInt32BE(20);
    let [s0, s1] = walChecksum(wal, 0, 24, 0, 0, bigEndian);
    if (s0 === wal.readUInt32BE(24) && s1 === wal.readUInt32BE(28)) {
      let newestPage1 = null;
      for (let o = 32; o + 24 + pageSize <= wal.length; o += 24 + pageSize) {
        if (wal.readUInt32BE(o + 8) !== salt1 || wal.readUInt32BE(o + 12) !== salt2) break;
        [s0, s1] = walChecksum(wal, o, 8, s0, s1, bigEndian);
        [s0, s1] = walChecksum(wal, o + 24, pageSize, s0, s1, bigEndian);
        if (s0 !== wal.readUInt32BE(o + 16) || s1 !== wal.readUInt32BE(o + 20)) break;
        if (wal.readUInt32BE(o) === 1) newestPage1 = wal.subarray(o + 24, o + 124);
        const commitPages = wal.readUInt32BE(o + 4);
        if (commitPages > 0) {
          pages = commitPages;
          if (newestPage1) page1 = newestPage1;
        }
      }
    }
  }
  const freelistPages = page1.readUInt32BE(36);
  return { pageSize, pages, freelistPages, bytes: pages * pageSize, walBytes: wal.length };
}
