//! Sense parse + decode cost: what a completion path pays to read a CHECK CONDITION's sense
//! (normalise), and what a decoder pays to parse it fully and look up the key name, the
//! ASC/ASCQ text and the information field. Nothing here allocates.
//!
//! Run: `cargo bench -p unjam-scsi --bench sense`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use unjam_scsi::asc::{self, AdditionalSense};
use unjam_scsi::sense::{SenseData, SenseHeader};

/// MEDIUM ERROR, unrecovered read error at LBA 0x55870, actual retry count 3.
const FIXED: [u8; 18] = [
    0xf0, 0, 0x03, 0x00, 0x05, 0x58, 0x70, 0x0a, 0, 0, 0, 0, 0x11, 0x00, 0, 0x80, 0x00, 0x03,
];

/// ILLEGAL REQUEST, invalid field in CDB byte 2, with an information descriptor.
const DESCRIPTOR: [u8; 28] = [
    0x72, 0x05, 0x24, 0x00, 0, 0, 0, 0x14, // header
    0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0x00, 0x05, 0x58, 0x70, // information
    0x02, 0x06, 0, 0, 0xc0, 0x00, 0x02, 0, // sense key specific
];

/// Everything a decoder shows first: key name, ASC/ASCQ text, information.
fn decode(bytes: &[u8]) -> Option<(&'static str, &'static str, Option<u64>)> {
    let sense = SenseData::parse(bytes).ok()?;
    let text = match sense.additional_sense() {
        AdditionalSense::Standard { text, .. } => text,
        AdditionalSense::Range { range, .. } => range.text,
        _ => "",
    };
    Some((sense.key.name(), text, sense.information()))
}

fn benches(c: &mut Criterion) {
    c.bench_function("sense/normalize_fixed", |b| {
        b.iter(|| SenseHeader::normalize(black_box(&FIXED)))
    });
    c.bench_function("sense/parse_fixed", |b| {
        b.iter(|| SenseData::parse(black_box(&FIXED)))
    });
    c.bench_function("sense/parse_decode_fixed", |b| {
        b.iter(|| decode(black_box(&FIXED)))
    });
    c.bench_function("sense/parse_decode_descriptor", |b| {
        b.iter(|| decode(black_box(&DESCRIPTOR)))
    });
    c.bench_function("sense/asc_lookup", |b| {
        b.iter(|| asc::lookup(black_box(0x5d), black_box(0x1d)))
    });
}

criterion_group!(sense, benches);
criterion_main!(sense);
