//! Known-answer vectors the running Worker can sign on demand (`GET /healthz?signing=1`), to
//! show that the runtime's WebCrypto signs exactly as Baidu verifies. The keys are public test
//! keys (Baidu's documentation sample and a 2048-bit test key), never the merchant's.

use serde::Deserialize;

use super::key::MerchantKey;

const VECTORS: &str = include_str!("../../tests/vectors/signing.json");
const KEY_1024: &str = include_str!("../../tests/vectors/keys/baidu-doc-sample-1024.pkcs1.pem");
const KEY_2048: &str = include_str!("../../tests/vectors/keys/test-2048.pkcs8.pem");

/// One vector: sign `canonical` with the key, expect `rsa_sign`.
pub struct SelfTestVector {
    pub name: String,
    pub key: MerchantKey,
    pub canonical: String,
    pub rsa_sign: String,
}

#[derive(Deserialize)]
struct File {
    vectors: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    key: String,
    canonical: String,
    #[serde(rename = "rsaSign")]
    rsa_sign: String,
}

/// Every signing vector with its key, parsed (empty if the embedded data were unreadable,
/// which the unit tests rule out).
pub fn vectors() -> Vec<SelfTestVector> {
    let Ok(file) = serde_json::from_str::<File>(VECTORS) else {
        return Vec::new();
    };
    file.vectors
        .into_iter()
        .filter_map(|entry| {
            let pem = match entry.key.as_str() {
                "baidu-doc-sample-1024" => KEY_1024,
                "test-2048" => KEY_2048,
                _ => return None,
            };
            Some(SelfTestVector {
                name: entry.name,
                key: MerchantKey::parse(pem).ok()?,
                canonical: entry.canonical,
                rsa_sign: entry.rsa_sign,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::sign::NativeSigner;

    #[test]
    fn every_vector_is_embedded_and_correct() {
        let vectors = vectors();
        assert_eq!(vectors.len(), 7);
        for vector in vectors {
            assert_eq!(
                NativeSigner::new(&vector.key)
                    .unwrap()
                    .sign(&vector.canonical),
                vector.rsa_sign,
                "{}",
                vector.name
            );
        }
    }
}
