//! HL7 v2.5 message parser over already-decoded text.
//!
//! SS-MIX2 files are ISO-2022-JP, whose double-byte runs contain every HL7 delimiter byte
//! (`../shared/docs/ssmix2.md` §5.1), so this parser only ever sees text that `jis.rs` has
//! decoded as a whole. It reads leniently: LF and CRLF terminators, a trailing `0x1C`, a missing
//! final CR and unknown escapes are tolerated and reported as [`Warning`]s with stable codes.
//! Only a text that is not an HL7 message at all (no `MSH`, unusable delimiters) is a
//! [`ParseError`].
//!
//! Parsing is one pass over the bytes that records a byte span per field; repetitions,
//! components and subcomponents are found on demand by [`Element`], and values are unescaped on
//! access into a `Cow` that borrows whenever the raw value holds no escape character. The ingest
//! benchmark needs ≥100,000 messages/s on one core, so nothing is split eagerly.
//!
//! Numbering follows HL7 and is 1-based: `field(0)` is the segment ID, and for `MSH` field 1 is
//! the field separator itself and field 2 the encoding characters, so `msh.field(9)` is the
//! message type.
//!
//! No error or warning carries message content: only segment indexes, field numbers and byte
//! offsets, because these texts reach logs and the messages are medical records.

use std::borrow::Cow;
use std::fmt;

/// The largest text [`Message::parse`] accepts. Spans are stored as `u32` to halve the memory of
/// the field index; SS-MIX2 messages are kilobytes, so this bound is never near in practice.
pub const MESSAGE_BYTES_MAX: usize = u32::MAX as usize;

/// At most this many warnings are kept per message; a junk text must not grow an unbounded list.
pub const WARNINGS_MAX: usize = 64;

/// The five delimiters of a message, read from MSH-1 and MSH-2.
///
/// All are ASCII bytes; that is what makes a byte scan of UTF-8 text correct, because no byte of
/// a multi-byte UTF-8 sequence is ASCII. A delimiter that MSH-2 does not declare is `None` and
/// never splits anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    field: u8,
    component: Option<u8>,
    repetition: Option<u8>,
    escape: Option<u8>,
    subcomponent: Option<u8>,
}

/// The text of one parsed message and an index of its segments and fields.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    text: &'a str,
    delimiters: Delimiters,
    segments: Vec<SegmentIndex>,
    /// Byte spans of every field of every segment, segment after segment; index 0 of a segment
    /// is its ID. For `MSH` index 1 is the separator character, so indexes equal HL7 numbers.
    fields: Vec<Span>,
    warnings: Vec<Warning>,
    /// Whether any value holds the escape character. When none does, values are handed out
    /// without an escape character in their delimiters, so unescaping is skipped without a
    /// search per value (most SS-MIX2 messages contain no escape at all).
    has_escapes: bool,
}

/// One segment of a [`Message`], borrowed from it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'m> {
    text: &'m str,
    fields: &'m [Span],
    delimiters: Delimiters,
    index: usize,
    /// `MSH`-like header segment: fields 1 and 2 are delimiters and are never split or unescaped.
    header: bool,
}

/// A field, repetition, component or subcomponent: raw text plus the knowledge of which
/// delimiter splits it next. Absent parts are empty elements, never errors, so callers can chain
/// `seg.field(3).component(1)` on junk without checks.
#[derive(Debug, Clone, Copy)]
pub struct Element<'m> {
    raw: &'m str,
    delimiters: Delimiters,
    depth: Depth,
}

/// The value of an element as HL7 distinguishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'m> {
    /// Nothing was sent: keep whatever the receiver has.
    Empty,
    /// The explicit null `""`: the sender says the value is deleted. Not the same as empty.
    Null,
    /// Unescaped text.
    Text(Cow<'m, str>),
}

/// MSH-9 split into its parts; the structure (MSH-9.3) is optional on read (guide §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageType<'m> {
    pub code: Cow<'m, str>,
    pub event: Option<Cow<'m, str>>,
    pub structure: Option<Cow<'m, str>>,
}

/// Why a text is not an HL7 message. No variant carries message content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message is empty")]
    Empty,
    #[error("message does not start with an MSH segment")]
    NoMsh,
    #[error("MSH has no field separator after the segment ID")]
    MissingFieldSeparator,
    #[error("MSH-1 field separator is not a printable ASCII delimiter")]
    InvalidFieldSeparator,
    #[error("MSH-2 encoding characters are not distinct printable ASCII delimiters")]
    InvalidEncodingCharacters,
    #[error("message of {bytes} bytes exceeds the parser's limit")]
    TooLarge { bytes: usize },
}

/// A tolerated deviation. Positions are 0-based segment indexes (0 is MSH) and HL7 field numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "code_name")]
pub enum Warning {
    /// A segment ended in LF instead of CR; `segment` is the first one that did.
    SegmentTerminatorLf { segment: usize },
    /// A segment ended in CR LF instead of CR; `segment` is the first one that did.
    SegmentTerminatorCrlf { segment: usize },
    /// Bytes other than CR/LF (`0x1C`, `0x0B`, spaces) follow the last segment.
    TrailingData { offset: usize },
    /// Bytes (a BOM, `0x0B`, white space) precede `MSH`.
    LeadingData { bytes: usize },
    /// The last segment has no terminator. Common and harmless (guide §7).
    MissingFinalTerminator,
    /// Two terminators in a row; the empty segment was skipped.
    EmptySegment { after_segment: usize },
    /// A segment ID is not three uppercase ASCII letters or digits.
    InvalidSegmentId { segment: usize },
    /// An escape sequence this parser does not interpret; it is kept literally.
    UnknownEscape { segment: usize, field: usize },
    /// An escape character without a closing one; kept literally.
    UnterminatedEscape { segment: usize, field: usize },
    /// A `\X..\` escape with an odd or non-hex digit string, or bytes that are not UTF-8; kept
    /// literally.
    InvalidHexEscape { segment: usize, field: usize },
    /// MSH-2 declares fewer than four encoding characters; the missing delimiters are unused.
    ShortEncodingCharacters { declared: usize },
    /// [`WARNINGS_MAX`] was reached; later deviations were not recorded.
    TooManyWarnings,
}

/// How much a warning matters to a reader of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Severity {
    /// Legal or universal practice; worth knowing, not worth flagging.
    Info,
    /// A rule was broken but the value was read.
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

#[derive(Debug, Clone, Copy)]
struct SegmentIndex {
    first_field: u32,
    field_count: u32,
}

/// Which delimiter splits an element next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    Field,
    Repetition,
    Component,
    Subcomponent,
    /// MSH-1 and MSH-2: the delimiters themselves, never split or unescaped.
    Literal,
}

/// Accumulates warnings up to [`WARNINGS_MAX`], and remembers which once-only kinds were seen.
#[derive(Debug, Default)]
struct WarningSink {
    list: Vec<Warning>,
    seen_lf: bool,
    seen_crlf: bool,
    seen_empty: bool,
}

impl Delimiters {
    /// HL7's defaults, `|^~\&`, which every SS-MIX2 file declares.
    pub const DEFAULT: Delimiters = Delimiters {
        field: b'|',
        component: Some(b'^'),
        repetition: Some(b'~'),
        escape: Some(b'\\'),
        subcomponent: Some(b'&'),
    };

    pub fn field(&self) -> char {
        char::from(self.field)
    }

    pub fn component(&self) -> Option<char> {
        self.component.map(char::from)
    }

    pub fn repetition(&self) -> Option<char> {
        self.repetition.map(char::from)
    }

    pub fn escape(&self) -> Option<char> {
        self.escape.map(char::from)
    }

    pub fn subcomponent(&self) -> Option<char> {
        self.subcomponent.map(char::from)
    }

