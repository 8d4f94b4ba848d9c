//! `unjam explain`: the life of one command against scripted outcomes, on the virtual
//! clock. The work is `unjam_core::harness::explain`; this module parses the arguments and
//! prints the path taken, the final status and the kernel log lines (or one JSON object).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use unjam_core::buffers::Cdb;
use unjam_core::config::{EhScopes, Personality};
use unjam_core::harness::{explain, parse_outcome, ExplainConfig, Explanation};
use unjam_core::request::cmd_flags;

const GRAMMAR: &str = "\
OUTCOME GRAMMAR
  Each --outcome describes one attempt as space-separated tokens; the last --outcome
  repeats for every later attempt.
    host=DID_ERROR        host byte (DID_* name, with or without DID_, or a number)
    status=CHECK_CONDITION  SAM status (name or number)
    sense=70 00 0b ...    autosense bytes in hex; the bytes may be separate tokens
    virtio=FAILURE        a VIRTIO_SCSI_S_* response, mapped as virtio_scsi does
    timeout               the command never completes
    lost                  the target completed it but the notification was lost
    abort=ok|fail         the answer to an abort of this attempt (default ok)
    resid=N               residual byte count
    latency=MS            completion latency in milliseconds (default 0.1)
    rs=70 00 05 ...       what REQUEST SENSE returns if the error handler asks
    tur=ok|fail|timeout|ua  the error handler's TEST UNIT READY answer (default ok;
                          ua: CHECK CONDITION 06/29/00); tur=fail,ok answers the first
                          TUR fail and every later one ok
    stu=ok|fail|timeout|ua  the error handler's START UNIT answer (default ok)
    reset_ua              a successful reset raises a UNIT ATTENTION (29/03, 29/02, 29/01)
                          that the device reports to its next command
    reset=ok|fail         the answer to LUN/target/bus/host resets (default ok)
    lun_reset=ok|fail     the answer to one kind of reset (overrides reset=); also
    target_reset=ok|fail  bus_reset=ok|fail and host_reset=ok|fail

SCOPES (--scope)
  host        the kernel: the whole host stops while the error handler runs
  lun         only the LUN stops: get sense, START UNIT, LUN reset + TUR; what is left
              falls back to the host scope
  target      the LUN's target stops: adds the target reset + TUR, then the host scope
  lun+target  LUN, then target, then host

EXAMPLE (seed 000)
  unjam explain --cdb '28 00 00 05 58 70 00 00 10 00' --personality virtio_scsi \\
    --outcome 'virtio=FAILURE' \\
    --outcome 'status=CHECK_CONDITION sense=70 00 0b 00 00 00 00 0a 00 00 00 00 00 06 00 00 00 00'

EXAMPLE (seed 001: LUN reset fails, the target reset recovers)
  unjam explain --cdb '28 00 00 00 12 34 00 00 08 00' --scope lun+target \
    --outcome 'timeout abort=fail lun_reset=fail target_reset=ok tur=ok' --outcome 'status=GOOD'";

/// Explain what the mid-layer does with one command against scripted outcomes.
#[derive(Debug, clap::Args)]
#[command(after_long_help = GRAMMAR)]
pub struct ExplainArgs {
    /// The CDB in hex, e.g. '28 00 00 05 58 70 00 00 10 00'.
    #[arg(long, value_name = "HEX")]
    cdb: String,
    /// Transport personality: generic, mpt3sas, smartpqi, megaraid_sas, virtio_scsi,
    /// iscsi_tcp, hisi_sas.
    #[arg(long, default_value = "generic")]
    personality: String,
    /// One attempt's outcome (see OUTCOME GRAMMAR in --help); repeat for later attempts.
    #[arg(long = "outcome", value_name = "TOKENS", required = true)]
    outcomes: Vec<String>,
    /// Retries allowed (-1 = no limit; unjam still ends the command after 6 × timeout).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    allowed: i32,
    /// Per-attempt timeout in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout_s: f64,
    /// Timeout of the error handler's own commands, in seconds.
    #[arg(long, default_value_t = 10.0)]
    eh_timeout_s: f64,
    /// Fail fast on this class of error (repeatable).
    #[arg(long, value_enum)]
    failfast: Vec<Failfast>,
    /// A passthrough (SG_IO) request: no disk-driver completion, failfast on CHECK CONDITION.
    #[arg(long)]
    passthrough: bool,
    /// The transport can reap lost completions before an abort.
    #[arg(long)]
    poll_before_abort: bool,
    /// phys_seg printed in the block-layer line.
    #[arg(long, default_value_t = 1)]
    phys_seg: u16,
    /// I/O priority class printed in the block-layer line (0 none, 1 RT, 2 BE, 3 IDLE).
    #[arg(long, default_value_t = 0)]
    prio_class: u8,
    /// Error-handler scopes of the LUN: host (the kernel), lun, target or lun+target.
    #[arg(long, default_value = "host")]
    scope: String,
    /// Also print the error-recovery log lines (scsi_logging_level).
    #[arg(long)]
    eh_logging: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Failfast {
    Dev,
    Transport,
    Driver,
}

pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let config = config(&args)?;
    let explanation = explain(&config)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json(&config, &explanation))?
        );
    } else {
        print_human(&config, &explanation);
    }
    Ok(ExitCode::SUCCESS)
}

