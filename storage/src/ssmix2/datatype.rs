//! SS-MIX2 data types (the folder and file-name token such as `OMP-01`) and the 36 standardized
//! (data type, HL7 event) combinations (`../shared/docs/ssmix2.md` §3).
//!
//! A data type alone does not fix the message (OMP-01 and OMP-02 both carry RDE^O11), and a
//! cancel is stored under the data type of what it cancels (ADT^A11 in `ADT-22`). Parsers
//! therefore dispatch on MSH-9 and use [`StandardKind`] only to check that MSH-9 fits the folder.

use std::fmt;
use std::str::FromStr;

/// One of the 26 standardized-storage data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum DataType {
    Adt00,
    Adt01,
    Adt12,
    Adt21,
    Adt22,
    Adt31,
    Adt32,
    Adt41,
    Adt42,
    Adt51,
    Adt52,
    Adt61,
    Ppr01,
    Omd,
    Omp01,
    Omp11,
    Omp02,
    Omp12,
    Oml01,
    Oml11,
    Omg01,
    Omg11,
    Omg02,
    Omg12,
    Omg03,
    Omg13,
}

/// The token of a data type that is not one of the 26.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a standardized SS-MIX2 data type")]
pub struct UnknownDataType;

impl DataType {
    pub const ALL: [DataType; 26] = [
        DataType::Adt00,
        DataType::Adt01,
        DataType::Adt12,
        DataType::Adt21,
        DataType::Adt22,
        DataType::Adt31,
        DataType::Adt32,
        DataType::Adt41,
        DataType::Adt42,
        DataType::Adt51,
        DataType::Adt52,
        DataType::Adt61,
        DataType::Ppr01,
        DataType::Omd,
        DataType::Omp01,
        DataType::Omp11,
        DataType::Omp02,
        DataType::Omp12,
        DataType::Oml01,
        DataType::Oml11,
        DataType::Omg01,
        DataType::Omg11,
        DataType::Omg02,
        DataType::Omg12,
        DataType::Omg03,
        DataType::Omg13,
    ];

    /// The token used in folder and file names.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Adt00 => "ADT-00",
            DataType::Adt01 => "ADT-01",
            DataType::Adt12 => "ADT-12",
            DataType::Adt21 => "ADT-21",
            DataType::Adt22 => "ADT-22",
            DataType::Adt31 => "ADT-31",
            DataType::Adt32 => "ADT-32",
            DataType::Adt41 => "ADT-41",
            DataType::Adt42 => "ADT-42",
            DataType::Adt51 => "ADT-51",
            DataType::Adt52 => "ADT-52",
            DataType::Adt61 => "ADT-61",
            DataType::Ppr01 => "PPR-01",
            DataType::Omd => "OMD",
            DataType::Omp01 => "OMP-01",
            DataType::Omp11 => "OMP-11",
            DataType::Omp02 => "OMP-02",
            DataType::Omp12 => "OMP-12",
            DataType::Oml01 => "OML-01",
            DataType::Oml11 => "OML-11",
            DataType::Omg01 => "OMG-01",
            DataType::Omg11 => "OMG-11",
            DataType::Omg02 => "OMG-02",
            DataType::Omg12 => "OMG-12",
            DataType::Omg03 => "OMG-03",
            DataType::Omg13 => "OMG-13",
        }
    }

    /// Whether files of this type live in the undated folder `-`.
    pub fn is_undated(self) -> bool {
        matches!(
            self,
            DataType::Adt00 | DataType::Adt01 | DataType::Adt61 | DataType::Ppr01
        )
    }

    /// Whether the type has no order, so its file names carry fifteen `9`s as order number.
    pub fn has_no_order(self) -> bool {
        self.as_str().starts_with("ADT") || self == DataType::Ppr01
    }

    /// The (data type, event) combinations stored under this type.
    pub fn kinds(self) -> impl Iterator<Item = StandardKind> {
        StandardKind::ALL
            .into_iter()
            .filter(move |k| k.data_type() == self)
    }
}

impl FromStr for DataType {
    type Err = UnknownDataType;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        DataType::ALL
            .into_iter()
            .find(|t| t.as_str() == token)
            .ok_or(UnknownDataType)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field of a segment, numbered as HL7 numbers them (`PV1-44`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldRef {
    pub segment: &'static str,
    pub field: usize,
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.segment, self.field)
    }
}

macro_rules! standard_kinds {
    ($($kind:ident => $dt:ident, $ty:literal, $ev:literal, $cancel:literal;)*) => {
        /// The 36 standardized (data type, MSH-9 event) combinations.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        pub enum StandardKind { $($kind,)* }

        impl StandardKind {
            pub const ALL: [StandardKind; 36] = [$(StandardKind::$kind,)*];

            pub fn data_type(self) -> DataType {
                match self { $(StandardKind::$kind => DataType::$dt,)* }
            }

            /// MSH-9.1 and MSH-9.2, e.g. `("ADT", "A08")`.
            pub fn message(self) -> (&'static str, &'static str) {
                match self { $(StandardKind::$kind => ($ty, $ev),)* }
            }

            /// Whether the event cancels or deletes what an earlier message stated.
            pub fn is_cancel(self) -> bool {
                match self { $(StandardKind::$kind => $cancel,)* }
            }
        }
    };
}

