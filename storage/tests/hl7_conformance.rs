//! The HL7 parser and clinical extraction against NHO's 21 decodable conformance files
//! (`shared/conformance/ssmix2-nho/README.md`). Expected values were read off the decoded files
//! and are asserted literally.

use std::path::{Path, PathBuf};

use kizuna_storage::ssmix2::extract::{self, AllergySource, Clinical, Coded, Text};
use kizuna_storage::ssmix2::hl7::{Message, ParseError, Severity};
use kizuna_storage::ssmix2::jis;

const SKIP: &str = "skipping: ../shared/conformance not found (it sits beside the checkout in CI)";

/// The sample tree beside the checkout (`<checkout>/../shared`, i.e.
/// `CARGO_MANIFEST_DIR/../../shared`). `None` after printing why.
fn fixtures() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/ssmix2-nho/sampleData");
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!("{SKIP}");
        None
    }
}

/// Decoded text of one fixture with the crate's own codec, or `None` if it does not decode.
fn decode_fixture(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    jis::decode(&bytes).ok().map(|d| d.text)
}

/// Decodes, parses and extracts the fixture at `rel` (relative to `sampleData/`). The extraction
/// borrows the decoded text and its parse; both are leaked (a few kilobytes per test) so that the
/// assertions can hold it.
fn load(root: &Path, rel: &str) -> (String, Clinical<'static>) {
    let text = decode_fixture(&root.join(rel)).unwrap_or_else(|| panic!("{rel} decodes"));
    let leaked: &'static str = Box::leak(text.clone().into_boxed_str());
    let msg = Message::parse(leaked).unwrap_or_else(|e| panic!("{rel} parses: {e}"));
    let msg: &'static Message<'static> = Box::leak(Box::new(msg));
    (text, extract::extract(msg))
}

fn s(v: &str) -> Option<Text<'static>> {
    Some(Text::from(v.to_owned()))
}

fn coded(code: &str, text: &str, system: &str) -> Option<Coded<'static>> {
    let part = |v: &str| (!v.is_empty()).then(|| Text::from(v.to_owned()));
    Some(Coded {
        code: part(code),
        text: part(text),
        system: part(system),
    })
}

const ADT00: &str =
    "999/901/9999013/-/ADT-00/9999013_-_ADT-00_999999999999999_20111220224447339_-_1";
const ADT61: &str =
    "999/901/9999013/-/ADT-61/9999013_-_ADT-61_999999999999999_20111014232213000_-_1";
const PPR01: &str =
    "999/901/9999013/-/PPR-01/9999013_-_PPR-01_999999999999999_20111209163030000_01_1";
const OMP01: &str = "999/901/9999013/20110701/OMP-01/9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1";
const OMP02: &str = "999/901/9999013/20110701/OMP-02/9999013_20110701_OMP-02_123456789012345_20110701224603984_01_1";
const OMP12: &str = "999/901/9999013/20110701/OMP-12/9999013_20110701_OMP-12_123456789012345_20110701113813225_01_1";
const ADT22: &str = "999/901/9999013/20111120/ADT-22/9999013_20111120_ADT-22_999999999999999_20111220224447339_01_1";
const OML11: &str = "999/901/9999013/20111220/OML-11/9999013_20111220_OML-11_000000011000354_20111220103059000_01_1";
const JUNK: &str = "000/000/0000001/20000401/OMP-11/0000001_20000401_OMP-11_123456789012345_20110701113813225_01_1";