    /// Builds delimiters from explicit characters, checking what [`Message::parse`] checks on
    /// MSH-1/MSH-2: printable ASCII punctuation, all distinct.
    pub fn new(
        field: char,
        component: char,
        repetition: char,
        escape: char,
        subcomponent: char,
    ) -> Result<Delimiters, ParseError> {
        let field = delimiter_byte(field).ok_or(ParseError::InvalidFieldSeparator)?;
        let mut encoding = [0u8; 4];
        for (slot, c) in encoding
            .iter_mut()
            .zip([component, repetition, escape, subcomponent])
        {
            *slot = delimiter_byte(c).ok_or(ParseError::InvalidEncodingCharacters)?;
        }
        Delimiters::from_bytes(field, &encoding)
    }

    /// `encoding` is MSH-2 cut to at most four bytes, in HL7 order.
    fn from_bytes(field: u8, encoding: &[u8]) -> Result<Delimiters, ParseError> {
        let mut all = [field, 0, 0, 0, 0];
        for (i, &b) in encoding.iter().enumerate() {
            if !is_delimiter_byte(b) || all[..=i].contains(&b) {
                return Err(ParseError::InvalidEncodingCharacters);
            }
            all[i + 1] = b;
        }
        Ok(Delimiters {
            field,
            component: encoding.first().copied(),
            repetition: encoding.get(1).copied(),
            escape: encoding.get(2).copied(),
            subcomponent: encoding.get(3).copied(),
        })
    }

    fn is_any(&self, b: u8) -> bool {
        b == self.field
            || Some(b) == self.component
            || Some(b) == self.repetition
            || Some(b) == self.subcomponent
    }
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters::DEFAULT
    }
}

impl<'a> Message<'a> {
    /// Parses decoded message text. See the module documentation for what is tolerated.
    pub fn parse(text: &'a str) -> Result<Message<'a>, ParseError> {
        if text.len() > MESSAGE_BYTES_MAX {
            return Err(ParseError::TooLarge { bytes: text.len() });
        }
        let mut sink = WarningSink::default();
        let bytes = text.as_bytes();

        // MLLP framing (0x0B … 0x1C) and stray white space around a message are common when files
        // are cut from an interface log; they are not content.
        let start = bytes
            .iter()
            .position(|&b| !is_frame_junk(b))
            .ok_or(ParseError::Empty)?;
        // Also skip a UTF-8 BOM that some tools prepend.
        let start = if text[start..].starts_with('\u{feff}') {
            start + '\u{feff}'.len_utf8()
        } else {
            start
        };
        if start > 0 {
            sink.push(Warning::LeadingData { bytes: start });
        }
        // Walk back over trailing "segments" made only of terminators and frame junk (MLLP's
        // 0x1C, white space): they are framing. A space inside the last real segment is part of
        // its last value and stays. An unterminated last segment loses only MLLP's bytes.
        let mut end = bytes.len();
        loop {
            let segment_start = bytes[start..end]
                .iter()
                .rposition(|&b| b == b'\r' || b == b'\n')
                .map(|p| start + p + 1);
            match segment_start {
                Some(s) if bytes[s..end].iter().all(|&b| is_frame_junk(b)) => end = s - 1,
                _ => break,
            }
        }
        if end == bytes.len() {
            while end > start && matches!(bytes[end - 1], 0x1C | 0x0B) {
                end -= 1;
            }
        }
        let trailer = &bytes[end..];
        if trailer.iter().any(|&b| b != b'\r' && b != b'\n') {
            sink.push(Warning::TrailingData { offset: end });
        }
        if !trailer.iter().any(|&b| b == b'\r' || b == b'\n') {
            sink.push(Warning::MissingFinalTerminator);
        }

        let body = &bytes[start..end];
        if !body.starts_with(b"MSH") {
            return Err(ParseError::NoMsh);
        }
        let field = match body.get(3) {
            None | Some(b'\r' | b'\n') => return Err(ParseError::MissingFieldSeparator),
            Some(&b) if is_delimiter_byte(b) => b,
            Some(_) => return Err(ParseError::InvalidFieldSeparator),
        };
        let encoding_len = body[4..]
            .iter()
            .position(|&b| b == field || b == b'\r' || b == b'\n')
            .unwrap_or(body.len() - 4);
        let encoding = &body[4..4 + encoding_len];
        // HL7 2.7 adds a fifth character (truncation); anything longer is not MSH-2.
        if encoding.len() > 5 {
            return Err(ParseError::InvalidEncodingCharacters);
        }
        if encoding.len() < 4 {
            sink.push(Warning::ShortEncodingCharacters {
                declared: encoding.len(),
            });
        }
        let delimiters = Delimiters::from_bytes(field, &encoding[..encoding.len().min(4)])?;

        let mut message = Message {
            text,
            delimiters,
            segments: Vec::with_capacity(16),
            fields: Vec::with_capacity(body.len() / 8),
            warnings: Vec::new(),
            has_escapes: false,
        };
        message.index(start, end, &mut sink);
        message.warnings = sink.list;
        Ok(message)
    }

    /// One pass over `text[start..end]` recording segment and field spans. Each byte is looked
    /// up once in a class table; only terminators, field separators and escapes stop the scan.
    /// (UTF-8 multi-byte sequences contain no ASCII bytes, so a byte scan is exact.)
    fn index(&mut self, start: usize, end: usize, sink: &mut WarningSink) {
        const PLAIN: u8 = 0;
        const TERMINATOR: u8 = 1;
        const FIELD: u8 = 2;
        const ESCAPE: u8 = 3;
        let bytes = self.text.as_bytes();
        let d = self.delimiters;
        let mut class = [PLAIN; 256];
        if let Some(esc) = d.escape {
            class[usize::from(esc)] = ESCAPE;
        }
        class[usize::from(d.field)] = FIELD;
        class[usize::from(b'\r')] = TERMINATOR;
        class[usize::from(b'\n')] = TERMINATOR;

        // The scan looks each byte up once in the class table; a SIMD search (memchr3) was
        // measured slower here because HL7 fields are short (about 10 bytes), and so was a
        // word-at-a-time (SWAR) search for the four stop bytes (49.3M against 35.7M
        // instructions for 2,000 messages).
        // A plain indexed loop over a slice of known length: no bounds checks, no iterator.
        let scanned = bytes.get(..end).unwrap_or(bytes);
        let next_stop = |from: usize| -> usize {
            let mut i = from;
            while i < scanned.len() {
                if class[usize::from(scanned[i])] != PLAIN {
                    return i;
                }
                i += 1;
            }
            end
        };

        let mut segment_start = start;
        let mut first_field = self.fields.len();
        let mut field_start = start;
        let mut pos = next_stop(start);
        loop {
            let kind = if pos >= end {
                TERMINATOR
            } else {
                class[usize::from(bytes[pos])]
            };
            match kind {
                PLAIN => {}
                FIELD => {
                    self.push_field(field_start, pos);
                    // A header segment's field 1 is the separator itself (MSH-1), so that
                    // indexes match HL7 numbers for every later field.
                    if self.fields.len() - first_field == 1
                        && is_header_id(&bytes[segment_start..pos])
                    {
                        self.push_field(pos, pos + 1);
                    }
                    field_start = pos + 1;
                }
                ESCAPE => {
                    let field = self.fields.len() - first_field;
                    // MSH-2 contains the escape character itself; it is not an escape sequence.
                    let in_msh2 =
                        field == 2 && is_header_id(self.field_text(first_field).as_bytes());
                    if !in_msh2 {
                        self.has_escapes = true;
                        let segment_end = bytes[pos..end]
                            .iter()
                            .position(|&b| b == b'\r' || b == b'\n')
                            .map_or(end, |i| pos + i);
                        pos = check_escape(
                            bytes,
                            pos,
                            segment_end,
                            d,
                            self.segments.len(),
                            field,
                            sink,
                        );
                    }
                }
                _ => {
                    // The last segment's terminator lies in the trailer after `end`; reading it
                    // there classifies it like any other.
                    let next = match bytes.get(pos) {
                        Some(b'\r') if bytes.get(pos + 1) == Some(&b'\n') => {
                            sink.crlf(self.segments.len());
                            pos + 2
                        }
                        Some(b'\n') => {
                            sink.lf(self.segments.len());
                            pos + 1
                        }
                        _ => pos + 1,
                    };
                    if pos == segment_start {
                        sink.empty(self.segments.len().saturating_sub(1));
                    } else {
                        self.push_field(field_start, pos);
                        self.finish_segment(first_field, sink);
                    }
                    if pos >= end {
                        break;
                    }
                    segment_start = next;
                    field_start = next;
                    first_field = self.fields.len();
                    pos = next_stop(next);
                    continue;
                }
            }
            pos = next_stop(pos + 1);
        }
    }

    fn finish_segment(&mut self, first_field: usize, sink: &mut WarningSink) {
        let segment = self.segments.len();
        let id = self.field_text(first_field);
        if id.len() != 3
            || !id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            sink.push(Warning::InvalidSegmentId { segment });
        }
        self.segments.push(SegmentIndex {
            // Both counts are bounded by the text length, which parse() bounds by u32::MAX.
            first_field: first_field as u32,
            field_count: (self.fields.len() - first_field) as u32,
        });
    }

