//! Who is speaking: the dominant speaker of each room, from the audio levels that
//! publishers put in every audio packet (RFC 6464, `ssrc-audio-level`).
//!
//! Each packet adds its loudness (127 − level in −dBov: 0 is silence, 127 the
//! loudest) to its publisher's tally; four times a second every tally becomes a
//! smoothed loudness. A room's speaker is the loudest publisher above the speech
//! threshold; another one takes over only when clearly louder (hysteresis), so the
//! highlight does not flicker between two people talking at once. Per packet this
//! is one hash lookup and two additions: nothing is allocated.

use super::ice_demux::ConnId;
use super::node::Seat;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::time::Duration;

/// The RTP header extension carrying audio levels (rtc's name for it).
pub use rtc::sdp::extmap::AUDIO_LEVEL_URI;

/// How often speakers are chosen.
pub(crate) const EVALUATION_INTERVAL: Duration = Duration::from_millis(250);
/// Smoothed loudness below which a publisher is not speaking (about −80 dBov:
/// above comfort noise and a muted microphone, below any voice).
const SPEECH_LOUDNESS: f32 = 47.0;
/// How much louder than the current speaker another publisher must be to take over.
const TAKEOVER_MARGIN: f32 = 6.0;
/// Weight of the latest interval in the smoothed loudness.
const SMOOTHING: f32 = 0.5;

/// The speaker of a room changed to the participant of `seat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSpeaker {
    /// The new speaker.
    pub seat: Seat,
}

struct Voice {
    seat: Seat,
    loudness_sum: u32,
    packets: u32,
    smoothed: f32,
}

/// The speaker of every room, from the audio of every publisher.
#[derive(Default)]
pub(crate) struct SpeakerDetector {
    /// Updated for every audio packet; keyed by the node's connection ids.
    voices: FxHashMap<ConnId, Voice>,
    /// Room → the participant speaking there now.
    speakers: HashMap<String, String>,
}

impl SpeakerDetector {
    /// Starts counting the audio that connection `conn` publishes for `seat`.
    pub(crate) fn listen(&mut self, conn: ConnId, seat: &Seat) {
        self.voices.entry(conn).or_insert_with(|| Voice {
            seat: seat.clone(),
            loudness_sum: 0,
            packets: 0,
            smoothed: 0.0,
        });
    }

    /// Stops counting `conn`'s audio; a room nobody publishes audio in has no speaker.
    pub(crate) fn forget(&mut self, conn: ConnId) {
        if let Some(gone) = self.voices.remove(&conn) {
            let room = gone.seat.room;
            if !self.voices.values().any(|v| v.seat.room == room) {
                self.speakers.remove(&room);
            }
        }
    }

    /// One audio packet from `conn` whose audio-level extension byte is `level`.
    pub(crate) fn observe(&mut self, conn: ConnId, level: u8) {
        if let Some(voice) = self.voices.get_mut(&conn) {
            // The low seven bits are the level in −dBov; the top bit is voice activity.
            voice.loudness_sum += u32::from(127 - (level & 0x7f));
            voice.packets += 1;
        }
    }

