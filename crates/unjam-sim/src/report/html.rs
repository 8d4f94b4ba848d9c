//! The HTML timeline: one self-contained page (inline CSS and SVG, no script, no external
//! resource) with one lane per LUN showing its I/O rate, failed commands, blocked windows
//! and error-handling steps on a shared time axis, then the summary table.

use std::fmt::Write;

use super::summary::{EhEventRecord, RunReport};

const LABEL_WIDTH: f64 = 250.0;
const PLOT_WIDTH: f64 = 900.0;
const LANE_HEIGHT: f64 = 58.0;
const RATE_HEIGHT: f64 = 38.0;
const TOP: f64 = 30.0;

/// Renders the report as one HTML document.
pub fn render_html(report: &RunReport) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = escape(&report.title);
    let summary = &report.summary;
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>unjam run: {title}</title><style>{STYLE}</style></head><body>\n\
         <h1>unjam run: {title}</h1>\n<p class=\"meta\">seed {} · {} ms of virtual time · \
         {} LUNs · {} error-handling events · {} commands simulated</p>\n",
        summary.seed,
        summary.virtual_duration_ms,
        summary.luns.len(),
        summary.eh_events.len(),
        report.commands_simulated
    );
    out.push_str(LEGEND);
    svg(&mut out, report);
    table(&mut out, report);
    events(&mut out, &summary.eh_events);
    out.push_str("</body></html>\n");
    out
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:20px;color:#222}\
h1{font-size:20px;margin:0 0 4px}.meta{color:#555;margin:0 0 10px}\
.legend span{display:inline-block;margin-right:16px}.sw{display:inline-block;width:12px;\
height:12px;margin-right:4px;vertical-align:-1px}svg text{font:12px system-ui,sans-serif}\
table{border-collapse:collapse;margin-top:16px}td,th{border:1px solid #ccc;padding:3px 8px;\
text-align:right}td:first-child,th:first-child{text-align:left}\
details{margin-top:16px}";

const LEGEND: &str = "<p class=\"legend\">\
<span><i class=\"sw\" style=\"background:#5b9bd5\"></i>I/O completed good (rate)</span>\
<span><i class=\"sw\" style=\"background:#c00000\"></i>I/O failed</span>\
<span><i class=\"sw\" style=\"background:#f4b183\"></i>blocked by error handling</span>\
<span><i class=\"sw\" style=\"background:#7030a0\"></i>error-handling step \
(hover for details)</span></p>\n";

fn svg(out: &mut String, report: &RunReport) {
    let lanes = report.summary.luns.len();
    let height = TOP + LANE_HEIGHT * lanes as f64 + 30.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + 20.0;
    let end_us = (report.summary.virtual_duration_ms.max(1) * 1000) as f64;
    let x = |t_us: f64| LABEL_WIDTH + (t_us / end_us).clamp(0.0, 1.0) * PLOT_WIDTH;
    let peak = report
        .lanes
        .iter()
        .flat_map(|l| l.ok_per_bucket.iter().chain(l.failed_per_bucket.iter()))
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"timeline\">"
    );
    for (index, lun) in report.summary.luns.iter().enumerate() {
        let y = TOP + LANE_HEIGHT * index as f64;
        let detail = report.lanes.get(index).cloned().unwrap_or_default();
        let id = escape(&lun.id);
        let failed: u64 = lun.ios_failed.values().sum();
        let _ = write!(
            out,
            "<g class=\"lane\" data-lun=\"{id}\" transform=\"translate(0,{y})\">\
             <rect x=\"{LABEL_WIDTH}\" y=\"0\" width=\"{PLOT_WIDTH}\" height=\"{RATE_HEIGHT}\" \
             fill=\"#f7f7f7\" stroke=\"#ddd\"/>\
             <text x=\"4\" y=\"15\" font-weight=\"bold\">{id}</text>\
             <text x=\"4\" y=\"31\" fill=\"#555\">ok {} · failed {failed} · blocked {} ms</text>",
            lun.ios_ok, lun.blocked_ms
        );
        for (start, end) in &detail.blocked_us {
            let (left, right) = (x(*start as f64), x(*end as f64));
            let _ = write!(
                out,
                "<rect class=\"blocked\" x=\"{left:.1}\" y=\"0\" width=\"{:.1}\" \
                 height=\"{RATE_HEIGHT}\" fill=\"#f4b183\" opacity=\"0.75\"><title>blocked \
                 {:.1}–{:.1} ms</title></rect>",
                (right - left).max(1.0),
                *start as f64 / 1000.0,
                *end as f64 / 1000.0
            );
        }
        rate_path(
            out,
            &detail.ok_per_bucket,
            report.bucket_us,
            peak,
            &x,
            "#5b9bd5",
        );
        rate_path(
            out,
            &detail.failed_per_bucket,
            report.bucket_us,
            peak,
            &x,
            "#c00000",
        );
        for (t_us, status) in &detail.errors {
            let at = x(*t_us as f64);
            let _ = write!(
                out,
                "<line class=\"error\" x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{RATE_HEIGHT}\" \
                 y2=\"{:.1}\" stroke=\"#c00000\"><title>{:.3} ms: {status}</title></line>",
                RATE_HEIGHT + 6.0,
                *t_us as f64 / 1000.0
            );
        }
        eh_markers(out, &report.summary.eh_events, &lun.id, &x);
        out.push_str("</g>\n");
    }
    axis(out, height - 24.0, end_us, &x);
    out.push_str("</svg>\n");
}

