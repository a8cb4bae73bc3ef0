//! The runtime's clock. `js_sys::Date::now()` returns a number; `worker::Date` would build a
//! JS `Date` object on every call. (`SystemTime::now()` panics on wasm32.)

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Unix time in seconds, as Standard Webhooks timestamps are.
pub fn now_seconds() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}
