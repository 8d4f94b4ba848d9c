//! `unjam target-ctl PATH REQUEST...`: sends one request to a running `unjam target`'s
//! control socket and prints the answer (protocol in docs/target.md). Exit 0 when the
//! answer ends in `ok`, 1 when it ends in `error`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

/// Talk to a running target's control socket: `fault add KEY=VALUE...`, `fault list`,
/// `fault clear [ID|all]`, `status`.
#[derive(Debug, clap::Args)]
pub struct TargetCtlArgs {
    /// The control socket (`unjam target --control PATH`).
    socket: PathBuf,
    /// The request, e.g. `fault add kind=timeout device=0:0:0:0 times=1`.
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    request: Vec<String>,
}

pub fn run(args: TargetCtlArgs) -> anyhow::Result<ExitCode> {
    let name = args.socket.display().to_string();
    let mut stream =
        UnixStream::connect(&args.socket).with_context(|| format!("connecting to {name}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let line = args
        .request
        .iter()
        .map(|word| quoted(word))
        .collect::<Vec<_>>()
        .join(" ");
    stream.write_all(format!("{line}\n").as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    loop {
        answer.clear();
        if reader.read_line(&mut answer)? == 0 {
            anyhow::bail!("{name} closed the connection without an answer");
        }
        let text = answer.trim_end();
        if text == "ok" || text.starts_with("ok ") {
            println!("{text}");
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(error) = text.strip_prefix("error ") {
            eprintln!("unjam target-ctl: {error}");
            return Ok(ExitCode::from(1));
        }
        println!("{text}");
    }
}

/// A word as the control protocol reads it: a `key=value` whose value has spaces is quoted.
fn quoted(word: &str) -> String {
    match word.split_once('=') {
        Some((key, value)) if value.contains(char::is_whitespace) && !value.starts_with('"') => {
            format!("{key}=\"{value}\"")
        }
        _ => word.to_string(),
    }
}
