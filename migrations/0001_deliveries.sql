-- The delivery ledger: one row per accepted webhook (see src/delivery/ledger.rs).
-- Times are Unix milliseconds.
CREATE TABLE IF NOT EXISTS deliveries (
  webhook_id      TEXT PRIMARY KEY,
  route           TEXT NOT NULL,
  body            TEXT NOT NULL,
  body_sha256     TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'rejected', 'queued', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT,
  answer_status   INTEGER,
  answer_body     TEXT,
  baidu_answer    TEXT,
  received_at     INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  next_attempt_at INTEGER
);

CREATE INDEX IF NOT EXISTS deliveries_by_status ON deliveries (status, updated_at);
