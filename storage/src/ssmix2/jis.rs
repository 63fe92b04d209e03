//! The ISO-2022-JP codec of SS-MIX2: lenient on read, strict on write.
//!
//! SS-MIX2 messages are 7-bit ISO-2022-JP with ASCII (`ESC ( B`) and JIS X 0208 (`ESC $ B`)
//! only. Real writers add harmless redundant escapes and, now and then, characters SS-MIX2
//! forbids. Reading therefore decodes everything that has one sensible meaning and names each
//! deviation in a [`DecodeWarning`]; only input with no sensible meaning (8-bit bytes, unknown
//! escape sequences, a cut double-byte pair) is a [`DecodeError`]. Writing accepts JIS X 0208
//! and nothing else, and never substitutes a character (`encoding_rs`'s `encode()` would put an
//! `&#NNNNN;` reference, and so the HL7 subcomponent separator, into the data).
//!
//! The mapping is JIS-faithful (CPython `iso2022_jp`, glibc iconv), not WHATWG: `0x2141` decodes
//! to U+301C WAVE DASH and `0x215D` to U+2212 MINUS SIGN. The encoder also takes the WHATWG
//! variants (U+FF5E, U+FF0D, …) to the same codes, so text from either world round-trips to the
//! same bytes. See `../shared/docs/ssmix2.md` §5.2 and `storage/tools/gen_jis0208.py`.
//!
//! Decoding is only a view: stored and exported bytes are never re-encoded.

use std::fmt;

use super::jis0208::{JIS0208_DECODE, JIS0208_ENCODE, VENDOR_DECODE};

const ESC: u8 = 0x1B;

/// The most warnings of one kind that keep their own offset; the rest are only counted, so a
/// hostile file full of deviations cannot make the report grow with its size.
const WARNING_OFFSETS_MAX: usize = 8;

/// Text decoded from ISO-2022-JP, with what was tolerated on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub warnings: Vec<WarningTally>,
}

/// One kind of tolerated deviation, how often it occurred and where it first did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningTally {
    pub warning: DecodeWarning,
    pub count: u32,
    /// Byte offsets of the first few occurrences (at most [`WARNING_OFFSETS_MAX`]).
    pub offsets: Vec<usize>,
}

/// Deviations from SS-MIX2's ISO-2022-JP that still decode to one meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecodeWarning {
    /// An escape sequence that selects the set already in use (`ESC ( B ESC ( B`).
    RedundantEscape,
    /// `ESC ( I`: half-width katakana, decoded to U+FF61..U+FF9F.
    HalfWidthKatakana,
    /// `ESC ( J`: JIS-Roman, where `\` is `¥` and `~` is `‾`.
    JisRoman,
    /// `ESC $ @`: JIS C 6226-1978, decoded with the JIS X 0208 table.
    Jis1978,
    /// A character from NEC row 13 (`①`, `㈱`, …), a Windows extension.
    NecExtension,
    /// A kanji from the NEC-selected IBM extension rows 89-92 (`髙`, `﨑`, …).
    IbmExtension,
    /// A double-byte code assigned in no table we know (user-defined characters); decoded as
    /// U+FFFD REPLACEMENT CHARACTER.
    UnassignedCode,
    /// A control byte (CR, LF, …) or space inside a double-byte run: the writer forgot
    /// `ESC ( B`. A CR or LF returns to ASCII.
    ControlInDoubleByte,
    /// The text ends in a double-byte or katakana set without returning to ASCII.
    EndsOutsideAscii,
}

/// Input that is not ISO-2022-JP in any reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("byte 0x{byte:02X} at offset {offset} is not 7-bit: the file is not ISO-2022-JP")]
    EightBit { offset: usize, byte: u8 },
    #[error("unsupported or malformed escape sequence at offset {offset}")]
    UnknownEscape { offset: usize },
    #[error("double-byte character cut short at offset {offset}")]
    TruncatedDoubleByte { offset: usize },
    #[error("shift-out/shift-in control (SO/SI) at offset {offset} is not used by SS-MIX2")]
    ShiftControl { offset: usize },
}

