//! One module per subcommand.

pub mod bench;
pub mod bench_iscsi;
pub mod decode_sense;
pub mod device;
pub mod discover;
pub mod explain;
pub mod inquiry;
mod inquiry_vpd;
pub mod luns;
pub mod paths;
pub mod raw;
pub mod read;
pub mod readcap;
pub mod reset;
pub mod rtpg;
pub mod run;
mod run_bench;
pub mod target;
pub mod target_ctl;
pub mod tur;
pub mod vhost_user;
pub mod write;
