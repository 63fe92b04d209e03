//! Typed clinical extraction from a parsed SS-MIX2 message.
//!
//! [`extract`] dispatches on MSH-9 (type and event), never on the storage folder, because
//! folders and content disagree in real storages (`../shared/docs/ssmix2.md` §7). Field positions
//! follow the guide's §6 tables. Every value is optional: junk messages (the conformance set has
//! two) yield partially empty records, never a panic.
//!
//! Values are unescaped owned strings. Both an empty field and HL7's explicit null `""` become
//! `None` here; code that must tell a deletion from an omission reads the [`Message`] directly
//! with [`Element::value`](super::hl7::Element::value).

use serde::Serialize;

/// Extracted values: inline up to 24 bytes (codes, dates, most names), so extracting a message
/// allocates for long texts only. Measured: allocation was a quarter of extraction time with
/// `String`.
pub type Text = compact_str::CompactString;

use std::borrow::Cow;

use super::hl7::{Element, Message, Segment, Value};

/// Everything this module understands in one message. Vectors are empty for kinds the message
/// type does not carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Clinical {
    /// MSH-9.1, e.g. `ADT`.
    pub message_type: Option<Text>,
    /// MSH-9.2, e.g. `A08`.
    pub event: Option<Text>,
    /// From the first PID, for every message that has one.
    pub patient: Option<Patient>,
    /// From the first PV1 (and EVN), for every message that has one: orders carry the ward and
    /// department of the visit they belong to.
    pub visit: Option<Visit>,
    /// AL1 and IAM, in ADT and RDE messages.
    pub allergies: Vec<Allergy>,
    /// PRB joined with its ZPR, in PPR messages.
    pub diagnoses: Vec<Diagnosis>,
    /// ORC/RXE/TQ1/RXR/RXC groups, in RDE messages (prescriptions and injections).
    pub medication_orders: Vec<MedicationOrder>,
    /// RXA, in RAS messages.
    pub administrations: Vec<Administration>,
    /// SPM/OBR/OBX groups, in OUL, OML and ORU messages.
    pub lab_reports: Vec<LabReport>,
    /// OBX outside lab groups: height, weight and blood group in ADT messages.
    pub observations: Vec<Observation>,
}

/// A coded value (CWE/CE triplet): code, display text, coding system (`HOT9`, `JC10`, `MR9P` …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coded {
    pub code: Option<Text>,
    pub text: Option<Text>,
    pub system: Option<Text>,
}

/// An amount with an optional coded unit (`5^d`, `3^TAB&錠&MR9P`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Quantity {
    pub value: Option<Text>,
    pub unit: Option<Coded>,
}

/// A person's name (XPN.1 family, XPN.2 given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Name {
    pub family: Option<Text>,
    pub given: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Address {
    /// XAD.5.
    pub postcode: Option<Text>,
    /// XAD.8 free text, or XAD.4, XAD.3, XAD.1, XAD.2 concatenated in Japanese order
    /// (prefecture, city, street, other) when XAD.8 is empty.
    pub text: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Phone {
    /// XTN.2 (`PRN`, `WPN`, `EMR` …).
    pub use_code: Option<Text>,
    /// XTN.12, or the deprecated XTN.1 when XTN.12 is empty.
    pub number: Option<Text>,
}

/// Demographics from PID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Patient {
    /// PID-3.1.
    pub id: Option<Text>,
    /// The PID-5 repetition with XPN.8 = `I`, else the first repetition.
    pub kanji_name: Option<Name>,
    /// The PID-5 repetition with XPN.8 = `P`.
    pub kana_name: Option<Name>,
    /// PID-7 as sent (`YYYYMMDD`).
    pub birth_date: Option<Text>,
    /// PID-8.
    pub sex: Option<Text>,
    /// PID-11, first repetition.
    pub address: Option<Address>,
    /// PID-13, every repetition.
    pub home_phones: Vec<Phone>,
    /// PID-14, every repetition.
    pub work_phones: Vec<Phone>,
    /// PID-33.
    pub last_updated: Option<Text>,
}