/// A character that the strict SS-MIX2 encoder refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("character U+{code_point:04X} at character position {position} is outside JIS X 0208")]
pub struct EncodeError {
    /// Position in characters (not bytes) of the refused character.
    pub position: usize,
    pub code_point: u32,
}

impl DecodeWarning {
    /// A stable machine-readable code for reports and tests.
    pub fn code(self) -> &'static str {
        match self {
            DecodeWarning::RedundantEscape => "jis.redundant_escape",
            DecodeWarning::HalfWidthKatakana => "jis.half_width_katakana",
            DecodeWarning::JisRoman => "jis.jis_roman",
            DecodeWarning::Jis1978 => "jis.jis_c_6226_1978",
            DecodeWarning::NecExtension => "jis.nec_extension",
            DecodeWarning::IbmExtension => "jis.ibm_extension",
            DecodeWarning::UnassignedCode => "jis.unassigned_code",
            DecodeWarning::ControlInDoubleByte => "jis.control_in_double_byte",
            DecodeWarning::EndsOutsideAscii => "jis.ends_outside_ascii",
        }
    }

    /// Whether the warning means a character outside SS-MIX2's repertoire was read (as opposed
    /// to a harmless writer habit such as a redundant escape).
    pub fn is_outside_repertoire(self) -> bool {
        matches!(
            self,
            DecodeWarning::HalfWidthKatakana
                | DecodeWarning::JisRoman
                | DecodeWarning::NecExtension
                | DecodeWarning::IbmExtension
                | DecodeWarning::UnassignedCode
        )
    }
}

impl fmt::Display for DecodeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            DecodeWarning::RedundantEscape => "redundant escape sequence",
            DecodeWarning::HalfWidthKatakana => "half-width katakana (ESC ( I) is not allowed",
            DecodeWarning::JisRoman => "JIS-Roman (ESC ( J) is not allowed",
            DecodeWarning::Jis1978 => "JIS C 6226-1978 (ESC $ @) instead of JIS X 0208",
            DecodeWarning::NecExtension => "NEC special character (row 13) is not in JIS X 0208",
            DecodeWarning::IbmExtension => "IBM extension kanji is not in JIS X 0208",
            DecodeWarning::UnassignedCode => "unassigned double-byte code (user-defined character)",
            DecodeWarning::ControlInDoubleByte => {
                "control byte inside a double-byte run (missing ESC ( B)"
            }
            DecodeWarning::EndsOutsideAscii => "text ends without returning to ASCII",
        };
        f.write_str(text)
    }
}

/// The character set selected by the last escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Ascii,
    Roman,
    Katakana,
    Kanji,
}

#[derive(Debug, Default)]
struct Tallies(Vec<WarningTally>);

impl Tallies {
    fn note(&mut self, warning: DecodeWarning, offset: usize) {
        if let Some(tally) = self.0.iter_mut().find(|t| t.warning == warning) {
            tally.count = tally.count.saturating_add(1);
            if tally.offsets.len() < WARNING_OFFSETS_MAX {
                tally.offsets.push(offset);
            }
        } else {
            self.0.push(WarningTally {
                warning,
                count: 1,
                offsets: vec![offset],
            });
        }
    }
}

