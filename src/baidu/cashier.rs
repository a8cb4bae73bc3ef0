//! Baidu's cashier (收银台) API: cancel verification (取消核销, `syncOrderStatus` with `type=3`).
//!
//! Building the call is pure: [`CancelVerification::form`] gives the parameters and the
//! canonical string to sign; [`UnsignedForm::into_request`] adds `rsaSign` and encodes the
//! form. The caller signs in between (WebCrypto in the Worker, the `rsa` crate natively).

use std::fmt;

use super::answer::{classify_errno, read_answer, ErrnoMeaning};
use super::error::BaiduError;
use super::sign::{canonical_string, SIGNATURE_PARAM};
use crate::http::{HttpRequest, UpstreamAnswer};

pub const ETRADE_URL: &str = "https://etrade-api.baidu.com/cashier/syncOrderStatus";
pub const NUOMI_URL: &str = "https://nop.nuomi.com/nop/server/rest";
pub const NUOMI_METHOD: &str = "nuomi.cashier.syncorderstatus";

/// `type=3`: cancel the verification of a paid order so that it can be refunded.
pub const CANCEL_VERIFICATION_TYPE: &str = "3";

pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=UTF-8";

/// Which cashier host to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CashierApi {
    /// `etrade-api.baidu.com`, Baidu's current host.
    #[default]
    Etrade,
    /// The legacy `nop.nuomi.com` gateway, which also needs a signed `method` parameter.
    Nuomi,
}

impl CashierApi {
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "etrade" => Some(CashierApi::Etrade),
            "nuomi" => Some(CashierApi::Nuomi),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CashierApi::Etrade => "etrade",
            CashierApi::Nuomi => "nuomi",
        }
    }

    pub fn default_url(self) -> &'static str {
        match self {
            CashierApi::Etrade => ETRADE_URL,
            CashierApi::Nuomi => NUOMI_URL,
        }
    }
}

/// One cancel-verification call, as the merchant's system asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelVerification {
    /// Baidu's platform order id (from the payment callback's `orderId`).
    pub order_id: u64,
    /// Baidu's user id (from the payment callback's `userId`).
    pub user_id: u64,
}

/// Where and how to call the cashier; a slice of the relay's configuration.
#[derive(Debug, Clone, Copy)]
pub struct CashierTarget<'a> {
    pub api: CashierApi,
    pub url: &'a str,
    /// The payment service's appKey (looks like `MMMzaA`), not the smart program's App Key.
    pub pay_app_key: &'a str,
}

/// Form parameters awaiting their `rsaSign`.
#[derive(Clone, PartialEq, Eq)]
pub struct UnsignedForm {
    url: String,
    params: Vec<(&'static str, String)>,
}

impl fmt::Debug for UnsignedForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsignedForm")
            .field("url", &self.url)
            .field("params", &self.params)
            .finish()
    }
}

impl CancelVerification {
    pub fn form(&self, target: CashierTarget<'_>) -> UnsignedForm {
        let mut params = vec![
            ("appKey", target.pay_app_key.to_owned()),
            ("orderId", self.order_id.to_string()),
            ("type", CANCEL_VERIFICATION_TYPE.to_owned()),
            ("userId", self.user_id.to_string()),
        ];
        if target.api == CashierApi::Nuomi {
            params.push(("method", NUOMI_METHOD.to_owned()));
        }
        UnsignedForm {
            url: target.url.to_owned(),
            params,
        }
    }
}

