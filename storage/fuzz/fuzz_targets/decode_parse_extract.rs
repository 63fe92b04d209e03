//! Arbitrary bytes through everything a file from a hospital system meets: the ISO-2022-JP
//! decoder, the HL7 parser, typed extraction and the validator. Nothing may panic.
#![no_main]

use kizuna_storage::ssmix2::{check, extract, hl7, jis};
use libfuzzer_sys::fuzz_target;

const PATH: [&str; 6] = [
    "999",
    "901",
    "9999013",
    "20111220",
    "OML-11",
    "9999013_20111220_OML-11_000000011000354_20111220103059000_01_1",
];

fuzz_target!(|bytes: &[u8]| {
    if let Ok(decoded) = jis::decode(bytes) {
        if let Ok(message) = hl7::Message::parse(&decoded.text) {
            let _ = extract::extract(&message);
            for segment in message.segments() {
                for n in 0..segment.field_count() {
                    let field = segment.field(n);
                    for rep in field.repetitions() {
                        let _ = rep.component(1).subcomponent(2).text();
                    }
                }
            }
        }
    }
    let _ = check::check_file("fuzz", &PATH, bytes);
});
