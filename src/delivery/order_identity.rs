//! Whose order an order-center call is about, when the webhook names it by `tpOrderId`.
//!
//! Baidu's order center wants `open_id` (or `swan_id`) and `scene_id` in its query. The
//! merchant's system often knows neither: `scene_id` is Baidu's `orderId`, which the payment
//! callback recorded in the ledger, and `open_id` is in no callback at all, so payment 2.0's
//! `findByTpOrderId` (baidu-api.md §9.1) is asked for it once and the answer kept in the
//! ledger: the next call for the order needs no lookup. Ids the webhook gives explicitly win
//! and are never looked up. Resolution runs at attempt time, so a lookup that gets no answer
//! is retried like any transient failure, and a `tpOrderId` Baidu does not know is
//! `order_unknown`.

use serde_json::{json, Value};

use super::job::{order_center_token, Lease};
use super::ports::{OrderBook, OrderIdentity, Ports, Runtime, Upstream};
use crate::baidu::callback::PaidOrder;
use crate::baidu::error::{BaiduError, BaiduRejection};
use crate::baidu::ordercenter::{OrderOwner, OrderScene, OrderUser};
use crate::baidu::payment_query::{self, id_text, PaymentQuery, QueryOutcome};
use crate::baidu::token::AccessToken;
use crate::config::OrderCenterConfig;
use crate::error::ApiError;
use crate::inbound::after_sale::swan_id_is_scene_id;
use crate::log::RequestLog;

/// The query's user and scene for `owner`: as given; else completed from the ledger; else from
/// `findByTpOrderId`, whose answer the ledger then keeps. `token` may be refreshed on the way
/// (the caller goes on with the fresh one).
pub async fn resolve<P: Ports>(
    ports: &P,
    owner: &OrderOwner,
    order_center: &OrderCenterConfig,
    timeout_ms: u32,
    lease: Lease<'_, P::Runtime>,
    token: &mut AccessToken,
    log: &mut RequestLog,
) -> Result<OrderScene, ApiError> {
    if let Some(scene) = complete(owner, None)? {
        return Ok(scene);
    }
    let tp_order_id = owner.tp_order_id.as_deref().ok_or(ApiError::Internal)?;
    // The ledger is only a cache here: if it cannot be read, Baidu is asked instead.
    let recorded = match ports.orders() {
        Ok(book) => book.identity(tp_order_id).await.unwrap_or_else(|_| {
            ports.runtime().log(json!({"msg": "order identity not read from the ledger; asking Baidu", "tpOrderId": tp_order_id}));
            None
        }),
        Err(_) => None,
    };
    if let Some(scene) = complete(owner, recorded.as_ref())? {
        return Ok(scene);
    }
    let data = find_by_tp_order_id(
        ports,
        order_center,
        timeout_ms,
        lease,
        tp_order_id,
        token,
        log,
    )
    .await?;
    let (found, open_id) = identity_of(tp_order_id, &data)?;
    let remembered = match ports.orders() {
        Ok(book) => book
            .remember_identity(&found, open_id.as_deref(), ports.runtime().now_ms())
            .await
            .is_ok(),
        Err(_) => false,
    };
    ports.runtime().log(json!({
        "msg": "order identity resolved by findByTpOrderId",
        "tpOrderId": tp_order_id,
        "remembered": remembered,
    }));
    // The lookup's ids go together (its orderId with its openId), over any recorded ones.
    let looked_up = OrderIdentity {
        order_id: found.order_id,
        user_id: found.user_id,
        open_id,
    };
    complete(owner, Some(&looked_up))?.ok_or_else(|| ApiError::InvalidField {
        field: "openId".into(),
        reason: "could not be resolved: Baidu's findByTpOrderId gives no openId for this order; send the user's openId, or swanId for a user without one".into(),
    })
}

/// The scene, if the webhook's ids completed with `known` make one; `None` when a lookup must
/// tell the rest. The webhook's own ids win.
pub fn complete(
    owner: &OrderOwner,
    known: Option<&OrderIdentity>,
) -> Result<Option<OrderScene>, ApiError> {
    let user = owner.user.clone().or_else(|| {
        known
            .and_then(|known| known.open_id.as_deref())
            .filter(|open_id| !open_id.trim().is_empty())
            .map(|open_id| OrderUser::OpenId(open_id.to_owned()))
    });
    let scene_id = owner
        .scene_id
        .or_else(|| known.and_then(|known| known.order_id.trim().parse::<u64>().ok()));
    match (user, scene_id) {
        (Some(user), Some(scene_id)) => OrderScene::new(user, scene_id)
            .map(Some)
            .ok_or_else(swan_id_is_scene_id),
        _ => Ok(None),
    }
}