impl UnsignedForm {
    pub fn new(url: &str, params: Vec<(&'static str, String)>) -> Self {
        UnsignedForm {
            url: url.to_owned(),
            params,
        }
    }

    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.params.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// The exact string to sign with SHA1withRSA.
    pub fn canonical_string(&self) -> String {
        canonical_string(self.params())
    }

    /// Adds `rsaSign` and encodes the form body.
    pub fn into_request(self, rsa_sign: &str) -> HttpRequest {
        let mut body = form_urlencoded::Serializer::new(String::new());
        // The wire order follows the canonical order, which makes captures easy to compare.
        let mut params: Vec<(&str, &str)> = self.params().collect();
        params.sort();
        body.extend_pairs(params);
        body.append_pair(SIGNATURE_PARAM, rsa_sign);
        HttpRequest {
            method: "POST",
            url: self.url,
            content_type: FORM_CONTENT_TYPE,
            headers: Vec::new(),
            body: body.finish().into_bytes(),
        }
    }
}

/// Classifies the cashier's answer: `Ok` with Baidu's JSON on `errno == 0` (2xx only),
/// otherwise the documented error the merchant's system must handle. The body is read before
/// the HTTP status and its code follows Baidu's tables ([`classify_errno`]): "retry later"
/// codes are transient, 10003 is the balance check unless its message says otherwise.
pub fn classify_answer(answer: &UpstreamAnswer) -> Result<serde_json::Value, BaiduError> {
    let answer = read_answer(answer)?;
    if answer.errno == 0 {
        return Ok(answer.body);
    }
    Err(classify_errno(&answer, ErrnoMeaning::Cashier))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::error::{is_transient, BaiduRejection};
    use crate::baidu::key::MerchantKey;
    use crate::baidu::sign::NativeSigner;
    use crate::http::UpstreamResponse;
    use std::collections::BTreeMap;

    const KEY_1024: &str = include_str!("../../tests/vectors/keys/baidu-doc-sample-1024.pkcs1.pem");
    const KEY_2048: &str = include_str!("../../tests/vectors/keys/test-2048.pkcs8.pem");

    const ORDER: CancelVerification = CancelVerification {
        order_id: 2636635856,
        user_id: 4188819900,
    };

    fn target(api: CashierApi, app_key: &'static str) -> CashierTarget<'static> {
        CashierTarget {
            api,
            url: api.default_url(),
            pay_app_key: app_key,
        }
    }

    fn decoded(request: &HttpRequest) -> BTreeMap<String, String> {
        form_urlencoded::parse(&request.body).into_owned().collect()
    }

    fn vector_sign(name: &str) -> String {
        let json: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/signing.json")).unwrap();
        json["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap()["rsaSign"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn etrade_form_matches_the_shared_vector() {
        let form = ORDER.form(target(CashierApi::Etrade, "MMMabc"));
        assert_eq!(
            form.canonical_string(),
            "appKey=MMMabc&orderId=2636635856&type=3&userId=4188819900"
        );
        let signer = NativeSigner::new(&MerchantKey::parse(KEY_1024).unwrap()).unwrap();
        let rsa_sign = signer.sign(&form.canonical_string());
        assert_eq!(rsa_sign, vector_sign("cancel-verification-new-host"));

        let request = form.into_request(&rsa_sign);
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, ETRADE_URL);
        assert_eq!(request.content_type, FORM_CONTENT_TYPE);
        let params = decoded(&request);
        assert_eq!(params.len(), 5);
        assert_eq!(params["orderId"], "2636635856");
        assert_eq!(params["userId"], "4188819900");
        assert_eq!(params["type"], "3");
        assert_eq!(params["appKey"], "MMMabc");
        assert_eq!(params["rsaSign"], rsa_sign);
        // '+', '/' and '=' in the signature survive the form encoding.
        assert!(String::from_utf8(request.body)
            .unwrap()
            .contains("rsaSign=YCQ%2Bwd5IA47"));
    }

    #[test]
    fn nuomi_form_sends_and_signs_method() {
        let form = ORDER.form(target(CashierApi::Nuomi, "MMMabc"));
        assert_eq!(
            form.canonical_string(),
            "appKey=MMMabc&method=nuomi.cashier.syncorderstatus&orderId=2636635856&type=3&userId=4188819900"
        );
        let signer = NativeSigner::new(&MerchantKey::parse(KEY_1024).unwrap()).unwrap();
        let rsa_sign = signer.sign(&form.canonical_string());
        assert_eq!(rsa_sign, vector_sign("cancel-verification-legacy-host"));
        let request = form.into_request(&rsa_sign);
        assert_eq!(request.url, NUOMI_URL);
        let params = decoded(&request);
        assert_eq!(params["method"], NUOMI_METHOD);
        assert_eq!(params.len(), 6);
    }

    #[test]
    fn a_2048_bit_key_matches_its_vector() {
        let form = ORDER.form(target(CashierApi::Etrade, "MMMzaA"));
        let signer = NativeSigner::new(&MerchantKey::parse(KEY_2048).unwrap()).unwrap();
        assert_eq!(
            signer.sign(&form.canonical_string()),
            vector_sign("cancel-verification-2048")
        );
    }

    #[test]
    fn configured_url_replaces_the_default() {
        let form = ORDER.form(CashierTarget {
            api: CashierApi::Nuomi,
            url: "http://127.0.0.1:9999/fake",
            pay_app_key: "MMMabc",
        });
        assert_eq!(form.into_request("sig").url, "http://127.0.0.1:9999/fake");
    }

    #[test]
    fn api_names_parse_leniently_and_reject_others() {
        assert_eq!(CashierApi::parse("etrade"), Some(CashierApi::Etrade));
        assert_eq!(CashierApi::parse(" NUOMI "), Some(CashierApi::Nuomi));
        assert_eq!(CashierApi::parse("foo"), None);
        assert_eq!(CashierApi::default(), CashierApi::Etrade);
    }

    fn classify(body: &str) -> Result<serde_json::Value, BaiduError> {
        classify_status(200, body)
    }

    fn classify_status(status: u16, body: &str) -> Result<serde_json::Value, BaiduError> {
        classify_answer(&Ok(UpstreamResponse {
            status,
            body: body.as_bytes().to_vec(),
        }))
    }

    fn rejection(body: &str) -> (BaiduRejection, u16, &'static str) {
        match classify(body) {
            Err(error @ BaiduError::Rejected { rejection, .. }) => {
                (rejection, error.status(), error.code())
            }
            other => panic!("expected a Baidu rejection, got {other:?}"),
        }
    }

    #[test]
    fn success_relays_baidus_answer() {
        let body = classify(r#"{"errno":0,"msg":"success","data":[]}"#).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errno":0,"msg":"success","data":[]})
        );
    }

    #[test]
    fn each_errno_has_its_own_code() {
        assert_eq!(
            rejection(r#"{"errno":10000,"msg":"sign verify failed"}"#),
            (
                BaiduRejection::SignatureRejected,
                502,
                "baidu_signature_rejected"
            )
        );
        assert_eq!(
            rejection(r#"{"errno":10001,"msg":"param error"}"#),
            (BaiduRejection::BadParameter, 422, "baidu_bad_parameter")
        );
        assert_eq!(
            rejection(r#"{"errno":10002,"msg":"订单不存在"}"#),
            (BaiduRejection::OrderNotFound, 422, "baidu_order_not_found")
        );
        assert_eq!(
            rejection(r#"{"errno":10003,"msg":"企业余额不足"}"#),
            (
                BaiduRejection::InsufficientBalance,
                409,
                "baidu_insufficient_balance"
            )
        );
        assert_eq!(
            rejection(r#"{"errno":10003,"msg":"内部错误，请稍后重试"}"#),
            (BaiduRejection::InternalError, 503, "baidu_internal_error")
        );
        assert_eq!(
            rejection(r#"{"errno":10003,"msg":"internal error, retry later"}"#),
            (BaiduRejection::InternalError, 503, "baidu_internal_error")
        );
        // Unclear wording falls back to the documented meaning on this API: never retried.
        assert_eq!(
            rejection(r#"{"errno":10003,"msg":""}"#),
            (
                BaiduRejection::InsufficientBalance,
                409,
                "baidu_insufficient_balance"
            )
        );
        assert_eq!(
            rejection(r#"{"errno":10003,"msg":"balance not enough, retry after top-up"}"#),
            (
                BaiduRejection::InsufficientBalance,
                409,
                "baidu_insufficient_balance"
            )
        );
        assert_eq!(
            rejection(r#"{"errno":12345,"msg":"odd"}"#),
            (BaiduRejection::Other, 502, "baidu_error")
        );
        assert_eq!(
            rejection(r#"{"error_code":970,"error_msg":"no permission"}"#),
            (BaiduRejection::Other, 502, "baidu_error")
        );
    }

    #[test]
    fn retry_later_codes_are_transient_and_others_final() {
        for body in [
            r#"{"errno":5010002,"msg":"网络错误，请稍后重试"}"#,
            r#"{"errno":"5010003","msg":"QPS超限"}"#,
            r#"{"errno":4010001,"msg":"系统错误"}"#,
            r#"{"error_code":5010004,"error_msg":"服务错误"}"#,
            r#"{"errno":7010001,"msg":"第三方服务返回数据错误"}"#,
            r#"{"error_code":2,"error_msg":"Service temporarily unavailable"}"#,
            r#"{"errno":20001,"msg":"系统繁忙，请稍后再试"}"#,
            // A non-zero `error_code` wins over `errno` 0.
            r#"{"errno":0,"error_code":18,"error_msg":"Open api qps request limit reached"}"#,
        ] {
            let error = classify(body).unwrap_err();
            assert!(is_transient(&error), "{body}: {error:?}");
        }
        for body in [
            r#"{"errno":930,"msg":"签名系统错误"}"#,
            r#"{"errno":4010006,"msg":"XSS"}"#,
            r#"{"errno":6010007,"msg":"用户未登录"}"#,
            r#"{"errno":20001,"msg":"odd"}"#,
            r#"{"error_code":6,"error_msg":"No permission"}"#,
        ] {
            let error = classify(body).unwrap_err();
            assert!(!is_transient(&error), "{body}: {error:?}");
        }
        // `error_code` 0 is ignored: errno decides.
        assert!(classify(r#"{"error_code":0,"errno":0,"msg":"success","data":[]}"#).is_ok());
    }

    #[test]
    fn json_bodies_of_error_statuses_are_read() {
        match classify_status(400, r#"{"errno":10000,"msg":"sign verify failed"}"#) {
            Err(BaiduError::Rejected { rejection, .. }) => {
                assert_eq!(rejection, BaiduRejection::SignatureRejected)
            }
            other => panic!("{other:?}"),
        }
        // An outage stays transient whatever the body says.
        let error = classify_status(503, r#"{"errno":10003,"msg":"企业余额不足"}"#).unwrap_err();
        assert_eq!(error, BaiduError::http_status(503));
        assert!(is_transient(&error));
        // errno 0 on an error status is not a success.
        let error = classify_status(500, r#"{"errno":0,"msg":"success","data":[]}"#).unwrap_err();
        assert_eq!(error, BaiduError::http_status(500));
        let error = classify_status(404, "<html>").unwrap_err();
        assert_eq!(error, BaiduError::http_status(404));
        assert!(!is_transient(&error));
    }
}