fn config(args: &ExplainArgs) -> anyhow::Result<ExplainConfig> {
    let cdb = Cdb::from_slice(&parse_hex(&args.cdb).context("--cdb")?).context("--cdb")?;
    let mut outcomes = Vec::with_capacity(args.outcomes.len());
    for (index, text) in args.outcomes.iter().enumerate() {
        let entry =
            parse_outcome(text).with_context(|| format!("--outcome #{} '{text}'", index + 1))?;
        outcomes.push(entry);
    }
    let Some(personality) = Personality::parse(&args.personality) else {
        bail!("--personality: unknown personality '{}'", args.personality);
    };
    let Some(scopes) = EhScopes::parse(&args.scope) else {
        bail!(
            "--scope: unknown scope '{}' (host, lun, target or lun+target)",
            args.scope
        );
    };
    if args.allowed < -1 {
        bail!(
            "--allowed: {} is not a retry count (0 or more, or -1 for no limit)",
            args.allowed
        );
    }
    let mut config = ExplainConfig::new(cdb, outcomes);
    config.personality = personality;
    config.scopes = scopes;
    config.allowed = args.allowed;
    config.timeout = seconds("--timeout-s", args.timeout_s)?;
    config.eh_timeout = seconds("--eh-timeout-s", args.eh_timeout_s)?;
    config.passthrough = args.passthrough;
    config.poll_before_abort = args.poll_before_abort;
    config.phys_segments = args.phys_seg;
    config.prio_class = args.prio_class;
    config.eh_logging = args.eh_logging;
    for failfast in &args.failfast {
        config.cmd_flags |= match failfast {
            Failfast::Dev => cmd_flags::FAILFAST_DEV,
            Failfast::Transport => cmd_flags::FAILFAST_TRANSPORT,
            Failfast::Driver => cmd_flags::FAILFAST_DRIVER,
        };
    }
    Ok(config)
}

fn seconds(name: &str, value: f64) -> anyhow::Result<Duration> {
    if !(0.001..=86_400.0).contains(&value) {
        bail!("{name}: {value} is outside 0.001..86400 seconds");
    }
    Ok(Duration::from_secs_f64(value))
}

/// Hex bytes separated by spaces or commas; a token may hold several bytes (`280000`).
fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for token in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
    {
        let digits = token.strip_prefix("0x").unwrap_or(token);
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("'{token}' is not hex");
        }
        let padded = if digits.len() % 2 == 1 {
            format!("0{digits}")
        } else {
            digits.to_string()
        };
        for index in (0..padded.len()).step_by(2) {
            bytes.push(u8::from_str_radix(&padded[index..index + 2], 16)?);
        }
    }
    Ok(bytes)
}

fn print_human(config: &ExplainConfig, explanation: &Explanation) {
    let cdb: Vec<String> = config
        .cdb
        .as_slice()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!(
        "Command: {} [{}] on sd 0:0:0:0 [sda]; personality {}, allowed {}, timeout {:?}",
        unjam_scsi::cdb::opcode_name(config.cdb.as_slice()),
        cdb.join(" "),
        config.personality.name(),
        config.allowed,
        config.timeout
    );
    println!("\nPath taken:");
    for line in &explanation.path {
        println!("  {line}");
    }
    println!();
    match (explanation.blk_status, explanation.completion) {
        (Some(status), Some(completion)) => println!(
            "Final status: {} ({}, \"{}\") after {} attempt(s), {} bytes good, {:.3}s",
            status.kernel_name(),
            status.errno(),
            if status.log_string().is_empty() {
                "success".to_string()
            } else {
                format!("{} error", status.log_string())
            },
            completion.attempts,
            completion.good_bytes,
            explanation.elapsed.as_secs_f64()
        ),
        _ => println!("Final status: the command did not complete"),
    }
    println!(
        "Dispositions per attempt: {}",
        explanation.dispositions.join(" ")
    );
    println!("\nKernel log:");
    if explanation.log_lines.is_empty() {
        println!("  (nothing)");
    }
    for line in &explanation.log_lines {
        println!("  {line}");
    }
    for violation in &explanation.violations {
        println!("INVARIANT VIOLATED: {violation}");
    }
}

fn json(config: &ExplainConfig, explanation: &Explanation) -> serde_json::Value {
    let events: Vec<serde_json::Value> = explanation
        .events
        .iter()
        .zip(&explanation.event_texts)
        .map(|(record, text)| {
            serde_json::json!({ "at_ns": record.at.as_nanos(), "kind": record.event.kind(), "text": text })
        })
        .collect();
    serde_json::json!({
        "cdb": config.cdb.as_slice(),
        "personality": config.personality.name(),
        "attempts": explanation.attempts,
        "blk_status": explanation.blk_status.map(|s| s.kernel_name()),
        "errno": explanation.blk_status.map(|s| s.errno()),
        "good_bytes": explanation.completion.map(|c| c.good_bytes),
        "elapsed_s": explanation.elapsed.as_secs_f64(),
        "dispositions": explanation.dispositions,
        "log_lines": explanation.log_lines,
        "path": explanation.path,
        "events": events,
        "stats": explanation.stats,
        "violations": explanation.violations,
    })
}
