//! The emergency summary of one patient at one facility (domain guide §2): demographics,
//! allergies, active diagnoses, current prescriptions and injections, recent labs with
//! infections marked, admissions, and the life-sustaining flags derived by a versioned rule
//! table. Every entry names its source facility, date, data type and version.
//!
//! **No scan.** The summary reads only the patient's own `location` rows (indexed by
//! `patient_token`); each sealed path carries data type, date and condition flag, so the files
//! to decode are chosen before any item is read. This is the per-patient index: entry rows
//! holding extracted copies would have duplicated the items' bytes (against the 30 % storage
//! target) and needed re-sealing on every flag rename.
//!
//! **Versions.** Only current files (flag 1) are used; with `history`, superseded (2) and
//! deleted (0) ones are listed too, each entry marked with its version.
//!
//! **Windows** (relative to the reference date: `--now`, else the newest current prescription
//! date of the patient, else the newest date of any of its files): prescriptions and injections
//! of the last 100 days, or the last 3 orders if fewer; labs of the last 365 days, or the last 3
//! results per JLAC10 code; allergies and diagnoses are never hidden by age (a forgotten
//! allergy is worse than a long list); resolved diagnoses (PRB-9 set) are left out.
//!
//! **Scope.** One (facility, patient ID). The same person at another facility has another
//! local ID; linking them (PIX) is a later issue, so the summary says so.

use std::collections::BTreeMap;

use rusqlite::OptionalExtension;
use serde::Serialize;

use super::crypto::Keys;
use super::error::{SummaryError, db};
use super::patient::{PatientRecord, patient_token};
use super::{Store, is_facility_code, item, schema};
use crate::ssmix2::extract::{self, Clinical, Coded, MedicationOrder};
use crate::ssmix2::hl7::Message;
use crate::ssmix2::jis;
use crate::ssmix2::path::{ConditionFlag, FileName};

/// The version of the life-sustaining flag rules below; printed with every summary.
pub const FLAG_RULES_VERSION: &str = "kizuna-flags/1 (2025)";
/// Files of one patient considered at most (bounds time and memory of one summary).
const FILES_MAX: usize = 5_000;
const MED_WINDOW_DAYS: i32 = 100;
const LAB_WINDOW_DAYS: i32 = 365;
const LAST_N: usize = 3;