#[test]
fn every_decodable_file_parses() {
    let Some(root) = fixtures() else { return };
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 22);
    let mut parsed = 0;
    for path in &files {
        let rel = path.strip_prefix(&root).unwrap_or(path).to_string_lossy();
        // No. 1 is `FB FC`, not ISO-2022-JP: the codec's problem, not the parser's.
        let Some(text) = decode_fixture(path) else {
            assert!(
                rel.starts_with("000/000/0000001/20000401/ADT-31/"),
                "{rel} decodes"
            );
            continue;
        };
        let msg = Message::parse(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
        // Every file ends CR 0x1C: one informational trailer warning and nothing else.
        let codes: Vec<&str> = msg.warnings().iter().map(|w| w.code()).collect();
        assert_eq!(codes, ["hl7.trailing_data"], "{rel}");
        assert!(
            msg.warnings()
                .iter()
                .all(|w| w.severity() == Severity::Info)
        );
        assert_eq!(msg.msh().field(1).raw(), "|");
        assert_eq!(msg.msh().field(2).raw(), "^~\\&");
        assert_eq!(
            msg.profile(),
            "SS-MIX2_1.20^SS-MIX2^1.2.392.200250.2.1.100.1.2.120^ISO",
            "{rel}"
        );
        assert!(
            ["~ISO IR87", "~ISOIR87"].contains(&msg.character_set()),
            "{rel}"
        );
        assert!(
            ["ISO2022-1994", "ISO 2022-1994"].contains(&msg.character_set_scheme()),
            "{rel}"
        );
        let ty = msg.message_type().unwrap_or_else(|| panic!("{rel} MSH-9"));
        assert!(ty.event.is_some() && ty.structure.is_some(), "{rel}");
        assert!(msg.timestamp().is_some() && msg.control_id().is_some());
        // Extraction must not panic on any of them, junk included.
        let clinical = extract::extract(&msg);
        assert_eq!(clinical.message_type.as_deref(), Some(&*ty.code));
        assert!(clinical.patient.is_some(), "{rel} has a PID");
        parsed += 1;
    }
    assert_eq!(parsed, 21);
}

