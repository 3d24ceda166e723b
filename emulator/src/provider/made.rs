//! What one call to the engine made, in order, and the webhook event each
//! thing sends: the engine writes it while it serves, `events` reads it
//! once the call is over (to send the events and follow the lifecycles).
//! Only what sends an event or has a lifecycle that does is listed.

use std::cell::RefCell;

use serde_json::Value;

use super::store::Object;

/// An object a call made (none for an action's event), and the event it
/// sends with its payload: the object as the call or a read shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    pub object: Option<Object>,
    pub event: Option<(String, Value)>,
}

/// The list one call fills.
#[derive(Debug, Default)]
pub struct MadeLog(RefCell<Vec<Made>>);

impl MadeLog {
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&self, made: Made) {
        self.0.borrow_mut().push(made);
    }

    /// Gives the thing made at `at` (the object `id`, when listed there) the
    /// event `event`; else lists the event alone at `at`, before what was
    /// made after it.
    pub fn announce(&self, at: usize, id: Option<&str>, event: &str, payload: &Value) {
        let mut made = self.0.borrow_mut();
        let event = Some((event.to_owned(), payload.clone()));
        match made.get_mut(at) {
            Some(m) if id.is_some() && m.object.as_ref().map(|o| o.id.as_str()) == id => m.event = event,
            _ => {
                let at = at.min(made.len());
                made.insert(at, Made { object: None, event });
            }
        }
    }

    /// Everything listed, emptying the list.
    pub fn take(&self) -> Vec<Made> {
        self.0.take()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(id: &str) -> Object {
        Object {
            collection: "things".into(),
            id: id.into(),
            parent_id: None,
            customer_id: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            body: json!({}),
            fails: false,
        }
    }

    #[test]
    fn an_event_goes_to_its_object_or_before_what_came_after() {
        let log = MadeLog::default();
        log.push(Made {
            object: Some(object("child")),
            event: Some(("payment.created".into(), json!(1))),
        });
        // The created object itself was not listed (no lifecycle): its
        // event goes before its child's.
        log.announce(0, Some("parent"), "entity.created", &json!(0));
        log.push(Made {
            object: Some(object("tracked")),
            event: None,
        });
        log.announce(2, Some("tracked"), "payment.updated", &json!(2));
        log.announce(log.len(), None, "results.ready", &json!(3));
        let made = log.take();
        let events: Vec<(&str, Option<&str>)> = made
            .iter()
            .map(|m| {
                (
                    m.event.as_ref().unwrap().0.as_str(),
                    m.object.as_ref().map(|o| o.id.as_str()),
                )
            })
            .collect();
        assert_eq!(
            events,
            [
                ("entity.created", None),
                ("payment.created", Some("child")),
                ("payment.updated", Some("tracked")),
                ("results.ready", None)
            ]
        );
        assert!(log.is_empty());
    }
}
