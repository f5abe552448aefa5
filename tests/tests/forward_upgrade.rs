//! A WebSocket upgrade through a session's forward, end to end: the 101 passes, then bytes go both
//! ways (issue 12, item 13: every dev server's hot-reload socket).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use devspaces_tests::*;

#[test]
fn a_websocket_upgrade_through_the_forward_is_spliced_and_traced() {
    let env = Env::new();
    let (_t, svc) = copy_service("tests/fixtures/apps/fast-http");
    let mut up = Up::start(&env, &svc);
    let port = up.url_port();
    up.wait_running();
    assert_eq!(http_get(port, "/").1, "ok\n");

    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /hot-reload HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).expect("the answer to the upgrade"), 1, "closed after {head:?}");
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    for msg in [&b"{\"type\":\"connected\"}"[..], &[0x81, 0x05, b'h', b'e', b'l', b'l', b'o'][..]] {
        s.write_all(msg).unwrap();
        let mut echo = vec![0u8; msg.len()];
        s.read_exact(&mut echo).expect("the bytes echoed through the spliced connection");
        assert_eq!(echo, msg);
    }
    let t = up.wait_method("devspaces/trace", |p| p["path"] == "/hot-reload");
    assert_eq!(t["status"], 101);
    drop(s);
    up.interrupt();
}