/// Which segment an allergy came from; the two carry the same core fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AllergySource {
    Al1,
    Iam,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allergy {
    pub source: AllergySource,
    /// AL1-1 / IAM-1.
    pub set_id: Option<Text>,
    /// AL1-2 / IAM-2 (table 0127: `DA`, `FA`, `EA`, `LA` …).
    pub allergen_type: Option<Coded>,
    /// AL1-3 / IAM-3.
    pub allergen: Option<Coded>,
    /// AL1-4 / IAM-4 (table 0128).
    pub severity: Option<Coded>,
    /// AL1-5 / IAM-5, first repetition.
    pub reaction: Option<Text>,
    /// IAM-6 (table 0323).
    pub action: Option<Coded>,
    /// IAM-11, often a partial date (`199601`).
    pub onset: Option<Text>,
    /// IAM-12.
    pub onset_text: Option<Text>,
}

/// A PRB and the ZPR that follows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// PRB-1 (table 0287).
    pub action: Option<Text>,
    /// PRB-2.
    pub action_time: Option<Text>,
    /// PRB-3, MEDIS disease management number (`MDCDX2`).
    pub disease: Option<Coded>,
    /// PRB-4.1.
    pub instance_id: Option<Text>,
    /// PRB-7.
    pub established: Option<Text>,
    /// PRB-9.
    pub resolved: Option<Text>,
    /// PRB-10.1.
    pub icd10: Option<Text>,
    /// PRB-10.4 (`O` 外来時 …).
    pub diagnosis_class: Option<Text>,
    /// PRB-10.5.
    pub diagnosis_class_text: Option<Text>,
    /// PRB-13.
    pub confirmation: Option<Coded>,
    /// PRB-14.
    pub outcome: Option<Coded>,
    /// PRB-16.
    pub onset: Option<Text>,
    /// PRB-18 (`1^主診断^JHSD0007`).
    pub ranking: Option<Coded>,
    /// ZPR-2.1.
    pub medis_disease_code: Option<Text>,
    /// ZPR-5.1, the 4-character exchange code.
    pub medis_exchange_code: Option<Text>,
}

/// One ORC group of an RDE message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MedicationOrder {
    /// ORC-1.
    pub order_control: Option<Text>,
    /// ORC-2.1.
    pub order_number: Option<Text>,
    /// ORC-4.1, the Rp number.
    pub group_number: Option<Text>,
    /// ORC-9.
    pub transaction_time: Option<Text>,
    /// RXE-2: a HOT9 drug, or an injection type in OMP-02.
    pub drug: Option<Coded>,
    /// RXE-3.
    pub dose: Option<Text>,
    /// RXE-5.
    pub dose_unit: Option<Coded>,
    /// RXE-6.
    pub dosage_form: Option<Coded>,
    /// RXE-10.
    pub dispense_amount: Option<Text>,
    /// RXE-11.
    pub dispense_unit: Option<Coded>,
    /// RXE-19.
    pub total_daily_dose: Option<Quantity>,
    /// RXE-21, every repetition.
    pub categories: Vec<Coded>,
    /// TQ1-3.1 as subcomponents `code&text&JAMISDP01`.
    pub frequency: Option<Coded>,
    /// TQ1-6 (`5^d`).
    pub duration: Option<Quantity>,
    /// TQ1-7.
    pub start: Option<Text>,
    /// TQ1-8.
    pub end: Option<Text>,
    /// RXR-1.
    pub route: Option<Coded>,
    /// RXC segments (injection base and additives).
    pub components: Vec<RxComponent>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RxComponent {
    /// RXC-1: `B` base, `A` additive.
    pub kind: Option<Text>,
    /// RXC-2.
    pub drug: Option<Coded>,
    /// RXC-3.
    pub amount: Option<Text>,
    /// RXC-4.
    pub unit: Option<Coded>,
}

/// One RXA of a RAS message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Administration {
    /// ORC-2.1 of the preceding ORC.
    pub order_number: Option<Text>,
    /// RXA-3.
    pub start: Option<Text>,
    /// RXA-4.
    pub end: Option<Text>,
    /// RXA-5.
    pub drug: Option<Coded>,
    /// RXA-6.
    pub amount: Option<Text>,
    /// RXA-7.
    pub unit: Option<Coded>,
    /// RXA-9, first repetition.
    pub note: Option<Coded>,
    /// RXA-12, free text (`102ml/hr`).
    pub rate: Option<Text>,
    /// RXA-20 (`CP`).
    pub completion_status: Option<Text>,
}