fn rate_path(
    out: &mut String,
    buckets: &[u32],
    bucket_us: u64,
    peak: f64,
    x: &dyn Fn(f64) -> f64,
    colour: &str,
) {
    if buckets.iter().all(|c| *c == 0) {
        return;
    }
    let mut path = format!("M{:.1},{RATE_HEIGHT}", x(0.0));
    for (index, count) in buckets.iter().enumerate() {
        let top = RATE_HEIGHT - (*count as f64 / peak) * (RATE_HEIGHT - 2.0);
        let start = x((index as u64 * bucket_us) as f64);
        let end = x(((index as u64 + 1) * bucket_us) as f64);
        let _ = write!(path, "L{start:.1},{top:.1}L{end:.1},{top:.1}");
    }
    let last = x((buckets.len() as u64 * bucket_us) as f64);
    let _ = write!(path, "L{last:.1},{RATE_HEIGHT}Z");
    let _ = write!(
        out,
        "<path class=\"rate\" d=\"{path}\" fill=\"{colour}\" opacity=\"0.85\"/>"
    );
}

fn eh_markers(out: &mut String, events: &[EhEventRecord], lun: &str, x: &dyn Fn(f64) -> f64) {
    let host = lun.split(':').next().unwrap_or("");
    let host_device = format!("host{host}");
    for event in events
        .iter()
        .filter(|e| e.device == lun || e.device == host_device)
    {
        let at = x(event.t_ms * 1000.0);
        let colour = match event.outcome.as_str() {
            "success" => "#2e7d32",
            "failed" | "offline" | "timeout" => "#c00000",
            _ => "#7030a0",
        };
        let y = RATE_HEIGHT + 10.0;
        let _ = write!(
            out,
            "<path class=\"eh\" d=\"M{at:.1},{:.1}l5,5l-5,5l-5,-5z\" fill=\"{colour}\">\
             <title>{:.3} ms: {} {} {} → {}</title></path>",
            y - 5.0,
            event.t_ms,
            escape(&event.scope),
            escape(&event.step),
            escape(&event.device),
            escape(&event.outcome)
        );
    }
}

fn axis(out: &mut String, y: f64, end_us: f64, x: &dyn Fn(f64) -> f64) {
    let end_ms = end_us / 1000.0;
    let step_ms = nice_step(end_ms / 10.0);
    let _ = write!(
        out,
        "<g class=\"axis\"><line x1=\"{LABEL_WIDTH}\" x2=\"{:.1}\" y1=\"{y}\" y2=\"{y}\" \
         stroke=\"#888\"/>",
        LABEL_WIDTH + PLOT_WIDTH
    );
    let mut tick = 0.0;
    let mut ticks = 0;
    while tick <= end_ms + 1e-9 && ticks <= 20 {
        let at = x(tick * 1000.0);
        let label = if step_ms >= 1000.0 {
            format!("{:.0} s", tick / 1000.0)
        } else {
            format!("{tick:.0} ms")
        };
        let _ = write!(
            out,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{y}\" y2=\"{:.1}\" stroke=\"#888\"/>\
             <text x=\"{at:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            y + 5.0,
            y + 18.0
        );
        tick += step_ms;
        ticks += 1;
    }
    out.push_str("</g>\n");
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1.0);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * power)
}

fn table(out: &mut String, report: &RunReport) {
    out.push_str(
        "<table><tr><th>LUN</th><th>ok</th><th>failed</th><th>p50 µs</th><th>p99 µs</th>\
         <th>p99.9 µs</th><th>max µs</th><th>blocked ms</th></tr>\n",
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
             <td>{}</td></tr>",
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
            lun.blocked_ms
        );
    }
    out.push_str("</table>\n");
}

fn events(out: &mut String, events: &[EhEventRecord]) {
    let _ = writeln!(
        out,
        "<details><summary>{} error-handling events</summary><table><tr><th>t ms</th>\
         <th>scope</th><th>step</th><th>device</th><th>outcome</th></tr>",
        events.len()
    );
    for event in events.iter().take(2000) {
        let _ = writeln!(
            out,
            "<tr><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            event.t_ms,
            escape(&event.scope),
            escape(&event.step),
            escape(&event.device),
            escape(&event.outcome)
        );
    }
    out.push_str("</table></details>\n");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Recorder;
    use unjam_scsi::BlkStatus;

    #[test]
    fn one_lane_per_lun_and_nothing_external() {
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
        let html = render_html(&recorder.finish("a <test>".into(), 1, 100_000, 101, Vec::new()));
        assert_eq!(html.matches("class=\"lane\"").count(), 3);
        assert_eq!(html.matches("class=\"blocked\"").count(), 1);
        assert_eq!(
            html.matches("class=\"eh\"").count(),
            1 + 3,
            "host-wide on every lane"
        );
        assert!(html.contains("a &lt;test&gt;"));
        assert!(!html.contains("src="), "no external resources");
        assert!(!html.contains("href="), "no external resources");
        assert!(!html.contains("<script"));
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(1500.0), 2000.0);
    }
}