/// Decodes ISO-2022-JP leniently (see the module documentation for what is tolerated).
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    // ASCII runs are pushed as `&str` (their validation takes the ASCII fast path) and
    // double-byte characters as `char`s, so no pass ever validates multi-byte UTF-8.
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 2);
    let mut tallies = Tallies::default();
    let mut set = Set::Ascii;
    // The whole input as `&str` when it is 7-bit (every SS-MIX2 file): ASCII runs are then
    // slices of it, validated once instead of once per run.
    let seven_bit = if bytes.is_ascii() {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b >= 0x80 {
            return Err(DecodeError::EightBit { offset: i, byte: b });
        }
        if b == 0x0E || b == 0x0F {
            return Err(DecodeError::ShiftControl { offset: i });
        }
        if b == ESC {
            let (next, len) =
                escape(&bytes[i..]).ok_or(DecodeError::UnknownEscape { offset: i })?;
            match next {
                Set::Roman => tallies.note(DecodeWarning::JisRoman, i),
                Set::Katakana => tallies.note(DecodeWarning::HalfWidthKatakana, i),
                Set::Kanji if bytes[i + 2] == b'@' => tallies.note(DecodeWarning::Jis1978, i),
                Set::Ascii | Set::Kanji => {}
            }
            if next == set {
                tallies.note(DecodeWarning::RedundantEscape, i);
            }
            set = next;
            i += len;
            continue;
        }
        match set {
            Set::Ascii => {
                if let Some(whole) = seven_bit {
                    // Copy the whole run up to the next escape (or SO/SI, reported at the top of
                    // the loop) at once, as a slice of the input validated once.
                    let run = memchr::memchr3(ESC, 0x0E, 0x0F, &bytes[i..])
                        .map_or(bytes.len(), |p| i + p);
                    out.push_str(whole.get(i..run).unwrap_or_default());
                    i = run;
                    continue;
                }
                // Copy the whole run up to the next escape at once (SIMD search); the run must be
                // 7-bit and free of SO/SI, which the byte loop above reports precisely.
                let run = memchr::memchr(ESC, &bytes[i..]).map_or(bytes.len(), |p| i + p);
                let chunk = &bytes[i..run];
                if !chunk.is_ascii() || memchr::memchr2(0x0E, 0x0F, chunk).is_some() {
                    let bad = chunk
                        .iter()
                        .position(|&c| c >= 0x80 || c == 0x0E || c == 0x0F)
                        .map_or(run, |p| i + p);
                    out.push_str(ascii_str(&bytes[i..bad]));
                    i = bad;
                    continue;
                }
                out.push_str(ascii_str(chunk));
                i = run;
            }
            Set::Roman => {
                match b {
                    b'\\' => push_char(&mut out, '\u{00A5}'),
                    b'~' => push_char(&mut out, '\u{203E}'),
                    _ => out.push(char::from(b)),
                }
                i += 1;
            }
            Set::Katakana | Set::Kanji if b < 0x21 || b == 0x7F => {
                tallies.note(DecodeWarning::ControlInDoubleByte, i);
                out.push(char::from(b));
                if b == b'\r' || b == b'\n' {
                    set = Set::Ascii;
                }
                i += 1;
            }
            Set::Katakana => {
                if b <= 0x5F {
                    // 0x21..=0x5F map onto U+FF61..=U+FF9F, all valid scalar values.
                    push_char(
                        &mut out,
                        char::from_u32(0xFF61 + u32::from(b - 0x21)).unwrap_or('\u{FFFD}'),
                    );
                } else {
                    tallies.note(DecodeWarning::UnassignedCode, i);
                    push_char(&mut out, '\u{FFFD}');
                }
                i += 1;
            }
            Set::Kanji => {
                // A run of double-byte characters in one go: a first byte in 0x21..=0x7E passes
                // every check at the top of the loop, so only such bytes continue the run.
                let mut b = b;
                loop {
                    let Some(&b2) = bytes.get(i + 1) else {
                        return Err(DecodeError::TruncatedDoubleByte { offset: i });
                    };
                    if !(0x21..=0x7E).contains(&b2) {
                        if b2 >= 0x80 {
                            return Err(DecodeError::EightBit {
                                offset: i + 1,
                                byte: b2,
                            });
                        }
                        return Err(DecodeError::TruncatedDoubleByte { offset: i });
                    }
                    let index = usize::from(b - 0x21) * 94 + usize::from(b2 - 0x21);
                    let code = JIS0208_DECODE[index];
                    let code = if code != 0 {
                        code
                    } else {
                        let vendor = VENDOR_DECODE[index];
                        if vendor != 0 {
                            let row = b - 0x20;
                            let warning = if row == 13 {
                                DecodeWarning::NecExtension
                            } else {
                                DecodeWarning::IbmExtension
                            };
                            tallies.note(warning, i);
                        } else {
                            tallies.note(DecodeWarning::UnassignedCode, i);
                        }
                        vendor
                    };
                    push_bmp(&mut out, code);
                    i += 2;
                    match bytes.get(i) {
                        Some(&next) if (0x21..=0x7E).contains(&next) => b = next,
                        _ => break,
                    }
                }
            }
        }
    }
    if set != Set::Ascii {
        tallies.note(DecodeWarning::EndsOutsideAscii, bytes.len());
    }
    Ok(Decoded {
        text: out,
        warnings: tallies.0,
    })
}

