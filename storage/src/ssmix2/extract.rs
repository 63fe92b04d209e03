//! Typed clinical extraction from a parsed SS-MIX2 message.
//!
//! [`extract`] dispatches on MSH-9 (type and event), never on the storage folder, because
//! folders and content disagree in real storages (`../shared/docs/ssmix2.md` §7). Field positions
//! follow the guide's §6 tables. Every value is optional: junk messages (the conformance set has
//! two) yield partially empty records, never a panic.
//!
//! Values are unescaped text borrowed from the message (owned only where unescaping built a new
//! string), so a [`Clinical`] lives as long as the decoded text it was read from. Both an empty field and HL7's explicit null `""` become
//! `None` here; code that must tell a deletion from an omission reads the [`Message`] directly
//! with [`Element::value`](super::hl7::Element::value).

use serde::Serialize;

/// Extracted values: borrowed from the decoded message text, owned only when unescaping changed
/// them. Measured (callgrind, generated messages): allocation was a quarter of extraction time
/// with `String`; an inline small string (`compact_str`) still copied every value, and borrowing
/// (with word-at-a-time delimiter scans in `hl7`) cut extraction from 31.8k to 24.2k instructions per
/// message.
pub type Text<'a> = Cow<'a, str>;

use std::borrow::Cow;

use super::hl7::{Element, Message, Segment, Value};

/// Everything this module understands in one message. Vectors are empty for kinds the message
/// type does not carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Clinical<'a> {
    /// MSH-9.1, e.g. `ADT`.
    pub message_type: Option<Text<'a>>,
    /// MSH-9.2, e.g. `A08`.
    pub event: Option<Text<'a>>,
    /// From the first PID, for every message that has one.
    pub patient: Option<Patient<'a>>,
    /// From the first PV1 (and EVN), for every message that has one: orders carry the ward and
    /// department of the visit they belong to.
    pub visit: Option<Visit<'a>>,
    /// AL1 and IAM, in ADT and RDE messages.
    pub allergies: Vec<Allergy<'a>>,
    /// PRB joined with its ZPR, in PPR messages.
    pub diagnoses: Vec<Diagnosis<'a>>,
    /// ORC/RXE/TQ1/RXR/RXC groups, in RDE messages (prescriptions and injections).
    pub medication_orders: Vec<MedicationOrder<'a>>,
    /// RXA, in RAS messages.
    pub administrations: Vec<Administration<'a>>,
    /// SPM/OBR/OBX groups, in OUL, OML and ORU messages.
    pub lab_reports: Vec<LabReport<'a>>,
    /// OBX outside lab groups: height, weight and blood group in ADT messages.
    pub observations: Vec<Observation<'a>>,
}

/// A coded value (CWE/CE triplet): code, display text, coding system (`HOT9`, `JC10`, `MR9P` …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coded<'a> {
    pub code: Option<Text<'a>>,
    pub text: Option<Text<'a>>,
    pub system: Option<Text<'a>>,
}

/// An amount with an optional coded unit (`5^d`, `3^TAB&錠&MR9P`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Quantity<'a> {
    pub value: Option<Text<'a>>,
    pub unit: Option<Coded<'a>>,
}

/// A person's name (XPN.1 family, XPN.2 given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Name<'a> {
    pub family: Option<Text<'a>>,
    pub given: Option<Text<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Address<'a> {
    /// XAD.5.
    pub postcode: Option<Text<'a>>,
    /// XAD.8 free text, or XAD.4, XAD.3, XAD.1, XAD.2 concatenated in Japanese order
    /// (prefecture, city, street, other) when XAD.8 is empty.
    pub text: Option<Text<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Phone<'a> {
    /// XTN.2 (`PRN`, `WPN`, `EMR` …).
    pub use_code: Option<Text<'a>>,
    /// XTN.12, or the deprecated XTN.1 when XTN.12 is empty.
    pub number: Option<Text<'a>>,
}

/// Demographics from PID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Patient<'a> {
    /// PID-3.1.
    pub id: Option<Text<'a>>,
    /// The PID-5 repetition with XPN.8 = `I`, else the first repetition.
    pub kanji_name: Option<Name<'a>>,
    /// The PID-5 repetition with XPN.8 = `P`.
    pub kana_name: Option<Name<'a>>,
    /// PID-7 as sent (`YYYYMMDD`).
    pub birth_date: Option<Text<'a>>,
    /// PID-8.
    pub sex: Option<Text<'a>>,
    /// PID-11, first repetition.
    pub address: Option<Address<'a>>,
    /// PID-13, every repetition.
    pub home_phones: Vec<Phone<'a>>,
    /// PID-14, every repetition.
    pub work_phones: Vec<Phone<'a>>,
    /// PID-33.
    pub last_updated: Option<Text<'a>>,
}