/// What `findByTpOrderId`'s `data` says about the order, as the ledger keeps it, and the
/// user's openId if Baidu gave one. Ids come as strings or numbers (baidu-api.md §9.1); an
/// answer without a usable `orderId` and `userId` is not one Baidu documents.
pub fn identity_of(
    tp_order_id: &str,
    data: &Value,
) -> Result<(PaidOrder, Option<String>), ApiError> {
    let text = |key: &str| {
        id_text(data.get(key))
            .as_str()
            .map(str::trim)
            .map(str::to_owned)
    };
    let order_id = text("orderId").filter(|id| id.parse::<u64>().is_ok());
    let user_id = text("userId").filter(|id| !id.is_empty());
    let (Some(order_id), Some(user_id)) = (order_id, user_id) else {
        return Err(BaiduError::invalid_answer(200).into());
    };
    let order = payment_query::normalise_order(data);
    // Amounts only for a paid order: a refund reads them as what was paid.
    let money = |key: &str| order[key].as_i64().filter(|_| order["paid"] == true);
    let open_id = text("openId").filter(|id| !id.is_empty());
    Ok((
        PaidOrder {
            tp_order_id: tp_order_id.to_owned(),
            order_id,
            user_id,
            total_money: money("totalMoney"),
            pay_money: money("payMoney"),
            deal_id: text("dealId").filter(|id| !id.is_empty()),
            pay_time: None,
        },
        open_id,
    ))
}

/// The `findByTpOrderId` lookup, with the token refreshed once if Baidu refuses it. An order
/// Baidu does not know is `order_unknown`; no answer is transient, like every call's.
async fn find_by_tp_order_id<P: Ports>(
    ports: &P,
    order_center: &OrderCenterConfig,
    timeout_ms: u32,
    lease: Lease<'_, P::Runtime>,
    tp_order_id: &str,
    token: &mut AccessToken,
    log: &mut RequestLog,
) -> Result<Value, ApiError> {
    let mut refreshed = false;
    loop {
        let request = payment_query::build_request(
            PaymentQuery::FindByTpOrderId,
            &order_center.openapi_url,
            &order_center.pay_app_key,
            tp_order_id,
            None,
            token,
        );
        lease.allows(timeout_ms)?;
        let answer = ports.upstream().send(&request, timeout_ms).await;
        log.upstream_status = answer.as_ref().ok().map(|response| response.status);
        match payment_query::classify_answer(&answer) {
            QueryOutcome::Answered(data) => return Ok(data),
            QueryOutcome::TokenExpired(_) if !refreshed => {
                refreshed = true;
                *token =
                    order_center_token(ports.tokens(), order_center, timeout_ms, Some(token), log)
                        .await?;
            }
            QueryOutcome::TokenExpired(error) | QueryOutcome::Failed(error) => {
                return Err(lookup_error(tp_order_id, error))
            }
        }
    }
}

