//! Key tooling for merchants, on the relay's own core (native only): generate a key pair in the
//! forms Baidu's console and the relay expect, and check a key against Baidu's displayed public
//! key and Baidu's published signing example.

use std::fmt::Write as _;

use rsa::pkcs8::{EncodePrivateKey, LineEnding};

use crate::baidu::key::{parse_public_key, KeyEncoding, KeyError, MerchantKey};
use crate::baidu::sign::{canonical_string, verify, NativeSigner};

/// Baidu's published signing example (vector `baidu-doc-example`): its sample key, parameters
/// and the `rsaSign` Baidu's documentation shows.
pub const BAIDU_EXAMPLE_KEY: &str =
    include_str!("../tests/vectors/keys/baidu-doc-sample-1024.pkcs1.pem");
pub const BAIDU_EXAMPLE_PARAMS: [(&str, &str); 4] = [
    ("appKey", "MMMabc"),
    ("dealId", "470193086"),
    ("totalAmount", "11300"),
    ("tpOrderId", "3028903626"),
];
pub const BAIDU_EXAMPLE_RSA_SIGN: &str = "TN0ZNPyQeTnPjCN5hUa7JwrXOhR8uDASXPazidVQHFSiGCH5aouBkVvJxtf8PeqzGYWAASwS2oOt2eJfunzC5dTFd/pWJeJToMgCSgRY7KtQUCCDnMrtpqiMAf+dLiXps3HpWhVB4CK6MXfHc64ejP5a2fu5bg8B0BTcHrqaGc0=";

/// A freshly generated key pair in the forms it is used in.
pub struct GeneratedKey {
    /// PKCS#8 PEM: for `wrangler secret put BAIDU_RSA_PRIVATE_KEY`.
    pub private_pem: String,
    /// Bare base64 SubjectPublicKeyInfo: what Baidu's console expects.
    pub public_base64: String,
    pub bits: usize,
}

/// Generates an RSA key pair with the operating system's random source.
pub fn generate(bits: usize) -> Result<GeneratedKey, String> {
    if bits != 1024 && bits != 2048 && bits != 3072 && bits != 4096 {
        return Err(format!(
            "unsupported size {bits}; use 2048 (default) or 1024"
        ));
    }
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
        .map_err(|e| format!("key generation failed: {e}"))?;
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("could not encode the key: {e}"))?
        .to_string();
    let merchant =
        MerchantKey::from_private_key(key, KeyEncoding::Pkcs8Pem).map_err(|e| e.to_string())?;
    Ok(GeneratedKey {
        private_pem,
        public_base64: merchant.public_key_base64().map_err(|e| e.to_string())?,
        bits,
    })
}

/// The outcome of checking a merchant's key.
pub struct KeyReport {
    pub text: String,
    /// False when something is wrong (the key does not parse, or does not match the public key).
    pub ok: bool,
}