/// Which segment an allergy came from; the two carry the same core fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AllergySource {
    Al1,
    Iam,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allergy<'a> {
    pub source: AllergySource,
    /// AL1-1 / IAM-1.
    pub set_id: Option<Text<'a>>,
    /// AL1-2 / IAM-2 (table 0127: `DA`, `FA`, `EA`, `LA` …).
    pub allergen_type: Option<Coded<'a>>,
    /// AL1-3 / IAM-3.
    pub allergen: Option<Coded<'a>>,
    /// AL1-4 / IAM-4 (table 0128).
    pub severity: Option<Coded<'a>>,
    /// AL1-5 / IAM-5, first repetition.
    pub reaction: Option<Text<'a>>,
    /// IAM-6 (table 0323).
    pub action: Option<Coded<'a>>,
    /// IAM-11, often a partial date (`199601`).
    pub onset: Option<Text<'a>>,
    /// IAM-12.
    pub onset_text: Option<Text<'a>>,
}

/// A PRB and the ZPR that follows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diagnosis<'a> {
    /// PRB-1 (table 0287).
    pub action: Option<Text<'a>>,
    /// PRB-2.
    pub action_time: Option<Text<'a>>,
    /// PRB-3, MEDIS disease management number (`MDCDX2`).
    pub disease: Option<Coded<'a>>,
    /// PRB-4.1.
    pub instance_id: Option<Text<'a>>,
    /// PRB-7.
    pub established: Option<Text<'a>>,
    /// PRB-9.
    pub resolved: Option<Text<'a>>,
    /// PRB-10.1.
    pub icd10: Option<Text<'a>>,
    /// PRB-10.4 (`O` 外来時 …).
    pub diagnosis_class: Option<Text<'a>>,
    /// PRB-10.5.
    pub diagnosis_class_text: Option<Text<'a>>,
    /// PRB-13.
    pub confirmation: Option<Coded<'a>>,
    /// PRB-14.
    pub outcome: Option<Coded<'a>>,
    /// PRB-16.
    pub onset: Option<Text<'a>>,
    /// PRB-18 (`1^主診断^JHSD0007`).
    pub ranking: Option<Coded<'a>>,
    /// ZPR-2.1.
    pub medis_disease_code: Option<Text<'a>>,
    /// ZPR-5.1, the 4-character exchange code.
    pub medis_exchange_code: Option<Text<'a>>,
}

/// One ORC group of an RDE message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MedicationOrder<'a> {
    /// ORC-1.
    pub order_control: Option<Text<'a>>,
    /// ORC-2.1.
    pub order_number: Option<Text<'a>>,
    /// ORC-4.1, the Rp number.
    pub group_number: Option<Text<'a>>,
    /// ORC-9.
    pub transaction_time: Option<Text<'a>>,
    /// RXE-2: a HOT9 drug, or an injection type in OMP-02.
    pub drug: Option<Coded<'a>>,
    /// RXE-3.
    pub dose: Option<Text<'a>>,
    /// RXE-5.
    pub dose_unit: Option<Coded<'a>>,
    /// RXE-6.
    pub dosage_form: Option<Coded<'a>>,
    /// RXE-10.
    pub dispense_amount: Option<Text<'a>>,
    /// RXE-11.
    pub dispense_unit: Option<Coded<'a>>,
    /// RXE-19.
    pub total_daily_dose: Option<Quantity<'a>>,
    /// RXE-21, every repetition.
    pub categories: Vec<Coded<'a>>,
    /// TQ1-3.1 as subcomponents `code&text&JAMISDP01`.
    pub frequency: Option<Coded<'a>>,
    /// TQ1-6 (`5^d`).
    pub duration: Option<Quantity<'a>>,
    /// TQ1-7.
    pub start: Option<Text<'a>>,
    /// TQ1-8.
    pub end: Option<Text<'a>>,
    /// RXR-1.
    pub route: Option<Coded<'a>>,
    /// RXC segments (injection base and additives).
    pub components: Vec<RxComponent<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RxComponent<'a> {
    /// RXC-1: `B` base, `A` additive.
    pub kind: Option<Text<'a>>,
    /// RXC-2.
    pub drug: Option<Coded<'a>>,
    /// RXC-3.
    pub amount: Option<Text<'a>>,
    /// RXC-4.
    pub unit: Option<Coded<'a>>,
}

/// One RXA of a RAS message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Administration<'a> {
    /// ORC-2.1 of the preceding ORC.
    pub order_number: Option<Text<'a>>,
    /// RXA-3.
    pub start: Option<Text<'a>>,
    /// RXA-4.
    pub end: Option<Text<'a>>,
    /// RXA-5.
    pub drug: Option<Coded<'a>>,
    /// RXA-6.
    pub amount: Option<Text<'a>>,
    /// RXA-7.
    pub unit: Option<Coded<'a>>,
    /// RXA-9, first repetition.
    pub note: Option<Coded<'a>>,
    /// RXA-12, free text (`102ml/hr`).
    pub rate: Option<Text<'a>>,
    /// RXA-20 (`CP`).
    pub completion_status: Option<Text<'a>>,
}

