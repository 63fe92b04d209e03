//! Length-prefixed frames over a libp2p stream: `len:u32 (big-endian) payload[len]`, payload =
//! `tag:u8 body`. The length is checked against the caller's cap before anything is allocated,
//! so a peer announcing 4 GiB costs us four bytes (Syncthing CVE-2021-21404's lesson).
//!
//! A dedicated reader task turns the read half into a bounded channel of frames: the driver can
//! then `select!` between "frame arrived" and "timer fired" without cancelling a half-read frame
//! (reading is not cancel-safe; receiving from a channel is).

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Header of a payload, beyond the body: the tag byte.
pub const TAG_BYTES: usize = 1;
/// Largest payload on the sync stream: one session frame (64 KiB, `MESSAGE_BYTES_MAX`) or one
/// item chunk, plus the tag and a small fixed header.
pub const PAYLOAD_BYTES_MAX: usize = kizuna_sync::wire::MESSAGE_BYTES_MAX + 64;
/// Frames buffered between the reader task and the driver: enough to overlap one read with
/// processing, small enough that a fast peer cannot make us buffer more than ~256 KiB.
pub const QUEUED_FRAMES_MAX: usize = 4;

#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    #[error("peer announced a {len}-byte frame; the cap is {cap}")]
    Oversized { len: u64, cap: usize },
    #[error("empty frame")]
    Empty,
    #[error("stream ended inside a frame")]
    Truncated,
    #[error("stream I/O failed: {0}")]
    Io(std::io::ErrorKind),
}

/// Reads one payload; `Ok(None)` at a clean end of stream (between frames).
pub async fn read_payload<R: AsyncRead + Unpin>(
    reader: &mut R,
    cap: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        match reader.read(&mut header[got..]).await {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) => return Err(FrameError::Io(e.kind())),
        }
    }
    let len = u32::from_be_bytes(header);
    if len as u64 > cap as u64 {
        return Err(FrameError::Oversized {
            len: len.into(),
            cap,
        });
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    let mut payload = vec![0u8; len as usize];
    reader.read_exact(&mut payload).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io(e.kind())
        }
    })?;
    Ok(Some(payload))
}

/// Writes one payload (`tag ‖ body`). Callers keep bodies under their protocol's cap.
pub async fn write_payload<W: AsyncWrite + Unpin>(
    writer: &mut W,
    tag: u8,
    body: &[u8],
) -> Result<(), FrameError> {
    let len = u32::try_from(body.len() + TAG_BYTES).map_err(|_| FrameError::Oversized {
        len: body.len() as u64,
        cap: u32::MAX as usize,
    })?;
    let io = |e: std::io::Error| FrameError::Io(e.kind());
    writer.write_all(&len.to_be_bytes()).await.map_err(io)?;
    writer.write_all(&[tag]).await.map_err(io)?;
    writer.write_all(body).await.map_err(io)?;
    writer.flush().await.map_err(io)
}

/// Spawns the reader task. The channel yields payloads, then at most one error, then closes
/// (clean end of stream closes it without an error).
pub fn spawn_reader<R: AsyncRead + Unpin + Send + 'static>(
    mut reader: R,
    cap: usize,
) -> mpsc::Receiver<Result<Vec<u8>, FrameError>> {
    let (tx, rx) = mpsc::channel(QUEUED_FRAMES_MAX);
    tokio::spawn(async move {
        loop {
            let next = read_payload(&mut reader, cap).await;
            let stop = !matches!(next, Ok(Some(_)));
            let item = match next {
                Ok(Some(payload)) => Ok(payload),
                Ok(None) => return,
                Err(e) => Err(e),
            };
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn round_trip_and_clean_end() {
        let mut buf = Cursor::new(Vec::new());
        block_on(write_payload(&mut buf, 7, b"hello")).expect("write");
        let mut reader = Cursor::new(buf.into_inner());
        let payload = block_on(read_payload(&mut reader, 64)).expect("read");
        assert_eq!(payload.as_deref(), Some(&b"\x07hello"[..]));
        assert_eq!(block_on(read_payload(&mut reader, 64)), Ok(None));
    }

    #[test]
    fn oversized_is_refused_before_allocating() {
        // Announces 4 GiB − 1 and sends nothing else: must fail on the header alone.
        let mut reader = Cursor::new(vec![0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            block_on(read_payload(&mut reader, PAYLOAD_BYTES_MAX)),
            Err(FrameError::Oversized {
                len: u32::MAX.into(),
                cap: PAYLOAD_BYTES_MAX
            })
        );
        let mut reader = Cursor::new(vec![0, 0, 0, 65]);
        assert!(matches!(
            block_on(read_payload(&mut reader, 64)),
            Err(FrameError::Oversized { len: 65, .. })
        ));
    }

    #[test]
    fn truncated_and_empty() {
        let mut reader = Cursor::new(vec![0, 0, 0, 10, 1, 2]);
        assert_eq!(
            block_on(read_payload(&mut reader, 64)),
            Err(FrameError::Truncated)
        );
        let mut reader = Cursor::new(vec![0, 0]);
        assert_eq!(
            block_on(read_payload(&mut reader, 64)),
            Err(FrameError::Truncated)
        );
        let mut reader = Cursor::new(vec![0, 0, 0, 0]);
        assert_eq!(
            block_on(read_payload(&mut reader, 64)),
            Err(FrameError::Empty)
        );
    }
}
