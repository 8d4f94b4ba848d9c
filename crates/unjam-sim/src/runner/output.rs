//! Where a run's text goes as it happens: `--trace` JSON lines and `--kernel-log` lines,
//! streamed to their writers (constant memory), and an in-memory writer for tests.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use serde::Serialize;

/// A cloneable in-memory writer: a test keeps one clone and hands the other to the run.
#[derive(Clone, Debug, Default)]
pub struct SharedBuffer(Rc<RefCell<Vec<u8>>>);

impl SharedBuffer {
    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.borrow().clone()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One `--trace` line: time, source, the device's `H:C:T:L`, then the event's own typed
/// fields (`kind` first).
#[derive(Serialize)]
pub(super) struct TraceLine<'a, E: Serialize> {
    pub t_ns: u64,
    pub source: &'static str,
    pub device: Option<&'a str>,
    #[serde(flatten)]
    pub event: &'a E,
}

/// Writes one JSON line; the first error is returned (the caller reports it once).
pub(super) fn write_json_line(out: &mut dyn Write, line: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

/// A kernel log line with its dmesg-style timestamp: `[   15.210] sd 0:0:0:0: ...`
/// (seconds of virtual time, milliseconds after the point).
pub(super) fn dmesg_line(t_ns: u64, text: &str) -> String {
    let millis = t_ns / 1_000_000;
    format!("[{:5}.{:03}] {text}\n", millis / 1000, millis % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmesg_timestamps_look_like_the_kernels() {
        assert_eq!(
            dmesg_line(15_210_400_000, "sd 0:0:0:0: [sda] tag#3 abort"),
            "[   15.210] sd 0:0:0:0: [sda] tag#3 abort\n"
        );
        assert_eq!(dmesg_line(123_456_789_000_000, "x"), "[123456.789] x\n");
    }

    #[test]
    fn shared_buffers_see_each_others_writes() {
        let buffer = SharedBuffer::default();
        let mut writer = buffer.clone();
        writer.write_all(b"abc").unwrap();
        assert_eq!(buffer.contents(), b"abc");
    }
}
