//! unjam's sense decoder against Debian's `sg_decode_sense` (sg3-utils 1.46) on a corpus of
//! random sense buffers drawn from a fixed seed: both formats, every sense key, current and
//! deferred, every standard ASC/ASCQ row plus ranges, vendor and unassigned codes, with and
//! without a (valid or invalid) information field, and some truncated buffers.
//!
//! Compared for each buffer: the first line (format, current/deferred, sense key), the
//! additional-sense line, and the information field. Every disagreement must be explained
//! by a row of `docs/sense-allowlist.md`; a row that explains nothing fails the test too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Command, Stdio};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use unjam_scsi::asc;
use unjam_scsi::sense::{
    AtaStatusReturn, Descriptor, Descriptors, DirectAccessBlockDevice, FixedFields,
    ProgressIndication, SenseBody, SenseData, SenseHeader, SenseKey, SenseKeySpecificField,
    SenseReport,
};

/// The corpus seed; `UNJAM_SENSE_SEED=<n>` explores another corpus.
const SEED: u64 = 0x5e45_e5e4;
const CORPUS_SIZE: usize = 4096;
/// sg_decode_sense runs are split over this many shells running side by side.
const SHARDS: usize = 2;
const MARKER: &str = "@@@ case ";

#[test]
fn decoder_agrees_with_sg_decode_sense() {
    require_sg_decode_sense();
    let seed = std::env::var("UNJAM_SENSE_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(SEED);
    let corpus = corpus(seed);
    let theirs = run_sg_decode_sense(&corpus);
    let allow_list = AllowList::load();
    let mut used = vec![0usize; allow_list.rows.len()];
    let mut unexplained = Vec::new();
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (index, bytes) in corpus.iter().enumerate() {
        let sg_text = theirs.get(&index).map(String::as_str).unwrap_or_default();
        for difference in compare(bytes, sg_text) {
            *counts.entry(difference.field).or_default() += 1;
            match allow_list.explain(&difference) {
                Some(row) => used[row] += 1,
                None => unexplained.push(difference),
            }
        }
    }
    eprintln!(
        "compared {} buffers (seed {seed}) with sg_decode_sense; allow-listed differences: \
         {counts:?}",
        corpus.len()
    );
    let stale: Vec<&AllowRow> = (allow_list.rows.iter().zip(&used))
        .filter(|(_, count)| **count == 0)
        .map(|(row, _)| row)
        .collect();
    assert!(
        stale.is_empty(),
        "allow-list rows that explain nothing: {stale:#?}"
    );
    assert!(
        unexplained.is_empty(),
        "{} unexplained differences with sg_decode_sense for seed {seed} (replay with \
         UNJAM_SENSE_SEED={seed} cargo test -p unjam-scsi --test sense_vs_sg3; fix, or add a \
         row to docs/sense-allowlist.md); the first ones:\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .take(15)
            .map(Difference::describe)
            .collect::<String>()
    );
}

// ---- the corpus ------------------------------------------------------------------------

fn corpus(seed: u64) -> Vec<Vec<u8>> {
    let standard: Vec<(u8, u8)> = asc::standard_assignments()
        .map(|(a, q, _)| (a, q))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut corpus = Vec::with_capacity(CORPUS_SIZE);
    for index in 0..CORPUS_SIZE {
        let (asc, ascq) = match standard.get(index) {
            Some(&codes) => codes, // every standard row at least once
            None => random_codes(&mut rng, &standard),
        };
        let key = SenseKey::new(index as u8); // every key in turn
        let deferred = rng.gen_bool(0.5);
        let mut bytes = if rng.gen_bool(0.5) {
            fixed_buffer(&mut rng, key, asc, ascq, deferred)
        } else {
            descriptor_buffer(&mut rng, key, asc, ascq, deferred)
        };
        if rng.gen_bool(0.05) {
            truncate(&mut rng, &mut bytes);
        }
        corpus.push(bytes);
    }
    corpus
}

fn random_codes(rng: &mut ChaCha8Rng, standard: &[(u8, u8)]) -> (u8, u8) {
    match rng.gen_range(0..6) {
        0 => standard[rng.gen_range(0..standard.len())],
        1 => {
            let ranges = asc::range_assignments();
            let range = &ranges[rng.gen_range(0..ranges.len())];
            (range.asc, rng.gen_range(range.first_ascq..=range.last_ascq))
        }
        2 => (rng.gen_range(0x80..=0xff), rng.gen()),
        3 => (rng.gen_range(0x00..0x80), rng.gen_range(0x80..=0xff)),
        4 => (rng.gen_range(0x00..0x80), rng.gen_range(0x00..0x80)),
        _ => (rng.gen(), rng.gen()),
    }
}

fn fixed_buffer(rng: &mut ChaCha8Rng, key: SenseKey, asc: u8, ascq: u8, deferred: bool) -> Vec<u8> {
    let additional: Vec<u8> = (0..rng.gen_range(0..=8)).map(|_| rng.gen()).collect();
    let fixed = FixedFields {
        valid: rng.gen_bool(0.6),
        information: if rng.gen_bool(0.3) { 0 } else { rng.gen() },
        filemark: rng.gen_bool(0.1),
        end_of_medium: rng.gen_bool(0.1),
        incorrect_length: rng.gen_bool(0.1),
        command_specific: if rng.gen_bool(0.5) { 0 } else { rng.gen() },
        field_replaceable_unit: if rng.gen_bool(0.7) { 0 } else { rng.gen() },
        sense_key_specific: SenseKeySpecificField(rng.gen()),
        additional: &additional,
    };
    let sense = SenseData {
        deferred,
        key,
        asc,
        ascq,
        sdat_overflow: rng.gen_bool(0.05),
        body: SenseBody::Fixed(fixed),
    };
    sense
        .to_bytes()
        .expect("a fixed buffer of at most 26 bytes builds")
}

fn descriptor_buffer(
    rng: &mut ChaCha8Rng,
    key: SenseKey,
    asc: u8,
    ascq: u8,
    deferred: bool,
) -> Vec<u8> {
    let vendor_data: Vec<u8> = (0..rng.gen_range(0..=6)).map(|_| rng.gen()).collect();
    let mut list = Vec::new();
    for _ in 0..rng.gen_range(0..=4) {
        list.push(random_descriptor(rng, &vendor_data));
    }
    if rng.gen_bool(0.6) {
        let position = rng.gen_range(0..=list.len());
        let information = Descriptor::Information {
            valid: rng.gen_bool(0.8),
            information: if rng.gen_bool(0.5) {
                rng.gen::<u32>().into()
            } else {
                rng.gen()
            },
        };
        list.insert(position, information);
    }
    let sense = SenseData {
        deferred,
        key,
        asc,
        ascq,
        sdat_overflow: rng.gen_bool(0.05),
        body: SenseBody::Descriptor(Descriptors::from_slice(&list)),
    };
    let mut bytes = sense.to_bytes().expect("at most 5 small descriptors build");
    if rng.gen_bool(0.05) {
        bytes[0] |= 0x80; // reserved in descriptor format; both decoders ignore it
    }
    bytes
}

fn random_descriptor<'a>(rng: &mut ChaCha8Rng, vendor_data: &'a [u8]) -> Descriptor<'a> {
    match rng.gen_range(0..11) {
        0 => Descriptor::CommandSpecific {
            information: rng.gen(),
        },
        1 => Descriptor::SenseKeySpecific(SenseKeySpecificField(rng.gen())),
        2 => Descriptor::FieldReplaceableUnit { code: rng.gen() },
        3 => Descriptor::StreamCommands {
            filemark: rng.gen(),
            end_of_medium: rng.gen(),
            incorrect_length: rng.gen(),
        },
        4 => Descriptor::BlockCommands {
            incorrect_length: rng.gen(),
        },
        5 => Descriptor::ProgressIndication {
            key: SenseKey::new(rng.gen()),
            asc: rng.gen(),
            ascq: rng.gen(),
            progress: ProgressIndication(rng.gen()),
        },
        6 => Descriptor::AtaStatusReturn(AtaStatusReturn {
            extend: rng.gen(),
            error: rng.gen(),
            count: rng.gen(),
            lba: rng.gen_range(0..1u64 << 48),
            device: rng.gen(),
            status: rng.gen(),
        }),
        7 => Descriptor::DirectAccessBlockDevice(DirectAccessBlockDevice {
            valid: rng.gen(),
            incorrect_length: rng.gen(),
            sense_key_specific: SenseKeySpecificField(rng.gen()),
            field_replaceable_unit: rng.gen(),
            information: rng.gen(),
            command_specific: rng.gen(),
        }),
        8 => Descriptor::OsdObjectIdentification {
            not_initiated_functions: rng.gen(),
            completed_functions: rng.gen(),
            partition_id: rng.gen(),
            object_id: rng.gen(),
        },
        9 => Descriptor::Other {
            kind: rng.gen_range(0x10..0x80), // reserved types
            data: vendor_data,
        },
        _ => Descriptor::Other {
            kind: rng.gen_range(0x80..=0xff),
            data: vendor_data,
        },
    }
}