/// A failed lookup: Baidu's "order not found" means the merchant's `tpOrderId` is unknown to it.
pub fn lookup_error(tp_order_id: &str, error: BaiduError) -> ApiError {
    match error {
        BaiduError::Rejected {
            rejection: BaiduRejection::OrderNotFound,
            ..
        } => ApiError::OrderUnknown {
            tp_order_id: tp_order_id.to_owned(),
        },
        error => error.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::policy::is_transient;
    use crate::http::{TransportError, UpstreamResponse};

    fn owner(user: Option<OrderUser>, scene_id: Option<u64>) -> OrderOwner {
        OrderOwner {
            user,
            scene_id,
            tp_order_id: Some("T-1".into()),
        }
    }

    fn known(order_id: &str, open_id: Option<&str>) -> OrderIdentity {
        OrderIdentity {
            order_id: order_id.into(),
            user_id: "4188819900".into(),
            open_id: open_id.map(str::to_owned),
        }
    }

    fn scene(user: OrderUser, scene_id: u64) -> Option<OrderScene> {
        OrderScene::new(user, scene_id)
    }

    #[test]
    fn explicit_ids_win_and_need_nothing_else() {
        let open = OrderUser::OpenId("o-given".into());
        let given = owner(Some(open.clone()), Some(7));
        assert_eq!(complete(&given, None), Ok(scene(open.clone(), 7)));
        assert_eq!(
            complete(&given, Some(&known("9", Some("o-cached")))),
            Ok(scene(open.clone(), 7))
        );
        // Half given: the other half from what is known, the given half kept.
        assert_eq!(
            complete(
                &owner(Some(open.clone()), None),
                Some(&known("9", Some("o-cached")))
            ),
            Ok(scene(open, 9))
        );
        assert_eq!(
            complete(&owner(None, Some(7)), Some(&known("9", Some("o-cached")))),
            Ok(scene(OrderUser::OpenId("o-cached".into()), 7))
        );
        let swan = OrderUser::SwanId("s-1".into());
        assert_eq!(
            complete(&owner(Some(swan.clone()), None), Some(&known("9", None))),
            Ok(scene(swan, 9))
        );
    }

    #[test]
    fn what_is_not_known_asks_for_a_lookup() {
        assert_eq!(complete(&owner(None, None), None), Ok(None));
        // A payment callback gives the scene but never the openId.
        assert_eq!(
            complete(&owner(None, None), Some(&known("9", None))),
            Ok(None)
        );
        assert_eq!(
            complete(&owner(None, None), Some(&known("9", Some(" ")))),
            Ok(None)
        );
        assert_eq!(
            complete(&owner(None, None), Some(&known("9", Some("o")))),
            Ok(scene(OrderUser::OpenId("o".into()), 9))
        );
        assert_eq!(
            complete(&owner(Some(OrderUser::SwanId("s".into())), None), None),
            Ok(None)
        );
        assert_eq!(
            complete(&owner(None, Some(7)), Some(&known("not a number", None))),
            Ok(None)
        );
    }

    #[test]
    fn a_swan_id_is_never_the_resolved_scene_id() {
        let swan = OrderUser::SwanId("2636635856".into());
        assert!(matches!(
            complete(&owner(Some(swan), None), Some(&known("2636635856", None))),
            Err(ApiError::InvalidField { field, .. }) if field == "swanId"
        ));
    }

    #[test]
    fn the_lookup_answer_is_read_whatever_types_baidu_sent() {
        let data = json!({"orderId": 2636635856u64, "userId": "4188819900", "openId": "k6bY",
            "dealId": 470193086, "status": 2, "totalMoney": "9800", "payMoney": 9700});
        let (paid, open_id) = identity_of("T-1", &data).unwrap();
        assert_eq!(
            paid,
            PaidOrder {
                tp_order_id: "T-1".into(),
                order_id: "2636635856".into(),
                user_id: "4188819900".into(),
                total_money: Some(9800),
                pay_money: Some(9700),
                deal_id: Some("470193086".into()),
                pay_time: None,
            }
        );
        assert_eq!(open_id.as_deref(), Some("k6bY"));
        // Unpaid: no amounts (a refund would read them as paid); no openId: none kept.
        let (unpaid, open_id) = identity_of(
            "T-2",
            &json!({"orderId": "1", "userId": 2, "openId": "", "status": 1, "totalMoney": 5}),
        )
        .unwrap();
        assert_eq!((unpaid.total_money, unpaid.pay_money), (None, None));
        assert_eq!(open_id, None);
        for data in [
            json!({"userId": 2}),
            json!({"orderId": "x", "userId": 2}),
            json!({"orderId": 1}),
            json!({"orderId": 1, "userId": ""}),
            json!([]),
        ] {
            let error = identity_of("T", &data).unwrap_err();
            assert_eq!(error.code(), "upstream_unavailable", "{data}");
            assert!(is_transient(&error), "{data}");
        }
    }

    #[test]
    fn an_order_baidu_does_not_know_is_order_unknown_and_no_answer_is_transient() {
        let rejected = |body: &str| match payment_query::classify_answer(&Ok(UpstreamResponse {
            status: 200,
            body: body.as_bytes().to_vec(),
        })) {
            QueryOutcome::Failed(error) => error,
            other => panic!("{other:?}"),
        };
        let unknown = lookup_error(
            "T-9",
            rejected(r#"{"errno":10002,"msg":"order not exist"}"#),
        );
        assert_eq!(
            unknown,
            ApiError::OrderUnknown {
                tp_order_id: "T-9".into()
            }
        );
        assert_eq!(unknown.code(), "order_unknown");
        assert!(!is_transient(&unknown));
        let lost = lookup_error("T-9", BaiduError::transport(TransportError::Timeout));
        assert!(is_transient(&lost), "{lost:?}");
        let busy = lookup_error(
            "T-9",
            rejected(r#"{"errno":5010002,"msg":"网络错误，请稍后重试"}"#),
        );
        assert!(is_transient(&busy), "{busy:?}");
        let refused = lookup_error("T-9", rejected(r#"{"errno":10001,"msg":"param error"}"#));
        assert_eq!(refused.code(), "baidu_bad_parameter");
    }
}
