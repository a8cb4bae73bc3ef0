-- Retention (src/delivery/ledger.rs PURGE): finished rows are deleted oldest first once they
-- are older than LEDGER_RETENTION_DAYS. The partial index holds only finished rows, so the
-- purge finds its batch without reading the rows still in flight.
CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (updated_at)
  WHERE status IN ('delivered', 'rejected', 'failed');
