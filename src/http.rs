//! Plain values for the outbound HTTP exchange, so request building and answer
//! classification stay pure and the platform layer only moves bytes.

/// A fully built outbound request; the platform layer sends it unchanged.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub content_type: &'static str,
    /// Headers beyond content type, e.g. a Standard Webhooks signature.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpRequest {
    // Bodies carry signatures and credentials, query strings carry access tokens: print
    // neither.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = match self.url.split_once('?') {
            Some((path, _)) => format!("{path}?[redacted]"),
            None => self.url.clone(),
        };
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &url)
            .field("content_type", &self.content_type)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

/// What came back from upstream, as far as the transport is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why no usable HTTP answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// No complete answer within the configured timeout.
    Timeout,
    /// Connection refused, DNS failure, reset, or any other network error.
    Unreachable,
    /// The answer's body passed [`MAX_ANSWER_BYTES`]; reading stopped there.
    AnswerTooLarge,
}

impl TransportError {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportError::Timeout => "timeout",
            TransportError::Unreachable => "unreachable",
            TransportError::AnswerTooLarge => "answer_too_large",
        }
    }
}

/// The most read of any upstream answer. Baidu's answers are a few KiB; one past this is no
/// answer the relay can use, and must fill neither the isolate's memory nor a ledger row.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// What an answer's `Content-Length` says about reading it: `Ok(true)` when it declares a
/// length within [`MAX_ANSWER_BYTES`] (read it in one piece), `Ok(false)` when it declares
/// none (read it as a capped stream), `Err` when it declares more (do not read it).
pub fn answer_length_fits(content_length: Option<&str>) -> Result<bool, Overflow> {
    match content_length.map(|value| value.trim().parse::<u64>()) {
        None | Some(Err(_)) => Ok(false),
        Some(Ok(length)) if length > MAX_ANSWER_BYTES as u64 => Err(Overflow),
        Some(Ok(_)) => Ok(true),
    }
}

/// Bytes read chunk by chunk up to a limit: the chunk that passes it is refused, so a sender
/// that streams without end costs at most the limit plus one chunk.
#[derive(Debug)]
pub struct CappedBytes {
    limit: usize,
    bytes: Vec<u8>,
}

/// The limit was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl CappedBytes {
    pub fn new(limit: usize) -> Self {
        CappedBytes {
            limit,
            bytes: Vec::new(),
        }
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Overflow> {
        if self.bytes.len().saturating_add(chunk.len()) > self.limit {
            return Err(Overflow);
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

pub type UpstreamAnswer = Result<UpstreamResponse, TransportError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_bytes_take_up_to_the_limit_and_refuse_the_chunk_that_passes_it() {
        let mut bytes = CappedBytes::new(4);
        bytes.push(b"ab").unwrap();
        bytes.push(b"cd").unwrap();
        assert_eq!(bytes.push(b"e"), Err(Overflow));
        assert_eq!(bytes.into_bytes(), b"abcd");
        let mut empty = CappedBytes::new(0);
        empty.push(b"").unwrap();
        assert_eq!(empty.push(b"x"), Err(Overflow));
    }

    #[test]
    fn a_declared_length_decides_how_an_answer_is_read() {
        assert_eq!(answer_length_fits(Some("262144")), Ok(true));
        assert_eq!(answer_length_fits(Some(" 0 ")), Ok(true));
        assert_eq!(answer_length_fits(Some("262145")), Err(Overflow));
        assert_eq!(answer_length_fits(Some("99999999999999999999")), Ok(false));
        assert_eq!(answer_length_fits(Some("-1")), Ok(false));
        assert_eq!(answer_length_fits(None), Ok(false));
    }

    #[test]
    fn answers_are_capped_at_256_kib() {
        assert_eq!(MAX_ANSWER_BYTES, 262_144);
        assert_eq!(TransportError::AnswerTooLarge.as_str(), "answer_too_large");
    }
}
