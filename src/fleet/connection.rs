//! Connecting to NATS the ways deployments do: user and password or a token in the URL, a
//! credentials file (JWT + nkey), TLS with the system's roots or a given CA — with every
//! secret kept out of errors and logs.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, ServerAddr};

use crate::error::{Error, Result};

/// How to reach the NATS server.
#[derive(Clone, Default)]
pub struct NatsOptions {
    /// `nats://[user:password@|token@]host:port` or `tls://…`; several servers may be given
    /// separated by commas.
    pub url: String,
    /// A credentials file (`nsc`'s `.creds`: a user JWT and its nkey seed).
    pub creds: Option<PathBuf>,
    /// A CA certificate (PEM) to trust for TLS, beside or instead of the system's roots.
    pub ca: Option<PathBuf>,
    /// The name the connection shows in the server's monitoring.
    pub name: String,
}

// The URL may hold a password: Debug shows only where it points.
impl std::fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &self.server())
            .field("creds", &self.creds)
            .field("ca", &self.ca)
            .field("name", &self.name)
            .finish()
    }
}

/// How long a first connection may take before it is an error: an unreachable server is
/// reported within seconds, not retried for ever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl NatsOptions {
    /// The options for `url`, with no credentials file or CA.
    pub fn new(url: impl Into<String>) -> Self {
        NatsOptions {
            url: url.into(),
            creds: None,
            ca: None,
            name: "beth-detect".into(),
        }
    }

    /// The server address(es) without user, password or token: what errors and logs show.
    pub fn server(&self) -> String {
        self.url
            .split(',')
            .map(|one| match parse(one) {
                Ok((address, _)) => address.into_inner().to_string(),
                Err(_) => "<unparsable NATS URL>".to_string(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// An error about `operation`, with any secret of the URL scrubbed from `message`.
    pub(crate) fn error(&self, operation: impl Into<String>, message: impl ToString) -> Error {
        let mut message = message.to_string();
        for secret in self.secrets() {
            message = message.replace(&secret, "***");
        }
        Error::Nats {
            server: self.server(),
            operation: operation.into(),
            message,
        }
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        for one in self.url.split(',') {
            if let Ok((_, Some(auth))) = parse(one) {
                match auth {
                    UrlAuth::Token(token) => secrets.push(token),
                    UrlAuth::UserPassword(_, password) => secrets.push(password),
                }
            }
        }
        secrets.retain(|s| !s.is_empty());
        secrets
    }

    /// Connects, or fails within a few seconds with a clear error. Once connected the client
    /// reconnects by itself, with backoff, for as long as it lives; what was not acknowledged
    /// meanwhile is redelivered by JetStream.
    pub async fn connect(&self) -> Result<Client> {
        let mut addresses = Vec::new();
        let mut auth = None;
        for one in self.url.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (address, found) =
                parse(one).map_err(|message| self.error("parse the server URL", message))?;
            addresses.push(address);
            auth = auth.or(found);
        }
        if addresses.is_empty() {
            return Err(Error::InvalidConfig {
                name: "NATS URL",
                expected: "nats://host:port or tls://host:port",
                found: "nothing".into(),
            });
        }
        let mut options = ConnectOptions::new()
            .name(&self.name)
            .connection_timeout(CONNECT_TIMEOUT)
            // Unacknowledged publishes and acks are bounded by these waits, so a lost
            // connection shows as errors the scorer retries, not as a hang.
            .request_timeout(Some(Duration::from_secs(10)));
        if let Some(path) = &self.creds {
            options = options
                .credentials_file(path)
                .await
                .map_err(|e| Error::io(path, e))?;
        }
        match auth {
            Some(UrlAuth::UserPassword(user, password)) => {
                options = options.user_and_password(user, password);
            }
            Some(UrlAuth::Token(token)) => options = options.token(token),
            None => {}
        }
        if let Some(ca) = &self.ca {
            if !ca.is_file() {
                return Err(Error::io(
                    ca,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such CA file"),
                ));
            }
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if addresses.iter().any(ServerAddr::tls_required) {
            options = options.require_tls(true);
        }
        let connecting = options.connect(addresses);
        match tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(1), connecting).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(self.error("connect", e)),
            Err(_) => Err(self.error("connect", "no answer within 4 s")),
        }
    }
}

enum UrlAuth {
    Token(String),
    UserPassword(String, String),
}

/// One server URL without its credentials, and the credentials.
fn parse(url: &str) -> std::result::Result<(ServerAddr, Option<UrlAuth>), String> {
    let address: ServerAddr = url
        .trim()
        .parse()
        .map_err(|_| "expected nats://host:port or tls://host:port".to_string())?;
    let auth = match (address.username(), address.password()) {
        (Some(user), Some(password)) => Some(UrlAuth::UserPassword(decode(user), decode(password))),
        (Some(token), None) => Some(UrlAuth::Token(decode(token))),
        _ => None,
    };
    let mut bare = address.into_inner();
    // Setting an empty user and password on a URL with a host cannot fail.
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    let address = bare
        .as_str()
        .parse()
        .map_err(|_| "expected nats://host:port or tls://host:port".to_string())?;
    Ok((address, auth))
}

/// URL percent-decoding of a user, password or token (`%40` for `@` and so on).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(value) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out_of_the_url() {
        let options = NatsOptions::new("nats://alice:s%40cret@127.0.0.1:4222");
        assert_eq!(options.server(), "nats://127.0.0.1:4222");
        let Ok((_, Some(UrlAuth::UserPassword(user, password)))) = parse(&options.url) else {
            panic!("user and password expected");
        };
        assert_eq!((user.as_str(), password.as_str()), ("alice", "s@cret"));
        let e = options
            .error("connect", "refused for alice:s@cret")
            .to_string();
        assert!(!e.contains("s@cret"), "{e}");
        assert!(!format!("{options:?}").contains("cret"));
    }

    #[test]
    fn a_lone_user_is_a_token() {
        let Ok((address, Some(UrlAuth::Token(token)))) = parse("tls://t0ken@nats.example:4443")
        else {
            panic!("token expected");
        };
        assert_eq!(token, "t0ken");
        assert_eq!(address.into_inner().as_str(), "tls://nats.example:4443");
    }
}
