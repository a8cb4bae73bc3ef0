//! RSA key parsing, tolerant of the ways merchants paste keys into a secrets UI.
//!
//! A merchant's private key may arrive as PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8
//! (`BEGIN PRIVATE KEY`), as PEM or as the bare base64 body, with stray whitespace, CRLF or
//! literal `\n` escapes. Every form is normalised once into one [`MerchantKey`] holding the
//! PKCS#8 DER that WebCrypto imports. Errors say what is wrong and never echo key material.

use base64::Engine;
use crypto_bigint::{BoxedUint, ConcatenatingMul};
use rsa::pkcs1::{DecodeRsaPublicKey, RsaPrivateKeyRef};
use rsa::pkcs8::der::Decode;
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, PrivateKeyInfoRef, SubjectPublicKeyInfoRef,
};
use rsa::{PrivateKey, PublicKey};
use std::fmt;

/// Key sizes Baidu merchants use: Baidu's docs generate 1024-bit keys, many merchants use 2048.
pub const SUPPORTED_BITS: std::ops::RangeInclusive<usize> = 1024..=4096;

const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

/// How a key was written, reported back to the operator (e.g. by `/healthz` and tooling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    Pkcs1Pem,
    Pkcs8Pem,
    Pkcs1Base64,
    Pkcs8Base64,
}

impl KeyEncoding {
    pub fn describe(self) -> &'static str {
        match self {
            KeyEncoding::Pkcs1Pem => "PKCS#1 PEM (BEGIN RSA PRIVATE KEY)",
            KeyEncoding::Pkcs8Pem => "PKCS#8 PEM (BEGIN PRIVATE KEY)",
            KeyEncoding::Pkcs1Base64 => "PKCS#1 DER as bare base64",
            KeyEncoding::Pkcs8Base64 => "PKCS#8 DER as bare base64",
        }
    }
}

