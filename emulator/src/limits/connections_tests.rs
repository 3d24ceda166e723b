//! The idle timer and eviction, on a real axum-server with lowered limits.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use axum_server::accept::DefaultAcceptor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

/// Generous bound for "eventually"; never a performance assertion.
const EVENTUALLY: Duration = Duration::from_secs(10);

/// Serves plain HTTP (h1 and h2c) behind [`ConnectionLimit`].
async fn serve(max: usize, idle: Duration) -> (SocketAddr, Connections) {
    let connections = Connections::new(max, idle);
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(900)).await;
                "slow"
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            connections.clone(),
            track_requests,
        ))
        .into_make_service_with_connect_info::<SocketAddr>();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let handle: axum_server::Handle<SocketAddr> = axum_server::Handle::new();
    let server = axum_server::from_tcp(listener)
        .unwrap()
        .acceptor(ConnectionLimit::new(DefaultAcceptor, connections.clone()))
        .handle(handle.clone());
    tokio::spawn(server.serve(app));
    (handle.listening().await.unwrap(), connections)
}

/// Reads until the server closes the connection; panics if it does not.
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(EVENTUALLY, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server closes the connection");
}

async fn get_on(stream: &mut TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(EVENTUALLY, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_closed() {
    let (addr, _) = serve(10, Duration::from_millis(300)).await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    closed_by_server(&mut silent).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_but_a_slow_request_is_not() {
    let (addr, _) = serve(10, Duration::from_millis(300)).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    let slow = get_on(&mut client, "/slow").await;
    assert!(
        slow.starts_with("HTTP/1.1 200"),
        "a request in flight is not idle: {slow}"
    );
    closed_by_server(&mut client).await;
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    let (addr, _) = serve(10, Duration::from_millis(300)).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    let driver = tokio::spawn(connection);
    let request = axum::http::Request::get(format!("http://{addr}/"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    let _closed = tokio::time::timeout(EVENTUALLY, driver)
        .await
        .expect("the server closes the idle HTTP/2 connection");
    assert!(sender.is_closed());
}

#[tokio::test]
async fn at_the_limit_the_longest_idle_connection_makes_room_for_a_new_client() {
    let (addr, _) = serve(2, Duration::from_secs(60)).await;
    let mut oldest = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _newer = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    let mut client = TcpStream::connect(addr).await.unwrap();
    let response = get_on(&mut client, "/").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    closed_by_server(&mut oldest).await;
}

#[test]
fn at_the_limit_with_every_connection_busy_the_newest_is_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let connections = Connections::new(2, Duration::from_secs(60));
    let (a, b, c): (SocketAddr, SocketAddr, SocketAddr) = (
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
        "127.0.0.1:3".parse().unwrap(),
    );
    let _ca = connections.admit(a).unwrap();
    let _cb = connections.admit(b).unwrap();
    let busy = (connections.busy(a).unwrap(), connections.busy(b).unwrap());
    assert!(connections.admit(c).is_none(), "no idle connection to close");
    drop(busy);
    assert!(connections.admit(c).is_some(), "once idle, the oldest makes room");
}
