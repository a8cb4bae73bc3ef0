//! `POST /v1/payments/sign`: the `rsaSign` of a payment's `orderInfo`, answered at once (a
//! user is waiting at the cashier). Nothing reaches Baidu and nothing is recorded: signing is
//! deterministic, so a repeated request gets the same signature.

use serde_json::json;

use super::ports::Upstream;
use crate::baidu::sign::encode_signature;
use crate::config::Config;
use crate::error::ApiError;
use crate::inbound;
use crate::reply::Reply;

pub async fn sign<U: Upstream>(
    upstream: &U,
    config: &Config,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let cashier = config.cashier.ready()?;
    let order = inbound::payment_sign::parse(body)?;
    let canonical = order.canonical_string(&cashier.pay_app_key);
    let signature = encode_signature(&upstream.sign(cashier, canonical.as_bytes()).await?);
    Ok(Reply::json(
        200,
        json!({
            "rsaSign": signature,
            "orderInfo": order.order_info(&cashier.pay_app_key, &signature),
        }),
        "signed",
    ))
}
