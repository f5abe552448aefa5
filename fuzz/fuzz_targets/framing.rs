//! The editor protocol's frame reader (`Content-Length` framing) over arbitrary bytes: it ends,
//! never panics, and keeps no more than a body's worth of buffer.
#![no_main]

use devspaces_protocol::framing::FrameReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small limit too, so that the over-the-limit paths run as often as the others.
    let max_body = if data.first().is_some_and(|b| b & 1 == 1) { 64 } else { 64 * 1024 };
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        let mut reader = FrameReader::with_max_body(data, max_body);
        let mut outcomes = 0usize;
        while let Ok(Some(_)) = reader.read_message().await {
            outcomes += 1;
            // Each outcome consumes input: more outcomes than bytes means a loop that does not progress.
            assert!(outcomes <= data.len() + 1, "{outcomes} outcomes from {} bytes", data.len());
        }
    });
});
