//! Baidu's signed callbacks to the merchant (payment, refund audit, refund result): the form
//! as received, its `rsaSign` checked with Baidu's platform public key, the fields each
//! callback carries, and the answers Baidu expects.
//!
//! The signature covers every POST field except `rsaSign`, empty values kept, sorted and
//! joined as for requests (`sign.rs`). Baidu's own tools disagree on one point: the PHP and
//! Java ones verify the decoded values, its Go demo the values re-encoded with `QueryEscape`.
//! Both strings come from the same received fields, so trying the second when the first fails
//! does not weaken the check; the caller logs which one matched.

use rsa::PublicKey;
use serde_json::{json, Map, Value};

use super::sign::{canonical_string, verify, SIGNATURE_PARAM};

/// Why a callback was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackError {
    /// Not a form Baidu would send: the reason says what is wrong (never a value).
    Malformed(String),
    /// The signature does not verify with the platform key, in either reading.
    BadSignature,
}

/// Which canonical string the signature matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureReading {
    /// The decoded values, as Baidu's PHP and Java tools verify.
    Raw,
    /// The values re-encoded with Go's `QueryEscape`, as Baidu's Go demo verifies.
    UrlEncoded,
}

impl SignatureReading {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureReading::Raw => "raw",
            SignatureReading::UrlEncoded => "url_encoded",
        }
    }
}

/// A callback's form fields, decoded, in the order received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackForm {
    fields: Vec<(String, String)>,
}

/// The most fields a callback may have (Baidu sends about twenty).
pub const MAX_FIELDS: usize = 100;

impl CallbackForm {
    /// Parses an `application/x-www-form-urlencoded` body. A field named twice is refused:
    /// which value was signed would be a guess.
    pub fn parse(body: &[u8]) -> Result<CallbackForm, CallbackError> {
        if std::str::from_utf8(body).is_err() {
            return Err(CallbackError::Malformed("the form is not UTF-8".into()));
        }
        let mut fields: Vec<(String, String)> = Vec::new();
        for (key, value) in form_urlencoded::parse(body) {
            if key.is_empty() {
                continue;
            }
            if fields.iter().any(|(known, _)| *known == key) {
                return Err(CallbackError::Malformed(format!(
                    "the field `{key}` appears more than once"
                )));
            }
            if fields.len() == MAX_FIELDS {
                return Err(CallbackError::Malformed(format!(
                    "more than {MAX_FIELDS} fields"
                )));
            }
            fields.push((key.into_owned(), value.into_owned()));
        }
        if !fields.iter().any(|(key, _)| key == SIGNATURE_PARAM) {
            return Err(CallbackError::Malformed(format!(
                "the field `{SIGNATURE_PARAM}` is missing"
            )));
        }
        Ok(CallbackForm { fields })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A field Baidu always sends, non-empty.
    pub fn required(&self, name: &str) -> Result<&str, CallbackError> {
        self.get(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| CallbackError::Malformed(format!("the field `{name}` is missing")))
    }

    /// An id field (Baidu's Long): digits only, kept as text.
    pub fn id(&self, name: &str) -> Result<String, CallbackError> {
        let value = self.required(name)?;
        if value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(value.to_owned())
        } else {
            Err(CallbackError::Malformed(format!(
                "the field `{name}` is not a whole number"
            )))
        }
    }

    /// An amount or code field, as an integer when it is one.
    pub fn integer(&self, name: &str) -> Option<i64> {
        self.get(name)?.parse().ok()
    }

    /// Every field but the signature, for the merchant's event.
    pub fn unsigned_fields(&self) -> Map<String, Value> {
        self.fields
            .iter()
            .filter(|(key, _)| key != SIGNATURE_PARAM)
            .map(|(key, value)| (key.clone(), json!(value)))
            .collect()
    }

    /// The signature as sent. A form decoder turns a raw `+` into a space; Baidu's demo shows
    /// raw `+` in `rsaSign`, so spaces go back to `+` before base64.
    fn signature(&self) -> String {
        self.get(SIGNATURE_PARAM)
            .unwrap_or_default()
            .replace(' ', "+")
    }