/// Why a key could not be used. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Nothing but whitespace.
    Empty,
    /// Neither PEM armour nor valid base64.
    NotPemOrBase64,
    /// A `-----BEGIN` line without its matching `-----END` line.
    UnterminatedPem,
    /// PEM armour whose label is not a key we understand.
    UnsupportedPemLabel(String),
    /// A public key or certificate where a private key was expected.
    PublicKeyGiven,
    /// A private key where a public key was expected.
    PrivateKeyGiven,
    /// A passphrase-protected key: WebCrypto cannot use it.
    Encrypted,
    /// A key for another algorithm (EC, Ed25519, DSA...).
    NotRsa,
    /// Decodes as base64 but is not a well-formed RSA key.
    Malformed,
    /// An RSA key of a size we do not accept.
    UnsupportedSize(usize),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Empty => write!(f, "the key is empty"),
            KeyError::NotPemOrBase64 => write!(
                f,
                "the key is neither PEM (-----BEGIN ...-----) nor a bare base64 DER body"
            ),
            KeyError::UnterminatedPem => {
                write!(f, "the PEM key has a BEGIN line but no matching END line")
            }
            KeyError::UnsupportedPemLabel(label) => write!(
                f,
                "the PEM block is labelled \"{label}\"; expected RSA PRIVATE KEY (PKCS#1) or PRIVATE KEY (PKCS#8)"
            ),
            KeyError::PublicKeyGiven => write!(
                f,
                "this is a public key (or certificate); the private key is needed here, the public key goes into Baidu's console"
            ),
            KeyError::PrivateKeyGiven => {
                write!(f, "this is a private key; a public key is expected here")
            }
            KeyError::Encrypted => write!(
                f,
                "the key is passphrase-encrypted; export it unencrypted (e.g. openssl pkcs8 -topk8 -nocrypt)"
            ),
            KeyError::NotRsa => write!(f, "the key is not an RSA key; Baidu needs RSA (SHA1withRSA)"),
            KeyError::Malformed => write!(
                f,
                "the key decodes but is not a well-formed RSA key in PKCS#1 or PKCS#8"
            ),
            KeyError::UnsupportedSize(bits) => write!(
                f,
                "the RSA key has {bits} bits; supported sizes are 1024 to 4096 bits"
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// The merchant's RSA private key, checked once and kept as the PKCS#8 DER WebCrypto imports.
///
/// Only the DER structure is decoded: building the full `rsa` key (big-integer
/// precomputation) costs 4–5 ms of CPU in wasm on an isolate's first request, and the Worker
/// never needs it; native code builds it on demand with [`MerchantKey::private_key`].
#[derive(Clone)]
pub struct MerchantKey {
    pkcs8_der: Vec<u8>,
    bits: usize,
    encoding: KeyEncoding,
}

impl fmt::Debug for MerchantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerchantKey")
            .field("bits", &self.bits())
            .field("encoding", &self.encoding)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl MerchantKey {
    /// Parses a private key in any of the accepted forms.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (der, armour) = decode_armour(text)?;
        let (pkcs1, encoding) = match armour {
            Some(label) => match label.as_str() {
                "RSA PRIVATE KEY" => (der, KeyEncoding::Pkcs1Pem),
                "PRIVATE KEY" => (pkcs1_from_pkcs8(&der)?, KeyEncoding::Pkcs8Pem),
                other => return Err(classify_foreign_label(other)),
            },
            None => pkcs1_from_bare_der(&der)?,
        };
        Self::from_pkcs1_der(&pkcs1, encoding)
    }

    /// Wraps an already-built key (e.g. a freshly generated one).
    pub fn from_private_key(key: PrivateKey, encoding: KeyEncoding) -> Result<Self, KeyError> {
        let der = key.to_pkcs8_der().map_err(|_| KeyError::Malformed)?;
        Self::from_pkcs1_der(&pkcs1_from_pkcs8(der.as_bytes())?, encoding)
    }

    fn from_pkcs1_der(pkcs1: &[u8], encoding: KeyEncoding) -> Result<Self, KeyError> {
        let key = RsaPrivateKeyRef::from_der(pkcs1).map_err(|_| KeyError::Malformed)?;
        if !modulus_is_product_of_primes(&key) {
            return Err(KeyError::Malformed);
        }
        let bits = key.modulus.as_bytes().len() * 8;
        if !SUPPORTED_BITS.contains(&bits) {
            return Err(KeyError::UnsupportedSize(bits));
        }
        Ok(Self {
            pkcs8_der: wrap_pkcs8(pkcs1),
            bits,
            encoding,
        })
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The form the key was given in.
    pub fn encoding(&self) -> KeyEncoding {
        self.encoding
    }

    /// PKCS#8 DER: the one form WebCrypto's `importKey` accepts for private keys.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    /// The full `rsa` key, built now (for native signing and tooling). Fails for a key whose
    /// structure decodes but whose numbers are inconsistent.
    pub fn private_key(&self) -> Result<PrivateKey, KeyError> {
        PrivateKey::from_pkcs8_der(&self.pkcs8_der).map_err(|_| KeyError::Malformed)
    }

    pub fn public_key(&self) -> Result<PublicKey, KeyError> {
        Ok(self.private_key()?.to_public_key())
    }

    /// The public key as Baidu's console shows and expects it: bare base64 SubjectPublicKeyInfo.
    pub fn public_key_base64(&self) -> Result<String, KeyError> {
        use rsa::pkcs8::EncodePublicKey;
        let der = self
            .public_key()?
            .to_public_key_der()
            .map_err(|_| KeyError::Malformed)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(der.as_bytes()))
    }
}

/// A cheap consistency check (one multiplication, unlike the full key's precomputation): a key
/// damaged in transit rarely keeps `n = p * q`.
fn modulus_is_product_of_primes(key: &RsaPrivateKeyRef<'_>) -> bool {
    let number = |bytes: &[u8]| {
        let precision = bytes.len().div_ceil(8) as u32 * 64;
        BoxedUint::from_be_slice(bytes, precision.max(64)).ok()
    };
    let (Some(p), Some(q)) = (number(key.prime1.as_bytes()), number(key.prime2.as_bytes())) else {
        return false;
    };
    let product = p.concatenating_mul(&q).to_be_bytes();
    let first_nonzero = product
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(product.len());
    &product[first_nonzero..] == key.modulus.as_bytes()
}

