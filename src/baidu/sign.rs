//! Baidu's RSA request signing (签名与验签): the canonical string, SHA1withRSA, base64.
//!
//! PKCS#1 v1.5 is deterministic, so the same key and string always give the same `rsaSign`;
//! the shared vectors pin it byte for byte. Natively the `rsa` crate signs; inside the Worker
//! WebCrypto signs the same canonical string (see `platform::webcrypto`), because the `rsa`
//! crate compiled to wasm costs more CPU than a request is allowed.

use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::PublicKey;
use sha1::Sha1;

use super::key::{KeyError, MerchantKey};

/// Parameters that never take part in the canonical string.
pub const EXCLUDED_PARAMS: [&str; 3] = ["sign", "sign_type", "rsaSign"];

/// The name of the signature parameter on the wire.
pub const SIGNATURE_PARAM: &str = "rsaSign";

/// Builds the string Baidu signs: every parameter except [`EXCLUDED_PARAMS`], sorted by key in
/// byte order, joined as `key=value` with `&`. Empty values stay in (Baidu's verifier fails
/// if they are dropped); values are raw UTF-8, not URL-encoded.
pub fn canonical_string<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut pairs: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(key, _)| !EXCLUDED_PARAMS.contains(key))
        .collect();
    // `str`'s ordering is byte order, which is what Baidu means (`Zeta` < `appKey`).
    pairs.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(b.1)));
    let mut out = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Signs with the `rsa` crate: for native code (tests, tools). The Worker uses WebCrypto.
pub struct NativeSigner {
    signing_key: SigningKey<Sha1>,
}

impl std::fmt::Debug for NativeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NativeSigner([redacted])")
    }
}

impl NativeSigner {
    pub fn new(key: &MerchantKey) -> Result<Self, KeyError> {
        // `new` (not `new_unprefixed`) includes the SHA-1 DigestInfo prefix, as Baidu verifies.
        Ok(Self {
            signing_key: SigningKey::<Sha1>::new(key.private_key()?),
        })
    }

    /// Returns the raw signature bytes over `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        self.signing_key.sign(message).to_vec()
    }

    /// Returns `rsaSign`: the base64 signature over the canonical string.
    pub fn sign(&self, canonical: &str) -> String {
        encode_signature(&self.sign_bytes(canonical.as_bytes()))
    }
}

/// Standard base64 with padding and no line breaks, as `rsaSign` is sent.
pub fn encode_signature(signature: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(signature)
}

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// `rsaSign` is not valid base64 or has the wrong length.
    MalformedSignature,
    /// The signature does not match the string and key.
    Mismatch,
}

/// Verifies a base64 `rsaSign` over a canonical string (e.g. Baidu's payment callback,
/// checked with Baidu's platform public key).
pub fn verify(public_key: &PublicKey, canonical: &str, rsa_sign: &str) -> Result<(), VerifyError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(rsa_sign.trim())
        .map_err(|_| VerifyError::MalformedSignature)?;
    if bytes.len() != public_key.size() {
        return Err(VerifyError::MalformedSignature);
    }
    let signature =
        Signature::try_from(bytes.as_slice()).map_err(|_| VerifyError::MalformedSignature)?;
    VerifyingKey::<Sha1>::new(public_key.clone())
        .verify(canonical.as_bytes(), &signature)
        .map_err(|_| VerifyError::Mismatch)
}

