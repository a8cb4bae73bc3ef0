-- Order-center calls may name an order by tpOrderId alone (src/delivery/order_identity.rs):
-- its scene_id is the orderId recorded here, and its open_id, which the payment callback does
-- not carry, comes from payment 2.0's findByTpOrderId once and is kept here, so the next call
-- needs no lookup. A lookup for an order no payment callback was recorded for fills the whole
-- row. A later payment callback naming another user clears the openId (ledger.rs
-- REMEMBER_PAYMENT).
ALTER TABLE paid_orders ADD COLUMN open_id TEXT;
