//! The baseline for `scripts/bench-iscsi.sh`: the same reads as `unjam bench URL` sent with
//! the iSCSI client alone — no core, no engine — so the script can state what the core and
//! the runtime cost per I/O. Each worker hands its last read buffer back
//! (`IscsiClient::execute_into`), as `unjam bench` does, and cuts its CDBs from a shared
//! 4 KiB chunk, as the runtime does (no allocation per I/O that `unjam bench` does not make).
//! Not a tool: `unjam bench` is.
//!
//!     cargo run --release -p unjam-runtime --example raw_client_bench -- URL randread 4096 32 10
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand::{Rng, SeedableRng};
use unjam_iscsi::client::{ClientConfig, IscsiClient};
use unjam_iscsi::pdu::TaskAttribute;
use unjam_iscsi::session::{DataDirection, TaskRequest};
use unjam_iscsi::url::IscsiUrl;

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
    let workers: Vec<_> = (0..qd)
        .map(|worker| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(worker);
                let (mut slot, mut done) = (worker * slots / qd, 0u64);
                let mut buffer = BytesMut::new();
                let mut cdbs = BytesMut::new();
                while Instant::now() < deadline {
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
                    if let Ok(outcome) = client.execute_into(request, buffer).await {
                        done += u64::from(outcome.status == 0);
                        buffer = outcome.data.try_into_mut().unwrap_or_default();
                    } else {
                        buffer = BytesMut::new();
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
