//! The provider's webhook envelope: what a receiver gets in the body of
//! every `POST`, whatever the event.
//!
//! ```json
//! {"type": "payment.created", "message": "A payment was created",
//!  "payload": {...}, "event_id": "<uuid>", "timestamp": "<RFC 3339>"}
//! ```
//!
//! Built once at emit time (its id and timestamp do not change between
//! retries, so a receiver can deduplicate by `event_id`) and serialised
//! once: every attempt sends the same bytes.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

/// The event the sandbox sends for `POST /admin/webhooks/test`, the
/// portal's "Send test event" and `mtls-sandbox webhooks test`.
pub const TEST_EVENT: &str = "webhook.test";

/// The provider's event names, for the areas that emit them (one spelling,
/// in one place; the README lists when each is sent).
pub mod events {
    pub const ENTITY_CREATED: &str = "entity.created";
    pub const ENTITY_DATA_REFRESH_UPDATED: &str = "entity.data.refresh.updated";
    pub const PAYMENT_CREATED: &str = "payment.created";
    pub const PAYMENT_UPDATED: &str = "payment.updated";
    pub const PAYMENT_SOURCE_CREATED: &str = "payment_source.created";
    pub const PAYMENT_SOURCE_BENEFICIARY_CREATED: &str = "payment_source.beneficiary.created";
    pub const PAYMENT_SOURCE_BENEFICIARY_UPDATED: &str = "payment_source.beneficiary.updated";
    pub const RESULTS_READY: &str = "results.ready";
    pub use super::TEST_EVENT;

    /// Every event a provider profile may name (a typo is refused at load).
    pub const ALL: &[&str] = &[
        ENTITY_CREATED,
        ENTITY_DATA_REFRESH_UPDATED,
        PAYMENT_CREATED,
        PAYMENT_UPDATED,
        PAYMENT_SOURCE_CREATED,
        PAYMENT_SOURCE_BENEFICIARY_CREATED,
        PAYMENT_SOURCE_BENEFICIARY_UPDATED,
        RESULTS_READY,
    ];
}

/// One event, as sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub event_type: String,
    pub message: String,
    pub payload: Value,
    pub event_id: String,
    /// RFC 3339, from the sandbox clock (which may be shifted or frozen).
    pub timestamp: String,
}

impl Envelope {
    /// An event of `event_type` with id `event_id`, stamped `now`.
    pub fn new(event_type: &str, message: &str, payload: Value, event_id: String, now: OffsetDateTime) -> Self {
        Self {
            event_type: event_type.to_owned(),
            message: message.to_owned(),
            payload,
            event_id,
            timestamp: crate::records::rfc3339(now),
        }
    }

    /// The request body: the envelope as JSON bytes.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope of JSON values serialises")
    }
}

/// Whether `name` reads as an event type: dot-separated lowercase words
/// (`entity.data.refresh.updated`), at most 100 characters.
pub fn is_event_type(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn the_body_has_exactly_the_provider_fields() {
        let envelope = Envelope::new(
            "payment.created",
            "A payment was created",
            json!({"id": "p-1", "amount": 10.5}),
            "7f0c0d7e-2b0a-4c55-9d8e-1f2a3b4c5d6e".into(),
            datetime!(2030-01-02 03:04:05 UTC),
        );
        let body: Value = serde_json::from_slice(&envelope.body()).unwrap();
        assert_eq!(
            body,
            json!({
                "type": "payment.created",
                "message": "A payment was created",
                "payload": {"id": "p-1", "amount": 10.5},
                "event_id": "7f0c0d7e-2b0a-4c55-9d8e-1f2a3b4c5d6e",
                "timestamp": "2030-01-02T03:04:05Z",
            })
        );
        assert_eq!(envelope.body(), envelope.body(), "every attempt sends the same bytes");
    }

    #[test]
    fn event_types_are_dotted_lowercase_words() {
        for ok in [
            "entity.created",
            "entity.data.refresh.updated",
            "payment_source.created",
            TEST_EVENT,
        ] {
            assert!(is_event_type(ok), "{ok}");
        }
        for bad in [
            "",
            "Entity.created",
            "entity..created",
            ".x",
            "x.",
            "a b",
            &"a".repeat(101),
        ] {
            assert!(!is_event_type(bad), "{bad}");
        }
    }
}
