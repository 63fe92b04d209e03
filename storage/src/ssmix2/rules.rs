//! SS-MIX2 content rules as compiled-in data, for the validator.
//!
//! The tables are derived from nhoHQ/SSMIX2DataTestingTool `include/*.json` @ 550fdcd
//! (Apache-2.0, National Hospital Organization, Japan) by `storage/tools/gen_rules.py`; they are
//! compiled in because a user's clone has no `../shared`. Regenerate the marked block with
//!
//! ```text
//! python3 storage/tools/gen_rules.py ../shared/conformance/ssmix2-nho/include storage/src/ssmix2/rules.rs
//! ```
//!
//! What is here (see `../shared/docs/ssmix2.md` §2.4, §3, §6):
//!
//! - per segment and field, NHO's `ssmix2-required` flag per SS-MIX2 data type
//!   ([`requirement`], [`required_fields`], [`field_rule`]);
//! - the HL7 type of each field ([`field_type`]) and what each type is made of ([`data_type`],
//!   [`is_numeric`]);
//! - the segment grammar per MSH-9 `TYPE^EVENT` ([`segment_order`], [`Grammar`]);
//! - the field that dates the date folder ([`care_date_field`]).
//!
//! Field numbers are HL7's: MSH-1 is the field separator, MSH-2 the encoding characters, MSH-9
//! the message type; for every other segment field n is the n-th `|`-separated value after the
//! segment ID. (NHO's index 0 is the segment ID; that entry is dropped.)
//!
//! These are NHO's rules, not the law: the README of the conformance set lists where they
//! disagree with the guideline's own samples (the OUL^R22 grammar, the care-date field of
//! RAS^O17 and OUL^R22, no entry for `ZI1`). Findings built on them are warnings.

use std::fmt;
use std::sync::OnceLock;

/// NHO's `ssmix2-required` flag of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// `R`: must be present and non-empty.
    Required,
    /// `RE`: required if the sender has the value; may be empty.
    RequiredOrEmpty,
    /// `C`: conditional on other content.
    Conditional,
    /// `O`: optional.
    Optional,
    /// `N`: not used by SS-MIX2.
    NotUsed,
}

impl Requirement {
    /// The code NHO's table uses (`R`, `RE`, `C`, `O`, `N`).
    pub const fn code(self) -> &'static str {
        match self {
            Requirement::Required => "R",
            Requirement::RequiredOrEmpty => "RE",
            Requirement::Conditional => "C",
            Requirement::Optional => "O",
            Requirement::NotUsed => "N",
        }
    }

    /// Parse NHO's code; `None` for anything else.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "R" => Requirement::Required,
            "RE" => Requirement::RequiredOrEmpty,
            "C" => Requirement::Conditional,
            "O" => Requirement::Optional,
            "N" => Requirement::NotUsed,
            _ => return None,
        })
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One field of a segment in NHO's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRule {
    /// HL7 field number (1-based; MSH-1 is the field separator).
    pub field: usize,
    /// HL7 data type (`ST`, `NM`, `TS`, `CWE`, …), or [`VARIES`] for OBX-5.
    pub hl7_type: &'static str,
    /// Requirement for data types without an override (NHO's `*`).
    pub default: Requirement,
    /// Overrides per SS-MIX2 data type (`OML-01`, `OMD`, …), sorted by data type.
    pub by_data_type: &'static [(&'static str, Requirement)],
    /// HL7 field name (empty for some JAHIS Z-segment fields; use `ja_name` then).
    pub name: &'static str,
    /// Japanese field name from NHO's table.
    pub ja_name: &'static str,
}

impl FieldRule {
    /// Requirement of this field for an SS-MIX2 data type (`OML-01`, `ADT-00`, `OMD`, …).
    pub fn requirement(&self, data_type: &str) -> Requirement {
        match self
            .by_data_type
            .binary_search_by(|(dt, _)| (*dt).cmp(data_type))
        {
            Ok(i) => self.by_data_type[i].1,
            Err(_) => self.default,
        }
    }
}

/// The fields of one segment; `fields[i].field == i + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRules {
    /// Segment ID (`PID`, `OBX`, …).
    pub id: &'static str,
    /// Fields 1..=n in order.
    pub fields: &'static [FieldRule],
}

/// The type NHO gives OBX-5, whose real type is named in OBX-2.
pub const VARIES: &str = "*";

/// Rules for a segment, or `None` if NHO's table has no entry (e.g. `ZI1`, `NTE`, `SFT`).
pub fn segment_rules(segment: &str) -> Option<&'static SegmentRules> {
    nho::SEGMENTS
        .binary_search_by(|s| s.id.cmp(segment))
        .ok()
        .map(|i| &nho::SEGMENTS[i])
}

/// Rule for field `field` (HL7 numbering) of `segment`, if NHO's table has one.
pub fn field_rule(segment: &str, field: usize) -> Option<&'static FieldRule> {
    let fields = segment_rules(segment)?.fields;
    fields.get(field.checked_sub(1)?)
}

/// Requirement of `segment`-`field` for an SS-MIX2 data type (`OML-01`, `ADT-00`, `OMD`, …).
///
/// A segment or field NHO's table does not know is [`Requirement::Optional`]: there is no rule to
/// break, so the validator reports nothing for it.
pub fn requirement(segment: &str, field: usize, data_type: &str) -> Requirement {
    field_rule(segment, field).map_or(Requirement::Optional, |r| r.requirement(data_type))
}

/// The fields of `segment` that are [`Requirement::Required`] for `data_type`, in field order.
/// Empty for a segment NHO's table does not know.
///
/// For MSH this includes MSH-1 and MSH-2, the separator and encoding characters: they are
/// present whenever the segment parses at all, and a `|` split does not yield them as values
/// (the value after `MSH|` is MSH-2).
pub fn required_fields<'a>(
    segment: &str,
    data_type: &'a str,
) -> impl Iterator<Item = &'static FieldRule> + 'a {
    let fields = segment_rules(segment).map_or(&[][..], |s| s.fields);
    fields
        .iter()
        .filter(move |f| f.requirement(data_type) == Requirement::Required)
}

/// HL7 data type of `segment`-`field` (`NM`, `TS`, `CWE`, …; [`VARIES`] for OBX-5).
pub fn field_type(segment: &str, field: usize) -> Option<&'static str> {
    field_rule(segment, field).map(|r| r.hl7_type)
}

/// What an HL7 data type is made of, per NHO's `HL7_DATATYPE.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataTypeKind {
    /// Primitive text (`ST`, `ID`, `DTM`, `DT`, …).
    Str,
    /// Primitive number (`NM`).
    Num,
    /// Component types in order (`TS` = `DTM`, `ID`).
    Composite(&'static [&'static str]),
}

/// The make-up of an HL7 data type, or `None` if NHO's table lacks it (it lists 52 types).
pub fn data_type(name: &str) -> Option<DataTypeKind> {
    nho::DATA_TYPES
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| nho::DATA_TYPES[i].1)
}

/// Whether `name` is a primitive numeric type (`NM`), whose values must parse as numbers.
pub fn is_numeric(name: &str) -> bool {
    data_type(name) == Some(DataTypeKind::Num)
}

/// The field whose first eight characters name the date folder, for MSH-9 `TYPE^EVENT`.
///
/// `None`: NHO's table does not know the message type. `Some(None)`: the type is undated and
/// lives under folder `-`. `Some(Some(("PV1", 44)))`: PV1-44 dates it.
pub fn care_date_field(type_event: &str) -> Option<Option<(&'static str, usize)>> {
    nho::CARE_DATE
        .binary_search_by(|(k, _)| (*k).cmp(type_event))
        .ok()
        .map(|i| nho::CARE_DATE[i].1)
}

// ------------------------------------------------------------------------------------------------
// Segment grammars
// ------------------------------------------------------------------------------------------------

/// A segment grammar: the subset of regular expressions NHO's `HL7_SEGMENTORDER.json` uses,
/// over segment IDs instead of characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// One segment with this ID.
    Seg(&'static str),
    /// Any one segment. NHO writes `.*` (PPR^ZD1); on a string made of whole 3-letter IDs that
    /// accepts the same messages as "any run of segments", because everything after it is
    /// optional.
    Any,
    /// The items in order.
    Seq(&'static [Node]),
    /// Zero or one (`?`).
    Opt(&'static Node),
    /// Zero or more (`*`).
    Star(&'static Node),
    /// One or more (`+`).
    Plus(&'static Node),
}

impl Node {
    fn write_regex(&self, f: &mut fmt::Formatter<'_>, top: bool) -> fmt::Result {
        match self {
            Node::Seg(id) => write!(f, "({id})"),
            Node::Any => f.write_str("."),
            Node::Seq(items) => {
                f.write_str(if top { "^" } else { "(" })?;
                for item in *items {
                    item.write_regex(f, false)?;
                }
                if top { Ok(()) } else { f.write_str(")") }
            }
            Node::Opt(inner) => {
                inner.write_regex(f, false)?;
                f.write_str("?")
            }
            Node::Star(inner) => {
                inner.write_regex(f, false)?;
                f.write_str("*")
            }
            Node::Plus(inner) => {
                inner.write_regex(f, false)?;
                f.write_str("+")
            }
        }
    }
}

/// NHO's notation: `(MSH)(SFT)*((PV1)(PV2)?)?…`.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_regex(f, false)
    }
}

/// Where a segment sequence stops fitting its grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderMismatch {
    /// Index (into the sequence given) of the first segment that no continuation of the grammar
    /// accepts, or the sequence's length if the message ends before the grammar is complete.
    pub at: usize,
}

impl fmt::Display for OrderMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment order breaks the grammar at segment {}", self.at)
    }
}

/// One state of a Thompson NFA; the accepting state is index [`ACCEPT`].
#[derive(Debug, Clone, Copy)]
enum State {
    Seg(&'static str, usize),
    Any(usize),
    Split(usize, usize),
    Accept,
}

const ACCEPT: usize = 0;

/// A compiled segment grammar for one MSH-9 `TYPE^EVENT`.
///
/// Matching simulates the NFA over the whole state set at once, so it takes
/// O(segments × grammar size) whatever the input: a junk file with thousands of segments cannot
/// make it backtrack exponentially.
#[derive(Debug)]
pub struct Grammar {
    type_event: &'static str,
    root: &'static Node,
    states: Vec<State>,
    start: usize,
}

impl Grammar {
    fn compile(type_event: &'static str, root: &'static Node) -> Self {
        let mut states = vec![State::Accept];
        let start = compile_node(root, ACCEPT, &mut states);
        Grammar {
            type_event,
            root,
            states,
            start,
        }
    }

    /// MSH-9 `TYPE^EVENT` this grammar is for.
    pub fn type_event(&self) -> &'static str {
        self.type_event
    }

    /// The grammar's syntax tree.
    pub fn root(&self) -> &'static Node {
        self.root
    }

    /// Whether the whole sequence of segment IDs fits the grammar (anchored at both ends).
    pub fn matches_full<S: AsRef<str>>(&self, ids: &[S]) -> bool {
        self.check_full(ids).is_ok()
    }

    /// Like [`Grammar::matches_full`], telling where it breaks.
    pub fn check_full<S: AsRef<str>>(&self, ids: &[S]) -> Result<(), OrderMismatch> {
        self.run(ids.iter().map(AsRef::as_ref), false)
            .map_err(|at| OrderMismatch { at })
    }

    /// NHO's check (`checkSegmentOrder.py`): collapse each run of the same segment ID to one, then
    /// accept if some prefix of the collapsed sequence fits the grammar (Python's `re.match`,
    /// which anchors only at the start). Much weaker than [`Grammar::matches_full`]: trailing junk
    /// passes, and so does a missing NTE after each of several OBX.
    pub fn matches_prefix_collapsed<S: AsRef<str>>(&self, ids: &[S]) -> bool {
        self.check_prefix_collapsed(ids).is_ok()
    }

    /// Like [`Grammar::matches_prefix_collapsed`]; the index is into the uncollapsed sequence
    /// (the first segment of the offending run).
    pub fn check_prefix_collapsed<S: AsRef<str>>(&self, ids: &[S]) -> Result<(), OrderMismatch> {
        // Indices of the first segment of each run, so a failure maps back to the caller's list.
        let run_starts: Vec<usize> = (0..ids.len())
            .filter(|&i| i == 0 || ids[i].as_ref() != ids[i - 1].as_ref())
            .collect();
        self.run(run_starts.iter().map(|&i| ids[i].as_ref()), true)
            .map_err(|at| OrderMismatch {
                at: run_starts.get(at).copied().unwrap_or(ids.len()),
            })
    }

    /// Simulate the NFA. `Err(i)`: the state set died on item `i`, or `i` = number of items if
    /// the items ran out before an accepting state. With `prefix`, accept as soon as any prefix
    /// is accepted.
    fn run<'s>(&self, ids: impl Iterator<Item = &'s str>, prefix: bool) -> Result<(), usize> {
        let mut sets = StateSets::new(self.states.len());
        sets.add_closure(&self.states, self.start);
        let mut consumed = 0;
        for id in ids {
            if prefix && sets.contains(ACCEPT) {
                return Ok(());
            }
            sets.step(&self.states, id);
            if sets.current.is_empty() {
                return Err(consumed);
            }
            consumed += 1;
        }
        if sets.contains(ACCEPT) {
            Ok(())
        } else {
            Err(consumed)
        }
    }
}

/// Builds `node` so that matching it continues at state `next`; returns its entry state.
/// Recursion depth is the depth of a compiled-in grammar, not of the input.
fn compile_node(node: &'static Node, next: usize, states: &mut Vec<State>) -> usize {
    fn push(states: &mut Vec<State>, s: State) -> usize {
        states.push(s);
        states.len() - 1
    }
    match node {
        Node::Seg(id) => push(states, State::Seg(id, next)),
        Node::Any => push(states, State::Any(next)),
        Node::Seq(items) => items
            .iter()
            .rev()
            .fold(next, |cont, item| compile_node(item, cont, states)),
        Node::Opt(inner) => {
            let body = compile_node(inner, next, states);
            push(states, State::Split(body, next))
        }
        Node::Star(inner) | Node::Plus(inner) => {
            // The loop state is created first so the body can jump back to it; its first branch
            // is patched once the body exists. Star enters at the loop (may skip the body),
            // Plus enters at the body (must match it once).
            let looped = push(states, State::Split(next, next));
            let body = compile_node(inner, looped, states);
            states[looped] = State::Split(body, next);
            if matches!(node, Node::Star(_)) {
                looped
            } else {
                body
            }
        }
    }
}

