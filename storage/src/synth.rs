//! A deterministic synthetic SS-MIX2 region for demos, tests and benchmarks.
//!
//! A region is a set of facilities (hospitals, clinics, pharmacies), each writing its own
//! standardized storage under `<out>/<10-digit facility code>/`. Patients are generated one by
//! one from `(seed, patient index)` and their files are written before the next patient is
//! started, so memory stays bounded by one patient's files whatever the region size.
//!
//! Every message is built as Unicode text (segments joined by CR, no trailing `0x1C`) and encoded
//! once with the strict ISO-2022-JP encoder. The output follows the writer rules of
//! `../shared/docs/ssmix2.md`: the MSH of the guideline samples with the Kizuna MSH-18/20
//! spelling, a 17-digit time of occurrence equal to MSH-7, PID-3 equal to the folder's patient ID,
//! every occurrence of the dating field starting with the date folder, ORC-2 equal to the order
//! number in the name, and the department in the name equal to ORC-17 / PV1-10. History is
//! written directly under its final names (§2.3): superseded versions carry flag `2`, deleted
//! versions and the deleting message flag `0`.
//!
//! Determinism: every random choice comes from a ChaCha8 stream seeded from the region seed and
//! the (patient, facility) pair, never from iteration order of a hash map or from the clock, so
//! the same seed gives a byte-identical tree and generation order does not matter.

#[rustfmt::skip]
mod tables;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ssmix2::datatype::DataType;
use crate::ssmix2::jis;
use crate::ssmix2::path::{ConditionFlag, FileName, NameError, ShortIdPolicy};

use tables::*;

/// The most patients one region may have: patient IDs must stay within their digit budget.
pub const PATIENTS_MAX: u32 = 5_000_000;
/// The most facilities one region may have (seven digits of the facility code, names reused).
pub const FACILITIES_MAX: u16 = 999;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionSpec {
    pub patients: u32,
    pub facilities: u16,
    pub seed: u64,
}

impl Default for RegionSpec {
    fn default() -> Self {
        RegionSpec {
            patients: 100,
            facilities: 5,
            seed: 1,
        }
    }
}

/// What kind of facility writes a storage; it decides which data types appear there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FacilityKind {
    /// All kinds generated here: outpatient and inpatient.
    Hospital,
    /// Outpatient kinds only (visits, prescriptions, labs, dialysis injections).
    Clinic,
    /// Demographics, allergies, dispensed prescriptions and administrations.
    Pharmacy,
}

/// One facility of the region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facility {
    /// 10-digit 医療機関コード-shaped code: prefecture `04` (Miyagi), point table (`1` medical,
    /// `4` pharmacy), seven digits. It names the storage root.
    pub code: String,
    pub kind: FacilityKind,
    pub name: String,
    index: u16,
    city: usize,
    street: String,
    postcode: String,
    phone: String,
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// The facility code: the storage root folder under the output directory.
    pub facility: String,
    /// The file name, which also gives the path inside the storage root.
    pub name: FileName,
    /// The message as ISO-2022-JP bytes.
    pub bytes: Vec<u8>,
}

impl GeneratedFile {
    /// The path relative to the storage root, `L1/L2/PID/DATE/TYPE/NAME`.
    pub fn relative_path(&self) -> String {
        self.name.relative_path(ShortIdPolicy::default())
    }

    /// The path relative to the region directory, `<facility>/L1/L2/PID/DATE/TYPE/NAME`.
    pub fn region_path(&self) -> String {
        format!("{}/{}", self.facility, self.relative_path())
    }
}

/// Progress of a [`generate`] run, reported every few thousand patients and at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub patients_done: u32,
    pub patients_total: u32,
    pub files: u64,
    pub bytes: u64,
}

/// What a run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenSummary {
    pub patients: u32,
    /// (patient, facility) registrations: a patient known to two facilities counts twice.
    pub registrations: u64,
    /// Patients registered at more than one facility.
    pub multi_facility_patients: u32,
    pub files: u64,
    pub bytes: u64,
    pub by_type: BTreeMap<DataType, u64>,
    pub by_flag: BTreeMap<char, u64>,
    pub facilities: Vec<(String, FacilityKind)>,
}

impl GenSummary {
    fn count(&mut self, file: &GeneratedFile) {
        self.files += 1;
        self.bytes += file.bytes.len() as u64;
        if let Some(dt) = file.name.standard_type() {
            *self.by_type.entry(dt).or_default() += 1;
        }
        *self.by_flag.entry(file.name.flag.as_char()).or_default() += 1;
    }
}

/// Why generation failed. Paths name synthetic data only.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("region spec: {0}")]
    Spec(&'static str),
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// A table value outside JIS X 0208: a bug in the generator's tables.
    #[error("generated text is not encodable as ISO-2022-JP (code point U+{0:04X})")]
    Encode(u32),
    /// A name token the writer grammar refuses: a bug in the generator.
    #[error("generated file name refused: {0}")]
    Name(#[from] NameError),
}

impl RegionSpec {
    fn validate(&self) -> Result<(), GenError> {
        if self.patients == 0 || self.patients > PATIENTS_MAX {
            return Err(GenError::Spec("patients must be between 1 and 5,000,000"));
        }
        if self.facilities == 0 || self.facilities > FACILITIES_MAX {
            return Err(GenError::Spec("facilities must be between 1 and 999"));
        }
        Ok(())
    }

    /// The facilities of the region, in index order.
    pub fn facility_list(&self) -> Vec<Facility> {
        (0..self.facilities)
            .map(|i| facility(self.seed, i))
            .collect()
    }
}

/// Writes the region under `out_dir` (created if missing) and returns what was written.
/// Existing files with the same names are overwritten; other files are left alone.
pub fn generate(
    spec: &RegionSpec,
    out_dir: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<GenSummary, GenError> {
    spec.validate()?;
    let facilities = spec.facility_list();
    let mut summary = GenSummary {
        patients: spec.patients,
        facilities: facilities
            .iter()
            .map(|f| (f.code.clone(), f.kind))
            .collect(),
        ..GenSummary::default()
    };
    // Directories already created for the current patient: a patient's files share most of
    // their folders, and each create_dir_all costs several system calls. Cleared per patient so
    // it stays small.
    let mut made: BTreeSet<PathBuf> = BTreeSet::new();
    for index in 0..spec.patients {
        let registered = registrations(spec, &facilities, index);
        summary.registrations += registered.len() as u64;
        if registered.len() > 1 {
            summary.multi_facility_patients += 1;
        }
        let files = patient_files_at(spec, &facilities, index, &registered)?;
        made.clear();
        for file in &files {
            let path = out_dir.join(&file.facility).join(file.relative_path());
            if let Some(parent) = path.parent()
                && !made.contains(parent)
            {
                fs::create_dir_all(parent).map_err(|source| GenError::Io {
                    path: parent.to_owned(),
                    source,
                })?;
                made.insert(parent.to_owned());
            }
            write_file(&path, &file.bytes)?;
            summary.count(file);
        }
        let done = index + 1;
        if done % 2000 == 0 || done == spec.patients {
            progress(Progress {
                patients_done: done,
                patients_total: spec.patients,
                files: summary.files,
                bytes: summary.bytes,
            });
        }
    }
    Ok(summary)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), GenError> {
    let io_err = |source| GenError::Io {
        path: path.to_owned(),
        source,
    };
    // The whole message is already in one buffer, so a single write_all is the buffered write.
    let mut file = fs::File::create(path).map_err(io_err)?;
    file.write_all(bytes).map_err(io_err)?;
    Ok(())
}

/// All files of one patient at every facility where they are registered, without touching the
/// disk. Pure: depends only on the spec and the index.
pub fn patient_files(spec: &RegionSpec, index: u32) -> Result<Vec<GeneratedFile>, GenError> {
    spec.validate()?;
    if index >= spec.patients {
        return Err(GenError::Spec("patient index beyond the region"));
    }
    let facilities = spec.facility_list();
    let registered = registrations(spec, &facilities, index);
    patient_files_at(spec, &facilities, index, &registered)
}

/// The first `n` files of a default-sized region (5 facilities) with this seed, in generation
/// order, as (path relative to the region directory, bytes): for in-memory benchmarks.
pub fn sample_messages(seed: u64, n: usize) -> Result<Vec<(String, Vec<u8>)>, GenError> {
    let spec = RegionSpec {
        patients: PATIENTS_MAX,
        facilities: 5,
        seed,
    };
    let facilities = spec.facility_list();
    let mut out = Vec::with_capacity(n);
    let mut index = 0;
    while out.len() < n && index < spec.patients {
        let registered = registrations(&spec, &facilities, index);
        for file in patient_files_at(&spec, &facilities, index, &registered)? {
            if out.len() == n {
                break;
            }
            out.push((file.region_path(), file.bytes));
        }
        index += 1;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Randomness

/// SplitMix64 finaliser: spreads (seed, a, b) into independent sub-seeds.
fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut z = seed
        .wrapping_add(a.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(b.wrapping_mul(0xD1B5_4A32_D192_ED03));
    for _ in 0..2 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// Stream tags, so that the person, the registrations and each facility draw independently.
const TAG_PERSON: u64 = 1;
const TAG_REGISTRATION: u64 = 2;
const TAG_FACILITY: u64 = 3;
const TAG_CARE: u64 = 0x100;

fn rng(seed: u64, a: u64, b: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed, a, b))
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    // Tables are non-empty constants (checked by a test), so the index is in range.
    &items[rng.random_range(0..items.len())]
}

fn chance(rng: &mut ChaCha8Rng, percent: u32) -> bool {
    rng.random_range(0..100) < percent
}

// ---------------------------------------------------------------------------------------------
// Calendar

/// Days since 1970-01-01 (proleptic Gregorian), after Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i32::from(m <= 2);
    (y, m, d)
}

/// A local timestamp with millisecond precision (SS-MIX2 times carry no zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ts {
    day: i32,
    ms: u32,
}

const MS_PER_DAY: u32 = 86_400_000;

impl Ts {
    fn at(day: i32, hour: u32, minute: u32) -> Ts {
        Ts {
            day,
            ms: (hour * 3600 + minute * 60) * 1000,
        }
    }

    /// Later by `ms` milliseconds, but never past 23:59:59.999 of the same day: dated kinds must
    /// keep their events on the care date of the record.
    fn later_same_day(self, ms: u32) -> Ts {
        Ts {
            day: self.day,
            ms: (self.ms + ms).min(MS_PER_DAY - 1),
        }
    }

    fn later(self, ms: u64) -> Ts {
        let total = u64::from(self.ms) + ms;
        Ts {
            day: self.day + (total / u64::from(MS_PER_DAY)) as i32,
            ms: (total % u64::from(MS_PER_DAY)) as u32,
        }
    }

    fn ymd(self) -> String {
        let (y, m, d) = civil_from_days(self.day);
        format!("{y:04}{m:02}{d:02}")
    }

    fn hms(self) -> (u32, u32, u32, u32) {
        let s = self.ms / 1000;
        (s / 3600, s / 60 % 60, s % 60, self.ms % 1000)
    }

    /// `YYYYMMDDHHMM`.
    fn ts12(self) -> String {
        let (h, mi, _, _) = self.hms();
        format!("{}{h:02}{mi:02}", self.ymd())
    }

    /// `YYYYMMDDHHMMSS`.
    fn ts14(self) -> String {
        let (h, mi, s, _) = self.hms();
        format!("{}{h:02}{mi:02}{s:02}", self.ymd())
    }

    /// MSH-7: `YYYYMMDDHHMMSS.fff`.
    fn msh7(self) -> String {
        format!("{}.{:03}", self.ts14(), self.ms % 1000)
    }

    /// 発生日時: MSH-7 without the dot, 17 digits.
    fn occurred(self) -> String {
        format!("{}{:03}", self.ts14(), self.ms % 1000)
    }
}

/// The care window: 2023-04-01 to 2025-03-31; ages are computed at 2025-04-01.
fn window() -> (i32, i32) {
    (days_from_civil(2023, 4, 1), days_from_civil(2025, 3, 31))
}

fn today() -> i32 {
    days_from_civil(2025, 4, 1)
}

// ---------------------------------------------------------------------------------------------
// Text helpers

fn full_width_digits(n: u32) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap_or(c))
        .collect()
}

