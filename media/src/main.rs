//! `confer-media` will be a tenant's media node: its meeting site, WebSocket
//! signaling, room rules and the SFU on webrtc-rs's sans-IO core. Not built yet:
//! this binary only says so, and exits with a failure.

fn main() {
    eprintln!("confer-media: not built yet (the media node arrives with the media-node work)");
    std::process::exit(2);
}