    /// Closes the interval: returns the rooms whose speaker changed.
    pub(crate) fn evaluate(&mut self) -> Vec<ActiveSpeaker> {
        let mut loudest: HashMap<&str, (&Voice, f32)> = HashMap::new();
        for voice in self.voices.values_mut() {
            let interval = if voice.packets == 0 { 0.0 } else { voice.loudness_sum as f32 / voice.packets as f32 };
            voice.smoothed = voice.smoothed * (1.0 - SMOOTHING) + interval * SMOOTHING;
            voice.loudness_sum = 0;
            voice.packets = 0;
        }
        for voice in self.voices.values() {
            let entry = loudest.entry(voice.seat.room.as_str()).or_insert((voice, voice.smoothed));
            let louder = voice.smoothed > entry.1
                || (voice.smoothed == entry.1 && voice.seat.participant < entry.0.seat.participant);
            if louder {
                *entry = (voice, voice.smoothed);
            }
        }
        let mut changes = Vec::new();
        for (room, (candidate, loudness)) in loudest {
            if loudness < SPEECH_LOUDNESS {
                continue;
            }
            let current = self.speakers.get(room);
            if current.is_some_and(|c| *c == candidate.seat.participant) {
                continue;
            }
            let current_loudness = current
                .and_then(|c| self.voices.values().find(|v| v.seat.room == room && v.seat.participant == *c))
                .map_or(0.0, |v| v.smoothed);
            let takes_over = current_loudness < SPEECH_LOUDNESS || loudness > current_loudness + TAKEOVER_MARGIN;
            if takes_over {
                changes.push(ActiveSpeaker { seat: candidate.seat.clone() });
            }
        }
        for change in &changes {
            self.speakers.insert(change.seat.room.clone(), change.seat.participant.clone());
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Level byte for a loudness: −dBov in the low bits.
    fn level(dbov: u8) -> u8 {
        dbov
    }

    fn talk(d: &mut SpeakerDetector, conn: ConnId, dbov: u8, packets: usize) {
        for _ in 0..packets {
            d.observe(conn, level(dbov));
        }
    }

    fn detector() -> SpeakerDetector {
        let mut d = SpeakerDetector::default();
        d.listen(1, &Seat::new("room", "ann"));
        d.listen(2, &Seat::new("room", "bob"));
        d.listen(3, &Seat::new("elsewhere", "cat"));
        d
    }

    #[test]
    fn the_only_one_talking_becomes_the_speaker_once_and_silence_elects_nobody() {
        let mut d = detector();
        talk(&mut d, 1, 127, 12);
        talk(&mut d, 2, 127, 12);
        assert!(d.evaluate().is_empty(), "silence elects nobody");
        talk(&mut d, 1, 25, 12);
        talk(&mut d, 2, 127, 12);
        assert_eq!(d.evaluate(), [ActiveSpeaker { seat: Seat::new("room", "ann") }]);
        talk(&mut d, 1, 25, 12);
        talk(&mut d, 2, 127, 12);
        assert!(d.evaluate().is_empty(), "a change is told once");
    }

    #[test]
    fn a_clearly_louder_voice_takes_over_and_a_close_one_does_not() {
        let mut d = detector();
        for _ in 0..4 {
            talk(&mut d, 1, 30, 12);
            d.evaluate();
        }
        // Bob as loud as Ann, give or take a little: Ann stays.
        for _ in 0..6 {
            talk(&mut d, 1, 30, 12);
            talk(&mut d, 2, 28, 12);
            assert!(d.evaluate().is_empty());
        }
        // Ann stops; Bob goes on: Bob.
        let mut changes = Vec::new();
        for _ in 0..6 {
            talk(&mut d, 1, 127, 12);
            talk(&mut d, 2, 28, 12);
            changes.extend(d.evaluate());
        }
        assert_eq!(changes, [ActiveSpeaker { seat: Seat::new("room", "bob") }]);
    }

    #[test]
    fn rooms_have_their_own_speakers_and_a_publisher_who_stopped_sending_is_silent() {
        let mut d = detector();
        talk(&mut d, 1, 20, 12);
        talk(&mut d, 3, 20, 12);
        let mut changes = d.evaluate();
        changes.sort_by(|a, b| a.seat.cmp(&b.seat));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].seat, Seat::new("elsewhere", "cat"));
        assert_eq!(changes[1].seat, Seat::new("room", "ann"));
        // Ann sends nothing any more (DTX, gone quiet); Bob talks.
        let mut changes = Vec::new();
        for _ in 0..4 {
            talk(&mut d, 2, 20, 12);
            changes.extend(d.evaluate());
        }
        assert_eq!(changes, [ActiveSpeaker { seat: Seat::new("room", "bob") }]);
    }

    #[test]
    fn a_room_whose_last_voice_left_forgets_its_speaker() {
        let mut d = detector();
        talk(&mut d, 3, 20, 12);
        assert_eq!(d.evaluate().len(), 1);
        d.forget(3);
        d.listen(4, &Seat::new("elsewhere", "cat"));
        talk(&mut d, 4, 20, 12);
        assert_eq!(d.evaluate(), [ActiveSpeaker { seat: Seat::new("elsewhere", "cat") }], "told again after a restart");
    }
}