/// `PrivateKeyInfo { version 0, AlgorithmIdentifier { rsaEncryption, NULL }, OCTET STRING pkcs1 }`,
/// exactly as OpenSSL writes it, so every accepted form normalises to the same bytes.
fn wrap_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    const VERSION_AND_ALGORITHM: [u8; 18] = [
        0x02, 0x01, 0x00, // INTEGER 0
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut octets = vec![0x04];
    push_der_length(&mut octets, pkcs1.len());
    octets.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    push_der_length(&mut out, VERSION_AND_ALGORITHM.len() + octets.len());
    out.extend_from_slice(&VERSION_AND_ALGORITHM);
    out.extend_from_slice(&octets);
    out
}

fn push_der_length(out: &mut Vec<u8>, length: usize) {
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes: Vec<u8> = length
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
}

/// Parses an RSA public key: PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`) or bare base64 DER, as
/// Baidu's console displays it.
pub fn parse_public_key(text: &str) -> Result<PublicKey, KeyError> {
    let (der, armour) = decode_armour(text)?;
    match armour.as_deref() {
        Some("PUBLIC KEY") => public_key_from_spki(&der),
        Some("RSA PUBLIC KEY") => PublicKey::from_pkcs1_der(&der).map_err(|_| KeyError::Malformed),
        Some("RSA PRIVATE KEY") | Some("PRIVATE KEY") => Err(KeyError::PrivateKeyGiven),
        Some(other) => match classify_foreign_label(other) {
            KeyError::PublicKeyGiven => Err(KeyError::UnsupportedPemLabel(other.to_owned())),
            error => Err(error),
        },
        None => {
            if let Ok(key) = public_key_from_spki(&der) {
                return Ok(key);
            }
            if let Ok(key) = PublicKey::from_pkcs1_der(&der) {
                return Ok(key);
            }
            if pkcs1_from_bare_der(&der).is_ok() {
                return Err(KeyError::PrivateKeyGiven);
            }
            Err(KeyError::Malformed)
        }
    }
}

/// Undoes what secrets UIs and shells do to keys: surrounding quotes and whitespace, CRLF,
/// and `\n` written as two characters.
fn normalise(text: &str) -> String {
    let trimmed = text.trim();
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|q| {
            trimmed
                .strip_prefix(*q)
                .and_then(|rest| rest.strip_suffix(*q))
        })
        .unwrap_or(trimmed);
    unquoted
        .replace("\\r\\n", "\n")
        .replace("\\n", "\n")
        .replace("\r\n", "\n")
        .replace('\r', "\n")
}

/// Returns the DER bytes and, if the text was PEM, its label.
fn decode_armour(text: &str) -> Result<(Vec<u8>, Option<String>), KeyError> {
    let text = normalise(text);
    if text.is_empty() {
        return Err(KeyError::Empty);
    }
    let Some(begin) = text.find("-----BEGIN ") else {
        return Ok((decode_base64_body(&text)?, None));
    };
    let after_begin = &text[begin + "-----BEGIN ".len()..];
    let label_end = after_begin.find("-----").ok_or(KeyError::UnterminatedPem)?;
    let label = after_begin[..label_end].trim().to_owned();
    let body_and_rest = &after_begin[label_end + "-----".len()..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body_and_rest
        .find(&end_marker)
        .ok_or(KeyError::UnterminatedPem)?;
    let body = &body_and_rest[..body_end];
    // Legacy OpenSSL encryption puts RFC 1421 headers inside the armour.
    if body.contains("Proc-Type:") || body.contains("DEK-Info:") {
        return Err(KeyError::Encrypted);
    }
    let der = decode_base64_body(body)?;
    Ok((der, Some(label)))
}

fn decode_base64_body(body: &str) -> Result<Vec<u8>, KeyError> {
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(KeyError::Empty);
    }
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| KeyError::NotPemOrBase64)
}

