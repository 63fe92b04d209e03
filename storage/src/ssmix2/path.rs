//! Paths and file names of the standardized and extended storages
//! (`../shared/docs/ssmix2.md` §2, §10).
//!
//! ```text
//! <root>/<ID[0..3]>/<ID[3..6]>/<ID>/<care date | ->/<data type>/<ID>_<date>_<type>_<order>_<occurred>_<dept>_<flag>
//! ```
//!
//! Reading follows the lenient grammar of §2.2 and keeps every token as written, so a parsed
//! name prints back to exactly the same string. Writing ([`FileName::new`]) emits only the
//! writer form: a 15-character order number, a 17-digit time of occurrence. Names are never built
//! from message field values, only from validated tokens.

use std::fmt;

use super::datatype::DataType;

/// The last field of a file name: which version of a record the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum ConditionFlag {
    /// `0`: deleted or cancelled. Both the deleted versions and the deleting message carry it.
    Deleted,
    /// `1`: the current version of the record.
    Current,
    /// `2`: superseded by a newer version, kept as history.
    Superseded,
}

impl ConditionFlag {
    pub fn as_char(self) -> char {
        match self {
            ConditionFlag::Deleted => '0',
            ConditionFlag::Current => '1',
            ConditionFlag::Superseded => '2',
        }
    }

    fn parse(token: &str) -> Option<Self> {
        match token {
            "0" => Some(ConditionFlag::Deleted),
            "1" => Some(ConditionFlag::Current),
            "2" => Some(ConditionFlag::Superseded),
            _ => None,
        }
    }

    /// The rank in the only order in which a version's flag may move (`1` → `2` → `0`, or
    /// `1` → `0`): merging two replicas' flags keeps the higher rank.
    pub fn history_rank(self) -> u8 {
        match self {
            ConditionFlag::Current => 0,
            ConditionFlag::Superseded => 1,
            ConditionFlag::Deleted => 2,
        }
    }
}

/// A parsed standardized-storage file name. Every token is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileName {
    pub patient_id: String,
    /// `YYYYMMDD`, or `None` for the undated folder `-`.
    pub care_date: Option<String>,
    pub data_type: String,
    pub order_no: String,
    /// 発生日時, `YYYYMMDDHHMMSSfff` in the writer form.
    pub occurred: String,
    /// SS-MIX2 department code, or `None` for `-`.
    pub department: Option<String>,
    pub flag: ConditionFlag,
}

/// Why a name breaks even the lenient reader grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("file name has {0} fields separated by '_', expected 7")]
    FieldCount(usize),
    #[error("patient ID must be 1 to 15 characters")]
    PatientId,
    #[error("care date must be 8 digits or '-'")]
    CareDate,
    #[error("data type is empty")]
    DataType,
    #[error("order number must be 1 to 22 characters")]
    OrderNo,
    #[error("time of occurrence must be 12 to 17 digits")]
    Occurred,
    #[error("department must be 1 to 5 characters or '-'")]
    Department,
    #[error("condition flag must be 0, 1 or 2")]
    Flag,
    #[error("a name token contains a character that cannot appear in a file name")]
    UnsafeCharacter,
}

/// A deviation from the writer form that the reader grammar still accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum NameFinding {
    /// The order number is not 15 characters (13 digits seen in the guideline samples).
    OrderNoLength,
    /// The time of occurrence is not 17 digits (15 seen in NHO's samples).
    OccurredLength,
    /// The data type token is none of the 26 standardized types.
    UnknownDataType,
}

impl NameFinding {
    pub fn code(self) -> &'static str {
        match self {
            NameFinding::OrderNoLength => "name.order_no_length",
            NameFinding::OccurredLength => "name.occurred_length",
            NameFinding::UnknownDataType => "name.unknown_data_type",
        }
    }

    pub fn sentence(self) -> &'static str {
        match self {
            NameFinding::OrderNoLength => "order number in the file name is not 15 characters",
            NameFinding::OccurredLength => "time of occurrence in the file name is not 17 digits",
            NameFinding::UnknownDataType => "data type is not one of the 26 standardized types",
        }
    }
}

/// The order number of kinds that have no order (ADT-xx, PPR-01).
pub const NO_ORDER: &str = "999999999999999";

/// Characters never accepted in a token we write: path separators, the name separator, and
/// anything a file system or shell would treat specially.
fn is_safe_token(token: &str) -> bool {
    !token.is_empty()
        && token != "."
        && token != ".."
        && token.chars().all(|c| {
            !c.is_control()
                && !matches!(
                    c,
                    '/' | '\\' | '_' | ':' | '*' | '?' | '"' | '<' | '>' | '|'
                )
        })
}

