//! The answered sniff, served by the real hyper-util auto builder the
//! servers use: HTTP/1.1 keeps working on the connection (the empty first
//! read is not taken as end of stream) and HTTP/2 is untouched when ALPN
//! chose it.

use std::convert::Infallible;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::AlpnStream;

/// Serves one connection, answering every request with its path.
fn serve(server_end: DuplexStream, not_http2: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let service = service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
            Ok::<_, Infallible>(hyper::Response::new(format!("path {}", request.uri().path())))
        });
        let io = TokioIo::new(AlpnStream::new(server_end, not_http2));
        let _ = Builder::new(TokioExecutor::new()).serve_connection(io, service).await;
    })
}

/// Reads until the answer to `path` has arrived whole (its body ends it).
async fn read_response(client: &mut DuplexStream, path: &str) -> String {
    let body = format!("path {path}");
    let mut response = Vec::new();
    let mut chunk = [0u8; 1024];
    while !response.ends_with(body.as_bytes()) {
        let n = client.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "the connection closed early: {}",
            String::from_utf8_lossy(&response)
        );
        response.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(response).unwrap()
}

#[tokio::test]
async fn http1_is_served_and_kept_alive_after_the_answered_sniff() {
    let (mut client, server_end) = tokio::io::duplex(64 * 1024);
    let server = serve(server_end, true);

    for path in ["/first", "/second"] {
        client
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: sandbox\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let response = read_response(&mut client, path).await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    }
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn http2_is_served_when_alpn_chose_it() {
    let (client, server_end) = tokio::io::duplex(64 * 1024);
    let server = serve(server_end, false);
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(client))
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get("https://sandbox/over-h2")
        .body(String::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    drop((response, sender));
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        driver.await.unwrap().unwrap();
        server.await.unwrap();
    });
    ended.await.expect("both ends close once the client is done");
}

#[tokio::test]
async fn only_the_first_read_is_answered_empty() {
    let (mut client, server_end) = tokio::io::duplex(1024);
    let mut stream = AlpnStream::new(server_end, true);
    client.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(stream.read(&mut buf).await.unwrap(), 0, "the sniff's read");
    assert_eq!(stream.read(&mut buf).await.unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");

    let (mut client, server_end) = tokio::io::duplex(1024);
    let mut stream = AlpnStream::new(server_end, false);
    client.write_all(b"h2").await.unwrap();
    assert_eq!(
        stream.read(&mut buf).await.unwrap(),
        2,
        "nothing answered when ALPN chose h2"
    );
}
