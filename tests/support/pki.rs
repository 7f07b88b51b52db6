//! Certificates and keys made for a test (rcgen): a CA, the gateway's server
//! certificate for `localhost`, callers' client certificates with a URI SAN,
//! a DNS SAN or only a CN, and TLS client channels that use them.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// A certificate and its key, PEM.
#[derive(Clone)]
pub struct Pair {
    pub certificate: String,
    pub key: String,
}

/// A certificate authority made for one test.
pub struct TestCa {
    pub certificate: String,
    issuer: Issuer<'static, KeyPair>,
}

/// What a client certificate names.
pub enum ClientName<'a> {
    Uri(&'a str),
    Dns(&'a str),
    CommonName(&'a str),
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let certificate = params.self_signed(&key).expect("CA certificate").pem();
        Self {
            certificate,
            issuer: Issuer::new(params, key),
        }
    }

    /// The gateway's certificate for `localhost` and 127.0.0.1.
    pub fn server(&self) -> Pair {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A caller's certificate naming only `name`.
    pub fn client(&self, name: ClientName<'_>) -> Pair {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        match name {
            ClientName::Uri(uri) => params
                .subject_alt_names
                .push(SanType::URI(uri.try_into().expect("IA5 URI"))),
            ClientName::Dns(dns) => params
                .subject_alt_names
                .push(SanType::DnsName(dns.try_into().expect("IA5 DNS name"))),
            ClientName::CommonName(cn) => params.distinguished_name.push(DnType::CommonName, cn),
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Pair {
        let key = KeyPair::generate().expect("key");
        let certificate = params.signed_by(&key, &self.issuer).expect("sign").pem();
        Pair {
            certificate,
            key: key.serialize_pem(),
        }
    }
}

/// Files in a fresh directory under the target dir, removed on drop.
pub struct TempFiles {
    pub dir: PathBuf,
}

impl TempFiles {
    pub fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "seam-gateway-{label}-{}-{}",
            std::process::id(),
            fastrand_suffix()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self { dir }
    }

    /// Writes `contents` to `name` (replacing it as cert-manager does: a new
    /// file renamed over the old one) and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.dir.join(name);
        let partial = self.dir.join(format!(".{name}.partial"));
        std::fs::write(&partial, contents).expect("write");
        std::fs::rename(&partial, &path).expect("rename");
        path_string(&path)
    }

    pub fn path(&self, name: &str) -> String {
        path_string(&self.dir.join(name))
    }
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_string(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_owned()
}

fn fastrand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// A channel to `address` over TLS, trusting `ca`, presenting `client` when given.
pub async fn tls_channel(address: &str, ca: &str, client: Option<&Pair>) -> Result<Channel, tonic::transport::Error> {
    let port = address.rsplit(':').next().expect("port");
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some(client) = client {
        tls = tls.identity(Identity::from_pem(&client.certificate, &client.key));
    }
    Channel::from_shared(format!("https://localhost:{port}"))
        .expect("URL")
        .tls_config(tls)?
        .connect()
        .await
}