/// Checks a private key: its form and size, whether it matches Baidu's displayed public key
/// (when given), and that signing reproduces Baidu's published example byte for byte.
pub fn check(private_key: &str, baidu_public_key: Option<&str>) -> KeyReport {
    let mut text = String::new();
    let mut ok = true;

    let example = MerchantKey::parse(BAIDU_EXAMPLE_KEY)
        .and_then(|key| NativeSigner::new(&key))
        .expect("the example key is valid");
    let canonical = canonical_string(BAIDU_EXAMPLE_PARAMS);
    let example_sign = example.sign(&canonical);
    let algorithm_ok = example_sign == BAIDU_EXAMPLE_RSA_SIGN;
    let _ = writeln!(
        text,
        "Algorithm: SHA1withRSA over \"{canonical}\" with Baidu's sample key {} Baidu's published rsaSign.",
        if algorithm_ok { "reproduces" } else { "does NOT reproduce" }
    );
    ok &= algorithm_ok;

    let parsed = MerchantKey::parse(private_key).and_then(|key| {
        let public = key.public_key()?;
        let signer = NativeSigner::new(&key)?;
        let own = key.public_key_base64()?;
        Ok((key, public, signer, own))
    });
    let (key, public_key, signer, own) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let _ = writeln!(text, "Private key: not usable: {error}.");
            return KeyReport { text, ok: false };
        }
    };
    let _ = writeln!(
        text,
        "Private key: RSA {} bits, {}. The relay accepts this form as BAIDU_RSA_PRIVATE_KEY.",
        key.bits(),
        key.encoding().describe()
    );
    let _ = writeln!(
        text,
        "Its public key, as Baidu's console shows it:\n  {own}"
    );

    match baidu_public_key.map(str::trim).filter(|p| !p.is_empty()) {
        None => {
            let _ = writeln!(
                text,
                "Baidu's public key: not given; pass it with --public to check that the pair matches."
            );
        }
        Some(given) => match parse_public_key(given) {
            Ok(public) if public == public_key => {
                let _ = writeln!(text, "Baidu's public key: MATCHES this private key.");
            }
            Ok(_) => {
                ok = false;
                let _ = writeln!(
                    text,
                    "Baidu's public key: does NOT match this private key. Baidu will answer errno 10000 (baidu_signature_rejected): upload the public key above, or use the private key that belongs to Baidu's."
                );
            }
            Err(KeyError::PrivateKeyGiven) => {
                ok = false;
                let _ = writeln!(text, "Baidu's public key: a private key was given; never share it. Pass the public key.");
            }
            Err(error) => {
                ok = false;
                let _ = writeln!(text, "Baidu's public key: not usable: {error}.");
            }
        },
    }

    let own_sign = signer.sign(&canonical);
    let verifies = verify(&public_key, &canonical, &own_sign).is_ok();
    let _ = writeln!(
        text,
        "Your key signs the same example as:\n  rsaSign={own_sign}\n  (verifies with its public key: {})",
        if verifies { "yes" } else { "NO" }
    );
    ok &= verifies;
    KeyReport { text, ok }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_2048: &str = include_str!("../tests/vectors/keys/test-2048.pkcs1.pem");
    const PUB_2048: &str = include_str!("../tests/vectors/keys/test-2048.pub.pem");
    const PUB_1024: &str = include_str!("../tests/vectors/keys/baidu-doc-sample-1024.pub.pem");

    #[test]
    fn generated_keys_round_trip_through_the_relays_parser() {
        let generated = generate(1024).unwrap();
        assert!(generated
            .private_pem
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        let parsed = MerchantKey::parse(&generated.private_pem).unwrap();
        assert_eq!(parsed.bits(), 1024);
        assert_eq!(parsed.public_key_base64().unwrap(), generated.public_base64);
        assert!(!generated.public_base64.contains('\n'));
        assert!(generate(1000).is_err());
        let report = check(&generated.private_pem, Some(&generated.public_base64));
        assert!(report.ok, "{}", report.text);
    }

    #[test]
    fn a_matching_pair_passes_and_reproduces_baidus_example() {
        let report = check(KEY_2048, Some(PUB_2048));
        assert!(report.ok, "{}", report.text);
        assert!(report.text.contains("reproduces Baidu's published rsaSign"));
        assert!(report.text.contains("MATCHES"));
        assert!(report.text.contains("2048 bits"));
        assert!(report.text.contains("PKCS#1 PEM"));
    }

    #[test]
    fn a_mismatched_pair_fails_and_says_what_baidu_will_answer() {
        let report = check(KEY_2048, Some(PUB_1024));
        assert!(!report.ok);
        assert!(report.text.contains("does NOT match"));
        assert!(report.text.contains("10000"));
    }

    #[test]
    fn unusable_inputs_are_explained_without_echoing_them() {
        let report = check(PUB_2048, None);
        assert!(!report.ok);
        assert!(report.text.contains("public key"));
        let report = check(KEY_2048, Some(KEY_2048));
        assert!(!report.ok);
        assert!(report.text.contains("never share it"));
        // The private exponent and primes follow the (public) modulus in the DER.
        let private_body: String = KEY_2048
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        for start in (400..private_body.len() - 32).step_by(32) {
            assert!(!report.text.contains(&private_body[start..start + 32]));
        }
    }
}
