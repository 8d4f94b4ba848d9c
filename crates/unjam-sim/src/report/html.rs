//! The HTML report: one self-contained page (inline CSS, SVG and a small script; no
//! external resource) for a simulated or a real run.
//!
//! - The timeline: one lane per LUN with its I/O rate on a scale of its own (y-axis in
//!   commands per second), failed commands, blocked windows, fault windows and firings,
//!   polls, and error-handling steps, on a time axis that zooms (wheel, buttons, a range, a
//!   click on a table row, or `#from=MS&to=MS` in the address) and pans (drag).
//! - Under it: the error-handling steps, the faults, the per-LUN summary, the narrated path
//!   commands took (every attempt, answer and decision) and the kernel's log lines.
//!
//! Whatever a bound left out is said where it would have been shown. Without script the
//! page is the whole run, unzoomed.

use std::fmt::Write;

use super::summary::{Clock, EhEventRecord, LaneDetail, RunReport};

const LABEL_WIDTH: f64 = 230.0;
const Y_AXIS_WIDTH: f64 = 64.0;
const PLOT_X: f64 = LABEL_WIDTH + Y_AXIS_WIDTH;
const PLOT_WIDTH: f64 = 900.0;
const RIGHT_MARGIN: f64 = 60.0;
const LANE_HEIGHT: f64 = 78.0;
const RATE_HEIGHT: f64 = 40.0;
/// The marks under a lane's rate: failures and fault firings, polls, EH steps.
const ERROR_ROW: f64 = RATE_HEIGHT + 4.0;
const POLL_ROW: f64 = RATE_HEIGHT + 17.0;
const EH_ROW: f64 = RATE_HEIGHT + 28.0;
const AXIS_HEIGHT: f64 = 30.0;
/// The most error-handling steps listed in the table (all are in `--json`).
pub const MAX_EH_ROWS: usize = 10_000;

