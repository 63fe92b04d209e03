//! The validator behind `kizuna check`: one verdict per file of a standardized storage, each
//! finding with a stable machine-readable code and a human sentence.
//!
//! Levels follow `../shared/conformance/ssmix2-nho/README.md`: an **error** is a file that cannot
//! be keyed or read as a message (path grammar, folders disagreeing with the name, not
//! ISO-2022-JP, no MSH); a **warning** is a keyed, decodable message that breaks a content rule.
//! A poor record is still a record a clinician may need, so no finding moves or drops a file.
//!
//! The checks on one file ([`check_file`]) are pure: bytes and path in, report out. Walking a
//! tree ([`check_tree`]) never follows symbolic links, so link loops cannot trap it, and reports
//! unreadable entries instead of stopping.
//!
//! Sentences name field positions and the file's own path components, never field contents.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::datatype::{DataType, FieldRef, StandardKind};
use super::hl7::{self, Message, Segment};
use super::jis;
use super::path::{ContentFolder, Disagreement, PathError, StoragePath};
use super::rules;

/// Files larger than this are not read: no SS-MIX2 message comes near it, and the validator must
/// not be made to allocate gigabytes by a stray disk image in the tree.
pub const FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// At most this many positions are listed in one finding's sentence; the rest are counted.
const POSITIONS_LISTED_MAX: usize = 12;

/// The outcome for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warning,
    Error,
}

/// How serious one finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Error,
}

/// One thing the validator found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    /// Stable code, e.g. `path.patient_mismatch`, `jis.eight_bit`, `field.required_empty`.
    pub code: &'static str,
    pub message: String,
}

/// What kind of entry a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A message file of the standardized storage.
    Standard,
    /// A file inside a content folder of the extended storage (not validated further).
    Extended,
    /// Anything else found in the tree.
    Other,
}

/// The report for one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The path as given on the command line joined with the path below the root.
    pub path: String,
    pub verdict: Verdict,
    pub kind: EntryKind,
    /// The data type of the file name, when the name could be parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    /// SHA-256 of the raw bytes, hex, when they could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub bytes: u64,
    pub findings: Vec<Finding>,
}

/// Counts over a whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub files: u64,
    pub ok: u64,
    pub warning: u64,
    pub error: u64,
}

impl Summary {
    pub fn add(&mut self, verdict: Verdict) {
        self.files += 1;
        match verdict {
            Verdict::Ok => self.ok += 1,
            Verdict::Warning => self.warning += 1,
            Verdict::Error => self.error += 1,
        }
    }
}

/// Collects findings and derives the verdict from the worst of them.
#[derive(Debug, Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn error(&mut self, code: &'static str, message: impl Into<String>) {
        self.0.push(Finding {
            level: Level::Error,
            code,
            message: message.into(),
        });
    }

    fn warning(&mut self, code: &'static str, message: impl Into<String>) {
        self.0.push(Finding {
            level: Level::Warning,
            code,
            message: message.into(),
        });
    }

    fn verdict(&self) -> Verdict {
        match self.0.iter().map(|f| f.level).max() {
            None => Verdict::Ok,
            Some(Level::Warning) => Verdict::Warning,
            Some(Level::Error) => Verdict::Error,
        }
    }
}