/// Cuts the buffer, or shrinks its additional length, as transports and devices do.
fn truncate(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) {
    if rng.gen_bool(0.5) {
        let length = rng.gen_range(1..bytes.len());
        bytes.truncate(length);
    } else if let Some(additional) = bytes.get_mut(7) {
        *additional = rng.gen_range(0..=*additional);
    }
}

// ---- running sg_decode_sense -----------------------------------------------------------

fn require_sg_decode_sense() {
    let found = Command::new("sg_decode_sense")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        found,
        "sg_decode_sense is not installed: run scripts/install-test-deps.sh \
         (Debian package sg3-utils; CI installs it)"
    );
}

/// Runs sg_decode_sense once per buffer, from a few shells reading generated scripts (one
/// process per buffer is unavoidable; one shell per shard keeps the spawning cheap).
fn run_sg_decode_sense(corpus: &[Vec<u8>]) -> BTreeMap<usize, String> {
    let shard_size = corpus.len().div_ceil(SHARDS);
    let scripts: Vec<String> = corpus
        .chunks(shard_size)
        .enumerate()
        .map(|(shard, buffers)| {
            let mut script = String::new();
            for (offset, bytes) in buffers.iter().enumerate() {
                let index = shard * shard_size + offset;
                writeln!(script, "echo '{MARKER}{index}'").ok();
                writeln!(script, "sg_decode_sense {} 2>&1", hex(bytes)).ok();
            }
            script
        })
        .collect();
    let outputs: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = scripts
            .iter()
            .enumerate()
            .map(|(shard, script)| scope.spawn(move || run_shell(shard, script)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("shard thread"))
            .collect()
    });
    let mut by_case = BTreeMap::new();
    for output in &outputs {
        for block in output.split(MARKER).filter(|block| !block.is_empty()) {
            let (index, text) = block.split_once('\n').unwrap_or((block, ""));
            let index: usize = index.trim().parse().expect("case number after the marker");
            by_case.insert(index, text.to_string());
        }
    }
    assert_eq!(
        by_case.len(),
        corpus.len(),
        "sg_decode_sense output for every case"
    );
    by_case
}