    fn push_field(&mut self, start: usize, end: usize) {
        self.fields.push(Span {
            start: start as u32,
            end: end as u32,
        });
    }

    fn field_text(&self, field_index: usize) -> &'a str {
        self.fields
            .get(field_index)
            .map_or("", |s| span_str(self.text, *s))
    }

    /// The decoded text this message indexes, unchanged.
    pub fn text(&self) -> &'a str {
        self.text
    }

    pub fn delimiters(&self) -> Delimiters {
        self.delimiters
    }

    /// Tolerated deviations in text order, at most [`WARNINGS_MAX`] (+1 marker).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The segment at a 0-based index; 0 is MSH.
    pub fn segment_at(&self, index: usize) -> Option<Segment<'_>> {
        let seg = self.segments.get(index)?;
        let first = seg.first_field as usize;
        let fields = self.fields.get(first..first + seg.field_count as usize)?;
        let header = fields
            .first()
            .is_some_and(|s| is_header_id(span_str(self.text, *s).as_bytes()));
        let delimiters = if self.has_escapes {
            self.delimiters
        } else {
            Delimiters {
                escape: None,
                ..self.delimiters
            }
        };
        Some(Segment {
            text: self.text,
            fields,
            delimiters,
            index,
            header,
        })
    }

    /// All segments in order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> + '_ {
        (0..self.segments.len()).filter_map(move |i| self.segment_at(i))
    }

    /// All segments with this ID, in order.
    pub fn segments_with_id<'s>(&'s self, id: &'s str) -> impl Iterator<Item = Segment<'s>> + 's {
        (0..self.segments.len())
            .filter(move |&i| self.segment_is(i, id))
            .filter_map(move |i| self.segment_at(i))
    }

    /// The first segment with this ID.
    pub fn segment(&self, id: &str) -> Option<Segment<'_>> {
        (0..self.segments.len())
            .find(|&i| self.segment_is(i, id))
            .and_then(|i| self.segment_at(i))
    }

    /// Whether the segment at `index` has this ID, without building the [`Segment`]. A byte loop:
    /// IDs are three bytes, and `==` on slices of unknown length calls `memcmp`.
    fn segment_is(&self, index: usize, id: &str) -> bool {
        let seg_id = self
            .segments
            .get(index)
            .map_or("", |seg| self.field_text(seg.first_field as usize));
        seg_id.len() == id.len() && seg_id.bytes().zip(id.bytes()).all(|(a, b)| a == b)
    }

    /// The MSH segment, which parse() guarantees is segment 0.
    pub fn msh(&self) -> Segment<'_> {
        let first = self.segments.first().copied().unwrap_or(SegmentIndex {
            first_field: 0,
            field_count: 0,
        });
        let first_field = first.first_field as usize;
        Segment {
            text: self.text,
            fields: self
                .fields
                .get(first_field..first_field + first.field_count as usize)
                .unwrap_or(&[]),
            delimiters: self.delimiters,
            index: 0,
            header: true,
        }
    }

    /// MSH-9 as type, event and optional structure; `None` when MSH-9.1 is empty or null.
    pub fn message_type(&self) -> Option<MessageType<'a>> {
        // Built from the raw span so the parts borrow the text, not this message.
        let msh9 = Element {
            raw: self.msh_raw(9),
            delimiters: self.delimiters,
            depth: Depth::Field,
        };
        Some(MessageType {
            code: msh9.component(1).text()?,
            event: msh9.component(2).text(),
            structure: msh9.component(3).text(),
        })
    }

    /// MSH-7 date/time of message, raw (`YYYYMMDDHHMMSS[.S…]`).
    pub fn timestamp(&self) -> Option<&'a str> {
        non_empty(self.msh_raw(7))
    }

    /// MSH-10 message control ID, raw.
    pub fn control_id(&self) -> Option<&'a str> {
        non_empty(self.msh_raw(10))
    }

    /// MSH-18 character set, raw (`~ISO IR87` or `~ISOIR87` in SS-MIX2).
    pub fn character_set(&self) -> &'a str {
        self.msh_raw(18)
    }

    /// MSH-20 alternate character set handling scheme, raw.
    pub fn character_set_scheme(&self) -> &'a str {
        self.msh_raw(20)
    }

    /// MSH-21 message profile identifier, raw.
    pub fn profile(&self) -> &'a str {
        self.msh_raw(21)
    }

    fn msh_raw(&self, n: usize) -> &'a str {
        let first = self.segments.first().map_or(0, |s| s.first_field as usize);
        let count = self.segments.first().map_or(0, |s| s.field_count as usize);
        if n < count {
            self.field_text(first + n)
        } else {
            ""
        }
    }
}

impl<'m> Segment<'m> {
    /// The segment ID (field 0).
    pub fn id(&self) -> &'m str {
        self.fields.first().map_or("", |s| span_str(self.text, *s))
    }

    /// 0-based position of the segment in its message.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of fields present, not counting the ID.
    pub fn field_count(&self) -> usize {
        self.fields.len().saturating_sub(1)
    }

    /// The segment's raw text without its terminator.
    pub fn raw(&self) -> &'m str {
        match (self.fields.first(), self.fields.last()) {
            (Some(a), Some(b)) => self
                .text
                .get(a.start as usize..b.end as usize)
                .unwrap_or(""),
            _ => "",
        }
    }

    /// Field `n` (1-based; 0 is the ID). Missing fields are empty.
    pub fn field(&self, n: usize) -> Element<'m> {
        let raw = self.fields.get(n).map_or("", |s| span_str(self.text, *s));
        let depth = if n == 0 || (self.header && n <= 2) {
            Depth::Literal
        } else {
            Depth::Field
        };
        Element {
            raw,
            delimiters: self.delimiters,
            depth,
        }
    }

    /// Shorthand for `field(n).component(c)` (first repetition).
    pub fn component(&self, n: usize, c: usize) -> Element<'m> {
        self.field(n).component(c)
    }

    /// Unescaped text of the whole field `n`; `None` if empty or null. Meant for primitive
    /// fields: on a composite field, `\S\` would become a `^` indistinguishable from a real
    /// component separator, so use [`Element::component`] there.
    pub fn text(&self, n: usize) -> Option<Cow<'m, str>> {
        self.field(n).text()
    }
}

impl<'m> Element<'m> {
    /// The raw text, not unescaped.
    pub fn raw(&self) -> &'m str {
        self.raw
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// True for HL7's explicit null `""`.
    pub fn is_null(&self) -> bool {
        self.raw == "\"\""
    }

