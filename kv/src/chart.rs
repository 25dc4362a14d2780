//! The demo's chart, as hand-written SVG: one lane per node coloured by
//! mode over time (with the demo's faults marked), and every successful
//! operation's latency over the same time axis.

use std::fmt::Write as _;
use std::time::Duration;

use tessera_core::NodeId;

use crate::demo::{LatencySample, TimelineEvent};

const WIDTH: f64 = 960.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const LANE: f64 = 26.0;
const LATENCY_HEIGHT: f64 = 220.0;
/// The most latency points drawn.
const POINTS_MAX: usize = 4_000;

fn colour(state: &str) -> &'static str {
    match state {
        "leading" => "#2e7d32",
        "following" => "#64b5f6",
        "degraded" => "#f9a825",
        "recovery" => "#e53935",
        "bootstrap" => "#9e9e9e",
        "down" => "#212121",
        _ => "#bdbdbd",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the chart for `timeline` and `samples` over `[0, end]`.
pub(crate) fn render(
    timeline: &[TimelineEvent],
    samples: &[LatencySample],
    end: Duration,
    nodes: &[NodeId],
) -> String {
    let span = end.as_secs_f64().max(1e-3);
    let plot = WIDTH - LEFT - RIGHT;
    let x = |at: Duration| LEFT + plot * (at.as_secs_f64() / span).min(1.0);
    let lanes_top = 50.0;
    let lanes_height = LANE * nodes.len() as f64;
    let latency_top = lanes_top + lanes_height + 60.0;
    let height = latency_top + LATENCY_HEIGHT + 70.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="{LEFT}" y="24" font-size="15" font-weight="bold">tessera-kv demo: node modes and operation latency over {span:.1} s</text>"##
    );

    // Mode lanes.
    for (lane, &node) in nodes.iter().enumerate() {
        let top = lanes_top + LANE * lane as f64;
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{:.1}">node {node}</text>"#,
            top + LANE * 0.65
        );
        let events: Vec<&TimelineEvent> = timeline.iter().filter(|e| e.node == node).collect();
        for (at, event) in events.iter().enumerate() {
            let start = x(event.at);
            let stop = events.get(at + 1).map_or(x(end), |next| x(next.at));
            let _ = writeln!(
                svg,
                r#"<rect x="{start:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>node {node}: {} ({:.3} s) — {}</title></rect>"#,
                (stop - start).max(0.5),
                LANE - 4.0,
                colour(&event.state),
                escape(&event.state),
                event.at.as_secs_f64(),
                escape(&event.trigger)
            );
        }
    }
    // The demo's own actions, as dashed lines across both panels.
    for event in timeline.iter().filter(|e| {
        e.state == "down" || e.trigger.starts_with("restarted") || e.trigger == "rejoined"
    }) {
        let at = x(event.at);
        let label = if event.state == "down" {
            format!("node {} down", event.node)
        } else {
            format!("node {} back", event.node)
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{at:.1}" y1="{:.1}" x2="{at:.1}" y2="{:.1}" stroke="#424242" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"##,
            lanes_top - 8.0,
            latency_top + LATENCY_HEIGHT,
            at + 3.0,
            lanes_top - 10.0,
            escape(&label)
        );
    }
    // Legend.
    let legend_y = lanes_top + lanes_height + 22.0;
    for (n, state) in [
        "leading",
        "following",
        "degraded",
        "recovery",
        "bootstrap",
        "down",
    ]
    .iter()
    .enumerate()
    {
        let lx = LEFT + 110.0 * n as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{legend_y:.1}">{state}</text>"#,
            legend_y - 10.0,
            colour(state),
            lx + 16.0
        );
    }

    // Latency panel: a linear axis up to the largest latency (at least 1 ms).
    let top_ms = samples
        .iter()
        .map(|s| s.latency.as_secs_f64() * 1e3)
        .fold(1.0_f64, f64::max);
    let y = |ms: f64| latency_top + LATENCY_HEIGHT * (1.0 - (ms / top_ms).min(1.0));
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{latency_top:.1}" width="{plot:.1}" height="{LATENCY_HEIGHT}" fill="none" stroke="#9e9e9e"/><text x="10" y="{:.1}">latency</text><text x="10" y="{:.1}">{top_ms:.0} ms</text><text x="10" y="{:.1}">0 ms</text>"##,
        latency_top + LATENCY_HEIGHT / 2.0,
        latency_top + 10.0,
        latency_top + LATENCY_HEIGHT
    );
    // At most POINTS_MAX points: each stands for a run of consecutive
    // samples, the slowest of them (spikes stay visible).
    let stride = samples.len().div_ceil(POINTS_MAX).max(1);
    let shown = samples
        .chunks(stride)
        .filter_map(|run| run.iter().copied().max_by_key(|sample| sample.latency));
    for sample in shown {
        let fill = if sample.write { "#d81b60" } else { "#1e88e5" };
        let _ = writeln!(
            svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="{fill}" fill-opacity="0.6"/>"#,
            x(sample.at),
            y(sample.latency.as_secs_f64() * 1e3)
        );
    }
    let axis_y = latency_top + LATENCY_HEIGHT + 18.0;
    let step = (span / 10.0).max(0.5).ceil();
    let mut tick = 0.0;
    while tick <= span {
        let at = x(Duration::from_secs_f64(tick));
        let _ = writeln!(
            svg,
            r#"<text x="{at:.1}" y="{axis_y:.1}" text-anchor="middle">{tick:.0} s</text>"#
        );
        tick += step;
    }
    let _ = writeln!(
        svg,
        r##"<circle cx="{LEFT}" cy="{:.1}" r="4" fill="#1e88e5"/><text x="{:.1}" y="{:.1}">read</text><circle cx="{:.1}" cy="{:.1}" r="4" fill="#d81b60"/><text x="{:.1}" y="{:.1}">write / cas / delete</text>"##,
        axis_y + 22.0,
        LEFT + 8.0,
        axis_y + 26.0,
        LEFT + 60.0,
        axis_y + 22.0,
        LEFT + 68.0,
        axis_y + 26.0
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_one_svg_with_a_lane_per_node_and_escaped_text() {
        let timeline = vec![
            TimelineEvent {
                at: Duration::from_millis(10),
                node: 1,
                state: "leading".into(),
                from: "recovery".into(),
                trigger: "won <election> & more".into(),
                target: true,
            },
            TimelineEvent {
                at: Duration::from_millis(500),
                node: 1,
                state: "down".into(),
                from: "leading".into(),
                trigger: "killed".into(),
                target: false,
            },
        ];
        let samples = vec![LatencySample {
            at: Duration::from_millis(20),
            latency: Duration::from_millis(3),
            write: true,
        }];
        let svg = render(&timeline, &samples, Duration::from_secs(1), &[1, 2]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("node 2"));
        assert!(svg.contains("won &lt;election&gt; &amp; more"));
        assert!(!svg.contains("<election>"));
        assert_eq!(svg.matches("<circle").count(), 3);
    }
}