standard_kinds! {
    PatientUpdate => Adt00, "ADT", "A08", false;
    PatientDelete => Adt00, "ADT", "A23", false;
    AttendingChange => Adt01, "ADT", "A54", false;
    AttendingCancel => Adt01, "ADT", "A55", true;
    OutpatientRegistration => Adt12, "ADT", "A04", false;
    PlannedAdmission => Adt21, "ADT", "A14", false;
    PlannedAdmissionCancel => Adt21, "ADT", "A27", true;
    Admission => Adt22, "ADT", "A01", false;
    AdmissionCancel => Adt22, "ADT", "A11", true;
    LeaveOfAbsence => Adt31, "ADT", "A21", false;
    LeaveOfAbsenceCancel => Adt31, "ADT", "A52", true;
    ReturnFromLeave => Adt32, "ADT", "A22", false;
    ReturnFromLeaveCancel => Adt32, "ADT", "A53", true;
    PlannedTransfer => Adt41, "ADT", "A15", false;
    PlannedTransferCancel => Adt41, "ADT", "A26", true;
    Transfer => Adt42, "ADT", "A02", false;
    TransferCancel => Adt42, "ADT", "A12", true;
    PlannedDischarge => Adt51, "ADT", "A16", false;
    PlannedDischargeCancel => Adt51, "ADT", "A25", true;
    Discharge => Adt52, "ADT", "A03", false;
    DischargeCancel => Adt52, "ADT", "A13", true;
    Allergy => Adt61, "ADT", "A60", false;
    Diagnosis => Ppr01, "PPR", "ZD1", false;
    MealOrder => Omd, "OMD", "O03", false;
    PrescriptionOrder => Omp01, "RDE", "O11", false;
    PrescriptionAdministered => Omp11, "RAS", "O17", false;
    InjectionOrder => Omp02, "RDE", "O11", false;
    InjectionAdministered => Omp12, "RAS", "O17", false;
    SpecimenOrder => Oml01, "OML", "O33", false;
    SpecimenResult => Oml11, "OUL", "R22", false;
    RadiologyOrder => Omg01, "OMG", "O19", false;
    RadiologyPerformed => Omg11, "OMI", "Z23", false;
    EndoscopyOrder => Omg02, "OMG", "O19", false;
    EndoscopyPerformed => Omg12, "OMI", "Z23", false;
    PhysiologyOrder => Omg03, "OMG", "O19", false;
    PhysiologyResult => Omg13, "ORU", "R01", false;
}

impl StandardKind {
    /// The combination of a folder's data type and a message's MSH-9, if the standard has it.
    pub fn of(data_type: DataType, message_type: &str, event: &str) -> Option<StandardKind> {
        data_type
            .kinds()
            .find(|k| k.message() == (message_type, event))
    }

    /// The data types under which a message with this MSH-9 may be stored.
    pub fn data_types_for(message_type: &str, event: &str) -> impl Iterator<Item = DataType> {
        let (message_type, event) = (message_type.to_owned(), event.to_owned());
        StandardKind::ALL
            .into_iter()
            .filter(move |k| k.message() == (message_type.as_str(), event.as_str()))
            .map(StandardKind::data_type)
    }

    /// The field whose first eight characters name the date folder, or `None` for the kinds
    /// stored under `-` ([NHO-TT] `SSMIX_CAREDATE.json`, `../shared/docs/ssmix2.md` §2.4).
    pub fn care_date_field(self) -> Option<FieldRef> {
        let (segment, field) = match self.message() {
            ("ADT", "A04" | "A01" | "A11") => ("PV1", 44),
            ("ADT", "A14" | "A27" | "A15" | "A26") => ("PV2", 8),
            ("ADT", "A16" | "A25") => ("PV2", 9),
            ("ADT", "A03" | "A13") => ("PV1", 45),
            ("ADT", "A21" | "A52" | "A22" | "A02" | "A12") => ("EVN", 6),
            ("ADT", "A53") => ("PV2", 47),
            ("OMD" | "RDE" | "OML" | "OMG", _) => ("ORC", 9),
            ("RAS", _) => ("RXA", 3),
            ("OUL", _) => ("SPM", 17),
            ("OMI" | "ORU", _) => ("OBR", 7),
            _ => return None,
        };
        Some(FieldRef { segment, field })
    }
}

impl fmt::Display for StandardKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ty, ev) = self.message();
        write!(f, "{} {ty}^{ev}", self.data_type())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_36_distinct_kinds_over_26_types() {
        let mut pairs: Vec<_> = StandardKind::ALL
            .iter()
            .map(|k| (k.data_type(), k.message()))
            .collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 36);
        for dt in DataType::ALL {
            assert!(dt.kinds().count() >= 1, "{dt} has no kind");
            assert_eq!(dt.as_str().parse::<DataType>(), Ok(dt));
        }
        assert_eq!("ADT-99".parse::<DataType>(), Err(UnknownDataType));
    }

    #[test]
    fn undated_types_have_no_care_date_field() {
        for kind in StandardKind::ALL {
            let undated = kind.care_date_field().is_none();
            // ADT^A08/A23/A54/A55/A60 and PPR^ZD1 have no dating field; every other kind has.
            assert_eq!(undated, kind.data_type().is_undated(), "{kind}");
        }
    }

    #[test]
    fn one_message_type_serves_several_data_types() {
        let types: Vec<_> = StandardKind::data_types_for("RDE", "O11").collect();
        assert_eq!(types, [DataType::Omp01, DataType::Omp02]);
        assert_eq!(
            StandardKind::of(DataType::Adt22, "ADT", "A11"),
            Some(StandardKind::AdmissionCancel)
        );
        assert_eq!(StandardKind::of(DataType::Adt22, "ADT", "A08"), None);
        assert_eq!(
            StandardKind::AdmissionCancel
                .care_date_field()
                .map(|f| f.to_string()),
            Some("PV1-44".into())
        );
    }
}
