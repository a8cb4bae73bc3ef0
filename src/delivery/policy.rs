//! What to do after an attempt: deliver, retry after a delay, or give up.
//!
//! One pure function, [`decide`], so the whole retry behaviour is visible and tested in one
//! place. Transient: no answer, timeouts, 408/429/5xx, answers that are not Baidu's JSON,
//! Baidu's "internal error, retry later", and the relay's own unexpected failures.
//! Permanent: every validation error, every business rejection by Baidu, and a redirect
//! (never followed).

use crate::baidu::error::{BaiduError, BaiduRejection, Unavailable};
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first (synchronous) one included.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each attempt after it.
    pub base_delay_seconds: u32,
    /// No delay is longer than this (Queues accept at most 12 hours).
    pub max_delay_seconds: u32,
}

impl Default for RetryPolicy {
    /// 8 attempts over about 20 hours: 15 min, 30 min, 1 h, 2 h, 4 h, 6 h, 6 h (before jitter).
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay_seconds: 900,
            max_delay_seconds: 6 * 3600,
        }
    }
}

/// Queues refuse longer delivery delays.
pub const QUEUE_MAX_DELAY_SECONDS: u32 = 12 * 3600;

/// What to do after an attempt. Each decision carries what it is about, so nobody pairs a
/// bare decision with the result again.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<T> {
    /// Baidu accepted: the delivery is finished with this answer.
    Delivered(T),
    /// Baidu (or validation) refused for good: finished, never retried.
    Rejected(ApiError),
    /// A transient failure: try again after `seconds`.
    RetryAfter { seconds: u32, error: ApiError },
    /// A transient failure and no attempts left: the delivery failed.
    GiveUp(ApiError),
    /// The relay's configuration stops the attempt (an operator's mistake, say a badly
    /// pasted key during a rotation): no attempt was made and none is counted; try again
    /// after `seconds`, for as long as it takes to fix.
    Deferred { seconds: u32, error: ApiError },
}

/// How long a delivery waits for a configuration fix before it looks again.
pub const MISCONFIGURED_RETRY_SECONDS: u32 = 300;

/// True when trying again may succeed.
pub fn is_transient(error: &ApiError) -> bool {
    match error {
        ApiError::Baidu(BaiduError::Unavailable { cause, status }) => match cause {
            Unavailable::Transport(_) | Unavailable::InvalidAnswer => true,
            Unavailable::HttpStatus => {
                matches!(status, Some(408) | Some(429) | Some(500..=599) | None)
            }
            // The same URL redirects again on every attempt: only changing it helps.
            Unavailable::Redirect => false,
        },
        ApiError::Baidu(BaiduError::Rejected { rejection, .. }) => {
            *rejection == BaiduRejection::InternalError
        }
        ApiError::Internal | ApiError::EventsEndpointFailed { .. } => true,
        _ => false,
    }
}

/// Decides after attempt number `attempt` of the current round (1 for the first). `jitter`
/// in `[0, 1)` spreads retries of a burst apart: the delay is between half and all of the
/// backoff.
pub fn decide<T>(
    result: Result<T, ApiError>,
    attempt: u32,
    policy: &RetryPolicy,
    jitter: f64,
) -> Decision<T> {
    match result {
        Ok(answer) => Decision::Delivered(answer),
        Err(error @ ApiError::Misconfigured { .. }) => Decision::Deferred {
            seconds: MISCONFIGURED_RETRY_SECONDS,
            error,
        },
        // Not a refusal: Baidu may have applied it, and repeating it could do harm.
        Err(error @ ApiError::OutcomeUnknown { .. }) => Decision::GiveUp(error),
        Err(error) if !is_transient(&error) => Decision::Rejected(error),
        Err(error) if attempt >= policy.max_attempts => Decision::GiveUp(error),
        Err(error) => Decision::RetryAfter {
            seconds: backoff_seconds(policy, attempt, jitter),
            error,
        },
    }
}