    /// The canonical string over the decoded values.
    pub fn canonical_raw(&self) -> String {
        canonical_string(self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The canonical string over the values re-encoded with Go's `QueryEscape`.
    pub fn canonical_url_encoded(&self) -> String {
        let encoded: Vec<(&str, String)> = self
            .fields
            .iter()
            .map(|(key, value)| (key.as_str(), query_escape(value)))
            .collect();
        canonical_string(encoded.iter().map(|(k, v)| (*k, v.as_str())))
    }

    /// Verifies `rsaSign` with the platform key: the decoded reading first, then the encoded
    /// one (the same when no value needs escaping).
    pub fn verify(&self, platform_key: &PublicKey) -> Result<SignatureReading, CallbackError> {
        let signature = self.signature();
        if verify(platform_key, &self.canonical_raw(), &signature).is_ok() {
            return Ok(SignatureReading::Raw);
        }
        let encoded = self.canonical_url_encoded();
        if encoded != self.canonical_raw() && verify(platform_key, &encoded, &signature).is_ok() {
            return Ok(SignatureReading::UrlEncoded);
        }
        Err(CallbackError::BadSignature)
    }
}

/// Go's `url.QueryEscape`: everything but `A-Z a-z 0-9 - _ . ~` percent-encoded, upper-case
/// hex, and a space as `+`.
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// What the payment callback is answered with: consumed (verified), as every smart program
/// must answer. The same for a repeat.
pub fn payment_acknowledgement() -> Value {
    json!({"errno": 0, "msg": "success", "data": {"isConsumed": 2}})
}

/// What the refund-result callback is answered with. `data` is an empty object, as in Baidu's
/// example, not `[]`.
pub fn refund_result_acknowledgement() -> Value {
    json!({"errno": 0, "msg": "success", "data": {}})
}

/// A decision on a refund audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditDecision {
    /// Approve, refunding this many fen.
    Approve {
        refund_pay_money: i64,
    },
    Refuse,
    /// Not decided yet: Baidu asks again later.
    Undecided,
}

/// What the refund-audit callback is answered with.
pub fn audit_answer(decision: AuditDecision) -> Value {
    match decision {
        AuditDecision::Approve { refund_pay_money } => json!({
            "errno": 0, "msg": "success",
            "data": {"auditStatus": 1, "calculateRes": {"refundPayMoney": refund_pay_money}},
        }),
        AuditDecision::Refuse => json!({
            "errno": 0, "msg": "success",
            "data": {"auditStatus": 2, "calculateRes": {"refundPayMoney": 0}},
        }),
        AuditDecision::Undecided => json!({
            "errno": 0, "msg": "success",
            "data": {"auditStatus": 3, "calculateRes": {"refundPayMoney": 0}},
        }),
    }
}

/// What a payment callback tells about the order: kept so that later calls can name the order
/// by the merchant's `tpOrderId` alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PaidOrder {
    pub tp_order_id: String,
    pub order_id: String,
    pub user_id: String,
    pub total_money: Option<i64>,
    pub pay_money: Option<i64>,
    pub deal_id: Option<String>,
    pub pay_time: Option<i64>,
}

/// Baidu's payment callback (通知支付状态).
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentNotice {
    pub order: PaidOrder,
    /// 2 paid; 1 unpaid and -1 cancelled are unexplained (Baidu calls only after payment).
    pub status: Option<i64>,
    pub form: Map<String, Value>,
}

impl PaymentNotice {
    pub fn from_form(form: &CallbackForm) -> Result<PaymentNotice, CallbackError> {
        let order = PaidOrder {
            order_id: form.id("orderId")?,
            user_id: form.id("userId")?,
            tp_order_id: form.required("tpOrderId")?.to_owned(),
            total_money: form.integer("totalMoney"),
            pay_money: form.integer("payMoney"),
            deal_id: form.get("dealId").map(str::to_owned),
            pay_time: form.integer("payTime"),
        };
        Ok(PaymentNotice {
            order,
            status: form.integer("status"),
            form: form.unsigned_fields(),
        })
    }

