//! Payment signing: the `rsaSign` of `swan.requestPolymerPayment`'s `orderInfo`. Baidu signs
//! exactly four fields here (`appKey`, `dealId`, `totalAmount`, `tpOrderId`; the rest of
//! `orderInfo` is not signed, which `signFieldsRange: "1"` tells the cashier). This is the
//! call of Baidu's published signing example, which the tests reproduce byte for byte.

use serde_json::{json, Map, Value};

use super::sign::canonical_string;

/// One payment to sign, as the merchant's system asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOrder {
    pub deal_id: String,
    /// Fen.
    pub total_amount: u64,
    pub tp_order_id: String,
    /// Other `orderInfo` fields (`dealTitle`, `bizInfo`, ...), passed back untouched, unsigned.
    pub extra: Map<String, Value>,
}

impl PaymentOrder {
    /// The string to sign with the merchant's key.
    pub fn canonical_string(&self, pay_app_key: &str) -> String {
        canonical_string([
            ("appKey", pay_app_key),
            ("dealId", self.deal_id.as_str()),
            ("totalAmount", self.total_amount.to_string().as_str()),
            ("tpOrderId", self.tp_order_id.as_str()),
        ])
    }

    /// The `orderInfo` to hand to `swan.requestPolymerPayment`, signed.
    pub fn order_info(&self, pay_app_key: &str, rsa_sign: &str) -> Value {
        let mut info = self.extra.clone();
        info.insert("appKey".into(), json!(pay_app_key));
        info.insert("dealId".into(), json!(self.deal_id));
        info.insert("totalAmount".into(), json!(self.total_amount.to_string()));
        info.insert("tpOrderId".into(), json!(self.tp_order_id));
        info.insert("signFieldsRange".into(), json!("1"));
        info.insert("rsaSign".into(), json!(rsa_sign));
        Value::Object(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::key::MerchantKey;
    use crate::baidu::sign::NativeSigner;

    #[test]
    fn baidus_published_example_is_reproduced_byte_for_byte() {
        let vectors: Value =
            serde_json::from_str(include_str!("../../tests/vectors/signing.json")).unwrap();
        let example = &vectors["vectors"][0];
        assert_eq!(example["name"], "baidu-doc-example");
        let order = PaymentOrder {
            deal_id: example["params"]["dealId"].as_str().unwrap().into(),
            total_amount: example["params"]["totalAmount"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            tp_order_id: example["params"]["tpOrderId"].as_str().unwrap().into(),
            extra: Map::new(),
        };
        let app_key = example["params"]["appKey"].as_str().unwrap();
        let canonical = order.canonical_string(app_key);
        assert_eq!(canonical, example["canonical"].as_str().unwrap());
        let key = MerchantKey::parse(include_str!(
            "../../tests/vectors/keys/baidu-doc-sample-1024.pkcs1.pem"
        ))
        .unwrap();
        let rsa_sign = NativeSigner::new(&key).unwrap().sign(&canonical);
        assert_eq!(rsa_sign, example["rsaSign"].as_str().unwrap());
        let info = order.order_info(app_key, &rsa_sign);
        assert_eq!(info["totalAmount"], "11300");
        assert_eq!(info["signFieldsRange"], "1");
    }

    #[test]
    fn extra_fields_pass_through_but_cannot_replace_signed_ones() {
        let mut extra = Map::new();
        extra.insert("dealTitle".into(), json!("百度小程序Demo支付"));
        extra.insert("totalAmount".into(), json!("1"));
        let order = PaymentOrder {
            deal_id: "470193086".into(),
            total_amount: 11300,
            tp_order_id: "3028903626".into(),
            extra,
        };
        let info = order.order_info("MMMabc", "sig");
        assert_eq!(info["dealTitle"], "百度小程序Demo支付");
        assert_eq!(info["totalAmount"], "11300");
    }
}