/// Runs a script from a file (writing it to the shell's stdin while its output fills the
/// other pipe would deadlock) and returns its standard output.
fn run_shell(shard: usize, script: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "unjam-sense-vs-sg3-{}-{shard}.sh",
        std::process::id()
    ));
    std::fs::write(&path, script).expect("write the shard script");
    let output = Command::new("sh").arg(&path).stdin(Stdio::null()).output();
    std::fs::remove_file(&path).ok();
    let output = output.expect("run sh");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x} ")).collect()
}

// ---- comparing -------------------------------------------------------------------------

/// The three things compared, taken from either program's text the same way.
#[derive(Debug, PartialEq)]
struct Decoded {
    header: Option<String>,
    additional_sense: Option<String>,
    information: Option<u64>,
}

fn extract(text: &str) -> Decoded {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let additional_sense = lines
        .iter()
        .skip(1)
        .take(2)
        .find(|line| {
            line.starts_with("Additional sense: ")
                || line.starts_with("ASC=")
                || line.starts_with("vendor specific ASC=")
        })
        .map(|line| line.to_string());
    Decoded {
        header: lines.first().map(|line| line.to_string()),
        additional_sense,
        information: lines.iter().find_map(|line| information_in(line)),
    }
}

/// `  Info fld=0x55870 [350320]` (fixed, VALID set) or
/// `  Descriptor type: Information: 0x0000000000001234` (descriptor, VALID set).
fn information_in(line: &str) -> Option<u64> {
    let digits = line
        .strip_prefix("  Info fld=0x")
        .or_else(|| line.strip_prefix("  Descriptor type: Information: 0x"))?;
    let digits = digits.split(' ').next()?;
    u64::from_str_radix(digits, 16).ok()
}

#[derive(Debug)]
struct Difference {
    field: &'static str,
    format: &'static str,
    asc: u8,
    ascq: u8,
    bytes: String,
    ours: String,
    theirs: String,
}

impl Difference {
    fn describe(&self) -> String {
        format!(
            "  {} ({}, {:02x}/{:02x}) for {}\n    unjam:           {}\n    sg_decode_sense: {}\n",
            self.field, self.format, self.asc, self.ascq, self.bytes, self.ours, self.theirs
        )
    }
}

