//! Baidu's wire formats, as pure functions: keys, signing, request building, answers.

pub mod answer;
pub mod cashier;
pub mod key;
pub mod ordercenter;
pub mod selftest;
pub mod sign;
pub mod token;
