//! `roost connect URL`: a stdio ↔ Streamable HTTP shim, so an MCP client that can only start
//! local processes (stdio) can use a remote roost.
//!
//! The client writes one JSON-RPC message per line on our stdin (the MCP stdio transport); each
//! is POSTed to the remote MCP URL and whatever comes back (a JSON body, or an SSE stream of
//! notifications ending in the response) is written to stdout, one message per line. The shim
//! adds what the HTTP transport needs and a stdio client cannot know about: the bearer token,
//! the `Mcp-Session-Id` the server assigned, the `MCP-Protocol-Version` header, and (for
//! 2026-07-28 requests) the mirrored `Mcp-Method`/`Mcp-Name` headers. Requests run
//! concurrently, as they would over HTTP, so a long tool call does not hold up a quick one.
//!
//! When the server answers 401, [`oauth`] signs the user in (discovery, registration, PKCE, the
//! browser, a loopback redirect) and the request is retried; tokens are stored by [`store`] and
//! refreshed as they expire. `--token` skips OAuth for scripts and CI.
//!
//! stdout carries only protocol messages; everything meant for the person goes to stderr.

mod callback;
mod oauth;
mod remote;
mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use url::Url;

use self::oauth::{Authorizer, SignInOptions};
use self::remote::{Auth, Remote};
use self::store::CredentialFile;

/// `roost connect` flags. (`Debug` by hand: it never shows the token or the client secret.)
#[derive(clap::Args)]
pub struct ConnectArgs {
    /// The remote MCP URL, e.g. `https://mcp.example.com/mcp`.
    pub url: Url,

    /// Use this bearer token as is and never sign in (for scripts and CI; get one from an
    /// OAuth client or `roost dev`). A 401 is then an error.
    #[arg(long, env = "ROOST_CONNECT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// A client id registered with the server's authorization server ahead of time. Without
    /// it the client registers itself (Client ID Metadata Document if given, else Dynamic
    /// Client Registration).
    #[arg(long, env = "ROOST_CONNECT_CLIENT_ID")]
    pub client_id: Option<String>,

    /// The secret of the pre-registered `--client-id`, for confidential clients.
    #[arg(
        long,
        env = "ROOST_CONNECT_CLIENT_SECRET",
        hide_env_values = true,
        requires = "client_id"
    )]
    pub client_secret: Option<String>,

    /// An HTTPS URL of a Client ID Metadata Document to use as the client id, when the
    /// authorization server supports them.
    #[arg(long, env = "ROOST_CONNECT_CLIENT_METADATA_URL")]
    pub client_metadata_url: Option<String>,

    /// Do not open a browser: print the sign-in URL on stderr and wait for the redirect.
    #[arg(long, env = "ROOST_CONNECT_NO_BROWSER")]
    pub no_browser: bool,

    /// How long to wait for the sign-in in the browser to finish.
    #[arg(long, env = "ROOST_CONNECT_SIGN_IN_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub sign_in_timeout: Duration,

    /// Where tokens are kept (one file per MCP URL, readable only by you). Default: the
    /// `roost` folder in your config directory (`~/.config/roost` on Linux).
    #[arg(long, env = "ROOST_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,

    /// Forget the tokens stored for this URL and exit (the next connect signs in again).
    #[arg(long)]
    pub logout: bool,
}

impl std::fmt::Debug for ConnectArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectArgs")
            .field("url", &self.url.as_str())
            .field("token", &redacted(self.token.as_ref()))
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(self.client_secret.as_ref()))
            .field("client_metadata_url", &self.client_metadata_url)
            .field("no_browser", &self.no_browser)
            .field("sign_in_timeout", &self.sign_in_timeout)
            .field("config_dir", &self.config_dir)
            .field("logout", &self.logout)
            .finish()
    }
}

/// What `Debug` shows for a secret: whether there is one, never its value.
fn redacted(secret: Option<&String>) -> Option<&'static str> {
    secret.map(|_| "<redacted>")
}

/// Runs the shim until stdin closes, then ends the remote session.
pub async fn run(args: ConnectArgs) -> anyhow::Result<()> {
    let config_dir = match &args.config_dir {
        Some(dir) => dir.clone(),
        None => dirs::config_dir().map(|d| d.join("roost")).context(
            "cannot find your config directory: pass --config-dir or set ROOST_CONFIG_DIR",
        )?,
    };
    let credentials = CredentialFile::for_url(&config_dir, &args.url);
    if args.logout {
        credentials
            .remove()
            .context("cannot remove the stored tokens")?;
        eprintln!("roost connect: forgot the sign-in for {}", args.url);
        return Ok(());
    }
    let auth = match args.token {
        Some(token) => Auth::Fixed(token),
        None => Auth::OAuth(Box::new(Authorizer::new(
            args.url.clone(),
            credentials,
            SignInOptions {
                client_id: args.client_id,
                client_secret: args.client_secret,
                client_metadata_url: args.client_metadata_url,
                open_browser: !args.no_browser,
                timeout: args.sign_in_timeout,
            },
        ))),
    };
    let remote = Arc::new(Remote::new(args.url, auth)?);
    pump(remote).await
}

/// Forwards stdin to the remote and the remote's messages to stdout until stdin closes and
/// every request in flight has been answered.
async fn pump(remote: Arc<Remote>) -> anyhow::Result<()> {
    let (out, out_rx) = mpsc::channel::<Value>(64);
    let writer = tokio::spawn(write_stdout(out_rx));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut in_flight = JoinSet::new();
    while let Some(line) = lines.next_line().await.context("reading stdin")? {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(message) => {
                let (remote, out) = (Arc::clone(&remote), out.clone());
                in_flight.spawn(async move { remote.forward(message, &out).await });
            }
            Err(e) => {
                eprintln!("roost connect: ignored a line on stdin that is not JSON: {e}");
                // JSON-RPC 2.0 §5.1: a parse error is answered with a null id.
                let _ = out
                    .send(remote::error_response(
                        Value::Null,
                        -32700,
                        &format!("parse error: {e}"),
                    ))
                    .await;
            }
        }
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    remote.close().await;
    drop(out);
    writer.await.context("stdout writer")?
}

/// Writes each message as one line of compact JSON and flushes, so the client sees it at once.
async fn write_stdout(mut messages: mpsc::Receiver<Value>) -> anyhow::Result<()> {
    let mut stdout = tokio::io::stdout();
    while let Some(message) = messages.recv().await {
        let mut line = serde_json::to_vec(&message).context("encoding a message")?;
        line.push(b'\n');
        stdout.write_all(&line).await.context("writing stdout")?;
        stdout.flush().await.context("writing stdout")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::ConnectArgs;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        connect: ConnectArgs,
    }

    #[test]
    fn debug_output_holds_no_token_or_client_secret() {
        let cli = Cli::parse_from([
            "roost",
            "https://mcp.example.com/mcp",
            "--token=tok-s3cret-bearer",
            "--client-id=my-client",
            "--client-secret=cl1ent-s3cret",
        ]);
        let debug = format!("{:?}", cli.connect);
        assert!(!debug.contains("tok-s3cret-bearer"), "{debug}");
        assert!(!debug.contains("cl1ent-s3cret"), "{debug}");
        assert!(debug.contains("my-client"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
}