/// Renders the report as one HTML document.
pub fn render_html(report: &RunReport) -> String {
    let mut out = String::with_capacity(128 * 1024);
    let title = escape(&report.title);
    let summary = &report.summary;
    let (word, what) = match report.clock {
        Clock::Virtual => ("unjam run", "commands simulated"),
        Clock::Wall => ("unjam", "commands sent"),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{word}: {title}</title><style>{STYLE}</style></head><body>\n\
         <h1>{word}: {title}</h1>\n<p class=\"meta\">{} · {} LUNs · {} error-handling \
         steps · {} {what}</p>\n",
        match report.clock {
            Clock::Virtual => format!(
                "seed {} · {} ms of virtual time",
                summary.seed, summary.virtual_duration_ms
            ),
            Clock::Wall => format!("{} ms of wall-clock time", summary.virtual_duration_ms),
        },
        summary.luns.len(),
        summary.eh_events.len() as u64 + report.eh_events_not_kept,
        report.commands_simulated
    );
    out.push_str(CONTROLS);
    out.push_str(LEGEND);
    svg(&mut out, report);
    mpath_lanes(&mut out, report);
    eh_table(&mut out, report);
    fault_table(&mut out, report);
    lun_table(&mut out, report);
    path(&mut out, report);
    kernel_log(&mut out, report);
    out.push_str("<script>");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body></html>\n");
    out
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:20px;color:#222}\
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px}\
.meta{color:#555;margin:0 0 10px}.note{color:#8a4b00;margin:4px 0}\
.legend span{display:inline-block;margin-right:16px}.sw{display:inline-block;width:12px;\
height:12px;margin-right:4px;vertical-align:-1px}svg text{font:12px system-ui,sans-serif}\
svg#timeline{max-width:100%;height:auto;cursor:grab;user-select:none}\
.controls{margin:6px 0}.controls button{margin-right:4px}.controls input{width:7em}\
#view{color:#555;margin-left:8px}\
table{border-collapse:collapse;margin-top:6px}td,th{border:1px solid #ccc;padding:3px 8px;\
text-align:right;vertical-align:top}td:first-child,th:first-child{text-align:left}\
td.l,th.l{text-align:left}tr[data-t]{cursor:pointer}tr[data-t]:hover{background:#eef3fb}\
pre{background:#f7f7f7;border:1px solid #ddd;padding:8px;overflow-x:auto;font-size:12px}";

const CONTROLS: &str = "<form class=\"controls\" id=\"zoom\">\
<button type=\"button\" data-zoom=\"in\">zoom in</button>\
<button type=\"button\" data-zoom=\"out\">zoom out</button>\
<button type=\"button\" data-zoom=\"left\">&#8592;</button>\
<button type=\"button\" data-zoom=\"right\">&#8594;</button>\
<button type=\"button\" data-zoom=\"reset\">whole run</button> \
from <input name=\"from\" type=\"number\" step=\"any\"> to \
<input name=\"to\" type=\"number\" step=\"any\"> ms <button type=\"submit\">show</button>\
<span id=\"view\"></span><br><small>Wheel over the timeline zooms, dragging pans, a click \
on a row of the tables below zooms to it.</small></form>\n";

const LEGEND: &str = "<p class=\"legend\">\
<span><i class=\"sw\" style=\"background:#5b9bd5\"></i>I/O completed good (rate)</span>\
<span><i class=\"sw\" style=\"background:#c00000\"></i>I/O failed (rate, and a tick each)\
</span><span><i class=\"sw\" style=\"background:#f4b183\"></i>blocked by error handling\
</span><span><i class=\"sw\" style=\"background:#ffe699\"></i>fault window, \
<b style=\"color:#e07000\">&#9660;</b> a fault fired</span>\
<span><b style=\"color:#2e7d32\">&#9679;</b> poll found the completion, \
<b style=\"color:#888\">&#9675;</b> poll found nothing</span>\
<span><i class=\"sw\" style=\"background:#7030a0\"></i>error-handling step (hover for \
details)</span></p>\n";

fn svg(out: &mut String, report: &RunReport) {
    let lanes = report.summary.luns.len();
    let height = AXIS_HEIGHT * 2.0 + LANE_HEIGHT * lanes as f64;
    let width = PLOT_X + PLOT_WIDTH + RIGHT_MARGIN;
    let end_us = end_us(report);
    let x = |t_us: f64| PLOT_X + (t_us / end_us).clamp(0.0, 1.0) * PLOT_WIDTH;
    let _ = writeln!(
        out,
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"timeline\" data-end-us=\"{end_us}\" data-plot-x=\"{PLOT_X}\" \
         data-plot-width=\"{PLOT_WIDTH}\" data-rate-height=\"{RATE_HEIGHT}\">"
    );
    axis(out, AXIS_HEIGHT - 8.0, true, end_us, &x);
    let no_detail = LaneDetail::default();
    for index in 0..lanes {
        let y = AXIS_HEIGHT + LANE_HEIGHT * index as f64;
        let detail = report.lanes.get(index).unwrap_or(&no_detail);
        lane(out, report, index, y, detail, end_us, &x);
    }
    axis(out, height - AXIS_HEIGHT + 8.0, false, end_us, &x);
    out.push_str("</svg>\n");
    notes(out, report);
}

/// The end of the time axis: the run's duration, at least 1 ms.
fn end_us(report: &RunReport) -> f64 {
    (report.summary.virtual_duration_ms.max(1) * 1000) as f64
}

fn lane(
    out: &mut String,
    report: &RunReport,
    index: usize,
    y: f64,
    detail: &LaneDetail,
    end_us: f64,
    x: &dyn Fn(f64) -> f64,
) {
    let Some(lun) = report.summary.luns.get(index) else {
        return;
    };
    let id = escape(&lun.id);
    let failed: u64 = lun.ios_failed.values().sum();
    let _ = write!(
        out,
        "<g class=\"lane\" data-lun=\"{id}\" transform=\"translate(0,{y})\">\
         <text x=\"4\" y=\"14\" font-weight=\"bold\">{id}</text>\
         <text x=\"4\" y=\"30\" fill=\"#555\">ok {} · failed {failed}</text>\
         <text x=\"4\" y=\"46\" fill=\"#555\">blocked {} ms · {}</text>",
        lun.ios_ok,
        lun.blocked_ms,
        escape(&lun.state)
    );
    // The lane's own scale: its busiest bucket, good or failed.
    let peak = detail
        .ok_per_bucket
        .iter()
        .chain(detail.failed_per_bucket.iter())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let per_second = peak as f64 * 1_000_000.0 / report.bucket_us as f64;
    let _ = write!(
        out,
        "<g class=\"y-axis\"><line x1=\"{PLOT_X}\" x2=\"{PLOT_X}\" y1=\"0\" \
         y2=\"{RATE_HEIGHT}\" stroke=\"#888\"/>\
         <line x1=\"{:.1}\" x2=\"{PLOT_X}\" y1=\"0.5\" y2=\"0.5\" stroke=\"#888\"/>\
         <line x1=\"{:.1}\" x2=\"{PLOT_X}\" y1=\"{RATE_HEIGHT}\" y2=\"{RATE_HEIGHT}\" \
         stroke=\"#888\"/>\
         <text class=\"y-max\" x=\"{:.1}\" y=\"10\" text-anchor=\"end\">{}</text>\
         <text x=\"{:.1}\" y=\"{RATE_HEIGHT}\" text-anchor=\"end\">0</text></g>",
        PLOT_X - 4.0,
        PLOT_X - 4.0,
        PLOT_X - 6.0,
        rate_label(per_second),
        PLOT_X - 6.0,
    );
    // The plot: time in µs on x (the script zooms by changing the viewBox), pixels on y.
    let _ = write!(
        out,
        "<svg class=\"plot\" x=\"{PLOT_X}\" y=\"0\" width=\"{PLOT_WIDTH}\" \
         height=\"{RATE_HEIGHT}\" viewBox=\"0 0 {end_us} {RATE_HEIGHT}\" \
         preserveAspectRatio=\"none\"><rect x=\"0\" y=\"0\" width=\"{end_us}\" \
         height=\"{RATE_HEIGHT}\" fill=\"#f7f7f7\"/>"
    );
    for (fault_index, fault) in report.faults.iter().enumerate() {
        // A bounded window is shaded; an open one is only its start line (below), since a
        // rule limited by a count may stop firing long before the run ends.
        let Some(until) = fault.until_us.filter(|_| fault.lanes.contains(&index)) else {
            continue;
        };
        let until = (until as f64).min(end_us);
        let _ = write!(
            out,
            "<rect class=\"fault-window\" x=\"{}\" y=\"0\" width=\"{}\" \
             height=\"{RATE_HEIGHT}\" fill=\"#ffe699\" opacity=\"0.7\"><title>fault #{}: {} \
             ({})</title></rect>",
            fault.from_us,
            (until - fault.from_us as f64).max(0.0),
            fault_index + 1,
            escape(&fault.label),
            window_text(fault.from_us, fault.until_us)
        );
    }
    for (start, end) in &detail.blocked_us {
        let _ = write!(
            out,
            "<rect class=\"blocked\" x=\"{start}\" y=\"0\" width=\"{}\" \
             height=\"{RATE_HEIGHT}\" fill=\"#f4b183\" opacity=\"0.75\"><title>blocked \
             {:.3}–{:.3} ms</title></rect>",
            end.saturating_sub(*start).max(1),
            *start as f64 / 1000.0,
            *end as f64 / 1000.0
        );
    }
    rate_path(
        out,
        &detail.ok_per_bucket,
        report.bucket_us,
        peak,
        "#5b9bd5",
    );
    rate_path(
        out,
        &detail.failed_per_bucket,
        report.bucket_us,
        peak,
        "#c00000",
    );
    out.push_str("</svg>");
    out.push_str(&format!(
        "<rect x=\"{PLOT_X}\" y=\"0\" width=\"{PLOT_WIDTH}\" height=\"{RATE_HEIGHT}\" \
         fill=\"none\" stroke=\"#ddd\"/>"
    ));
    // Marks: positioned from `data-t` (µs); the script moves them when the axis zooms.
    for (fault_index, fault) in report.faults.iter().enumerate() {
        if !fault.lanes.contains(&index) {
            continue;
        }
        let start = match (fault.from_us, fault.fired_span_us) {
            (0, Some((first, _))) => Some((first, "fired first")),
            (0, None) => None,
            (from, _) => Some((from, "window opens")),
        };
        if let Some((t_us, what)) = start {
            let _ = write!(
                out,
                "<g class=\"fault-start\" data-t=\"{t_us}\" transform=\"translate({:.1},0)\">\
                 <line x1=\"0\" x2=\"0\" y1=\"0\" y2=\"{RATE_HEIGHT}\" stroke=\"#e07000\" \
                 stroke-dasharray=\"3,2\"/><title>{:.3} ms: fault #{} {what}: {}</title></g>",
                x(t_us as f64),
                t_us as f64 / 1000.0,
                fault_index + 1,
                escape(&fault.label)
            );
        }
    }
    for (t_us, status) in &detail.errors {
        let _ = write!(
            out,
            "<g class=\"error\" data-t=\"{t_us}\" transform=\"translate({:.1},0)\"><line \
             x1=\"0\" x2=\"0\" y1=\"{ERROR_ROW}\" y2=\"{:.1}\" stroke=\"#c00000\"/><title>{:.3} \
             ms: {status}</title></g>",
            x(*t_us as f64),
            ERROR_ROW + 7.0,
            *t_us as f64 / 1000.0
        );
    }
    for hit in report.fault_hits.iter().filter(|h| h.lane == index) {
        let label = report
            .faults
            .get(hit.fault)
            .map_or(String::new(), |f| escape(&f.label));
        let _ = write!(
            out,
            "<g class=\"fault-hit\" data-t=\"{}\" transform=\"translate({:.1},0)\"><path \
             d=\"M-4,{ERROR_ROW}h8l-4,7z\" fill=\"#e07000\"/><title>{:.3} ms: fault #{} fired: \
             {label}</title></g>",
            hit.t_us,
            x(hit.t_us as f64),
            hit.t_us as f64 / 1000.0,
            hit.fault + 1
        );
    }
    for (t_us, saved) in &detail.polls {
        let (fill, what) = if *saved {
            (
                "#2e7d32",
                "the poll found the completion: the command was saved",
            )
        } else {
            ("#fff", "the poll found nothing: the timeout goes on")
        };
        let _ = write!(
            out,
            "<g class=\"poll\" data-t=\"{t_us}\" transform=\"translate({:.1},0)\"><circle \
             cx=\"0\" cy=\"{POLL_ROW}\" r=\"4\" fill=\"{fill}\" stroke=\"#2e7d32\"/><title>\
             {:.3} ms: {what}</title></g>",
            x(*t_us as f64),
            *t_us as f64 / 1000.0
        );
    }
    eh_markers(out, &report.summary.eh_events, &lun.id, x);
    out.push_str("</g>\n");
}

fn rate_path(out: &mut String, buckets: &[u32], bucket_us: u64, peak: u32, colour: &str) {
    if buckets.iter().all(|c| *c == 0) {
        return;
    }
    let mut path = format!("M0,{RATE_HEIGHT}");
    for (index, count) in buckets.iter().enumerate() {
        let top = RATE_HEIGHT - (f64::from(*count) / f64::from(peak)) * (RATE_HEIGHT - 2.0);
        let start = index as u64 * bucket_us;
        let end = start + bucket_us;
        let _ = write!(path, "L{start},{top:.1}L{end},{top:.1}");
    }
    let last = buckets.len() as u64 * bucket_us;
    let _ = write!(path, "L{last},{RATE_HEIGHT}Z");
    let _ = write!(
        out,
        "<path class=\"rate\" d=\"{path}\" fill=\"{colour}\" opacity=\"0.85\"/>"
    );
}

/// Whether an error-handling step about `device` (`H:C:T:L`, `H:C:T`, `hostN`, or a
/// selector with `*`) concerns the LUN `lun`.
fn concerns(device: &str, lun: &str) -> bool {
    if device == lun {
        return true;
    }
    let host = lun.split(':').next().unwrap_or("");
    if let Some(number) = device.strip_prefix("host") {
        return number == host;
    }
    let wanted: Vec<&str> = device.split(':').collect();
    let have: Vec<&str> = lun.split(':').collect();
    wanted.len() <= have.len()
        && wanted.len() >= 3
        && wanted
            .iter()
            .zip(&have)
            .all(|(want, part)| *want == "*" || want == part)
}

fn eh_markers(out: &mut String, events: &[EhEventRecord], lun: &str, x: &dyn Fn(f64) -> f64) {
    for event in events.iter().filter(|e| concerns(&e.device, lun)) {
        let t_us = (event.t_ms * 1000.0).round();
        let colour = match event.outcome.as_str() {
            "success" | "done" | "up" => "#2e7d32",
            "failed" | "offline" | "timeout" | "down" => "#c00000",
            _ => "#7030a0",
        };
        let _ = write!(
            out,
            "<g class=\"eh\" data-t=\"{t_us}\" transform=\"translate({:.1},0)\"><path \
             d=\"M0,{:.1}l5,5l-5,5l-5,-5z\" fill=\"{colour}\"/><title>{:.3} ms: {} {} {} → {}\
             </title></g>",
            x(t_us),
            EH_ROW - 5.0,
            event.t_ms,
            escape(&event.scope),
            escape(&event.step),
            escape(&event.device),
            escape(&event.outcome)
        );
    }
}

/// A time axis at `y` (labels above it when `top`), with ticks for the whole run; the
/// script redraws it for the zoomed range.
fn axis(out: &mut String, y: f64, top: bool, end_us: f64, x: &dyn Fn(f64) -> f64) {
    let _ = write!(
        out,
        "<g class=\"axis\" data-y=\"{y}\" data-side=\"{}\"><line x1=\"{PLOT_X}\" x2=\"{:.1}\" \
         y1=\"{y}\" y2=\"{y}\" stroke=\"#888\"/>",
        if top { "top" } else { "bottom" },
        PLOT_X + PLOT_WIDTH
    );
    let step = nice_step(end_us / 8.0);
    let (tick_end, label_y) = if top {
        (y - 5.0, y - 8.0)
    } else {
        (y + 5.0, y + 18.0)
    };
    let mut tick = 0.0;
    let mut ticks = 0;
    while tick <= end_us * (1.0 + 1e-9) && ticks <= 20 {
        let at = x(tick);
        let _ = write!(
            out,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{y}\" y2=\"{tick_end:.1}\" \
             stroke=\"#888\"/><text x=\"{at:.1}\" y=\"{label_y:.1}\" \
             text-anchor=\"middle\">{}</text>",
            time_label(tick, step)
        );
        tick += step;
        ticks += 1;
    }
    out.push_str("</g>\n");
}

/// `t_us` as the axis prints it, with as many decimals as `step_us` needs.
fn time_label(t_us: f64, step_us: f64) -> String {
    if step_us >= 1_000_000.0 {
        return format!("{:.0} s", t_us / 1_000_000.0);
    }
    let step_ms = step_us / 1000.0;
    let decimals = if step_ms >= 1.0 {
        0
    } else {
        (-step_ms.log10().floor()) as usize
    };
    format!("{:.*} ms", decimals.min(3), t_us / 1000.0)
}

/// 1, 2 or 5 times a power of ten, at least `raw` (and at least 1 µs).
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1.0);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= raw * (1.0 - 1e-12))
        .unwrap_or(10.0 * power)
}

