//! `tollgate keys import`: the command line of a signing-key import (the
//! import itself is `tollgate_core::tokens::import`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{ArgGroup, Args};
use tollgate_core::tokens::import::{import_key, ImportError, KeyImport, KeyUse};
use tollgate_store::model::Timestamp;
use tollgate_store::Db;

use crate::app::config::{parse_duration, StoreArgs};

/// An existing RSA or EC P-256 key to sign with, or only to publish.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("use").required(true).args(["sign", "publish_until"])))]
pub struct KeyImportArgs {
    /// The key id tokens carry in their `kid` header (the original signs with `gws-auth-key`).
    #[arg(long)]
    pub kid: String,
    /// The private key: PEM (PKCS#1, SEC1 or PKCS#8, encrypted or not) or PKCS#12.
    #[arg(long)]
    pub key_file: PathBuf,
    /// Password of a PKCS#12 file or an encrypted PEM key.
    #[arg(long, env = "TOLLGATE_KEY_PASSWORD", hide_env_values = true)]
    pub key_password: Option<String>,
    /// Sign with the key from now, for one rotation interval; then the schedule takes over.
    #[arg(long)]
    pub sign: bool,
    /// Never sign with the key: only publish it in JWKS (and accept the tokens it
    /// signed) until this date (2027-03-01, midnight UTC) or time (RFC 3339).
    #[arg(long, value_parser = parse_date)]
    pub publish_until: Option<Timestamp>,
    /// As `serve`'s: how long the key signs with --sign.
    #[arg(long, env = "TOLLGATE_KEY_ROTATION_INTERVAL", default_value = "30d", value_parser = parse_duration)]
    pub key_rotation_interval: i64,
    /// As `serve`'s: how long a retired key stays published for its tokens.
    #[arg(long, env = "TOLLGATE_MAX_TOKEN_LIFETIME", default_value = "1d", value_parser = parse_duration)]
    pub max_token_lifetime: i64,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Imports the key into `db`; returns what to tell the operator.
pub async fn import(db: &Db, args: &KeyImportArgs, now: Timestamp) -> anyhow::Result<String> {
    let material = std::fs::read(&args.key_file)
        .with_context(|| format!("--key-file: cannot read {}", args.key_file.display()))?;
    let usage = match args.publish_until {
        Some(until) => KeyUse::PublishUntil(until),
        None => KeyUse::Sign {
            rotation_interval: args.key_rotation_interval,
            max_token_lifetime: args.max_token_lifetime,
        },
    };
    let request = KeyImport {
        kid: &args.kid,
        material: &material,
        password: args.key_password.as_deref(),
        usage,
    };
    let key = import_key(db, request, now).await.map_err(named)?;
    let alg = key.algorithm.as_str();
    Ok(if key.publish_only {
        format!(
            "signing key {} ({alg}) imported: published, never signing, until {}",
            key.kid,
            rfc3339(key.expires_at)
        )
    } else {
        format!(
            "signing key {} ({alg}) imported: signs from now until {}, then the rotation schedule takes over",
            key.kid,
            rfc3339(key.retires_at)
        )
    })
}

/// The error with the flag it is about.
fn named(e: ImportError) -> anyhow::Error {
    match e.setting() {
        Some(setting) => anyhow::anyhow!("--{setting}: {e}"),
        None => anyhow::Error::new(e).context("importing the signing key"),
    }
}

/// `2027-03-01` (midnight UTC) or an RFC 3339 time, as Unix seconds.
pub fn parse_date(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if let Ok(date) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|_| format!("'{s}' is not a date (2027-03-01) or an RFC 3339 time"))
}

fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| t.to_string())
}
