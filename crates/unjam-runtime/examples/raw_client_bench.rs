//! The baseline for `scripts/bench-iscsi.sh`: the same reads as `unjam bench URL` sent with
//! the iSCSI client alone — no core, no engine — so the script can state what the core and
//! the runtime cost per I/O. Each worker hands its last read buffer back
//! (`IscsiClient::execute_into`), as `unjam bench` does, and cuts its CDBs from a shared
//! 4 KiB chunk, as the runtime does (no allocation per I/O that `unjam bench` does not make).
//! Each I/O is measured as `unjam bench` measures it: the clock read at its start and its
//! end, and the latency recorded under the shared lock in `unjam bench`'s own recorder (the
//! same source file), so the difference of the two is the core's and the runtime's alone.
//! Not a tool: `unjam bench` is.
//!
//!     cargo run --release -p unjam-runtime --example raw_client_bench -- URL randread 4096 32 10
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand::{Rng, SeedableRng};
use unjam_iscsi::client::{ClientConfig, IscsiClient};
use unjam_iscsi::pdu::TaskAttribute;
use unjam_iscsi::session::{DataDirection, TaskRequest};
use unjam_iscsi::url::IscsiUrl;

/// `unjam bench`'s recorder, compiled from its source so both benches pay the same per I/O.
#[allow(dead_code)]
#[path = "../../unjam/src/cmd/bench_iscsi/stats.rs"]
mod stats;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: raw_client_bench URL read|randread BYTES QD SECONDS BLOCKS";
    let [_, url, pattern, bytes, qd, seconds, blocks] = &args[..] else {
        return Err(usage.into());
    };
    let (bytes, qd, seconds, blocks): (u32, u64, u64, u64) = (
        bytes.parse()?,
        qd.parse()?,
        seconds.parse()?,
        blocks.parse()?,
    );
    let client = IscsiClient::connect(&IscsiUrl::parse(url)?, ClientConfig::default()).await?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let slots = blocks / u64::from(bytes / 512);
    let random = pattern == "randread";
    let mut recorder = stats::Recorder::new()?;
    // No ramp: every I/O is counted, as `unjam bench` without `--ramp`.
    recorder.counting = true;
    let recorder = Arc::new(Mutex::new(recorder));
    let workers: Vec<_> = (0..qd)
        .map(|worker| {
            let client = client.clone();
            let recorder = Arc::clone(&recorder);
            tokio::spawn(async move {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(worker);
                let (mut slot, mut done) = (worker * slots / qd, 0u64);
                let mut buffer = BytesMut::new();
                let mut cdbs = BytesMut::new();
                let mut now = Instant::now();
                while now < deadline {
                    slot = if random {
                        rng.gen_range(0..slots)
                    } else {
                        (slot + 1) % slots
                    };
                    let lba = slot * u64::from(bytes / 512);
                    let mut cdb = [0u8; 16];
                    cdb[0] = 0x88;
                    cdb[2..10].copy_from_slice(&lba.to_be_bytes());
                    cdb[10..14].copy_from_slice(&(bytes / 512).to_be_bytes());
                    if cdbs.capacity() < cdb.len() {
                        cdbs = BytesMut::with_capacity(4096);
                    }
                    cdbs.extend_from_slice(&cdb);
                    let request = TaskRequest {
                        lun: client.lun(),
                        cdb: cdbs.split().freeze(),
                        direction: DataDirection::Read { length: bytes },
                        attribute: TaskAttribute::Simple,
                    };
                    // The buffer of the last read is handed back, as `unjam bench` does.
                    let started = Instant::now();
                    let result = client.execute_into(request, buffer).await;
                    now = Instant::now();
                    let latency = now.saturating_duration_since(started);
                    match result {
                        Ok(outcome) if outcome.status == 0 => {
                            done += 1;
                            let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
                            recorder
                                .lock()
                                .unwrap_or_else(|poisoned| poisoned.into_inner())
                                .done(true, u64::from(bytes), nanos, now);
                            buffer = outcome.data.try_into_mut().unwrap_or_default();
                        }
                        Ok(outcome) => buffer = outcome.data.try_into_mut().unwrap_or_default(),
                        Err(_) => buffer = BytesMut::new(),
                    }
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await?;
    }
    println!(
        "{{\"ios\": {total}, \"iops\": {:.0}}}",
        total as f64 / seconds as f64
    );
    let _ = client.logout().await;
    Ok(())
}
