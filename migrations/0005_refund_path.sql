-- The refund path (src/delivery/ledger.rs): multi-step deliveries, the orders Baidu's payment
-- callbacks told about, and the refunds the relay requested. Times are Unix milliseconds.
-- A multi-step delivery (a 1.0 full refund: cancel verification, then refund) records each
-- step's answer as it is done, so a retry goes on from the next step.
ALTER TABLE deliveries ADD COLUMN step_answers TEXT;
-- Payment callbacks by the merchant's tpOrderId: cancel verification and refunds may then
-- name an order by tpOrderId alone. Ids are Baidu's Longs, kept as text.
CREATE TABLE IF NOT EXISTS paid_orders (
  tp_order_id  TEXT PRIMARY KEY,
  order_id     TEXT NOT NULL,
  user_id      TEXT NOT NULL,
  total_money  INTEGER,
  pay_money    INTEGER,
  deal_id      TEXT,
  pay_time     INTEGER,
  updated_at   INTEGER NOT NULL
);
-- Refunds the relay asked Baidu for, recorded before the call, so that Baidu's audit callback
-- (which may arrive while the call is still running) is recognised and approved.
CREATE TABLE IF NOT EXISTS refunds (
  biz_refund_batch_id TEXT PRIMARY KEY,
  webhook_id          TEXT NOT NULL,
  order_id            TEXT NOT NULL,
  tp_order_id         TEXT NOT NULL,
  amount              INTEGER,
  approve_money       INTEGER,
  refund_batch_id     TEXT,
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refunds_by_batch ON refunds (refund_batch_id);
CREATE INDEX IF NOT EXISTS refunds_by_order ON refunds (order_id, created_at);