/// Checks one file given its path components below the storage root and its bytes.
pub fn check_file(display_path: &str, components: &[&str], bytes: &[u8]) -> FileReport {
    let mut findings = Findings::default();
    let sha256 = Some(hex(
        ring::digest::digest(&ring::digest::SHA256, bytes).as_ref()
    ));
    let mut report = FileReport {
        path: display_path.to_owned(),
        verdict: Verdict::Ok,
        kind: EntryKind::Standard,
        data_type: None,
        sha256,
        bytes: bytes.len() as u64,
        findings: Vec::new(),
    };
    if let Some(extended) = extended_content(components) {
        report.kind = EntryKind::Extended;
        report.data_type = Some(extended.data_type);
        return report;
    }
    match StoragePath::parse(components) {
        Ok((path, name_findings)) => {
            for f in name_findings {
                findings.warning(f.code(), f.sentence());
            }
            report.data_type = Some(path.name.data_type.clone());
            check_message(&path, bytes, &mut findings);
        }
        Err(err) => {
            report.kind = EntryKind::Other;
            path_error(components, &err, &mut findings);
            // Unkeyable files are quarantined, not read as messages; still say whether the bytes
            // would decode, so the operator sees every reason at once.
            if let Err(err) = jis::decode(bytes) {
                findings.error(decode_error_code(err), format!("not ISO-2022-JP: {err}"));
            }
        }
    }
    report.verdict = findings.verdict();
    report.findings = findings.0;
    report
}

/// A file inside an extended-storage content folder:
/// `L1/L2/ID/date/<type folder>/<content folder>/<file…>`.
fn extended_content(components: &[&str]) -> Option<ContentFolder> {
    if components.len() < 7 {
        return None;
    }
    ContentFolder::parse(components[2], components[3], components[4], components[5])
}

fn path_error(components: &[&str], err: &PathError, findings: &mut Findings) {
    match err {
        PathError::Depth(_) => findings.error("path.depth", err.to_string()),
        PathError::NotUtf8 => findings.error("path.not_utf8", err.to_string()),
        PathError::Name(name) => findings.error(
            "name.grammar",
            format!("file name breaks the SS-MIX2 grammar: {name}"),
        ),
        PathError::Misplaced(disagreements) => {
            // The grammar held, so the name parses; the sentences compare folder and name tokens.
            let name = components
                .last()
                .and_then(|n| super::path::FileName::parse(n).ok())
                .map(|(n, _)| n);
            for d in disagreements {
                let folder = components.get(d.folder_index()).copied().unwrap_or("");
                let (what, from_name) = match (d, &name) {
                    (Disagreement::PatientLevel, Some(n)) => {
                        ("patient level folders", n.patient_id.clone())
                    }
                    (Disagreement::Patient, Some(n)) => ("patient folder", n.patient_id.clone()),
                    (Disagreement::Date, Some(n)) => ("date folder", n.date_folder().to_owned()),
                    (Disagreement::DataType, Some(n)) => ("data type folder", n.data_type.clone()),
                    (_, None) => ("folder", String::new()),
                };
                let folder = if *d == Disagreement::PatientLevel {
                    format!(
                        "{}/{}",
                        components.first().copied().unwrap_or(""),
                        components.get(1).copied().unwrap_or("")
                    )
                } else {
                    folder.to_owned()
                };
                findings.error(
                    d.code(),
                    format!(
                        "{what} `{folder}` disagrees with the file name, which says `{from_name}`"
                    ),
                );
            }
        }
    }
}

