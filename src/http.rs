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

/// Why no HTTP answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// No complete answer within the configured timeout.
    Timeout,
    /// Connection refused, DNS failure, reset, or any other network error.
    Unreachable,
}

impl TransportError {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportError::Timeout => "timeout",
            TransportError::Unreachable => "unreachable",
        }
    }
}

pub type UpstreamAnswer = Result<UpstreamResponse, TransportError>;
