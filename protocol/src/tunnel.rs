//! The wire format of the agent's tunnel listener (`agent/src/tunnel.rs`), which the daemon's
//! Kubernetes forwards keep warm streams to (`daemon/src/backend/kubernetes/forward.rs`).
//!
//! The agent sends [`READY`] on a new connection and after each connection it carried. For each
//! connection the daemon names the app's port in one line of ASCII digits (`8080\n`, at most
//! [`MAX_LINE`] bytes), then both sides send frames: a 4-byte big-endian length, then that many
//! bytes (at most [`MAX_FRAME`]); an empty frame ends a side.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The agent's byte: this stream reaches it and is ready for a connection.
pub const READY: u8 = b'+';
/// The longest port line (`65535\n`).
pub const MAX_LINE: usize = 6;
/// The largest frame either side sends.
pub const MAX_FRAME: usize = 64 * 1024;

/// `prefix`, then what `from` yields as frames (each one write, the prefix in the first: a small
/// write right behind another waits for its ACK on a Nagle socket), then the end frame; false
/// when the stream broke.
pub async fn frames_out<R, W>(prefix: Vec<u8>, from: &mut R, to: &mut W) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = prefix;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        out.extend_from_slice(&(n as u32).to_be_bytes());
        out.extend_from_slice(&buf[..n]);
        if to.write_all(&out).await.is_err() {
            return false;
        }
        out.clear();
    }
    out.extend_from_slice(&0u32.to_be_bytes());
    to.write_all(&out).await.is_ok() && to.flush().await.is_ok()
}

/// The frames of `from` into `to` until the end frame (true; `to` is shut), or a broken stream or
/// an oversized frame (false). What `to` no longer takes (its side went away) is read and dropped,
/// keeping the stream in step.
pub async fn frames_in<R, W>(from: &mut R, to: &mut W) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    let mut open = true;
    loop {
        let Ok(len) = from.read_u32().await else { return false };
        if len == 0 {
            let _ = to.shutdown().await;
            return true;
        }
        if len as usize > MAX_FRAME {
            return false;
        }
        buf.resize(len as usize, 0);
        if from.read_exact(&mut buf).await.is_err() {
            return false;
        }
        open = open && to.write_all(&buf).await.is_ok();
    }
}

/// The port line, byte by byte (what follows it stays unread); `None` for anything but 1-65535.
pub async fn read_port<R: AsyncRead + Unpin>(from: &mut R) -> Option<u16> {
    let mut line = [0u8; MAX_LINE];
    for i in 0..MAX_LINE {
        let b = from.read_u8().await.ok()?;
        if b == b'\n' {
            return std::str::from_utf8(&line[..i]).ok()?.parse::<u16>().ok().filter(|p| *p != 0);
        }
        if !b.is_ascii_digit() {
            return None;
        }
        line[i] = b;
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn frames_go_through_with_their_end_and_the_prefix_first() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let mut from: &[u8] = b"hello";
        assert!(frames_out(b"80\n".to_vec(), &mut from, &mut a).await);
        assert_eq!(read_port(&mut b).await, Some(80));
        let mut got = Vec::new();
        assert!(frames_in(&mut b, &mut got).await);
        assert_eq!(got, b"hello");
    }

    #[tokio::test]
    async fn bad_port_lines_and_oversized_frames_are_refused() {
        for bad in [&b"x80\n"[..], b"0\n", b"99999\n", b"8080808\n", b"-1\n", b""] {
            let mut r = bad;
            assert_eq!(read_port(&mut r).await, None, "{bad:?}");
        }
        let big = ((MAX_FRAME + 1) as u32).to_be_bytes();
        let mut r = &big[..];
        assert!(!frames_in(&mut r, &mut Vec::new()).await);
    }
}
