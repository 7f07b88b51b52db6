//! The admin listener (`--admin-listen`): a small HTTP/1.1 server for
//! operators, never for callers, on its own address. `GET /metrics`
//! (Prometheus text), `GET /healthz` (200 while the process runs), `GET
//! /readyz` (200 while serving, 503 once shutdown began).

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::observe::metrics;

/// Serves the admin endpoints on `listener` until the process ends;
/// `stopping` turns true when shutdown begins.
pub async fn serve(listener: TcpListener, stopping: watch::Receiver<bool>) {
    metrics::install();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // A failed accept (open-files limit) is retried after a pause.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let stopping = stopping.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| std::future::ready(answer(&request, &stopping)));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(request: &Request<Incoming>, stopping: &watch::Receiver<bool>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET {
        return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n"));
    }
    Ok(match request.uri().path() {
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(metrics::render())));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/healthz" => plain(StatusCode::OK, "ok\n"),
        "/readyz" if *stopping.borrow() => plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
        "/readyz" => plain(StatusCode::OK, "ready\n"),
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    })
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}
