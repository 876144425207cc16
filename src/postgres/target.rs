//! The database to deliver to: a standard `postgresql://` URL read into a
//! connection configuration and a TLS mode, as libpq reads it.
//!
//! `sslmode` takes libpq's values: `disable`, `allow`/`prefer` (TLS when
//! the server offers it, unverified), `require` (TLS, unverified unless
//! `sslrootcert` is given, then as `verify-ca`), `verify-ca` (the
//! certificate chains to the CA) and `verify-full` (and names the host).
//! `sslrootcert` is a PEM file of CA certificates; without it the verifying
//! modes trust the public web roots.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use postgres::config::{Host, SslMode};

/// How far the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it; the certificate is not checked.
    Prefer,
    /// TLS required; the certificate is not checked.
    Require,
    /// TLS required; the certificate must chain to a trusted CA.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host.
    VerifyFull,
}

/// A parsed delivery target.
#[derive(Clone)]
pub struct Target {
    /// Connection settings for the `postgres` crate (TLS mode already set).
    pub config: postgres::Config,
    /// How the certificate is checked.
    pub tls: TlsMode,
    /// CA certificates (`sslrootcert`), if given.
    pub ca_file: Option<PathBuf>,
    /// `user@host:port/dbname`, never the password (for logs and `/health`).
    pub label: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("label", &self.label)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// How long connecting may take before the attempt counts as failed.
/// Why a PostgreSQL URL cannot be used; [`crate::messages::postgres`]
/// says it in Spanish. No variant holds the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// Not `postgresql://` nor `postgres://`.
    Scheme,
    /// More than one `@` before the host (an unescaped `@` in the password).
    TwoAts,
    /// An `sslmode` libpq does not know (cut to 40 characters).
    SslMode(String),
    /// The driver refused the URL: its words, secrets hidden.
    Driver(String),
    /// No host.
    NoHost,
    /// No user.
    NoUser,
    /// A TLS mode in a build without TLS.
    NoTls,
}

impl std::fmt::Display for TargetError {
    /// The catalogue's Spanish sentence.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::messages::postgres::target_error(self))
    }
}

impl std::error::Error for TargetError {}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Target {
    /// Reads `url` (`postgresql://user:pass@host:port/db?sslmode=…`). The
    /// error never contains the password.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let url = url.trim();
        if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
            return Err(TargetError::Scheme);
        }
        let authority = url
            .split_once("://")
            .map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or(""));
        if authority.matches('@').count() > 1 {
            return Err(TargetError::TwoAts);
        }
        let (base, tls, ca_file) = split_tls_options(url)?;
        let mut config = postgres::Config::from_str(&base)
            .map_err(|e| TargetError::Driver(hide_secrets(&e.to_string())))?;
        if config.get_hosts().is_empty() {
            return Err(TargetError::NoHost);
        }
        if config.get_user().is_none_or(str::is_empty) {
            return Err(TargetError::NoUser);
        }
        if !crate::url::TLS && tls != TlsMode::Disable {
            return Err(TargetError::NoTls);
        }
        config.ssl_mode(match tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        // Data unacknowledged this long means the link is dead (Linux; a
        // batch in flight otherwise waits out the system's ~15 min).
        config.tcp_user_timeout(Duration::from_secs(60));
        if config.get_application_name().is_none() {
            config.application_name("zkserver");
        }
        let label = label(&config);
        Ok(Target {
            config,
            tls,
            ca_file,
            label,
        })
    }

    /// The database name (for messages).
    pub fn dbname(&self) -> String {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or_default()
            .to_string()
    }

    /// The user name (for messages).
    pub fn user(&self) -> String {
        self.config.get_user().unwrap_or_default().to_string()
    }
}

/// Takes `sslmode` and `sslrootcert` out of the URL's query (the `postgres`
/// crate knows neither `verify-*` nor `sslrootcert`); the rest of the URL
/// is returned as it was written.
fn split_tls_options(url: &str) -> Result<(String, TlsMode, Option<PathBuf>), TargetError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = None;
    let mut ca_file = None;
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // libpq decodes `%XX` only: a `+` stays a `+` (not a space).
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        match percent_encoding::percent_decode_str(key)
            .decode_utf8_lossy()
            .as_ref()
        {
            "sslmode" => {
                mode = Some(match value.as_ref() {
                    "disable" => TlsMode::Disable,
                    "allow" | "prefer" => TlsMode::Prefer,
                    "require" => TlsMode::Require,
                    "verify-ca" => TlsMode::VerifyCa,
                    "verify-full" => TlsMode::VerifyFull,
                    other => return Err(TargetError::SslMode(crate::text::cut(other, 40))),
                });
            }
            "sslrootcert" => ca_file = Some(PathBuf::from(value.as_ref())),
            // Kept exactly as written (the `postgres` crate decodes it).
            _ => kept.push(pair),
        }
    }
    // libpq: `require` with a CA file given checks the chain.
    let mode = match (mode.unwrap_or(TlsMode::Prefer), &ca_file) {
        (TlsMode::Require, Some(_)) => TlsMode::VerifyCa,
        (m, _) => m,
    };
    let base = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((base, mode, ca_file))
}

