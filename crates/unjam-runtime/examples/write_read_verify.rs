//! Opens a LUN, writes 64 KiB, reads it back and checks it, with the core underneath.
//!
//!     cargo run -p unjam-runtime --example write_read_verify -- iscsi://127.0.0.1:3260/iqn.x:disk/1
use bytes::{Bytes, BytesMut};
use unjam_iscsi::url::IscsiUrl;
use unjam_runtime::{Initiator, InitiatorConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: write_read_verify ISCSI_URL")?;
    let (initiator, disk) =
        Initiator::open(&IscsiUrl::parse(&url)?, InitiatorConfig::default()).await?;
    let block = disk.capacity()?.block_length as usize;
    let data: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let blocks = (data.len() / block) as u32;
    disk.write(0, Bytes::from(data.clone())).await?;
    let back = disk.read(0, blocks, BytesMut::new()).await?;
    let verdict = if back == data { "verified" } else { "MISMATCH" };
    println!(
        "{}: wrote and read {} bytes at LBA 0: {verdict}",
        disk.info().name,
        back.len()
    );
    initiator.logout().await;
    if back != data {
        return Err("data read back differs from data written".into());
    }
    Ok(())
}
