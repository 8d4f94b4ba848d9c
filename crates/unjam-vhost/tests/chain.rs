//! Descriptor chains from a guest's ring (virtio-queue's mock split queue in real guest
//! memory): a well-formed request is taken whole; a malformed one (outside guest memory,
//! too long) is an error value for that chain, never a panic, and the device answers the
//! request it becomes with an error.

use unjam_scsi::virtio::Response;
use unjam_sim::scenario::Scenario;
use unjam_vhost::chain::{take, ChainError, MAX_REGIONS, MAX_WRITABLE_BYTES};
use unjam_vhost::device::{Device, Incoming};
use unjam_vhost::wire::{COMMAND_HEADER_LEN, RESPONSE_HEADER_LEN};
use virtio_bindings::bindings::virtio_ring::VRING_DESC_F_WRITE;
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const MEMORY_BYTES: usize = 0x400_0000;
const HEADER_AT: u64 = 0x10_0000;
const ANSWER_AT: u64 = 0x20_0000;

fn memory() -> GuestMemoryMmap<()> {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEMORY_BYTES)])
        .unwrap_or_else(|e| panic!("{e}"))
}

fn readable(addr: u64, len: u32) -> RawDescriptor {
    RawDescriptor::from(SplitDescriptor::new(addr, len, 0, 0))
}

fn writable(addr: u64, len: u32) -> RawDescriptor {
    RawDescriptor::from(SplitDescriptor::new(
        addr,
        len,
        VRING_DESC_F_WRITE as u16,
        0,
    ))
}

/// A READ(10) of one block at LBA 0, LUN 0 of target 0.
fn read_header() -> Vec<u8> {
    let mut header = vec![0u8; COMMAND_HEADER_LEN];
    header[..4].copy_from_slice(&[1, 0, 0x40, 0]);
    header[8] = 7;
    header[19] = 0x28;
    header[19 + 8] = 1;
    header
}

#[test]
fn a_well_formed_request_is_taken_whole() {
    let memory = memory();
    memory
        .write_slice(&read_header(), GuestAddress(HEADER_AT))
        .unwrap_or_else(|e| panic!("{e}"));
    let queue = MockSplitQueue::new(&memory, 16);
    let chain = queue
        .build_desc_chain(&[
            readable(HEADER_AT, COMMAND_HEADER_LEN as u32),
            writable(ANSWER_AT, RESPONSE_HEADER_LEN as u32),
            writable(ANSWER_AT + 0x1000, 512),
        ])
        .unwrap_or_else(|e| panic!("{e:?}"));
    let taken = take(chain).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(taken.readable, read_header());
    assert_eq!(taken.writable.len(), 2);
    assert_eq!(taken.writable_len(), RESPONSE_HEADER_LEN + 512);
}

#[test]
fn malformed_chains_are_errors_not_panics() {
    let outside = MEMORY_BYTES as u64 + 0x1000;
    let cases: [(&[RawDescriptor], ChainError); 3] = [
        (
            &[readable(outside, 64), writable(ANSWER_AT, 108)],
            ChainError::OutsideMemory(outside),
        ),
        (
            &[readable(HEADER_AT, 51), writable(outside, 108)],
            ChainError::OutsideMemory(outside),
        ),
        (
            &[
                readable(HEADER_AT, 51),
                writable(ANSWER_AT, MAX_WRITABLE_BYTES as u32),
                writable(ANSWER_AT, 4096),
            ],
            ChainError::WritableTooLong,
        ),
    ];
    for (descriptors, expected) in cases {
        let memory = memory();
        let queue = MockSplitQueue::new(&memory, 16);
        let chain = queue
            .build_desc_chain(descriptors)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(take(chain), Err(expected.clone()), "{expected}");
    }
    let memory = memory();
    let queue = MockSplitQueue::new(&memory, 2048);
    let mut many = vec![readable(HEADER_AT, 51)];
    many.extend((0..=MAX_REGIONS as u64).map(|i| writable(ANSWER_AT + i * 16, 8)));
    let chain = queue
        .build_desc_chain(&many)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(take(chain), Err(ChainError::TooManyDescriptors));
    // What the backend hands the device for such a chain: no bytes, no room. The device
    // answers it (nothing can be written back) and goes on serving.
    let scenario = Scenario::from_toml(
        "[target]\npower_on_unit_attention = false\n[[host]]\npersonality = \"virtio_scsi\"\nluns = 1\n",
        "t.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut device: Device<u32> = Device::new(&scenario, None).unwrap_or_else(|e| panic!("{e}"));
    let done = device.command(
        0,
        Incoming {
            token: 1,
            readable: Vec::new(),
            writable_len: 0,
        },
    );
    assert_eq!(done.len(), 1);
    assert!(done[0].bytes.is_empty());
    let done = device.command(
        0,
        Incoming {
            token: 2,
            readable: Vec::new(),
            writable_len: RESPONSE_HEADER_LEN,
        },
    );
    assert_eq!(Response(done[0].bytes[11]), Response::FAILURE);
    assert_eq!(device.counters().malformed, 2);
}
