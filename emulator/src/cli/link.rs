//! `mtls-sandbox link CUSTOMER_ID --bank BANK`: plays the end user who links
//! a bank in the provider's web SDK, through the running sandbox's
//! `POST /admin/customers/{id}/link`.

use clap::Args;

use super::admin::AdminClient;
use super::output::out;
use super::{Failure, GlobalArgs};

#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The customer_id returned by POST /customers/v1.
    pub customer_id: String,
    /// A bank identifier from GET /banks/v1, e.g. LEANMB1.
    #[arg(long, value_name = "BANK")]
    pub bank: String,
}

pub async fn link(global: &GlobalArgs, args: LinkArgs) -> Result<(), Failure> {
    let admin = AdminClient::connect(global)?;
    let id = percent_encoding::utf8_percent_encode(&args.customer_id, percent_encoding::NON_ALPHANUMERIC);
    let url = admin.url(&format!("/admin/customers/{id}/link"));
    let body = serde_json::json!({ "bank_identifier": args.bank });
    let reply = admin.send(admin.http.post(&url).json(&body)).await?;
    out!("{}", serde_json::to_string_pretty(&reply).unwrap_or_default());
    Ok(())
}