fn classify_foreign_label(label: &str) -> KeyError {
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => KeyError::PublicKeyGiven,
        "ENCRYPTED PRIVATE KEY" => KeyError::Encrypted,
        "EC PRIVATE KEY" | "DSA PRIVATE KEY" | "OPENSSH PRIVATE KEY" => KeyError::NotRsa,
        other => KeyError::UnsupportedPemLabel(other.to_owned()),
    }
}

/// The PKCS#1 key inside a PKCS#8 `PrivateKeyInfo`, checked to be RSA.
fn pkcs1_from_pkcs8(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let info = PrivateKeyInfoRef::from_der(der).map_err(|_| KeyError::Malformed)?;
    if info.algorithm.oid.to_string() != RSA_ENCRYPTION_OID {
        return Err(KeyError::NotRsa);
    }
    Ok(info.private_key.as_bytes().to_vec())
}

fn public_key_from_spki(der: &[u8]) -> Result<PublicKey, KeyError> {
    let info = SubjectPublicKeyInfoRef::from_der(der).map_err(|_| KeyError::Malformed)?;
    if info.algorithm.oid.to_string() != RSA_ENCRYPTION_OID {
        return Err(KeyError::NotRsa);
    }
    PublicKey::from_public_key_der(der).map_err(|_| KeyError::Malformed)
}