#[test]
fn adt00_demographics_allergy_and_body_measurements() {
    let Some(root) = fixtures() else { return };
    let (text, c) = load(&root, ADT00);
    let msg = Message::parse(&text).expect("parses");
    assert_eq!(msg.timestamp(), Some("20111220224447.3399"));
    assert_eq!(
        (c.message_type.as_deref(), c.event.as_deref()),
        (Some("ADT"), Some("A08"))
    );
    let p = c.patient.expect("PID");
    assert_eq!(p.id, s("9999013"));
    let kanji = p.kanji_name.expect("kanji name");
    assert_eq!((kanji.family, kanji.given), (s("患者"), s("太郎")));
    let kana = p.kana_name.expect("kana name");
    assert_eq!((kana.family, kana.given), (s("カンジャ"), s("タロウ")));
    assert_eq!(p.birth_date, s("19480405"));
    assert_eq!(p.sex, s("M"));
    let addr = p.address.expect("address");
    assert_eq!(addr.postcode, s("422-8033"));
    // JIS 0x215D decodes to U+2212 with CPython (guide §5.2).
    assert_eq!(addr.text, s("静岡県静岡市登呂１\u{2212}３\u{2212}５"));
    let home: Vec<_> = p
        .home_phones
        .iter()
        .map(|x| (x.use_code.as_deref(), x.number.as_deref()))
        .collect();
    assert_eq!(
        home,
        [
            (Some("PRN"), Some("054-000-0000")),
            (Some("EMR"), Some("03-5999-9999"))
        ]
    );
    assert_eq!(p.work_phones.len(), 1);
    assert_eq!(p.work_phones[0].use_code, s("WPN"));
    assert_eq!(p.work_phones[0].number, s("03-3599-9993"));
    assert_eq!(p.last_updated, s("20111219121551"));

    assert_eq!(c.allergies.len(), 1);
    let a = &c.allergies[0];
    assert_eq!(a.source, AllergySource::Al1);
    assert_eq!(a.set_id, s("1"));
    assert_eq!(a.allergen_type, coded("DA", "薬剤アレルギー", "HL70127"));
    assert_eq!(a.allergen, coded("1", "ペニシリン", "99XYZ"));
    assert_eq!((&a.severity, &a.reaction, &a.onset), (&None, &None, &None));

    let obs: Vec<_> = c
        .observations
        .iter()
        .map(|o| {
            (
                o.value_type.as_deref(),
                o.code.as_ref().and_then(|x| x.code.as_deref()),
                o.value.as_deref(),
                o.numeric,
                o.unit.as_ref().and_then(|u| u.code.as_deref()),
                o.status.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        obs,
        [
            (
                Some("NM"),
                Some("9N001000000000001"),
                Some("167.8"),
                Some(167.8),
                Some("cm"),
                Some("F")
            ),
            (
                Some("NM"),
                Some("9N006000000000001"),
                Some("63.5"),
                Some(63.5),
                Some("kg"),
                Some("F")
            ),
            (
                Some("CWE"),
                Some("5H010000009199911"),
                Some("A^A^JSHR002"),
                None,
                None,
                Some("F")
            ),
        ]
    );
    assert_eq!(
        c.observations[0].code,
        coded("9N001000000000001", "身長", "JC10")
    );
    assert_eq!(c.observations[1].unit, coded("kg", "kg", "ISO+"));
    assert_eq!(c.observations[2].coded_value, coded("A", "A", "JSHR002"));
    let v = c.visit.expect("PV1");
    assert_eq!(v.patient_class, s("I"));
    assert_eq!(v.recorded, s("201112202100"));
}

#[test]
fn adt61_four_iam_allergies() {
    let Some(root) = fixtures() else { return };
    let (_, c) = load(&root, ADT61);
    assert_eq!(c.event.as_deref(), Some("A60"));
    assert_eq!(c.patient.and_then(|p| p.id), s("12345678"));
    assert_eq!(c.allergies.len(), 4);
    assert!(c.allergies.iter().all(|a| a.source == AllergySource::Iam));
    assert!(
        c.allergies
            .iter()
            .all(|a| a.action == coded("A", "追加", "HL70323"))
    );
    let rows: Vec<_> = c
        .allergies
        .iter()
        .map(|a| {
            (
                a.set_id.as_deref(),
                a.allergen_type.as_ref().and_then(|t| t.code.as_deref()),
                a.allergen.clone(),
                a.severity.as_ref().and_then(|t| t.code.as_deref()),
                a.reaction.as_deref(),
                a.onset.as_deref(),
                a.onset_text.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                Some("1"),
                Some("LA"),
                coded("5A1002216023023", "スギ", "JC10"),
                Some("MI"),
                Some("目のかゆみ"),
                Some("199601"),
                None
            ),
            (
                Some("2"),
                Some("FA"),
                coded("5A1002411023006", "ソバ", "JC10"),
                Some("MO"),
                Some("湿疹"),
                None,
                Some("小学校低学年の頃")
            ),
            (
                Some("3"),
                Some("EA"),
                coded("5A1102700023023", "ハウスダスト", "JC10"),
                Some("MI"),
                Some("くしゃみ"),
                Some("200302"),
                None
            ),
            (
                Some("4"),
                Some("DA"),
                coded("106824501", "アリナミン", "HOT9"),
                Some("MO"),
                Some("のどの渇きが止まらない"),
                Some("20070710"),
                None
            ),
        ]
    );
    assert_eq!(
        c.allergies[0].allergen_type,
        coded("LA", "花粉アレルギー", "HL70127")
    );
    assert_eq!(c.allergies[1].severity, coded("MO", "中等度", "HL70128"));
}

#[test]
fn ppr01_diagnosis_with_zpr() {
    let Some(root) = fixtures() else { return };
    let (_, c) = load(&root, PPR01);
    assert_eq!(
        (c.message_type.as_deref(), c.event.as_deref()),
        (Some("PPR"), Some("ZD1"))
    );
    assert_eq!(c.diagnoses.len(), 1);
    let d = &c.diagnoses[0];
    assert_eq!(d.action, s("AD"));
    assert_eq!(d.action_time, s("20110915"));
    assert_eq!(d.disease, coded("20054174", "胃炎", "MDCDX2"));
    assert_eq!(d.instance_id, s("123456789012345"));
    assert_eq!(d.established, s("20110831"));
    assert_eq!(d.resolved, s("20110915"));
    assert_eq!(d.icd10, s("K297"));
    assert_eq!(d.diagnosis_class, s("O"));
    assert_eq!(d.diagnosis_class_text, s("外来時"));
    assert_eq!(d.confirmation, None);
    assert_eq!(d.outcome, coded("N", "回復せず", "HL70241"));
    assert_eq!(d.onset, s("20110831"));
    assert_eq!(d.ranking, coded("1", "主診断", "JHSD0007"));
    assert_eq!(d.medis_disease_code, s("20054174"));
    assert_eq!(d.medis_exchange_code, s("TSQF"));
}

#[test]
fn omp01_three_prescription_groups() {
    let Some(root) = fixtures() else { return };
    let (_, c) = load(&root, OMP01);
    assert_eq!(
        (c.message_type.as_deref(), c.event.as_deref()),
        (Some("RDE"), Some("O11"))
    );
    let o = &c.medication_orders;
    assert_eq!(o.len(), 3);
    let drugs: Vec<_> = o.iter().map(|x| x.drug.clone()).collect();
    assert_eq!(
        drugs,
        [
            coded("108665201", "ダーゼン錠（５mg)", "HOT9"),
            coded("110626901", "パンスポリンＴ錠（１００mg)", "HOT9"),
            coded("100607002", "アレピアチン１０倍散", "HOT9"),
        ]
    );
    let doses: Vec<_> = o.iter().map(|x| x.dose.as_deref()).collect();
    assert_eq!(doses, [Some("1"), Some("2"), Some("50")]);
    let units: Vec<_> = o
        .iter()
        .map(|x| x.dose_unit.as_ref().and_then(|u| u.code.as_deref()))
        .collect();
    assert_eq!(units, [Some("TAB"), Some("TAB"), Some("MG")]);
    let rp: Vec<_> = o.iter().map(|x| x.group_number.as_deref()).collect();
    assert_eq!(rp, [Some("1"), Some("1"), Some("2")]);
    for x in o {
        assert_eq!(x.order_control, s("NW"));
        assert_eq!(x.order_number, s("000000011000185"));
        assert_eq!(x.transaction_time, s("20110701103045"));
        assert_eq!(x.route, coded("PO", "口", "HL70162"));
        assert_eq!(x.start, s("2011070100"));
        assert_eq!(x.end, None);
        assert_eq!(
            x.categories,
            [
                Coded {
                    code: s("OHP"),
                    text: s("外来処方"),
                    system: s("MR9P")
                },
                Coded {
                    code: s("OHI"),
                    text: s("院内処方"),
                    system: s("MR9P")
                },
            ]
        );
        assert!(x.components.is_empty());
    }
    assert_eq!(
        o[0].frequency,
        coded(
            "1013044400000000",
            "内服・経口・１日３回朝昼夕食後",
            "JAMISDP01"
        )
    );
    assert_eq!(o[1].frequency, o[0].frequency);
    assert_eq!(
        o[2].frequency,
        coded(
            "1012040400000000",
            "内服・経口・１日２回朝夕食後",
            "JAMISDP01"
        )
    );
    let durations: Vec<_> = o
        .iter()
        .map(|x| {
            let d = x.duration.as_ref();
            (
                d.and_then(|d| d.value.as_deref()),
                d.and_then(|d| d.unit.as_ref())
                    .and_then(|u| u.code.as_deref()),
            )
        })
        .collect();
    assert_eq!(
        durations,
        [
            (Some("5"), Some("d")),
            (Some("5"), Some("d")),
            (Some("14"), Some("d"))
        ]
    );
    assert_eq!(o[0].dosage_form, None);
    assert_eq!(o[2].dosage_form, coded("PWD", "散剤", "MR9P"));
    assert_eq!(o[0].dispense_amount, s("15"));
    assert_eq!(o[2].dispense_amount, s("1400"));
    assert_eq!(o[2].dispense_unit, coded("MG", "ミリグラム", "MR9P"));
    let daily = o[0].total_daily_dose.as_ref().expect("RXE-19");
    assert_eq!(daily.value, s("3"));
    assert_eq!(daily.unit, coded("TAB", "錠", "MR9P"));
    let p = c.patient.as_ref().expect("PID");
    assert_eq!(p.work_phones[0].number, s("054-999-2455"));
}

#[test]
fn omp02_injection_components() {
    let Some(root) = fixtures() else { return };
    let (_, c) = load(&root, OMP02);
    let o = &c.medication_orders;
    assert_eq!(o.len(), 3);
    let rp: Vec<_> = o.iter().map(|x| x.group_number.as_deref()).collect();
    assert_eq!(
        rp,
        [
            Some("123456789012345_01_001"),
            Some("123456789012345_01_002"),
            Some("123456789012345_01_003")
        ]
    );
    let times: Vec<_> = o.iter().map(|x| x.transaction_time.as_deref()).collect();
    assert_eq!(
        times,
        [
            Some("20110701012410"),
            Some("20090701012410"),
            Some("20090701012410")
        ]
    );
    for x in o {
        assert_eq!(x.drug, coded("00", "一般", "99I02"));
        assert_eq!(x.dose, s("510"));
        assert_eq!(x.dose_unit, coded("ML", "ミリリットル", "MR9P"));
        assert_eq!(x.dosage_form, coded("INJ", "注射剤", "MR9P"));
        assert_eq!(x.route, coded("IV", "静脈内", "HL70162"));
        assert_eq!(x.frequency, None);
        assert_eq!(x.components.len(), 2);
        let base = &x.components[0];
        assert_eq!(base.kind, s("B"));
        assert_eq!(
            base.drug,
            coded("620007329", "ソリタ\u{2212}Ｔ３号輸液５００ｍＬ", "HOT9")
        );
        assert_eq!(base.amount, s("1"));
        assert_eq!(base.unit, coded("HON", "本", "MR9P"));
        let add = &x.components[1];
        assert_eq!(add.kind, s("A"));
        assert_eq!(
            add.drug,
            coded("620002559", "アドナ注（静脈用）50mg", "HOT9")
        );
        assert_eq!(add.amount, s("1"));
        assert_eq!(add.unit, coded("AMP", "アンプル", "MR9P"));
    }
    let slots: Vec<_> = o
        .iter()
        .map(|x| (x.start.as_deref(), x.end.as_deref()))
        .collect();
    assert_eq!(
        slots,
        [
            (Some("201107010800"), Some("201107011300")),
            (Some("201107011300"), Some("201107011800")),
            (Some("201107011800"), Some("201107012300")),
        ]
    );
}

#[test]
fn omp12_administrations() {
    let Some(root) = fixtures() else { return };
    let (_, c) = load(&root, OMP12);
    assert_eq!(
        (c.message_type.as_deref(), c.event.as_deref()),
        (Some("RAS"), Some("O17"))
    );
    let a = &c.administrations;
    assert_eq!(a.len(), 2);
    for x in a {
        assert_eq!(x.order_number, s("123456789012345"));
        assert_eq!(x.start, s("20110701080521"));
        assert_eq!(x.end, s("20110701130543"));
        assert_eq!(x.amount, s("1"));
        assert_eq!(x.note, coded("", "左手に実施", "99IC2"));
        assert_eq!(x.rate, s("102ml/hr"));
        assert_eq!(x.completion_status, s("CP"));
    }
    assert_eq!(
        a[0].drug,
        coded("620007329", "ソリタ\u{2212}Ｔ３号輸液５００ｍＬ", "HOT9")
    );
    assert_eq!(a[0].unit, coded("HON", "本", "MR9P"));
    assert_eq!(
        a[1].drug,
        coded("620002559", "アドナ注（静脈用）50mg", "HOT9")
    );
    assert_eq!(a[1].unit, coded("AMP", "アンプル", "MR9P"));
}

#[test]
fn oml11_lab_results() {
    let Some(root) = fixtures() else { return };
    let (_, c) = load(&root, OML11);
    assert_eq!(
        (c.message_type.as_deref(), c.event.as_deref()),
        (Some("OUL"), Some("R22"))
    );
    assert_eq!(c.lab_reports.len(), 1);
    let r = &c.lab_reports[0];
    let spm = r.specimen.as_ref().expect("SPM");
    assert_eq!(spm.set_id, s("1"));
    assert_eq!(spm.id, s("000000001219001"));
    assert_eq!(spm.specimen_type, coded("023", "血清", "JC10"));
    assert_eq!(spm.collected, s("201112191500"));
    let obr = r.request.as_ref().expect("OBR");
    assert_eq!(obr.placer_number, s("000000011000354"));
    assert_eq!(obr.filler_number, s("000000001219001"));
    assert_eq!(obr.test, coded("E001", "血液学的検査", "99O03"));
    assert_eq!(obr.observed, s("20111219"));
    assert_eq!(r.order_number, s("000000011000354"));
    let rows: Vec<_> = r
        .observations
        .iter()
        .map(|o| {
            (
                o.set_id.as_deref(),
                o.code.clone(),
                o.value.as_deref(),
                o.numeric,
                o.unit.clone(),
                o.reference_range.as_deref(),
                o.status.as_deref(),
                o.observed.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                Some("1"),
                coded("3A016000002327102", "A/G比", "JC10"),
                Some("1.7"),
                Some(1.7),
                None,
                Some("1.2-2.0"),
                Some("F"),
                Some("201112191500")
            ),
            (
                Some("2"),
                coded("3A010000002327101", "総蛋白", "JC10"),
                Some("7.2"),
                Some(7.2),
                coded("g/dl", "g/dl", "99XYZ"),
                Some("6.70-8.3"),
                Some("F"),
                Some("201112191500")
            ),
            (
                Some("3"),
                coded("3A015000002327101", "アルブミン", "JC10"),
                Some("4.9"),
                Some(4.9),
                coded("g/dl", "g/dl", "99XYZ"),
                Some("3.7-5.5"),
                Some("F"),
                Some("201112191500")
            ),
        ]
    );
    assert!(
        r.observations
            .iter()
            .all(|o| o.value_type.as_deref() == Some("NM"))
    );
    assert!(
        r.observations
            .iter()
            .all(|o| o.abnormal_flag.is_none() && o.sub_id.is_none())
    );
}

#[test]
fn adt22_admission_and_kana_with_ampersand_bytes() {
    let Some(root) = fixtures() else { return };
    let raw = std::fs::read(root.join(ADT22)).expect("fixture readable");
    // タロウ is `%?%m%&` in JIS: the raw bytes hold an `&` that is not a subcomponent separator.
    assert!(raw.windows(6).any(|w| w == b"%?%m%&"));
    let (_, c) = load(&root, ADT22);
    assert_eq!(
        (c.message_type.as_deref(), c.event.as_deref()),
        (Some("ADT"), Some("A01"))
    );
    let p = c.patient.expect("PID");
    assert_eq!(p.id, s("9999013"));
    let kana = p.kana_name.expect("kana name");
    assert_eq!((kana.family, kana.given), (s("カンジャ"), s("タロウ")));
    let v = c.visit.expect("PV1");
    assert_eq!(v.event, s("A01"));
    assert_eq!(v.patient_class, s("I"));
    let loc = v.location.expect("PV1-3");
    assert_eq!(
        (loc.point_of_care, loc.room, loc.bed, loc.location_type),
        (s("32"), s("302"), s("1"), s("N"))
    );
    assert_eq!(v.department, s("01"));
    assert_eq!(v.admitted, s("201111201600"));
    assert_eq!(v.discharged, None);
    assert_eq!(v.recorded, s("201112202100"));
}

#[test]
fn adt42_and_adt52_transfer_and_discharge() {
    let Some(root) = fixtures() else { return };
    let (_, c) = load(
        &root,
        "999/901/9999013/20111220/ADT-42/9999013_20111220_ADT-42_999999999999999_20111220224447339_10_1",
    );
    let v = c.visit.expect("PV1");
    assert_eq!(v.event, s("A02"));
    assert_eq!(v.event_time, s("201112202000"));
    assert_eq!(v.department, s("10"));
    assert_eq!(v.location.and_then(|l| l.room), s("305"));
    assert_eq!(v.prior_location.and_then(|l| l.room), s("302"));
    let (_, c) = load(
        &root,
        "999/901/9999013/20111220/ADT-52/9999013_20111220_ADT-52_999999999999999_20111220224447339_08_1",
    );
    let v = c.visit.expect("PV1");
    assert_eq!(v.event, s("A03"));
    assert_eq!(v.discharge_disposition, s("01"));
    assert_eq!(v.discharged, s("201112201200"));
    assert_eq!(v.event_time, s("201112201200"));
}

#[test]
fn oml01_and_oru_groups() {
    let Some(root) = fixtures() else { return };
    let (_, c) = load(
        &root,
        "999/901/9999013/20111220/OML-01/9999013_20111220_OML-01_000000011000354_20111220103059123_15_1",
    );
    assert_eq!(c.lab_reports.len(), 2);
    let types: Vec<_> = c
        .lab_reports
        .iter()
        .map(|r| {
            r.specimen
                .as_ref()
                .and_then(|s| s.specimen_type.as_ref())
                .and_then(|t| t.code.as_deref())
        })
        .collect();
    assert_eq!(types, [Some("023"), Some("022")]);
    assert_eq!(c.lab_reports[0].observations.len(), 4);
    assert_eq!(c.lab_reports[1].observations.len(), 3);
    let first = &c.lab_reports[1].observations[0];
    assert_eq!(
        first.code.as_ref().and_then(|x| x.code.as_deref()),
        Some("2B0300000022311")
    );
    assert_eq!(
        (first.value_type.as_deref(), first.status.as_deref()),
        (None, Some("O"))
    );
    let (_, c) = load(
        &root,
        "999/901/9999013/20111220/OMG-13/9999013_20111220_OMG-13_999999999999999_20111220224447339_01_1",
    );
    assert_eq!(c.message_type.as_deref(), Some("ORU"));
    assert_eq!(c.patient.as_ref().and_then(|p| p.birth_date.clone()), None);
    let obs = &c.lab_reports[0].observations;
    assert_eq!(obs.len(), 12);
    assert_eq!(obs[0].set_id, s("2"));
    assert_eq!(obs[9].numeric, Some(-14.0));
    assert_eq!(obs[9].unit, coded("degree", "", ""));
}

#[test]
fn junk_fixture_extracts_without_panicking() {
    let Some(root) = fixtures() else { return };
    let (text, c) = load(&root, JUNK);
    let msg = Message::parse(&text).expect("parses");
    assert_eq!(msg.segment_count(), 7 + 2 + 27);
    assert_eq!(msg.segments_with_id("MSH").count(), 3);
    // Non-numeric NM values stay strings.
    assert_eq!(msg.msh().field(13).raw(), "番号");
    assert_eq!(c.administrations.len(), 3);
    assert_eq!(
        c.administrations[0]
            .drug
            .as_ref()
            .and_then(|d| d.code.as_deref()),
        Some("108665201")
    );
    assert_eq!(
        c.administrations[2],
        extract::Administration {
            order_number: None,
            ..Default::default()
        }
    );
    // A text that is not HL7 at all is a clear error.
    assert_eq!(Message::parse("garbage\r").err(), Some(ParseError::NoMsh));
}
