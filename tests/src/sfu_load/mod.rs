//! The SFU load tool (`confer-sfu-load`): the same workload on Confer (through
//! `docs/signaling.md`) and on Janus (VideoRoom), measured the same way.
//!
//! R rooms × P publishers, each sending Opus-sized audio every 20 ms and synthetic
//! VP8 video at a chosen bitrate, and S receivers per room receiving every
//! publisher. Per run: packets and bits forwarded per second, the SFU's CPU per
//! forwarded packet and peak RSS (from `/proc`), loss at the subscribers, and the
//! added delay (a send time carried in every payload, read on receipt).
//!
//! - [`driver`]: what the tool needs of an SFU (signaling only); [`confer_driver`]
//!   implements it for `confer-media`, [`janus_driver`] for Janus's VideoRoom, and
//!   [`tenants_driver`] for many tenants' nodes behind the front door.
//! - [`workload`]: the shape of a run and the comparison's scenarios.
//! - [`synthetic_media`] and [`probe`]: what publishers send, and the probe in every
//!   payload.
//! - [`peer`]: one load peer (an `rtc` connection on its own UDP socket), and
//!   [`media_thread`]: the one thread that drives them all.
//! - [`receiver_stats`] and [`proc_stats`]: what is measured, at the subscribers
//!   and in `/proc`.
//! - [`runner`]: a run and a sweep; [`report`]: the table and the JSON.

pub mod confer_driver;
pub mod driver;
pub mod janus_driver;
pub mod media_thread;
pub mod peer;
pub mod probe;
pub mod proc_stats;
pub mod receiver_stats;
pub mod report;
pub mod runner;
pub mod synthetic_media;
pub mod tenants_driver;
pub mod workload;