/// The current and next state sets of a simulation, with a generation-stamped membership array
/// so that clearing a set costs nothing.
struct StateSets {
    current: Vec<usize>,
    spare: Vec<usize>,
    stamp: Vec<u32>,
    generation: u32,
    stack: Vec<usize>,
}

impl StateSets {
    fn new(n: usize) -> Self {
        StateSets {
            current: Vec::with_capacity(n),
            spare: Vec::with_capacity(n),
            stamp: vec![0; n],
            generation: 1,
            stack: Vec::new(),
        }
    }

    fn contains(&self, state: usize) -> bool {
        self.stamp[state] == self.generation
    }

    /// Add `from` and every state reachable from it without consuming a segment to `current`.
    /// Splits are followed but not stored: only consuming states and Accept matter for a step.
    fn add_closure(&mut self, states: &[State], from: usize) {
        self.stack.push(from);
        while let Some(s) = self.stack.pop() {
            if self.stamp[s] == self.generation {
                continue;
            }
            self.stamp[s] = self.generation;
            match states[s] {
                State::Split(a, b) => {
                    // Push b first so a is explored first; order does not change the set.
                    self.stack.push(b);
                    self.stack.push(a);
                }
                State::Seg(..) | State::Any(_) | State::Accept => self.current.push(s),
            }
        }
    }

    /// Consume one segment ID: `current` becomes the closure of every transition on `id`.
    fn step(&mut self, states: &[State], id: &str) {
        let previous = std::mem::replace(&mut self.current, std::mem::take(&mut self.spare));
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // After 2^32 steps the stamps could alias; start over rather than mis-report.
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        for &s in &previous {
            match states[s] {
                State::Seg(want, to) if want == id => self.add_closure(states, to),
                State::Any(to) => self.add_closure(states, to),
                State::Seg(..) | State::Split(..) | State::Accept => {}
            }
        }
        // Keep the allocation for the next step.
        self.spare = previous;
        self.spare.clear();
    }
}

/// The grammar for MSH-9 `TYPE^EVENT` (`ADT^A08`, `OUL^R22`, …), or `None` if NHO's table has
/// none (it has 32).
pub fn segment_order(type_event: &str) -> Option<&'static Grammar> {
    static COMPILED: OnceLock<Vec<Grammar>> = OnceLock::new();
    let grammars = COMPILED.get_or_init(|| {
        nho::SEGMENT_ORDER
            .iter()
            .map(|(key, root)| Grammar::compile(key, root))
            .collect()
    });
    grammars
        .binary_search_by(|g| g.type_event.cmp(type_event))
        .ok()
        .map(|i| &grammars[i])
}

/// All grammars, sorted by `TYPE^EVENT`.
pub fn segment_orders() -> impl Iterator<Item = &'static Grammar> {
    nho::SEGMENT_ORDER
        .iter()
        .filter_map(|(key, _)| segment_order(key))
}

/// NHO's regular expression, `^` included.
impl fmt::Display for Grammar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.write_regex(f, true)
    }
}

/// Every MSH-9 `TYPE^EVENT` with a care-date entry, sorted.
pub fn care_date_types() -> impl Iterator<Item = &'static str> {
    nho::CARE_DATE.iter().map(|(k, _)| *k)
}

/// Every segment ID in the field table, sorted.
pub fn segment_ids() -> impl Iterator<Item = &'static str> {
    nho::SEGMENTS.iter().map(|s| s.id)
}

/// Every data type in the type table, sorted.
pub fn data_type_names() -> impl Iterator<Item = &'static str> {
    nho::DATA_TYPES.iter().map(|(n, _)| *n)
}

// ---- BEGIN GENERATED by storage/tools/gen_rules.py: do not edit by hand ----
// Derived from nhoHQ/SSMIX2DataTestingTool include/*.json @ 550fdcd
// (Apache-2.0, National Hospital Organization, Japan) by storage/tools/gen_rules.py.
// Regenerate in place (a `>` redirect would truncate the hand-written code first):
//   python3 storage/tools/gen_rules.py ../shared/conformance/ssmix2-nho/include storage/src/ssmix2/rules.rs
#[rustfmt::skip]
mod nho {
    use super::DataTypeKind::{self, Composite, Num, Str};
    use super::Node::{self, Any, Opt, Plus, Seg, Seq, Star};
    use super::{FieldRule, Requirement, SegmentRules};

    const R: Requirement = Requirement::Required;
    const RE: Requirement = Requirement::RequiredOrEmpty;
    const C: Requirement = Requirement::Conditional;
    const O: Requirement = Requirement::Optional;
    const N: Requirement = Requirement::NotUsed;