    /// The value, keeping empty and null apart. Unescapes escape sequences; exact on leaves
    /// (subcomponents, or any element without deeper delimiters).
    pub fn value(&self) -> Value<'m> {
        if self.raw.is_empty() {
            Value::Empty
        } else if self.is_null() {
            Value::Null
        } else if self.depth == Depth::Literal {
            Value::Text(Cow::Borrowed(self.raw))
        } else {
            Value::Text(unescape(self.raw, &self.delimiters))
        }
    }

    /// Unescaped text; `None` for empty and for null (use [`Element::value`] to tell them apart).
    pub fn text(&self) -> Option<Cow<'m, str>> {
        match self.value() {
            Value::Text(t) => Some(t),
            Value::Empty | Value::Null => None,
        }
    }

    /// Repetitions of a field; any other element is its own single repetition.
    pub fn repetitions(&self) -> impl Iterator<Item = Element<'m>> + 'm {
        let d = self.delimiters;
        let (raw, sep, depth) = match self.depth {
            Depth::Field => (self.raw, d.repetition, Depth::Repetition),
            other => (self.raw, None, other),
        };
        split(raw, sep).map(move |raw| Element {
            raw,
            delimiters: d,
            depth,
        })
    }

    /// Repetition `n` (1-based) of a field.
    pub fn repetition(&self, n: usize) -> Element<'m> {
        // Same result as `repetitions().nth(n - 1)`, without the iterator: every component
        // access on a field goes through here.
        match self.depth {
            Depth::Field => self.piece(self.delimiters.repetition, n, Depth::Repetition),
            _ if n == 1 => *self,
            _ => Element {
                raw: "",
                delimiters: self.delimiters,
                depth: Depth::Repetition,
            },
        }
    }

    /// Component `n` (1-based). On a field this reads the first repetition; on a component or
    /// subcomponent, component 1 is the element itself (HL7's rule for primitive values).
    pub fn component(&self, n: usize) -> Element<'m> {
        match self.depth {
            // `self.repetition(1).component(n)` in one scan that ends at the first repetition
            // separator, instead of one scan for it and a second for the component.
            Depth::Field => Element {
                raw: nth_piece_of_first(
                    self.raw,
                    self.delimiters.component,
                    self.delimiters.repetition,
                    n,
                ),
                delimiters: self.delimiters,
                depth: Depth::Component,
            },
            Depth::Repetition => self.piece(self.delimiters.component, n, Depth::Component),
            Depth::Component | Depth::Subcomponent | Depth::Literal => {
                self.piece(None, n, self.depth)
            }
        }
    }

    /// The first `N` components in one pass (missing ones empty): cheaper than `N` calls to
    /// [`Element::component`], each of which scans from the start. Same results.
    pub fn first_components<const N: usize>(&self) -> [Element<'m>; N] {
        let (raw, sep, stop, depth) = match self.depth {
            // The first repetition's components: the scan ends at the repetition separator.
            Depth::Field => (
                self.raw,
                self.delimiters.component,
                self.delimiters.repetition,
                Depth::Component,
            ),
            Depth::Repetition => (self.raw, self.delimiters.component, None, Depth::Component),
            Depth::Component | Depth::Subcomponent | Depth::Literal => {
                (self.raw, None, None, self.depth)
            }
        };
        self.first_pieces(raw, sep, stop, depth)
    }

    /// The first `N` subcomponents in one pass; see [`Element::first_components`].
    pub fn first_subcomponents<const N: usize>(&self) -> [Element<'m>; N] {
        let (raw, sep, depth) = match self.depth {
            Depth::Field | Depth::Repetition => (
                self.component(1).raw,
                self.delimiters.subcomponent,
                Depth::Subcomponent,
            ),
            Depth::Component => (self.raw, self.delimiters.subcomponent, Depth::Subcomponent),
            Depth::Subcomponent | Depth::Literal => (self.raw, None, self.depth),
        };
        self.first_pieces(raw, sep, None, depth)
    }

    /// The first `N` pieces of `raw` split on `sep`, all within the part of `raw` before the
    /// first `stop` byte (the first repetition, when `stop` is the repetition separator).
    fn first_pieces<const N: usize>(
        &self,
        raw: &'m str,
        sep: Option<u8>,
        stop: Option<u8>,
        depth: Depth,
    ) -> [Element<'m>; N] {
        let empty = Element {
            raw: "",
            delimiters: self.delimiters,
            depth,
        };
        let mut out = [empty; N];
        let Some(sep) = sep else {
            if let Some(first) = out.first_mut() {
                first.raw = nth_piece(raw, stop, 1);
            }
            return out;
        };
        // Without a stop byte, `sep` stands in for it: it is tested first, so it never stops.
        let stop = stop.unwrap_or(sep);
        let mut k = 0;
        let mut start = 0;
        let end = scan_boundaries(raw.as_bytes(), sep, stop, |i, is_sep| {
            if let Some(slot) = out.get_mut(k) {
                // `sep` and `stop` are ASCII, so both ends are character boundaries.
                slot.raw = raw.get(start..i).unwrap_or("");
            }
            k += 1;
            start = i + 1;
            is_sep && k < N
        });
        if end.is_none()
            && let Some(slot) = out.get_mut(k)
        {
            slot.raw = raw.get(start..).unwrap_or("");
        }
        out
    }

    /// Subcomponent `n` (1-based). On a field or repetition this reads component 1.
    pub fn subcomponent(&self, n: usize) -> Element<'m> {
        match self.depth {
            Depth::Field | Depth::Repetition => self.component(1).subcomponent(n),
            Depth::Component => self.piece(self.delimiters.subcomponent, n, Depth::Subcomponent),
            Depth::Subcomponent | Depth::Literal => self.piece(None, n, self.depth),
        }
    }

    fn piece(&self, sep: Option<u8>, n: usize, depth: Depth) -> Element<'m> {
        let raw = nth_piece(self.raw, sep, n);
        Element {
            raw,
            delimiters: self.delimiters,
            depth,
        }
    }
}

impl Value<'_> {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl Warning {
    /// A stable machine-readable code, e.g. for validator findings and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::SegmentTerminatorLf { .. } => "hl7.lf_terminator",
            Warning::SegmentTerminatorCrlf { .. } => "hl7.crlf_terminator",
            Warning::TrailingData { .. } => "hl7.trailing_data",
            Warning::LeadingData { .. } => "hl7.leading_data",
            Warning::MissingFinalTerminator => "hl7.missing_final_terminator",
            Warning::EmptySegment { .. } => "hl7.empty_segment",
            Warning::InvalidSegmentId { .. } => "hl7.invalid_segment_id",
            Warning::UnknownEscape { .. } => "hl7.unknown_escape",
            Warning::UnterminatedEscape { .. } => "hl7.unterminated_escape",
            Warning::InvalidHexEscape { .. } => "hl7.invalid_hex_escape",
            Warning::ShortEncodingCharacters { .. } => "hl7.short_encoding_characters",
            Warning::TooManyWarnings => "hl7.too_many_warnings",
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            // Every SS-MIX2 sample ends in CR 0x1C. A missing final CR is tolerated (NHO's own
            // samples lack it) but reported: it is also exactly what a file cut short looks like.
            Warning::TrailingData { .. } => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Warning::SegmentTerminatorLf { segment } => {
                write!(
                    f,
                    "segments end in LF instead of CR, first at segment {segment}"
                )
            }
            Warning::SegmentTerminatorCrlf { segment } => {
                write!(
                    f,
                    "segments end in CR LF instead of CR, first at segment {segment}"
                )
            }
            Warning::TrailingData { offset } => {
                write!(
                    f,
                    "non-segment bytes follow the last segment at byte {offset}"
                )
            }
            Warning::LeadingData { bytes } => write!(f, "{bytes} bytes precede the MSH segment"),
            Warning::MissingFinalTerminator => write!(f, "the last segment has no terminator"),
            Warning::EmptySegment { after_segment } => {
                write!(f, "empty segment skipped after segment {after_segment}")
            }
            Warning::InvalidSegmentId { segment } => {
                write!(
                    f,
                    "segment {segment} has an ID that is not three uppercase letters or digits"
                )
            }
            Warning::UnknownEscape { segment, field } => {
                write!(
                    f,
                    "unknown escape sequence kept literally in segment {segment} field {field}"
                )
            }
            Warning::UnterminatedEscape { segment, field } => {
                write!(
                    f,
                    "unterminated escape kept literally in segment {segment} field {field}"
                )
            }
            Warning::InvalidHexEscape { segment, field } => {
                write!(
                    f,
                    "invalid hexadecimal escape kept literally in segment {segment} field {field}"
                )
            }
            Warning::ShortEncodingCharacters { declared } => {
                write!(f, "MSH-2 declares only {declared} of 4 encoding characters")
            }
            Warning::TooManyWarnings => write!(f, "further warnings were not recorded"),
        }
    }
}

