//! Baidu's wire formats, as pure functions: keys, signing, request building, answers, and
//! the errors they report.

pub mod answer;
pub mod callback;
pub mod cashier;
pub mod error;
pub mod key;
pub mod order_detail;
pub mod ordercenter;
pub mod payment;
pub mod payment_query;
pub mod refund;
pub mod selftest;
pub mod sign;
pub mod token;