/// Commands per second, short: `850/s`, `12.5k/s`, `1.2M/s`.
fn rate_label(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.1}M/s", per_second / 1e6)
    } else if per_second >= 1e4 {
        format!("{:.0}k/s", per_second / 1e3)
    } else if per_second >= 1e3 {
        format!("{:.1}k/s", per_second / 1e3)
    } else if per_second >= 10.0 {
        format!("{per_second:.0}/s")
    } else {
        format!("{per_second:.1}/s")
    }
}

fn window_text(from_us: u64, until_us: Option<u64>) -> String {
    match until_us {
        Some(until) => format!(
            "{:.3}–{:.3} ms",
            from_us as f64 / 1000.0,
            until as f64 / 1000.0
        ),
        None if from_us == 0 => "the whole run".to_string(),
        None => format!("from {:.3} ms", from_us as f64 / 1000.0),
    }
}

/// What the bounds left out of the timeline, said under it.
fn notes(out: &mut String, report: &RunReport) {
    let mut lines = Vec::new();
    for (lane, lun) in report.lanes.iter().zip(&report.summary.luns) {
        let id = escape(&lun.id);
        if lane.errors_not_kept > 0 {
            lines.push(format!(
                "{id}: {} failed commands are in the failed rate but have no tick of their \
                 own (ticks for the first {}).",
                lane.errors_not_kept,
                lane.errors.len()
            ));
        }
        if lane.polls_not_kept > 0 {
            lines.push(format!(
                "{id}: {} polls after the first {} are not drawn.",
                lane.polls_not_kept,
                lane.polls.len()
            ));
        }
        if lane.blocked_not_kept > 0 {
            lines.push(format!(
                "{id}: {} blocked windows after the first {} are not drawn (they are in \
                 blocked ms).",
                lane.blocked_not_kept,
                lane.blocked_us.len()
            ));
        }
    }
    if report.fault_hits_not_kept > 0 {
        lines.push(format!(
            "{} fault firings after the first {} are not drawn (the fault table counts them \
             all).",
            report.fault_hits_not_kept,
            report.fault_hits.len()
        ));
    }
    if report.eh_events_not_kept > 0 {
        lines.push(format!(
            "{} error-handling steps after the first {} were not kept (--trace has every \
             event).",
            report.eh_events_not_kept,
            report.summary.eh_events.len()
        ));
    }
    for line in lines {
        let _ = writeln!(out, "<p class=\"note\">{line}</p>");
    }
}

