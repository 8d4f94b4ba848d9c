//! Everything a device command prints: buffered stdout that notices a closed pipe (`| head`
//! ends the command quietly), JSON, hex dumps in sg3_utils' layout, and the end of a command
//! (exit status; the error as text on stderr and, with `--json`, as JSON on stdout).
//!
//! Owns output formatting shared by the device commands; no SCSI knowledge.

use std::io::{BufWriter, ErrorKind, Stdout, Write};
use std::process::ExitCode;

use serde_json::json;

use super::exit::{class_of, ExitClass, Failure};

/// Stdout was closed by the reader: the command stops quietly.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout closed")
    }
}

impl std::error::Error for StdoutClosed {}

fn write_error(error: std::io::Error) -> anyhow::Error {
    if error.kind() == ErrorKind::BrokenPipe {
        return StdoutClosed.into();
    }
    Failure::new(ExitClass::Other, format!("cannot write to stdout: {error}")).into()
}

/// Buffered stdout.
#[derive(Debug)]
pub struct Printer {
    out: BufWriter<Stdout>,
}

impl Default for Printer {
    fn default() -> Printer {
        Printer {
            out: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
        }
    }
}

impl Printer {
    pub fn line(&mut self, text: impl std::fmt::Display) -> anyhow::Result<()> {
        writeln!(self.out, "{text}").map_err(write_error)
    }

    pub fn bytes(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.out.write_all(bytes).map_err(write_error)
    }

    pub fn json(&mut self, value: &serde_json::Value) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.line(text)
    }

    /// A hex dump as sg3_utils prints one (`--hex`): offset, 16 bytes in two groups of 8,
    /// the printable characters.
    pub fn hex(&mut self, data: &[u8]) -> anyhow::Result<()> {
        for (index, chunk) in data.chunks(16).enumerate() {
            self.line(hex_line(index * 16, chunk))?;
        }
        Ok(())
    }

    /// `--raw` (the bytes as they arrived) or `--hex` (a dump), as sg3_utils' tools print a
    /// response they are told not to decode; `Ok(false)` when neither was asked for.
    pub fn undecoded(&mut self, raw: bool, hex: bool, data: &[u8]) -> anyhow::Result<bool> {
        if raw {
            self.bytes(data)?;
        } else if hex {
            self.hex(data)?;
        } else {
            return Ok(false);
        }
        self.flush()?;
        Ok(true)
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.out.flush().map_err(write_error)
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// ` 00     00 00 05 12 3d 00 00 02  49 45 54 20 20 20 20 20    ....=...IET     `
pub fn hex_line(offset: usize, chunk: &[u8]) -> String {
    let mut hex = String::with_capacity(50);
    for (index, byte) in chunk.iter().enumerate() {
        if index == 8 {
            hex.push(' ');
        }
        hex.push_str(&format!("{byte:02x} "));
    }
    let text: String = chunk
        .iter()
        .map(|&byte| {
            if byte.is_ascii_graphic() || byte == b' ' {
                byte as char
            } else {
                '.'
            }
        })
        .collect();
    format!(" {offset:02x}     {hex:<49}   {text}")
}

/// Bytes as `12 00 00 00 60 00`.
pub fn hex_string(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Ends a device command: its exit status, the error on stderr and, with `--json`, as one
/// JSON object on stdout. A closed stdout is a quiet success.
pub fn finish(json: bool, result: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    let error = match result {
        Ok(code) => return Ok(code),
        Err(error) if error.is::<StdoutClosed>() => return Ok(ExitCode::SUCCESS),
        Err(error) => error,
    };
    let class = class_of(&error);
    eprintln!("unjam: {error:#}");
    if json {
        let object = json!({
            "error": {
                "message": format!("{error:#}"),
                "exit_status": class.code(),
                "category": class.name(),
            }
        });
        let mut printer = Printer::default();
        if printer
            .json(&object)
            .and_then(|()| printer.flush())
            .is_err()
        {
            // Nothing more can be told: stdout is gone too.
        }
    }
    Ok(ExitCode::from(class.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_lines_have_sg3_utils_layout() {
        let line = hex_line(0x10, b"IET     VIRTUAL-");
        let expected =
            " 10     49 45 54 20 20 20 20 20  56 49 52 54 55 41 4c 2d    IET     VIRTUAL-";
        assert_eq!(line, expected);
        assert!(hex_line(0, &[0, 1]).starts_with(" 00     00 01 "));
        assert_eq!(hex_string(&[0x12, 0, 0x60]), "12 00 60");
    }
}
