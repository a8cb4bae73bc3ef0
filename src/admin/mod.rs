//! The operator's console page (`GET /admin`): static HTML, CSS and one script, compiled into
//! the Worker so the page and the API it calls always ship together. The page holds no secret:
//! it asks for the admin token and keeps it in `sessionStorage` (gone with the tab), and sends
//! it only as `Authorization` to this origin.

/// One static file of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static str,
}

const ASSETS: [(&str, Asset); 3] = [
    (
        "/admin",
        Asset {
            content_type: "text/html; charset=utf-8",
            body: include_str!("index.html"),
        },
    ),
    (
        "/admin/console.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_str!("console.js"),
        },
    ),
    (
        "/admin/console.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            body: include_str!("console.css"),
        },
    ),
];

/// The file served at `path`, if any.
pub fn asset(path: &str) -> Option<Asset> {
    ASSETS
        .iter()
        .find(|(served_at, _)| *served_at == path)
        .map(|(_, asset)| *asset)
}

/// Only this origin's own script and style sheet run, and only this origin is called: an
/// injected `<script>` or inline handler does nothing, so a stored webhook body shown on the
/// page cannot steal the token. No framing (clickjacking the retry buttons), no referrer.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The headers every console file is sent with, besides its content type.
pub const HEADERS: [(&str, &str); 6] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("cross-origin-opener-policy", "same-origin"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_runs_no_inline_script_or_style_and_loads_nothing_from_elsewhere() {
        let html = asset("/admin").unwrap().body;
        let lower = html.to_ascii_lowercase();
        assert!(lower.contains(r#"<script src="/admin/console.js" defer></script>"#));
        assert_eq!(lower.matches("<script").count(), 1, "one script, by URL");
        assert!(!lower.contains("<style"), "no inline style sheet");
        assert!(!lower.contains(" style="), "no inline style attribute");
        assert!(!lower.contains("javascript:"));
        for handler in [
            " onclick=",
            " onload=",
            " onsubmit=",
            " onerror=",
            " onchange=",
        ] {
            assert!(!lower.contains(handler), "{handler}");
        }
        for text in [
            html,
            asset("/admin/console.js").unwrap().body,
            asset("/admin/console.css").unwrap().body,
        ] {
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "no other origin"
            );
        }
        let script = asset("/admin/console.js").unwrap().body;
        assert!(
            !script.contains("innerHTML"),
            "text goes in as text, never as markup"
        );
        assert!(!script.contains("localStorage") && !script.contains("document.cookie"));
        assert!(script.contains("sessionStorage"));
    }

    #[test]
    fn the_policy_forbids_inline_code_framing_and_other_origins() {
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert!(CONTENT_SECURITY_POLICY.contains("default-src 'none'"));
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
        assert!(HEADERS.contains(&("x-frame-options", "DENY")));
        assert_eq!(asset("/admin/").map(|a| a.body), None);
        assert!(asset("/admin/console.css")
            .unwrap()
            .content_type
            .starts_with("text/css"));
    }
}
