-- Leases and fencing (src/delivery/ledger.rs): every write after a claim names the lease it
-- belongs to, and sweep_at says when the sweep takes a row back (a pending row's lease runs
-- out; a queued row's retry is overdue). round_start is where the current round of retries
-- began, so a manual retry gets a full budget.
ALTER TABLE deliveries ADD COLUMN lease INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN round_start INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN sweep_at INTEGER;
-- Rows written by the first version: messages in flight carry seen_attempts = attempts as
-- their lease; pending rows get the old 150 s cutoff, queued ones their due time plus 10 min.
UPDATE deliveries SET lease = attempts,
  sweep_at = CASE status
    WHEN 'pending' THEN updated_at + 150000
    WHEN 'queued' THEN COALESCE(next_attempt_at, updated_at) + 600000
    ELSE NULL END;
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, sweep_at);
