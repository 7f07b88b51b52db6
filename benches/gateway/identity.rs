//! What caller identity costs: `GetLock` at concurrency 1 over plaintext,
//! TLS, mutual TLS, and TLS with a JWT (the same token on every call, so the
//! gateway's token cache answers), each against its own gateway process; and
//! the gateway's CPU for a new connection (TCP, then the TLS handshake, then
//! one call) per transport. The client is tonic in this process.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};
use seam_grpc_gateway::pb;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::Settings;
use crate::load::{Figures, Run, bench_dir, cpu_above, hop_run_over, one_after_another};
use crate::process::GatewayProcess;
use crate::streams::median;
use crate::upstream::Upstream;

pub(crate) const ISSUER: &str = "https://issuer.bench.test";
pub(crate) const AUDIENCE: &str = "seam-grpc-gateway";

/// The files and credentials of the run.
pub(crate) struct Credentials {
    ca: String,
    client: Identity,
    pub(crate) token: String,
    files: Vec<(&'static str, PathBuf)>,
}

impl Credentials {
    pub(crate) fn make() -> Self {
        let dir = bench_dir().join("identity");
        std::fs::create_dir_all(&dir).expect("dir");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().expect("key");
        let ca = ca_params.self_signed(&ca_key).expect("CA").pem();
        let issuer = Issuer::new(ca_params, ca_key);
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).expect("server");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().expect("key");
        let server_cert = server.signed_by(&server_key, &issuer).expect("sign").pem();
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("client");
        client.subject_alt_names.push(SanType::URI(
            "spiffe://bench.test/ns/doors/sa/frontdesk".try_into().expect("URI"),
        ));
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().expect("key");
        let client_cert = client.signed_by(&client_key, &issuer).expect("sign").pem();

        let signing = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let encoding = jsonwebtoken::EncodingKey::from_ec_pem(signing.serialize_pem().as_bytes()).expect("EC");
        let mut jwk =
            jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, jsonwebtoken::Algorithm::ES256).expect("JWK");
        jwk.common.key_id = Some("bench".into());
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("bench".into());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let claims = serde_json::json!({
            "sub": "system:serviceaccount:doors:frontdesk", "iss": ISSUER, "aud": AUDIENCE,
            "iat": now, "exp": now + 24 * 3600,
        });
        let token = jsonwebtoken::encode(&header, &claims, &encoding).expect("sign");
        let jwks = serde_json::to_string(&jsonwebtoken::jwk::JwkSet { keys: vec![jwk] }).expect("JWKS");

        let mut files = Vec::new();
        for (name, contents) in [
            ("ca.crt", &ca),
            ("server.crt", &server_cert),
            ("server.key", &server_key.serialize_pem()),
            ("jwks.json", &jwks),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, contents).expect("write");
            files.push((name, path));
        }
        Self {
            ca,
            client: Identity::from_pem(client_cert, client_key.serialize_pem()),
            token,
            files,
        }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        let (_, path) = self.files.iter().find(|(file, _)| *file == name).expect("file");
        path.display().to_string()
    }
}

/// A load of many calls in flight: from h2load, or from tonic clients in
/// this process (which, unlike h2load, can present a client certificate).
#[derive(Clone, Copy)]
enum BusyLoad {
    H2load(Transport),
    Tonic(Transport),
}

impl BusyLoad {
    fn transport(self) -> Transport {
        match self {
            BusyLoad::H2load(transport) | BusyLoad::Tonic(transport) => transport,
        }
    }

    fn generator(self) -> &'static str {
        match self {
            BusyLoad::H2load(_) => "h2load",
            BusyLoad::Tonic(_) => "tonic",
        }
    }
}

