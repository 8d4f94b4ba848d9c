//! Commands per second through submit → dispatch → complete → disposition → finish with
//! the null transport, at queue depth 1 and 32 (one core). `unjam bench` runs the same loop.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use unjam_core::buffers::Cdb;
use unjam_core::config::{DeviceConfig, HostConfig, Personality};
use unjam_core::harness::run_null_bench;
use unjam_core::topology::DeviceId;
use unjam_core::{MidLayer, Request};

const COMMANDS: u64 = 100_000;

fn setup(queue_depth: u32) -> (MidLayer, DeviceId, Request) {
    let mut mid = MidLayer::with_capacity(queue_depth as usize * 2);
    let mut host = HostConfig::new(0, Personality::Generic);
    host.can_queue = queue_depth;
    let host = mid.add_host(host);
    let mut device = DeviceConfig::disk(0, 0, 0);
    device.queue_depth = queue_depth;
    let disk = mid.add_device(host, device).expect("host exists");
    let mut request = Request::new(
        Cdb::from_slice(&[0x28, 0, 0, 0, 0, 0x10, 0, 0, 8, 0]).expect("cdb"),
        0,
    );
    request.data_len = 4096;
    run_null_bench(
        &mut mid,
        disk,
        request,
        u64::from(queue_depth) * 16,
        queue_depth,
    );
    (mid, disk, request)
}

fn null_transport(c: &mut Criterion) {
    let mut group = c.benchmark_group("null_transport");
    group.throughput(Throughput::Elements(COMMANDS));
    for queue_depth in [1u32, 32] {
        group.bench_function(format!("qd{queue_depth}"), |b| {
            b.iter_batched_ref(
                || setup(queue_depth),
                |(mid, disk, request)| run_null_bench(mid, *disk, *request, COMMANDS, queue_depth),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, null_transport);
criterion_main!(benches);
