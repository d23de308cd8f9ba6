//! A tenant's media node, as a library: the room rules (`room`) and the SFU core
//! (`sfu`); signaling and the site are to come. Not yet runnable as a whole: the
//! `confer-media` binary says so.

pub mod room;
pub mod sfu;
