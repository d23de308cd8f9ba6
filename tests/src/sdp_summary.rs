//! Just enough SDP parsing for tests to check what a peer (Janus, the node) offered
//! or answered: sections, their codecs, and their lines.

/// Just enough of an SDP to check what a peer offered or answered.
pub struct Sdp {
    /// The session-level lines.
    pub session: Vec<String>,
    /// Each m= section.
    pub media: Vec<Media>,
}

/// One m= section.
pub struct Media {
    /// `audio`, `video` or `application`.
    pub kind: String,
    /// The payload types of the m= line, in order.
    pub payload_types: Vec<String>,
    /// Its lines after the m= line.
    pub lines: Vec<String>,
}

impl Sdp {
    /// Splits `text` into its session lines and m= sections.
    pub fn parse(text: &str) -> Self {
        let mut sdp = Self { session: Vec::new(), media: Vec::new() };
        for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
            if let Some(m) = line.strip_prefix("m=") {
                let fields: Vec<&str> = m.split_whitespace().collect();
                sdp.media.push(Media {
                    kind: fields.first().copied().unwrap_or("").to_owned(),
                    payload_types: fields.iter().skip(3).map(|s| s.to_string()).collect(),
                    lines: Vec::new(),
                });
            } else if let Some(media) = sdp.media.last_mut() {
                media.lines.push(line.to_owned());
            } else {
                sdp.session.push(line.to_owned());
            }
        }
        sdp
    }

    /// Each section's kind, in order.
    pub fn kinds(&self) -> Vec<&str> {
        self.media.iter().map(|m| m.kind.as_str()).collect()
    }

    /// Whether the session level has exactly `line`.
    pub fn session_has(&self, line: &str) -> bool {
        self.session.iter().any(|l| l == line)
    }

    /// Every line but the m= lines.
    pub fn all_lines(&self) -> impl Iterator<Item = &str> {
        self.session.iter().chain(self.media.iter().flat_map(|m| m.lines.iter())).map(String::as_str)
    }
}

impl Media {
    /// Whether the section has exactly `line`.
    pub fn has(&self, line: &str) -> bool {
        self.lines.iter().any(|l| l == line)
    }

    /// Its `a=mid`.
    pub fn mid(&self) -> Option<&str> {
        self.lines.iter().find_map(|l| l.strip_prefix("a=mid:"))
    }

    /// The first payload type of the m= line and its `a=rtpmap` codec.
    pub fn first_codec(&self) -> Option<(&str, &str)> {
        let pt = self.payload_types.first()?;
        let prefix = format!("a=rtpmap:{pt} ");
        self.lines.iter().find_map(|l| l.strip_prefix(&prefix)).map(|codec| (pt.as_str(), codec))
    }

    /// The codecs of the m= line's payload types, in order, as in `opus/48000/2`.
    pub fn codecs(&self) -> Vec<String> {
        self.payload_types
            .iter()
            .filter_map(|pt| {
                let prefix = format!("a=rtpmap:{pt} ");
                self.lines.iter().find_map(|l| l.strip_prefix(&prefix)).map(str::to_owned)
            })
            .collect()
    }
}
