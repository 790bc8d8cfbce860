//! TLS transport for the acquirer link (rustls, ring provider).
//!
//! Acquirers terminate the ISO 8583 link behind TLS: the till trusts only the
//! acquirer's own CA (not the system store, which would accept any public
//! certificate for the host name) and may present a client certificate when
//! the acquirer requires mutual TLS. [`TlsConnector`] plugs into
//! [`AcquirerClient::with_connector`](super::client::AcquirerClient::with_connector)
//! and keeps the same connect and read timeouts as [`PlainTcp`](super::PlainTcp):
//! the TCP connect and the whole handshake are bounded by the connect
//! timeout, and every later read by the timeout the framing sets on the
//! socket.
//!
//! Failures are [`TlsError`]s. Configuration errors are returned directly;
//! handshake errors travel inside the `io::Error` that [`Connector`] returns
//! (so the session sees a `LinkError::Connect`, "not sent") and can be told
//! apart with [`tls_error`].

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, RootCertStore, ServerConfig,
    ServerConnection, StreamOwned,
};

use super::client::{Connector, LinkStream};
use crate::iso8583::framing::TimedRead;

/// Why a TLS link could not be configured or established.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read at all.
    #[error("cannot read {path}: {source}")]
    ReadFile { path: PathBuf, source: io::Error },
    /// A PEM file is not valid PEM (corrupt base64, unterminated section).
    #[error("{path} is not valid PEM: {reason}")]
    BadPem { path: PathBuf, reason: String },
    /// A PEM file that should hold certificates holds none.
    #[error("{path} contains no certificate")]
    NoCertificate { path: PathBuf },
    /// A PEM file that should hold a private key holds none.
    #[error("{path} contains no private key")]
    NoPrivateKey { path: PathBuf },
    /// The configured server name is not a valid DNS name or IP address.
    #[error("invalid acquirer server name {0:?}")]
    InvalidServerName(String),
    /// rustls refused the configuration (unusable CA certificate, client key
    /// that does not match its certificate, unsupported key type).
    #[error("TLS configuration rejected: {0}")]
    Config(rustls::Error),
    /// The acquirer's certificate does not chain to the configured CA (or is
    /// expired, revoked, malformed).
    #[error("the acquirer's certificate does not verify against the configured CA: {0}")]
    UntrustedCertificate(CertificateError),
    /// The acquirer's certificate is valid but issued for another name.
    #[error("the acquirer's certificate is not valid for server name {expected:?}")]
    ServerNameMismatch { expected: String },
    /// Any other handshake failure (alert from the host, e.g. because it
    /// refused our client certificate; protocol violation; a peer that does
    /// not speak TLS).
    #[error("TLS handshake with the acquirer failed: {0}")]
    Handshake(rustls::Error),
    /// The handshake did not finish within the connect timeout.
    #[error("TLS handshake with the acquirer timed out after {0:?}")]
    HandshakeTimeout(Duration),
    /// The host closed the connection during the handshake.
    #[error("the acquirer closed the connection during the TLS handshake")]
    HandshakeClosed,
}

/// The [`TlsError`] carried by an `io::Error` from [`TlsConnector::connect`]
/// (e.g. inside `LinkError::Connect`), so callers can show a precise reason
/// such as an untrusted certificate instead of a generic I/O failure.
pub fn tls_error(e: &io::Error) -> Option<&TlsError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
}

fn into_io(kind: io::ErrorKind, e: TlsError) -> io::Error {
    io::Error::new(kind, e)
}

/// The one crypto provider the crate links (ring); passed explicitly so no
/// process-wide default has to be installed and nothing can panic on it.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn open_pem(path: &Path) -> Result<BufReader<std::fs::File>, TlsError> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsError::ReadFile {
            path: path.to_path_buf(),
            source,
        })
}

/// Every certificate in a PEM file (leaf first for a chain).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut reader = open_pem(path)?;
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let mut reader = open_pem(path)?;
    rustls_pemfile::private_key(&mut reader)
        .map_err(|e| TlsError::BadPem {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .ok_or_else(|| TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        })
}

fn roots_from(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(TlsError::Config)?;
    }
    Ok(roots)
}