/// The content checks of a keyed file.
fn check_message(path: &StoragePath, bytes: &[u8], findings: &mut Findings) {
    let decoded = match jis::decode(bytes) {
        Ok(decoded) => decoded,
        Err(err) => {
            findings.error(decode_error_code(err), format!("not ISO-2022-JP: {err}"));
            return;
        }
    };
    for tally in &decoded.warnings {
        let at = tally.offsets.first().copied().unwrap_or(0);
        findings.warning(
            tally.warning.code(),
            format!("{} ({}×, first at byte {at})", tally.warning, tally.count),
        );
    }
    let message = match Message::parse(&decoded.text) {
        Ok(message) => message,
        Err(err) => {
            findings.error(err.code(), format!("not an HL7 message: {err}"));
            return;
        }
    };
    for w in message.warnings() {
        if w.severity() == hl7::Severity::Warning {
            findings.warning(w.code(), w.to_string());
        }
    }
    let data_type = path.name.standard_type();
    let msh9 = message.message_type();
    let (code, event) = match &msh9 {
        Some(t) => (t.code.as_ref(), t.event.as_deref().unwrap_or("")),
        None => ("", ""),
    };
    if msh9.is_none() {
        findings.warning("msh.message_type_missing", "MSH-9 (message type) is empty");
    }
    let kind = data_type.and_then(|dt| StandardKind::of(dt, code, event));
    if let (Some(dt), Some(_), None) = (data_type, &msh9, kind) {
        findings.warning(
            "msh.message_type_mismatch",
            format!("MSH-9 {code}^{event} is not a message of data type {dt}"),
        );
    }
    check_msh(path, &message, findings);
    check_patient(path, &message, findings);
    // Fall back to the message type alone when the folder's type does not fit it, so a
    // misfiled message is still dated by its own rules.
    let kind = kind.or_else(|| {
        StandardKind::ALL
            .into_iter()
            .find(|k| k.message() == (code, event))
    });
    if let Some(kind) = kind {
        check_care_date(path, kind, &message, findings);
    }
    if let Some(dt) = data_type {
        check_order_no(path, dt, &message, findings);
        check_fields(dt, &message, findings);
    }
    if !code.is_empty() {
        check_segment_order(code, event, &message, findings);
    }
}

fn decode_error_code(err: jis::DecodeError) -> &'static str {
    match err {
        jis::DecodeError::EightBit { .. } => "jis.eight_bit",
        jis::DecodeError::UnknownEscape { .. } => "jis.unknown_escape",
        jis::DecodeError::TruncatedDoubleByte { .. } => "jis.truncated_double_byte",
        jis::DecodeError::ShiftControl { .. } => "jis.shift_control",
    }
}

fn check_msh(path: &StoragePath, message: &Message<'_>, findings: &mut Findings) {
    let msh = message.msh();
    let version = msh.field(12).raw();
    if version != "2.5" {
        findings.warning("msh.version", "MSH-12 (version) is not 2.5");
    }
    match message.character_set() {
        "~ISO IR87" => {}
        "~ISOIR87" => findings.warning(
            "msh.charset_spelling",
            "MSH-18 is spelled `~ISOIR87`; Kizuna writes `~ISO IR87`",
        ),
        _ => findings.warning(
            "msh.charset",
            "MSH-18 does not declare ISO IR87 as the alternate character set",
        ),
    }
    match message.character_set_scheme() {
        "ISO2022-1994" => {}
        "ISO 2022-1994" => findings.warning(
            "msh.charset_scheme_spelling",
            "MSH-20 is spelled `ISO 2022-1994`; Kizuna writes `ISO2022-1994`",
        ),
        _ => findings.warning("msh.charset_scheme", "MSH-20 does not declare ISO2022-1994"),
    }
    let Some(ts) = message.timestamp().filter(|t| is_msh_timestamp(t)) else {
        findings.warning(
            "msh.timestamp",
            "MSH-7 is not YYYYMMDDHHMMSS with up to four fractional digits",
        );
        return;
    };
    // The name's time of occurrence equals MSH-7 cut or padded to milliseconds in every
    // guideline sample; since Ver.1.2 it need not, so a difference is only worth a warning.
    if path.name.occurred.len() == 17 {
        let (whole, fraction) = ts.split_once('.').unwrap_or((ts, ""));
        let millis: String = fraction
            .chars()
            .chain(std::iter::repeat('0'))
            .take(3)
            .collect();
        if format!("{whole}{millis}") != path.name.occurred {
            findings.warning(
                "name.occurred_differs_from_msh7",
                "time of occurrence in the file name differs from MSH-7",
            );
        }
    }
}

/// `YYYYMMDDHHMMSS[.S[S[S[S]]]]`, no time zone (guide §4.3).
fn is_msh_timestamp(ts: &str) -> bool {
    let (whole, fraction) = match ts.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (ts, None),
    };
    whole.len() == 14
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction
            .is_none_or(|f| (1..=4).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()))
}