/// One specimen or request with its observations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabReport {
    pub specimen: Option<Specimen>,
    pub request: Option<ObservationRequest>,
    /// ORC-2.1 of an ORC inside the group.
    pub order_number: Option<Text>,
    pub observations: Vec<Observation>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Specimen {
    /// SPM-1.
    pub set_id: Option<Text>,
    /// SPM-2.1.1 (placer's specimen ID).
    pub id: Option<Text>,
    /// SPM-4 (JLAC10 material code).
    pub specimen_type: Option<Coded>,
    /// SPM-17.1.
    pub collected: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObservationRequest {
    /// OBR-2.1.
    pub placer_number: Option<Text>,
    /// OBR-3.1.
    pub filler_number: Option<Text>,
    /// OBR-4.
    pub test: Option<Coded>,
    /// OBR-7.
    pub observed: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observation {
    /// OBX-1.
    pub set_id: Option<Text>,
    /// OBX-2 (`NM`, `ST`, `CWE` …).
    pub value_type: Option<Text>,
    /// OBX-3.
    pub code: Option<Coded>,
    /// OBX-4.
    pub sub_id: Option<Text>,
    /// OBX-5 as a string: unescaped for primitive types, raw (components intact) for composite
    /// types such as CWE, XCN or ZRD.
    pub value: Option<Text>,
    /// OBX-5 parsed as a number, only for `NM` and only when it is a plain decimal.
    pub numeric: Option<f64>,
    /// OBX-5 components 1–3, only for `CWE`/`CE`/`CNE`.
    pub coded_value: Option<Coded>,
    /// OBX-6.
    pub unit: Option<Coded>,
    /// OBX-7.
    pub reference_range: Option<Text>,
    /// OBX-8, first repetition.
    pub abnormal_flag: Option<Text>,
    /// OBX-11.
    pub status: Option<Text>,
    /// OBX-14.
    pub observed: Option<Text>,
}

/// PV1 with EVN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Visit {
    /// MSH-9.2.
    pub event: Option<Text>,
    /// PV1-2: `I` inpatient, `O` outpatient.
    pub patient_class: Option<Text>,
    /// PV1-3.
    pub location: Option<Location>,
    /// PV1-6.
    pub prior_location: Option<Location>,
    /// PV1-10.
    pub department: Option<Text>,
    /// PV1-36.
    pub discharge_disposition: Option<Text>,
    /// PV1-44.
    pub admitted: Option<Text>,
    /// PV1-45.
    pub discharged: Option<Text>,
    /// EVN-2.
    pub recorded: Option<Text>,
    /// EVN-6.
    pub event_time: Option<Text>,
}

/// A PL location: ward or department, room, bed, and PL.6 (`N` ward, `C` clinic).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Location {
    pub point_of_care: Option<Text>,
    pub room: Option<Text>,
    pub bed: Option<Text>,
    pub location_type: Option<Text>,
}

/// Extracts everything known for the message's MSH-9 type.
pub fn extract(msg: &Message<'_>) -> Clinical {
    let (message_type, event) = match msg.message_type() {
        Some(t) => (
            Some(Text::from(t.code.as_ref())),
            t.event.map(|e| Text::from(e.as_ref())),
        ),
        None => (None, None),
    };
    let mut out = Clinical {
        patient: msg.segment("PID").map(|pid| patient(&pid)),
        visit: msg
            .segment("PV1")
            .map(|pv1| visit(&pv1, msg.segment("EVN"), event.clone())),
        message_type,
        event,
        ..Clinical::default()
    };
    match out.message_type.as_deref() {
        Some("ADT") => {
            out.allergies = allergies(msg);
            out.observations = msg
                .segments_with_id("OBX")
                .map(|s| observation(&s))
                .collect();
        }
        Some("PPR") => out.diagnoses = diagnoses(msg),
        Some("RDE") => {
            out.medication_orders = medication_orders(msg);
            out.allergies = allergies(msg);
        }
        Some("RAS") => out.administrations = administrations(msg),
        Some("OUL" | "OML" | "ORU") => out.lab_reports = lab_reports(msg),
        _ => {}
    }
    out
}