    /// The merchant event: `baidu.payment.succeeded` for a paid order, else
    /// `baidu.payment.unexpected_status`. Ids are strings, amounts integers in fen, and the
    /// whole form (but its signature) rides along.
    pub fn event(&self, reading: SignatureReading) -> Value {
        let kind = if self.status == Some(2) {
            "baidu.payment.succeeded"
        } else {
            "baidu.payment.unexpected_status"
        };
        let form = &self.form;
        let integer = |name: &str| -> Value {
            form.get(name)
                .and_then(Value::as_str)
                .and_then(|text| text.parse::<i64>().ok())
                .map(Value::from)
                .unwrap_or(Value::Null)
        };
        let text = |name: &str| form.get(name).cloned().unwrap_or(Value::Null);
        json!({
            "type": kind,
            "data": {
                "orderId": self.order.order_id,
                "userId": self.order.user_id,
                "tpOrderId": self.order.tp_order_id,
                "dealId": text("dealId"),
                "status": integer("status"),
                "totalMoney": integer("totalMoney"),
                "payMoney": integer("payMoney"),
                "promoMoney": integer("promoMoney"),
                "hbMoney": integer("hbMoney"),
                "hbBalanceMoney": integer("hbBalanceMoney"),
                "giftCardMoney": integer("giftCardMoney"),
                "unitPrice": integer("unitPrice"),
                "count": integer("count"),
                "payTime": integer("payTime"),
                "payType": integer("payType"),
                "partnerId": integer("partnerId"),
                "promoDetail": text("promoDetail"),
                "returnData": text("returnData"),
                "form": form,
            },
            "signatureReading": reading.as_str(),
        })
    }
}

/// Baidu's refund-audit callback (请求业务方退款审核).
#[derive(Debug, Clone, PartialEq)]
pub struct RefundAudit {
    pub order_id: String,
    pub user_id: Option<String>,
    pub tp_order_id: Option<String>,
    pub refund_batch_id: String,
    /// Only in newer copies of Baidu's doc: not required.
    pub apply_refund_money: Option<i64>,
    pub form: Map<String, Value>,
}

impl RefundAudit {
    pub fn from_form(form: &CallbackForm) -> Result<RefundAudit, CallbackError> {
        Ok(RefundAudit {
            order_id: form.id("orderId")?,
            user_id: form.id("userId").ok(),
            tp_order_id: form
                .get("tpOrderId")
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            refund_batch_id: form.required("refundBatchId")?.to_owned(),
            apply_refund_money: form.integer("applyRefundMoney"),
            form: form.unsigned_fields(),
        })
    }

    /// The event forwarded to the merchant for a refund the relay did not request.
    pub fn event(&self, reading: SignatureReading) -> Value {
        json!({
            "type": "baidu.refund.audit",
            "data": {
                "orderId": self.order_id,
                "userId": self.user_id,
                "tpOrderId": self.tp_order_id,
                "refundBatchId": self.refund_batch_id,
                "applyRefundMoney": self.apply_refund_money,
                "form": self.form,
            },
            "signatureReading": reading.as_str(),
            "answer": "Answer 200 with {\"auditStatus\": 1|2|3, \"refundPayMoney\": <fen>} within the deadline; anything else, or no answer in time, answers Baidu auditStatus 3 (ask again later).",
        })
    }
}

/// Reads the merchant's answer to a forwarded audit: `{"auditStatus": 1, "refundPayMoney": N}`
/// (also accepted inside `data`, and with `calculateRes.refundPayMoney` as Baidu spells it).
pub fn merchant_audit_decision(answer: &Value, audit: &RefundAudit) -> AuditDecision {
    let data = answer
        .get("data")
        .filter(|d| d.is_object())
        .unwrap_or(answer);
    let integer = |value: Option<&Value>| -> Option<i64> {
        match value? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    };
    match integer(data.get("auditStatus")) {
        Some(1) => {
            let money = integer(data.get("refundPayMoney"))
                .or_else(|| integer(data.pointer("/calculateRes/refundPayMoney")))
                .or(audit.apply_refund_money);
            match money {
                Some(refund_pay_money) if refund_pay_money >= 0 => {
                    AuditDecision::Approve { refund_pay_money }
                }
                _ => AuditDecision::Undecided,
            }
        }
        Some(2) => AuditDecision::Refuse,
        _ => AuditDecision::Undecided,
    }
}

/// Baidu's refund-result callback (通知退款状态).
#[derive(Debug, Clone, PartialEq)]
pub struct RefundResult {
    pub order_id: String,
    pub refund_batch_id: String,
    /// 1 success, 2 failure (this callback's own enum).
    pub refund_status: Option<i64>,
    pub form: Map<String, Value>,
}

impl RefundResult {
    pub fn from_form(form: &CallbackForm) -> Result<RefundResult, CallbackError> {
        Ok(RefundResult {
            order_id: form.id("orderId")?,
            refund_batch_id: form.required("refundBatchId")?.to_owned(),
            refund_status: form.integer("refundStatus"),
            form: form.unsigned_fields(),
        })
    }