fn check_patient(path: &StoragePath, message: &Message<'_>, findings: &mut Findings) {
    let Some(pid) = message.segment("PID") else {
        findings.warning("pid.missing", "the message has no PID segment");
        return;
    };
    let id = pid.field(3).repetition(1).component(1).raw();
    if id != path.name.patient_id {
        findings.warning(
            "pid.patient_mismatch",
            "PID-3 differs from the patient ID of the path",
        );
    }
}

fn check_care_date(
    path: &StoragePath,
    kind: StandardKind,
    message: &Message<'_>,
    findings: &mut Findings,
) {
    let folder = path.name.date_folder();
    let Some(FieldRef { segment, field }) = kind.care_date_field() else {
        if folder != "-" {
            findings.warning(
                "date.dated_folder",
                format!(
                    "{} messages belong in the undated folder `-`",
                    kind.data_type()
                ),
            );
        }
        return;
    };
    if folder == "-" {
        findings.warning(
            "date.undated_folder",
            format!(
                "{} messages belong in a date folder ({segment}-{field})",
                kind.data_type()
            ),
        );
        return;
    }
    let (mut seen, mut differing) = (0usize, 0usize);
    for seg in message.segments_with_id(segment) {
        let value = seg.field(field).raw();
        if value.is_empty() {
            continue;
        }
        seen += 1;
        if value.get(..8) != Some(folder) {
            differing += 1;
        }
    }
    if seen == 0 {
        findings.warning(
            "date.field_missing",
            format!("{segment}-{field}, which dates the folder, is empty"),
        );
    } else if differing > 0 {
        findings.warning(
            "date.folder_mismatch",
            format!("date folder `{folder}` differs from {segment}-{field} in {differing} of {seen} occurrences"),
        );
    }
}

fn check_order_no(
    path: &StoragePath,
    data_type: DataType,
    message: &Message<'_>,
    findings: &mut Findings,
) {
    if data_type.has_no_order() {
        return;
    }
    let differing = message
        .segments_with_id("ORC")
        // Child orders (ORC-1 `CH`) carry their own numbers and point to the parent in ORC-8.
        .filter(|orc| orc.field(1).raw() != "CH")
        .filter(|orc| {
            let placer = orc.field(2).component(1).raw();
            !placer.is_empty() && placer != path.name.order_no
        })
        .count();
    if differing > 0 {
        findings.warning(
            "order.differs_from_orc2",
            format!(
                "the order number of the file name differs from ORC-2 in {differing} ORC segments"
            ),
        );
    }
}

/// Required fields per NHO's table, and NM fields that are not numbers.
fn check_fields(data_type: DataType, message: &Message<'_>, findings: &mut Findings) {
    let mut empty = Positions::default();
    let mut not_numeric = Positions::default();
    for seg in message.segments() {
        let id = seg.id();
        for rule in rules::required_fields(id, data_type.as_str()) {
            // MSH-1 and MSH-2 are the delimiters themselves: present whenever MSH parsed.
            if id == "MSH" && rule.field <= 2 {
                continue;
            }
            let element = seg.field(rule.field);
            if element.is_empty() || element.is_null() {
                empty.push(id, rule.field);
            }
        }
        for field in 1..seg.field_count() {
            if is_numeric_field(&seg, field) {
                let raw = seg.field(field).raw();
                if !raw.is_empty() && !seg.field(field).is_null() && !is_hl7_number(raw) {
                    not_numeric.push(id, field);
                }
            }
        }
    }
    if let Some(list) = empty.sentence() {
        findings.warning(
            "field.required_empty",
            format!("required fields are empty: {list}"),
        );
    }
    if let Some(list) = not_numeric.sentence() {
        findings.warning(
            "field.not_numeric",
            format!("numeric (NM) fields hold non-numbers: {list}"),
        );
    }
}