/// Capped exponential backoff with jitter: `min(cap, base * 2^(attempt-1)) * (0.5 + jitter/2)`.
pub fn backoff_seconds(policy: &RetryPolicy, attempt: u32, jitter: f64) -> u32 {
    let exponent = attempt.saturating_sub(1).min(31);
    let raw = u64::from(policy.base_delay_seconds).saturating_mul(1u64 << exponent);
    let capped = raw
        .min(u64::from(policy.max_delay_seconds))
        .min(u64::from(QUEUE_MAX_DELAY_SECONDS));
    let factor = 0.5 + jitter.clamp(0.0, 1.0) / 2.0;
    (capped as f64 * factor).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::TransportError;

    fn unavailable(cause: Unavailable, status: Option<u16>) -> ApiError {
        ApiError::Baidu(BaiduError::Unavailable { cause, status })
    }

    fn baidu(rejection: BaiduRejection) -> ApiError {
        ApiError::Baidu(BaiduError::Rejected {
            rejection,
            errno: 1,
            msg: String::new(),
        })
    }

    #[test]
    fn transient_and_permanent_failures() {
        let transient = [
            unavailable(Unavailable::Transport(TransportError::Timeout), None),
            unavailable(Unavailable::Transport(TransportError::Unreachable), None),
            unavailable(Unavailable::InvalidAnswer, Some(200)),
            unavailable(Unavailable::HttpStatus, Some(500)),
            unavailable(Unavailable::HttpStatus, Some(503)),
            unavailable(Unavailable::HttpStatus, Some(429)),
            unavailable(Unavailable::HttpStatus, Some(408)),
            baidu(BaiduRejection::InternalError),
            ApiError::Internal,
        ];
        for error in &transient {
            assert!(is_transient(error), "{error:?}");
        }
        let permanent = [
            unavailable(Unavailable::HttpStatus, Some(404)),
            unavailable(Unavailable::HttpStatus, Some(400)),
            unavailable(Unavailable::Redirect, Some(302)),
            unavailable(Unavailable::Redirect, Some(307)),
            baidu(BaiduRejection::OrderNotFound),
            baidu(BaiduRejection::InsufficientBalance),
            baidu(BaiduRejection::SignatureRejected),
            baidu(BaiduRejection::BadParameter),
            baidu(BaiduRejection::Other),
            ApiError::Baidu(BaiduError::ItemsRejected {
                resource_ids: vec!["1".into()],
                baidu: serde_json::Value::Null,
            }),
            ApiError::Baidu(BaiduError::TokenRejected {
                error: "invalid_client".into(),
                description: String::new(),
            }),
            ApiError::MissingField {
                field: "orderId".into(),
            },
            ApiError::InvalidField {
                field: "orderId".into(),
                reason: String::new(),
            },
            ApiError::InvalidJson {
                detail: String::new(),
            },
        ];
        for error in &permanent {
            assert!(!is_transient(error), "{error:?}");
        }
    }

    #[test]
    fn decisions_follow_outcome_and_attempt_and_carry_their_value() {
        let policy = RetryPolicy::default();
        let timeout = || -> Result<(), ApiError> {
            Err(unavailable(
                Unavailable::Transport(TransportError::Timeout),
                None,
            ))
        };
        let not_found = || -> Result<(), ApiError> { Err(baidu(BaiduRejection::OrderNotFound)) };
        assert_eq!(
            decide(Ok::<_, ApiError>(7), 1, &policy, 0.0),
            Decision::Delivered(7)
        );
        assert_eq!(
            decide(not_found(), 1, &policy, 0.0),
            Decision::Rejected(baidu(BaiduRejection::OrderNotFound))
        );
        // Permanent rejections are never retried, whatever the attempt.
        assert!(matches!(
            decide(not_found(), 8, &policy, 0.0),
            Decision::Rejected(_)
        ));
        assert!(matches!(
            decide(timeout(), 1, &policy, 1.0),
            Decision::RetryAfter { seconds: 900, .. }
        ));
        assert!(matches!(
            decide(timeout(), 7, &policy, 1.0),
            Decision::RetryAfter { seconds: 21600, .. }
        ));
        assert!(matches!(
            decide(timeout(), 8, &policy, 1.0),
            Decision::GiveUp(ApiError::Baidu(BaiduError::Unavailable { .. }))
        ));
        assert!(matches!(
            decide(timeout(), 9, &policy, 1.0),
            Decision::GiveUp(_)
        ));
        // An unknown outcome of a call that must not be repeated fails at once, as `failed`.
        for attempt in [1, 8] {
            assert!(matches!(
                decide(
                    Err::<(), _>(ApiError::OutcomeUnknown {
                        call: "add/main/info",
                        cause: "upstream_unavailable".into(),
                    }),
                    attempt,
                    &policy,
                    0.5
                ),
                Decision::GiveUp(ApiError::OutcomeUnknown { .. })
            ));
        }
        // Misconfiguration never rejects nor uses up the budget, even on the last attempt.
        let misconfigured = || -> Result<(), ApiError> {
            Err(ApiError::Misconfigured {
                variables: vec!["BAIDU_RSA_PRIVATE_KEY"],
            })
        };
        for attempt in [1, 8, 100] {
            assert!(matches!(
                decide(misconfigured(), attempt, &policy, 0.5),
                Decision::Deferred {
                    seconds: MISCONFIGURED_RETRY_SECONDS,
                    ..
                }
            ));
        }
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let policy = RetryPolicy::default();
        let full: Vec<u32> = (1..8).map(|a| backoff_seconds(&policy, a, 1.0)).collect();
        assert_eq!(full, vec![900, 1800, 3600, 7200, 14400, 21600, 21600]);
        let total_hours = full.iter().sum::<u32>() as f64 / 3600.0;
        assert!((18.0..=24.0).contains(&total_hours), "{total_hours}");
        assert_eq!(backoff_seconds(&policy, 1, 0.0), 450);
        assert_eq!(backoff_seconds(&policy, 1, 0.5), 675);
        assert_eq!(backoff_seconds(&policy, 40, 1.0), 21600);
        let uncapped = RetryPolicy {
            max_attempts: 99,
            base_delay_seconds: 3600,
            max_delay_seconds: u32::MAX,
        };
        assert_eq!(backoff_seconds(&uncapped, 10, 1.0), QUEUE_MAX_DELAY_SECONDS);
        let instant = RetryPolicy {
            max_attempts: 3,
            base_delay_seconds: 0,
            max_delay_seconds: 0,
        };
        assert_eq!(backoff_seconds(&instant, 2, 0.7), 0);
    }
}
