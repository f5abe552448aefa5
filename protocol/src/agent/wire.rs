//! Frame codec for the agent protocol: a kind byte, a big-endian length, then JSON or raw bytes.

use super::{FRAME_BINARY, FRAME_JSON, MAX_FRAME};
use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Debug)]
pub enum Frame {
    Json(Vec<u8>),
    Binary(Vec<u8>),
}

/// Reads one frame of at most [`MAX_FRAME`] bytes; `None` at a clean end of the stream.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Frame>> {
    read_frame_limited(r, MAX_FRAME).await
}

/// Reads one frame whose payload is at most `max` bytes (a longer one is an error before any of
/// it is read). The payload is read as it arrives, never allocated up front from the length on
/// the wire: a peer that claims 256 MiB and sends 10 bytes costs 10 bytes.
pub async fn read_frame_limited<R: AsyncRead + Unpin>(r: &mut R, max: u32) -> std::io::Result<Option<Frame>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let kind = head[0];
    if kind != FRAME_JSON && kind != FRAME_BINARY {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("unknown frame kind {kind}")));
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if len > max.min(MAX_FRAME) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the limit of {} bytes", max.min(MAX_FRAME)),
        ));
    }
    let body = read_body(r, len as usize).await?;
    Ok(Some(if kind == FRAME_JSON { Frame::Json(body) } else { Frame::Binary(body) }))
}

/// The most allocated before any of a frame arrived; past it, the buffer grows with what was sent.
const FIRST_CHUNK: usize = 64 * 1024;

async fn read_body<R: AsyncRead + Unpin>(r: &mut R, len: usize) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(len.min(FIRST_CHUNK));
    (&mut *r).take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the stream ended {} bytes into a frame of {len}", body.len()),
        ));
    }
    Ok(body)
}

pub fn decode<T: DeserializeOwned>(body: &[u8]) -> std::io::Result<T> {
    serde_json::from_slice(body)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad agent message: {e}")))
}

pub fn encode_json<T: Serialize>(msg: &T) -> Vec<u8> {
    let body = serde_json::to_vec(msg).unwrap_or_default();
    encode(FRAME_JSON, &body)
}

pub fn encode(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(kind);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

pub async fn write_all<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn frames_over_the_limit_are_refused_before_their_payload() {
        let bytes = encode(FRAME_JSON, &[b'x'; 100]);
        let e = read_frame_limited(&mut &bytes[..], 99).await.unwrap_err();
        assert_eq!(e.to_string(), "frame of 100 bytes is over the limit of 99 bytes");
        let Some(Frame::Json(body)) = read_frame_limited(&mut &bytes[..], 100).await.unwrap() else { panic!() };
        assert_eq!(body.len(), 100);
        let e = read_frame(&mut &[7u8, 0, 0, 0, 0][..]).await.unwrap_err();
        assert_eq!(e.to_string(), "unknown frame kind 7");
    }

    #[tokio::test]
    async fn a_claimed_length_costs_only_what_arrives() {
        // 256 MiB claimed, 10 bytes sent: an error at the end of the stream, no 256 MiB buffer.
        let mut bytes = vec![FRAME_BINARY, 0x10, 0, 0, 0];
        bytes.extend_from_slice(b"0123456789");
        let e = read_frame(&mut &bytes[..]).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(e.to_string(), "the stream ended 10 bytes into a frame of 268435456");
        assert!(read_frame(&mut &[][..]).await.unwrap().is_none(), "a clean end is not an error");
    }
}