fn push_char(out: &mut String, c: char) {
    out.push(c);
}

/// A run already checked to be 7-bit, as `&str` (ASCII is UTF-8; the check is the fast path).
fn ascii_str(run: &[u8]) -> &str {
    std::str::from_utf8(run).unwrap_or_default()
}

/// Appends a BMP code point from the tables as UTF-8; 0 (unassigned) becomes U+FFFD.
fn push_bmp(out: &mut String, code: u16) {
    let cp = if code == 0 { 0xFFFD } else { u32::from(code) };
    // The tables hold no surrogates (they come from real codecs), and 0 was replaced above.
    push_char(out, char::from_u32(cp).unwrap_or('\u{FFFD}'));
}

/// Recognises an escape sequence at the start of `rest`: the set it selects and its length.
fn escape(rest: &[u8]) -> Option<(Set, usize)> {
    match rest.get(1..3)? {
        b"(B" => Some((Set::Ascii, 3)),
        b"(J" => Some((Set::Roman, 3)),
        b"(I" => Some((Set::Katakana, 3)),
        b"$B" | b"$@" => Some((Set::Kanji, 3)),
        _ => None,
    }
}

/// Whether `c` is one of the 6,879 characters of JIS X 0208 (plus the WHATWG variants that the
/// encoder maps onto the same codes). ASCII is not included.
pub fn is_jis_x0208(c: char) -> bool {
    jis_code(c).is_some()
}

/// The 94x94 index of a character the strict encoder accepts.
fn jis_code(c: char) -> Option<u16> {
    let cp = u32::from(c);
    let cp = u16::try_from(cp).ok()?;
    if let Ok(pos) = JIS0208_ENCODE.binary_search_by_key(&cp, |&(code_point, _)| code_point) {
        return Some(JIS0208_ENCODE[pos].1);
    }
    // The other spelling of the characters that JIS-faithful and WHATWG codecs decode
    // differently, plus U+2014 EM DASH, which Japanese text uses for 0x213D.
    let jis = match cp {
        0xFF5E => 0x2141, // FULLWIDTH TILDE -> WAVE DASH
        0x2225 => 0x2142, // PARALLEL TO -> DOUBLE VERTICAL LINE
        0xFF0D => 0x215D, // FULLWIDTH HYPHEN-MINUS -> MINUS SIGN
        0xFFE0 => 0x2171, // FULLWIDTH CENT SIGN
        0xFFE1 => 0x2172, // FULLWIDTH POUND SIGN
        0xFFE2 => 0x224C, // FULLWIDTH NOT SIGN
        0x2014 => 0x213D, // EM DASH -> HORIZONTAL BAR
        0x00A5 => 0x216F, // YEN SIGN -> FULLWIDTH YEN SIGN (never JIS-Roman)
        0x203E => 0x2131, // OVERLINE -> FULLWIDTH MACRON
        _ => return None,
    };
    Some((jis / 256 - 0x21) * 94 + (jis % 256 - 0x21))
}

