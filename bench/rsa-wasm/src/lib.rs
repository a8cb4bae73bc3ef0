//! SHA1withRSA with the `rsa` crate (`pkcs1v15::SigningKey::<Sha1>::new`), exported to JS for
//! the signing benchmark. The key is parsed once; `sign_n` signs the same message n times.

use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::der::Decode;
use rsa::pkcs8::PrivateKeyInfoRef;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::PrivateKey;
use sha1::Sha1;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct RsaSigner {
    key: SigningKey<Sha1>,
}

#[wasm_bindgen]
impl RsaSigner {
    /// Parses a PKCS#8 DER private key.
    #[wasm_bindgen(constructor)]
    pub fn new(pkcs8_der: &[u8]) -> Result<RsaSigner, JsError> {
        let info = PrivateKeyInfoRef::from_der(pkcs8_der).map_err(|e| JsError::new(&e.to_string()))?;
        let key = PrivateKey::try_from(info).map_err(|e| JsError::new(&e.to_string()))?;
        // `new` (not `new_unprefixed`) includes the SHA-1 DigestInfo prefix, as Baidu verifies.
        Ok(RsaSigner { key: SigningKey::<Sha1>::new(key) })
    }

    /// One signature over `message` (raw bytes).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).to_vec()
    }

    /// Signs `message` `n` times; returns the sum of the last bytes (so nothing is optimised away).
    pub fn sign_n(&self, message: &[u8], n: u32) -> u32 {
        let mut acc = 0u32;
        for _ in 0..n {
            let signature = self.key.sign(std::hint::black_box(message)).to_vec();
            acc = acc.wrapping_add(u32::from(*signature.last().unwrap_or(&0)));
        }
        acc
    }
}