/// `user@host:port/dbname` of `config`.
fn label(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) if h.contains(':') => format!("[{h}]"),
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or_default(),
        config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or_default()
    )
}

/// Blanks anything after `password=` in a parser's message.
fn hide_secrets(message: &str) -> String {
    match message.find("password") {
        Some(i) => format!("{}…", &message[..i]),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libpq_urls() {
        let t = Target::parse("postgresql://zk:s3cr%40t@db.example:6432/asistencia?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x").unwrap();
        assert_eq!(t.tls, TlsMode::VerifyFull);
        assert_eq!(t.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(t.label, "zk@db.example:6432/asistencia");
        assert_eq!(t.config.get_password(), Some(&b"s3cr@t"[..]));
        assert_eq!(t.config.get_application_name(), Some("x"));
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);

        let t = Target::parse("postgres://zk@127.0.0.1/zk").unwrap();
        assert_eq!(t.tls, TlsMode::Prefer);
        assert_eq!(t.label, "zk@127.0.0.1:5432/zk");
        assert_eq!(t.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));

        let t = Target::parse("postgresql://zk@h/db?sslmode=require&sslrootcert=ca.pem").unwrap();
        assert_eq!(t.tls, TlsMode::VerifyCa, "require + CA checks the chain");
        let t = Target::parse("postgresql://zk@h/db?sslmode=disable").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn refuses_bad_urls_without_showing_the_password() {
        for bad in [
            "mysql://zk:pw@h/db",
            "postgresql://zk:pw@h/db?sslmode=sometimes",
            "postgresql://:pw@h/db",
            "postgresql://zk:topsecret@h:99999/db",
            "postgresql://zk:pw@d@h/db",
            "",
        ] {
            let err = Target::parse(bad).unwrap_err().to_string();
            assert!(!err.contains("topsecret") && !err.contains("pw@"), "{err}");
        }
    }

    #[test]
    fn other_parameters_reach_the_driver_as_written() {
        // libpq decodes `%20` as a space and leaves `+` alone.
        let t = Target::parse(
            "postgresql://zk@h/db?application_name=Sede%20Norte&options=-c%20search_path%3Dzk&sslmode=disable&password=a%20b+c",
        )
        .unwrap();
        assert_eq!(t.config.get_application_name(), Some("Sede Norte"));
        assert_eq!(t.config.get_options(), Some("-c search_path=zk"));
        assert_eq!(t.config.get_password(), Some(&b"a b+c"[..]));
        let t =
            Target::parse("postgresql://zk@h/db?sslmode=verify-ca&sslrootcert=/etc/a+b%20c.pem")
                .unwrap();
        assert_eq!(t.ca_file, Some(PathBuf::from("/etc/a+b c.pem")));
    }

    proptest::proptest! {
        #[test]
        fn odd_urls_never_panic_nor_show_the_password(
            user in "[a-z]{1,8}",
            password in "Zq[a-zA-Z0-9]{10}",
            rest in "[a-z0-9:/?&=%+,\\[\\]._ -]{0,60}|\\PC{0,40}",
        ) {
            let url = format!("postgresql://{user}:{password}@{rest}");
            match Target::parse(&url) {
                Ok(t) => {
                    proptest::prop_assert!(!t.label.contains(&password), "{}", t.label);
                    let debug = format!("{t:?}");
                    proptest::prop_assert!(!debug.contains(&password), "{}", debug);
                }
                Err(e) => proptest::prop_assert!(!e.to_string().contains(&password), "{}", e),
            }
        }
    }

    #[test]
    fn odd_hosts_are_read() {
        let t = Target::parse("postgresql://zk@[::1]:6432/db").unwrap();
        assert_eq!(t.label, "zk@[::1]:6432/db");
        #[cfg(unix)]
        {
            let t = Target::parse("postgresql://zk@%2Fvar%2Frun%2Fpostgresql/db").unwrap();
            assert_eq!(t.label, "zk@/var/run/postgresql:5432/db");
        }
        let t = Target::parse("postgresql://zk@a:1,b:2/db").unwrap();
        assert_eq!(t.label, "zk@a:1/db");
        assert_eq!(t.config.get_hosts().len(), 2);
        let long = "x".repeat(100_000);
        assert!(Target::parse(&format!("postgresql://zk@{long}/{long}")).is_ok());
    }

    #[test]
    fn label_never_holds_the_password() {
        let t = Target::parse("postgresql://zk:hunter2@h/db").unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
        assert!(!t.label.contains("hunter2"));
    }
}
