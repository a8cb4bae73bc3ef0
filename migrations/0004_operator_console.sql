-- The operator's console (GET /v1/deliveries, /summary, POST /v1/deliveries/retry; see
-- src/delivery/ledger.rs LIST). Every listing is newest first by (received_at, webhook_id):
-- each filter has an index that ends in those two columns, so a page is read in order from
-- the index and stops at its limit, whatever the ledger holds.
CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received_at, webhook_id);
CREATE INDEX IF NOT EXISTS deliveries_status_received ON deliveries (status, received_at, webhook_id);
CREATE INDEX IF NOT EXISTS deliveries_route_received ON deliveries (route, received_at, webhook_id);
CREATE INDEX IF NOT EXISTS deliveries_status_route_received ON deliveries (status, route, received_at, webhook_id);
-- What an operator searches by besides the webhook id: the cashier order id (orderId, or an
-- after-sale's sceneId) and the first after-sale item's ResourceID. Virtual columns: nothing
-- is stored twice and nothing changes on the write path but the index entries.
ALTER TABLE deliveries ADD COLUMN order_ref TEXT GENERATED ALWAYS AS (CASE WHEN json_valid(body) THEN CAST(COALESCE(json_extract(body, '$.orderId'), json_extract(body, '$.sceneId')) AS TEXT) END) VIRTUAL;
ALTER TABLE deliveries ADD COLUMN resource_ref TEXT GENERATED ALWAYS AS (CASE WHEN json_valid(body) THEN CAST(json_extract(body, '$.data[0].ResourceID') AS TEXT) END) VIRTUAL;
CREATE INDEX IF NOT EXISTS deliveries_order_ref ON deliveries (order_ref);
CREATE INDEX IF NOT EXISTS deliveries_resource_ref ON deliveries (resource_ref);
-- One row per attempt that called Baidu, the last ATTEMPTS_KEPT of each delivery (the settle
-- that records an attempt trims the older ones; the purge deletes a delivery's attempts with it).
CREATE TABLE IF NOT EXISTS delivery_attempts (
  webhook_id      TEXT NOT NULL,
  attempt         INTEGER NOT NULL,
  started_at      INTEGER NOT NULL,
  duration_ms     INTEGER NOT NULL,
  outcome         TEXT NOT NULL,
  error           TEXT,
  upstream_status INTEGER,
  errno           INTEGER,
  PRIMARY KEY (webhook_id, attempt)
);