/// One specimen or request with its observations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabReport<'a> {
    pub specimen: Option<Specimen<'a>>,
    pub request: Option<ObservationRequest<'a>>,
    /// ORC-2.1 of an ORC inside the group.
    pub order_number: Option<Text<'a>>,
    pub observations: Vec<Observation<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Specimen<'a> {
    /// SPM-1.
    pub set_id: Option<Text<'a>>,
    /// SPM-2.1.1 (placer's specimen ID).
    pub id: Option<Text<'a>>,
    /// SPM-4 (JLAC10 material code).
    pub specimen_type: Option<Coded<'a>>,
    /// SPM-17.1.
    pub collected: Option<Text<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObservationRequest<'a> {
    /// OBR-2.1.
    pub placer_number: Option<Text<'a>>,
    /// OBR-3.1.
    pub filler_number: Option<Text<'a>>,
    /// OBR-4.
    pub test: Option<Coded<'a>>,
    /// OBR-7.
    pub observed: Option<Text<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observation<'a> {
    /// OBX-1.
    pub set_id: Option<Text<'a>>,
    /// OBX-2 (`NM`, `ST`, `CWE` …).
    pub value_type: Option<Text<'a>>,
    /// OBX-3.
    pub code: Option<Coded<'a>>,
    /// OBX-4.
    pub sub_id: Option<Text<'a>>,
    /// OBX-5 as a string: unescaped for primitive types, raw (components intact) for composite
    /// types such as CWE, XCN or ZRD.
    pub value: Option<Text<'a>>,
    /// OBX-5 parsed as a number, only for `NM` and only when it is a plain decimal.
    pub numeric: Option<f64>,
    /// OBX-5 components 1–3, only for `CWE`/`CE`/`CNE`.
    pub coded_value: Option<Coded<'a>>,
    /// OBX-6.
    pub unit: Option<Coded<'a>>,
    /// OBX-7.
    pub reference_range: Option<Text<'a>>,
    /// OBX-8, first repetition.
    pub abnormal_flag: Option<Text<'a>>,
    /// OBX-11.
    pub status: Option<Text<'a>>,
    /// OBX-14.
    pub observed: Option<Text<'a>>,
}

/// PV1 with EVN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Visit<'a> {
    /// MSH-9.2.
    pub event: Option<Text<'a>>,
    /// PV1-2: `I` inpatient, `O` outpatient.
    pub patient_class: Option<Text<'a>>,
    /// PV1-3.
    pub location: Option<Location<'a>>,
    /// PV1-6.
    pub prior_location: Option<Location<'a>>,
    /// PV1-10.
    pub department: Option<Text<'a>>,
    /// PV1-36.
    pub discharge_disposition: Option<Text<'a>>,
    /// PV1-44.
    pub admitted: Option<Text<'a>>,
    /// PV1-45.
    pub discharged: Option<Text<'a>>,
    /// EVN-2.
    pub recorded: Option<Text<'a>>,
    /// EVN-6.
    pub event_time: Option<Text<'a>>,
}

/// A PL location: ward or department, room, bed, and PL.6 (`N` ward, `C` clinic).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Location<'a> {
    pub point_of_care: Option<Text<'a>>,
    pub room: Option<Text<'a>>,
    pub bed: Option<Text<'a>>,
    pub location_type: Option<Text<'a>>,
}