fn eh_table(out: &mut String, report: &RunReport) {
    let events = &report.summary.eh_events;
    let _ = writeln!(
        out,
        "<h2 id=\"eh\">Error-handling steps ({})</h2>",
        events.len() as u64 + report.eh_events_not_kept
    );
    if events.is_empty() {
        out.push_str("<p>None.</p>\n");
        return;
    }
    out.push_str(
        "<table class=\"eh-steps\"><tr><th>t ms</th><th class=\"l\">scope</th>\
         <th class=\"l\">step</th><th class=\"l\">device</th><th class=\"l\">outcome</th></tr>\n",
    );
    for event in events.iter().take(MAX_EH_ROWS) {
        let _ = writeln!(
            out,
            "<tr data-t=\"{:.0}\"><td>{:.3}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            event.t_ms * 1000.0,
            event.t_ms,
            escape(&event.scope),
            escape(&event.step),
            escape(&event.device),
            escape(&event.outcome)
        );
    }
    out.push_str("</table>\n");
    if events.len() > MAX_EH_ROWS {
        let _ = writeln!(
            out,
            "<p class=\"note\">The first {MAX_EH_ROWS} of {} steps are listed; the JSON \
             summary (--json) has them all.</p>",
            events.len()
        );
    }
    if report.eh_events_not_kept > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more steps were not kept (--trace has every event).</p>",
            report.eh_events_not_kept
        );
    }
}