/// Verifies a whole parameter set that carries its own `rsaSign`.
pub fn verify_params<'a, I>(public_key: &PublicKey, params: I) -> Result<(), VerifyError>
where
    I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
{
    let rsa_sign = params
        .clone()
        .into_iter()
        .find(|(key, _)| *key == SIGNATURE_PARAM)
        .map(|(_, value)| value)
        .ok_or(VerifyError::MalformedSignature)?;
    verify(public_key, &canonical_string(params), rsa_sign)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baidu::key::parse_public_key;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    struct SigningVectors {
        vectors: Vec<SigningVector>,
    }

    #[derive(Deserialize)]
    struct SigningVector {
        name: String,
        key: String,
        params: BTreeMap<String, String>,
        canonical: String,
        #[serde(rename = "rsaSign")]
        rsa_sign: String,
    }

    #[derive(Deserialize)]
    struct CallbackVector {
        platform_public_key_spki_base64: String,
        params: BTreeMap<String, String>,
        canonical: String,
    }

    fn vector_key(name: &str, form: &str) -> MerchantKey {
        let text = match (name, form) {
            ("baidu-doc-sample-1024", "pkcs1") => {
                include_str!("../../tests/vectors/keys/baidu-doc-sample-1024.pkcs1.pem")
            }
            ("baidu-doc-sample-1024", "pkcs8") => {
                include_str!("../../tests/vectors/keys/baidu-doc-sample-1024.pkcs8.pem")
            }
            ("test-2048", "pkcs1") => include_str!("../../tests/vectors/keys/test-2048.pkcs1.pem"),
            ("test-2048", "pkcs8") => include_str!("../../tests/vectors/keys/test-2048.pkcs8.pem"),
            other => panic!("no vector key {other:?}"),
        };
        MerchantKey::parse(text).unwrap()
    }

    fn signing_vectors() -> Vec<SigningVector> {
        let json = include_str!("../../tests/vectors/signing.json");
        serde_json::from_str::<SigningVectors>(json)
            .unwrap()
            .vectors
    }

    fn pairs(params: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
        params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn every_shared_vector_reproduces_byte_for_byte_with_both_key_forms() {
        let vectors = signing_vectors();
        assert!(vectors.len() >= 6);
        for vector in vectors {
            let canonical = canonical_string(pairs(&vector.params));
            assert_eq!(canonical, vector.canonical, "canonical of {}", vector.name);
            for form in ["pkcs1", "pkcs8"] {
                let signer = NativeSigner::new(&vector_key(&vector.key, form)).unwrap();
                assert_eq!(
                    signer.sign(&canonical),
                    vector.rsa_sign,
                    "{} with {form}",
                    vector.name
                );
            }
        }
    }

    #[test]
    fn baidu_published_example_is_the_first_vector() {
        let first = &signing_vectors()[0];
        assert_eq!(first.name, "baidu-doc-example");
        let signer = NativeSigner::new(&vector_key("baidu-doc-sample-1024", "pkcs1")).unwrap();
        assert_eq!(signer.sign(&first.canonical), first.rsa_sign);
    }

    #[test]
    fn own_signatures_verify_and_altered_ones_do_not() {
        for vector in signing_vectors() {
            let key = vector_key(&vector.key, "pkcs8");
            let public = key.public_key().unwrap();
            assert_eq!(verify(&public, &vector.canonical, &vector.rsa_sign), Ok(()));
            let altered = format!("{}x", vector.canonical);
            assert_eq!(
                verify(&public, &altered, &vector.rsa_sign),
                Err(VerifyError::Mismatch)
            );
        }
        let public = vector_key("test-2048", "pkcs1").public_key().unwrap();
        assert_eq!(
            verify(&public, "a=b", "%%%"),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            verify(&public, "a=b", "AAAA"),
            Err(VerifyError::MalformedSignature)
        );
    }

    #[test]
    fn baidu_callback_verifies_with_platform_key_and_fails_without_empty_values() {
        let json = include_str!("../../tests/vectors/callback.json");
        let callback: CallbackVector = serde_json::from_str(json).unwrap();
        let public = parse_public_key(&callback.platform_public_key_spki_base64).unwrap();
        let params = pairs(&callback.params);
        assert_eq!(canonical_string(params.clone()), callback.canonical);
        assert_eq!(verify_params(&public, params.clone()), Ok(()));

        let without_empty: Vec<(&str, &str)> = params
            .iter()
            .copied()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        assert!(without_empty.len() < params.len());
        assert_eq!(
            verify_params(&public, without_empty),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn canonical_string_edge_cases() {
        // Excluded keys vanish wherever they sort; empty values stay; nothing trails.
        assert_eq!(
            canonical_string([
                ("sign", "x"),
                ("b", ""),
                ("sign_type", "RSA"),
                ("a", "1"),
                ("rsaSign", "y")
            ]),
            "a=1&b="
        );
        // Byte order: upper case before lower case, digits before letters, shorter prefix first.
        assert_eq!(
            canonical_string([
                ("appKey", "1"),
                ("Zeta", "2"),
                ("a", "3"),
                ("a1", "4"),
                ("_x", "5"),
                ("9", "6")
            ]),
            "9=6&Zeta=2&_x=5&a=3&a1=4&appKey=1"
        );
        // Values are raw: no URL-encoding of '&', '=', '+', spaces or UTF-8.
        assert_eq!(
            canonical_string([("q", "a&b=c+d e"), ("r", "订单")]),
            "q=a&b=c+d e&r=订单"
        );
        // Non-ASCII keys sort by their UTF-8 bytes, after ASCII.
        assert_eq!(canonical_string([("é", "1"), ("z", "2")]), "z=2&é=1");
        assert_eq!(canonical_string(Vec::<(&str, &str)>::new()), "");
        // Only excluded parameters: nothing to sign but still no stray separator.
        assert_eq!(canonical_string([("rsaSign", "a")]), "");
    }

    #[test]
    fn signer_debug_is_redacted() {
        let signer = NativeSigner::new(&vector_key("test-2048", "pkcs1")).unwrap();
        assert_eq!(format!("{signer:?}"), "NativeSigner([redacted])");
    }
}