/// Opens TLS connections to the acquirer, trusting only its CA.
///
/// Cheap to clone: the rustls configuration is shared.
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// A connector that verifies the host against the CA certificate(s) in
    /// `ca_pem` and the name `server_name` (the name in the host's
    /// certificate, which need not resolve: the address comes from the
    /// client configuration). `client_auth` is the client certificate chain
    /// and key PEM files, for acquirers that require mutual TLS.
    pub fn new(
        ca_pem: &Path,
        server_name: &str,
        client_auth: Option<(&Path, &Path)>,
    ) -> Result<Self, TlsError> {
        let roots = roots_from(ca_pem)?;
        let provider = provider();
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TlsError::Config(rustls::Error::General(e.to_string())))?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_webpki_verifier(verifier);
        let config = match client_auth {
            Some((cert, key)) => builder
                .with_client_auth_cert(load_certs(cert)?, load_private_key(key)?)
                .map_err(TlsError::Config)?,
            None => builder.with_no_client_auth(),
        };
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsError::InvalidServerName(server_name.to_owned()))?;
        Ok(TlsConnector {
            config: Arc::new(config),
            server_name,
        })
    }

    /// Runs the handshake to completion within `timeout`, so certificate
    /// problems surface at connect time (nothing sent yet) rather than as a
    /// failed request that might need a reversal.
    fn handshake(
        &self,
        conn: &mut ClientConnection,
        sock: &mut TcpStream,
        timeout: Duration,
    ) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        while conn.is_handshaking() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(into_io(
                    io::ErrorKind::TimedOut,
                    TlsError::HandshakeTimeout(timeout),
                ));
            }
            sock.set_read_timeout(Some(left))?;
            sock.set_write_timeout(Some(left))?;
            match conn.complete_io(sock) {
                Ok((0, 0)) if conn.is_handshaking() => {
                    return Err(into_io(
                        io::ErrorKind::UnexpectedEof,
                        TlsError::HandshakeClosed,
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(self.classify(e, timeout)),
            }
        }
        // Flush the last handshake flight (client Finished, certificate).
        while conn.wants_write() {
            conn.write_tls(sock)?;
        }
        Ok(())
    }

    /// Turns a handshake `io::Error` into one carrying a [`TlsError`].
    fn classify(&self, e: io::Error, timeout: Duration) -> io::Error {
        let kind = e.kind();
        if matches!(kind, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
            return into_io(io::ErrorKind::TimedOut, TlsError::HandshakeTimeout(timeout));
        }
        if matches!(
            kind,
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
        ) {
            return into_io(kind, TlsError::HandshakeClosed);
        }
        let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
            return e;
        };
        let typed = match tls {
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => TlsError::ServerNameMismatch {
                expected: self.server_name.to_str().into_owned(),
            },
            rustls::Error::InvalidCertificate(c) => TlsError::UntrustedCertificate(c.clone()),
            other => TlsError::Handshake(other.clone()),
        };
        into_io(io::ErrorKind::InvalidData, typed)
    }
}

impl Connector for TlsConnector {
    fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<Box<dyn LinkStream>> {
        let mut sock = TcpStream::connect_timeout(&addr, timeout)?;
        sock.set_nodelay(true)?;
        let mut conn = ClientConnection::new(self.config.clone(), self.server_name.clone())
            .map_err(|e| into_io(io::ErrorKind::InvalidInput, TlsError::Config(e)))?;
        self.handshake(&mut conn, &mut sock, timeout)?;
        sock.set_write_timeout(Some(timeout))?;
        sock.set_read_timeout(Some(timeout))?;
        Ok(Box::new(TlsStream(StreamOwned::new(conn, sock))))
    }
}

/// An established client TLS stream; reads are bounded by the socket's
/// read timeout, as for plain TCP.
struct TlsStream(StreamOwned<ClientConnection, TcpStream>);

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl TimedRead for TlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.sock.set_read_timeout(timeout)
    }
}

impl LinkStream for TlsStream {
    /// Drains whatever TLS records are already waiting (session tickets,
    /// close_notify) without blocking: the host closed if it sent
    /// close_notify, closed the socket, or sent something rustls rejects.
    fn peer_closed(&mut self) -> bool {
        let (conn, sock) = (&mut self.0.conn, &mut self.0.sock);
        if sock.set_nonblocking(true).is_err() {
            return true;
        }
        let closed = loop {
            match conn.read_tls(sock) {
                Ok(0) => break true,
                Ok(_) => match conn.process_new_packets() {
                    Ok(state) if state.peer_has_closed() => break true,
                    Ok(_) => {}
                    Err(_) => break true,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        if sock.set_nonblocking(false).is_err() {
            return true;
        }
        closed
    }
}

/// Lets the host simulator read frames from a server-side TLS stream with
/// the same timed framing as plain TCP.
impl TimedRead for StreamOwned<ServerConnection, TcpStream> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }
}

/// A server configuration for the host simulator (and tests): certificate
/// chain and key from PEM files, and, when `client_ca` is given, mutual TLS
/// requiring a client certificate issued by that CA.
pub fn server_config(
    cert_pem: &Path,
    key_pem: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let builder = match client_ca {
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots_from(ca)?), provider)
                    .build()
                    .map_err(|e| TlsError::Config(rustls::Error::General(e.to_string())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(load_certs(cert_pem)?, load_private_key(key_pem)?)
        .map_err(TlsError::Config)?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            TlsConnector::new(&missing, "acquirer.test", None),
            Err(TlsError::ReadFile { .. })
        ));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no pem here\n").unwrap();
        assert!(matches!(
            TlsConnector::new(&empty, "acquirer.test", None),
            Err(TlsError::NoCertificate { .. })
        ));
        let corrupt = dir.path().join("corrupt.pem");
        std::fs::write(
            &corrupt,
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(matches!(
            TlsConnector::new(&corrupt, "acquirer.test", None),
            Err(TlsError::BadPem { .. })
        ));
        assert!(matches!(
            load_private_key(&empty),
            Err(TlsError::NoPrivateKey { .. })
        ));
    }
}
