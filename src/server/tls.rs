//! TLS for callers' connections (rustls): the certificate and key of
//! `--tls-cert`/`--tls-key`, and with `--tls-client-ca` the CAs that sign
//! callers' client certificates.
//!
//! The files are re-read when they change (checked every
//! `--tls-reload-interval`; cert-manager and kubelet rewrite them in place)
//! and on SIGHUP. A new connection takes the configuration current when it
//! arrives; open connections keep theirs, so no stream is dropped. A new set
//! of files that does not load (a half-written pair, a key that does not match
//! the certificate) is refused with a log line and the old one stays.
//!
//! A connection without a client certificate is accepted at the handshake
//! even with `--tls-client-ca`: it may use health and reflection (probes,
//! `grpcurl list`), and its calls of the API end UNAUTHENTICATED
//! (`CLIENT_CERTIFICATE_MISSING`). A certificate that does not chain to the
//! CA is refused at the handshake.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::sync::watch;

use crate::reload_schedule::reload_until_shutdown;
use crate::reloadable::{Reloadable, Reloaded};
use tokio_rustls::TlsAcceptor;

/// Where the TLS files are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// The files' contents as last loaded, to tell a change.
#[derive(PartialEq, Eq)]
struct Contents {
    certificate: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

/// The TLS configuration new connections get.
pub struct ServerTls {
    files: TlsFiles,
    current: Reloadable<ServerConfig, Contents>,
}

impl ServerTls {
    /// Loads the files; the gateway does not start without a working pair.
    pub fn load(files: TlsFiles) -> Result<Self, String> {
        let contents = read(&files)?;
        let config = server_config(&contents)?;
        Ok(Self {
            files,
            current: Reloadable::new(config, contents),
        })
    }

    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.get())
    }

    /// Reads the files again; takes them when they changed and load.
    pub fn reload(&self, why: &str) {
        let contents = match read(&self.files) {
            Ok(contents) => contents,
            Err(e) => {
                tracing::error!(error = %e, why, "cannot read the new TLS files; keeping the certificate in use");
                return;
            }
        };
        match self.current.replace_if_changed(contents, server_config) {
            Reloaded::Unchanged => {}
            Reloaded::Replaced => {
                tracing::info!(certificate = %self.files.certificate.display(), why, "TLS certificate reloaded; new connections use it");
            }
            Reloaded::Refused(e) => {
                tracing::error!(error = %e, why, "refusing the new TLS files; keeping the certificate in use");
            }
        }
    }

    /// Reloads every `interval` and on SIGHUP (`reload_requests`), until shutdown.
    pub async fn watch(
        self: Arc<Self>,
        interval: Duration,
        reload_requests: watch::Receiver<u64>,
        stopping: watch::Receiver<bool>,
    ) {
        reload_until_shutdown(interval, reload_requests, stopping, |why| self.reload(why)).await;
    }
}

fn read(files: &TlsFiles) -> Result<Contents, String> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    Ok(Contents {
        certificate: read(&files.certificate)?,
        key: read(&files.key)?,
        client_ca: files.client_ca.as_deref().map(read).transpose()?,
    })
}

fn server_config(contents: &Contents) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = certificates(&contents.certificate, "--tls-cert")?;
    let key =
        PrivateKeyDer::from_pem_slice(&contents.key).map_err(|e| format!("--tls-key holds no private key: {e}"))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &contents.client_ca {
        Some(bundle) => builder.with_client_cert_verifier(client_verifier(bundle, provider)?),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("--tls-cert and --tls-key do not make a usable pair: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

fn certificates(pem: &[u8], flag: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{flag} is not PEM: {e}"))?;
    if chain.is_empty() {
        return Err(format!("{flag} holds no certificate"));
    }
    Ok(chain)
}

fn client_verifier(
    bundle: &[u8],
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates(bundle, "--tls-client-ca")? {
        roots
            .add(certificate)
            .map_err(|e| format!("--tls-client-ca holds an unusable CA certificate: {e}"))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        // A connection without a certificate is accepted; only health and
        // reflection answer it (see the module documentation).
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("--tls-client-ca: {e}"))
}