/// How a flag rule matches.
#[derive(Debug, Clone, Copy)]
enum Match {
    /// ICD-10 code prefix of an active diagnosis (dots removed).
    Icd10(&'static str),
    /// HOT code prefix of a current prescription or injection.
    Hot(&'static str),
    /// Substring of a current drug's name.
    DrugName(&'static str),
}

/// The rule table: flag, matcher, and whether a match alone confirms the flag (`false`: a
/// prompt to ask, e.g. COPD without an oxygen order).
const RULES: &[(&str, Match, bool)] = &[
    ("dialysis", Match::Icd10("N185"), true),
    ("dialysis", Match::Icd10("N186"), true),
    ("dialysis", Match::Icd10("Z49"), true),
    ("dialysis", Match::Icd10("Z992"), true),
    // ESAs given at dialysis sessions, and sevelamer (in Japan indicated for dialysis patients).
    ("dialysis", Match::Hot("119878501"), true),
    ("dialysis", Match::Hot("121532301"), true),
    ("dialysis", Match::Hot("114290501"), true),
    ("dialysis", Match::DrugName("透析"), true),
    ("insulin", Match::Hot("116573601"), true),
    ("insulin", Match::Hot("114938202"), true),
    ("insulin", Match::DrugName("インスリン"), true),
    ("insulin", Match::DrugName("ランタス"), true),
    ("insulin", Match::DrugName("ノボラピッド"), true),
    ("insulin", Match::DrugName("ヒューマログ"), true),
    ("insulin", Match::DrugName("トレシーバ"), true),
    ("insulin", Match::DrugName("レベミル"), true),
    ("insulin", Match::DrugName("ヒューマリン"), true),
    ("insulin", Match::DrugName("ノボリン"), true),
    ("home_oxygen", Match::DrugName("酸素"), true),
    ("home_oxygen", Match::Icd10("J44"), false),
    ("home_oxygen", Match::Icd10("J961"), false),
];

/// Infection screening by JLAC10 analyte code (first 5 characters).
const INFECTIONS: &[(&str, &str)] = &[
    ("5F016", "HBs antigen"),
    ("5F360", "HCV antibody"),
    ("5E071", "syphilis TP antibody"),
    ("5E011", "syphilis STS"),
    ("5F431", "HIV antigen/antibody"),
];

#[derive(Debug, Clone, Default)]
pub struct SummaryOptions {
    /// Reference date `YYYYMMDD` for the windows; default: the newest prescription date.
    pub now: Option<String>,
    /// Also list superseded and deleted versions.
    pub history: bool,
}

/// Where an entry came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub facility: String,
    /// Care date (date folder) or, for undated files, the date of occurrence.
    pub date: String,
    pub data_type: String,
    /// `current`, `superseded` or `deleted`.
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct AllergyEntry {
    pub source: Source,
    /// `AL1` or `IAM`.
    pub segment: &'static str,
    pub allergen_type: Option<String>,
    pub allergen: Option<String>,
    pub allergen_code: Option<String>,
    pub system: Option<String>,
    pub severity: Option<String>,
    pub reaction: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiagnosisEntry {
    pub source: Source,
    pub name: Option<String>,
    pub icd10: Option<String>,
    pub medis: Option<String>,
    pub medis_exchange: Option<String>,
    pub established: Option<String>,
    pub main: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MedicationEntry {
    pub source: Source,
    pub order_number: Option<String>,
    pub drug: Option<String>,
    pub drug_code: Option<String>,
    pub system: Option<String>,
    pub dose: Option<String>,
    pub dose_unit: Option<String>,
    pub frequency: Option<String>,
    pub days: Option<String>,
    pub start: Option<String>,
    pub route: Option<String>,
    /// RXC components of an injection (base and additives), by name.
    pub components: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabEntry {
    pub source: Source,
    pub code: Option<String>,
    pub name: Option<String>,
    pub value: Option<String>,
    pub unit: Option<String>,
    pub abnormal: Option<String>,
    pub observed: Option<String>,
    /// Set for infection screening items (HBs, HCV, syphilis TP/STS, HIV).
    pub infection: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdmissionEntry {
    pub source: Source,
    /// `A01` admission, `A03` discharge.
    pub event: Option<String>,
    pub admitted: Option<String>,
    pub discharged: Option<String>,
    pub ward: Option<String>,
    pub department: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub source: Source,
    pub what: String,
}

/// A derived life-sustaining therapy flag.
#[derive(Debug, Clone, Serialize)]
pub struct LifeFlag {
    pub flag: &'static str,
    /// `false`: only suggestive (e.g. COPD without an oxygen order): ask the patient.
    pub confirmed: bool,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub facility: String,
    pub patient_id: String,
    pub scope: &'static str,
    pub flag_rules: &'static str,
    pub reference_date: Option<String>,
    /// `now`, `newest prescription` or `newest record`.
    pub reference_basis: &'static str,
    pub history: bool,
    pub patient: Option<PatientRecord>,
    pub flags: Vec<LifeFlag>,
    pub allergies: Vec<AllergyEntry>,
    pub diagnoses: Vec<DiagnosisEntry>,
    pub prescriptions: Vec<MedicationEntry>,
    pub injections: Vec<MedicationEntry>,
    pub labs: Vec<LabEntry>,
    pub admissions: Vec<AdmissionEntry>,
    /// Files of this patient read to build the summary, and files of it in the store.
    pub files_read: usize,
    pub files_total: usize,
}

/// A patient's files: ?1 patient token, ?2 facility, ?3 the token's first
/// [`schema::PATIENT_PREFIX_LEN`] bytes, which is what `location_patient` indexes (schema 7).
pub(crate) const PATIENT_FILES_SQL: &str =
    "SELECT path_token, path_nonce, path_sealed, item_id FROM location
     WHERE substr(patient_token, 1, 4) = ?3 AND patient_token = ?1 AND facility = ?2
       AND quarantined = 0";

/// Opens a sealed relative path and parses its file name.
pub fn open_name(
    keys: &Keys,
    facility: &str,
    path_token: &[u8],
    nonce: &[u8],
    sealed: &[u8],
) -> Option<FileName> {
    let rel = super::sealed_path::open(keys, facility, path_token, nonce, sealed).ok()?;
    let last = rel.rsplit(|&b| b == b'/').next()?;
    FileName::parse(std::str::from_utf8(last).ok()?)
        .ok()
        .map(|(n, _)| n)
}

/// Days since 1970-01-01 of a `YYYYMMDD…` string.
fn days(date: &str) -> Option<i32> {
    let d = date.get(..8)?;
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = d[..4].parse().ok()?;
    let m: i32 = d[4..6].parse().ok()?;
    let day: i32 = d[6..8].parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn version(flag: ConditionFlag) -> &'static str {
    match flag {
        ConditionFlag::Current => "current",
        ConditionFlag::Superseded => "superseded",
        ConditionFlag::Deleted => "deleted",
    }
}

fn s(t: &Option<extract::Text<'_>>) -> Option<String> {
    t.as_ref().map(|t| t.to_string())
}

fn code_text(c: &Option<Coded<'_>>) -> Option<String> {
    c.as_ref().and_then(|c| s(&c.text).or_else(|| s(&c.code)))
}

/// One file of the patient, chosen from its path alone.
struct File {
    name: FileName,
    date: String,
    item_id: i64,
}

fn med_entry(source: &Source, o: &MedicationOrder<'_>) -> MedicationEntry {
    MedicationEntry {
        source: source.clone(),
        order_number: s(&o.order_number),
        drug: code_text(&o.drug),
        drug_code: o.drug.as_ref().and_then(|c| s(&c.code)),
        system: o.drug.as_ref().and_then(|c| s(&c.system)),
        dose: s(&o.dose),
        dose_unit: code_text(&o.dose_unit),
        frequency: code_text(&o.frequency),
        days: o.duration.as_ref().and_then(|d| s(&d.value)),
        start: s(&o.start),
        route: code_text(&o.route),
        components: o
            .components
            .iter()
            .filter_map(|c| code_text(&c.drug))
            .collect(),
    }
}

impl Store {
    /// The emergency summary of patient `patient_id` at `facility`; `None` if the store has no
    /// file of that patient.
    pub fn summary(
        &self,
        facility: &str,
        patient_id: &str,
        opts: &SummaryOptions,
    ) -> Result<Option<Summary>, SummaryError> {
        if !is_facility_code(facility) {
            return Err(SummaryError::Facility);
        }
        if patient_id.is_empty() || patient_id.chars().count() > 15 {
            return Err(SummaryError::PatientId);
        }
        let now = match &opts.now {
            Some(n) if n.len() == 8 && days(n).is_some() => Some(n.clone()),
            Some(_) => return Err(SummaryError::Date),
            None => None,
        };
        let pt = patient_token(&self.keys, facility, patient_id);
        let e = db("reading a patient's files");
        let mut files = Vec::new();
        let mut total = 0usize;
        {
            let mut stmt = self.conn.prepare_cached(PATIENT_FILES_SQL).map_err(&e)?;
            let mut rows = stmt
                .query(rusqlite::params![
                    &pt[..schema::LOCATION_PATIENT_TOKEN_LEN],
                    facility,
                    &pt[..schema::PATIENT_PREFIX_LEN]
                ])
                .map_err(&e)?;
            while let Some(r) = rows.next().map_err(&e)? {
                total += 1;
                if files.len() >= FILES_MAX {
                    continue;
                }
                let token: Vec<u8> = r.get(0).map_err(&e)?;
                let nonce: Vec<u8> = r.get(1).map_err(&e)?;
                let sealed: Vec<u8> = r.get(2).map_err(&e)?;
                let Some(name) = open_name(&self.keys, facility, &token, &nonce, &sealed) else {
                    continue;
                };
                // The path's patient ID must be the asked one: the location keeps 8 bytes of
                // the patient token (schema 8), so another patient may share them (≈ 2⁻⁶⁴).
                if name.patient_id != patient_id {
                    continue;
                }
                if !opts.history && name.flag != ConditionFlag::Current {
                    continue;
                }
                let date = name
                    .care_date
                    .clone()
                    .unwrap_or_else(|| name.occurred.chars().take(8).collect());
                files.push(File {
                    name,
                    date,
                    item_id: r.get(3).map_err(&e)?,
                });
            }
        }
        if total == 0 {
            return Ok(None);
        }
        // Newest first: by date, then time of occurrence.
        files.sort_by(|a, b| (&b.date, &b.name.occurred).cmp(&(&a.date, &a.name.occurred)));
        let is_current = |f: &File| f.name.flag == ConditionFlag::Current;
        let (reference_date, reference_basis) = match now {
            Some(n) => (Some(n), "now"),
            None => match files
                .iter()
                .find(|f| f.name.data_type == "OMP-01" && is_current(f))
            {
                Some(f) => (Some(f.date.clone()), "newest prescription"),
                None => (files.first().map(|f| f.date.clone()), "newest record"),
            },
        };
        let ref_days = reference_date.as_deref().and_then(days);
        let within = |f: &File, window: i32| match (ref_days, days(&f.date)) {
            (Some(r), Some(d)) => d <= r && d > r - window,
            _ => false,
        };
        let not_future = |f: &File| match (ref_days, days(&f.date)) {
            (Some(r), Some(d)) => d <= r,
            _ => true,
        };

        // Which files to decode.
        let mut chosen: Vec<&File> = Vec::new();
        for kind in ["OMP-01", "OMP-02"] {
            // Current orders: the window, or the last 3. With `history`, the other versions
            // dated inside the span those cover.
            let mut oldest: Option<&str> = None;
            for (n, f) in files
                .iter()
                .filter(|f| f.name.data_type == kind && not_future(f) && is_current(f))
                .enumerate()
            {
                if within(f, MED_WINDOW_DAYS) || n < LAST_N {
                    chosen.push(f);
                    oldest = Some(&f.date);
                }
            }
            if let Some(oldest) = oldest {
                chosen.extend(files.iter().filter(|f| {
                    f.name.data_type == kind
                        && !is_current(f)
                        && not_future(f)
                        && f.date.as_str() >= oldest
                }));
            }
        }
        for f in &files {
            match f.name.data_type.as_str() {
                "ADT-00" | "ADT-61" | "PPR-01" | "ADT-22" | "ADT-52" | "OML-11" => chosen.push(f),
                _ => {}
            }
        }

        let mut out = Summary {
            facility: facility.to_owned(),
            patient_id: patient_id.to_owned(),
            scope: "this facility's patient ID only; records at other facilities (other local IDs) are not linked yet",
            flag_rules: FLAG_RULES_VERSION,
            reference_date,
            reference_basis,
            history: opts.history,
            patient: self.patient(facility, patient_id)?,
            flags: Vec::new(),
            allergies: Vec::new(),
            diagnoses: Vec::new(),
            prescriptions: Vec::new(),
            injections: Vec::new(),
            labs: Vec::new(),
            admissions: Vec::new(),
            files_read: 0,
            files_total: total,
        };
        let mut diag_seen: BTreeMap<(Option<String>, Option<String>, &'static str), ()> =
            BTreeMap::new();
        let mut lab_counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut get = self
            .conn
            .prepare_cached(&format!(
                "SELECT {} FROM item i WHERE i.id = ?1",
                item::COLUMNS
            ))
            .map_err(&e)?;
        for f in chosen {
            let row = get
                .query_row([f.item_id], |r| item::Stored::from_row(r, 0))
                .optional()
                .map_err(&e)?;
            let Some(stored) = row else {
                continue;
            };
            let Ok(bytes) = item::decode(
                &self.conn,
                &self.keys,
                &mut self.codecs.borrow_mut(),
                &stored,
            ) else {
                continue;
            };
            out.files_read += 1;
            let Ok(decoded) = jis::decode(&bytes) else {
                continue;
            };
            let Ok(msg) = Message::parse(&decoded.text) else {
                continue;
            };
            let c: Clinical<'_> = extract::extract(&msg);
            let source = Source {
                facility: facility.to_owned(),
                date: f.date.clone(),
                data_type: f.name.data_type.clone(),
                version: version(f.name.flag),
            };
            for a in &c.allergies {
                out.allergies.push(AllergyEntry {
                    source: source.clone(),
                    segment: match a.source {
                        extract::AllergySource::Al1 => "AL1",
                        extract::AllergySource::Iam => "IAM",
                    },
                    allergen_type: code_text(&a.allergen_type),
                    allergen: code_text(&a.allergen),
                    allergen_code: a.allergen.as_ref().and_then(|c| s(&c.code)),
                    system: a.allergen.as_ref().and_then(|c| s(&c.system)),
                    severity: code_text(&a.severity),
                    reaction: s(&a.reaction),
                });
            }
            for d in &c.diagnoses {
                if d.resolved.is_some() && !opts.history {
                    continue;
                }
                let key = (s(&d.icd10), s(&d.medis_disease_code), source.version);
                if diag_seen.insert(key, ()).is_some() {
                    continue;
                }
                out.diagnoses.push(DiagnosisEntry {
                    source: source.clone(),
                    name: code_text(&d.disease),
                    icd10: s(&d.icd10),
                    medis: s(&d.medis_disease_code),
                    medis_exchange: s(&d.medis_exchange_code),
                    established: s(&d.established),
                    main: d
                        .ranking
                        .as_ref()
                        .and_then(|r| r.code.as_deref())
                        .is_some_and(|c| c == "1"),
                });
            }
            match f.name.data_type.as_str() {
                "OMP-01" => {
                    for o in &c.medication_orders {
                        out.prescriptions.push(med_entry(&source, o));
                    }
                }
                "OMP-02" => {
                    for o in &c.medication_orders {
                        out.injections.push(med_entry(&source, o));
                    }
                }
                "ADT-22" | "ADT-52" => {
                    if let Some(v) = &c.visit {
                        out.admissions.push(AdmissionEntry {
                            source: source.clone(),
                            event: s(&v.event),
                            admitted: s(&v.admitted),
                            discharged: s(&v.discharged),
                            ward: v.location.as_ref().and_then(|l| s(&l.point_of_care)),
                            department: s(&v.department),
                        });
                    }
                }
                "OML-11" => {
                    let recent = within(f, LAB_WINDOW_DAYS);
                    for rep in &c.lab_reports {
                        for o in &rep.observations {
                            let code = o.code.as_ref().and_then(|c| s(&c.code));
                            let key = code.clone().unwrap_or_default();
                            let n = lab_counts.entry(key.clone()).or_default();
                            if !recent && *n >= LAST_N {
                                continue;
                            }
                            *n += usize::from(source.version == "current");
                            out.labs.push(LabEntry {
                                source: source.clone(),
                                infection: INFECTIONS
                                    .iter()
                                    .find(|(p, _)| key.starts_with(p))
                                    .map(|(_, name)| *name),
                                code,
                                name: o.code.as_ref().and_then(|c| s(&c.text)),
                                value: s(&o.value),
                                unit: code_text(&o.unit),
                                abnormal: s(&o.abnormal_flag),
                                observed: s(&o.observed),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        out.flags = flags(&out);
        Ok(Some(out))
    }
}

/// Applies [`RULES`] to the current, displayed entries.
fn flags(s: &Summary) -> Vec<LifeFlag> {
    let mut out: Vec<LifeFlag> = Vec::new();
    let mut hit = |flag: &'static str, confirmed: bool, source: &Source, what: String| match out
        .iter_mut()
        .find(|f| f.flag == flag)
    {
        Some(f) => {
            f.confirmed |= confirmed;
            if f.evidence.len() < 10 {
                f.evidence.push(Evidence {
                    source: source.clone(),
                    what,
                });
            }
        }
        None => out.push(LifeFlag {
            flag,
            confirmed,
            evidence: vec![Evidence {
                source: source.clone(),
                what,
            }],
        }),
    };
    for (flag, m, confirmed) in RULES {
        match m {
            Match::Icd10(prefix) => {
                for d in s.diagnoses.iter().filter(|d| d.source.version == "current") {
                    let icd: String = d.icd10.as_deref().unwrap_or("").replace('.', "");
                    if icd.starts_with(prefix) {
                        hit(
                            flag,
                            *confirmed,
                            &d.source,
                            format!("diagnosis {icd} {}", d.name.as_deref().unwrap_or("")),
                        );
                    }
                }
            }
            Match::Hot(_) | Match::DrugName(_) => {
                for m_ in s
                    .prescriptions
                    .iter()
                    .chain(&s.injections)
                    .filter(|m_| m_.source.version == "current")
                {
                    let names = std::iter::once(m_.drug.as_deref().unwrap_or(""))
                        .chain(m_.components.iter().map(String::as_str));
                    let ok = match m {
                        Match::Hot(p) => m_.drug_code.as_deref().is_some_and(|c| c.starts_with(p)),
                        Match::DrugName(n) => names.clone().any(|x| x.contains(n)),
                        Match::Icd10(_) => false,
                    };
                    if ok {
                        hit(
                            flag,
                            *confirmed,
                            &m_.source,
                            format!("drug {}", m_.drug.as_deref().unwrap_or("")),
                        );
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days("19700101"), Some(0));
        assert_eq!(days("20000301"), Some(11_017));
        assert_eq!(
            days("20240301").unwrap() - days("20240228").unwrap(),
            2,
            "leap year"
        );
        assert_eq!(days("2024130"), None);
        assert_eq!(days("20241301"), None);
        assert_eq!(days("abcdefgh"), None);
    }
}
