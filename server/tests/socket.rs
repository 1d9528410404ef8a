//! The bridge served on a real socket (127.0.0.1, port 0).

use crate::util::{http, serve};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn status_and_commands_work_over_a_real_socket() {
    let served = serve(&[]).await;
    let mut status = (0, String::new());
    for _ in 0..100 {
        status = http(served.addr, "GET", "/api/status", None).await;
        if status.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status.0, 200, "{}", status.1);
    let s: Value = serde_json::from_str(&status.1).unwrap();
    assert_eq!(s["outlets"].as_array().unwrap().len(), 10);

    let (code, body) = http(served.addr, "POST", "/api/outlets/10/command", Some(r#"{"action":"on"}"#)).await;
    assert_eq!(code, 200, "{body}");
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["state"], "on");

    let (code, body) = http(served.addr, "GET", "/api/health", None).await;
    assert_eq!(code, 200, "{body}");
    served.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), served.task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn the_live_stream_pushes_snapshots_and_ends_at_shutdown() {
    let served = serve(&[("BRIDGE_POLL_INTERVAL", "0.2")]).await;
    let mut stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /api/stream HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {}\r\n\r\n",
                served.addr, served.token
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.matches("event: snapshot").count() < 3 {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await.expect("snapshots keep coming").unwrap();
        assert!(n > 0, "the stream closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("text/event-stream"));
    assert!(seen.contains(r#""device_id":"pdu44001""#));

    // Graceful shutdown must not wait for the open stream.
    served.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), served.task).await.expect("the server stops").unwrap().unwrap();
}