    const fn f(
        field: usize,
        hl7_type: &'static str,
        default: Requirement,
        by_data_type: &'static [(&'static str, Requirement)],
        name: &'static str,
        ja_name: &'static str,
    ) -> FieldRule {
        FieldRule { field, hl7_type, default, by_data_type, name, ja_name }
    }

    /// Per segment (sorted by ID), its fields in HL7 numbering: `fields[i]` is field i + 1.
    /// Row: field number, HL7 type, default requirement (NHO's `*`), per-data-type
    /// overrides (sorted), English name, Japanese name.
    pub(super) static SEGMENTS: &[SegmentRules] = &[
        SegmentRules { id: "AL1", fields: &[
            f(1, "SI", R, &[], "Set ID - AL1", "セット  ID - AL1"),
            f(2, "CWE", O, &[], "Allergen Type Code", "アレルゲン分類"),
            f(3, "CWE", R, &[], "Allergen Code/Mnemonic/Description", "アレルゲン情報"),
            f(4, "CWE", N, &[], "Allergy Severity Code", "アレルギー重症度"),
            f(5, "ST", N, &[], "Allergy Reaction Code", "アレルギー反応情報"),
            f(6, "DT", N, &[], "Identification Date", "判定日"),
        ] },
        SegmentRules { id: "CTI", fields: &[
            f(1, "EI", R, &[], "Sponsor Study ID", "後援者試験識別子"),
            f(2, "CWE", C, &[], "Study Phase Identifier", "試験相識別子"),
            f(3, "CWE", O, &[], "Study Scheduled Time Point", "試験予定時間ポイント"),
        ] },
        SegmentRules { id: "DB1", fields: &[
            f(1, "SI", R, &[], "Set ID - DB1", "セット ID- DB1"),
            f(2, "IS", R, &[], "Disabled Person Code", "身体障害情報"),
            f(3, "CX", N, &[], "Disabled Person Identifier", "身体障害者 ID"),
            f(4, "ID", R, &[], "Disabled Indicator", "身体障害の有無"),
            f(5, "DT", N, &[], "Disability Start Date", "身体障害発生日"),
            f(6, "DT", N, &[], "Disability End Date", "身体障害回復日"),
            f(7, "DT", N, &[], "Disability Return to Work Date", "職場復帰日"),
            f(8, "DT", N, &[], "Disability Unable to Work Date", "職場離脱期間"),
        ] },
        SegmentRules { id: "EVN", fields: &[
            f(1, "ID", N, &[], "Event Type Code", "事象型コード"),
            f(2, "TS", R, &[], "Recorded Date/Time ", "事象記録日時"),
            f(3, "TS", C, &[], "Date/Time Planned Event", "事象計画日時"),
            f(4, "IS", O, &[], "Event Reason Code", "事象理由コード"),
            f(5, "XCN", O, &[], "Operator ID", "操作者 ID"),
            f(6, "TS", C, &[], "Event Occurred", "事象発生日時"),
            f(7, "HD", RE, &[], "Event Facility", "事象施設"),
        ] },
        SegmentRules { id: "IAM", fields: &[
            f(1, "SI", R, &[], "Set ID - IAM", "セット ID-IAM"),
            f(2, "CWE", O, &[], "Allergen Type Code", "アレルゲン分類"),
            f(3, "CWE", R, &[], "Allergen Code/Mnemonic/Description", "アレルゲン情報"),
            f(4, "CWE", O, &[], "Allergy Severity Code", "アレルギー重症度"),
            f(5, "ST", O, &[], "Allergy Reaction Code", "アレルギー反応情報"),
            f(6, "CNE", R, &[], "Allergy Action Code", "アレルギーアクションコード"),
            f(7, "EI", C, &[], "Allergy Unique Identifier", "アレルギー識別情報"),
            f(8, "ST", O, &[], "Action Reason", "アレルギー情報追加・変更理由"),
            f(9, "CWE", O, &[], "Sensitivity to Causative Agent Code", "アレルギー物質に対する感受性"),
            f(10, "CWE", O, &[], "Allergen Group Code/Mnemonic/Description", "アレルゲン群情報"),
            f(11, "DT", O, &[], "Onset Date", "アレルギー発症日"),
            f(12, "ST", O, &[], "Onset Date Text", "アレルギー発症時期"),
            f(13, "TS", O, &[], "Reported Date/Time", "情報提供日時"),
            f(14, "XPN", O, &[], "Reported By", "情報提供者"),
            f(15, "CWE", O, &[], "Relationship to Patient Code", "情報提供者と患者の続柄"),
            f(16, "CWE", N, &[], "Alert Device Code", "要注意物質コード"),
            f(17, "CWE", O, &[], "Allergy Clinical Status Code", "アレルギー臨床確認状況"),
            f(18, "XCN", O, &[], "Statused by Person", "確認者"),
            f(19, "XON", O, &[], "Statused by Organization", "確認機関"),
            f(20, "TS", O, &[], "Statused at Date/Time", "確認日時"),
        ] },
        SegmentRules { id: "IN1", fields: &[
            f(1, "SI", R, &[], "Set ID - IN1", "セット ID - IN1"),
            f(2, "CWE", R, &[], "Insurance Plan ID", "保険プラン ID"),
            f(3, "CX", O, &[], "Insurance Company ID", "保険会社 ID"),
            f(4, "XON", C, &[], "Insurance Company Name", "保険会社名"),
            f(5, "XAD", N, &[], "Insurance Company Address", "保険会社住所"),
            f(6, "XPN", N, &[], "Insurance Co Contact Person", "保険会社連絡者"),
            f(7, "XTN", N, &[], "Insurance Co Phone Number", "保険会社電話番号"),
            f(8, "ST", N, &[], "Group Number", "グループ番号"),
            f(9, "XON", N, &[], "Group Name", "グループ名"),
            f(10, "CX", C, &[], "Insured’s Group Emp ID", "被保険者グループ雇用者 ID"),
            f(11, "XON", C, &[], "Insured’s Group Emp Name", "被保険者グループ雇用者名"),
            f(12, "DT", O, &[], "Plan Effective Date", "プラン有効日付"),
            f(13, "DT", O, &[], "Plan Expiration Date", "プラン失効日付"),
            f(14, "AUI", N, &[], "Authorization Information", "認定情報"),
            f(15, "IS", C, &[], "Plan Type", "プランタイプ"),
            f(16, "XPN", N, &[], "Name Of Insured", "被保険者名"),
            f(17, "CWE", O, &[], "Insured’s Relationship To Patient", "被保険者と患者の関係"),
            f(18, "TS", N, &[], "Insured’s Date Of Birth", "被保険者生年月日"),
            f(19, "XAD", N, &[], "Insured’s Address", "被保険者住所"),
            f(20, "IS", N, &[], "Assignment Of Benefits", "給付金の配分"),
            f(21, "IS", N, &[], "Coordination Of Benefits", "給付金の調整"),
            f(22, "ST", N, &[], "Coord Of Ben. Priority", "給付金優先順位の調整"),
            f(23, "ID", N, &[], "Notice Of Admission Flag", "入院通知フラグ"),
            f(24, "DT", N, &[], "Notice Of Admission Date", "入院通知日付"),
            f(25, "ID", N, &[], "Report Of Eligibility Flag", "有資格報告フラグ"),
            f(26, "DT", N, &[], "Report Of Eligibility Date", "有資格報告日付"),
            f(27, "IS", N, &[], "Release Information Code", "情報公開コード"),
            f(28, "ST", N, &[], "Pre-Admit Cert (PAC)", "入院前認定書(PAC)"),
            f(29, "TS", N, &[], "Verification Date/Time", "確認日付/時刻"),
            f(30, "XCN", N, &[], "Verification By", "確認者"),
            f(31, "IS", N, &[], "Type Of Agreement Code", "同意種別コード"),
            f(32, "IS", N, &[], "Billing Status", "請求状況"),
            f(33, "NM", N, &[], "Lifetime Reserve Days", "生涯予備日数"),
            f(34, "NM", N, &[], "Delay Before L.R. Day", "生涯予備日数までの遅延"),
            f(35, "IS", N, &[], "Company Plan Code", "会社プランコード"),
            f(36, "ST", N, &[], "Policy Number", "ポリシー番号"),
            f(37, "CP", N, &[], "Policy Deductible", "免責ポリシー"),
            f(38, "CP", N, &[], "Policy Limit - Amount", "ポリシー－総額"),
            f(39, "NM", N, &[], "Policy Limit - Days", "ポリシー－限度日数"),
            f(40, "CP", N, &[], "Room Rate - Semi-Private", "室料－準個室"),
            f(41, "CP", N, &[], "Room Rate - Private", "室料－個室"),
            f(42, "CWE", N, &[], "Insured’s Employment Status", "被保険者雇用状態"),
            f(43, "IS", N, &[], "Insured’s Administrative Sex", "被保険者性別"),
            f(44, "XAD", N, &[], "Insured’s Employer’s Address", "被保険者雇用者住所"),
            f(45, "ST", N, &[], "Verification Status", "確認状態"),
            f(46, "IS", N, &[], "Prior Insurance Plan ID", "以前の保険プラン ID"),
            f(47, "IS", N, &[], "Coverage Type", "保険範囲タイプ"),
            f(48, "IS", N, &[], "Handicap ", "ハンディキャップ"),
            f(49, "CX", N, &[], "Insured’s ID Number", "被保険者 ID 番号"),
            f(50, "IS", N, &[], "Signature Code", "署名コード"),
            f(51, "DT", N, &[], "Signature Code Date", "署名日"),
            f(52, "ST", N, &[], "Insured’s Birth Place", "被保険者出生地"),
            f(53, "IS", N, &[], "VIP Indicator", "VIP 識別"),
        ] },
        SegmentRules { id: "IPC", fields: &[
            f(1, "EI", R, &[], "Accession Identifier", "受付番号"),
            f(2, "EI", O, &[], "Requested Procedure ID", "要求手続き ID"),
            f(3, "EI", R, &[], "Study Instance UID", "検査インスタンス UID"),
            f(4, "EI", O, &[], "Scheduled Procedure Step ID", "予約済手続きステップ ID"),
            f(5, "CWE", R, &[], "Modality ", "モダリティ"),
            f(6, "CWE", O, &[], "Protocol Code", "プロトコルコード"),
            f(7, "EI", O, &[], "Scheduled Station Name", "予約済ステーション名"),
            f(8, "CWE", O, &[], "Scheduled Procedure Step Location", "予約済手続きステップ場所"),
            f(9, "ST", O, &[], "Scheduled AE Title", "予約済 AE タイトル"),
        ] },
        SegmentRules { id: "MSH", fields: &[
            f(1, "ST", R, &[], "Field Separator", "フィールド区切文字"),
            f(2, "ST", R, &[], "Encoding Characters", "コード化文字"),
            f(3, "HD", O, &[], "Sending Application", "送信アプリケーション"),
            f(4, "HD", O, &[], "Sending Facility", "送信施設"),
            f(5, "HD", O, &[], "Receiving Application", "受信アプリケーション"),
            f(6, "HD", O, &[], "Receiving Facility", "受信施設"),
            f(7, "TS", R, &[], "Date/Time Of Message", "メッセージ日時"),
            f(8, "ST", N, &[], "Security", "セキュリティ"),
            f(9, "MSG", R, &[], "Message Type", "メッセージ型"),
            f(10, "ST", R, &[], "Message Control ID", "メッセージ制御 ID"),
            f(11, "PT", R, &[], "Processing ID", "処理 ID"),
            f(12, "VID", R, &[], "Version ID", "バージョン ID"),
            f(13, "NM", N, &[], "Sequence Number", "シーケンス番号"),
            f(14, "ST", N, &[], "Continuation Pointer", "継続ポインタ"),
            f(15, "ID", N, &[], "Accept Acknowledgment Type", "受諾肯定応答型"),
            f(16, "ID", N, &[], "Application Acknowledgment Type", "アプリケーション肯定応答型"),
            f(17, "ID", N, &[], "Country Code", "国コード"),
            f(18, "ID", R, &[], "Character Set", "文字セット"),
            f(19, "CWE", N, &[], "Principal Language Of Message", "主要言語"),
            f(20, "ID", O, &[], "Alternate Character Set Handling Scheme", "代替文字セット操作法"),
            f(21, "EI", N, &[], "Message Profile Identifier", "メッセージプロファイル識別子"),
        ] },
        SegmentRules { id: "NK1", fields: &[
            f(1, "SI", R, &[], "Set ID - NK1", "セット ID-NK1"),
            f(2, "XPN", O, &[], "Name", "氏名"),
            f(3, "CWE", O, &[], "Relationship", "続柄"),
            f(4, "XAD", O, &[], "Address", "住所"),
            f(5, "XTN", O, &[], "Phone Number", "電話番号"),
            f(6, "XTN", O, &[], "Business Phone Number", "勤務先電話番号"),
            f(7, "CWE", N, &[], "Contact Role", "役割"),
            f(8, "DT", N, &[], "Start Date", "役割の開始日"),
            f(9, "DT", N, &[], "End Date", "役割の終了日"),
            f(10, "ST", N, &[], "Next of Kin / Associated Parties Job Title", "肩書"),
            f(11, "JCC", N, &[], "Next of Kin / Associated Parties Job Code/Class", "職種・職位"),
            f(12, "CX", N, &[], "Next of Kin / Associated Parties Employee Number", "従業員番号"),
            f(13, "XON", O, &[], "Organization Name - NK1", "所属組織名"),
            f(14, "CWE", N, &[], "Marital Status", "結婚状態"),
            f(15, "IS", N, &[], "Administrative Sex", "性別"),
            f(16, "TS", N, &[], "Date/Time of Birth", "生年月日"),
            f(17, "IS", N, &[], "Living Dependency", "生活依存"),
            f(18, "IS", N, &[], "Ambulatory Status", "介護区分"),
            f(19, "CWE", N, &[], "Citizenship", "市民権情報"),
            f(20, "CWE", N, &[], "Primary Language", "使用言語"),
            f(21, "IS", N, &[], "Living Arrangement", "生活様式"),
            f(22, "CWE", N, &[], "Publicity Code", "周知標識"),
            f(23, "ID", N, &[], "Protection Indicator", "保護標識"),
            f(24, "IS", N, &[], "Student Indicator", "学生標識"),
            f(25, "CWE", N, &[], "Religion", "宗教"),
            f(26, "XPN", N, &[], "Mother’s Maiden Name", "母親の旧姓"),
            f(27, "CWE", N, &[], "Nationality", "国籍"),
            f(28, "CWE", N, &[], "Ethnic Group", "民族"),
            f(29, "CWE", N, &[], "Contact Reason", "連絡理由"),
            f(30, "XPN", N, &[], "Contact Person’s Name", "連絡先の名前"),
            f(31, "XTN", N, &[], "Contact Person’s Telephone Number", "連絡先の電話番号"),
            f(32, "XAD", N, &[], "Contact Person’s Address", "連絡先の住所"),
            f(33, "CX", N, &[], "Next of Kin/Associated Party’s Identifiers", "近親者識別情報"),
            f(34, "IS", N, &[], "Job Status", "職業状態"),
            f(35, "CWE", N, &[], "Race", "人種"),
            f(36, "IS", N, &[], "Handicap", "障害情報"),
            f(37, "ST", N, &[], "Contact Person Social Security Number", "連絡先の社会保険番号"),
            f(38, "ST", N, &[], "Next of Kin Birth Place", "近親者生誕地"),
            f(39, "IS", N, &[], "VIP Indicator", "VIP 標識"),
        ] },
        SegmentRules { id: "OBR", fields: &[
            f(1, "SI", N, &[("OMG-01", O), ("OMG-02", O), ("OMG-03", R), ("OMG-11", O), ("OMG-12", O), ("OMG-13", R), ("OML-01", C), ("OML-11", C)], "Set ID – OBR", "セット ID- OBR"),
            f(2, "EI", N, &[("OMG-01", R), ("OMG-02", R), ("OMG-03", R), ("OMG-11", R), ("OMG-12", R), ("OMG-13", R), ("OML-01", R), ("OML-11", R)], "Placer Order Number", "依頼者オーダ番号"),
            f(3, "EI", N, &[("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O)], "Filler Order Number", "実施者オーダ番号"),
            f(4, "CWE", N, &[("OMG-01", R), ("OMG-02", R), ("OMG-03", R), ("OMG-11", R), ("OMG-12", R), ("OMG-13", R), ("OML-01", R), ("OML-11", R)], "Universal Service Identifier", "検査項目 ID"),
            f(5, "ID", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Priority – OBR", "優先度"),
            f(6, "TS", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Requested Date/Time", "要求日時"),
            f(7, "TS", N, &[("OMG-01", O), ("OMG-02", O), ("OMG-03", C), ("OMG-11", O), ("OMG-12", O), ("OMG-13", C), ("OML-01", C), ("OML-11", C)], "Observation Date/Time #", "検査/採取日時"),
            f(8, "TS", N, &[("OMG-01", N), ("OMG-02", O), ("OMG-03", O), ("OMG-11", N), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O)], "Observation End Date/Time #", "検査/採取終了日時"),
            f(9, "CQ", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Collection Volume *", "採取量"),
            f(10, "XCN", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Collector Identifier *", "採取者識別子"),
            f(11, "ID", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Specimen Action Code *", "検体処置コード"),
            f(12, "CWE", N, &[("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O)], "Danger Code", "危険(検体)コード"),
            f(13, "ST", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", O), ("OMG-11", N), ("OMG-12", N), ("OMG-13", O), ("OML-01", N), ("OML-11", N)], "Relevant Clinical Information", "関連臨床情報"),
            f(14, "TS", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Specimen Received Date/Time *", "検体受理日時"),
            f(15, "SPS", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Specimen Source", "検体材料/採取部位"),
            f(16, "XCN", N, &[("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O)], "Ordering Provider", "依頼者"),
            f(17, "XTN", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Order Callback Phone Number", "オーダコールバック用電話番号"),
            f(18, "ST", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Placer Field 1", "依頼者項目 1"),
            f(19, "ST", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Placer Field 2", "依頼者項目 2"),
            f(20, "ST", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Filler Field 1 +", "実施者項目 1"),
            f(21, "ST", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Filler Field 2 +", "実施者項目 2"),
            f(22, "TS", N, &[("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O)], "Results Rpt/Status Chng - Date/Time +", "結果報告/状態変更-日時"),
            f(23, "MOC", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Charge to Practice +", "課金"),
            f(24, "ID", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", O), ("OMG-11", N), ("OMG-12", N), ("OMG-13", O), ("OML-01", N), ("OML-11", N)], "Diagnostic Serv Sect ID", "診断部門 ID"),
            f(25, "ID", N, &[("OMG-01", O), ("OMG-02", O), ("OMG-03", C), ("OMG-11", O), ("OMG-12", O), ("OMG-13", C), ("OML-01", N), ("OML-11", N)], "Result Status +", "結果状態"),
            f(26, "PRL", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", O), ("OMG-11", N), ("OMG-12", N), ("OMG-13", O), ("OML-01", N), ("OML-11", N)], "Parent Result +", "親結果"),
            f(27, "TQ", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Quantity/Timing", "数量/タイミング"),
            f(28, "XCN", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", O), ("OMG-11", N), ("OMG-12", N), ("OMG-13", O), ("OML-01", N), ("OML-11", N)], "Result Copies To", "結果配布先"),
            f(29, "EIP", N, &[("OMG-01", C), ("OMG-02", C), ("OMG-03", C), ("OMG-11", C), ("OMG-12", C), ("OMG-13", C), ("OML-01", N), ("OML-11", N)], "Parent  ", "親番号"),
            f(30, "ID", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Transportation Mode", "患者搬送モード"),
            f(31, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Reason for Study", "検査理由"),
            f(32, "NDL", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Principal Result Interpreter +", "結果判定責任者"),
            f(33, "NDL", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Assistant Result Interpreter + ", "結果判定アシスタント"),
            f(34, "NDL", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Technician +", "医療技術者"),
            f(35, "NDL", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Transcriptionist +", "口述記録者"),
            f(36, "TS", N, &[("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", N), ("OML-11", N)], "Scheduled Date/Time +", "予定日時"),
            f(37, "NM", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Number of Sample Containers *", "検体容器数"),
            f(38, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Transport Logistics of Collected Sample *", "採取検体搬送"),
            f(39, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Collector's Comment *", "採取者コメント"),
            f(40, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Transport Arrangement Responsibility", "搬送調整者"),
            f(41, "ID", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Transport Arranged", "搬送調整結果"),
            f(42, "ID", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Escort Required", "随行者要否"),
            f(43, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Planned Patient Transport Comment", "患者搬送コメント"),
            f(44, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Procedure Code", "処置コード"),
            f(45, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Procedure Code Modifier", "処置コード修飾子"),
            f(46, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Placer Supplemental Service Information", "依頼者発行の追加サービス情報"),
            f(47, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Filler Supplemental Service Information", "実施者発行の追加サービス情報"),
            f(48, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Medically Necessary Duplicate Procedure Reason.", "医学的に必要な重複処置の理由"),
            f(49, "IS", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N)], "Result Handling", "結果の取り扱い"),
        ] },
        SegmentRules { id: "OBX", fields: &[
            f(1, "SI", N, &[("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-02", O), ("OMP-12", O)], "Set ID – OBX", "セット ID - OBX"),
            f(2, "ID", N, &[("OMG-01", R), ("OMG-02", R), ("OMG-03", R), ("OMG-11", R), ("OMG-12", R), ("OMG-13", R), ("OML-01", C), ("OML-11", C), ("OMP-02", R), ("OMP-12", R)], "Value Type", "値型"),
            f(3, "CWE", N, &[("OMG-01", R), ("OMG-02", R), ("OMG-03", R), ("OMG-11", R), ("OMG-12", R), ("OMG-13", R), ("OML-01", R), ("OML-11", R), ("OMP-02", R), ("OMP-12", R)], "Observation Identifier", "検査項目"),
            f(4, "ST", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", C), ("OMG-11", N), ("OMG-12", N), ("OMG-13", C), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "Observation Sub-ID", "検査副 ID"),
            f(5, "*", N, &[("OMG-01", R), ("OMG-02", R), ("OMG-03", C), ("OMG-11", R), ("OMG-12", R), ("OMG-13", C), ("OML-01", C), ("OML-11", C), ("OMP-02", C), ("OMP-12", C)], "Observation Value", "検査値"),
            f(6, "CWE", N, &[("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-02", O), ("OMP-12", O)], "Units", "単位"),
            f(7, "ST", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "References Range", "基準値範囲"),
            f(8, "IS", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "Abnormal Flags", "異常フラグ"),
            f(9, "NM", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "Probability", "確率"),
            f(10, "ID", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "Nature of Abnormal Test", "異常検査の特質"),
            f(11, "ID", N, &[("OMG-01", R), ("OMG-02", R), ("OMG-03", R), ("OMG-11", R), ("OMG-12", R), ("OMG-13", R), ("OML-01", R), ("OML-11", R), ("OMP-02", R), ("OMP-12", R)], "Observation Result Status", "検査結果状態"),
            f(12, "TS", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "Effective Date of Reference Range", "基準値範囲有効日付"),
            f(13, "ST", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "User Defined Access Checks", "使用者定義アクセス点検"),
            f(14, "TS", N, &[("OMG-01", N), ("OMG-02", O), ("OMG-03", O), ("OMG-11", N), ("OMG-12", O), ("OMG-13", O), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "Date/Time of the Observation", "検査日時"),
            f(15, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "Producer's ID", "実施者 ID"),
            f(16, "XCN", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "Responsible Observer", "検査責任者"),
            f(17, "CWE", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "Observation Method", "検査方法"),
            f(18, "EI", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "Equipment Instance Identifier", "装置 ID"),
            f(19, "TS", N, &[("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-02", N), ("OMP-12", N)], "Date/Time of the Analysis", "分析日時"),
        ] },
        SegmentRules { id: "ODS", fields: &[
            f(1, "ID", R, &[], "Type ", "タイプ"),
            f(2, "CWE", O, &[], "Service Period", "サービス時間帯"),
            f(3, "CWE", R, &[], "Diet, Supplement, or Preference Code", "食事、補色、嗜好コード"),
            f(4, "ST", O, &[], "Text Instruction", "テキスト指示"),
        ] },
        SegmentRules { id: "ORC", fields: &[
            f(1, "ID", N, &[("OMD", R), ("OMG-01", R), ("OMG-02", R), ("OMG-03", R), ("OMG-11", R), ("OMG-12", R), ("OMG-13", R), ("OML-01", R), ("OML-11", R), ("OMP-01", R), ("OMP-02", R), ("OMP-11", R), ("OMP-12", R), ("PPR-01", R)], "Order Control", "オーダ制御"),
            f(2, "EI", N, &[("OMD", R), ("OMG-01", R), ("OMG-02", R), ("OMG-03", R), ("OMG-11", R), ("OMG-12", R), ("OMG-13", R), ("OML-01", R), ("OML-11", R), ("OMP-01", R), ("OMP-02", R), ("OMP-11", R), ("OMP-12", R), ("PPR-01", R)], "Placer Order Number", "依頼者オーダ番号"),
            f(3, "EI", N, &[("OMD", N), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O), ("PPR-01", O)], "Filler Order Number", "実施者オーダ番号"),
            f(4, "EI", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", O), ("OMG-11", N), ("OMG-12", N), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-01", R), ("OMP-02", R), ("OMP-11", R), ("OMP-12", R), ("PPR-01", O)], "Placer Group Number", "依頼者グループ番号"),
            f(5, "ID", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", O), ("OMG-11", N), ("OMG-12", N), ("OMG-13", O), ("OML-01", RE), ("OML-11", RE), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Order Status", "オーダ状態"),
            f(6, "ID", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Response Flag", "応答フラグ"),
            f(7, "TQ", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Quantity/Timing", "数量/タイミング"),
            f(8, "EIP", N, &[("OMD", N), ("OMG-01", C), ("OMG-02", C), ("OMG-03", C), ("OMG-11", C), ("OMG-12", C), ("OMG-13", C), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Parent", "親"),
            f(9, "TS", N, &[("OMD", O), ("OMG-01", R), ("OMG-02", R), ("OMG-03", R), ("OMG-11", R), ("OMG-12", R), ("OMG-13", R), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O), ("PPR-01", O)], "Date/Time of Transaction", "トランザクション日時"),
            f(10, "XCN", N, &[("OMD", O), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O), ("PPR-01", O)], "Entered By", "入力者"),
            f(11, "XCN", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Verified By", "検証者"),
            f(12, "XCN", N, &[("OMD", O), ("OMG-01", R), ("OMG-02", R), ("OMG-03", R), ("OMG-11", R), ("OMG-12", R), ("OMG-13", R), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O), ("PPR-01", O)], "Ordering Provider", "依頼者"),
            f(13, "PL", N, &[("OMD", N), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O), ("PPR-01", O)], "Enterer's Location", "入力場所"),
            f(14, "XTN", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Call Back Phone Number", "コールバック用電話番号"),
            f(15, "TS", N, &[("OMD", O), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O), ("PPR-01", O)], "Order Effective Date/Time", "オーダ有効日時"),
            f(16, "CWE", N, &[("OMD", O), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O), ("PPR-01", O)], "Order Control Code Reason", "オーダ制御コードの理由"),
            f(17, "CWE", N, &[("OMD", O), ("OMG-01", O), ("OMG-02", O), ("OMG-03", R), ("OMG-11", O), ("OMG-12", O), ("OMG-13", R), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", R), ("OMP-11", O), ("OMP-12", R), ("PPR-01", O)], "Entering Organization", "入力組織"),
            f(18, "CWE", N, &[("OMD", O), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O), ("PPR-01", O)], "Entering Device", "入力装置"),
            f(19, "XCN", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Action By", "(オーダ制御）実施者"),
            f(20, "CWE", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Advanced Beneficiary Notice Code", "受益者事前通知コード"),
            f(21, "XON", N, &[("OMD", N), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O), ("PPR-01", O)], "Ordering Facility Name", "オーダ施設名"),
            f(22, "XAD", N, &[("OMD", N), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O), ("PPR-01", O)], "Ordering Facility Address", "オーダ施設住所"),
            f(23, "XTN", N, &[("OMD", N), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OML-11", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O), ("PPR-01", O)], "Ordering Facility Phone Number", "オーダ施設電話番号"),
            f(24, "XAD", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Ordering Provider Address", "オーダ依頼者住所"),
            f(25, "CWE", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Order Status Modifier", "オーダ状態修飾子"),
            f(26, "CWE", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Advanced Beneficiary Notice Override Reason", "受益者事前通知無効理由"),
            f(27, "TS", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Filler's Expected Availability Date/Time", "実施者可能日時"),
            f(28, "CWE", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Confidentiality Code", "守秘コード"),
            f(29, "CWE", N, &[("OMD", N), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", RE), ("OML-11", RE), ("OMP-01", O), ("OMP-02", R), ("OMP-11", O), ("OMP-12", R), ("PPR-01", O)], "Order Type", "オーダタイプ"),
            f(30, "CNE", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", N), ("OMG-03", N), ("OMG-11", N), ("OMG-12", N), ("OMG-13", N), ("OML-01", N), ("OML-11", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N), ("PPR-01", N)], "Enterer Authorization Mode", "入力者承認モード"),
        ] },
        SegmentRules { id: "PID", fields: &[
            f(1, "SI", O, &[], "Set ID - PID", "セット ID-ＰID"),
            f(2, "CX", N, &[], "Patient ID", "患者 ID"),
            f(3, "CX", R, &[], "Patient Identifier List", "患者 ID リスト"),
            f(4, "CX", N, &[], "Alternate Patient ID - PID", "代替患者 ID"),
            f(5, "XPN", R, &[], "Patient Name", "患者氏名"),
            f(6, "XPN", N, &[], "Mother’s Maiden Name", "母親の旧姓"),
            f(7, "TS", R, &[], "Date/Time of Birth", "生年月日年齢"),
            f(8, "IS", R, &[], "Administrative Sex", "性別"),
            f(9, "XPN", N, &[], "Patient Alias", "患者別名"),
            f(10, "CWE", N, &[], "Race", "人種"),
            f(11, "XAD", O, &[], "Patient Address", "患者住所"),
            f(12, "IS", N, &[], "County Code", "郡コード"),
            f(13, "XTN", O, &[], "Phone Number - Home", "電話番号－自宅"),
            f(14, "XTN", O, &[], "Phone Number - Business", "電話番号－勤務先"),
            f(15, "CWE", N, &[], "Primary Language", "使用言語"),
            f(16, "CWE", N, &[], "Marital Status", "婚姻状況"),
            f(17, "CWE", N, &[], "Religion", "宗教"),
            f(18, "CX", N, &[], "Patient Account Number", "患者会計番号"),
            f(19, "ST", N, &[], "SSN Number - Patient", "社会保険番号"),
            f(20, "DLN", N, &[], "Driver's License Number - Patient", "運転免許証番号"),
            f(21, "CX", N, &[], "Mother's Identifier", "母親の識別情報"),
            f(22, "CWE", N, &[], "Ethnic Group", "民族"),
            f(23, "ST", N, &[], "Birth Place", "出生地"),
            f(24, "ID", N, &[], "Multiple Birth Indicator", "多胎児識別情報"),
            f(25, "NM", N, &[], "Birth Order", "誕生順序"),
            f(26, "CWE", N, &[], "Citizenship", "市民権"),
            f(27, "CWE", N, &[], "Veterans Military Status", "退役軍人状況"),
            f(28, "CWE", N, &[], "Nationality ", "国籍"),
            f(29, "TS", N, &[], "Patient Death Date and Time", "患者死亡日時"),
            f(30, "ID", N, &[], "Patient Death Indicator", "患者死亡識別情報"),
            f(31, "ID", N, &[], "Identity Unknown Indicator", "身元不明識別"),
            f(32, "IS", N, &[], "Identity Reliability Code", "識別情報の信頼性"),
            f(33, "TS", C, &[], "Last Update Date/Time", "最終更新日時"),
            f(34, "HD", N, &[], "Last Update Facility", "最終更新施設"),
            f(35, "CWE", N, &[], "Species Code", "種コード"),
            f(36, "CWE", N, &[], "Breed Code", "品種コード"),
            f(37, "ST", N, &[], "Strain", "血統情報"),
            f(38, "CWE", N, &[], "Production Class Code", "生産分類コード"),
            f(39, "CWE", N, &[], "Tribal Citizenship", "所属種族"),
        ] },
        SegmentRules { id: "PRB", fields: &[
            f(1, "ID", R, &[], "Action Code", "アクションコード"),
            f(2, "TS", R, &[], "Action Date/Time", "アクション日付／時刻"),
            f(3, "CWE", R, &[], "Problem ID", "プロブレム ID"),
            f(4, "EI", R, &[], "Problem Instance ID", "プロブレムインスタンス ID"),
            f(5, "EI", O, &[], "Episode of Care ID", "診療 ID エピソード"),
            f(6, "NM", O, &[], "Problem List Priority", "プロブレムリストの優先権"),
            f(7, "TS", O, &[], "Problem Established Date/Time", "プロブレム設定日付／時刻"),
            f(8, "TS", O, &[], "Anticipated Problem Resolution Date/Time", "予想されるのプロブレム解決日付／時刻"),
            f(9, "TS", O, &[], "Actual Problem Resolution Date/Time", "実際のプロブレム解決日付／時刻"),
            f(10, "CWE", O, &[], "Problem Classification", "プロブレムの分類"),
            f(11, "CWE", O, &[], "Problem Management Discipline", "プロブレムマネジメント職種"),
            f(12, "CWE", O, &[], "Problem Persistence", "プロブレムの長期化"),
            f(13, "CWE", O, &[], "Problem Confirmation Status", "プロブレムの確認状態"),
            f(14, "CWE", O, &[], "Problem Life Cycle Status", "プロブレムのライフサイクル状態"),
            f(15, "TS", O, &[], "Problem Life Cycle Status Date/Time", "プロブレムのライフサイクル状態の日付／時刻"),
            f(16, "TS", O, &[], "Problem Date of Onset", "プロブレムの発生日付"),
            f(17, "TS", O, &[], "Problem Onset Text", "プロブレムの発生テキスト"),
            f(18, "CWE", O, &[], "Problem Ranking", "プロブレムのランキング"),
            f(19, "CWE", O, &[], "Certainty of Problem", "プロブレムの確実性"),
            f(20, "NM", O, &[], "Probability of Problem (0-1)", "プロブレムの確率（0-1）"),
            f(21, "CWE", O, &[], "Individual Awareness of Problem", "プロブレムの個々の認識"),
            f(22, "CWE", O, &[], "Problem Prognosis", "プロブレムの予後"),
            f(23, "CWE", O, &[], "Individual Awareness of Prognosis", "予後についての患者個人の認識"),
            f(24, "ST", O, &[], "Family/Significant Other Awareness of Problem/Prognosis", "プロブレム／予後についての家族その他重要な関係者の認識"),
            f(25, "CWE", O, &[], "Security/Sensitivity", "セキュリティ／感受性"),
        ] },
        SegmentRules { id: "PV1", fields: &[
            f(1, "SI", O, &[], "Set ID - PV1", "セット ID-PV1"),
            f(2, "IS", R, &[], "Patient Class", "患者区分"),
            f(3, "PL", O, &[], "Assigned Patient Location", "患者所在場所"),
            f(4, "IS", N, &[], "Admission Type", "入院区分"),
            f(5, "CX", N, &[], "Preadmit Number", "事前入院番号"),
            f(6, "PL", O, &[], "Prior Patient Location", "患者の以前の所在"),
            f(7, "XCN", O, &[], "Attending Doctor", "主治医"),
            f(8, "XCN", N, &[], "Referring Doctor", "紹介医"),
            f(9, "XCN", N, &[], "Consulting Doctor", "コンサルタント医師"),
            f(10, "IS", C, &[], "Hospital Service", "診療部門"),
            f(11, "PL", N, &[], "Temporary Location", "一時的な所在場所"),
            f(12, "IS", N, &[], "Preadmit Test Indicator", "入院前検査標識"),
            f(13, "IS", N, &[], "Re-admission Indicator", "再入院標識"),
            f(14, "IS", N, &[], "Admit Source", "紹介元"),
            f(15, "IS", N, &[], "Ambulatory Status", "外来状況"),
            f(16, "IS", N, &[], "VIP Indicator", "VIP 標識"),
            f(17, "XCN", O, &[], "Admitting Doctor", "入院時医師"),
            f(18, "IS", N, &[], "Patient Type", "患者種別"),
            f(19, "CX", N, &[], "Visit Number", "来院番号"),
            f(20, "FC", N, &[], "Financial Class", "保険種別"),
            f(21, "IS", N, &[], "Charge Price Indicator", "費用識別標識"),
            f(22, "IS", N, &[], "Courtesy Code", "優待コード"),
            f(23, "IS", N, &[], "Credit Rating", "信用等級"),
            f(24, "IS", N, &[], "Contract Code", "契約コード"),
            f(25, "DT", N, &[], "Contract Effective Date", "契約発効日"),
            f(26, "NM", N, &[], "Contract Amount", "契約金額"),
            f(27, "NM", N, &[], "Contract Period", "契約期間"),
            f(28, "IS", N, &[], "Interest Code", "利息コード"),
            f(29, "IS", N, &[], "Transfer to Bad Debt Code", "不良負債転換コード"),
            f(30, "DT", N, &[], "Transfer to Bad Debt Date", "不良負債転換日"),
            f(31, "IS", N, &[], "Bad Debt Agency Code", "不良負債代理店コード"),
            f(32, "NM", N, &[], "Bad Debt Transfer Amount", "不良負債転換額"),
            f(33, "NM", N, &[], "Bad Debt Recovery Amount", "不良負債回収額"),
            f(34, "IS", N, &[], "Delete Account Indicator", "会計情報削除標識"),
            f(35, "DT", N, &[], "Delete Account Date", "会計情報削除日"),
            f(36, "IS", O, &[], "Discharge Disposition", "退院区分"),
            f(37, "DLD", N, &[], "Discharged to Location", "退院先"),
            f(38, "CWE", N, &[], "Diet Type", "食事種別"),
            f(39, "IS", N, &[], "Servicing Facility", "担当施設"),
            f(40, "IS", N, &[], "Bed Status", "ベッド状態"),
            f(41, "IS", N, &[], "Account Status", "会計状態"),
            f(42, "PL", N, &[], "Pending Location", "保留所在場所"),
            f(43, "PL", N, &[], "Prior Temporary Location", "事前の一時的所在"),
            f(44, "TS", O, &[], "Admit Date/Time", "入院日時"),
            f(45, "TS", O, &[], "Discharge Date/Time", "退院日時"),
            f(46, "NM", N, &[], "Current Patient Balance", "未納額"),
            f(47, "NM", N, &[], "Total Charges", "総費用"),
            f(48, "NM", N, &[], "Total Adjustments", "総調整額"),
            f(49, "NM", N, &[], "Total Payments", "合計支払額"),
            f(50, "CX", N, &[], "Alternate Visit ID", "代替来院 ID"),
            f(51, "IS", N, &[], "Visit Indicator", "来院標識"),
            f(52, "XCN", N, &[], "Other Healthcare Provider", "他のヘルスケア供給者"),
        ] },
        SegmentRules { id: "PV2", fields: &[
            f(1, "PL", C, &[], "Prior Pending Location", "事前保留所在場所"),
            f(2, "CWE", N, &[], "Accommodation Code", "宿泊設備コード"),
            f(3, "CWE", N, &[], "Admit Reason", "入院の理由"),
            f(4, "CWE", N, &[], "Transfer Reason", "転科転棟の理由"),
            f(5, "ST", N, &[], "Patient Valuables", "患者貴重品情報"),
            f(6, "ST", N, &[], "Patient Valuables Location", "患者貴重品の保管場所"),
            f(7, "IS", N, &[], "Visit User Code", "来院種別コード"),
            f(8, "TS", C, &[], "Expected Admit Date/Time", "予定入院日時"),
            f(9, "TS", C, &[], "Expected Discharge Date/Time", "予定退院日時"),
            f(10, "NM", N, &[], "Estimated Length of Inpatient Stay", "予定入院期間"),
            f(11, "NM", N, &[], "Actual Length of Inpatient Stay", "入院期間"),
            f(12, "ST", N, &[], "Visit Description", "来院時記述情報"),
            f(13, "XCN", N, &[], "Referral Source Code", "紹介元情報"),
            f(14, "DT", N, &[], "Previous Service Date", "前回来院日"),
            f(15, "ID", N, &[], "Employment Illness Related Indicator", "職業由来疾病情報"),
            f(16, "IS", N, &[], "Purge Status Code", "削除状態標識"),
            f(17, "DT", N, &[], "Purge Status Date", "削除予定日"),
            f(18, "IS", N, &[], "Special Program Code", "特別プログラムコード"),
            f(19, "ID", N, &[], "Retention Indicator", "保持標識"),
            f(20, "NM", N, &[], "Expected Number of Insurance Plans", "適応可能保険の数"),
            f(21, "IS", N, &[], "Visit Publicity Code", "来院情報周知範囲"),
            f(22, "ID", N, &[], "Visit Protection Indicator", "来院情報保護標識"),
            f(23, "XON", N, &[], "Clinic Organization Name", "診療部門名"),
            f(24, "IS", N, &[], "Patient Status Code", "患者状態"),
            f(25, "IS", N, &[], "Visit Priority Code", "受診優先指標"),
            f(26, "DT", N, &[], "Previous Treatment Date", "最終治療日"),
            f(27, "IS", N, &[], "Expected Discharge Disposition", "希望退院種別"),
            f(28, "DT", N, &[], "Signature on File Date", "署名日"),
            f(29, "DT", N, &[], "First Similar Illness Date", "発症日"),
            f(30, "CWE", N, &[], "Patient Charge Adjustment Code", "患者費用補正コード"),
            f(31, "IS", N, &[], "Recurring Service Code", "通院治療標識"),
            f(32, "ID", N, &[], "Billing Media Code", "請求媒体コード"),
            f(33, "TS", N, &[], "Expected Surgery Date and Time", "予定手術日時"),
            f(34, "ID", N, &[], "Military Partnership Code", "軍隊との契約の有無"),
            f(35, "ID", N, &[], "Military Non-Availability Code", "非軍隊施設の利用許可の有無"),
            f(36, "ID", N, &[], "Newborn Baby Indicator", "新生児標識"),
            f(37, "ID", N, &[], "Baby Detained Indicator", "新生児残留標識"),
            f(38, "CWE", N, &[], "Mode of Arrival Code", "患者到着手段"),
            f(39, "CWE", N, &[], "Recreational Drug Use Code", "嗜好情報"),
            f(40, "CWE", N, &[], "Admission Level of Care Code", "入院時患者重症度"),
            f(41, "CWE", N, &[], "Precaution Code", "要注意コード"),
            f(42, "CWE", N, &[], "Patient Condition Code", "患者容態標識"),
            f(43, "IS", N, &[], "Living Will Code", "延命希望標識"),
            f(44, "IS", N, &[], "Organ Donor Code", "臓器提供希望標識"),
            f(45, "CWE", N, &[], "Advance Directive Code", "その他の患者要望"),
            f(46, "DT", N, &[], "Patient Status Effective Date", "患者状態(PV2-24)の発症日"),
            f(47, "TS", O, &[], "Expected LOA Return Date/Time", "予定帰院日時"),
            f(48, "TS", N, &[], "Expected Pre-admission Testing Date/Time", "入院前検査予定日時"),
            f(49, "IS", N, &[], "Notify Clergy Code", "聖職者通知標識"),
        ] },
        SegmentRules { id: "RXA", fields: &[
            f(1, "NM", R, &[], "Give Sub-ID Counter", "与薬サブ ID カウンター"),
            f(2, "NM", R, &[], "Administration Sub-ID Counter", "投薬サブ ID カウンター"),
            f(3, "TS", R, &[], "Date/Time Start of Administration", "投薬開始日時"),
            f(4, "TS", R, &[], "Date/Time End of Administration", "投薬終了日時"),
            f(5, "CWE", R, &[], "Administered Code", "投薬コード"),
            f(6, "NM", R, &[], "Administered Amount", "投薬量"),
            f(7, "CWE", C, &[], "Administered Units", "投薬単位"),
            f(8, "CWE", O, &[], "Administered Dosage Form", "投薬剤形"),
            f(9, "CWE", O, &[], "Administration Notes", "投薬注記"),
            f(10, "XCN", O, &[], "Administering Provider", "投薬者"),
            f(11, "LA2", C, &[], "Administered-at Location", "投薬場所"),
            f(12, "ST", C, &[], "Administered Per (Time Unit)", "時間あたりの投薬"),
            f(13, "NM", O, &[], "Administered Strength", "投薬力価"),
            f(14, "CWE", O, &[], "Administered Strength Units", "投薬力価単位"),
            f(15, "ST", O, &[], "Substance Lot Number", "薬剤ロット番号"),
            f(16, "TS", O, &[], "Substance Expiration Date", "薬剤有効期限"),
            f(17, "CWE", O, &[], "Substance Manufacturer Name", "薬剤製造者名"),
            f(18, "CWE", O, &[], "Substance/Treatment Refusal Reason", "薬剤/治療拒否理由"),
            f(19, "CWE", O, &[], "Indication", "指示"),
            f(20, "ID", O, &[], "Completion Status", "完了状態"),
            f(21, "ID", O, &[], "Action Code – RXA", "アクションコード＿RXA"),
            f(22, "TS", O, &[], "System Entry Date/Time", "システム入力日時"),
            f(23, "NM", O, &[], "Administered Drug Strength Volume", "投薬力価量"),
            f(24, "CWE", O, &[], "Administered Drug Strength Volume Units", "投薬力価量単位"),
            f(25, "CWE", O, &[], "Administered Barcode Identifier", "投薬バーコード識別機能"),
            f(26, "ID", O, &[], "Pharmacy Order Type", "薬剤オーダタイプ"),
        ] },
        SegmentRules { id: "RXC", fields: &[
            f(1, "ID", R, &[], "RX Component Type", "RX 成分タイプ"),
            f(2, "CWE", R, &[], "Component Code", "成分コード"),
            f(3, "NM", R, &[], "Component Amount", "成分量"),
            f(4, "CWE", R, &[], "Component Units", "成分単位"),
            f(5, "NM", O, &[], "Component Strength", "成分力価"),
            f(6, "CWE", O, &[], "Component Strength Units", "成分力価単位"),
            f(7, "CWE", O, &[], "Supplementary Code", "補足コード"),
            f(8, "NM", O, &[], "Component Drug Strength Volume", "成分薬力価量"),
            f(9, "CWE", O, &[], "Component Drug Strength Volume Units", "成分力価量単位"),
        ] },
        SegmentRules { id: "RXE", fields: &[
            f(1, "TQ", N, &[("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Quantity/Timing", "数量/タイミング"),
            f(2, "CWE", N, &[("OMP-01", R), ("OMP-02", R), ("OMP-11", R), ("OMP-12", R)], "Give Code", "与薬コード"),
            f(3, "NM", N, &[("OMP-01", R), ("OMP-02", R), ("OMP-11", R), ("OMP-12", R)], "Give Amount - Minimum", "与薬量－最小"),
            f(4, "NM", N, &[("OMP-01", O), ("OMP-02", N), ("OMP-11", O), ("OMP-12", N)], "Give Amount - Maximum", "与薬量－最大"),
            f(5, "CWE", N, &[("OMP-01", R), ("OMP-02", R), ("OMP-11", R), ("OMP-12", R)], "Give Units", "与薬単位"),
            f(6, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Give Dosage Form", "与薬剤形"),
            f(7, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Provider's Administration Instructions", "依頼者の投薬指示"),
            f(8, "LA1", N, &[("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Deliver-to Location", "配布先"),
            f(9, "ID", N, &[("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Substitution Status", "代替品状態"),
            f(10, "NM", N, &[("OMP-01", R), ("OMP-02", O), ("OMP-11", R), ("OMP-12", O)], "Dispense Amount", "調剤量"),
            f(11, "CWE", N, &[("OMP-01", R), ("OMP-02", O), ("OMP-11", R), ("OMP-12", O)], "Dispense Units", "調剤単位"),
            f(12, "NM", N, &[("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Number of Refills", "同一薬発行数"),
            f(13, "XCN", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Ordering Provider's DEA Number", "オーダ発行者の DEA 番号"),
            f(14, "XCN", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Pharmacist/Treatment Supplier's Verifier ID", "薬剤師/治療提供者の検証 ID"),
            f(15, "ST", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Prescription Number", "処方箋番号"),
            f(16, "NM", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Number of Refills Remaining", "薬剤残数"),
            f(17, "NM", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Number of Refills/Doses Dispensed", "調剤済薬品数または投与数"),
            f(18, "TS", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "D/T of Most Recent Refill or Dose Dispensed", "調剤済薬品数または投与数の最新日時"),
            f(19, "CQ", N, &[("OMP-01", C), ("OMP-02", O), ("OMP-11", C), ("OMP-12", O)], "Total Daily Dose", "1 日あたりの総投与量"),
            f(20, "ID", N, &[("OMP-01", N), ("OMP-02", O), ("OMP-11", N), ("OMP-12", O)], "Needs Human Review", "人によるレビューの必要性"),
            f(21, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Pharmacy/Treatment Supplier's Special Dispensing Instructions", "薬剤部門 / 治療部門によ る 特別な 調剤指示"),
            f(22, "ST", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Give Per (Time Unit)", "時間あたりの与薬"),
            f(23, "ST", N, &[("OMP-01", N), ("OMP-02", O), ("OMP-11", N), ("OMP-12", O)], "Give Rate Amount", "与薬速度"),
            f(24, "CWE", N, &[("OMP-01", N), ("OMP-02", O), ("OMP-11", N), ("OMP-12", O)], "Give Rate Units", "与薬速度単位"),
            f(25, "NM", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Give Strength", "与薬力価"),
            f(26, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Give Strength Units", "与薬力価単位"),
            f(27, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Give Indication", "与薬指示"),
            f(28, "NM", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Dispense Package Size", "調剤パッケージサイズ"),
            f(29, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Dispense Package Size Unit", "調剤パッケージサイズの単位"),
            f(30, "ID", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Dispense Package Method", "調剤パッケージ方法"),
            f(31, "CWE", N, &[("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Supplementary Code", "補足コード"),
            f(32, "TS", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Original Order Date/Time", "当初のオーダ日/時間"),
            f(33, "NM", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Give Drug Strength Volume", "与薬力価量"),
            f(34, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Give Drug Strength Volume Units", "与薬力価量単位"),
            f(35, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Controlled Substance Schedule", "薬物コントロールスケジュール"),
            f(36, "ID", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Formulary Status", "処方集ステータス"),
            f(37, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Pharmaceutical Substance Alternative", "薬物代替え"),
            f(38, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Pharmacy of Most Recent Fill", "最新の与薬の薬剤部"),
            f(39, "NM", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Initial Dispense Amount", "最初の調剤量"),
            f(40, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Dispensing Pharmacy", "調剤薬剤部"),
            f(41, "XAD", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Dispensing Pharmacy Address", "調剤薬剤部の住所"),
            f(42, "PL", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Deliver-to Patient Location", "患者への配達場所"),
            f(43, "XAD", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Deliver-to Address", "配達先住所"),
            f(44, "ID", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Pharmacy Order Type", "薬剤オーダタイプ"),
        ] },
        SegmentRules { id: "RXR", fields: &[
            f(1, "CWE", N, &[("OMP-01", R), ("OMP-02", R), ("OMP-11", R), ("OMP-12", R)], "Route", "経路"),
            f(2, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Administration Site", "部位"),
            f(3, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Administration Device", "投薬装置"),
            f(4, "CWE", N, &[("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Administration Method", "投薬方法"),
            f(5, "CWE", N, &[("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Routing Instruction", "経路指示"),
            f(6, "CWE", N, &[("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Administration Site Modifier", "投薬現場モディファイア"),
        ] },
        SegmentRules { id: "SPM", fields: &[
            f(1, "SI", RE, &[], "Set ID – SPM", "セットID-SPM"),
            f(2, "EIP", RE, &[], "Specimen ID ", "検体ID"),
            f(3, "EIP", N, &[], "Specimen Parent IDs", "親検体ID"),
            f(4, "CWE", R, &[], "Specimen Type", "検体タイプ"),
            f(5, "CWE", N, &[], "Specimen Type Modifier", "検体タイプ修飾子"),
            f(6, "CWE", N, &[], "Specimen Additives", "検体添加物"),
            f(7, "CWE", N, &[], "Specimen Collection Method", "検体採取法"),
            f(8, "CWE", RE, &[], "Specimen Source Site", "検査材料・検査部位"),
            f(9, "CWE", N, &[], "Specimen Source Site Modifier", "検査材料修飾子"),
            f(10, "CWE", N, &[], "Specimen Collection Site", "検体採取部位"),
            f(11, "CWE", N, &[], "Specimen Role", "検体役割"),
            f(12, "CQ", N, &[], "Specimen Collection Amount", "検体採取量"),
            f(13, "NM", N, &[], "Grouped Specimen Count", "検体総数"),
            f(14, "ST", N, &[], "Specimen Description ", "検体記述"),
            f(15, "CWE", N, &[], "Specimen Handling Code", "検体取り扱いコード"),
            f(16, "CWE", N, &[], "Specimen Risk Code", "検体リスクコード"),
            f(17, "DR", RE, &[], "Specimen Collection Date/Time", "検体採取日時"),
            f(18, "TS", N, &[], "Specimen Received Date/Time", "検体受領日時"),
            f(19, "TS", N, &[], "Specimen Expiration Date/Time", "検体有効日時"),
            f(20, "ID", N, &[], "Specimen Availability", "検体有効性"),
            f(21, "CWE", N, &[], "Specimen Reject Reason", "検体拒否理由"),
            f(22, "CWE", N, &[], "Specimen Quality ", "検体品質"),
            f(23, "CWE", N, &[], "Specimen Appropriateness ", "検体適合性"),
            f(24, "CWE", N, &[], "Specimen Condition ", "検体条件"),
            f(25, "CQ", N, &[], "Specimen Current Quantity ", "検体量"),
            f(26, "NM", N, &[], "Number of Specimen Containers", "検体容器数"),
            f(27, "CWE", N, &[], "Container Type", "容器タイプ"),
            f(28, "CWE", N, &[], "Container Condition", "容器状態"),
            f(29, "CWE", N, &[], "Specimen Child Role", "子検体役割"),
        ] },
        SegmentRules { id: "TQ1", fields: &[
            f(1, "SI", N, &[("OMD", O), ("OMG-01", R), ("OMG-02", R), ("OMG-03", R), ("OMG-11", R), ("OMG-12", R), ("OMG-13", R), ("OML-01", R), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Set ID - TQ1", "セット ID - TQ1"),
            f(2, "CQ", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", O), ("OMG-03", O), ("OMG-11", N), ("OMG-12", O), ("OMG-13", O), ("OML-01", N), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Quantity", "数量"),
            f(3, "RPT", N, &[("OMD", O), ("OMG-01", N), ("OMG-02", O), ("OMG-03", O), ("OMG-11", N), ("OMG-12", O), ("OMG-13", O), ("OML-01", N), ("OMP-01", O), ("OMP-02", C), ("OMP-11", O), ("OMP-12", C)], "Repeat Pattern", "繰返しパターン"),
            f(4, "TM", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", O), ("OMG-03", O), ("OMG-11", N), ("OMG-12", O), ("OMG-13", O), ("OML-01", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Explicit Time", "明示的な時間"),
            f(5, "CQ", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", O), ("OMG-03", O), ("OMG-11", N), ("OMG-12", O), ("OMG-13", O), ("OML-01", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Relative Time and Units", "相対時間/単位"),
            f(6, "CQ", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", O), ("OMG-03", O), ("OMG-11", N), ("OMG-12", O), ("OMG-13", O), ("OML-01", N), ("OMP-01", O), ("OMP-02", N), ("OMP-11", O), ("OMP-12", N)], "Service Duration", "サービス期間"),
            f(7, "TS", N, &[("OMD", O), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", RE), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "Start date/time", "開始日時"),
            f(8, "TS", N, &[("OMD", N), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OMP-01", O), ("OMP-02", O), ("OMP-11", O), ("OMP-12", O)], "End date/time", "終了日時"),
            f(9, "CWE", N, &[("OMD", O), ("OMG-01", R), ("OMG-02", R), ("OMG-03", R), ("OMG-11", R), ("OMG-12", R), ("OMG-13", R), ("OML-01", RE), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Priority", "優先度"),
            f(10, "TX", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", O), ("OMG-03", O), ("OMG-11", N), ("OMG-12", O), ("OMG-13", O), ("OML-01", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Condition text", "条件テキスト"),
            f(11, "TX", N, &[("OMD", N), ("OMG-01", O), ("OMG-02", O), ("OMG-03", O), ("OMG-11", O), ("OMG-12", O), ("OMG-13", O), ("OML-01", O), ("OMP-01", O), ("OMP-02", C), ("OMP-11", O), ("OMP-12", C)], "Text instruction", "テキスト指令"),
            f(12, "ID", N, &[("OMD", C), ("OMG-01", C), ("OMG-02", O), ("OMG-03", O), ("OMG-11", C), ("OMG-12", O), ("OMG-13", O), ("OML-01", C), ("OMP-01", C), ("OMP-02", N), ("OMP-11", C), ("OMP-12", N)], "Conjunction", "連結"),
            f(13, "CQ", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", O), ("OMG-03", O), ("OMG-11", N), ("OMG-12", O), ("OMG-13", O), ("OML-01", N), ("OMP-01", N), ("OMP-02", N), ("OMP-11", N), ("OMP-12", N)], "Occurrence duration", "事象継続期間"),
            f(14, "NM", N, &[("OMD", N), ("OMG-01", N), ("OMG-02", O), ("OMG-03", O), ("OMG-11", N), ("OMG-12", O), ("OMG-13", O), ("OML-01", N), ("OMP-01", N), ("OMP-02", O), ("OMP-11", N), ("OMP-12", O)], "Total occurrence's", "事象総数"),
        ] },
        SegmentRules { id: "ZE1", fields: &[
            f(1, "SI", N, &[("OMG-11", O), ("OMG-12", R)], "", "セット ID－ZE1"),
            f(2, "IS", N, &[("OMG-11", R), ("OMG-12", R)], "", "制御コード  予定／実施"),
            f(3, "CWE", N, &[("OMG-11", R), ("OMG-12", R)], "", "手技"),
            f(4, "NM", N, &[("OMG-11", O), ("OMG-12", O)], "", "手技回数"),
            f(5, "CWE", N, &[("OMG-11", O), ("OMG-12", N)], "", "医事加算"),
            f(6, "JCC", N, &[("OMG-11", C), ("OMG-12", N)], "", "医療従事者種別"),
            f(7, "XCN", N, &[("OMG-11", O), ("OMG-12", N)], "", "医療従事者"),
            f(8, "IS", N, &[("OMG-11", C), ("OMG-12", N)], "", "使用物品種別"),
            f(9, "ZRD", N, &[("OMG-11", O), ("OMG-12", N)], "", "使用物品"),
            f(10, "XTN", N, &[("OMG-11", O), ("OMG-12", O)], "", "連絡先"),
            f(11, "ST", N, &[("OMG-11", O), ("OMG-12", O)], "", "実施フィールド"),
            f(12, "ST", N, &[("OMG-11", O), ("OMG-12", O)], "", "会計フィールド"),
        ] },
        SegmentRules { id: "ZE2", fields: &[
            f(1, "SI", O, &[], "Set ID", "セット ID－ZE2"),
            f(2, "CQ", O, &[], "Tube Voltage", "管電圧"),
            f(3, "CQ", O, &[], "Tube Current", "管電流"),
            f(4, "CQ", O, &[], "Distance", "距離"),
            f(5, "CQ", O, &[], "Time", "時間"),
            f(6, "NM", O, &[], "Number Of Exposure", "回数"),
            f(7, "ST", O, &[], "Exposure Comment Field", "撮影フィールド"),
        ] },
        SegmentRules { id: "ZPD", fields: &[
            f(1, "SI", O, &[], "Set ID", "セットID-ZPD"),
            f(2, "CWE", O, &[], "Dental Formula Information", "歯式情報"),
        ] },
        SegmentRules { id: "ZPR", fields: &[
            f(1, "CWE", O, &[], "Modifier Code(Prefix)", "修飾語管理番号（接頭語）"),
            f(2, "CWE", R, &[], "Disease Code", "病名管理番号"),
            f(3, "CWE", O, &[], "Modifire Code(Suffix)", "修飾語管理番号（接尾語）"),
            f(4, "CWE", O, &[], "Modifier Code for Exchange(Prefix)", "修飾語交換用コード（接頭語）"),
            f(5, "CWE", O, &[], "Disease Code for Exchange", "病名交換用コード"),
            f(6, "CWE", O, &[], "Modifier Code for Exchange(Suffix)", "修飾語交換用コード（接尾語）"),
            f(7, "ST", O, &[], "Comment", "コメント"),
        ] },
    ];

    /// HL7 data types, sorted by name: NHO's `str`/`num` primitives, or the component types.
    pub(super) static DATA_TYPES: &[(&str, DataTypeKind)] = &[
        ("AD", Composite(&["ST", "ST", "ST", "ST", "ST", "ID", "ID", "ST"])),
        ("AUI", Composite(&["ST", "DT", "ST"])),
        ("CE", Composite(&["ST", "ST", "ID", "ST", "ST", "ID"])),
        ("CNE", Composite(&["ST", "ST", "ID", "ST", "ST", "ID", "ST", "ST", "ST"])),
        ("CNN", Composite(&["ST", "ST", "ST", "ST", "ST", "ST", "IS", "IS", "IS", "ST", "ID"])),
        ("CP", Composite(&["MO", "ID", "NM", "NM", "CWE", "ID"])),
        ("CQ", Composite(&["NM", "CWE"])),
        ("CWE", Composite(&["ST", "ST", "ID", "ST", "ST", "ID", "ST", "ST", "ST"])),
        ("CX", Composite(&["ST", "ST", "ID", "HD", "ID", "HD", "DT", "DT", "CWE", "CWE"])),
        ("DLD", Composite(&["IS", "TS"])),
        ("DLN", Composite(&["ST", "IS", "DT"])),
        ("DR", Composite(&["TS", "TS"])),
        ("DT", Str),
        ("DTM", Str),
        ("EI", Composite(&["ST", "IS", "ST", "ID"])),
        ("EIP", Composite(&["EI", "EI"])),
        ("FC", Composite(&["IS", "TS"])),
        ("FN", Composite(&["ST", "ST", "ST", "ST", "ST"])),
        ("FT", Str),
        ("GTS", Str),
        ("HD", Composite(&["IS", "ST", "ID"])),
        ("ID", Str),
        ("IS", Str),
        ("JCC", Composite(&["IS", "IS", "TX"])),
        ("LA1", Composite(&["IS", "IS", "IS", "HD", "IS", "IS", "IS", "IS", "AD"])),
        ("LA2", Composite(&["IS", "IS", "IS", "HD", "IS", "IS", "IS", "IS", "ST", "ST", "ST", "ST", "ST", "ID", "ID", "ST"])),
        ("MO", Composite(&["NM", "ID"])),
        ("MOC", Composite(&["MO", "CWE"])),
        ("MSG", Composite(&["ID", "ID", "ID"])),
        ("NDL", Composite(&["CNN", "TS", "TS", "IS", "IS", "IS", "HD", "IS", "IS", "IS", "IS"])),
        ("NM", Num),
        ("OSD", Composite(&["ID", "ST", "IS", "ST", "IS", "ST", "NM", "ST", "ID", "ST", "ID"])),
        ("PL", Composite(&["IS", "IS", "IS", "HD", "IS", "IS", "IS", "IS", "ST", "EI", "HD"])),
        ("PRL", Composite(&["CWE", "ST", "TX"])),
        ("PT", Composite(&["ID", "ID"])),
        ("RI", Composite(&["IS", "ST"])),
        ("RPT", Composite(&["CWE", "ID", "NM", "NM", "NM", "IS", "ID", "ID", "NM", "IS", "GTS"])),
        ("SAD", Composite(&["ST", "ST", "ST"])),
        ("SI", Str),
        ("SPS", Composite(&["CWE", "CWE", "TX", "CWE", "CWE", "CWE", "CWE"])),
        ("ST", Str),
        ("TM", Str),
        ("TQ", Composite(&["CQ", "RI", "ST", "TS", "TS", "ST", "ST", "TX", "ID", "OSD", "CE", "NM"])),
        ("TS", Composite(&["DTM", "ID"])),
        ("TX", Str),
        ("VID", Composite(&["ID", "CWE", "CWE"])),
        ("XAD", Composite(&["SAD", "ST", "ST", "ST", "ST", "ID", "ID", "ST", "IS", "IS", "ID", "DR", "TS", "TS"])),
        ("XCN", Composite(&["ST", "FN", "ST", "ST", "ST", "ST", "IS", "IS", "HD", "ID", "ST", "ID", "ID", "HD", "ID", "CWE", "DR", "ID", "TS", "TS", "ST", "CWE", "CWE"])),
        ("XON", Composite(&["ST", "IS", "NM", "NM", "ID", "HD", "ID", "HD", "ID", "ST"])),
        ("XPN", Composite(&["FN", "ST", "ST", "ST", "ST", "IS", "ID", "ID", "CWE", "DR", "ID", "TS", "TS", "ST"])),
        ("XTN", Composite(&["ST", "ID", "ID", "ST", "NM", "NM", "NM", "NM", "ST", "ST", "ST", "ST"])),
        ("ZRD", Composite(&["ST", "ST", "IS", "NM", "CWE", "NM"])),
    ];

    /// MSH-9 `TYPE^EVENT` -> field whose first 8 characters name the date folder (sorted);
    /// `None` = undated, folder `-`.
    pub(super) static CARE_DATE: &[(&str, Option<(&str, usize)>)] = &[
        ("ADT^A01", Some(("PV1", 44))),
        ("ADT^A02", Some(("EVN", 6))),
        ("ADT^A03", Some(("PV1", 45))),
        ("ADT^A04", Some(("PV1", 44))),
        ("ADT^A08", None),
        ("ADT^A11", Some(("PV1", 44))),
        ("ADT^A12", Some(("EVN", 6))),
        ("ADT^A13", Some(("PV1", 45))),
        ("ADT^A14", Some(("PV2", 8))),
        ("ADT^A15", Some(("PV2", 8))),
        ("ADT^A16", Some(("PV2", 9))),
        ("ADT^A21", Some(("EVN", 6))),
        ("ADT^A22", Some(("EVN", 6))),
        ("ADT^A23", None),
        ("ADT^A25", Some(("PV2", 9))),
        ("ADT^A26", Some(("PV2", 8))),
        ("ADT^A27", Some(("PV2", 8))),
        ("ADT^A52", Some(("EVN", 6))),
        ("ADT^A53", Some(("PV2", 47))),
        ("ADT^A54", None),
        ("ADT^A55", None),
        ("ADT^A60", None),
        ("OMD^O03", Some(("ORC", 9))),
        ("OMG^O19", Some(("ORC", 9))),
        ("OMI^Z23", Some(("OBR", 7))),
        ("OML^O33", Some(("ORC", 9))),
        ("ORU^R01", Some(("OBR", 7))),
        ("OUL^R22", Some(("SPM", 17))),
        ("PPR^ZD1", None),
        ("RAS^O17", Some(("RXA", 3))),
        ("RDE^O11", Some(("ORC", 9))),
    ];

    /// MSH-9 `TYPE^EVENT` -> segment grammar (sorted). `Display` on a node gives back NHO's
    /// regular expression.
    pub(super) static SEGMENT_ORDER: &[(&str, Node)] = &[
        ("ADT^A01", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Star(&Seg("ROL")),
            Star(&Seg("NK1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("ROL")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
            Star(&Seg("AL1")),
            Star(&Seg("DG1")),
            Opt(&Seg("DRG")),
            Star(&Seq(&[Seg("PR1"), Star(&Seg("ROL"))])),
            Star(&Seg("GT1")),
            Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Star(&Seg("IN3")), Star(&Seg("ROL"))])),
            Opt(&Seg("ACC")),
            Opt(&Seg("UB1")),
            Opt(&Seg("UB2")),
            Opt(&Seg("PDA")),
        ])),
        ("ADT^A02", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Star(&Seg("ROL")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("ROL")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
            Opt(&Seg("PDA")),
        ])),
        ("ADT^A03", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Star(&Seg("ROL")),
            Star(&Seg("NK1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("ROL")),
            Star(&Seg("DB1")),
            Star(&Seg("AL1")),
            Star(&Seg("DG1")),
            Opt(&Seg("DRG")),
            Star(&Seq(&[Seg("PR1"), Star(&Seg("ROL"))])),
            Star(&Seg("OBX")),
            Star(&Seg("GT1")),
            Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Star(&Seg("IN3")), Star(&Seg("ROL"))])),
            Opt(&Seg("ACC")),
            Opt(&Seg("PDA")),
        ])),
        ("ADT^A04", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Star(&Seg("ROL")),
            Star(&Seg("NK1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("ROL")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
            Star(&Seg("AL1")),
            Opt(&Seg("DRG")),
            Star(&Seq(&[Seg("PR1"), Star(&Seg("ROL"))])),
            Star(&Seg("GT1")),
            Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Star(&Seg("IN3")), Star(&Seg("ROL"))])),
            Opt(&Seg("ACC")),
            Opt(&Seg("UB1")),
            Opt(&Seg("UB2")),
            Opt(&Seg("PDA")),
        ])),
        ("ADT^A08", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Star(&Seg("ROL")),
            Star(&Seg("NK1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("ROL")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
            Star(&Seg("AL1")),
            Star(&Seg("DG1")),
            Opt(&Seg("DRG")),
            Star(&Seq(&[Seg("PR1"), Star(&Seg("ROL"))])),
            Star(&Seg("GT1")),
            Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Star(&Seg("IN3")), Star(&Seg("ROL"))])),
            Opt(&Seg("ACC")),
            Opt(&Seg("UB1")),
            Opt(&Seg("UB2")),
            Opt(&Seg("PDA")),
        ])),
        ("ADT^A11", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
            Star(&Seg("DG1")),
        ])),
        ("ADT^A12", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
            Star(&Seg("DG1")),
        ])),
        ("ADT^A13", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Star(&Seg("ROL")),
            Star(&Seg("NK1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("ROL")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
            Star(&Seg("AL1")),
            Star(&Seg("DG1")),
            Opt(&Seg("DRG")),
            Star(&Seq(&[Seg("PR1"), Star(&Seg("ROL"))])),
            Star(&Seg("GT1")),
            Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Star(&Seg("IN3")), Star(&Seg("ROL"))])),
            Opt(&Seg("ACC")),
            Opt(&Seg("UB1")),
            Opt(&Seg("UB2")),
            Opt(&Seg("PDA")),
        ])),
        ("ADT^A14", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Star(&Seg("ROL")),
            Star(&Seg("NK1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("ROL")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
            Star(&Seg("AL1")),
            Star(&Seg("DG1")),
            Opt(&Seg("DRG")),
            Star(&Seq(&[Seg("PR1"), Star(&Seg("ROL"))])),
            Star(&Seg("GT1")),
            Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Star(&Seg("IN3")), Star(&Seg("ROL"))])),
            Opt(&Seg("ACC")),
            Opt(&Seg("UB1")),
            Opt(&Seg("UB2")),
        ])),
        ("ADT^A15", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Star(&Seg("ROL")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("ROL")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
            Star(&Seg("DG1")),
        ])),
        ("ADT^A16", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Star(&Seg("ROL")),
            Star(&Seg("NK1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("ROL")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
            Star(&Seg("AL1")),
            Star(&Seg("DG1")),
            Opt(&Seg("DRG")),
            Star(&Seq(&[Seg("PR1"), Star(&Seg("ROL"))])),
            Star(&Seg("GT1")),
            Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Star(&Seg("IN3")), Star(&Seg("ROL"))])),
            Opt(&Seg("ACC")),
        ])),
        ("ADT^A21", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
        ])),
        ("ADT^A22", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
        ])),
        ("ADT^A23", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
        ])),
        ("ADT^A25", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
        ])),
        ("ADT^A26", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
        ])),
        ("ADT^A27", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("DB1")),
            Star(&Seg("OBX")),
        ])),
        ("ADT^A52", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
        ])),
        ("ADT^A53", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
        ])),
        ("ADT^A54", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Star(&Seg("ROL")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
            Star(&Seg("ROL")),
        ])),
        ("ADT^A55", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Seg("PV1"),
            Opt(&Seg("PV2")),
        ])),
        ("ADT^A60", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("EVN"),
            Seg("PID"),
            Opt(&Seg("PV1")),
            Opt(&Seg("PV2")),
            Star(&Seg("IAM")),
        ])),
        ("OMD^O03", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Star(&Seg("NTE")),
            Opt(&Seq(&[
                Seg("PID"),
                Opt(&Seg("PD1")),
                Star(&Seg("NTE")),
                Opt(&Seq(&[Seg("PV1"), Star(&Seg("PV2"))])),
                Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Opt(&Seg("IN3"))])),
                Opt(&Seg("GT1")),
                Star(&Seg("AL1")),
            ])),
            Plus(&Seq(&[
                Seg("ORC"),
                Star(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                Opt(&Seq(&[
                    Plus(&Seg("ODS")),
                    Star(&Seg("NTE")),
                    Star(&Seq(&[Seg("OBX"), Star(&Seg("NTE"))])),
                ])),
            ])),
            Star(&Seq(&[
                Seg("ORC"),
                Star(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                Plus(&Seg("ODT")),
                Star(&Seg("NTE")),
            ])),
        ])),
        ("OMG^O19", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Star(&Seg("NTE")),
            Opt(&Seq(&[
                Seg("PID"),
                Opt(&Seg("PD1")),
                Star(&Seg("NTE")),
                Star(&Seg("NK1")),
                Opt(&Seq(&[Seg("PV1"), Opt(&Seg("PV2"))])),
                Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Opt(&Seg("IN3"))])),
                Opt(&Seg("GT1")),
                Star(&Seg("AL1")),
            ])),
            Plus(&Seq(&[
                Seg("ORC"),
                Plus(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                Seg("OBR"),
                Star(&Seg("NTE")),
                Opt(&Seg("CTD")),
                Star(&Seg("DG1")),
                Star(&Seq(&[Seg("OBX"), Star(&Seg("NTE"))])),
                Star(&Seq(&[Seg("SPM"), Star(&Seg("OBX")), Star(&Seq(&[Seg("SAC"), Star(&Seg("OBX"))]))])),
                Star(&Seq(&[
                    Opt(&Seq(&[Seg("PID"), Opt(&Seg("PD1"))])),
                    Opt(&Seq(&[Seg("PV1"), Opt(&Seg("PV2"))])),
                    Star(&Seg("AL1")),
                    Plus(&Seq(&[
                        Opt(&Seg("ORC")),
                        Seg("OBR"),
                        Star(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                        Star(&Seg("NTE")),
                        Opt(&Seg("CTD")),
                        Plus(&Seq(&[Seg("OBX"), Star(&Seg("NTE"))])),
                    ])),
                ])),
                Star(&Seg("FT1")),
                Star(&Seg("CT1")),
                Opt(&Seg("BLG")),
            ])),
        ])),
        ("OMI^Z23", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Star(&Seg("NTE")),
            Opt(&Seq(&[
                Seg("PID"),
                Opt(&Seg("PD1")),
                Star(&Seg("NTE")),
                Opt(&Seq(&[Seg("PV1"), Opt(&Seg("PV2"))])),
                Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Opt(&Seg("IN3"))])),
                Opt(&Seg("GT1")),
                Star(&Seg("AL1")),
            ])),
            Plus(&Seq(&[
                Seg("ORC"),
                Plus(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                Seg("OBR"),
                Star(&Seg("NTE")),
                Opt(&Seg("CTD")),
                Star(&Seg("DG1")),
                Star(&Seq(&[Seg("OBX"), Star(&Seg("NTE"))])),
                Star(&Seq(&[Seg("ZE1"), Star(&Seg("OBX")), Star(&Seg("ZE2"))])),
                Plus(&Seg("IPC")),
            ])),
        ])),
        ("OML^O33", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Star(&Seg("NTE")),
            Opt(&Seq(&[
                Seg("PID"),
                Opt(&Seg("PD1")),
                Star(&Seg("NTE")),
                Star(&Seg("NK1")),
                Opt(&Seq(&[Seg("PV1"), Opt(&Seg("PV2"))])),
                Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Opt(&Seg("IN3"))])),
                Opt(&Seg("GT1")),
                Star(&Seg("AL1")),
            ])),
            Plus(&Seq(&[
                Seg("SPM"),
                Star(&Seg("OBX")),
                Star(&Seg("SAC")),
                Plus(&Seq(&[
                    Seg("ORC"),
                    Star(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                    Opt(&Seq(&[
                        Seg("OBR"),
                        Opt(&Seg("TCD")),
                        Star(&Seg("NTE")),
                        Star(&Seg("DG1")),
                        Star(&Seq(&[Seg("OBX"), Opt(&Seg("TCD")), Star(&Seg("NTE"))])),
                        Star(&Seq(&[
                            Opt(&Seq(&[Seg("PID"), Opt(&Seg("PD1"))])),
                            Opt(&Seq(&[Seg("PV1"), Opt(&Seg("PV2"))])),
                            Star(&Seg("AL1")),
                            Plus(&Seq(&[
                                Opt(&Seg("ORC")),
                                Seg("OBR"),
                                Star(&Seg("NTE")),
                                Star(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                                Plus(&Seq(&[Seg("OBX"), Star(&Seg("NTE"))])),
                            ])),
                        ])),
                    ])),
                    Star(&Seg("FT1")),
                    Star(&Seg("CTI")),
                    Opt(&Seg("BLG")),
                ])),
            ])),
        ])),
        ("ORU^R01", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Plus(&Seq(&[
                Opt(&Seq(&[
                    Seg("PID"),
                    Opt(&Seg("PD1")),
                    Star(&Seg("NTE")),
                    Star(&Seg("NK1")),
                    Opt(&Seq(&[Seg("PV1"), Opt(&Seg("PV2"))])),
                ])),
                Plus(&Seq(&[
                    Opt(&Seg("ORC")),
                    Seg("OBR"),
                    Star(&Seg("NTE")),
                    Star(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                    Opt(&Seg("CTD")),
                    Star(&Seq(&[Seg("OBX"), Star(&Seg("NTE"))])),
                    Star(&Seg("FT1")),
                    Star(&Seg("CT1")),
                    Star(&Seq(&[Seg("SPM"), Star(&Seg("OBX"))])),
                ])),
            ])),
            Opt(&Seg("DSC")),
        ])),
        ("ORU^R30", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("PID"),
            Opt(&Seg("PD1")),
            Opt(&Seq(&[Seg("PV1"), Opt(&Seg("PV2"))])),
            Seg("ORC"),
            Seg("OBR"),
            Star(&Seg("NTE")),
            Star(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
            Plus(&Seq(&[Seg("OBX"), Star(&Seg("NTE"))])),
        ])),
        ("OUL^R22", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Opt(&Seg("NTE")),
            Opt(&Seq(&[Seg("PID"), Opt(&Seg("PD1")), Star(&Seg("NTE"))])),
            Opt(&Seq(&[Seg("PV1"), Opt(&Seg("PV2"))])),
            Plus(&Seq(&[
                Seg("SPM"),
                Star(&Seg("OBX")),
                Star(&Seq(&[Seg("SAC"), Opt(&Seg("INV"))])),
                Plus(&Seq(&[
                    Seg("OBR"),
                    Opt(&Seg("ORC")),
                    Star(&Seg("NTE")),
                    Star(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                    Star(&Seq(&[Seg("OBX"), Opt(&Seg("TCD")), Star(&Seg("SID")), Seg("NTE")])),
                    Star(&Seg("CTI")),
                ])),
            ])),
            Opt(&Seg("DSC")),
        ])),
        ("PPR^ZD1", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Seg("PID"),
            Opt(&Seq(&[Seg("PV1"), Opt(&Seg("PV2"))])),
            Plus(&Seq(&[
                Seg("PRB"),
                Opt(&Seg("ZPR")),
                Star(&Seg("ZPD")),
                Star(&Seg("NTE")),
                Star(&Seg("VAR")),
                Star(&Seq(&[Seg("ROL"), Star(&Seg("VAR"))])),
                Star(&Seq(&[Seg("PTH"), Star(&Seg("VAR"))])),
                Star(&Seg("ZI1")),
                Star(&Seq(&[Seg("OBX"), Star(&Seg("NTE"))])),
                Star(&Seq(&[
                    Seg("GOL"),
                    Star(&Seg("NTE")),
                    Star(&Seg("VAR")),
                    Star(&Seq(&[Seg("ROL"), Star(&Seg("VAR"))])),
                    Star(&Seq(&[Seg("OBX"), Star(&Seg("NTE"))])),
                ])),
                Star(&Seq(&[
                    Seg("ORC"),
                    Opt(&Seq(&[
                        Star(&Any),
                        Star(&Seg("NTE")),
                        Star(&Seg("VAR")),
                        Star(&Seq(&[Seg("OBX"), Star(&Seg("NTE")), Star(&Seg("VAR"))])),
                    ])),
                ])),
            ])),
        ])),
        ("RAS^O17", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Star(&Seg("NTE")),
            Opt(&Seq(&[
                Seg("PID"),
                Opt(&Seg("PD1")),
                Star(&Seg("NTE")),
                Star(&Seg("AL1")),
                Opt(&Seq(&[Seg("PV1"), Opt(&Seg("PV2"))])),
            ])),
            Plus(&Seq(&[
                Seg("ORC"),
                Star(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                Opt(&Seq(&[
                    Seg("RXO"),
                    Plus(&Seg("NTE")),
                    Plus(&Seg("RXR")),
                    Star(&Seq(&[Seg("RXC"), Star(&Seg("NTE"))])),
                ])),
                Opt(&Seq(&[
                    Seg("RXE"),
                    Star(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                    Plus(&Seg("RXR")),
                    Star(&Seg("RXC")),
                ])),
                Plus(&Seq(&[Plus(&Seg("RXA")), Seg("RXR"), Star(&Seq(&[Seg("OBX"), Star(&Seg("NTE"))]))])),
                Star(&Seg("CTI")),
            ])),
        ])),
        ("RDE^O11", Seq(&[
            Seg("MSH"),
            Star(&Seg("SFT")),
            Star(&Seg("NTE")),
            Opt(&Seq(&[
                Seg("PID"),
                Opt(&Seg("PD1")),
                Star(&Seg("NTE")),
                Opt(&Seq(&[Seg("PV1"), Opt(&Seg("PV2"))])),
                Star(&Seq(&[Seg("IN1"), Opt(&Seg("IN2")), Opt(&Seg("IN3"))])),
                Opt(&Seg("GT1")),
                Star(&Seg("AL1")),
            ])),
            Plus(&Seq(&[
                Seg("ORC"),
                Star(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                Opt(&Seq(&[
                    Seg("RXO"),
                    Star(&Seg("NTE")),
                    Plus(&Seg("RXR")),
                    Star(&Seq(&[Seg("RXC"), Star(&Seg("NTE"))])),
                ])),
                Seg("RXE"),
                Star(&Seg("NTE")),
                Plus(&Seq(&[Seg("TQ1"), Star(&Seg("TQ2"))])),
                Plus(&Seg("RXR")),
                Star(&Seg("RXC")),
                Star(&Seq(&[Seg("OBX"), Star(&Seg("NTE"))])),
                Star(&Seg("FT1")),
                Opt(&Seg("BLG")),
                Star(&Seg("CTI")),
            ])),
        ])),
    ];
}
// ---- END GENERATED ----

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Segment IDs of conformance file no. 22 (OML-11, OUL^R22), decoded with Python at dev time.
    const FILE_22: &[&str] = &[
        "MSH", "PID", "PV1", "SPM", "OBR", "ORC", "OBX", "OBX", "OBX",
    ];

    /// The head of synthetic fixture no. 2 (RAS^O17) and the start of its junk.
    const FILE_2_HEAD: &[&str] = &[
        "MSH", "PID", "PV1", "ORC", "RXA", "RXA", "RXR", "OBX", "TQ1", "AL1", "CTI", "DB1",
    ];

    fn ids(text: &str) -> Vec<&str> {
        text.split_whitespace().collect()
    }

    #[test]
    fn requirement_uses_hl7_numbering_and_overrides() {
        // MSH-1 is the separator and MSH-9 the message type, as in HL7; NHO's index 0 is gone.
        assert_eq!(
            field_rule("MSH", 1).map(|f| f.name),
            Some("Field Separator")
        );
        assert_eq!(field_type("MSH", 9), Some("MSG"));
        assert_eq!(field_type("MSH", 7), Some("TS"));
        assert_eq!(field_type("PID", 7), Some("TS"));
        assert_eq!(field_type("OBX", 5), Some(VARIES));
        assert_eq!(field_rule("MSH", 0), None);
        assert_eq!(field_type("ZI1", 1), None);
        assert_eq!(requirement("MSH", 9, "ADT-00"), Requirement::Required);
        assert_eq!(requirement("MSH", 8, "ADT-00"), Requirement::NotUsed);
        // OBX-2 (value type): R for radiology, C for labs, N by default.
        assert_eq!(requirement("OBX", 2, "OMG-13"), Requirement::Required);
        assert_eq!(requirement("OBX", 2, "OML-11"), Requirement::Conditional);
        assert_eq!(requirement("OBX", 2, "ADT-00"), Requirement::NotUsed);
        assert_eq!(
            requirement("SPM", 17, "OML-11"),
            Requirement::RequiredOrEmpty
        );
        // Unknown segment or field: nothing to break.
        assert_eq!(requirement("ZI1", 1, "PPR-01"), Requirement::Optional);
        assert_eq!(requirement("PID", 999, "ADT-00"), Requirement::Optional);
        assert_eq!(requirement("PID", 0, "ADT-00"), Requirement::Optional);
    }

    #[test]
    fn required_fields_iterates_r_only_in_order() {
        let pid: Vec<usize> = required_fields("PID", "OMG-13").map(|f| f.field).collect();
        assert_eq!(pid, [3, 5, 7, 8]);
        let msh: Vec<usize> = required_fields("MSH", "ADT-00").map(|f| f.field).collect();
        assert_eq!(msh, [1, 2, 7, 9, 10, 11, 12, 18]);
        let obx: Vec<usize> = required_fields("OBX", "OMG-13").map(|f| f.field).collect();
        assert_eq!(obx, [2, 3, 11]);
        assert_eq!(required_fields("OBX", "ADT-22").count(), 0);
        assert_eq!(required_fields("ZI1", "PPR-01").count(), 0);
    }

    #[test]
    fn data_types_and_care_dates() {
        assert!(is_numeric("NM"));
        assert!(!is_numeric("ST"));
        assert!(!is_numeric("CQ"));
        assert!(!is_numeric("nope"));
        assert_eq!(
            data_type("TS"),
            Some(DataTypeKind::Composite(&["DTM", "ID"]))
        );
        assert_eq!(data_type("DTM"), Some(DataTypeKind::Str));
        assert_eq!(care_date_field("ADT^A01"), Some(Some(("PV1", 44))));
        assert_eq!(care_date_field("ADT^A53"), Some(Some(("PV2", 47))));
        assert_eq!(care_date_field("PPR^ZD1"), Some(None));
        assert_eq!(care_date_field("OUL^R22"), Some(Some(("SPM", 17))));
        assert_eq!(care_date_field("ADT^A99"), None);
        assert_eq!(care_date_field(""), None);
    }

    #[test]
    fn requirement_codes_round_trip() {
        for r in [
            Requirement::Required,
            Requirement::RequiredOrEmpty,
            Requirement::Conditional,
            Requirement::Optional,
            Requirement::NotUsed,
        ] {
            assert_eq!(Requirement::from_code(r.code()), Some(r));
        }
        assert_eq!(Requirement::from_code("X"), None);
    }

    #[test]
    fn oul_r22_anchored_rejects_file_22_prefix_collapsed_accepts() {
        let g = segment_order("OUL^R22").expect("OUL^R22 grammar");
        // Anchored: the grammar wants an NTE after each OBX, so the second OBX (index 7) breaks.
        assert_eq!(g.check_full(FILE_22), Err(OrderMismatch { at: 7 }));
        assert!(!g.matches_full(FILE_22));
        // NHO: collapse OBX OBX OBX to one OBX, then MSH…ORC is an accepted prefix.
        assert!(g.matches_prefix_collapsed(FILE_22));
        // With the NTEs the anchored match accepts too.
        let with_nte = ids("MSH PID PV1 SPM OBR ORC OBX NTE OBX NTE OBX NTE");
        assert!(g.matches_full(&with_nte));
    }

    #[test]
    fn junk_after_a_valid_head_passes_only_nho_check() {
        let g = segment_order("RAS^O17").expect("RAS^O17 grammar");
        assert_eq!(g.check_full(FILE_2_HEAD), Err(OrderMismatch { at: 8 }));
        assert!(g.matches_prefix_collapsed(FILE_2_HEAD));
        assert!(g.matches_full(&FILE_2_HEAD[..8]));
    }

    #[test]
    fn mismatch_index_points_at_the_offender_or_the_end() {
        let g = segment_order("ADT^A08").expect("ADT^A08 grammar");
        assert_eq!(g.check_full(&ids("MSH EVN PID PV1")), Ok(()));
        // Ends before the mandatory PV1.
        assert_eq!(
            g.check_full(&ids("MSH EVN PID")),
            Err(OrderMismatch { at: 3 })
        );
        assert_eq!(
            g.check_prefix_collapsed(&ids("MSH EVN PID")),
            Err(OrderMismatch { at: 3 })
        );
        // PID before EVN.
        assert_eq!(
            g.check_full(&ids("MSH PID EVN PV1")),
            Err(OrderMismatch { at: 1 })
        );
        // Collapsed indices map back to the caller's list: the run of EVN starts at 1, the
        // offending PV1 (instead of PID) is at index 4.
        assert_eq!(
            g.check_prefix_collapsed(&ids("MSH EVN EVN EVN PV1 PID")),
            Err(OrderMismatch { at: 4 })
        );
        assert_eq!(
            g.check_full(&Vec::<&str>::new()),
            Err(OrderMismatch { at: 0 })
        );
        assert!(!g.matches_prefix_collapsed(&Vec::<String>::new()));
        // Owned strings work as well as &str.
        let owned: Vec<String> = ["MSH", "EVN", "PID", "PV1"].map(String::from).to_vec();
        assert!(g.matches_full(&owned));
    }

    static OPT_STAR_PLUS: Node = Node::Seq(&[
        Node::Seg("AAA"),
        Node::Opt(&Node::Seg("BBB")),
        Node::Star(&Node::Seq(&[
            Node::Seg("CCC"),
            Node::Opt(&Node::Seg("DDD")),
        ])),
        Node::Plus(&Node::Seg("EEE")),
    ]);

    #[test]
    fn optional_star_and_plus_groups() {
        let g = Grammar::compile("TEST", &OPT_STAR_PLUS);
        assert_eq!(g.to_string(), "^(AAA)(BBB)?((CCC)(DDD)?)*(EEE)+");
        for ok in [
            "AAA EEE",
            "AAA BBB EEE",
            "AAA CCC CCC DDD CCC EEE EEE",
            "AAA BBB CCC DDD EEE",
        ] {
            assert!(g.matches_full(&ids(ok)), "{ok}");
        }
        for bad in [
            "AAA",
            "AAA BBB BBB EEE",
            "AAA DDD EEE",
            "AAA CCC DDD DDD EEE",
            "AAA EEE BBB",
            "BBB EEE",
        ] {
            assert!(!g.matches_full(&ids(bad)), "{bad}");
        }
        // The prefix check ignores what follows an accepted prefix and merges repeats.
        assert!(g.matches_prefix_collapsed(&ids("AAA EEE BBB ZZZ")));
        assert!(g.matches_prefix_collapsed(&ids("AAA BBB BBB EEE")));
        assert!(!g.matches_prefix_collapsed(&ids("AAA DDD EEE")));
    }

    static ANY_TAIL: Node = Node::Seq(&[
        Node::Seg("AAA"),
        Node::Star(&Node::Seq(&[Node::Seg("ORC"), Node::Star(&Node::Any)])),
    ]);

    #[test]
    fn any_matches_any_run_of_segments() {
        let g = Grammar::compile("TEST", &ANY_TAIL);
        assert_eq!(g.to_string(), "^(AAA)((ORC).*)*");
        assert!(g.matches_full(&ids("AAA")));
        assert!(g.matches_full(&ids("AAA ORC")));
        assert!(g.matches_full(&ids("AAA ORC XYZ PID ORC QQQ")));
        assert!(!g.matches_full(&ids("AAA XYZ")));
    }

    /// `((AAA)*(AAA)*)*(BBB)` on AAA×n followed by a non-B is the textbook case that makes a
    /// backtracking matcher take exponential time.
    static NESTED_STARS: Node = Node::Seq(&[
        Node::Star(&Node::Seq(&[
            Node::Star(&Node::Seg("AAA")),
            Node::Star(&Node::Seg("AAA")),
        ])),
        Node::Seg("BBB"),
    ]);

    #[test]
    fn pathological_inputs_finish_quickly() {
        let started = Instant::now();
        let g = Grammar::compile("TEST", &NESTED_STARS);
        let mut long = vec!["AAA"; 20_000];
        long.push("CCC");
        assert_eq!(g.check_full(&long), Err(OrderMismatch { at: 20_000 }));
        long.pop();
        assert_eq!(g.check_full(&long), Err(OrderMismatch { at: 20_000 }));
        long.push("BBB");
        assert!(g.matches_full(&long));

        // A real grammar against a long junk file: OMG^O19 nests `+` and `*` groups.
        let omg = segment_order("OMG^O19").expect("OMG^O19 grammar");
        let mut junk = ids("MSH PID PV1 ORC TQ1 OBR");
        for _ in 0..5_000 {
            junk.extend(["OBX", "NTE", "ORC", "TQ1", "OBR"]);
        }
        assert!(omg.matches_full(&junk));
        junk.push("MSH");
        assert_eq!(
            omg.check_full(&junk),
            Err(OrderMismatch { at: junk.len() - 1 })
        );
        // Generous: an exponential matcher would not finish at all; a linear one takes
        // milliseconds even unoptimised on a busy machine.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn every_grammar_compiles_and_starts_with_msh() {
        let all: Vec<&Grammar> = segment_orders().collect();
        assert_eq!(all.len(), nho::SEGMENT_ORDER.len());
        assert!(
            all.windows(2)
                .all(|w| w[0].type_event() < w[1].type_event())
        );
        for g in all {
            assert!(g.to_string().starts_with("^(MSH)"), "{}", g.type_event());
            assert!(!g.matches_full(&ids("PID")), "{}", g.type_event());
            assert_eq!(
                segment_order(g.type_event()).map(Grammar::type_event),
                Some(g.type_event())
            );
        }
        assert!(segment_order("ADT^A99").is_none());
    }

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(nho::SEGMENTS.windows(2).all(|w| w[0].id < w[1].id));
        assert!(nho::DATA_TYPES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(nho::CARE_DATE.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(nho::SEGMENT_ORDER.windows(2).all(|w| w[0].0 < w[1].0));
        for seg in nho::SEGMENTS {
            for (i, f) in seg.fields.iter().enumerate() {
                assert_eq!(f.field, i + 1, "{}", seg.id);
                assert!(
                    f.by_data_type.windows(2).all(|w| w[0].0 < w[1].0),
                    "{}-{}",
                    seg.id,
                    f.field
                );
            }
        }
    }
}
