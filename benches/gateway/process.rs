//! The gateway (and the minimal hop) as processes of their own: started,
//! read for their log lines and CPU time, stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::load::bench_dir;
use crate::minimal_hop::MINIMAL_HOP_FLAG;
use tokio::net::TcpStream;
use tonic::transport::Channel;

pub(crate) struct GatewayProcess {
    pub(crate) child: tokio::process::Child,
    pub(crate) addr: SocketAddr,
    /// The gateway's standard output: its log, one line per call.
    pub(crate) log: PathBuf,
}

/// Calls the gateway has logged so far, by outcome.
#[derive(Clone, Copy)]
pub(crate) struct CallsLogged {
    pub(crate) ok: u64,
    pub(crate) failed: u64,
}

impl GatewayProcess {
    /// `worker_threads`: `None` runs the gateway as deployed (one per core).
    /// `settings`: more environment settings (`SEAM_GATEWAY_…`).
    pub(crate) async fn start(
        binary: &PathBuf,
        upstream: SocketAddr,
        worker_threads: Option<usize>,
        settings: &[(&str, &str)],
    ) -> Self {
        let mut command = tokio::process::Command::new(binary);
        command.env_remove("SEAM_GATEWAY_WORKER_THREADS");
        command.env_remove("SEAM_GATEWAY_ADMIN_LISTEN");
        command.envs(settings.iter().copied());
        if let Some(threads) = worker_threads {
            command.env("SEAM_GATEWAY_WORKER_THREADS", threads.to_string());
        }
        command
            .env("SEAM_ENDPOINT", format!("http://{upstream}"))
            .env("SEAM_API_KEY", "seam_bench_key");
        Self::spawn(command, |command, addr| {
            command.env("SEAM_GATEWAY_LISTEN", addr.to_string());
        })
        .await
    }

    /// The minimal hop of the benchmarks issue, in its own process: this
    /// benchmark's executable again, with `--minimal-hop-serve`.
    pub(crate) async fn start_minimal_hop(upstream: SocketAddr) -> Self {
        let mut command = tokio::process::Command::new(std::env::current_exe().expect("this executable"));
        command.arg(MINIMAL_HOP_FLAG);
        Self::spawn(command, |command, addr| {
            command.arg(addr.to_string()).arg(upstream.to_string());
        })
        .await
    }

    pub(crate) async fn spawn(
        mut command: tokio::process::Command,
        listen_on: impl FnOnce(&mut tokio::process::Command, SocketAddr),
    ) -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr").port()
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        listen_on(&mut command, addr);
        let log = bench_dir().join(format!("gateway-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("the gateway's log file");
        let mut child = command
            .stdout(log_file)
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e} (cargo build --release)"));
        for _ in 0..200 {
            if TcpStream::connect(addr).await.is_ok() {
                return Self { child, addr, log };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{command:?} exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway did not start");
    }

    pub(crate) fn calls_logged(&self) -> CallsLogged {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut calls = CallsLogged { ok: 0, failed: 0 };
        for line in log.lines().filter(|line| line.contains(" rpc method=")) {
            if line.contains(" code=Ok ") {
                calls.ok += 1;
            } else if !line.contains(" code=Cancelled ") {
                // A call the load generator cut off when its run ended is
                // logged CANCELLED (the line is written when the call ends,
                // or when its request broke off): not a failure of the hop.
                calls.failed += 1;
            }
        }
        calls
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// User + system CPU time so far.
    pub(crate) fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("/proc stat");
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        // After the command name: state is field 3, utime 14, stime 15 (1-based).
        let ticks: u64 = fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
        Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
    }

    /// Resident memory in bytes.
    pub(crate) fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

pub(crate) fn clock_ticks_per_second() -> f64 {
    // Linux reports utime/stime in USER_HZ, which is 100 on every common kernel build.
    100.0
}