fn fault_table(out: &mut String, report: &RunReport) {
    if report.faults.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<h2 id=\"faults\">Faults ({})</h2>",
        report.faults.len()
    );
    out.push_str(
        "<table class=\"faults\"><tr><th>#</th><th class=\"l\">rule</th><th class=\"l\">\
         window</th><th>LUNs</th><th>fired</th><th>first ms</th><th>last ms</th></tr>\n",
    );
    for (index, fault) in report.faults.iter().enumerate() {
        let (first, last) = fault
            .fired_span_us
            .map_or((String::new(), String::new()), |s| {
                (
                    format!("{:.3}", s.0 as f64 / 1000.0),
                    format!("{:.3}", s.1 as f64 / 1000.0),
                )
            });
        let at = fault
            .fired_span_us
            .map_or(fault.from_us, |(first, _)| first);
        let _ = writeln!(
            out,
            "<tr data-t=\"{at}\"><td>{}</td><td class=\"l\">{}{}</td><td class=\"l\">{}</td>\
             <td>{}</td><td>{}</td><td>{first}</td><td>{last}</td></tr>",
            index + 1,
            escape(&fault.label),
            if fault.ignored {
                " (a network fault: not simulated)"
            } else {
                ""
            },
            window_text(fault.from_us, fault.until_us),
            fault.lanes.len(),
            fault.fired
        );
    }
    out.push_str("</table>\n");
}

fn lun_table(out: &mut String, report: &RunReport) {
    out.push_str(
        "<h2 id=\"luns\">LUNs</h2><table><tr><th>LUN</th><th>ok</th><th>failed</th>\
         <th>p50 µs</th><th>p99 µs</th><th>p99.9 µs</th><th>max µs</th><th>blocked ms</th>\
         <th>timeouts</th><th>retries</th><th>aborts</th><th>resets</th>\
         <th class=\"l\">state</th></tr>\n",
    );
    for lun in &report.summary.luns {
        let failed = lun
            .ios_failed
            .iter()
            .map(|(name, count)| format!("{} {count}", escape(name)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            escape(&lun.id),
            lun.ios_ok,
            if failed.is_empty() {
                "0".to_string()
            } else {
                failed
            },
            lun.latency_us.p50,
            lun.latency_us.p99,
            lun.latency_us.p999,
            lun.latency_us.max,
            lun.blocked_ms,
            lun.timeouts,
            lun.retries,
            lun.aborts,
            lun.resets,
            escape(&lun.state)
        );
    }
    out.push_str("</table>\n");
}

/// The narrated path: every attempt, answer, decision and EH step, in order.
fn path(out: &mut String, report: &RunReport) {
    let lines = &report.path.items;
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<h2 id=\"path\">Path taken{}</h2>",
        if report.path.complete {
            String::new()
        } else {
            format!(" (the first {} events)", lines.len())
        }
    );
    out.push_str(
        "<table class=\"path\"><tr><th>t ms</th><th class=\"l\">device</th>\
         <th class=\"l\">what happened</th></tr>\n",
    );
    for line in lines {
        let _ = writeln!(
            out,
            "<tr data-t=\"{}\"><td>{:.3}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            line.t_us,
            line.t_us as f64 / 1000.0,
            line.device.as_deref().map(escape).unwrap_or_default(),
            escape(&line.text)
        );
    }
    out.push_str("</table>\n");
    if !report.path.complete {
        let _ = writeln!(
            out,
            "<p class=\"note\">The path is cut after {} events; --trace FILE has every event \
             with its narration.</p>",
            lines.len()
        );
    }
}

