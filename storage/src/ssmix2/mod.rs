//! The SS-MIX2 standardized-storage format: paths and file names, the ISO-2022-JP codec, the HL7
//! v2.5 parser, typed clinical extraction and the validator.
//!
//! Order of work for one file (see `../shared/docs/ssmix2.md` §9): key it by its path, hash the
//! raw bytes, decode the whole message, split segments and fields, dispatch on MSH-9, validate.
pub mod check;
pub mod datatype;
pub mod extract;
pub mod hl7;
pub mod jis;
mod jis0208;
pub mod path;
pub mod rules;
