//! Fuzz target `sense`: arbitrary bytes through every sense entry point (kernel-exact
//! normalisation, the information field, the full parser, the builder and the report).
//! Besides "never panics" it checks two invariants on every input that parses:
//! re-building gives bytes that parse to the same value, and the full parser agrees with
//! the kernel-exact normalisation on key, ASC and ASCQ.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unjam_scsi::sense::{information, SenseData, SenseHeader, SenseReport};

fuzz_target!(|data: &[u8]| {
    let header = SenseHeader::normalize(data);
    let _ = information(data);
    let _ = SenseReport::new(data).to_string();
    if let Ok((partial, _)) = SenseData::parse_partial(data) {
        let _ = partial.additional_sense().to_string();
        let _ = (partial.sense_key_specific(), partial.stream_flags());
    }
    let Ok(sense) = SenseData::parse(data) else {
        return;
    };
    let rebuilt = sense.to_bytes().expect("parsed sense data builds");
    assert_eq!(SenseData::parse(&rebuilt), Ok(sense));
    let header = header.expect("parsed sense data normalises");
    assert_eq!(header.key, sense.key);
    assert_eq!((header.asc, header.ascq), (sense.asc, sense.ascq));
    assert_eq!(header.is_deferred(), sense.deferred);
});