impl ParseError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::Empty => "hl7.empty",
            ParseError::NoMsh => "hl7.no_msh",
            ParseError::MissingFieldSeparator => "hl7.missing_field_separator",
            ParseError::InvalidFieldSeparator => "hl7.invalid_field_separator",
            ParseError::InvalidEncodingCharacters => "hl7.invalid_encoding_characters",
            ParseError::TooLarge { .. } => "hl7.too_large",
        }
    }
}

impl WarningSink {
    fn push(&mut self, w: Warning) {
        if self.list.len() < WARNINGS_MAX {
            self.list.push(w);
        } else if self.list.len() == WARNINGS_MAX {
            self.list.push(Warning::TooManyWarnings);
        }
    }

    fn lf(&mut self, segment: usize) {
        if !self.seen_lf {
            self.seen_lf = true;
            self.push(Warning::SegmentTerminatorLf { segment });
        }
    }

    fn crlf(&mut self, segment: usize) {
        if !self.seen_crlf {
            self.seen_crlf = true;
            self.push(Warning::SegmentTerminatorCrlf { segment });
        }
    }

    fn empty(&mut self, after_segment: usize) {
        if !self.seen_empty {
            self.seen_empty = true;
            self.push(Warning::EmptySegment { after_segment });
        }
    }
}

/// Escapes `text` for use as one subcomponent value written with delimiters `d`.
///
/// CR and LF become `\X0D\` and `\X0A\` because a raw CR would end the segment. A value that is
/// exactly `""` is written `\X22\"` so that it is not read back as the explicit null. If `d` has
/// no escape character nothing can be escaped and `text` is returned unchanged.
pub fn escape(text: &str, d: &Delimiters) -> String {
    let Some(esc) = d.escape else {
        return text.to_owned();
    };
    let esc = char::from(esc);
    let mut out = String::with_capacity(text.len() + 8);
    if text == "\"\"" {
        out.push(esc);
        out.push_str("X22");
        out.push(esc);
        out.push('"');
        return out;
    }
    for c in text.chars() {
        let code = if c == esc {
            Some("E")
        } else if c == d.field() {
            Some("F")
        } else if Some(c) == d.component() {
            Some("S")
        } else if Some(c) == d.repetition() {
            Some("R")
        } else if Some(c) == d.subcomponent() {
            Some("T")
        } else if c == '\r' {
            Some("X0D")
        } else if c == '\n' {
            Some("X0A")
        } else {
            None
        };
        match code {
            Some(code) => {
                out.push(esc);
                out.push_str(code);
                out.push(esc);
            }
            None => out.push(c),
        }
    }
    out
}

/// Resolves escape sequences in one leaf value. Borrows when there is nothing to resolve.
/// Sequences that are not interpreted are kept literally (the parse reported them).
#[inline]
pub fn unescape<'t>(raw: &'t str, d: &Delimiters) -> Cow<'t, str> {
    // The common case, no escape character declared (or none in the message, see
    // `Message::has_escapes`), is inlined into every caller.
    match d.escape {
        None => Cow::Borrowed(raw),
        Some(esc) => unescape_with(raw, d, esc),
    }
}

