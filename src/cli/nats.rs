//! The NATS connection's arguments, shared by `publish`, `score --nats` and `serve --nats`.

use std::path::PathBuf;

use beth_detect::fleet::NatsOptions;
use beth_detect::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// A NATS credentials file (a user JWT and its nkey seed, as `nsc` writes them).
    #[arg(long, value_name = "FILE")]
    nats_creds: Option<PathBuf>,
    /// A CA certificate (PEM) to trust for TLS (system roots otherwise); implies TLS.
    #[arg(long, value_name = "FILE")]
    nats_ca: Option<PathBuf>,
}

impl ConnectArgs {
    pub fn options(&self, url: &str, name: &str) -> NatsOptions {
        NatsOptions {
            url: url.to_string(),
            creds: self.nats_creds.clone(),
            ca: self.nats_ca.clone(),
            name: name.to_string(),
        }
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "<tokio runtime>".into(),
            source,
        })
}