/// Whether a field holds an NM value: by the segment table, or for OBX-5 by OBX-2.
fn is_numeric_field(seg: &Segment<'_>, field: usize) -> bool {
    if seg.id() == "OBX" && field == 5 {
        return seg.field(2).raw() == "NM";
    }
    rules::field_type(seg.id(), field) == Some("NM")
}

/// HL7 NM: an optional sign, digits, and an optional decimal point.
fn is_hl7_number(raw: &str) -> bool {
    let digits = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    let mut seen_digit = false;
    let mut seen_point = false;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_point => seen_point = true,
            _ => return false,
        }
    }
    seen_digit
}

fn check_segment_order(code: &str, event: &str, message: &Message<'_>, findings: &mut Findings) {
    let Some(grammar) = rules::segment_order(&format!("{code}^{event}")) else {
        return;
    };
    let ids: Vec<&str> = message.segments().map(|s| s.id()).collect();
    if !grammar.matches_full(&ids) {
        let nho = if grammar.matches_prefix_collapsed(&ids) {
            "accepted"
        } else {
            "rejected"
        };
        findings.warning(
            "hl7.segment_order",
            format!("segment order does not follow the {code}^{event} structure (NHO's prefix check: {nho})"),
        );
    }
}

/// Field positions for a sentence, bounded.
#[derive(Debug, Default)]
struct Positions {
    listed: Vec<String>,
    more: usize,
}

impl Positions {
    fn push(&mut self, segment: &str, field: usize) {
        let position = format!("{segment}-{field}");
        if self.listed.contains(&position) {
            return;
        }
        if self.listed.len() < POSITIONS_LISTED_MAX {
            self.listed.push(position);
        } else {
            self.more += 1;
        }
    }

    fn sentence(&self) -> Option<String> {
        if self.listed.is_empty() {
            return None;
        }
        let mut s = self.listed.join(", ");
        if self.more > 0 {
            s.push_str(&format!(" and {} more", self.more));
        }
        Some(s)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The storage roots below a path given on the command line: the path itself, or, for a
/// region directory such as `kizuna gen` writes, each child named by a 10-digit facility code.
pub fn storage_roots(path: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(path) else {
        return vec![path.to_owned()];
    };
    let mut facilities: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() == 10 && name.bytes().all(|b| b.is_ascii_digit())
        })
        .map(|e| e.path())
        .collect();
    if facilities.is_empty() {
        return vec![path.to_owned()];
    }
    facilities.sort();
    facilities
}