/// Bare base64 carries no label, so the DER structure tells which form it is.
fn pkcs1_from_bare_der(der: &[u8]) -> Result<(Vec<u8>, KeyEncoding), KeyError> {
    if PrivateKeyInfoRef::from_der(der).is_ok() {
        return Ok((pkcs1_from_pkcs8(der)?, KeyEncoding::Pkcs8Base64));
    }
    if RsaPrivateKeyRef::from_der(der).is_ok() {
        return Ok((der.to_vec(), KeyEncoding::Pkcs1Base64));
    }
    if SubjectPublicKeyInfoRef::from_der(der).is_ok() || PublicKey::from_pkcs1_der(der).is_ok() {
        return Err(KeyError::PublicKeyGiven);
    }
    Err(KeyError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS1_1024: &str =
        include_str!("../../tests/vectors/keys/baidu-doc-sample-1024.pkcs1.pem");
    const PKCS8_1024: &str =
        include_str!("../../tests/vectors/keys/baidu-doc-sample-1024.pkcs8.pem");
    const PUB_1024: &str = include_str!("../../tests/vectors/keys/baidu-doc-sample-1024.pub.pem");
    const PKCS1_2048: &str = include_str!("../../tests/vectors/keys/test-2048.pkcs1.pem");
    const PKCS8_2048: &str = include_str!("../../tests/vectors/keys/test-2048.pkcs8.pem");
    const PUB_2048: &str = include_str!("../../tests/vectors/keys/test-2048.pub.pem");

    fn pem_body(pem: &str) -> String {
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    #[test]
    fn every_pem_form_parses_to_the_same_pkcs8() {
        for (pkcs1, pkcs8, bits) in [
            (PKCS1_1024, PKCS8_1024, 1024),
            (PKCS1_2048, PKCS8_2048, 2048),
        ] {
            let a = MerchantKey::parse(pkcs1).unwrap();
            let b = MerchantKey::parse(pkcs8).unwrap();
            assert_eq!(a.bits(), bits);
            assert_eq!(a.encoding(), KeyEncoding::Pkcs1Pem);
            assert_eq!(b.encoding(), KeyEncoding::Pkcs8Pem);
            assert_eq!(a.pkcs8_der(), b.pkcs8_der());
            // The PKCS#8 PEM's own body is exactly what we produce from the PKCS#1 form.
            let expected = base64::engine::general_purpose::STANDARD
                .decode(pem_body(pkcs8))
                .unwrap();
            assert_eq!(a.pkcs8_der(), expected.as_slice());
        }
    }

    #[test]
    fn bare_base64_bodies_are_recognised_by_structure() {
        let pkcs1 = MerchantKey::parse(&pem_body(PKCS1_2048)).unwrap();
        let pkcs8 = MerchantKey::parse(&pem_body(PKCS8_2048)).unwrap();
        assert_eq!(pkcs1.encoding(), KeyEncoding::Pkcs1Base64);
        assert_eq!(pkcs8.encoding(), KeyEncoding::Pkcs8Base64);
        assert_eq!(pkcs1.pkcs8_der(), pkcs8.pkcs8_der());
    }

    #[test]
    fn secrets_ui_damage_is_tolerated() {
        let reference = MerchantKey::parse(PKCS1_1024).unwrap();
        let variants = [
            PKCS1_1024.replace('\n', "\\n"),
            PKCS1_1024.replace('\n', "\r\n"),
            format!("  \n\t{PKCS1_1024}\n\n  "),
            format!("\"{}\"", PKCS1_1024.trim().replace('\n', "\\n")),
            pem_body(PKCS8_1024)
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join("\\n"),
            format!(" {} ", pem_body(PKCS8_1024)),
        ];
        for (i, text) in variants.iter().enumerate() {
            let key = MerchantKey::parse(text).unwrap_or_else(|e| panic!("variant {i}: {e}"));
            assert_eq!(key.pkcs8_der(), reference.pkcs8_der(), "variant {i}");
        }
    }

    #[test]
    fn public_key_instead_of_private_is_named() {
        assert_eq!(
            MerchantKey::parse(PUB_1024).unwrap_err(),
            KeyError::PublicKeyGiven
        );
        assert_eq!(
            MerchantKey::parse(&pem_body(PUB_2048)).unwrap_err(),
            KeyError::PublicKeyGiven
        );
    }

    #[test]
    fn malformed_keys_give_specific_errors_without_material() {
        let truncated = PKCS1_2048.replacen("MIIEogIBAAKCAQEA", "MIIEogIBAAKCAQEB", 1);
        let cases: Vec<(String, KeyError)> = vec![
            ("".into(), KeyError::Empty),
            ("   \n ".into(), KeyError::Empty),
            ("not a key at all!".into(), KeyError::NotPemOrBase64),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIB".into(), KeyError::UnterminatedPem),
            (
                "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----".into(),
                KeyError::NotRsa,
            ),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----".into(),
                KeyError::Encrypted,
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----".into(),
                KeyError::Encrypted,
            ),
            (
                "-----BEGIN FOO-----\nAAAA\n-----END FOO-----".into(),
                KeyError::UnsupportedPemLabel("FOO".into()),
            ),
            ("AAAA".into(), KeyError::Malformed),
            (truncated, KeyError::Malformed),
        ];
        for (text, expected) in cases {
            let error = MerchantKey::parse(&text).unwrap_err();
            assert_eq!(error, expected, "input {text:?}");
            let message = error.to_string();
            assert!(
                !message.contains("MII"),
                "message echoes material: {message}"
            );
        }
    }

    #[test]
    fn ed25519_pkcs8_is_not_rsa() {
        // An Ed25519 PKCS#8 key (RFC 8410 example).
        let ed = "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC";
        assert_eq!(MerchantKey::parse(ed).unwrap_err(), KeyError::NotRsa);
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{ed}\n-----END PRIVATE KEY-----\n");
        assert_eq!(MerchantKey::parse(&pem).unwrap_err(), KeyError::NotRsa);
    }

    #[test]
    fn debug_is_redacted() {
        let key = MerchantKey::parse(PKCS1_1024).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("[redacted]") && debug.contains("1024"));
        assert!(!debug.contains("MII"));
    }

    #[test]
    fn public_keys_parse_in_every_form_and_match() {
        let key = MerchantKey::parse(PKCS8_2048).unwrap();
        let bare = key.public_key_base64().unwrap();
        assert_eq!(bare, pem_body(PUB_2048));
        assert_eq!(
            parse_public_key(PUB_2048).unwrap(),
            key.public_key().unwrap()
        );
        assert_eq!(parse_public_key(&bare).unwrap(), key.public_key().unwrap());
        assert_eq!(
            parse_public_key(PKCS1_2048).unwrap_err(),
            KeyError::PrivateKeyGiven
        );
        assert_eq!(
            parse_public_key(&pem_body(PKCS8_2048)).unwrap_err(),
            KeyError::PrivateKeyGiven
        );
    }
}
