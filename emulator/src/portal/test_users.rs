//! The portal's "Test users" section: link a customer to a bank, as an end
//! user does in the provider's web SDK (which cannot run offline). The work
//! is the provider's ([`crate::provider::link`], as the admin API and
//! `mtls-sandbox link` do it); this is the form and its answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Redirect;
use maud::{Markup, html};

use super::{Portal, PortalError, session};
use crate::provider::link::{bank_identifiers, link_and_announce};

/// "Link": the customer gets an entity at the bank, with accounts,
/// balances, a transaction history and a payment source.
pub async fn link(
    _: session::Session,
    State(portal): State<Arc<Portal>>,
    form: Result<Form<BTreeMap<String, String>>, FormRejection>,
) -> Result<Redirect, PortalError> {
    let Form(form) = form.map_err(|e| PortalError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or("");
    let (customer_id, bank) = (field("customer_id"), field("bank_identifier"));
    if customer_id.is_empty() {
        return Err(PortalError::new(
            StatusCode::BAD_REQUEST,
            "customer_id: give the customer_id that POST /customers/v1 answered",
        ));
    }
    link_and_announce(&portal.provider, customer_id, bank).map_err(|failure| {
        let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_REQUEST);
        PortalError::new(status, failure.message)
    })?;
    Ok(Redirect::to(&format!(
        "{}/?notice=customer-linked#test-users",
        session::base(&portal)
    )))
}

/// The application page's "Test users" section.
pub fn section(portal: &Portal, base: &str) -> Markup {
    let banks = bank_identifiers(&portal.provider.api.banks);
    html! {
        section id="test-users" {
            h2 { "Test users" }
            p.muted {
                "In the real flow an end user links a bank in the provider's web SDK. Play that part here: the customer gets an entity with accounts, balances, transactions and a payment source (also "
                code { "mtls-sandbox link" } " and " code { "POST /admin/customers/{id}/link" } ")."
            }
            form id="link-form" method="post" action={ (base) "/test-users/link" } {
                label { "customer_id " input type="text" name="customer_id" id="link-customer"; }
                " "
                label { "bank "
                    select name="bank_identifier" id="link-bank" {
                        @for bank in &banks { option value=(bank) { (bank) } }
                    }
                }
                " "
                button type="submit" { "Link" }
            }
        }
    }
}