/// `１−３−５`: chome, banchi, go in full-width digits joined by U+2212 as in the samples.
fn chome(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{}−{}−{}",
        full_width_digits(rng.random_range(1..=6)),
        full_width_digits(rng.random_range(1..=30)),
        full_width_digits(rng.random_range(1..=25))
    )
}

fn phone(rng: &mut ChaCha8Rng, area: &str) -> String {
    // Japanese numbers have ten digits after the trunk prefix: the local part shrinks as the
    // area code grows.
    let local_len = 10 - area.len();
    let exchange_len = local_len - 4;
    let exchange =
        rng.random_range(10u32.pow(exchange_len as u32 - 1)..10u32.pow(exchange_len as u32));
    format!("{area}-{exchange}-{:04}", rng.random_range(0..10_000))
}

fn mobile(rng: &mut ChaCha8Rng) -> String {
    let prefix = if chance(rng, 50) { "090" } else { "080" };
    format!(
        "{prefix}-{:04}-{:04}",
        rng.random_range(1000..10_000),
        rng.random_range(0..10_000)
    )
}

fn postcode(rng: &mut ChaCha8Rng, city: &City) -> String {
    format!("{}-{:04}", city.postcode3, rng.random_range(1..10_000))
}

// ---------------------------------------------------------------------------------------------
// Facilities and people