/// Extracts everything known for the message's MSH-9 type.
pub fn extract<'m>(msg: &'m Message<'_>) -> Clinical<'m> {
    let (message_type, event) = match msg.message_type() {
        Some(t) => (Some(t.code), t.event),
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
pub fn patient<'m>(pid: &Segment<'m>) -> Patient<'m> {
    // One pass over the PID-5 repetitions, each split into its components once: the kanji
    // (XPN.8 `I`, else the first) and the kana (XPN.8 `P`) names.
    let (mut first, mut kanji, mut kana) = (None, None, None);
    for rep in pid.field(5).repetitions() {
        let xpn: [Element<'m>; 8] = rep.first_components();
        first = first.or(Some(xpn));
        match xpn[7].raw() {
            "I" if kanji.is_none() => kanji = Some(xpn),
            "P" if kana.is_none() => kana = Some(xpn),
            _ => {}
        }
    }
    let kanji = kanji.or(first).and_then(|xpn| name(&xpn));
    let kana = kana.and_then(|xpn| name(&xpn));
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

fn visit<'m>(pv1: &Segment<'m>, evn: Option<Segment<'m>>, event: Option<Text<'m>>) -> Visit<'m> {
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

fn allergies<'m>(msg: &'m Message<'_>) -> Vec<Allergy<'m>> {
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

fn diagnoses<'m>(msg: &'m Message<'_>) -> Vec<Diagnosis<'m>> {
    let mut out: Vec<Diagnosis<'m>> = Vec::new();
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

fn medication_orders<'m>(msg: &'m Message<'_>) -> Vec<MedicationOrder<'m>> {
    let mut out: Vec<MedicationOrder<'m>> = Vec::new();
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

fn administrations<'m>(msg: &'m Message<'_>) -> Vec<Administration<'m>> {
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

fn lab_reports<'m>(msg: &'m Message<'_>) -> Vec<LabReport<'m>> {
    let mut out: Vec<LabReport<'m>> = Vec::new();
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
pub fn observation<'m>(obx: &Segment<'m>) -> Observation<'m> {
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

fn text<'m>(e: Element<'m>) -> Option<Text<'m>> {
    match e.value() {
        // Borrowed from the message unless unescaping had to build a new string.
        Value::Text(t) => Some(t),
        Value::Empty | Value::Null => None,
    }
}

fn non_empty<'m>(s: &'m str) -> Option<Text<'m>> {
    (!s.is_empty() && s != "\"\"").then(|| Text::from(s))
}

/// Components 1–3 of a CWE-like element; `None` when all three are empty.
fn coded<'m>(e: Element<'m>) -> Option<Coded<'m>> {
    let [code, name, system] = e.first_components();
    triple(code, name, system)
}

/// Subcomponents 1–3 of a component, for CWE values nested one level down (TQ1-3, RXE-19.2).
fn coded_subcomponents<'m>(e: Element<'m>) -> Option<Coded<'m>> {
    let [code, name, system] = e.first_subcomponents();
    triple(code, name, system)
}

fn triple<'m>(code: Element<'m>, name: Element<'m>, system: Element<'m>) -> Option<Coded<'m>> {
    let c = Coded {
        code: text(code),
        text: text(name),
        system: text(system),
    };
    let any = c.code.is_some() || c.text.is_some() || c.system.is_some();
    any.then_some(c)
}

/// CQ-like `amount^unit` where the unit may itself be a `code&text&system` triple.
fn quantity<'m>(e: Element<'m>) -> Option<Quantity<'m>> {
    let q = Quantity {
        value: text(e.component(1)),
        unit: coded_subcomponents(e.component(2)),
    };
    let any = q.value.is_some() || q.unit.is_some();
    any.then_some(q)
}

impl Name<'_> {
    /// The same name, owning its text (for keeping past the message's buffer).
    pub fn into_owned(self) -> Name<'static> {
        Name {
            family: self.family.map(|t| Text::Owned(t.into_owned())),
            given: self.given.map(|t| Text::Owned(t.into_owned())),
        }
    }
}

/// A name from the first two components of an XPN (family name is XPN.1.1).
fn name<'m>(xpn: &[Element<'m>; 8]) -> Option<Name<'m>> {
    let n = Name {
        family: text(xpn[0].subcomponent(1)),
        given: text(xpn[1]),
    };
    let any = n.family.is_some() || n.given.is_some();
    any.then_some(n)
}

fn address<'m>(xad: Element<'m>) -> Option<Address<'m>> {
    let c: [Element<'m>; 8] = xad.first_components();
    let free = text(c[7]);
    let text = free.or_else(|| {
        // XAD.4 prefecture, .3 city, .1 street, .2 other: the order of a Japanese address.
        let joined: String = [3, 2, 0, 1]
            .iter()
            .filter_map(|&i| c[i].subcomponent(1).text())
            .collect();
        (!joined.is_empty()).then_some(Text::Owned(joined))
    });
    let a = Address {
        postcode: self::text(c[4]),
        text,
    };
    let any = a.postcode.is_some() || a.text.is_some();
    any.then_some(a)
}

fn phones<'m>(field: Element<'m>) -> Vec<Phone<'m>> {
    field
        .repetitions()
        .filter_map(|xtn| {
            let c: [Element<'m>; 12] = xtn.first_components();
            let p = Phone {
                use_code: text(c[1]),
                number: text(c[11]).or_else(|| text(c[0])),
            };
            let any = p.use_code.is_some() || p.number.is_some();
            any.then_some(p)
        })
        .collect()
}

fn location<'m>(pl: Element<'m>) -> Option<Location<'m>> {
    let c: [Element<'m>; 6] = pl.first_components();
    let l = Location {
        point_of_care: text(c[0]),
        room: text(c[1]),
        bed: text(c[2]),
        location_type: text(c[5]),
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
