//! The sans-I/O SCSI mid-layer. (Being built: see issue 3.)
