//! The agent's frame codec and messages over arbitrary bytes: reading ends, never panics, never
//! allocates by a claimed length, and every message that decodes encodes back to itself.
#![no_main]

use devspaces_protocol::agent::wire::{self, Frame};
use devspaces_protocol::agent::{FromAgent, ToAgent, MAX_FRAME};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let max = if data.first().is_some_and(|b| b & 1 == 1) { 64 * 1024 } else { MAX_FRAME };
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        let mut input = data;
        while let Ok(Some(frame)) = wire::read_frame_limited(&mut input, max).await {
            match frame {
                Frame::Json(body) => {
                    assert!(body.len() <= data.len());
                    if let Ok(m) = wire::decode::<ToAgent>(&body) {
                        let again = wire::encode_json(&m);
                        let Ok(Some(Frame::Json(b))) = wire::read_frame(&mut &again[..]).await else {
                            panic!("an encoded message does not read back")
                        };
                        assert_eq!(wire::decode::<ToAgent>(&b).ok(), Some(m));
                    }
                    if let Ok(m) = wire::decode::<FromAgent>(&body) {
                        let again = wire::encode_json(&m);
                        let Ok(Some(Frame::Json(b))) = wire::read_frame(&mut &again[..]).await else {
                            panic!("an encoded message does not read back")
                        };
                        assert_eq!(wire::decode::<FromAgent>(&b).ok(), Some(m));
                    }
                }
                Frame::Binary(body) => assert!(body.len() <= data.len()),
            }
        }
    });
});