fn facility(seed: u64, index: u16) -> Facility {
    let mut r = rng(seed, TAG_FACILITY, u64::from(index));
    let kind = match index % 3 {
        0 => FacilityKind::Hospital,
        1 => FacilityKind::Clinic,
        _ => FacilityKind::Pharmacy,
    };
    let (table, names) = match kind {
        FacilityKind::Hospital => ('1', HOSPITAL_NAMES),
        FacilityKind::Clinic => ('1', CLINIC_NAMES),
        FacilityKind::Pharmacy => ('4', PHARMACY_NAMES),
    };
    let nth = usize::from(index / 3);
    let (base, city) = names[nth % names.len()];
    // Past the table, reuse names with a branch number so that names stay distinct.
    let name = if nth < names.len() {
        base.to_owned()
    } else {
        format!(
            "{base}第{}分院",
            full_width_digits((nth / names.len()) as u32 + 1)
        )
    };
    let c = &CITIES[city];
    let street = format!("宮城県{}{}{}", c.name, pick(&mut r, c.towns), chome(&mut r));
    Facility {
        code: format!("04{table}{:07}", u32::from(index) + 1),
        kind,
        name,
        index,
        city,
        street,
        postcode: postcode(&mut r, c),
        phone: phone(&mut r, c.area_code),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sex {
    M,
    F,
}

/// The clinical person behind every registration: same name, birth date, sex and address at
/// every facility (only the local patient ID differs).
struct Person {
    family: Named,
    given: Named,
    sex: Sex,
    birth: i32,
    postcode: String,
    address: String,
    phone: String,
    old_phone: String,
    height_cm: f64,
    weight_kg: f64,
    conds: Vec<Cond>,
    drugs: Vec<&'static Drug>,
    allergies: Vec<&'static Allergen>,
    /// Indices into INFECTIONS that are positive.
    positives: Vec<usize>,
    /// Index into ESA for dialysis patients.
    esa: usize,
}

impl Person {
    fn new(seed: u64, index: u32) -> Person {
        let mut r = rng(seed, TAG_PERSON, u64::from(index));
        let sex = if chance(&mut r, 48) { Sex::M } else { Sex::F };
        let family = *pick(&mut r, FAMILY);
        let given = *pick(
            &mut r,
            match sex {
                Sex::M => GIVEN_MALE,
                Sex::F => GIVEN_FEMALE,
            },
        );
        // A region's patients skew old: most records belong to people over 65.
        let age = match r.random_range(0..100) {
            0..=59 => r.random_range(65..=98),
            60..=84 => r.random_range(40..=64),
            _ => r.random_range(1..=39),
        };
        let birth = today() - age * 365 - r.random_range(0..365);
        let city = r.random_range(0..CITIES.len());
        let c = &CITIES[city];
        let address = format!("宮城県{}{}{}", c.name, pick(&mut r, c.towns), chome(&mut r));
        let postcode = postcode(&mut r, c);
        let home_phone = if chance(&mut r, 35) {
            mobile(&mut r)
        } else {
            phone(&mut r, c.area_code)
        };
        let old_phone = phone(&mut r, c.area_code);
        let elderly = age >= 65;
        let mut conds = Vec::new();
        let mut add = |r: &mut ChaCha8Rng, cond: Cond, old: u32, young: u32| {
            if chance(r, if elderly { old } else { young }) {
                conds.push(cond);
            }
        };
        add(&mut r, Cond::Hypertension, 45, 12);
        add(&mut r, Cond::Diabetes, 20, 6);
        add(&mut r, Cond::Dyslipidemia, 25, 10);
        add(&mut r, Cond::Gastritis, 12, 8);
        add(
            &mut r,
            Cond::Osteoporosis,
            if sex == Sex::F { 20 } else { 4 },
            1,
        );
        add(&mut r, Cond::AtrialFibrillation, 7, 1);
        add(&mut r, Cond::Asthma, 4, 6);
        add(&mut r, Cond::Insomnia, 10, 5);
        add(&mut r, Cond::KneeOa, 15, 2);
        add(&mut r, Cond::Copd, 6, 1);
        // Dialysis mostly follows diabetes or hypertension.
        let ckd_risk = if conds.contains(&Cond::Diabetes) {
            12
        } else if conds.contains(&Cond::Hypertension) {
            4
        } else {
            1
        };
        if chance(&mut r, if elderly { ckd_risk } else { ckd_risk / 2 }) {
            conds.push(Cond::CkdDialysis);
        }
        conds.sort();
        let mut allergies: Vec<&'static Allergen> = Vec::new();
        if chance(&mut r, 30) {
            for _ in 0..r.random_range(1..=3) {
                let a = pick(&mut r, ALLERGENS);
                if !allergies.iter().any(|b| b.code == a.code) {
                    allergies.push(a);
                }
            }
        }
        let mut drugs: Vec<&'static Drug> = Vec::new();
        for &cond in &conds {
            let options = drugs_for(cond);
            // One or two of the condition's drugs.
            let n = r.random_range(1..=options.len().min(2));
            // Never prescribe a drug the patient is recorded as allergic to.
            drugs.extend(
                options
                    .iter()
                    .take(n)
                    .filter(|d| !allergies.iter().any(|a| a.code == d.hot9)),
            );
            if cond == Cond::Diabetes && chance(&mut r, 35) {
                drugs.push(&INSULIN_GLARGINE);
                if chance(&mut r, 60) {
                    drugs.push(&INSULIN_ASPART);
                }
            }
        }
        let positives = (0..INFECTIONS.len())
            .filter(|&i| r.random_range(0..10_000) < INFECTIONS[i].per_10k)
            .collect();
        let (mean_h, sd) = match sex {
            Sex::M => (if elderly { 163.0 } else { 170.0 }, 6.0),
            Sex::F => (if elderly { 150.0 } else { 157.0 }, 5.5),
        };
        let height_cm = if age < 15 {
            90.0 + f64::from(age) * 5.5
        } else {
            mean_h + normalish(&mut r) * sd
        };
        let bmi = 22.5 + normalish(&mut r) * 3.0;
        let weight_kg = bmi * (height_cm / 100.0).powi(2);
        Person {
            family,
            given,
            sex,
            birth,
            postcode,
            address,
            phone: home_phone,
            old_phone,
            height_cm,
            weight_kg,
            conds,
            drugs,
            allergies,
            positives,
            esa: r.random_range(0..ESA.len()),
        }
    }

    fn has(&self, cond: Cond) -> bool {
        self.conds.contains(&cond)
    }

    fn department(&self) -> (&'static str, &'static str) {
        if self.has(Cond::Copd) || self.has(Cond::Asthma) {
            DEPT_RESPIRATORY
        } else if self.has(Cond::AtrialFibrillation)
            || (self.has(Cond::Hypertension) && self.conds.len() == 1)
        {
            DEPT_CARDIO
        } else {
            DEPT_INTERNAL
        }
    }
}

/// Sum of uniforms: a cheap, bounded bell curve in about [-3, 3].
fn normalish(rng: &mut ChaCha8Rng) -> f64 {
    (0..6).map(|_| rng.random::<f64>()).sum::<f64>() - 3.0
}

/// The facilities (indices) where a patient is registered, first the home facility.
fn registrations(spec: &RegionSpec, facilities: &[Facility], index: u32) -> Vec<u16> {
    let mut r = rng(spec.seed, TAG_REGISTRATION, u64::from(index));
    let count = facilities.len() as u16;
    // Home facility: a hospital or clinic (pharmacies do not register patients first).
    let medical: Vec<u16> = facilities
        .iter()
        .filter(|f| f.kind != FacilityKind::Pharmacy)
        .map(|f| f.index)
        .collect();
    let home = if medical.is_empty() {
        r.random_range(0..count)
    } else {
        *pick(&mut r, &medical)
    };
    let mut out = vec![home];
    // Some patients are also known elsewhere: a second doctor, a referral, their pharmacy.
    for percent in [25, 8] {
        if count > 1 && chance(&mut r, percent) {
            let other = r.random_range(0..count);
            if !out.contains(&other) {
                out.push(other);
            }
        }
    }
    let pharmacies: Vec<u16> = facilities
        .iter()
        .filter(|f| f.kind == FacilityKind::Pharmacy)
        .map(|f| f.index)
        .collect();
    if !pharmacies.is_empty() && chance(&mut r, 35) {
        let p = *pick(&mut r, &pharmacies);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The local patient ID at a facility: facility-specific width and range, so the same person
/// has different IDs at different facilities, and IDs never collide within one facility.
fn local_patient_id(facility: u16, index: u32) -> String {
    let width = 8 + u32::from(facility % 3);
    let base = u64::from(facility % 9 + 1) * 10u64.pow(width - 1);
    format!("{:0w$}", base + u64::from(index) + 1, w = width as usize)
}

// ---------------------------------------------------------------------------------------------
// HL7 building

/// One segment, fields indexed by their HL7 number (index 0 is the segment ID).
struct Seg {
    fields: Vec<String>,
}

impl Seg {
    fn new(id: &str) -> Seg {
        Seg {
            fields: vec![id.to_owned()],
        }
    }

    fn f(mut self, n: usize, value: impl Into<String>) -> Seg {
        if self.fields.len() <= n {
            self.fields.resize(n + 1, String::new());
        }
        self.fields[n] = value.into();
        self
    }
}

/// A message under construction: segments joined by CR, no trailing CR or 0x1C.
struct Msg {
    text: String,
}

impl Msg {
    /// Starts with the MSH of the guideline samples and Kizuna's MSH-18/MSH-20 spelling.
    fn new(app: &str, facility: &str, msg_type: &str, at: Ts, control: &str) -> Msg {
        let mut text = String::with_capacity(2048);
        // Writing into a String cannot fail.
        let _ = write!(
            text,
            "MSH|^~\\&|{app}|{facility}|GW|RCV|{}||{msg_type}|{control}|P|2.5||||||~ISO IR87||ISO2022-1994|SS-MIX2_1.20^SS-MIX2^1.2.392.200250.2.1.100.1.2.120^ISO",
            at.msh7()
        );
        text.push('\r');
        Msg { text }
    }

    /// Appends a segment with its CR: every segment, the last included, ends in CR.
    fn push(&mut self, seg: Seg) {
        let mut fields = seg.fields;
        while fields.len() > 1 && fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
        self.text.push_str(&fields.join("|"));
        self.text.push('\r');
    }
}

fn xcn(id: &str, name: (Named, Named)) -> String {
    format!("{id}^{}^{}^^^^^^^L^^^^^I", name.0.0, name.1.0)
}

fn cwe(code: &str, text: &str, system: &str) -> String {
    format!("{code}^{text}^{system}")
}

fn number(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}")
}

// ---------------------------------------------------------------------------------------------
// Per-registration generation

/// Everything a message of one (patient, facility) registration needs.
struct Ctx<'a> {
    person: &'a Person,
    fac: &'a Facility,
    pid: String,
    /// PID-33: when the facility registered the patient.
    registered: Ts,
    doctor: (String, (Named, Named)),
    nurse: (String, (Named, Named)),
    dept: (&'static str, &'static str),
    app: &'static str,
    /// Per-registration order sequence; order numbers are `<patient index + 1, 9 digits><seq, 6>`.
    order_seq: u32,
    patient_index: u32,
    control_seq: u32,
    out: Vec<GeneratedFile>,
}

impl Ctx<'_> {
    fn next_order(&mut self) -> String {
        self.order_seq += 1;
        format!("{:09}{:06}", self.patient_index + 1, self.order_seq)
    }

    fn control_id(&mut self, at: Ts) -> String {
        self.control_seq += 1;
        // 17 digits of time and a 3-digit sequence: 20 characters, MSH-10's limit.
        format!("{}{:03}", at.occurred(), self.control_seq % 1000)
    }

    fn msg(&mut self, msg_type: &str, at: Ts) -> Msg {
        let control = self.control_id(at);
        Msg::new(self.app, &self.fac.code, msg_type, at, &control)
    }

    fn pid_seg(&self, last_update: Ts, phone: &str) -> Seg {
        let p = self.person;
        Seg::new("PID")
            .f(1, "0001")
            .f(3, format!("{}^^^^PI", self.pid))
            .f(
                5,
                format!(
                    "{}^{}^^^^^L^I~{}^{}^^^^^L^P",
                    p.family.0, p.given.0, p.family.1, p.given.1
                ),
            )
            .f(7, Ts::at(p.birth, 0, 0).ymd())
            .f(
                8,
                match p.sex {
                    Sex::M => "M",
                    Sex::F => "F",
                },
            )
            .f(11, format!("^^^^{}^JPN^H^{}", p.postcode, p.address))
            .f(13, format!("^PRN^PH^^^^^^^^^{phone}"))
            .f(33, last_update.ts14())
    }

    fn pid(&self) -> Seg {
        self.pid_seg(self.registered, &self.person.phone)
    }

    fn pv1_outpatient(&self) -> Seg {
        Seg::new("PV1")
            .f(1, "0001")
            .f(2, "O")
            .f(3, format!("{}^^^^^C", self.dept.0))
            .f(7, xcn(&self.doctor.0, self.doctor.1))
            .f(10, self.dept.0)
    }

    fn pv1_inpatient(&self, ward: &str) -> Seg {
        Seg::new("PV1")
            .f(1, "0001")
            .f(2, "I")
            .f(3, ward.to_owned())
            .f(7, xcn(&self.doctor.0, self.doctor.1))
            .f(10, self.dept.0)
    }

    fn evn(&self, recorded: Ts, occurred: Option<Ts>) -> Seg {
        let mut s = Seg::new("EVN").f(2, recorded.ts12());
        if let Some(o) = occurred {
            s = s.f(6, o.ts12());
        }
        s.f(7, self.fac.code.clone())
    }

    fn orc(&self, control: &str, order: &str, group: u32, at: Ts, inpatient: Option<&str>) -> Seg {
        let location = match inpatient {
            Some(ward) => ward.to_owned(),
            None => format!("{}^^^^^C", self.dept.0),
        };
        Seg::new("ORC")
            .f(1, control)
            .f(2, order)
            .f(4, group.to_string())
            .f(9, at.ts14())
            .f(10, xcn(&self.nurse.0, self.nurse.1))
            .f(12, xcn(&self.doctor.0, self.doctor.1))
            .f(13, location)
            .f(17, cwe(self.dept.0, self.dept.1, "HL70069"))
            .f(21, self.fac.name.clone())
            .f(
                22,
                format!("^^^^{}^JPN^^{}", self.fac.postcode, self.fac.street),
            )
            .f(23, format!("^^^^^^^^^^^{}", self.fac.phone))
            .f(
                29,
                if inpatient.is_some() {
                    "I^入院患者オーダ^HL70482"
                } else {
                    "O^外来患者オーダ^HL70482"
                },
            )
    }

    /// Encodes and files a message.
    #[allow(clippy::too_many_arguments)]
    fn file(
        &mut self,
        msg: Msg,
        data_type: DataType,
        care_date: Option<&str>,
        order: Option<&str>,
        at: Ts,
        dept: Option<&str>,
        flag: ConditionFlag,
    ) -> Result<(), GenError> {
        debug_assert!(!msg.text.contains('\n'));
        let bytes = jis::encode(&msg.text).map_err(|e| GenError::Encode(e.code_point))?;
        let name = FileName::new(
            &self.pid,
            care_date,
            data_type,
            order,
            &at.occurred(),
            dept,
            flag,
        )?;
        self.out.push(GeneratedFile {
            facility: self.fac.code.clone(),
            name,
            bytes,
        });
        Ok(())
    }
}

fn staff(seed: u64, facility: u16, role: u64) -> (String, (Named, Named)) {
    let mut r = rng(seed, TAG_FACILITY + 0x10 + role, u64::from(facility));
    let family = *pick(&mut r, FAMILY);
    let given = if chance(&mut r, 50) {
        *pick(&mut r, GIVEN_MALE)
    } else {
        *pick(&mut r, GIVEN_FEMALE)
    };
    let prefix = if role.is_multiple_of(2) { "D" } else { "N" };
    (
        format!("{prefix}{:05}", r.random_range(100..100_000)),
        (family, given),
    )
}

fn patient_files_at(
    spec: &RegionSpec,
    facilities: &[Facility],
    index: u32,
    registered: &[u16],
) -> Result<Vec<GeneratedFile>, GenError> {
    let person = Person::new(spec.seed, index);
    let mut out = Vec::new();
    for &f in registered {
        let Some(fac) = facilities.get(usize::from(f)) else {
            continue;
        };
        let mut r = rng(spec.seed, TAG_CARE + u64::from(f), u64::from(index));
        // Each facility has a few doctors; the patient sees one of them.
        let doctor = staff(spec.seed, f, r.random_range(0..4) * 2);
        let nurse = staff(spec.seed, f, 1 + r.random_range(0..4) * 2);
        let (start, end) = window();
        let registered_at = Ts::at(start - r.random_range(30..2000), 9, r.random_range(0..60));
        let mut ctx = Ctx {
            person: &person,
            fac,
            pid: local_patient_id(f, index),
            registered: registered_at,
            doctor,
            nurse,
            dept: person.department(),
            app: match fac.kind {
                FacilityKind::Hospital => "HIS",
                FacilityKind::Clinic => "EMR",
                FacilityKind::Pharmacy => "PHARMACY",
            },
            order_seq: 0,
            patient_index: index,
            control_seq: 0,
            out: Vec::new(),
        };
        registration(&mut ctx, &mut r, start, end)?;
        out.append(&mut ctx.out);
    }
    Ok(out)
}

fn registration(
    ctx: &mut Ctx<'_>,
    r: &mut ChaCha8Rng,
    start: i32,
    end: i32,
) -> Result<(), GenError> {
    let kind = ctx.fac.kind;
    let person = ctx.person;
    demographics(ctx, r, start)?;
    if !person.allergies.is_empty() && (kind != FacilityKind::Pharmacy || chance(r, 70)) {
        allergies(ctx, r, start)?;
    }
    if !person.conds.is_empty() && kind != FacilityKind::Pharmacy {
        diagnoses(ctx, r, start)?;
    }
    // An admission for some hospital patients; outpatient days avoid its span.
    let stay = if kind == FacilityKind::Hospital && chance(r, 14) {
        let admit = r.random_range(start..end - 20);
        Some((admit, admit + r.random_range(3..=14)))
    } else {
        None
    };
    let visits = match kind {
        FacilityKind::Hospital => r.random_range(1..=3),
        FacilityKind::Clinic => r.random_range(2..=4),
        FacilityKind::Pharmacy => r.random_range(1..=3),
    };
    let mut days = BTreeSet::new();
    // Bounded retries: a visit day falling inside the stay is simply dropped.
    for _ in 0..visits * 3 {
        if days.len() == visits {
            break;
        }
        let d = r.random_range(start..=end);
        if stay.is_none_or(|(a, b)| d < a - 1 || d > b + 1) {
            days.insert(d);
        }
    }
    let mut infection_panel_done = false;
    for day in days {
        match kind {
            FacilityKind::Pharmacy => {
                if !person.drugs.is_empty() {
                    let t = Ts::at(day, r.random_range(9..18), r.random_range(0..60));
                    let order = prescription(ctx, r, t, None)?;
                    if chance(r, 20) {
                        administrations(ctx, r, &order, day, 1, None)?;
                    }
                }
            }
            FacilityKind::Hospital | FacilityKind::Clinic => {
                let t = Ts::at(day, r.random_range(8..12), r.random_range(0..60));
                outpatient_visit(ctx, r, t)?;
                if !person.drugs.is_empty() && chance(r, 90) {
                    prescription(ctx, r, t.later_same_day(40 * 60_000), None)?;
                }
                if chance(r, 60) || person.has(Cond::CkdDialysis) {
                    let panel = !infection_panel_done && kind == FacilityKind::Hospital;
                    infection_panel_done |= panel;
                    lab_result(ctx, r, t.later_same_day(20 * 60_000), panel, None)?;
                }
                if person.has(Cond::CkdDialysis) && (kind == FacilityKind::Clinic || chance(r, 50))
                {
                    injection(ctx, r, t.later_same_day(2 * 3_600_000), None)?;
                }
            }
        }
    }
    if let Some((admit, discharge)) = stay {
        admission(ctx, r, admit, discharge)?;
    }
    Ok(())
}

/// ADT-00 (ADT^A08): the current version, and for some patients a superseded one.
fn demographics(ctx: &mut Ctx<'_>, r: &mut ChaCha8Rng, start: i32) -> Result<(), GenError> {
    let updated = chance(r, 25);
    let first = ctx
        .registered
        .later(u64::from(r.random_range(1..600_000u32)));
    if updated {
        let old_phone = ctx.person.old_phone.clone();
        demographics_version(ctx, first, &old_phone, ConditionFlag::Superseded)?;
        let later = Ts::at(
            r.random_range(start..start + 300),
            r.random_range(8..18),
            r.random_range(0..60),
        );
        let phone = ctx.person.phone.clone();
        demographics_version(ctx, later, &phone, ConditionFlag::Current)
    } else {
        let phone = ctx.person.phone.clone();
        demographics_version(ctx, first, &phone, ConditionFlag::Current)
    }
}

fn demographics_version(
    ctx: &mut Ctx<'_>,
    at: Ts,
    phone: &str,
    flag: ConditionFlag,
) -> Result<(), GenError> {
    let p = ctx.person;
    let mut m = ctx.msg("ADT^A08^ADT_A01", at);
    m.push(ctx.evn(at, None));
    m.push(ctx.pid_seg(at, phone));
    m.push(
        Seg::new("NK1")
            .f(1, "1")
            .f(
                2,
                format!(
                    "{}^{}^^^^^L^I~{}^{}^^^^^L^P",
                    p.family.0, p.given.0, p.family.1, p.given.1
                ),
            )
            .f(3, "SEL^本人^HL70063")
            .f(4, format!("^^^^{}^JPN^H^{}", p.postcode, p.address))
            .f(5, format!("^PRN^PH^^^^^^^^^{phone}")),
    );
    m.push(Seg::new("PV1").f(1, "0001").f(2, "O"));
    m.push(
        Seg::new("OBX")
            .f(1, "1")
            .f(2, "NM")
            .f(3, "9N001000000000001^身長^JC10")
            .f(5, number(p.height_cm, 1))
            .f(6, "cm^cm^ISO+")
            .f(11, "F"),
    );
    m.push(
        Seg::new("OBX")
            .f(1, "2")
            .f(2, "NM")
            .f(3, "9N006000000000001^体重^JC10")
            .f(5, number(p.weight_kg, 1))
            .f(6, "kg^kg^ISO+")
            .f(11, "F"),
    );
    for (i, a) in p.allergies.iter().filter(|a| a.kind.0 == "DA").enumerate() {
        m.push(
            Seg::new("AL1")
                .f(1, (i + 1).to_string())
                .f(2, cwe(a.kind.0, a.kind.1, "HL70127"))
                .f(3, cwe(a.code, a.name, a.system)),
        );
    }
    let age_years = (today() - p.birth) / 365;
    let (class, insurer) = if age_years >= 75 {
        (
            "39^後期高齢者医療^JHSD0001",
            format!("3904{:04}", ctx.patient_index % 7 + 11),
        )
    } else if ctx.patient_index.is_multiple_of(2) {
        (
            "01^全国健康保険協会管掌健康保険^JHSD0001",
            "01040016".to_owned(),
        )
    } else {
        (
            "06^組合管掌健康保険^JHSD0001",
            format!("0604{:04}", ctx.patient_index % 97 + 1),
        )
    };
    m.push(
        Seg::new("IN1")
            .f(1, "1")
            .f(2, class)
            .f(3, insurer)
            .f(12, Ts::at(ctx.registered.day, 0, 0).ymd())
            .f(17, "SEL^本人^HL70063"),
    );
    ctx.file(m, DataType::Adt00, None, None, at, None, flag)
}

/// ADT-61 (ADT^A60): all allergies as IAM, drug allergens coded HOT9, others JLAC10.
fn allergies(ctx: &mut Ctx<'_>, r: &mut ChaCha8Rng, start: i32) -> Result<(), GenError> {
    let at = Ts::at(
        r.random_range(start..start + 200),
        r.random_range(8..18),
        r.random_range(0..60),
    );
    let mut m = ctx.msg("ADT^A60^ADT_A60", at);
    m.push(ctx.evn(at, None));
    m.push(ctx.pid());
    for (i, a) in ctx.person.allergies.iter().enumerate() {
        let (sev, sev_text) = *pick(r, SEVERITIES);
        let onset_year = 1970 + r.random_range(0..50);
        m.push(
            Seg::new("IAM")
                .f(1, (i + 1).to_string())
                .f(2, cwe(a.kind.0, a.kind.1, "HL70127"))
                .f(3, cwe(a.code, a.name, a.system))
                .f(4, cwe(sev, sev_text, "HL70128"))
                .f(5, a.reaction)
                .f(6, "A^追加^HL70323")
                .f(11, format!("{onset_year}{:02}", r.random_range(1..=12))),
        );
    }
    ctx.file(
        m,
        DataType::Adt61,
        None,
        None,
        at,
        None,
        ConditionFlag::Current,
    )
}

/// PPR-01 (PPR^ZD1): one file with all diagnoses; some patients also have an older version that
/// lacked the newest diagnosis (flag 2).
fn diagnoses(ctx: &mut Ctx<'_>, r: &mut ChaCha8Rng, start: i32) -> Result<(), GenError> {
    let person = ctx.person;
    let diags: Vec<&Diagnosis> = person
        .conds
        .iter()
        .filter_map(|c| DIAGNOSES.iter().find(|d| d.cond == *c))
        .collect();
    let onsets: Vec<i32> = diags
        .iter()
        .map(|_| start - r.random_range(30..3650))
        .collect();
    let at = Ts::at(
        r.random_range(start..start + 300),
        r.random_range(8..18),
        r.random_range(0..60),
    );
    if diags.len() >= 2 && chance(r, 30) {
        let earlier = Ts::at(at.day - r.random_range(1..25), 10, r.random_range(0..60));
        diagnosis_version(
            ctx,
            earlier,
            &diags[..diags.len() - 1],
            &onsets,
            ConditionFlag::Superseded,
        )?;
    }
    diagnosis_version(ctx, at, &diags, &onsets, ConditionFlag::Current)
}

fn diagnosis_version(
    ctx: &mut Ctx<'_>,
    at: Ts,
    diags: &[&Diagnosis],
    onsets: &[i32],
    flag: ConditionFlag,
) -> Result<(), GenError> {
    let mut m = ctx.msg("PPR^ZD1^PPR_ZD1", at);
    m.push(ctx.pid());
    for (i, (d, &onset)) in diags.iter().zip(onsets).enumerate() {
        let onset = Ts::at(onset, 0, 0).ymd();
        let mut prb = Seg::new("PRB")
            .f(1, "AD")
            .f(2, at.ts14())
            .f(3, cwe(d.medis, d.name, "MDCDX2"))
            .f(4, format!("{:09}{:06}", ctx.patient_index + 1, 900_000 + i))
            .f(7, onset.clone())
            .f(10, format!("{}^^I10^O^外来時^JHSD0004", d.icd10))
            .f(14, "N^回復せず^HL70241")
            .f(15, at.ymd())
            .f(16, onset);
        if i == 0 {
            prb = prb.f(18, "1^主診断^JHSD0007");
        }
        m.push(prb);
        m.push(
            Seg::new("ZPR")
                .f(2, cwe(d.medis, d.name, "MDCDX2"))
                .f(5, cwe(d.exchange, d.name, "MDCDX2")),
        );
    }
    ctx.file(m, DataType::Ppr01, None, None, at, None, flag)
}

/// ADT-12 (ADT^A04): an outpatient visit dated by PV1-44.
fn outpatient_visit(ctx: &mut Ctx<'_>, r: &mut ChaCha8Rng, t: Ts) -> Result<(), GenError> {
    let at = t.later_same_day(r.random_range(1_000..300_000));
    let mut m = ctx.msg("ADT^A04^ADT_A01", at);
    m.push(ctx.evn(at, Some(t)));
    m.push(ctx.pid());
    m.push(ctx.pv1_outpatient().f(44, t.ts12()));
    let dept = ctx.dept.0;
    ctx.file(
        m,
        DataType::Adt12,
        Some(&t.ymd()),
        None,
        at,
        Some(dept),
        ConditionFlag::Current,
    )
}

/// OMP-01 (RDE^O11): the patient's chronic drugs, one ORC/RXE/TQ1/RXR group each. Some orders
/// are later updated the same day (flag 2 then 1), some cancelled (both files flag 0) and
/// replaced by a new order number, as some EHRs do. Returns the order number that stayed valid.
fn prescription(
    ctx: &mut Ctx<'_>,
    r: &mut ChaCha8Rng,
    t: Ts,
    ward: Option<&str>,
) -> Result<String, GenError> {
    let days: u32 = if ward.is_some() {
        3
    } else {
        *pick(r, &[14, 28, 28, 56])
    };
    let order = ctx.next_order();
    let at = t.later_same_day(r.random_range(60_000..900_000));
    match r.random_range(0..100) {
        0..=5 => {
            rde_prescription(ctx, "NW", &order, t, at, days, ward, ConditionFlag::Deleted)?;
            let cancel = at.later_same_day(r.random_range(60_000..1_800_000));
            rde_prescription(
                ctx,
                "CA",
                &order,
                cancel,
                cancel,
                days,
                ward,
                ConditionFlag::Deleted,
            )?;
            let renewed = ctx.next_order();
            let again = cancel.later_same_day(r.random_range(60_000..600_000));
            rde_prescription(
                ctx,
                "NW",
                &renewed,
                again,
                again.later_same_day(1000),
                days,
                ward,
                ConditionFlag::Current,
            )?;
            Ok(renewed)
        }
        6..=13 => {
            rde_prescription(
                ctx,
                "NW",
                &order,
                t,
                at,
                days,
                ward,
                ConditionFlag::Superseded,
            )?;
            let change = at.later_same_day(r.random_range(60_000..1_800_000));
            rde_prescription(
                ctx,
                "XO",
                &order,
                change,
                change.later_same_day(1000),
                days + 7,
                ward,
                ConditionFlag::Current,
            )?;
            Ok(order)
        }
        _ => {
            rde_prescription(ctx, "NW", &order, t, at, days, ward, ConditionFlag::Current)?;
            Ok(order)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn rde_prescription(
    ctx: &mut Ctx<'_>,
    control: &str,
    order: &str,
    transaction: Ts,
    at: Ts,
    days: u32,
    ward: Option<&str>,
    flag: ConditionFlag,
) -> Result<(), GenError> {
    let mut m = ctx.msg("RDE^O11^RDE_O11", at);
    m.push(ctx.pid());
    m.push(match ward {
        Some(w) => ctx.pv1_inpatient(w),
        None => ctx.pv1_outpatient(),
    });
    let category = match (ward, ctx.fac.kind) {
        (Some(_), _) => "IHP^入院処方^MR9P",
        (None, FacilityKind::Pharmacy) => "OHP^外来処方^MR9P",
        (None, _) => "OHP^外来処方^MR9P~OHI^院内処方^MR9P",
    };
    for (group, drug) in ctx.person.drugs.iter().enumerate() {
        let daily = drug.dose * drug.per_day;
        let dispense = drug.dispense_fixed.unwrap_or(daily * days);
        let (unit, unit_text) = drug.unit;
        m.push(ctx.orc(control, order, group as u32 + 1, transaction, ward));
        m.push(
            Seg::new("RXE")
                .f(2, cwe(drug.hot9, drug.name, "HOT9"))
                .f(3, drug.dose.to_string())
                .f(5, cwe(unit, unit_text, "MR9P"))
                .f(10, dispense.to_string())
                .f(11, cwe(unit, unit_text, "MR9P"))
                .f(15, format!("{order}{:02}", group + 1))
                .f(19, format!("{daily}^{unit}&{unit_text}&MR9P"))
                .f(21, category),
        );
        let mut tq1 = Seg::new("TQ1")
            .f(1, "1")
            .f(3, format!("{}&{}&JAMISDP01", drug.dosage.0, drug.dosage.1))
            .f(6, format!("{days}^d"))
            .f(7, format!("{}00", Ts::at(transaction.day, 0, 0).ymd()));
        if drug.insulin {
            tq1 = tq1.f(11, "血糖値に応じて単位数を調整");
        }
        m.push(tq1);
        m.push(Seg::new("RXR").f(1, cwe(drug.route.0, drug.route.1, "HL70162")));
    }
    let dept = ctx.dept.0;
    ctx.file(
        m,
        DataType::Omp01,
        Some(&transaction.ymd()),
        Some(order),
        at,
        Some(dept),
        flag,
    )
}

/// OMP-11 (RAS^O17): administrations of an order's drugs, one file per day, each dated by
/// RXA-3 (and the ORC-9 of the record is the same day, so no reader sees two dates).
fn administrations(
    ctx: &mut Ctx<'_>,
    r: &mut ChaCha8Rng,
    order: &str,
    first_day: i32,
    days: i32,
    ward: Option<&str>,
) -> Result<(), GenError> {
    for day in first_day..first_day + days {
        let mut m_segments = Vec::new();
        let mut last = Ts::at(day, 8, 0);
        for (group, drug) in ctx.person.drugs.iter().enumerate() {
            let mut rxas = Vec::new();
            for slot in 0..drug.per_day.min(3) {
                let given = Ts::at(day, [8, 12, 18][slot as usize], r.random_range(0..30));
                last = last.max(given);
                let (unit, unit_text) = drug.unit;
                let location = match ward {
                    Some(w) => w.to_owned(),
                    None => format!("{}^^^^^C", ctx.dept.0),
                };
                rxas.push(
                    Seg::new("RXA")
                        .f(1, "0")
                        .f(2, (slot + 1).to_string())
                        .f(3, given.ts12())
                        .f(4, given.ts12())
                        .f(5, cwe(drug.hot9, drug.name, "HOT9"))
                        .f(6, drug.dose.to_string())
                        .f(7, cwe(unit, unit_text, "MR9P"))
                        .f(10, xcn(&ctx.nurse.0, ctx.nurse.1))
                        .f(11, location)
                        .f(20, "CP")
                        .f(22, given.later_same_day(600_000).ts14()),
                );
            }
            m_segments.push((group, drug.route, rxas));
        }
        let at = last.later_same_day(r.random_range(900_000..3_600_000));
        let mut m = ctx.msg("RAS^O17^RAS_O17", at);
        m.push(ctx.pid());
        m.push(match ward {
            Some(w) => ctx.pv1_inpatient(w),
            None => ctx.pv1_outpatient(),
        });
        for (group, route, rxas) in m_segments {
            m.push(ctx.orc("NW", order, group as u32 + 1, at, ward));
            for rxa in rxas {
                m.push(rxa);
            }
            m.push(Seg::new("RXR").f(1, cwe(route.0, route.1, "HL70162")));
        }
        let dept = ctx.dept.0;
        ctx.file(
            m,
            DataType::Omp11,
            Some(&Ts::at(day, 0, 0).ymd()),
            Some(order),
            at,
            Some(dept),
            ConditionFlag::Current,
        )?;
    }
    Ok(())
}

/// OMP-02 (RDE^O11 with RXC) and its OMP-12 (RAS^O17): an ESA during dialysis for outpatients,
/// an infusion for inpatients.
fn injection(
    ctx: &mut Ctx<'_>,
    r: &mut ChaCha8Rng,
    t: Ts,
    ward: Option<&str>,
) -> Result<(), GenError> {
    let order = ctx.next_order();
    let at = t.later_same_day(r.random_range(60_000..600_000));
    let products: Vec<Injectable> = match ward {
        Some(_) => vec![INFUSION_BASE, INFUSION_ADDITIVE],
        None => vec![ESA[ctx.person.esa]],
    };
    let (volume, rate_hours) = if ward.is_some() { (510, 5) } else { (1, 0) };
    let mut m = ctx.msg("RDE^O11^RDE_O11", at);
    m.push(ctx.pid());
    m.push(match ward {
        Some(w) => ctx.pv1_inpatient(w),
        None => ctx.pv1_outpatient(),
    });
    m.push(ctx.orc("NW", &order, 1, t, ward));
    let mut rxe = Seg::new("RXE")
        .f(2, "00^一般^99I02")
        .f(15, format!("{order}01"));
    if ward.is_some() {
        rxe = rxe
            .f(3, volume.to_string())
            .f(5, "ML^ミリリットル^MR9P")
            .f(6, "INJ^注射剤^MR9P")
            .f(7, "^５時間一定速度で^99IC6")
            .f(21, "IHP^入院処方^MR9P")
            .f(22, "H1")
            .f(23, (volume / rate_hours).to_string())
            .f(24, "ml/hr^ミリリッター／時間^ISO+");
    } else {
        rxe = rxe
            .f(3, volume.to_string())
            .f(5, "KIT^キット^MR9P")
            .f(6, "INJ^注射剤^MR9P")
            .f(7, "^透析回路より静注^99IC6")
            .f(21, "OHI^院内処方^MR9P");
    }
    m.push(rxe);
    let begin = t.later_same_day(3_600_000);
    let finish = begin.later_same_day(if ward.is_some() {
        5 * 3_600_000
    } else {
        60_000
    });
    m.push(
        Seg::new("TQ1")
            .f(1, "1")
            .f(7, begin.ts12())
            .f(8, finish.ts12()),
    );
    let mut rxr = Seg::new("RXR").f(1, cwe(ROUTE_IV.0, ROUTE_IV.1, "HL70162"));
    if ward.is_some() {
        rxr = rxr.f(3, "IVP^点滴ポンプ^HL70164");
    }
    m.push(rxr);
    for (i, (hot9, name, amount, (unit, unit_text))) in products.iter().enumerate() {
        m.push(
            Seg::new("RXC")
                .f(1, if i == 0 { "B" } else { "A" })
                .f(2, cwe(hot9, name, "HOT9"))
                .f(3, amount.to_string())
                .f(4, cwe(unit, unit_text, "MR9P")),
        );
    }
    let dept = ctx.dept.0;
    ctx.file(
        m,
        DataType::Omp02,
        Some(&t.ymd()),
        Some(&order),
        at,
        Some(dept),
        ConditionFlag::Current,
    )?;

    // The administration record, dated by RXA-3 on the same day.
    let done = finish.later_same_day(r.random_range(60_000..1_200_000));
    let mut m = ctx.msg("RAS^O17^RAS_O17", done);
    m.push(ctx.pid());
    m.push(match ward {
        Some(w) => ctx.pv1_inpatient(w),
        None => ctx.pv1_outpatient(),
    });
    m.push(ctx.orc("NW", &order, 1, done, ward));
    let location = match ward {
        Some(w) => w.to_owned(),
        None => format!("{}^^^^^C", ctx.dept.0),
    };
    for (hot9, name, amount, (unit, unit_text)) in &products {
        let mut rxa = Seg::new("RXA")
            .f(1, "0")
            .f(2, "1")
            .f(3, begin.ts14())
            .f(4, finish.ts14())
            .f(5, cwe(hot9, name, "HOT9"))
            .f(6, amount.to_string())
            .f(7, cwe(unit, unit_text, "MR9P"))
            .f(10, xcn(&ctx.nurse.0, ctx.nurse.1))
            .f(11, location.clone())
            .f(20, "CP")
            .f(22, done.ts14());
        if ward.is_some() {
            rxa = rxa.f(12, format!("{}ml/hr", volume / rate_hours));
        }
        m.push(rxa);
    }
    m.push(rxr_clone(ward));
    ctx.file(
        m,
        DataType::Omp12,
        Some(&begin.ymd()),
        Some(&order),
        done,
        Some(dept),
        ConditionFlag::Current,
    )
}

fn rxr_clone(ward: Option<&str>) -> Seg {
    let rxr = Seg::new("RXR").f(1, cwe(ROUTE_IV.0, ROUTE_IV.1, "HL70162"));
    if ward.is_some() {
        rxr.f(3, "IVP^点滴ポンプ^HL70164")
    } else {
        rxr
    }
}

/// OML-11 (OUL^R22): chemistry and haematology on serum/blood, optionally the infection panel.
/// Every occurrence of SPM-17 is the collection time, the care date. Some results first arrive
/// as preliminary (flag 2) and are replaced by the final report (flag 1).
fn lab_result(
    ctx: &mut Ctx<'_>,
    r: &mut ChaCha8Rng,
    collected: Ts,
    infection_panel: bool,
    ward: Option<&str>,
) -> Result<(), GenError> {
    let order = ctx.next_order();
    let person = ctx.person;
    // Values are drawn once so that the preliminary and final versions agree.
    let values: Vec<f64> = LABS
        .iter()
        .map(|lab| {
            let centre = match lab.sick {
                Some((cond, v)) if person.has(cond) => v,
                _ => lab.normal,
            };
            let spread = (lab.high - lab.low) / 8.0;
            (centre + normalish(r) * spread).max(lab.low / 3.0)
        })
        .collect();
    let comments: Vec<&str> = LABS.iter().map(|_| *pick(r, LAB_COMMENTS)).collect();
    let reported = collected.later_same_day(r.random_range(3_600_000..6 * 3_600_000));
    if chance(r, 15) {
        let early = collected.later_same_day(r.random_range(1_800_000..3_500_000));
        oul(
            ctx,
            &order,
            collected,
            early,
            &values,
            &comments,
            infection_panel,
            ward,
            false,
        )?;
    }
    oul(
        ctx,
        &order,
        collected,
        reported,
        &values,
        &comments,
        infection_panel,
        ward,
        true,
    )
}

#[allow(clippy::too_many_arguments)]
fn oul(
    ctx: &mut Ctx<'_>,
    order: &str,
    collected: Ts,
    at: Ts,
    values: &[f64],
    comments: &[&str],
    infection_panel: bool,
    ward: Option<&str>,
    final_report: bool,
) -> Result<(), GenError> {
    let person = ctx.person;
    let status = if final_report { "F" } else { "P" };
    let mut m = ctx.msg("OUL^R22^OUL_R22", at);
    m.push(ctx.pid());
    m.push(match ward {
        Some(w) => ctx.pv1_inpatient(w),
        None => ctx.pv1_outpatient(),
    });
    // Order numbers come from `next_order`: always 15 ASCII digits, so the slice is in range.
    // The filler number keeps the last 12 digits and appends the laboratory's 3-digit suffix.
    let filler = format!("{}{:03}", &order[order.len().saturating_sub(12)..], 1);
    // Chemistry on serum (JLAC10 material 023), haematology on whole blood (017); the infection
    // panel runs on the serum specimen.
    let specimens: [(&str, &str, &str, &[usize]); 2] = [
        (
            "023",
            "血清",
            "E002^生化学的検査^99O03",
            &[0, 1, 2, 3, 4, 5, 6, 7, 8, 10],
        ),
        ("017", "全血", "E001^血液学的検査^99O03", &[9, 11]),
    ];
    for (s, (material, material_name, group, items)) in specimens.iter().enumerate() {
        m.push(
            Seg::new("SPM")
                .f(1, (s + 1).to_string())
                .f(2, format!("{filler}{}", s + 1))
                .f(4, cwe(material, material_name, "JC10"))
                .f(8, "LA^左腕^HL70163")
                .f(17, collected.ts12()),
        );
        m.push(
            Seg::new("OBR")
                .f(1, "1")
                .f(2, order)
                .f(3, filler.clone())
                .f(4, *group)
                .f(7, collected.ts12())
                .f(16, xcn(&ctx.doctor.0, ctx.doctor.1))
                .f(22, at.ts14()),
        );
        m.push(
            ctx.orc("SC", order, 1, at, ward)
                .f(3, filler.clone())
                .f(5, if final_report { "CM" } else { "A" }),
        );
        let mut n = 0;
        for &i in *items {
            let lab = &LABS[i];
            let v = values[i];
            let flag = if v > lab.high {
                "H"
            } else if v < lab.low {
                "L"
            } else {
                ""
            };
            n += 1;
            m.push(
                Seg::new("OBX")
                    .f(1, n.to_string())
                    .f(2, "NM")
                    .f(3, cwe(lab.jlac10, lab.name, "JC10"))
                    .f(5, number(v, lab.decimals))
                    .f(6, format!("{}^{}^ISO+", lab.unit, lab.unit))
                    .f(
                        7,
                        format!(
                            "{}-{}",
                            number(lab.low, lab.decimals),
                            number(lab.high, lab.decimals)
                        ),
                    )
                    .f(8, flag)
                    .f(11, status)
                    .f(14, collected.ts12()),
            );
            m.push(Seg::new("NTE").f(1, "1").f(2, "L").f(3, comments[i]));
        }
        if s == 0 && infection_panel {
            for (i, inf) in INFECTIONS.iter().enumerate() {
                let positive = person.positives.contains(&i);
                n += 1;
                m.push(
                    Seg::new("OBX")
                        .f(1, n.to_string())
                        .f(2, "ST")
                        .f(3, cwe(inf.jlac10, inf.name, "JC10"))
                        .f(5, if positive { "陽性" } else { "陰性" })
                        .f(7, "陰性")
                        .f(8, if positive { "A" } else { "" })
                        .f(11, status)
                        .f(14, collected.ts12()),
                );
                m.push(Seg::new("NTE").f(1, "1").f(2, "L").f(
                    3,
                    if positive {
                        "要再検査"
                    } else {
                        "特記事項なし"
                    },
                ));
            }
        }
    }
    let dept = ctx.dept.0;
    let flag = if final_report {
        ConditionFlag::Current
    } else {
        ConditionFlag::Superseded
    };
    ctx.file(
        m,
        DataType::Oml11,
        Some(&collected.ymd()),
        Some(order),
        at,
        Some(dept),
        flag,
    )
}

/// ADT-22 (ADT^A01) and ADT-52 (ADT^A03) with inpatient orders between them; some admissions
/// are cancelled instead (the A01 and the A11 both flag 0, no stay follows).
fn admission(
    ctx: &mut Ctx<'_>,
    r: &mut ChaCha8Rng,
    admit_day: i32,
    discharge_day: i32,
) -> Result<(), GenError> {
    let ward = format!(
        "{}^{}^{}^^^N",
        r.random_range(3..9) * 10 + 1,
        r.random_range(1..30) + 300,
        r.random_range(1..5)
    );
    let admit = Ts::at(admit_day, r.random_range(9..16), r.random_range(0..60));
    let sent = admit.later_same_day(r.random_range(60_000..1_200_000));
    let cancelled = chance(r, 15);
    let pv1 = |ctx: &Ctx<'_>| {
        ctx.pv1_inpatient(&ward)
            .f(17, xcn(&ctx.doctor.0, ctx.doctor.1))
            .f(44, admit.ts12())
    };
    let dept = ctx.dept.0;
    let mut m = ctx.msg("ADT^A01^ADT_A01", sent);
    m.push(ctx.evn(sent, Some(admit)));
    m.push(ctx.pid());
    m.push(pv1(ctx));
    let a01_flag = if cancelled {
        ConditionFlag::Deleted
    } else {
        ConditionFlag::Current
    };
    ctx.file(
        m,
        DataType::Adt22,
        Some(&admit.ymd()),
        None,
        sent,
        Some(dept),
        a01_flag,
    )?;
    if cancelled {
        let at = sent.later_same_day(r.random_range(600_000..7_200_000));
        let mut m = ctx.msg("ADT^A11^ADT_A09", at);
        m.push(ctx.evn(at, Some(at)));
        m.push(ctx.pid());
        m.push(pv1(ctx));
        return ctx.file(
            m,
            DataType::Adt22,
            Some(&admit.ymd()),
            None,
            at,
            Some(dept),
            ConditionFlag::Deleted,
        );
    }
    // Day 1: labs with the infection screening, a 3-day prescription administered on the ward,
    // an infusion.
    lab_result(ctx, r, admit.later_same_day(30 * 60_000), true, Some(&ward))?;
    if !ctx.person.drugs.is_empty() {
        let order = prescription(ctx, r, admit.later_same_day(60 * 60_000), Some(&ward))?;
        administrations(
            ctx,
            r,
            &order,
            admit_day,
            3.min(discharge_day - admit_day),
            Some(&ward),
        )?;
    }
    let infusion = Ts::at(admit_day + 1, 9, r.random_range(0..60));
    injection(ctx, r, infusion, Some(&ward))?;

    let discharge = Ts::at(discharge_day, r.random_range(10..15), r.random_range(0..60));
    let sent = discharge.later_same_day(r.random_range(60_000..1_200_000));
    let mut m = ctx.msg("ADT^A03^ADT_A03", sent);
    m.push(ctx.evn(sent, Some(discharge)));
    m.push(ctx.pid());
    m.push(pv1(ctx).f(36, "01").f(45, discharge.ts12()));
    ctx.file(
        m,
        DataType::Adt52,
        Some(&discharge.ymd()),
        None,
        sent,
        Some(dept),
        ConditionFlag::Current,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELIMITERS: [char; 5] = ['|', '^', '~', '\\', '&'];

    fn clean(s: &str) {
        assert!(!s.is_empty());
        assert!(!s.contains(DELIMITERS), "{s} contains an HL7 delimiter");
        assert!(jis::encode(s).is_ok(), "{s} is not JIS X 0208");
    }

    #[test]
    fn tables_are_jis_x0208_and_free_of_delimiters() {
        for (k, r) in FAMILY.iter().chain(GIVEN_MALE).chain(GIVEN_FEMALE) {
            clean(k);
            clean(r);
            assert!(
                r.chars().all(|c| ('ァ'..='ヶ').contains(&c) || c == 'ー'),
                "{r}"
            );
        }
        assert!(FAMILY.len() >= 100 && GIVEN_MALE.len() >= 100 && GIVEN_FEMALE.len() >= 100);
        for c in CITIES {
            clean(c.name);
            c.towns.iter().for_each(|t| clean(t));
        }
        HOSPITAL_NAMES
            .iter()
            .chain(CLINIC_NAMES)
            .chain(PHARMACY_NAMES)
            .for_each(|(n, city)| {
                clean(n);
                assert!(*city < CITIES.len());
            });
        for d in DIAGNOSES {
            [d.medis, d.exchange, d.icd10, d.name]
                .iter()
                .for_each(|s| clean(s));
            assert_eq!(d.medis.len(), 8);
            assert_eq!(d.exchange.len(), 4);
        }
        for cond in DIAGNOSES.iter().map(|d| d.cond) {
            for drug in drugs_for(cond)
                .iter()
                .chain([&INSULIN_ASPART, &INSULIN_GLARGINE])
            {
                clean(drug.name);
                clean(drug.dosage.1);
                assert_eq!(drug.hot9.len(), 9);
                assert_eq!(drug.dosage.0.len(), 16);
            }
        }
        for lab in LABS {
            clean(lab.name);
            clean(lab.unit);
            assert_eq!(lab.jlac10.len(), 17);
        }
        for inf in INFECTIONS {
            clean(inf.name);
            assert_eq!(inf.jlac10.len(), 17);
        }
        for a in ALLERGENS {
            [a.code, a.name, a.reaction, a.kind.1]
                .iter()
                .for_each(|s| clean(s));
        }
        for (_, name, _, unit) in ESA.iter().chain([&INFUSION_BASE, &INFUSION_ADDITIVE]) {
            clean(name);
            clean(unit.1);
        }
        LAB_COMMENTS.iter().for_each(|c| clean(c));
    }

    #[test]
    fn calendar_round_trips() {
        for day in [
            -1,
            0,
            1,
            10_000,
            19_448,
            20_000,
            days_from_civil(2024, 2, 29),
        ] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(
            Ts::at(days_from_civil(2011, 12, 20), 22, 44)
                .later(47_339)
                .msh7(),
            "20111220224447.339"
        );
        assert_eq!(Ts { day: 0, ms: 5 }.later_same_day(MS_PER_DAY).day, 0);
    }

    #[test]
    fn messages_use_only_clean_values() {
        let spec = RegionSpec {
            patients: 40,
            facilities: 5,
            seed: 3,
        };
        for i in 0..spec.patients {
            for file in patient_files(&spec, i).expect("generates") {
                let text = jis::decode(&file.bytes).expect("decodes").text;
                assert!(!text.contains('\n') && text.ends_with('\r') && !text.contains('\u{1c}'));
                for seg in text.split_terminator('\r').skip(1) {
                    for field in seg.split('|') {
                        for leaf in field.split(['^', '~', '&']) {
                            assert!(!leaf.contains('\\'), "escape character in {seg}");
                        }
                    }
                }
                assert!(text.starts_with("MSH|^~\\&|"));
            }
        }
    }

    #[test]
    fn local_ids_differ_by_facility_and_never_collide() {
        assert_ne!(local_patient_id(0, 7), local_patient_id(1, 7));
        assert_ne!(local_patient_id(2, 7), local_patient_id(2, 8));
        assert!(local_patient_id(2, PATIENTS_MAX - 1).len() <= 15);
        for f in 0..FACILITIES_MAX {
            let w = local_patient_id(f, 0).len();
            assert_eq!(
                local_patient_id(f, PATIENTS_MAX - 1).len(),
                w,
                "width overflow at facility {f}"
            );
        }
    }

    #[test]
    fn spec_is_bounded() {
        let bad = RegionSpec {
            patients: 0,
            ..RegionSpec::default()
        };
        assert!(matches!(patient_files(&bad, 0), Err(GenError::Spec(_))));
        let bad = RegionSpec {
            facilities: 1000,
            ..RegionSpec::default()
        };
        assert!(matches!(patient_files(&bad, 0), Err(GenError::Spec(_))));
        let one = RegionSpec {
            facilities: 1,
            patients: 3,
            seed: 9,
        };
        assert!(
            !patient_files(&one, 2)
                .expect("one facility works")
                .is_empty()
        );
    }
}