    /// `baidu.refund.succeeded`, `baidu.refund.failed`, or `baidu.refund.unexpected_status`.
    pub fn event(&self, reading: SignatureReading) -> Value {
        let kind = match self.refund_status {
            Some(1) => "baidu.refund.succeeded",
            Some(2) => "baidu.refund.failed",
            _ => "baidu.refund.unexpected_status",
        };
        let text = |name: &str| {
            self.form
                .get(name)
                .filter(|v| v.as_str() != Some(""))
                .cloned()
                .unwrap_or(Value::Null)
        };
        json!({
            "type": kind,
            "data": {
                "orderId": self.order_id,
                "userId": text("userId"),
                "tpOrderId": text("tpOrderId"),
                "refundBatchId": self.refund_batch_id,
                "refundStatus": self.refund_status,
                "form": self.form,
            },
            "signatureReading": reading.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::key::{parse_public_key, MerchantKey};
    use crate::baidu::sign::NativeSigner;

    const VECTOR: &str = include_str!("../../tests/vectors/callback.json");
    const KEY: &str = include_str!("../../tests/vectors/keys/baidu-doc-sample-1024.pkcs8.pem");

    fn vector() -> Value {
        serde_json::from_str(VECTOR).unwrap()
    }

    fn platform_key() -> PublicKey {
        parse_public_key(
            vector()["platform_public_key_spki_base64"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
    }

    /// The vector's fields as a form body, percent-encoded as a form encoder does.
    fn vector_body(drop: &[&str], replace: &[(&str, &str)]) -> Vec<u8> {
        let v = vector();
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (key, value) in v["params"].as_object().unwrap() {
            if drop.contains(&key.as_str()) {
                continue;
            }
            let value = replace
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_else(|| value.as_str().unwrap().to_owned());
            form.append_pair(key, &value);
        }
        form.finish().into_bytes()
    }

    #[test]
    fn baidus_real_callback_verifies_with_the_platform_key() {
        let form = CallbackForm::parse(&vector_body(&[], &[])).unwrap();
        assert_eq!(
            form.canonical_raw(),
            vector()["canonical"].as_str().unwrap()
        );
        assert_eq!(form.verify(&platform_key()), Ok(SignatureReading::Raw));
    }

    #[test]
    fn dropping_the_empty_values_breaks_it() {
        let form = CallbackForm::parse(&vector_body(&["promoDetail", "returnData"], &[])).unwrap();
        assert_eq!(
            form.verify(&platform_key()),
            Err(CallbackError::BadSignature)
        );
    }

    #[test]
    fn any_altered_field_breaks_it() {
        for (key, value) in [
            ("totalMoney", "100"),
            ("tpOrderId", "18607895242"),
            ("extra", ""),
        ] {
            let mut body = vector_body(&[], &[(key, value)]);
            if key == "extra" {
                body.extend_from_slice(b"&extra=");
            }
            let form = CallbackForm::parse(&body).unwrap();
            assert_eq!(
                form.verify(&platform_key()),
                Err(CallbackError::BadSignature),
                "{key}"
            );
        }
    }

    #[test]
    fn a_merchant_key_does_not_verify_it() {
        let merchant = MerchantKey::parse(KEY).unwrap().public_key().unwrap();
        let form = CallbackForm::parse(&vector_body(&[], &[])).unwrap();
        assert_eq!(form.verify(&merchant), Err(CallbackError::BadSignature));
    }

    #[test]
    fn a_raw_plus_in_rs_sign_is_read_back_as_plus() {
        let v = vector();
        let rsa_sign = v["params"]["rsaSign"].as_str().unwrap();
        let body = String::from_utf8(vector_body(&["rsaSign"], &[])).unwrap();
        // As Baidu's doc demo shows it: the base64 unescaped, so `+` reaches a decoder as a space.
        let body = format!("{body}&rsaSign={rsa_sign}");
        let form = CallbackForm::parse(body.as_bytes()).unwrap();
        assert_eq!(form.verify(&platform_key()), Ok(SignatureReading::Raw));
    }

    /// A callback signed over the URL-encoded values (Go demo's reading) verifies too, and one
    /// signed over the raw values still verifies raw, with a value that needs escaping.
    #[test]
    fn both_readings_are_accepted_and_told_apart() {
        let key = MerchantKey::parse(KEY).unwrap();
        let signer = NativeSigner::new(&key).unwrap();
        let public = key.public_key().unwrap();
        let fields = [
            ("orderId", "1"),
            ("returnData", "{\"a\":\"b c\"}"),
            ("tpOrderId", "T-1"),
            ("userId", "2"),
        ];
        let unsigned = CallbackForm {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        for (canonical, reading) in [
            (unsigned.canonical_raw(), SignatureReading::Raw),
            (
                unsigned.canonical_url_encoded(),
                SignatureReading::UrlEncoded,
            ),
        ] {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields {
                form.append_pair(k, v);
            }
            form.append_pair("rsaSign", &signer.sign(&canonical));
            let parsed = CallbackForm::parse(form.finish().as_bytes()).unwrap();
            assert_eq!(parsed.verify(&public), Ok(reading));
        }
    }

    #[test]
    fn query_escape_is_gos() {
        assert_eq!(query_escape("a b+c/d=e~f*g"), "a+b%2Bc%2Fd%3De~f%2Ag");
        assert_eq!(query_escape("中"), "%E4%B8%AD");
    }

    #[test]
    fn malformed_forms_are_refused_with_a_reason() {
        assert!(matches!(
            CallbackForm::parse(b"orderId=1&orderId=2&rsaSign=x"),
            Err(CallbackError::Malformed(reason)) if reason.contains("orderId")
        ));
        assert!(matches!(
            CallbackForm::parse(b"orderId=1"),
            Err(CallbackError::Malformed(reason)) if reason.contains("rsaSign")
        ));
        assert!(CallbackForm::parse(b"a=\xff&rsaSign=x").is_err());
    }

    #[test]
    fn the_payment_event_keeps_ids_as_text_and_amounts_as_integers() {
        let form = CallbackForm::parse(&vector_body(&[], &[])).unwrap();
        let notice = PaymentNotice::from_form(&form).unwrap();
        let event = notice.event(SignatureReading::Raw);
        assert_eq!(event["type"], "baidu.payment.succeeded");
        assert_eq!(event["data"]["userId"], "3269234686470");
        assert_eq!(event["data"]["orderId"], "2645985458");
        assert_eq!(event["data"]["totalMoney"], 1);
        assert_eq!(event["data"]["payTime"], 1542124311);
        assert_eq!(event["data"]["returnData"], "");
        assert!(event["data"]["form"].get("rsaSign").is_none());
        assert_eq!(notice.order.tp_order_id, "18607895241");
        let unpaid = CallbackForm::parse(&vector_body(&[], &[("status", "1")])).unwrap();
        assert_eq!(
            PaymentNotice::from_form(&unpaid)
                .unwrap()
                .event(SignatureReading::Raw)["type"],
            "baidu.payment.unexpected_status"
        );
    }

    #[test]
    fn answers_are_bauds_shapes() {
        assert_eq!(
            payment_acknowledgement().to_string(),
            r#"{"data":{"isConsumed":2},"errno":0,"msg":"success"}"#
        );
        assert_eq!(refund_result_acknowledgement()["data"], json!({}));
        assert_eq!(
            audit_answer(AuditDecision::Approve {
                refund_pay_money: 100
            })["data"],
            json!({"auditStatus": 1, "calculateRes": {"refundPayMoney": 100}})
        );
        assert_eq!(
            audit_answer(AuditDecision::Undecided)["data"]["auditStatus"],
            3
        );
    }

    #[test]
    fn the_merchants_audit_answer_is_read_leniently() {
        let audit = RefundAudit {
            order_id: "1".into(),
            user_id: None,
            tp_order_id: None,
            refund_batch_id: "9".into(),
            apply_refund_money: Some(50),
            form: Map::new(),
        };
        let decide = |v: Value| merchant_audit_decision(&v, &audit);
        assert_eq!(
            decide(json!({"auditStatus": 1, "refundPayMoney": 40})),
            AuditDecision::Approve {
                refund_pay_money: 40
            }
        );
        assert_eq!(
            decide(json!({"data": {"auditStatus": "1", "calculateRes": {"refundPayMoney": "30"}}})),
            AuditDecision::Approve {
                refund_pay_money: 30
            }
        );
        assert_eq!(
            decide(json!({"auditStatus": 1})),
            AuditDecision::Approve {
                refund_pay_money: 50
            }
        );
        assert_eq!(decide(json!({"auditStatus": 2})), AuditDecision::Refuse);
        assert_eq!(decide(json!({"ok": true})), AuditDecision::Undecided);
    }
}