/// Demographics from one PID segment.
pub fn patient(pid: &Segment<'_>) -> Patient {
    // One pass over the PID-5 repetitions, no allocation: the kanji (XPN.8 `I`, else the first)
    // and the kana (XPN.8 `P`) names.
    let (mut first, mut kanji, mut kana) = (None, None, None);
    for rep in pid.field(5).repetitions() {
        first = first.or(Some(rep));
        match rep.component(8).raw() {
            "I" if kanji.is_none() => kanji = Some(rep),
            "P" if kana.is_none() => kana = Some(rep),
            _ => {}
        }
    }
    let kanji = kanji.or(first).and_then(name);
    let kana = kana.and_then(name);
    Patient {
        id: text(pid.component(3, 1)),
        kanji_name: kanji,
        kana_name: kana,
        birth_date: text(pid.field(7)),
        sex: text(pid.field(8)),
        address: address(pid.field(11).repetition(1)),
        home_phones: phones(pid.field(13)),
        work_phones: phones(pid.field(14)),
        last_updated: text(pid.field(33)),
    }
}

fn visit(pv1: &Segment<'_>, evn: Option<Segment<'_>>, event: Option<Text>) -> Visit {
    Visit {
        event,
        patient_class: text(pv1.field(2)),
        location: location(pv1.field(3)),
        prior_location: location(pv1.field(6)),
        department: text(pv1.component(10, 1)),
        discharge_disposition: text(pv1.component(36, 1)),
        admitted: text(pv1.component(44, 1)),
        discharged: text(pv1.component(45, 1)),
        recorded: evn.and_then(|e| text(e.component(2, 1))),
        event_time: evn.and_then(|e| text(e.component(6, 1))),
    }
}

fn allergies(msg: &Message<'_>) -> Vec<Allergy> {
    let mut out = Vec::new();
    for seg in msg.segments() {
        let source = match seg.id() {
            "AL1" => AllergySource::Al1,
            "IAM" => AllergySource::Iam,
            _ => continue,
        };
        let iam = source == AllergySource::Iam;
        out.push(Allergy {
            source,
            set_id: text(seg.field(1)),
            allergen_type: coded(seg.field(2)),
            allergen: coded(seg.field(3)),
            severity: coded(seg.field(4)),
            reaction: text(seg.field(5).repetition(1)),
            action: iam.then(|| coded(seg.field(6))).flatten(),
            onset: iam.then(|| text(seg.component(11, 1))).flatten(),
            onset_text: iam.then(|| text(seg.field(12))).flatten(),
        });
    }
    out
}

fn diagnoses(msg: &Message<'_>) -> Vec<Diagnosis> {
    let mut out: Vec<Diagnosis> = Vec::new();
    for seg in msg.segments() {
        match seg.id() {
            "PRB" => {
                let class = seg.field(10);
                out.push(Diagnosis {
                    action: text(seg.field(1)),
                    action_time: text(seg.component(2, 1)),
                    disease: coded(seg.field(3)),
                    instance_id: text(seg.component(4, 1)),
                    established: text(seg.component(7, 1)),
                    resolved: text(seg.component(9, 1)),
                    icd10: text(class.component(1)),
                    diagnosis_class: text(class.component(4)),
                    diagnosis_class_text: text(class.component(5)),
                    confirmation: coded(seg.field(13)),
                    outcome: coded(seg.field(14)),
                    onset: text(seg.component(16, 1)),
                    ranking: coded(seg.field(18)),
                    medis_disease_code: None,
                    medis_exchange_code: None,
                });
            }
            // ZPR qualifies the PRB before it; a ZPR with no PRB has nothing to attach to.
            "ZPR" => {
                if let Some(d) = out.last_mut() {
                    d.medis_disease_code = text(seg.component(2, 1));
                    d.medis_exchange_code = text(seg.component(5, 1));
                }
            }
            _ => {}
        }
    }
    out
}