impl FileName {
    /// Parses a name with the reader grammar of `../shared/docs/ssmix2.md` §2.2.
    pub fn parse(name: &str) -> Result<(FileName, Vec<NameFinding>), NameError> {
        let tokens: Vec<&str> = name.split('_').collect();
        let [pid, date, kind, order, occurred, dept, flag] = tokens[..] else {
            return Err(NameError::FieldCount(tokens.len()));
        };
        if pid.is_empty() || pid.chars().count() > 15 {
            return Err(NameError::PatientId);
        }
        let care_date = match date {
            "-" => None,
            d if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) => Some(d.to_owned()),
            _ => return Err(NameError::CareDate),
        };
        if kind.is_empty() {
            return Err(NameError::DataType);
        }
        if order.is_empty() || order.chars().count() > 22 {
            return Err(NameError::OrderNo);
        }
        if !(12..=17).contains(&occurred.len()) || !occurred.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NameError::Occurred);
        }
        let department = match dept {
            "-" => None,
            d if !d.is_empty() && d.chars().count() <= 5 => Some(d.to_owned()),
            _ => return Err(NameError::Department),
        };
        let flag = ConditionFlag::parse(flag).ok_or(NameError::Flag)?;
        let mut findings = Vec::new();
        if order.chars().count() != 15 {
            findings.push(NameFinding::OrderNoLength);
        }
        if occurred.len() != 17 {
            findings.push(NameFinding::OccurredLength);
        }
        if kind.parse::<DataType>().is_err() {
            findings.push(NameFinding::UnknownDataType);
        }
        let parsed = FileName {
            patient_id: pid.to_owned(),
            care_date,
            data_type: kind.to_owned(),
            order_no: order.to_owned(),
            occurred: occurred.to_owned(),
            department,
            flag,
        };
        Ok((parsed, findings))
    }

    /// Builds a name in the strict writer form. `order_no` is left-padded with `0` to 15
    /// characters; `None` gives fifteen `9`s (kinds without an order). `occurred` must be 17 digits.
    pub fn new(
        patient_id: &str,
        care_date: Option<&str>,
        data_type: DataType,
        order_no: Option<&str>,
        occurred: &str,
        department: Option<&str>,
        flag: ConditionFlag,
    ) -> Result<FileName, NameError> {
        if !is_safe_token(patient_id) || patient_id.chars().count() > 15 {
            return Err(NameError::PatientId);
        }
        if let Some(d) = care_date
            && (d.len() != 8 || !d.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(NameError::CareDate);
        }
        let order_no = match order_no {
            None => NO_ORDER.to_owned(),
            Some(o) if is_safe_token(o) && o.chars().count() <= 15 => format!("{o:0>15}"),
            Some(_) => return Err(NameError::OrderNo),
        };
        if occurred.len() != 17 || !occurred.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NameError::Occurred);
        }
        if let Some(d) = department
            && (!is_safe_token(d) || d == "-" || d.chars().count() > 3)
        {
            return Err(NameError::Department);
        }
        Ok(FileName {
            patient_id: patient_id.to_owned(),
            care_date: care_date.map(str::to_owned),
            data_type: data_type.as_str().to_owned(),
            order_no,
            occurred: occurred.to_owned(),
            department: department.map(str::to_owned),
            flag,
        })
    }

    /// The standardized data type, if the token is one.
    pub fn standard_type(&self) -> Option<DataType> {
        self.data_type.parse().ok()
    }

    /// The date folder this name belongs in: `YYYYMMDD` or `-`.
    pub fn date_folder(&self) -> &str {
        self.care_date.as_deref().unwrap_or("-")
    }

    /// The same version under another condition flag (a history rename).
    pub fn with_flag(&self, flag: ConditionFlag) -> FileName {
        FileName {
            flag,
            ..self.clone()
        }
    }

    /// The path of this file relative to the storage root.
    pub fn relative_path(&self, policy: ShortIdPolicy) -> String {
        let [l1, l2] = policy.levels(&self.patient_id);
        format!(
            "{l1}/{l2}/{}/{}/{}/{self}",
            self.patient_id,
            self.date_folder(),
            self.data_type
        )
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{}_{}_{}_{}_{}_{}",
            self.patient_id,
            self.date_folder(),
            self.data_type,
            self.order_no,
            self.occurred,
            self.department.as_deref().unwrap_or("-"),
            self.flag.as_char()
        )
    }
}