/// Encodes text as strict SS-MIX2 ISO-2022-JP: ASCII and JIS X 0208 only, `ESC $ B` to enter
/// double-byte mode, `ESC ( B` before every ASCII byte (so before every HL7 delimiter and CR) and
/// at the end. Any other character is refused; nothing is ever substituted.
pub fn encode(text: &str) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(text.len() + 16);
    let mut kanji = false;
    for (position, c) in text.chars().enumerate() {
        if c.is_ascii() {
            if kanji {
                out.extend_from_slice(b"\x1b(B");
                kanji = false;
            }
            if c == '\u{1b}' || c == '\u{0e}' || c == '\u{0f}' {
                // ESC, SO and SI would change the decoder's state: they cannot be data.
                return Err(EncodeError {
                    position,
                    code_point: u32::from(c),
                });
            }
            out.push(c as u8);
            continue;
        }
        let index = jis_code(c).ok_or(EncodeError {
            position,
            code_point: u32::from(c),
        })?;
        if !kanji {
            out.extend_from_slice(b"\x1b$B");
            kanji = true;
        }
        // index < 94 * 94, so both bytes land in 0x21..=0x7E.
        out.push((index / 94) as u8 + 0x21);
        out.push((index % 94) as u8 + 0x21);
    }
    if kanji {
        out.extend_from_slice(b"\x1b(B");
    }
    Ok(out)
}

/// NHO's replacements for characters outside JIS X 0208 (an NHO requirement layered on SS-MIX2,
/// `../shared/docs/ssmix2.md` §4.1), applied before [`encode`] by writers that must accept text
/// from Windows systems. Half-width katakana become full-width (voiced marks composed),
/// NEC special characters become their ASCII or JIS spelling, user-defined characters (U+E000 to
/// U+F8FF) become `■`. Everything else is left alone for the encoder to accept or refuse.
pub fn normalize_for_ssmix2(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(full) = half_width_katakana(c) {
            let mark = chars.peek().copied();
            match mark.and_then(|m| compose_voiced(full, m)) {
                Some(composed) => {
                    out.push(composed);
                    chars.next();
                }
                None => out.push(full),
            }
            continue;
        }
        match c {
            '\u{2460}'..='\u{2473}' => {
                // ① .. ⑳
                let n = u32::from(c) - 0x2460 + 1;
                out.push_str(&format!("({n})"));
            }
            '\u{2160}'..='\u{2169}' => {
                const ROMAN: [&str; 10] =
                    ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"];
                out.push_str(ROMAN[(u32::from(c) - 0x2160) as usize]);
            }
            '\u{2170}'..='\u{2179}' => {
                const ROMAN: [&str; 10] =
                    ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"];
                out.push_str(ROMAN[(u32::from(c) - 0x2170) as usize]);
            }
            '\u{3231}' => out.push_str("(株)"),
            '\u{3232}' => out.push_str("(有)"),
            '\u{3239}' => out.push_str("(代)"),
            '\u{338F}' => out.push_str("kg"),
            '\u{338E}' => out.push_str("mg"),
            '\u{339C}' => out.push_str("mm"),
            '\u{339D}' => out.push_str("cm"),
            '\u{339E}' => out.push_str("km"),
            '\u{33A1}' => out.push_str("m2"),
            '\u{33C4}' => out.push_str("cc"),
            '\u{2116}' => out.push_str("No."),
            '\u{2121}' => out.push_str("TEL"),
            '\u{337B}' => out.push_str("平成"),
            '\u{337C}' => out.push_str("昭和"),
            '\u{337D}' => out.push_str("大正"),
            '\u{337E}' => out.push_str("明治"),
            '\u{32FF}' => out.push_str("令和"),
            '\u{E000}'..='\u{F8FF}' => out.push('■'),
            _ => out.push(c),
        }
    }
    out
}

/// Half-width katakana U+FF61..U+FF9F to their full-width forms.
fn half_width_katakana(c: char) -> Option<char> {
    const FULL: &str = "。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン゛゜";
    let offset = u32::from(c).checked_sub(0xFF61)?;
    FULL.chars().nth(offset as usize)
}