fn medication_orders(msg: &Message<'_>) -> Vec<MedicationOrder> {
    let mut out: Vec<MedicationOrder> = Vec::new();
    // Whether the current group already has its RXE; a second RXE without an ORC between them
    // starts a new group under the same order.
    let mut has_rxe = false;
    for seg in msg.segments() {
        match seg.id() {
            "ORC" => {
                has_rxe = false;
                out.push(MedicationOrder {
                    order_control: text(seg.field(1)),
                    order_number: text(seg.component(2, 1)),
                    group_number: text(seg.component(4, 1)),
                    transaction_time: text(seg.component(9, 1)),
                    ..MedicationOrder::default()
                });
            }
            "RXE" => {
                if has_rxe || out.is_empty() {
                    let inherited = out.last().map(|o| MedicationOrder {
                        order_control: o.order_control.clone(),
                        order_number: o.order_number.clone(),
                        group_number: o.group_number.clone(),
                        transaction_time: o.transaction_time.clone(),
                        ..MedicationOrder::default()
                    });
                    out.push(inherited.unwrap_or_default());
                }
                has_rxe = true;
                if let Some(o) = out.last_mut() {
                    o.drug = coded(seg.field(2));
                    o.dose = text(seg.field(3));
                    o.dose_unit = coded(seg.field(5));
                    o.dosage_form = coded(seg.field(6));
                    o.dispense_amount = text(seg.field(10));
                    o.dispense_unit = coded(seg.field(11));
                    o.total_daily_dose = quantity(seg.field(19));
                    o.categories = seg.field(21).repetitions().filter_map(coded).collect();
                }
            }
            "TQ1" => {
                if let Some(o) = out.last_mut().filter(|o| o.frequency.is_none()) {
                    o.frequency = coded_subcomponents(seg.component(3, 1));
                    o.duration = quantity(seg.field(6));
                    o.start = text(seg.component(7, 1));
                    o.end = text(seg.component(8, 1));
                }
            }
            "RXR" => {
                if let Some(o) = out.last_mut().filter(|o| o.route.is_none()) {
                    o.route = coded(seg.field(1));
                }
            }
            "RXC" => {
                if let Some(o) = out.last_mut() {
                    o.components.push(RxComponent {
                        kind: text(seg.field(1)),
                        drug: coded(seg.field(2)),
                        amount: text(seg.field(3)),
                        unit: coded(seg.field(4)),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

fn administrations(msg: &Message<'_>) -> Vec<Administration> {
    let mut out = Vec::new();
    let mut order_number = None;
    for seg in msg.segments() {
        match seg.id() {
            "ORC" => order_number = text(seg.component(2, 1)),
            "RXA" => out.push(Administration {
                order_number: order_number.clone(),
                start: text(seg.component(3, 1)),
                end: text(seg.component(4, 1)),
                drug: coded(seg.field(5)),
                amount: text(seg.field(6)),
                unit: coded(seg.field(7)),
                note: coded(seg.field(9).repetition(1)),
                rate: text(seg.field(12)),
                completion_status: text(seg.field(20)),
            }),
            _ => {}
        }
    }
    out
}

fn lab_reports(msg: &Message<'_>) -> Vec<LabReport> {
    let mut out: Vec<LabReport> = Vec::new();
    for seg in msg.segments() {
        match seg.id() {
            "SPM" => out.push(LabReport {
                specimen: Some(Specimen {
                    set_id: text(seg.field(1)),
                    id: text(seg.field(2).subcomponent(1)),
                    specimen_type: coded(seg.field(4)),
                    collected: text(seg.component(17, 1)),
                }),
                ..LabReport::default()
            }),
            "OBR" => {
                // A second OBR under one SPM is a new request on the same specimen.
                let reuse = out.last().is_some_and(|r| r.request.is_none());
                if !reuse {
                    let specimen = out.last().and_then(|r| r.specimen.clone());
                    out.push(LabReport {
                        specimen,
                        ..LabReport::default()
                    });
                }
                if let Some(r) = out.last_mut() {
                    r.request = Some(ObservationRequest {
                        placer_number: text(seg.component(2, 1)),
                        filler_number: text(seg.component(3, 1)),
                        test: coded(seg.field(4)),
                        observed: text(seg.component(7, 1)),
                    });
                }
            }
            "ORC" => {
                if let Some(r) = out.last_mut().filter(|r| r.order_number.is_none()) {
                    r.order_number = text(seg.component(2, 1));
                }
            }
            "OBX" => {
                if out.is_empty() {
                    out.push(LabReport::default());
                }
                if let Some(r) = out.last_mut() {
                    r.observations.push(observation(&seg));
                }
            }
            _ => {}
        }
    }
    out
}

/// One OBX segment.
pub fn observation(obx: &Segment<'_>) -> Observation {
    let value_type = text(obx.field(2));
    let vt = value_type.as_deref().unwrap_or("");
    let value_field = obx.field(5).repetition(1);
    let composite = !matches!(
        vt,
        "NM" | "ST" | "TX" | "FT" | "TS" | "DT" | "TM" | "DTM" | "ID" | "IS" | "SI" | ""
    );
    let value = if composite {
        non_empty(value_field.raw())
    } else {
        text(value_field)
    };
    let numeric = if vt == "NM" {
        value.as_deref().and_then(decimal)
    } else {
        None
    };
    let coded_value = if matches!(vt, "CWE" | "CE" | "CNE") {
        coded(value_field)
    } else {
        None
    };
    Observation {
        set_id: text(obx.field(1)),
        code: coded(obx.field(3)),
        sub_id: text(obx.field(4)),
        value,
        numeric,
        coded_value,
        value_type,
        unit: coded(obx.field(6)),
        reference_range: text(obx.field(7)),
        abnormal_flag: text(obx.field(8).repetition(1)),
        status: text(obx.field(11)),
        observed: text(obx.component(14, 1)),
    }
}

fn text(e: Element<'_>) -> Option<Text> {
    match e.value() {
        Value::Text(Cow::Borrowed(t)) => Some(Text::new(t)),
        // Unescaped: reuse the buffer.
        Value::Text(Cow::Owned(t)) => Some(Text::from(t)),
        Value::Empty | Value::Null => None,
    }
}

fn non_empty(s: &str) -> Option<Text> {
    (!s.is_empty() && s != "\"\"").then(|| Text::from(s))
}

/// Components 1–3 of a CWE-like element; `None` when all three are empty.
fn coded(e: Element<'_>) -> Option<Coded> {
    let [code, name, system] = e.first_components();
    triple(code, name, system)
}

/// Subcomponents 1–3 of a component, for CWE values nested one level down (TQ1-3, RXE-19.2).
fn coded_subcomponents(e: Element<'_>) -> Option<Coded> {
    let [code, name, system] = e.first_subcomponents();
    triple(code, name, system)
}

fn triple(code: Element<'_>, name: Element<'_>, system: Element<'_>) -> Option<Coded> {
    let c = Coded {
        code: text(code),
        text: text(name),
        system: text(system),
    };
    let any = c.code.is_some() || c.text.is_some() || c.system.is_some();
    any.then_some(c)
}

/// CQ-like `amount^unit` where the unit may itself be a `code&text&system` triple.
fn quantity(e: Element<'_>) -> Option<Quantity> {
    let q = Quantity {
        value: text(e.component(1)),
        unit: coded_subcomponents(e.component(2)),
    };
    let any = q.value.is_some() || q.unit.is_some();
    any.then_some(q)
}

fn name(xpn: Element<'_>) -> Option<Name> {
    let n = Name {
        family: text(xpn.component(1).subcomponent(1)),
        given: text(xpn.component(2)),
    };
    let any = n.family.is_some() || n.given.is_some();
    any.then_some(n)
}

fn address(xad: Element<'_>) -> Option<Address> {
    let free = text(xad.component(8));
    let text = free.or_else(|| {
        let joined: Text = [4, 3, 1, 2]
            .iter()
            .filter_map(|&c| xad.component(c).subcomponent(1).text())
            .collect();
        (!joined.is_empty()).then_some(joined)
    });
    let a = Address {
        postcode: self::text(xad.component(5)),
        text,
    };
    let any = a.postcode.is_some() || a.text.is_some();
    any.then_some(a)
}

fn phones(field: Element<'_>) -> Vec<Phone> {
    field
        .repetitions()
        .filter_map(|xtn| {
            let p = Phone {
                use_code: text(xtn.component(2)),
                number: text(xtn.component(12)).or_else(|| text(xtn.component(1))),
            };
            let any = p.use_code.is_some() || p.number.is_some();
            any.then_some(p)
        })
        .collect()
}

fn location(pl: Element<'_>) -> Option<Location> {
    let l = Location {
        point_of_care: text(pl.component(1)),
        room: text(pl.component(2)),
        bed: text(pl.component(3)),
        location_type: text(pl.component(6)),
    };
    let any = l.point_of_care.is_some()
        || l.room.is_some()
        || l.bed.is_some()
        || l.location_type.is_some();
    any.then_some(l)
}

/// A plain decimal (`7.2`, `-14`, `+.5`); rejects `inf`, `NaN`, exponents and anything else
/// `f64::from_str` would accept but no lab system means.
fn decimal(s: &str) -> Option<f64> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    let plain = !digits.is_empty()
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1;
    if plain { t.parse().ok() } else { None }
}