/// How folder levels 1 and 2 are formed for patient IDs shorter than six characters. The
/// guideline text read for this project does not say (`../shared/docs/ssmix2.md` §2.1, OPEN),
/// so writers choose here and readers accept any layout for such IDs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShortIdPolicy {
    /// Left-pad the ID with `0` to six characters for the two level folders only.
    #[default]
    ZeroPadLeft,
    /// Use the characters there are; a level with none is named `-`.
    Truncate,
}

impl ShortIdPolicy {
    /// Folder levels 1 and 2 for a patient ID.
    pub fn levels(self, patient_id: &str) -> [String; 2] {
        let chars: Vec<char> = match self {
            ShortIdPolicy::ZeroPadLeft if patient_id.chars().count() < 6 => {
                format!("{patient_id:0>6}").chars().collect()
            }
            _ => patient_id.chars().collect(),
        };
        let level = |range: std::ops::Range<usize>| -> String {
            let s: String = chars
                .get(range.start..range.end.min(chars.len()))
                .unwrap_or_default()
                .iter()
                .collect();
            if s.is_empty() { "-".to_owned() } else { s }
        };
        [level(0..3), level(3..6)]
    }
}

/// A file of the standardized storage, keyed by its path relative to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePath {
    /// The six folder and file components as found.
    pub folders: [String; 5],
    pub name: FileName,
}

/// A component of a relative path that disagrees with the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Disagreement {
    /// Folder level 1 or 2 is not the first or second three characters of the patient ID.
    PatientLevel,
    /// Folder level 3 is not the patient ID of the name.
    Patient,
    /// The date folder is not the care date of the name.
    Date,
    /// The data type folder is not the data type of the name.
    DataType,
}

impl Disagreement {
    pub fn code(self) -> &'static str {
        match self {
            Disagreement::PatientLevel => "path.patient_level_mismatch",
            Disagreement::Patient => "path.patient_mismatch",
            Disagreement::Date => "path.date_mismatch",
            Disagreement::DataType => "path.data_type_mismatch",
        }
    }

    /// Which folder (0-based component of the relative path) the disagreement is about.
    pub fn folder_index(self) -> usize {
        match self {
            Disagreement::PatientLevel => 0,
            Disagreement::Patient => 2,
            Disagreement::Date => 3,
            Disagreement::DataType => 4,
        }
    }
}

/// Why a relative path is not a standardized-storage file path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path has {0} components below the root, expected 6 (ID/ID/ID/date/type/file)")]
    Depth(usize),
    #[error("a path component is not valid UTF-8")]
    NotUtf8,
    #[error("file name: {0}")]
    Name(#[from] NameError),
    #[error("folders disagree with the file name: {}", .0.iter().map(|d| d.code()).collect::<Vec<_>>().join(", "))]
    Misplaced(Vec<Disagreement>),
}

impl StoragePath {
    /// Parses a path relative to a standardized-storage root, given as its components, and
    /// checks that the folders agree with the name. The name's own findings are returned.
    pub fn parse(components: &[&str]) -> Result<(StoragePath, Vec<NameFinding>), PathError> {
        let [l1, l2, l3, date, kind, file] = components[..] else {
            return Err(PathError::Depth(components.len()));
        };
        let (name, findings) = FileName::parse(file)?;
        let mut disagreements = Vec::new();
        // IDs shorter than six characters have no agreed level layout: accept any.
        let pid: Vec<char> = name.patient_id.chars().collect();
        if pid.len() >= 6 {
            let level1: String = pid[..3].iter().collect();
            let level2: String = pid[3..6].iter().collect();
            if l1 != level1 || l2 != level2 {
                disagreements.push(Disagreement::PatientLevel);
            }
        }
        if l3 != name.patient_id {
            disagreements.push(Disagreement::Patient);
        }
        if date != name.date_folder() {
            disagreements.push(Disagreement::Date);
        }
        if kind != name.data_type {
            disagreements.push(Disagreement::DataType);
        }
        if !disagreements.is_empty() {
            return Err(PathError::Misplaced(disagreements));
        }
        let folders = [l1, l2, l3, date, kind].map(str::to_owned);
        Ok((StoragePath { folders, name }, findings))
    }

    /// The relative path, `/`-separated, exactly as it was found.
    pub fn relative(&self) -> String {
        let [a, b, c, d, e] = &self.folders;
        format!("{a}/{b}/{c}/{d}/{e}/{}", self.name)
    }
}

/// A content folder of the extended storage: `<ID>_<date>_<type folder>_<key>_<occurred>[_<dept>]_<flag>`.
/// Both public sample folders lack the department, so six and seven fields are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentFolder {
    pub patient_id: String,
    pub care_date: Option<String>,
    /// The coded data-type folder name, e.g. `L-OBSERVATIONS^OBSERVATIONS^99ZL01`.
    pub data_type: String,
    /// 特定キー, the free-form specific key replacing the order number.
    pub key: String,
    pub occurred: String,
    pub department: Option<String>,
    pub flag: ConditionFlag,
}

