//! `mtls-sandbox clock`: the running sandbox's "now" from the shell
//! (`/admin/clock`). The sandbox publishes every change in `clock.json`, so
//! `token` and `faults` mint by the same clock the server checks with.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::admin::AdminClient;
use super::output::out;
use super::{Failure, GlobalArgs};

#[derive(Debug, Args)]
pub struct ClockArgs {
    #[command(subcommand)]
    command: ClockCommand,
    /// One application's own time instead of the sandbox clock: it runs
    /// ahead or behind by an offset of its own (its tokens and provider
    /// objects age by it); `reset` puts it back on the sandbox clock.
    #[arg(long, global = true, value_name = "NAME")]
    app: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClockCommand {
    /// Print the sandbox's current time and how it differs from real time.
    #[command(after_help = "Example:\n  mtls-sandbox clock show --json")]
    Show {
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Move the clock forward (or back, with a leading '-'): tokens and certificates age.
    #[command(after_help = "Examples:\n  mtls-sandbox clock advance 2h\n  mtls-sandbox clock advance -- -30m")]
    Advance {
        /// A span like 90s, 30m, 2h or 7d; '-30m' goes back.
        #[arg(value_name = "SPAN", allow_hyphen_values = true)]
        span: String,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Jump to an instant (a frozen clock stays frozen, a running one runs on from there).
    #[command(after_help = "Example:\n  mtls-sandbox clock set 2030-01-01T00:00:00Z")]
    Set {
        /// An RFC 3339 time, e.g. 2030-01-01T00:00:00Z.
        #[arg(value_name = "TIME")]
        at: String,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Back to the machine's real time.
    #[command(after_help = "Example:\n  mtls-sandbox clock reset")]
    Reset {
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

pub async fn clock(global: &GlobalArgs, args: ClockArgs) -> Result<(), Failure> {
    let admin = AdminClient::connect(global)?;
    let url = admin.url("/admin/clock");
    let app = args.app;
    let (mut body, json) = match args.command {
        ClockCommand::Show { json } => {
            let mut show = admin.http.get(&url);
            if let Some(app) = &app {
                show = show.query(&[("app", app)]);
            }
            return print(admin.send(show).await?, json);
        }
        ClockCommand::Advance { span, json } => (json!({ "advance": span }), json),
        ClockCommand::Set { at, json } => (json!({ "set": at }), json),
        ClockCommand::Reset { json } => (json!({ "reset": true }), json),
    };
    if let Some(app) = app {
        body["app"] = json!(app);
    }
    print(admin.send(admin.http.post(&url).json(&body)).await?, json)
}

fn print(reply: Value, json: bool) -> Result<(), Failure> {
    if json {
        out!("{}", serde_json::to_string_pretty(&reply).unwrap_or_default());
    } else {
        let data = &reply["data"];
        let whose = match data["app"]["name"].as_str() {
            Some(app) => format!("Time of application {app}"),
            None => "Sandbox clock".to_owned(),
        };
        out!(
            "{whose}: {} ({})",
            data["now"].as_str().unwrap_or("?"),
            data["description"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}