/// Checks every file below `root`, in path order, calling `visit` with each report. Symbolic
/// links are reported, never followed; unreadable entries are reported as errors.
pub fn check_tree(root: &Path, mut visit: impl FnMut(FileReport)) {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let path = err
                    .path()
                    .map_or_else(|| root.display().to_string(), |p| p.display().to_string());
                visit(io_report(
                    path,
                    "io.unreadable",
                    format!("cannot read this entry: {}", io_kind(&err)),
                ));
                continue;
            }
        };
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        let display = entry.path().display().to_string();
        if file_type.is_symlink() {
            visit(io_report(
                display,
                "path.symlink",
                "symbolic links are not followed".to_owned(),
            ));
            continue;
        }
        if !file_type.is_file() {
            visit(io_report(
                display,
                "path.not_a_file",
                "not a regular file".to_owned(),
            ));
            continue;
        }
        let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let components: Option<Vec<&str>> = relative.iter().map(|c| c.to_str()).collect();
        let Some(components) = components else {
            visit(io_report(
                display,
                "path.not_utf8",
                "a path component is not valid UTF-8".to_owned(),
            ));
            continue;
        };
        match read_bounded(entry.path()) {
            Ok(bytes) => visit(check_file(&display, &components, &bytes)),
            Err(message) => visit(io_report(display, "io.unreadable", message)),
        }
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read this file: {}", e.kind()))?;
    if meta.len() > FILE_BYTES_MAX {
        return Err(format!(
            "file of {} bytes exceeds the {FILE_BYTES_MAX}-byte limit",
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read this file: {}", e.kind()))
}

fn io_kind(err: &walkdir::Error) -> String {
    if err.loop_ancestor().is_some() {
        return "file system loop".to_owned();
    }
    err.io_error()
        .map_or_else(|| "unknown error".to_owned(), |e| e.kind().to_string())
}

fn io_report(path: String, code: &'static str, message: String) -> FileReport {
    FileReport {
        path,
        verdict: Verdict::Error,
        kind: EntryKind::Other,
        data_type: None,
        sha256: None,
        bytes: 0,
        findings: vec![Finding {
            level: Level::Error,
            code,
            message,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "0000001_20240101_OMP-01_000000000000042_20240101093000123_01_1";

    fn components(name: &str) -> Vec<&str> {
        vec!["000", "000", "0000001", "20240101", "OMP-01", name]
    }

    fn codes(report: &FileReport) -> Vec<&'static str> {
        report.findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b""[..],
            b"\xFB\xFC",
            b"\x1b$B",
            b"hello",
            b"MSH",
            b"\0\0\0",
        ] {
            let report = check_file("x", &components(NAME), bytes);
            assert_eq!(
                report.verdict,
                Verdict::Error,
                "{bytes:?}: {:?}",
                report.findings
            );
        }
        // A bare MSH is a (very poor) message: keyed, readable, full of warnings.
        let report = check_file("x", &components(NAME), b"MSH|");
        assert_eq!(report.verdict, Verdict::Warning);
        assert!(
            codes(&report).contains(&"field.required_empty"),
            "{:?}",
            report.findings
        );
    }

    #[test]
    fn wrong_depth_and_bad_names_are_errors() {
        let report = check_file("x", &["README"], b"MSH|^~\\&|");
        assert_eq!(codes(&report), ["path.depth"]);
        let report = check_file("x", &components("not_a_name"), b"MSH|^~\\&|");
        assert_eq!(codes(&report), ["name.grammar"]);
    }

    #[test]
    fn extended_storage_content_is_recognised() {
        let ty = "L-OBSERVATIONS^OBSERVATIONS^99ZL01";
        let folder = format!("0123456789_20160101_{ty}_000000020160101_201601011500321_1");
        let components = [
            "012",
            "345",
            "0123456789",
            "20160101",
            ty,
            folder.as_str(),
            "main_document.hl7",
        ];
        let report = check_file("x", &components, b"<ClinicalDocument/>");
        assert_eq!(
            (report.kind, report.verdict),
            (EntryKind::Extended, Verdict::Ok)
        );
        assert_eq!(report.data_type.as_deref(), Some(ty));
        // A seventh level that is not a content folder is not extended storage.
        let components = ["012", "345", "0123456789", "20160101", ty, "junk", "file"];
        assert_eq!(check_file("x", &components, b"").verdict, Verdict::Error);
    }

    #[test]
    fn numbers_follow_hl7_nm() {
        for ok in ["0", "-1.5", "+2", ".5", "10."] {
            assert!(is_hl7_number(ok), "{ok}");
        }
        for bad in ["", "-", "1e3", "1,000", "ccc", "1.2.3", "１"] {
            assert!(!is_hl7_number(bad), "{bad}");
        }
    }

    #[test]
    fn msh_timestamps() {
        for ok in ["20111220224447", "20111220224447.3399", "20111220224447.1"] {
            assert!(is_msh_timestamp(ok), "{ok}");
        }
        for bad in [
            "201112202244",
            "20111220224447.12345",
            "20080203163012345",
            "201601011500.321",
            "20111220224447+0900",
        ] {
            assert!(!is_msh_timestamp(bad), "{bad}");
        }
    }
}