fn unescape_with<'t>(raw: &'t str, d: &Delimiters, esc: u8) -> Cow<'t, str> {
    if !raw.as_bytes().contains(&esc) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.bytes().position(|b| b == esc) {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.bytes().position(|b| b == esc) else {
            // Unterminated: keep the escape character and the rest literally.
            out.push_str(&rest[open..]);
            return Cow::Owned(out);
        };
        let body = &after[..close];
        match resolve_escape(body, d) {
            Some(Resolved::Char(c)) => out.push(char::from(c)),
            Some(Resolved::Hex(s)) => out.push_str(&s),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

enum Resolved {
    Char(u8),
    Hex(String),
}

/// Interprets the body of one escape sequence, `None` when it is to be kept literally.
fn resolve_escape(body: &str, d: &Delimiters) -> Option<Resolved> {
    let b = body.as_bytes();
    match b {
        b"F" => Some(Resolved::Char(d.field)),
        b"S" => d.component.map(Resolved::Char),
        b"T" => d.subcomponent.map(Resolved::Char),
        b"R" => d.repetition.map(Resolved::Char),
        b"E" => d.escape.map(Resolved::Char),
        [b'X', hex @ ..] => decode_hex(hex).map(Resolved::Hex),
        _ => None,
    }
}

/// `\Xhh…\` as bytes; accepted only when they form UTF-8, since the text is already Unicode and
/// bytes of another charset cannot be interpreted here.
fn decode_hex(hex: &[u8]) -> Option<String> {
    if hex.is_empty() || !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes = hex
        .chunks_exact(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            // Two hex digits are at most 0xFF.
            Some((hi * 16 + lo) as u8)
        })
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// Checks the escape sequence starting at `bytes[open]` (the escape character) and returns the
/// index of its closing character, or `open` when it is unterminated so the scan goes on.
fn check_escape(
    bytes: &[u8],
    open: usize,
    end: usize,
    d: Delimiters,
    segment: usize,
    field: usize,
    sink: &mut WarningSink,
) -> usize {
    let esc = d.escape.unwrap_or(b'\\');
    let close = bytes[open + 1..end]
        .iter()
        .position(|&b| b == esc || d.is_any(b))
        .map(|i| open + 1 + i);
    let Some(close) = close.filter(|&c| bytes[c] == esc) else {
        sink.push(Warning::UnterminatedEscape { segment, field });
        return open;
    };
    let body = &bytes[open + 1..close];
    match body {
        b"F" | b"S" | b"T" | b"R" | b"E" => {}
        [b'X', hex @ ..] => {
            if decode_hex(hex).is_none() {
                sink.push(Warning::InvalidHexEscape { segment, field });
            }
        }
        // Formatting escapes (highlight, normal text, `.br` and other FT commands) and the
        // character-set escapes C, M and Z are legal HL7; they are kept literally on purpose.
        b"H" | b"N" | [b'.', ..] | [b'C' | b'M' | b'Z', ..] => {}
        _ => sink.push(Warning::UnknownEscape { segment, field }),
    }
    close
}

/// Splits on `sep`, or yields `raw` whole when the delimiter is not declared. A byte scan:
/// `sep` is ASCII, so every cut is a character boundary.
fn split(raw: &str, sep: Option<u8>) -> impl Iterator<Item = &str> {
    let mut rest = Some(raw);
    std::iter::from_fn(move || {
        let current = rest?;
        let Some(sep) = sep else {
            rest = None;
            return Some(current);
        };
        match current.bytes().position(|b| b == sep) {
            Some(i) => {
                rest = current.get(i + 1..);
                current.get(..i)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// The `n`th (1-based) piece of `raw` split on `sep`; empty when there is no such piece. A byte
/// scan without an iterator: this is the hot path of extraction.
fn nth_piece(raw: &str, sep: Option<u8>, n: usize) -> &str {
    let Some(sep) = sep else {
        return if n == 1 { raw } else { "" };
    };
    nth_piece_before(raw, sep, sep, n)
}

/// `nth_piece(nth_piece(raw, stop, 1), sep, n)` in one scan: piece `n` of the part of `raw`
/// before the first `stop` byte (component `n` of a field's first repetition).
fn nth_piece_of_first(raw: &str, sep: Option<u8>, stop: Option<u8>, n: usize) -> &str {
    let Some(sep) = sep else {
        return if n == 1 { nth_piece(raw, stop, 1) } else { "" };
    };
    // Without a stop byte, `sep` stands in for it: it is tested first, so it never stops.
    nth_piece_before(raw, sep, stop.unwrap_or(sep), n)
}

/// Piece `n` (1-based) of `raw` split on `sep`, within the part before the first `stop` byte
/// (`stop == sep` for no stop).
fn nth_piece_before(raw: &str, sep: u8, stop: u8, n: usize) -> &str {
    let mut k = 1;
    let mut start = 0;
    let mut found = None;
    let end = scan_boundaries(raw.as_bytes(), sep, stop, |i, is_sep| {
        if k == n {
            found = Some((start, i));
            return false;
        }
        k += 1;
        start = i + 1;
        is_sep
    });
    // `sep` and `stop` are ASCII, so both ends are character boundaries.
    match (found, end) {
        (Some((a, b)), _) => raw.get(a..b).unwrap_or(""),
        // Stopped by `stop` before piece `n`.
        (None, Some(_)) => "",
        // Ran to the end: the last piece is `n` or there is none.
        (None, None) if k == n => raw.get(start..).unwrap_or(""),
        (None, None) => "",
    }
}

/// Calls `f(position, is_sep)` for each byte of `bytes` equal to `sep` or `stop`, in order, until
/// `f` returns false; returns that position, or `None` when the scan reached the end.
///
/// Eight bytes at a time (SWAR: a word's bytes equal to a delimiter are found with integer
/// arithmetic, no `unsafe`, any architecture): HL7 values are short but names and addresses in
/// UTF-8 are three bytes a character, and a byte loop was most of extraction's time.
fn scan_boundaries(
    bytes: &[u8],
    sep: u8,
    stop: u8,
    mut f: impl FnMut(usize, bool) -> bool,
) -> Option<usize> {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let (sep_w, stop_w) = (ONES * u64::from(sep), ONES * u64::from(stop));
    // High bit of each byte of `v` that is zero, exactly (no borrow between bytes).
    let zero_bytes = |v: u64| !(((v & LOW7) + LOW7) | v | LOW7);
    let mut base = 0;
    while let Some(chunk) = bytes.get(base..base + 8) {
        let w = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
        let mut hits = zero_bytes(w ^ sep_w) | zero_bytes(w ^ stop_w);
        while hits != 0 {
            let i = base + (hits.trailing_zeros() / 8) as usize;
            if !f(i, chunk.get(i - base) == Some(&sep)) {
                return Some(i);
            }
            hits &= hits - 1;
        }
        base += 8;
    }
    if base == bytes.len() {
        return None;
    }
    // The last 1–7 bytes: when there are 8 bytes in all, one more word ending at the end,
    // overlapping what was scanned and with those bytes masked off; else one by one.
    if let Some(last) = bytes.len().checked_sub(8)
        && let Some(chunk) = bytes.get(last..)
    {
        let w = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
        let seen = (base - last) * 8; // bits of the word already scanned: 8..=56
        let mut hits = (zero_bytes(w ^ sep_w) | zero_bytes(w ^ stop_w)) >> seen << seen;
        while hits != 0 {
            let i = last + (hits.trailing_zeros() / 8) as usize;
            if !f(i, chunk.get(i - last) == Some(&sep)) {
                return Some(i);
            }
            hits &= hits - 1;
        }
        return None;
    }
    for (i, &b) in bytes.iter().enumerate().skip(base) {
        if (b == sep || b == stop) && !f(i, b == sep) {
            return Some(i);
        }
    }
    None
}

fn span_str(text: &str, s: Span) -> &str {
    text.get(s.start as usize..s.end as usize).unwrap_or("")
}

fn non_empty(s: &str) -> Option<&str> {
    if s.is_empty() { None } else { Some(s) }
}

fn is_header_id(id: &[u8]) -> bool {
    matches!(id, b"MSH" | b"BHS" | b"FHS")
}

fn is_frame_junk(b: u8) -> bool {
    matches!(b, 0x1C | 0x0B | 0x00 | b'\r' | b'\n' | b' ' | b'\t')
}

/// Printable ASCII punctuation: what HL7 allows as a delimiter and what a byte scan needs.
fn is_delimiter_byte(b: u8) -> bool {
    b.is_ascii_punctuation()
}

fn delimiter_byte(c: char) -> Option<u8> {
    u8::try_from(c).ok().filter(|&b| is_delimiter_byte(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ADT22: &str = "MSH|^~\\&|HIS123|SEND|GW|RCV|20111220224447.3399||ADT^A01^ADT_A01|20111220000001|P|2.5||||||~ISO IR87||ISO 2022-1994|SS-MIX2_1.20^SS-MIX2^1.2.392.200250.2.1.100.1.2.120^ISO\r\
EVN||201112202100|||||SEND001\r\
PID|0001||9999013||患者^太郎^^^^^L^I~カンジャ^タロウ^^^^^L^P||19480405|M\r\x1c";

    /// Parses `text` and checks the warning codes it produces.
    fn check<'t>(text: &'t str, codes: &[&str]) -> Message<'t> {
        let msg = Message::parse(text).expect("test message parses");
        let got: Vec<&str> = msg.warnings().iter().map(Warning::code).collect();
        assert_eq!(got, codes, "warnings for {text:?}");
        msg
    }

    fn leaf(raw: &str) -> Element<'_> {
        Element {
            raw,
            delimiters: Delimiters::DEFAULT,
            depth: Depth::Subcomponent,
        }
    }

    #[test]
    fn msh_numbering_counts_the_separator_as_field_1() {
        let msg = check(ADT22, &["hl7.trailing_data"]);
        let msh = msg.msh();
        assert_eq!(msh.id(), "MSH");
        assert_eq!(msh.field(1).raw(), "|");
        assert_eq!(msh.field(2).raw(), "^~\\&");
        assert_eq!(msh.field(2).text().as_deref(), Some("^~\\&"));
        assert_eq!(msh.field(3).raw(), "HIS123");
        assert_eq!(msh.field(7).raw(), "20111220224447.3399");
        assert_eq!(msh.field(9).raw(), "ADT^A01^ADT_A01");
        assert_eq!(msh.field(12).raw(), "2.5");
        let t = msg.message_type().expect("MSH-9 present");
        assert_eq!((&*t.code, t.event.as_deref()), ("ADT", Some("A01")));
        assert_eq!(t.structure.as_deref(), Some("ADT_A01"));
        assert_eq!(msg.timestamp(), Some("20111220224447.3399"));
        assert_eq!(msg.control_id(), Some("20111220000001"));
        assert_eq!(msg.character_set(), "~ISO IR87");
        assert_eq!(msg.character_set_scheme(), "ISO 2022-1994");
        assert!(msg.profile().starts_with("SS-MIX2_1.20^"));
        assert_eq!(msh.field(18).repetition(2).raw(), "ISO IR87");
        assert!(msh.field(18).repetition(1).is_empty());
    }

    #[test]
    fn fields_components_repetitions() {
        let msg = check(ADT22, &["hl7.trailing_data"]);
        assert_eq!(msg.segment_count(), 3);
        let pid = msg.segment("PID").expect("PID present");
        assert_eq!(pid.index(), 2);
        assert_eq!(pid.field(3).raw(), "9999013");
        let names: Vec<_> = pid.field(5).repetitions().collect();
        assert_eq!(names.len(), 2);
        assert_eq!(names[1].component(2).raw(), "タロウ");
        assert_eq!(names[1].component(8).raw(), "P");
        assert_eq!(pid.component(5, 1).raw(), "患者");
        assert!(pid.field(99).is_empty());
        assert!(pid.field(5).repetition(3).is_empty());
        assert_eq!(pid.field(8).component(1).component(1).raw(), "M");
        assert!(pid.field(8).component(2).is_empty());
        assert_eq!(msg.segments_with_id("EVN").count(), 1);
        assert_eq!(
            msg.segments().map(|s| s.id()).collect::<Vec<_>>(),
            ["MSH", "EVN", "PID"]
        );
    }

    #[test]
    fn subcomponents() {
        let msg = check(
            "MSH|^~\\&|\rTQ1|1||1013044400000000&内服&JAMISDP01|||5^d\r",
            &[],
        );
        let tq1 = msg.segment("TQ1").expect("TQ1 present");
        assert_eq!(tq1.field(3).subcomponent(1).raw(), "1013044400000000");
        assert_eq!(tq1.field(3).component(1).subcomponent(2).raw(), "内服");
        assert_eq!(tq1.field(3).subcomponent(3).raw(), "JAMISDP01");
        assert!(tq1.field(3).subcomponent(4).is_empty());
        assert_eq!(tq1.field(6).component(2).raw(), "d");
    }

    #[test]
    fn terminators_lf_crlf_and_trailers() {
        let lf = check("MSH|^~\\&|A\nPID|1\n", &["hl7.lf_terminator"]);
        assert_eq!(lf.segment_count(), 2);
        let crlf = check("MSH|^~\\&|A\r\nPID|1\r\n", &["hl7.crlf_terminator"]);
        assert_eq!(crlf.segment_count(), 2);
        assert_eq!(crlf.segment("PID").map(|s| s.raw()), Some("PID|1"));
        let last = check("MSH|^~\\&|A\rPID|1", &["hl7.missing_final_terminator"]);
        assert_eq!(last.segment("PID").map(|s| s.field(1).raw()), Some("1"));
        check("MSH|^~\\&|A\rPID|1\r\x1c", &["hl7.trailing_data"]);
        check("MSH|^~\\&|A\rPID|1\r\x1c\r\n  ", &["hl7.trailing_data"]);
        check(
            "\x0bMSH|^~\\&|A\rPID|1\r\x1c\r",
            &["hl7.leading_data", "hl7.trailing_data"],
        );
        // A space ending the last value is data, not framing.
        let spaced = check("MSH|^~\\&|A\rPID|1 \r\x1c", &["hl7.trailing_data"]);
        assert_eq!(spaced.segment("PID").map(|s| s.field(1).raw()), Some("1 "));
        let gaps = check("MSH|^~\\&|A\r\r\rPID|1\r", &["hl7.empty_segment"]);
        assert_eq!(gaps.segment_count(), 2);
        let w = Warning::TrailingData { offset: 3 };
        assert_eq!(w.severity(), Severity::Info);
        assert!(!w.to_string().is_empty());
    }

    #[test]
    fn no_msh_and_bad_headers_are_errors() {
        assert_eq!(Message::parse("").err(), Some(ParseError::Empty));
        assert_eq!(Message::parse("\r\x1c ").err(), Some(ParseError::Empty));
        assert_eq!(
            Message::parse("PID|1\rMSH|^~\\&\r").err(),
            Some(ParseError::NoMsh)
        );
        assert_eq!(Message::parse("MS").err(), Some(ParseError::NoMsh));
        assert_eq!(
            Message::parse("MSH").err(),
            Some(ParseError::MissingFieldSeparator)
        );
        assert_eq!(
            Message::parse("MSH\r").err(),
            Some(ParseError::MissingFieldSeparator)
        );
        assert_eq!(
            Message::parse("MSHA^~\\&").err(),
            Some(ParseError::InvalidFieldSeparator)
        );
        assert_eq!(
            Message::parse("MSH日^~").err(),
            Some(ParseError::InvalidFieldSeparator)
        );
        assert_eq!(
            Message::parse("MSH|^^\\&|").err(),
            Some(ParseError::InvalidEncodingCharacters)
        );
        assert_eq!(
            Message::parse("MSH|^~\\&#!|").err(),
            Some(ParseError::InvalidEncodingCharacters)
        );
        assert_eq!(
            Message::parse("MSH|^~\\a|").err(),
            Some(ParseError::InvalidEncodingCharacters)
        );
        assert_eq!(ParseError::NoMsh.code(), "hl7.no_msh");
    }

    #[test]
    fn truncated_messages_still_parse() {
        let msg = check(
            "MSH|",
            &[
                "hl7.missing_final_terminator",
                "hl7.short_encoding_characters",
            ],
        );
        assert_eq!(msg.message_type(), None);
        assert_eq!(msg.timestamp(), None);
        let msg = check(
            "MSH|^~\\&|HIS|S|GW|R|2011",
            &["hl7.missing_final_terminator"],
        );
        assert_eq!(msg.timestamp(), Some("2011"));
        assert!(msg.msh().field(9).is_empty());
        // MSH-9 with two components only (structure optional on read).
        let msg = check("MSH|^~\\&|||||||ADT^A08\r", &[]);
        let t = msg.message_type().expect("MSH-9 present");
        assert_eq!(
            (&*t.code, t.event.as_deref(), t.structure),
            ("ADT", Some("A08"), None)
        );
        let msg = check(
            "MSH|^~\\&|\rPID|1|\\E",
            &["hl7.missing_final_terminator", "hl7.unterminated_escape"],
        );
        assert_eq!(msg.segment("PID").map(|s| s.field(2).raw()), Some("\\E"));
    }

    #[test]
    fn custom_delimiters_from_msh2() {
        let msg = check("MSH#:*!@#A#\rPID#1#x:y*p:q@r!S!#n!E!m\r", &[]);
        let d = msg.delimiters();
        assert_eq!(
            (
                d.field(),
                d.component(),
                d.repetition(),
                d.escape(),
                d.subcomponent()
            ),
            ('#', Some(':'), Some('*'), Some('!'), Some('@'))
        );
        let pid = msg.segment("PID").expect("PID present");
        assert_eq!(pid.field(2).component(2).raw(), "y");
        assert_eq!(
            pid.field(2)
                .repetition(2)
                .component(2)
                .subcomponent(2)
                .raw(),
            "r!S!"
        );
        assert_eq!(
            pid.field(2)
                .repetition(2)
                .component(2)
                .subcomponent(2)
                .text()
                .as_deref(),
            Some("r:")
        );
        assert_eq!(pid.field(3).text().as_deref(), Some("n!m"));
        assert_eq!(msg.msh().field(1).raw(), "#");
        assert_eq!(msg.msh().field(2).raw(), ":*!@");
        // The default separators are plain data under other delimiters.
        let msg = check("MSH#:*!@#\rPID#a|b^c\r", &[]);
        assert_eq!(msg.segment("PID").map(|s| s.field(1).raw()), Some("a|b^c"));
        // Three encoding characters: no subcomponents.
        let msg = check("MSH|^~\\|\rPID|a&b\r", &["hl7.short_encoding_characters"]);
        assert_eq!(
            msg.segment("PID").map(|s| s.field(1).subcomponent(1).raw()),
            Some("a&b")
        );
        // A fifth (truncation) character is accepted and ignored.
        check("MSH|^~\\&#|\r", &[]);
    }

    #[test]
    fn escapes_are_resolved_on_access() {
        let d = Delimiters::DEFAULT;
        assert_eq!(
            unescape("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", &d),
            "a|b^c&d~e\\f"
        );
        assert!(matches!(unescape("plain 漢字", &d), Cow::Borrowed(_)));
        assert_eq!(unescape("\\X41\\\\XE6BCA2\\", &d), "A漢");
        assert_eq!(unescape("\\X0D0A\\", &d), "\r\n");
        // Not interpreted: kept literally.
        assert_eq!(unescape("\\H\\bold\\N\\", &d), "\\H\\bold\\N\\");
        assert_eq!(unescape("\\Q\\x", &d), "\\Q\\x");
        assert_eq!(unescape("\\XZZ\\", &d), "\\XZZ\\");
        assert_eq!(unescape("\\XFF\\", &d), "\\XFF\\");
        assert_eq!(unescape("a\\b", &d), "a\\b");
        let msg = check(
            "MSH|^~\\&|\rNTE|\\Q\\|\\XZ\\|\\.br\\|a\\F\\b|\\Xe6bca2\\\r",
            &["hl7.unknown_escape", "hl7.invalid_hex_escape"],
        );
        assert_eq!(
            msg.warnings()[0],
            Warning::UnknownEscape {
                segment: 1,
                field: 1
            }
        );
        let nte = msg.segment("NTE").expect("NTE present");
        assert_eq!(nte.text(4).as_deref(), Some("a|b"));
        assert_eq!(nte.text(5).as_deref(), Some("漢"));
        // The MSH-2 escape character is not an escape sequence.
        check("MSH|^~\\&|\\F\\\r", &[]);
    }

    #[test]
    fn explicit_null_is_not_empty() {
        let msg = check("MSH|^~\\&|\rOBR|1|\"\"||a^\"\"\r", &[]);
        let obr = msg.segment("OBR").expect("OBR present");
        assert!(obr.field(2).is_null());
        assert_eq!(obr.field(2).value(), Value::Null);
        assert_eq!(obr.field(3).value(), Value::Empty);
        assert!(!obr.field(3).is_null());
        assert_eq!(obr.field(4).component(2).value(), Value::Null);
        assert_eq!(obr.field(2).text(), None);
        assert_eq!(obr.field(2).raw(), "\"\"");
        assert!(Value::Null.is_null());
    }

    #[test]
    fn escape_writes_what_unescape_reads() {
        let d = Delimiters::DEFAULT;
        assert_eq!(
            escape("a|b^c~d&e\\f", &d),
            "a\\F\\b\\S\\c\\R\\d\\T\\e\\E\\f"
        );
        assert_eq!(escape("\"\"", &d), "\\X22\\\"");
        assert_eq!(
            leaf(&escape("\"\"", &d)).value(),
            Value::Text(Cow::Borrowed("\"\""))
        );
        assert_eq!(escape("患者", &d), "患者");
    }

    #[test]
    fn too_many_warnings_are_capped() {
        let mut text = String::from("MSH|^~\\&|\r");
        for _ in 0..200 {
            text.push_str("x|\\Q\\\r");
        }
        let msg = Message::parse(&text).expect("parses");
        assert_eq!(msg.warnings().len(), WARNINGS_MAX + 1);
        assert_eq!(msg.warnings().last(), Some(&Warning::TooManyWarnings));
    }

    fn delimiter_sets() -> impl Strategy<Value = Delimiters> {
        prop_oneof![
            Just(Delimiters::DEFAULT),
            Just(Delimiters::new('#', ':', '*', '!', '@').expect("valid set")),
        ]
    }

    proptest! {
        #[test]
        fn escape_round_trips(s in "(\\PC|[|^~\\\\&\"\r\n]|患|者){0,40}", d in delimiter_sets()) {
            let escaped = escape(&s, &d);
            prop_assert!(!escaped.contains('\r') && !escaped.contains('\n'));
            let text = format!("MSH{}{}{}{}{}{}\rZZZ{}{}\r",
                d.field(), d.component().unwrap_or('^'), d.repetition().unwrap_or('~'),
                d.escape().unwrap_or('\\'), d.subcomponent().unwrap_or('&'), d.field(),
                d.field(), escaped);
            let msg = Message::parse(&text).expect("generated message parses");
            prop_assert!(msg.warnings().is_empty(), "{:?}", msg.warnings());
            let zzz = msg.segment("ZZZ").expect("ZZZ present");
            let sub = zzz.field(1).repetition(1).component(1).subcomponent(1);
            prop_assert_eq!(sub.raw(), escaped.as_str());
            let expected = if s.is_empty() { Value::Empty } else { Value::Text(Cow::Borrowed(s.as_str())) };
            prop_assert_eq!(sub.value(), expected);
        }

        /// The one-scan accessors give what the two-step definitions give.
        #[test]
        fn one_scan_accessors_match_their_definitions(
            raw in "[a^~&|#:*!@x漢]{0,24}",
            n in 1usize..6,
            d in delimiter_sets(),
        ) {
            let field = Element { raw: &raw, delimiters: d, depth: Depth::Field };
            let first = field.repetition(1);
            prop_assert_eq!(field.component(n).raw(), first.component(n).raw());
            let [a, b, c] = field.first_components();
            prop_assert_eq!(
                [a.raw(), b.raw(), c.raw()],
                [first.component(1).raw(), first.component(2).raw(), first.component(3).raw()]
            );
            prop_assert_eq!(
                nth_piece_of_first(&raw, None, d.repetition, n),
                nth_piece(nth_piece(&raw, d.repetition, 1), None, n)
            );
        }

        /// The word-at-a-time scan agrees with `str::split` at every length and offset.
        #[test]
        fn piece_scans_match_str_split(
            raw in "[a^~&|#:*!@x漢]{0,40}",
            n in 1usize..14,
            d in delimiter_sets(),
        ) {
            let (c, r) = (d.component().unwrap_or('^'), d.repetition().unwrap_or('~'));
            let first_rep = if d.repetition().is_some() { raw.split(r).next().unwrap_or("") } else { raw.as_str() };
            let want = |k: usize| -> &str {
                if d.component().is_some() { first_rep.split(c).nth(k - 1).unwrap_or("") }
                else if k == 1 { first_rep } else { "" }
            };
            let field = Element { raw: &raw, delimiters: d, depth: Depth::Field };
            prop_assert_eq!(field.component(n).raw(), want(n));
            let all: [Element<'_>; 12] = field.first_components();
            for (k, e) in all.iter().enumerate() {
                prop_assert_eq!(e.raw(), want(k + 1));
            }
            let rep_want = if d.repetition().is_some() { raw.split(r).nth(n - 1).unwrap_or("") }
                else if n == 1 { raw.as_str() } else { "" };
            prop_assert_eq!(field.repetition(n).raw(), rep_want);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(msg) = Message::parse(&text) {
                walk(&msg);
            }
        }

        #[test]
        fn hl7ish_garbage_never_panics(s in "MSH[|#]([|^~\\\\&\"\r\nX0-9A-F]|\\PC){0,200}") {
            if let Ok(msg) = Message::parse(&s) {
                walk(&msg);
            }
        }
    }

    /// Touches every accessor so that a panic anywhere would surface.
    fn walk(msg: &Message<'_>) {
        let _ = (
            msg.message_type(),
            msg.timestamp(),
            msg.control_id(),
            msg.profile(),
        );
        for w in msg.warnings() {
            let _ = (w.code(), w.to_string(), w.severity());
        }
        for seg in msg.segments() {
            let _ = (seg.id(), seg.raw());
            for n in 0..seg.field_count() + 2 {
                let f = seg.field(n);
                let _ = f.value();
                for r in f.repetitions() {
                    for c in 1..4 {
                        let comp = r.component(c);
                        let _ = (
                            comp.value(),
                            comp.subcomponent(1).value(),
                            comp.subcomponent(2).text(),
                        );
                    }
                }
            }
        }
    }
}