fn kernel_log(out: &mut String, report: &RunReport) {
    let lines = &report.kernel_log.items;
    out.push_str("<h2 id=\"kernel-log\">Kernel log</h2>\n");
    if lines.is_empty() {
        out.push_str("<p>No lines (the kernel would have logged nothing).</p>\n");
        return;
    }
    out.push_str("<pre class=\"kernel-log\">");
    for (t_us, text) in lines {
        let _ = writeln!(
            out,
            "[{:5}.{:06}] {}",
            t_us / 1_000_000,
            t_us % 1_000_000,
            escape(text)
        );
    }
    out.push_str("</pre>\n");
    if !report.kernel_log.complete {
        let _ = writeln!(
            out,
            "<p class=\"note\">The first {} lines; --kernel-log FILE (or -v on a device \
             command) has them all.</p>",
            lines.len()
        );
    }
}

/// One lane per multipath device: each path's state over time (failed, marginal, ALUA
/// states), with the device's numbers.
fn mpath_lanes(out: &mut String, report: &RunReport) {
    if report.mpath_lanes.is_empty() {
        return;
    }
    out.push_str("<h2>Multipath devices</h2>\n");
    let end_us = (report.summary.virtual_duration_ms.max(1) * 1000) as f64;
    let (left, width, row) = (150.0, 900.0, 18.0);
    for (lane, summary) in report.mpath_lanes.iter().zip(&report.summary.mpaths) {
        let failed: u64 = summary.ios_failed.values().sum();
        let _ = writeln!(
            out,
            "<p class=\"meta\">{} · {} ok · {} failed · {} failovers · {} ms without a path</p>",
            escape(&lane.id),
            summary.ios_ok,
            failed,
            summary.failovers,
            summary.no_path_ms
        );
        let height = row * lane.paths.len() as f64 + 4.0;
        let _ = write!(
            out,
            "<svg class=\"mpath\" width=\"{}\" height=\"{height}\" role=\"img\">",
            left + width + 10.0
        );
        for (index, path) in lane.paths.iter().enumerate() {
            let y = index as f64 * row + 2.0;
            let _ = write!(
                out,
                "<text x=\"0\" y=\"{}\">{}</text>",
                y + 12.0,
                escape(path)
            );
            let mut changes: Vec<(u64, &str)> = lane
                .path_states
                .iter()
                .filter(|(_, i, _)| *i == index)
                .map(|(t, _, state)| (*t, *state))
                .collect();
            changes.insert(0, (0, "discovering"));
            for (k, (start, state)) in changes.iter().enumerate() {
                let stop = changes.get(k + 1).map_or(end_us, |(t, _)| *t as f64);
                let x = left + width * (*start as f64 / end_us).min(1.0);
                let w = (width * ((stop - *start as f64) / end_us)).max(0.5);
                let _ = write!(
                    out,
                    "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"><title>{} from {:.3} ms</title></rect>",
                    row - 4.0,
                    state_colour(state),
                    escape(state),
                    *start as f64 / 1000.0
                );
            }
        }
        out.push_str("</svg>\n");
    }
    out.push_str(
        "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#3a9d5d\"></i>active</span>\
         <span><i class=\"sw\" style=\"background:#a5d6a7\"></i>non-optimized</span>\
         <span><i class=\"sw\" style=\"background:#e8a33d\"></i>marginal</span>\
         <span><i class=\"sw\" style=\"background:#d9534f\"></i>failed</span>\
         <span><i class=\"sw\" style=\"background:#9e9e9e\"></i>standby / unavailable</span>\
         <span><i class=\"sw\" style=\"background:#f0d43a\"></i>transitioning</span>\
         <span><i class=\"sw\" style=\"background:#8e6cc0\"></i>recovering</span></p>\n",
    );
}