/// A full-width kana followed by a (converted) voiced or semi-voiced mark, composed.
fn compose_voiced(base: char, mark: char) -> Option<char> {
    let voiced = mark == '\u{FF9E}';
    let semi = mark == '\u{FF9F}';
    if !voiced && !semi {
        return None;
    }
    const VOICEABLE: &str = "カキクケコサシスセソタチツテトハヒフヘホ";
    if base == 'ウ' && voiced {
        return Some('ヴ');
    }
    if !VOICEABLE.contains(base) {
        return None;
    }
    let is_h_row = "ハヒフヘホ".contains(base);
    match (voiced, semi, is_h_row) {
        (true, _, _) => char::from_u32(u32::from(base) + 1),
        (_, true, true) => char::from_u32(u32::from(base) + 2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn warnings(d: &Decoded) -> Vec<&'static str> {
        d.warnings.iter().map(|t| t.warning.code()).collect()
    }

    #[test]
    fn table_holds_all_of_jis_x_0208() {
        assert_eq!(JIS0208_ENCODE.len(), 6879);
        assert_eq!(JIS0208_DECODE.iter().filter(|&&c| c != 0).count(), 6879);
    }

    #[test]
    fn decodes_the_characters_where_codecs_disagree_as_jis_does() {
        let cases: [(&[u8], char); 6] = [
            (b"\x1b$B!A\x1b(B", '\u{301C}'),
            (b"\x1b$B!B\x1b(B", '\u{2016}'),
            (b"\x1b$B!]\x1b(B", '\u{2212}'),
            (b"\x1b$B!q\x1b(B", '\u{00A2}'),
            (b"\x1b$B!r\x1b(B", '\u{00A3}'),
            (b"\x1b$B\"L\x1b(B", '\u{00AC}'),
        ];
        for (bytes, want) in cases {
            let d = decode(bytes).expect("decodes");
            assert_eq!(d.text, want.to_string());
            assert!(d.warnings.is_empty());
        }
    }

    #[test]
    fn encoder_maps_both_spellings_to_one_code() {
        assert_eq!(encode("\u{2212}").unwrap(), encode("\u{FF0D}").unwrap());
        assert_eq!(encode("\u{301C}").unwrap(), encode("\u{FF5E}").unwrap());
        assert_eq!(encode("\u{2016}").unwrap(), encode("\u{2225}").unwrap());
        assert_eq!(encode("１−３").unwrap(), b"\x1b$B#1!]#3\x1b(B");
    }

    #[test]
    fn kana_with_delimiter_bytes_round_trips() {
        // タロウ is %?%m%& in JIS: a byte-level split on '&' would cut ウ in half.
        let bytes = encode("タロウ^x").unwrap();
        assert_eq!(bytes, b"\x1b$B%?%m%&\x1b(B^x");
        assert_eq!(decode(&bytes).unwrap().text, "タロウ^x");
    }

    #[test]
    fn encoder_refuses_what_ss_mix2_forbids() {
        for refused in ["①", "㈱", "髙", "﨑", "ｶ", "é", "😀", "\u{1b}"] {
            let err = encode(&format!("ab{refused}")).unwrap_err();
            assert_eq!(err.position, 2, "{refused}");
        }
        let message = encode("髙").unwrap_err().to_string();
        assert!(message.contains("U+9AD9"), "{message}");
    }

    #[test]
    fn redundant_escapes_are_warnings_not_errors() {
        let d = decode(b"\x1b(B\x1b(BA\x1b$B\x1b$B$\"\x1b(B").unwrap();
        assert_eq!(d.text, "Aあ");
        assert_eq!(warnings(&d), ["jis.redundant_escape"]);
        assert_eq!(d.warnings[0].count, 3);
    }

    #[test]
    fn windows_and_legacy_sets_decode_with_named_warnings() {
        let d = decode(b"\x1b(I6\x1b(B").unwrap();
        assert_eq!(
            (d.text.as_str(), warnings(&d)),
            ("ｶ", vec!["jis.half_width_katakana"])
        );
        let d = decode(b"\x1b$B-!\x1b(B").unwrap();
        assert_eq!(
            (d.text.as_str(), warnings(&d)),
            ("①", vec!["jis.nec_extension"])
        );
        let d = decode(b"\x1b$B|b\x1b(B").unwrap();
        assert_eq!(
            (d.text.as_str(), warnings(&d)),
            ("髙", vec!["jis.ibm_extension"])
        );
        let d = decode(b"\x1b(J\\~\x1b(B").unwrap();
        assert_eq!(
            (d.text.as_str(), warnings(&d)),
            ("¥‾", vec!["jis.jis_roman"])
        );
        let d = decode(b"\x1b$@$\"\x1b(B").unwrap();
        assert_eq!(
            (d.text.as_str(), warnings(&d)),
            ("あ", vec!["jis.jis_c_6226_1978"])
        );
        let d = decode(b"\x1b$Bu!\x1b(B").unwrap();
        assert_eq!(
            (d.text.as_str(), warnings(&d)),
            ("\u{FFFD}", vec!["jis.unassigned_code"])
        );
    }

    #[test]
    fn missing_return_to_ascii_is_tolerated() {
        let d = decode(b"\x1b$B$\"\rPID").unwrap();
        assert_eq!(d.text, "あ\rPID");
        assert_eq!(warnings(&d), ["jis.control_in_double_byte"]);
        let d = decode(b"A\x1b$B$\"").unwrap();
        assert_eq!(warnings(&d), ["jis.ends_outside_ascii"]);
    }

    #[test]
    fn undecodable_input_is_an_error() {
        assert_eq!(
            decode(b"\xFB\xFC"),
            Err(DecodeError::EightBit {
                offset: 0,
                byte: 0xFB
            })
        );
        assert_eq!(
            decode(b"ab\x1b$(D"),
            Err(DecodeError::UnknownEscape { offset: 2 })
        );
        assert_eq!(
            decode(b"\x1b"),
            Err(DecodeError::UnknownEscape { offset: 0 })
        );
        assert_eq!(
            decode(b"\x1b$B$"),
            Err(DecodeError::TruncatedDoubleByte { offset: 3 })
        );
        assert_eq!(
            decode(b"a\x0eb"),
            Err(DecodeError::ShiftControl { offset: 1 })
        );
    }

    #[test]
    fn normalisation_follows_nho() {
        assert_eq!(normalize_for_ssmix2("ｼﾞｮｳﾀﾛｳ ﾊﾟﾝ"), "ジョウタロウ パン");
        assert_eq!(normalize_for_ssmix2("①㈱Ⅳ㎏№\u{E000}"), "(1)(株)IVkgNo.■");
        assert!(encode(&normalize_for_ssmix2("ｶﾞｷﾞ①㈱")).is_ok());
    }

    proptest! {
        #[test]
        fn any_jis_x0208_text_round_trips(
            picks in proptest::collection::vec((any::<bool>(), 0usize..6879, 0x20u8..0x7f), 0..64)
        ) {
            let text: String = picks
                .iter()
                .map(|&(wide, i, ascii)| {
                    if wide {
                        char::from_u32(u32::from(JIS0208_ENCODE[i].0)).unwrap_or('あ')
                    } else {
                        char::from(ascii)
                    }
                })
                .collect();
            let bytes = encode(&text).unwrap();
            prop_assert!(bytes.iter().all(|&b| b < 0x80));
            let decoded = decode(&bytes).unwrap();
            prop_assert_eq!(&decoded.text, &text);
            prop_assert!(decoded.warnings.is_empty());
            // Strict output never leaves a CR or delimiter in double-byte mode.
            prop_assert_eq!(encode(&decoded.text).unwrap(), bytes);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