/// In the order of the gateway processes of the run.
#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Plaintext,
    Tls,
    MutualTls,
    TlsJwt,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Plaintext => "plaintext",
            Transport::Tls => "TLS",
            Transport::MutualTls => "mutual TLS",
            Transport::TlsJwt => "TLS + JWT (cached)",
        }
    }

    fn settings(self, credentials: &Credentials) -> Vec<(&'static str, String)> {
        let mut settings = Vec::new();
        if self != Transport::Plaintext {
            settings.push(("SEAM_GATEWAY_TLS_CERT", credentials.path("server.crt")));
            settings.push(("SEAM_GATEWAY_TLS_KEY", credentials.path("server.key")));
        }
        if self == Transport::MutualTls {
            settings.push(("SEAM_GATEWAY_TLS_CLIENT_CA", credentials.path("ca.crt")));
        }
        if self == Transport::TlsJwt {
            settings.push(("SEAM_GATEWAY_JWT_JWKS", credentials.path("jwks.json")));
            settings.push(("SEAM_GATEWAY_JWT_ISSUER", ISSUER.to_owned()));
            settings.push(("SEAM_GATEWAY_JWT_AUDIENCE", AUDIENCE.to_owned()));
        }
        settings
    }

    async fn connect(self, gateway: &GatewayProcess, credentials: &Credentials) -> Channel {
        if self == Transport::Plaintext {
            return gateway.channel().await;
        }
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&credentials.ca))
            .domain_name("localhost");
        if self == Transport::MutualTls {
            tls = tls.identity(credentials.client.clone());
        }
        Channel::from_shared(format!("https://localhost:{}", gateway.addr.port()))
            .expect("url")
            .tls_config(tls)
            .expect("TLS")
            .connect()
            .await
            .expect("connect over TLS")
    }

    fn request(self, credentials: &Credentials) -> tonic::Request<pb::GetLockRequest> {
        let mut request = tonic::Request::new(pb::GetLockRequest {
            device_id: "august_device_1".into(),
        });
        if self == Transport::TlsJwt {
            let bearer = format!("Bearer {}", credentials.token);
            request
                .metadata_mut()
                .insert("authorization", bearer.parse().expect("ASCII"));
        }
        request
    }
}

/// Sequential calls for `run_for`: every latency, and the gateway's CPU per call.
async fn sequential_calls(
    transport: Transport,
    gateway: &GatewayProcess,
    credentials: &Credentials,
    run_for: Duration,
) -> Figures {
    let mut client = pb::lock_service_client::LockServiceClient::new(transport.connect(gateway, credentials).await);
    one_after_another(gateway, run_for, async || {
        client.get_lock(transport.request(credentials)).await.is_ok()
    })
    .await
}

/// `concurrency` calls in flight from tonic clients over four connections
/// for `run_for`, after a warm-up: the latencies of the calls that ended in
/// that time, and the gateway's CPU per call over it.
async fn concurrent_calls(
    transport: Transport,
    gateway: &GatewayProcess,
    credentials: &Credentials,
    concurrency: usize,
    run_for: Duration,
) -> Figures {
    let mut clients = Vec::new();
    for _ in 0..concurrency.clamp(1, 4) {
        clients.push(pb::lock_service_client::LockServiceClient::new(
            transport.connect(gateway, credentials).await,
        ));
    }
    let measured_from = Instant::now() + (run_for / 5).min(Duration::from_secs(1));
    let measured_until = measured_from + run_for;
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..concurrency {
        let mut client = clients[caller % clients.len()].clone();
        let request = transport.request(credentials);
        callers.spawn(async move {
            let mut measured = Run {
                calls: 0,
                failures: 0,
                elapsed: run_for,
                latencies_us: Vec::new(),
            };
            while Instant::now() < measured_until {
                let began = Instant::now();
                let mut call = tonic::Request::new(request.get_ref().clone());
                *call.metadata_mut() = request.metadata().clone();
                let ok = client.get_lock(call).await.is_ok();
                if began >= measured_from && Instant::now() <= measured_until {
                    if ok {
                        measured.calls += 1;
                    } else {
                        measured.failures += 1;
                    }
                    measured.latencies_us.push(began.elapsed().as_micros() as u32);
                }
            }
            measured
        });
    }
    tokio::time::sleep_until(measured_from.into()).await;
    let cpu_before = gateway.cpu_time();
    tokio::time::sleep_until(measured_until.into()).await;
    let cpu = gateway.cpu_time().saturating_sub(cpu_before);
    let mut run = Run {
        calls: 0,
        failures: 0,
        elapsed: run_for,
        latencies_us: Vec::new(),
    };
    while let Some(caller) = callers.join_next().await {
        let caller = caller.expect("a caller task");
        run.calls += caller.calls;
        run.failures += caller.failures;
        run.latencies_us.extend(caller.latencies_us);
    }
    let cpu_per_call_us = cpu.as_secs_f64() * 1e6 / (run.calls + run.failures).max(1) as f64;
    Figures::of(&run, Some(cpu_per_call_us))
}