fn state_colour(state: &str) -> &'static str {
    match state {
        "active" => "#3a9d5d",
        "non_optimized" | "lba_dependent" => "#a5d6a7",
        "marginal" => "#e8a33d",
        "failed" | "removed" => "#d9534f",
        "standby" | "unavailable" | "offline" => "#9e9e9e",
        "transitioning" => "#f0d43a",
        "recovering" => "#8e6cc0",
        _ => "#e0e0e0",
    }
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Zoom and pan: the plots' viewBoxes, the marks' positions and both axes follow the
/// visible range [v0, v1] (µs). No external resource, nothing logged.
const SCRIPT: &str = r##"
(function () {
  "use strict";
  var svg = document.getElementById("timeline");
  if (!svg) { return; }
  var NS = "http://www.w3.org/2000/svg";
  var END = Number(svg.getAttribute("data-end-us"));
  var PX = Number(svg.getAttribute("data-plot-x"));
  var PW = Number(svg.getAttribute("data-plot-width"));
  var RH = Number(svg.getAttribute("data-rate-height"));
  var MIN_SPAN = Math.min(END, 20);
  var v0 = 0, v1 = END;
  var plots = svg.querySelectorAll("svg.plot");
  var marks = svg.querySelectorAll("g.lane [data-t]");
  var axes = svg.querySelectorAll("g.axis");
  var form = document.getElementById("zoom");
  var view = document.getElementById("view");

  function niceStep(raw) {
    raw = Math.max(raw, 1);
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var multiples = [1, 2, 5, 10];
    for (var i = 0; i < multiples.length; i++) {
      if (multiples[i] * power >= raw * (1 - 1e-12)) { return multiples[i] * power; }
    }
    return 10 * power;
  }
  function label(t, step) {
    if (step >= 1e6) { return (t / 1e6).toFixed(0) + " s"; }
    var stepMs = step / 1000;
    var decimals = stepMs >= 1 ? 0 : Math.min(3, -Math.floor(Math.log10(stepMs)));
    return (t / 1000).toFixed(decimals) + " ms";
  }
  function x(t) { return PX + (t - v0) / (v1 - v0) * PW; }
  function element(name, attributes, text) {
    var node = document.createElementNS(NS, name);
    for (var key in attributes) { node.setAttribute(key, attributes[key]); }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function drawAxis(g) {
    while (g.firstChild) { g.removeChild(g.firstChild); }
    var y = Number(g.getAttribute("data-y"));
    var top = g.getAttribute("data-side") === "top";
    g.appendChild(element("line", { x1: PX, x2: PX + PW, y1: y, y2: y, stroke: "#888" }));
    var step = niceStep((v1 - v0) / 8);
    var first = Math.ceil(v0 / step - 1e-9) * step;
    for (var i = 0; i <= 20; i++) {
      var t = first + i * step;
      if (t > v1 + step * 1e-6) { break; }
      var at = x(t).toFixed(1);
      g.appendChild(element("line", { x1: at, x2: at, y1: y, y2: top ? y - 5 : y + 5, stroke: "#888" }));
      g.appendChild(element("text", { x: at, y: top ? y - 8 : y + 18, "text-anchor": "middle" }, label(t, step)));
    }
  }
  function draw() {
    var box = v0 + " 0 " + (v1 - v0) + " " + RH;
    for (var i = 0; i < plots.length; i++) { plots[i].setAttribute("viewBox", box); }
    for (var j = 0; j < marks.length; j++) {
      var mark = marks[j];
      var t = Number(mark.getAttribute("data-t"));
      if (t < v0 || t > v1) {
        mark.setAttribute("display", "none");
      } else {
        mark.removeAttribute("display");
        mark.setAttribute("transform", "translate(" + x(t).toFixed(1) + ",0)");
      }
    }
    for (var k = 0; k < axes.length; k++) { drawAxis(axes[k]); }
    var digits = (v1 - v0) <= 100000 ? 3 : 1;
    view.textContent = "showing " + (v0 / 1000).toFixed(digits) + "–" + (v1 / 1000).toFixed(digits) +
      " ms of " + (END / 1000).toFixed(digits) + " ms";
    form.elements.from.value = (v0 / 1000).toFixed(3);
    form.elements.to.value = (v1 / 1000).toFixed(3);
  }
  function show(a, b) {
    if (!(b > a)) { return; }
    var span = Math.min(Math.max(b - a, MIN_SPAN), END);
    var middle = (a + b) / 2;
    a = middle - span / 2;
    if (a < 0) { a = 0; }
    if (a + span > END) { a = END - span; }
    v0 = a;
    v1 = a + span;
    draw();
  }
  function zoom(factor, around) {
    var span = (v1 - v0) * factor;
    var share = (around - v0) / (v1 - v0);
    var a = around - share * span;
    show(a, a + span);
  }
  function timeAt(clientX) {
    var box = svg.getBoundingClientRect();
    var scale = svg.viewBox.baseVal.width / box.width;
    var px = (clientX - box.left) * scale;
    return { inside: px >= PX && px <= PX + PW, t: v0 + (px - PX) / PW * (v1 - v0), scale: scale };
  }
  svg.addEventListener("wheel", function (event) {
    var at = timeAt(event.clientX);
    if (!at.inside) { return; }
    event.preventDefault();
    zoom(event.deltaY < 0 ? 0.8 : 1.25, at.t);
  }, { passive: false });
  var drag = null;
  svg.addEventListener("mousedown", function (event) {
    drag = { clientX: event.clientX, v0: v0, v1: v1, scale: timeAt(event.clientX).scale };
  });
  window.addEventListener("mousemove", function (event) {
    if (!drag) { return; }
    var shift = (event.clientX - drag.clientX) * drag.scale / PW * (drag.v1 - drag.v0);
    show(drag.v0 - shift, drag.v1 - shift);
  });
  window.addEventListener("mouseup", function () { drag = null; });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    show(Number(form.elements.from.value) * 1000, Number(form.elements.to.value) * 1000);
  });
  var buttons = form.querySelectorAll("button[data-zoom]");
  for (var b = 0; b < buttons.length; b++) {
    buttons[b].addEventListener("click", function () {
      var what = this.getAttribute("data-zoom");
      var span = v1 - v0;
      if (what === "in") { zoom(0.5, (v0 + v1) / 2); }
      if (what === "out") { zoom(2, (v0 + v1) / 2); }
      if (what === "left") { show(v0 - span / 2, v1 - span / 2); }
      if (what === "right") { show(v0 + span / 2, v1 + span / 2); }
      if (what === "reset") { show(0, END); }
    });
  }
  var rows = document.querySelectorAll("tr[data-t]");
  for (var r = 0; r < rows.length; r++) {
    rows[r].addEventListener("click", function () {
      var t = Number(this.getAttribute("data-t"));
      var half = Math.max(MIN_SPAN, Math.min(2000, END / 2));
      show(t - half, t + half);
      svg.scrollIntoView({ block: "nearest" });
    });
  }
  var wanted = /from=([0-9.]+)&to=([0-9.]+)/.exec(window.location.hash);
  if (wanted) {
    show(Number(wanted[1]) * 1000, Number(wanted[2]) * 1000);
  } else {
    draw();
  }
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{FaultMark, Recorder};
    use unjam_scsi::BlkStatus;

    fn three_lanes() -> RunReport {
        let ids = vec![
            "0:0:0:0".to_string(),
            "0:0:0:1".to_string(),
            "0:0:1:0".to_string(),
        ];
        let mut recorder = Recorder::new(ids, 10_000);
        for t in 0..100u64 {
            recorder.io_done((t % 3) as usize, t * 1000, 150, BlkStatus::Ok);
        }
        recorder.io_done(1, 50_000, 30_000, BlkStatus::IoErr);
        recorder.set_blocked(1, 40_000, true);
        recorder.set_blocked(1, 60_000, false);
        recorder.eh_event(45_000, "lun", "lun_reset", "0:0:0:1".into(), "success");
        recorder.eh_event(46_000, "host", "host_reset", "host0".into(), "failed");
        recorder.eh_event(47_000, "target", "target_reset", "0:0:1".into(), "success");
        recorder.poll_started(2, 30_000, 7);
        recorder.poll_started(2, 31_000, 8);
        recorder.poll_found_nothing(2, 8);
        recorder.set_faults(vec![FaultMark {
            label: "kind=\"timeout\" device=\"0:0:1:0\"".into(),
            lanes: vec![2],
            from_us: 20_000,
            until_us: Some(35_000),
            fired: 1,
            fired_span_us: Some((29_000, 29_000)),
            ignored: false,
        }]);
        recorder.fault_hit(29_000, 0, 2);
        recorder.path_line(
            29_000,
            Some("0:0:1:0".into()),
            "attempt 1: dispatched".into(),
        );
        recorder.kernel_line(90_000, "sd 0:0:1:0: [sdc] tag#0 FAILED".into());
        recorder.finish("a <test>".into(), 1, 100_000, 101, Vec::new())
    }

    #[test]
    fn lanes_marks_tables_and_nothing_external() {
        let html = render_html(&three_lanes());
        assert_eq!(html.matches("class=\"lane\"").count(), 3);
        assert_eq!(html.matches("class=\"blocked\"").count(), 1);
        assert_eq!(
            html.matches("<g class=\"eh\"").count(),
            1 + 3 + 1,
            "the LUN's own, host-wide on every lane, the target's on its LUN"
        );
        assert_eq!(html.matches("class=\"y-axis\"").count(), 3);
        assert_eq!(html.matches("<g class=\"poll\"").count(), 2);
        assert!(html.contains("the poll found the completion"));
        assert!(html.contains("the poll found nothing"));
        assert_eq!(html.matches("class=\"fault-window\"").count(), 1);
        assert_eq!(html.matches("<g class=\"fault-hit\"").count(), 1);
        assert_eq!(html.matches("<g class=\"fault-start\"").count(), 1);
        assert_eq!(html.matches("<g class=\"axis\"").count(), 2);
        assert!(html.contains("<table class=\"eh-steps\">"));
        assert_eq!(html.matches("<tr data-t=").count(), 3 + 1 + 1);
        assert!(html.contains("attempt 1: dispatched"));
        assert!(html.contains("[    0.090000] sd 0:0:1:0: [sdc] tag#0 FAILED"));
        assert!(html.contains("a &lt;test&gt;"));
        assert!(!html.contains("src="), "no external resources");
        assert!(!html.contains("href="), "no external resources");
        assert!(!html.contains("class=\"note\""), "nothing was cut");
    }

    #[test]
    fn each_lane_has_its_own_scale() {
        let mut recorder = Recorder::new(vec!["0:0:0:0".into(), "0:0:0:1".into()], 1_000);
        for t in 0..1000u64 {
            recorder.io_done(0, t * 10, 10, BlkStatus::Ok);
        }
        recorder.io_done(1, 5_000, 10, BlkStatus::Ok);
        let html = render_html(&recorder.finish("scales".into(), 1, 10_000, 1001, Vec::new()));
        assert!(html.contains(">100k/s</text>"), "100 per 1 ms bucket");
        assert!(html.contains(">1.0k/s</text>"), "1 per 1 ms bucket");
        // Both lanes reach the top of their own plot.
        assert_eq!(html.matches("L5000,2.0L6000,2.0").count(), 2);
    }

    #[test]
    fn what_a_bound_left_out_is_said() {
        let mut recorder = Recorder::new(vec!["0:0:0:0".into()], 1_000);
        for t in 0..(crate::report::MAX_ERRORS_PER_LANE as u64 + 5) {
            recorder.io_done(0, t, 10, BlkStatus::IoErr);
        }
        for t in 0..(crate::report::MAX_PATH_LINES as u64 + 1) {
            recorder.path_line(t, None, "x".into());
        }
        let html = render_html(&recorder.finish("cut".into(), 1, 10_000, 1, Vec::new()));
        assert!(
            html.contains("5 failed commands are in the failed rate"),
            "errors"
        );
        assert!(html.contains("The path is cut after 2000 events"), "path");
    }

    #[test]
    fn steps_and_labels() {
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(1500.0), 2000.0);
        assert_eq!(nice_step(250.0), 500.0);
        assert_eq!(time_label(1500.0, 500.0), "1.5 ms");
        assert_eq!(time_label(40_000.0, 10_000.0), "40 ms");
        assert_eq!(time_label(4_000_000.0, 1_000_000.0), "4 s");
        assert_eq!(rate_label(850.0), "850/s");
        assert_eq!(rate_label(12_600.0), "13k/s");
        assert_eq!(rate_label(2.0), "2.0/s");
        assert!(concerns("0:0:1", "0:0:1:2"));
        assert!(!concerns("0:0:1", "0:0:10:2"));
        assert!(concerns("host0", "0:0:1:2"));
        assert!(!concerns("host1", "0:0:1:2"));
        assert!(concerns("0:*:*:*", "0:0:1:2"));
        assert!(!concerns("1:*:*:*", "0:0:1:2"));
    }
}