impl ContentFolder {
    /// Parses a content-folder name found under `<ID>/<date>/<type folder>/`. The data-type
    /// folder may itself contain `_`, so the known prefix is removed rather than split.
    pub fn parse(
        patient_id: &str,
        date_folder: &str,
        type_folder: &str,
        name: &str,
    ) -> Option<ContentFolder> {
        let prefix = format!("{patient_id}_{date_folder}_{type_folder}_");
        let rest = name.strip_prefix(&prefix)?;
        let tokens: Vec<&str> = rest.split('_').collect();
        let (key, occurred, department, flag) = match tokens[..] {
            [key, occurred, flag] => (key, occurred, None, flag),
            [key, occurred, dept, flag] => {
                (key, occurred, (dept != "-").then(|| dept.to_owned()), flag)
            }
            _ => return None,
        };
        if key.is_empty()
            || !(12..=17).contains(&occurred.len())
            || !occurred.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(ContentFolder {
            patient_id: patient_id.to_owned(),
            care_date: (date_folder != "-").then(|| date_folder.to_owned()),
            data_type: type_folder.to_owned(),
            key: key.to_owned(),
            occurred: occurred.to_owned(),
            department,
            flag: ConditionFlag::parse(flag)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = "9999013_20111120_ADT-22_999999999999999_20111220224447339_01_1";

    #[test]
    fn parses_and_prints_a_sample_name_exactly() {
        let (name, findings) = FileName::parse(SAMPLE).unwrap();
        assert!(findings.is_empty());
        assert_eq!(name.patient_id, "9999013");
        assert_eq!(name.care_date.as_deref(), Some("20111120"));
        assert_eq!(name.standard_type(), Some(DataType::Adt22));
        assert_eq!(name.department.as_deref(), Some("01"));
        assert_eq!(name.flag, ConditionFlag::Current);
        assert_eq!(name.to_string(), SAMPLE);
        assert_eq!(
            name.relative_path(ShortIdPolicy::default()),
            format!("999/901/9999013/20111120/ADT-22/{SAMPLE}")
        );
    }

    #[test]
    fn lenient_tokens_are_findings() {
        let (name, findings) =
            FileName::parse("9999013_20111220_OMG-11_2011122000300_201112202244473_24_1").unwrap();
        assert_eq!(
            findings,
            [NameFinding::OrderNoLength, NameFinding::OccurredLength]
        );
        assert_eq!(
            name.order_no, "2011122000300",
            "order numbers are never re-padded"
        );
        let (_, findings) = FileName::parse("1_-_XYZ-01_1_20111220224447339_-_0").unwrap();
        assert_eq!(
            findings,
            [NameFinding::OrderNoLength, NameFinding::UnknownDataType]
        );
    }

    #[test]
    fn grammar_violations_are_errors() {
        let cases = [
            ("a_b", NameError::FieldCount(2)),
            (
                "1234567890123456_-_ADT-00_999999999999999_20111220224447339_-_1",
                NameError::PatientId,
            ),
            (
                "1_2011122_ADT-00_999999999999999_20111220224447339_-_1",
                NameError::CareDate,
            ),
            (
                "1_-_ADT-00_999999999999999_2011122022_-_1",
                NameError::Occurred,
            ),
            (
                "1_-_ADT-00_999999999999999_20111220224447339_-_3",
                NameError::Flag,
            ),
            (
                "1_-_ADT-00_999999999999999_20111220224447339_123456_1",
                NameError::Department,
            ),
        ];
        for (name, want) in cases {
            assert_eq!(FileName::parse(name).unwrap_err(), want, "{name}");
        }
    }

    #[test]
    fn misplaced_file_names_every_disagreement() {
        let components = [
            "000",
            "000",
            "0000001",
            "20000401",
            "ADT-31",
            "9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1",
        ];
        let err = StoragePath::parse(&components).unwrap_err();
        assert_eq!(
            err,
            PathError::Misplaced(vec![
                Disagreement::PatientLevel,
                Disagreement::Patient,
                Disagreement::Date,
                Disagreement::DataType
            ])
        );
    }

    #[test]
    fn writer_form_is_strict() {
        let name = FileName::new(
            "0001",
            Some("20240101"),
            DataType::Omp01,
            Some("42"),
            "20240101093000123",
            None,
            ConditionFlag::Current,
        )
        .unwrap();
        assert_eq!(
            name.to_string(),
            "0001_20240101_OMP-01_000000000000042_20240101093000123_-_1"
        );
        assert_eq!(
            name.relative_path(ShortIdPolicy::ZeroPadLeft),
            format!("000/001/0001/20240101/OMP-01/{name}")
        );
        assert_eq!(
            name.relative_path(ShortIdPolicy::Truncate),
            format!("000/1/0001/20240101/OMP-01/{name}")
        );
        assert!(
            FileName::new(
                "../x",
                None,
                DataType::Adt00,
                None,
                "20240101093000123",
                None,
                ConditionFlag::Current
            )
            .is_err()
        );
        assert!(
            FileName::new(
                "1",
                None,
                DataType::Adt00,
                Some("a_b"),
                "20240101093000123",
                None,
                ConditionFlag::Current
            )
            .is_err()
        );
        assert!(
            FileName::new(
                "1",
                None,
                DataType::Adt00,
                None,
                "2024010109300012",
                None,
                ConditionFlag::Current
            )
            .is_err()
        );
    }

    #[test]
    fn short_ids_accept_any_level_layout() {
        for layout in [["000", "000"], ["000", "1"], ["1", "-"]] {
            let components = [
                layout[0],
                layout[1],
                "1",
                "-",
                "ADT-00",
                "1_-_ADT-00_999999999999999_20111220224447339_-_1",
            ];
            assert!(StoragePath::parse(&components).is_ok(), "{layout:?}");
        }
    }

    #[test]
    fn extended_content_folders_with_six_or_seven_fields() {
        let ty = "L-OBSERVATIONS^OBSERVATIONS^99ZL01";
        let six = format!("0123456789_20160101_{ty}_000000020160101_201601011500321_1");
        let folder = ContentFolder::parse("0123456789", "20160101", ty, &six).unwrap();
        assert_eq!(
            (folder.key.as_str(), folder.department, folder.flag),
            ("000000020160101", None, ConditionFlag::Current)
        );
        let seven = format!("0123456789_-_{ty}_K1_20160101150032100_01_0");
        let folder = ContentFolder::parse("0123456789", "-", ty, &seven).unwrap();
        assert_eq!(
            (folder.care_date, folder.department.as_deref(), folder.flag),
            (None, Some("01"), ConditionFlag::Deleted)
        );
        assert!(ContentFolder::parse("0123456789", "-", ty, "other_name").is_none());
    }

    fn token(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[0-9A-Za-z.\\-]{{1,{max}}}")).expect("valid regex")
    }

    proptest! {
        #[test]
        fn names_round_trip(
            pid in "[0-9A-Za-z]{1,15}",
            date in proptest::option::of("[0-9]{8}"),
            dt in 0usize..26,
            order in token(22).prop_filter("- is reserved", |s| s != "-"),
            occurred in "[0-9]{12,17}",
            dept in proptest::option::of("[0-9A-Z]{1,5}"),
            flag in 0usize..3,
        ) {
            let name = FileName {
                patient_id: pid,
                care_date: date,
                data_type: DataType::ALL[dt].as_str().to_owned(),
                order_no: order,
                occurred,
                department: dept,
                flag: [ConditionFlag::Deleted, ConditionFlag::Current, ConditionFlag::Superseded][flag],
            };
            let text = name.to_string();
            let (parsed, _) = FileName::parse(&text).unwrap();
            prop_assert_eq!(&parsed, &name);
            let rel = name.relative_path(ShortIdPolicy::ZeroPadLeft);
            let components: Vec<&str> = rel.split('/').collect();
            let (path, _) = StoragePath::parse(&components).unwrap();
            prop_assert_eq!(path.relative(), rel);
            prop_assert_eq!(path.name, name);
        }

        #[test]
        fn writer_names_have_no_findings(
            pid in "[0-9]{1,15}",
            dt in 0usize..26,
            order in proptest::option::of("[0-9]{1,15}"),
            occurred in "[0-9]{17}",
        ) {
            let name = FileName::new(&pid, Some("20240101"), DataType::ALL[dt], order.as_deref(), &occurred, Some("01"), ConditionFlag::Current).unwrap();
            let (parsed, findings) = FileName::parse(&name.to_string()).unwrap();
            prop_assert!(findings.is_empty());
            prop_assert_eq!(parsed, name);
        }

        #[test]
        fn parsing_arbitrary_names_never_panics(s in "\\PC{0,80}") {
            let _ = FileName::parse(&s);
            let parts: Vec<&str> = s.split('/').collect();
            let _ = StoragePath::parse(&parts);
        }
    }
}
