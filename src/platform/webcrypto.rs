//! SHA1withRSA through WebCrypto. The `rsa` crate compiled to wasm needs 12–16 ms of CPU per
//! 2048-bit signature, over the Workers budget; the runtime's native RSA needs about 1 ms and
//! gives byte-identical signatures (PKCS#1 v1.5 is deterministic).

use js_sys::{Array, ArrayBuffer, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

const ALGORITHM: &str = "RSASSA-PKCS1-v1_5";

/// A non-extractable private key imported into the runtime, usable only for signing, with
/// what every signature needs looked up once.
pub struct WebCryptoSigner {
    key: CryptoKey,
    subtle: SubtleCrypto,
    algorithm: Object,
}

impl WebCryptoSigner {
    /// Imports PKCS#8 DER, the one private-key form WebCrypto accepts besides JWK.
    pub async fn import(pkcs8_der: &[u8]) -> Result<Self, JsValue> {
        let import_algorithm = algorithm()?;
        Reflect::set(&import_algorithm, &"hash".into(), &hash_sha1()?.into())?;
        let usages = Array::of1(&JsValue::from_str("sign"));
        let key_data: Object = Uint8Array::from(pkcs8_der).into();
        let subtle = subtle()?;
        let promise =
            subtle.import_key_with_object("pkcs8", &key_data, &import_algorithm, false, &usages)?;
        let key = JsFuture::from(promise).await?;
        Ok(Self {
            key: key.unchecked_into(),
            subtle,
            algorithm: algorithm()?,
        })
    }

    /// Signs `message`, returning the raw signature bytes.
    pub async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JsValue> {
        let promise =
            self.subtle
                .sign_with_object_and_u8_array(&self.algorithm, &self.key, message)?;
        let signature: ArrayBuffer = JsFuture::from(promise).await?.unchecked_into();
        Ok(Uint8Array::new(&signature).to_vec())
    }
}

fn subtle() -> Result<SubtleCrypto, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    if crypto.is_undefined() {
        return Err(JsValue::from_str("globalThis.crypto is not available"));
    }
    Ok(crypto.unchecked_into::<web_sys::Crypto>().subtle())
}

fn algorithm() -> Result<Object, JsValue> {
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &ALGORITHM.into())?;
    Ok(algorithm)
}

fn hash_sha1() -> Result<Object, JsValue> {
    let hash = Object::new();
    Reflect::set(&hash, &"name".into(), &"SHA-1".into())?;
    Ok(hash)
}