/// New connections one after the other, each with one call: the gateway's
/// CPU per connection, and the client's time to connect (p50).
async fn new_connections(
    transport: Transport,
    gateway: &GatewayProcess,
    credentials: &Credentials,
    count: usize,
) -> (f64, f64) {
    let cpu_before = gateway.cpu_time();
    let mut connect_us = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let channel = transport.connect(gateway, credentials).await;
        connect_us.push(started.elapsed().as_secs_f64() * 1e6);
        pb::lock_service_client::LockServiceClient::new(channel)
            .get_lock(transport.request(credentials))
            .await
            .expect("GetLock on a new connection");
    }
    let cpu = gateway.cpu_time().saturating_sub(cpu_before);
    (cpu.as_secs_f64() * 1e6 / count as f64, median(connect_us))
}

/// The identity section of the report.
pub(crate) async fn identity_report(settings: &Settings, upstream: &Upstream) -> (Vec<String>, bool) {
    let credentials = Credentials::make();
    let transports = [
        Transport::Plaintext,
        Transport::Tls,
        Transport::MutualTls,
        Transport::TlsJwt,
    ];
    let mut gateways = Vec::new();
    for transport in transports {
        let env = transport.settings(&credentials);
        let env: Vec<(&str, &str)> = env.iter().map(|(key, value)| (*key, value.as_str())).collect();
        gateways.push(GatewayProcess::start(&settings.gateway, upstream.addr, Some(1), &env).await);
    }
    let mut rounds: Vec<Vec<Figures>> = transports.iter().map(|_| Vec::new()).collect();
    let mut connections: Vec<Vec<(f64, f64)>> = transports.iter().map(|_| Vec::new()).collect();
    let connection_count = if settings.smoke { 20 } else { 300 };
    // A few µs among ~200 µs of CPU per sequential call: more rounds.
    let identity_rounds = if settings.smoke { 1 } else { 5 };
    for round in 0..identity_rounds {
        // A different transport goes first each round, so that the order of
        // the runs biases no row.
        for offset in 0..transports.len() {
            let index = (round + offset) % transports.len();
            let transport = &transports[index];
            rounds[index].push(sequential_calls(*transport, &gateways[index], &credentials, settings.run_for).await);
            connections[index]
                .push(new_connections(*transport, &gateways[index], &credentials, connection_count).await);
        }
    }
    // Many calls in flight, where a call's CPU is steady from run to run (at
    // concurrency 1 a few µs are within one run's noise): h2load over
    // plaintext, TLS and TLS with the token (h2load has no client
    // certificates), then a tonic client over TLS, mutual TLS and TLS with
    // the token. The coalesced writes of `server/coalescing_io.rs` matter here.
    let busy_concurrency = if settings.smoke { 4 } else { 64 };
    let bearer = format!("Bearer {}", credentials.token);
    let busy_loads = [
        BusyLoad::H2load(Transport::Plaintext),
        BusyLoad::H2load(Transport::Tls),
        BusyLoad::H2load(Transport::TlsJwt),
        BusyLoad::Tonic(Transport::Tls),
        BusyLoad::Tonic(Transport::MutualTls),
        BusyLoad::Tonic(Transport::TlsJwt),
    ];
    let mut busy: Vec<Vec<Figures>> = busy_loads.iter().map(|_| Vec::new()).collect();
    // Shorter runs, more of them: a load of many calls settles at once, and a
    // moment when the VM is disturbed then moves one round of nine.
    let busy_rounds = if settings.smoke { 1 } else { 9 };
    let busy_run_for = settings.run_for.min(Duration::from_secs(3));
    for round in 0..busy_rounds {
        for offset in 0..busy_loads.len() {
            let index = (round + offset) % busy_loads.len();
            let figures = match busy_loads[index] {
                BusyLoad::H2load(transport) => {
                    let gateway = &gateways[transport as usize];
                    let scheme = if transport == Transport::Plaintext {
                        "http"
                    } else {
                        "https"
                    };
                    let authorization = (transport == Transport::TlsJwt).then_some(bearer.as_str());
                    let (run, cpu) = hop_run_over(
                        scheme,
                        authorization,
                        gateway,
                        upstream,
                        busy_concurrency,
                        settings.run_for,
                    )
                    .await;
                    Figures::of(&run, Some(cpu.as_secs_f64() * 1e6))
                }
                BusyLoad::Tonic(transport) => {
                    let gateway = &gateways[transport as usize];
                    concurrent_calls(transport, gateway, &credentials, busy_concurrency, busy_run_for).await
                }
            };
            busy[index].push(figures);
        }
    }
    let busy_figures = busy;
    let busy: Vec<Figures> = busy_figures.iter().map(|r| Figures::median(r)).collect();
    let figures: Vec<Figures> = rounds.iter().map(|r| Figures::median(r)).collect();
    let per_connection: Vec<(f64, f64)> = connections
        .iter()
        .map(|r| {
            (
                median(r.iter().map(|c| c.0).collect()),
                median(r.iter().map(|c| c.1).collect()),
            )
        })
        .collect();
    let ok = figures.iter().chain(&busy).all(|f| f.failures == 0 && f.rate > 0.0);

    let mut report = vec![
        String::new(),
        format!(
            "**Caller identity**: `GetLock` at concurrency 1 from a tonic client, one gateway process (1 worker) \
             per transport, same run, medians of {identity_rounds} rounds; then {connection_count} new connections \
             one after the other, each with one call. \"Over TLS\" is the CPU per call above the TLS row of the \
             same load: the median of the rounds' differences. The last six rows: {busy_concurrency} calls in flight over 4 connections, from h2load (no \
             client certificates) and from tonic clients, {:.0} s each, medians of {busy_rounds} rounds.",
            busy_run_for.as_secs_f64()
        ),
        String::new(),
        "| transport | calls/s | p50 | p99 | failed | gateway CPU per call | over TLS | gateway CPU per new connection | client's connect time (p50) |"
            .into(),
        "|---|---|---|---|---|---|---|---|---|".into(),
    ];
    for (index, transport) in transports.iter().enumerate() {
        let f = &figures[index];
        let cpu = f.cpu_per_call.unwrap_or(f64::NAN);
        let over_tls = if index >= 2 {
            format!("{:+.1} µs", cpu_above(&rounds[index], &rounds[1]))
        } else {
            String::new()
        };
        let (connection_cpu, connect) = per_connection[index];
        report.push(format!(
            "| {} | {:.0} | {:.0} µs | {:.0} µs | {} | {cpu:.1} µs | {over_tls} | {connection_cpu:.0} µs | {connect:.0} µs |",
            transport.label(),
            f.rate,
            f.p50,
            f.p99,
            f.failures,
        ));
    }
    for (index, load) in busy_loads.iter().enumerate() {
        let f = &busy[index];
        let cpu = f.cpu_per_call.unwrap_or(f64::NAN);
        // Over the TLS row of the same load generator.
        let over_tls = match load {
            BusyLoad::H2load(Transport::TlsJwt) => {
                format!("{:+.1} µs", cpu_above(&busy_figures[index], &busy_figures[1]))
            }
            BusyLoad::Tonic(Transport::MutualTls | Transport::TlsJwt) => {
                format!("{:+.1} µs", cpu_above(&busy_figures[index], &busy_figures[3]))
            }
            _ => String::new(),
        };
        report.push(format!(
            "| {}, concurrency {busy_concurrency} ({}) | {:.0} | {:.0} µs | {:.0} µs | {} | {cpu:.1} µs | {over_tls} |  |  |",
            load.transport().label(),
            load.generator(),
            f.rate,
            f.p50,
            f.p99,
            f.failures,
        ));
    }
    report.push(String::new());
    report.push(format!(
        "- A TLS handshake (with the connection's first call) costs the gateway {:.0} µs of CPU more than a \
         plaintext connection; with a client certificate, {:.0} µs more.",
        per_connection[1].0 - per_connection[0].0,
        per_connection[2].0 - per_connection[0].0,
    ));
    report.push(format!(
        "- Latency added at p50 over plaintext: TLS {:+.0} µs, mutual TLS {:+.0} µs, TLS + cached JWT {:+.0} µs.",
        figures[1].p50 - figures[0].p50,
        figures[2].p50 - figures[0].p50,
        figures[3].p50 - figures[0].p50,
    ));
    (report, ok)
}