fn compare(bytes: &[u8], sg_text: &str) -> Vec<Difference> {
    let report = SenseReport::new(bytes).to_string();
    let ours = extract(&report);
    let theirs = extract(sg_text);
    let header = SenseHeader::normalize(bytes).unwrap_or_default();
    let parsed_information = SenseData::parse(bytes).ok().and_then(|s| s.information());
    let mut differences = Vec::new();
    let mut differ = |field: &'static str, ours: String, theirs: String| {
        differences.push(Difference {
            field,
            format: if header.is_descriptor() {
                "descriptor"
            } else {
                "fixed"
            },
            asc: header.asc,
            ascq: header.ascq,
            bytes: hex(bytes),
            ours,
            theirs,
        });
    };
    if ours.header != theirs.header {
        differ(
            "header",
            format!("{:?}", ours.header),
            format!("{:?}", theirs.header),
        );
    }
    if ours.additional_sense != theirs.additional_sense {
        let (ours, theirs) = (ours.additional_sense, theirs.additional_sense);
        differ(
            "additional_sense",
            format!("{ours:?}"),
            format!("{theirs:?}"),
        );
    }
    if ours.information != theirs.information {
        differ(
            "information",
            format!("{:?}", ours.information),
            format!("{:?}", theirs.information),
        );
    } else if SenseData::parse(bytes).is_ok() && parsed_information != theirs.information {
        let (ours, theirs) = (parsed_information, theirs.information);
        differ(
            "information",
            format!("parsed {ours:?}"),
            format!("{theirs:?}"),
        );
    }
    differences
}

// ---- the allow-list --------------------------------------------------------------------

/// The rows of the table in `docs/sense-allowlist.md`:
/// `| field | format | codes | reason |`, codes as `aa/qq` with `*` for any byte.
struct AllowList {
    rows: Vec<AllowRow>,
}

#[derive(Debug)]
#[allow(dead_code)] // `reason` is read by people (and printed by Debug for stale rows).
struct AllowRow {
    field: String,
    format: String,
    asc: Option<u8>,
    ascq: Option<u8>,
    reason: String,
}

impl AllowList {
    fn load() -> AllowList {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/sense-allowlist.md");
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("cannot read {path}: {error}"));
        AllowList::parse(&text)
    }

    fn parse(text: &str) -> AllowList {
        let rows = text
            .lines()
            .filter(|line| line.starts_with('|'))
            .map(|line| {
                line.trim_matches('|')
                    .split('|')
                    .map(str::trim)
                    .collect::<Vec<_>>()
            })
            .filter(|cells| cells.len() == 4)
            .filter(|cells| cells[0] != "field" && !cells[0].starts_with('-'))
            .map(|cells| {
                let (asc, ascq) = cells[2].split_once('/').expect("codes as aa/qq");
                AllowRow {
                    field: cells[0].to_string(),
                    format: cells[1].to_string(),
                    asc: u8::from_str_radix(asc, 16).ok(),
                    ascq: u8::from_str_radix(ascq, 16).ok(),
                    reason: cells[3].to_string(),
                }
            })
            .collect();
        AllowList { rows }
    }

    fn explain(&self, difference: &Difference) -> Option<usize> {
        self.rows.iter().position(|row| {
            row.field == difference.field
                && (row.format == "*" || row.format == difference.format)
                && row.asc.is_none_or(|asc| asc == difference.asc)
                && row.ascq.is_none_or(|ascq| ascq == difference.ascq)
        })
    }
}

#[test]
fn allow_list_rows_match_by_field_format_and_codes() {
    let list = AllowList::parse(
        "intro\n| field | format | codes | reason |\n|---|---|---|---|\n\
         | additional_sense | fixed | 5d/* | example |\n| information | * | */1d | example |\n",
    );
    assert_eq!(list.rows.len(), 2);
    let difference = |field, format, asc, ascq| Difference {
        field,
        format,
        asc,
        ascq,
        bytes: String::new(),
        ours: String::new(),
        theirs: String::new(),
    };
    assert_eq!(
        list.explain(&difference("additional_sense", "fixed", 0x5d, 0x10)),
        Some(0)
    );
    assert_eq!(
        list.explain(&difference("additional_sense", "descriptor", 0x5d, 0x10)),
        None
    );
    assert_eq!(
        list.explain(&difference("information", "descriptor", 0x00, 0x1d)),
        Some(1)
    );
    assert_eq!(
        list.explain(&difference("information", "fixed", 0x00, 0x1e)),
        None
    );
    assert_eq!(
        list.explain(&difference("header", "fixed", 0x5d, 0x10)),
        None
    );
}
