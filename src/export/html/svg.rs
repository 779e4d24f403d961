//! SVG charts drawn inline: horizontal bars, columns and lines, and the bars of a [`Counts`].
//! Every text that reaches the markup goes through [`escape`].

use std::fmt::Write;

use super::page::{clip, escape, int, pct};
use crate::export::report::Counts;

/// One bar: label (raw text), value, and the text shown after the bar (raw text).
pub struct Item {
    /// Label before the bar.
    pub label: String,
    /// Length.
    pub value: f64,
    /// Text after the bar.
    pub text: String,
}

impl Item {
    pub fn new(label: impl Into<String>, value: f64, text: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value,
            text: text.into(),
        }
    }
}

pub const BLUE: &str = "#3b6fb6";
pub const ORANGE: &str = "#d9822b";
pub const GREEN: &str = "#3f8f5a";
pub const RED: &str = "#c0453a";
pub const PURPLE: &str = "#7a5aa6";
pub const PALETTE: [&str; 6] = [BLUE, ORANGE, GREEN, RED, PURPLE, "#6b7a8f"];
/// Rows shown by a mix chart; the rest are summed into one row.
pub const MAX_ROWS: usize = 16;

/// Horizontal bars, longest = `max` (or the largest value). `None` when nothing is non-zero:
/// callers then say so in words instead of drawing an empty chart.
pub fn hbar(items: &[Item], max: Option<f64>, color: &str) -> Option<String> {
    if !items.iter().any(|i| i.value > 0.0) {
        return None;
    }
    let (w, label_w, bar_w, row) = (720.0, 200.0, 280.0, 22.0);
    let max = max.unwrap_or_else(|| items.iter().map(|i| i.value).fold(0.0, f64::max));
    let h = row * items.len() as f64 + 6.0;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" preserveAspectRatio="xMinYMin meet">"#
    );
    for (n, it) in items.iter().enumerate() {
        let y = 3.0 + row * n as f64;
        let bw = if it.value > 0.0 && max > 0.0 {
            (it.value / max * bar_w).clamp(1.0, bar_w)
        } else {
            0.0
        };
        let label = escape(&it.label);
        let _ = write!(
            o,
            r#"<text x="{lx}" y="{ty}" text-anchor="end">{short}<title>{label}</title></text><rect class="track" x="{label_w}" y="{y}" width="{bar_w}" height="{bh}"/>"#,
            lx = label_w - 6.0,
            ty = y + 14.0,
            short = escape(&clip(&it.label, 30)),
            bh = row - 6.0,
        );
        if bw > 0.0 {
            let _ = write!(
                o,
                r#"<rect class="bar" x="{label_w}" y="{y}" width="{bw:.2}" height="{bh}" fill="{color}"><title>{label}: {text}</title></rect>"#,
                bh = row - 6.0,
                text = escape(&it.text),
            );
        }
        let _ = write!(
            o,
            r#"<text x="{tx}" y="{ty}">{text}</text>"#,
            tx = label_w + bar_w + 6.0,
            ty = y + 14.0,
            text = escape(&it.text),
        );
    }
    o.push_str("</svg>");
    Some(o)
}

/// A "nice" axis step (1, 2 or 5 × 10^k) for about `ticks` intervals up to `max`.
pub fn nice_step(max: f64, ticks: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / ticks;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

pub fn axis_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.2}")
    }
}

/// A chart's canvas: size and margins (left, right, top, bottom) around the plot area.
struct Frame {
    w: f64,
    h: f64,
    l: f64,
    r: f64,
    t: f64,
    b: f64,
}

impl Frame {
    /// Plot width.
    fn pw(&self) -> f64 {
        self.w - self.l - self.r
    }

    /// Plot height.
    fn ph(&self) -> f64 {
        self.h - self.t - self.b
    }

    /// The y of value `v` on a scale from 0 to `top`.
    fn y(&self, v: f64, top: f64) -> f64 {
        self.t + self.ph() - v / top * self.ph()
    }

    /// Horizontal grid lines with their labels, every `step` from 0 to `top`.
    fn y_grid(&self, o: &mut String, top: f64, step: f64) {
        let mut v = 0.0;
        while v <= top + step / 2.0 {
            let y = self.y(v, top);
            let _ = write!(
                o,
                r#"<line class="grid" x1="{l}" x2="{x2}" y1="{y:.1}" y2="{y:.1}"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{lab}</text>"#,
                l = self.l,
                x2 = self.l + self.pw(),
                tx = self.l - 6.0,
                ty = y + 4.0,
                lab = axis_label(v),
            );
            v += step;
        }
    }
}

/// Columns over consecutive categories (a histogram): `values[i]` is category `cat(i)`.
/// `None` when all are zero.
pub fn columns(
    cat: &dyn Fn(usize) -> String,
    values: &[u64],
    x_title: &str,
    color: &str,
) -> Option<String> {
    let max = values.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return None;
    }
    let f = Frame {
        w: 640.0,
        h: 220.0,
        l: 56.0,
        r: 10.0,
        t: 10.0,
        b: 42.0,
    };
    let (pw, ph, l, t) = (f.pw(), f.ph(), f.l, f.t);
    let step = nice_step(max as f64, 4.0);
    let top = (max as f64 / step).ceil() * step;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart" viewBox="0 0 {} {}" role="img" preserveAspectRatio="xMinYMin meet">"#,
        f.w, f.h
    );
    f.y_grid(&mut o, top, step);
    let cw = pw / values.len() as f64;
    let every = ((values.len() as f64 / 12.0).ceil() as usize).max(1);
    for (i, &c) in values.iter().enumerate() {
        let x = l + cw * i as f64;
        let cat = escape(&cat(i));
        if c > 0 {
            let ch = (c as f64 / top * ph).max(1.0);
            let _ = write!(
                o,
                r#"<rect class="bar" x="{x:.2}" y="{y:.2}" width="{bw:.2}" height="{ch:.2}" fill="{color}"><title>{cat}: {cnt}</title></rect>"#,
                y = t + ph - ch,
                bw = (cw * 0.85).max(0.5),
                cnt = int(c),
            );
        }
        if i.is_multiple_of(every) {
            let _ = write!(
                o,
                r#"<text x="{tx:.1}" y="{ty}" text-anchor="middle">{cat}</text>"#,
                tx = x + cw / 2.0,
                ty = t + ph + 16.0,
            );
        }
    }
    let _ = write!(
        o,
        r#"<line class="axis" x1="{l}" x2="{x2}" y1="{y}" y2="{y}"/><text x="{tx}" y="{ty}" text-anchor="middle">{xt}</text></svg>"#,
        x2 = l + pw,
        y = t + ph,
        tx = l + pw / 2.0,
        ty = f.h - 6.0,
        xt = escape(x_title),
    );
    Some(o)
}

/// One line of a line chart.
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Stroke colour.
    pub color: &'static str,
    /// One value per step.
    pub values: Vec<f64>,
}

/// The canvas of line charts.
const LINES: Frame = Frame {
    w: 1200.0,
    h: 340.0,
    l: 60.0,
    r: 16.0,
    t: 30.0,
    b: 40.0,
};

/// Lines over time: point `i` of every series is at `step_s * i` seconds after the start.
/// `None` when there is no point.
pub fn lines(series: &[Series], step_s: f64, y_title: &str) -> Option<String> {
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    if n == 0 {
        return None;
    }
    let f = &LINES;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let step = nice_step(max, 4.0);
    let top = if max > 0.0 {
        (max / step).ceil() * step
    } else {
        1.0
    };
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart lines" viewBox="0 0 {} {}" role="img" preserveAspectRatio="xMinYMin meet">"#,
        f.w, f.h
    );
    f.y_grid(&mut o, top, step);
    time_axis(&mut o, n, step_s, y_title);
    legend(&mut o, series);
    let x_of = |i: usize| {
        if n == 1 {
            f.l + f.pw() / 2.0
        } else {
            f.l + f.pw() * i as f64 / (n - 1) as f64
        }
    };
    for sr in series.iter().filter(|s| !s.values.is_empty()) {
        let mut d = String::new();
        for (i, v) in sr.values.iter().enumerate() {
            let m = if i == 0 { "M" } else { " L" };
            let _ = write!(d, "{m}{:.2} {:.2}", x_of(i), f.y(*v, top));
        }
        if sr.values.len() == 1 {
            // A single point: a short flat stroke, so it shows.
            let _ = write!(d, " L{:.2} {:.2}", x_of(0) + 4.0, f.y(sr.values[0], top));
        }
        let _ = write!(
            o,
            r#"<path class="line" d="{d}" stroke="{c}"><title>{label}</title></path>"#,
            c = sr.color,
            label = escape(&sr.label),
        );
    }
    o.push_str("</svg>");
    Some(o)
}

/// The x axis of a line chart (seconds since the first point) and the y title.
fn time_axis(o: &mut String, n: usize, step_s: f64, y_title: &str) {
    let f = &LINES;
    let (pw, ph) = (f.pw(), f.ph());
    let span = step_s * (n.max(2) - 1) as f64;
    let xstep = nice_step(span, 6.0);
    let mut s = 0.0;
    while s <= span + xstep / 2.0 && n > 1 {
        let x = f.l + pw * s / span;
        let _ = write!(
            o,
            r#"<text x="{x:.1}" y="{ty}" text-anchor="middle">{lab}</text>"#,
            ty = f.t + ph + 16.0,
            lab = axis_label(s),
        );
        s += xstep;
    }
    let _ = write!(
        o,
        r#"<line class="axis" x1="{l}" x2="{x2}" y1="{y}" y2="{y}"/><text x="{tx}" y="{ty}" text-anchor="middle">seconds since the first packet</text><text x="{l}" y="14">{yt}</text>"#,
        l = f.l,
        x2 = f.l + pw,
        y = f.t + ph,
        tx = f.l + pw / 2.0,
        ty = f.h - 6.0,
        yt = escape(y_title),
    );
}

/// The legend of a line chart, right-aligned at the top.
fn legend(o: &mut String, series: &[Series]) {
    let mut lx = LINES.w - LINES.r;
    for sr in series.iter().rev() {
        let label = escape(&clip(&sr.label, 16));
        lx -= 16.0 + 7.5 * sr.label.chars().count().min(16) as f64 + 14.0;
        let _ = write!(
            o,
            r#"<rect class="key" x="{lx:.1}" y="6" width="12" height="12" fill="{c}"/><text x="{tx:.1}" y="16">{label}</text>"#,
            c = sr.color,
            tx = lx + 16.0,
        );
    }
}

//------------ Bars from counts ---------------------------------------------------

/// `{mnemonic: count}` → bars with shares of `total`, at most [`MAX_ROWS`] (the rest summed).
pub fn mix_items(m: &Counts, total: u64) -> Vec<Item> {
    let mut v: Vec<(String, u64)> = m.0.iter().filter(|(_, n)| *n > 0).cloned().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if v.len() > MAX_ROWS {
        let rest: u64 = v[MAX_ROWS - 1..].iter().map(|x| x.1).sum();
        let others = v.len() - (MAX_ROWS - 1);
        v.truncate(MAX_ROWS - 1);
        v.push((format!("({others} others)"), rest));
    }
    v.into_iter()
        .map(|(k, n)| Item::new(k, n as f64, format!("{} ({})", int(n), pct(n, total))))
        .collect()
}

/// Bars in the counts' order, zeros kept (bucketed histograms).
pub fn ordered_items(m: &Counts, total: u64, label: impl Fn(&str) -> String) -> Vec<Item> {
    m.0.iter()
        .map(|(k, n)| {
            Item::new(
                label(k),
                *n as f64,
                format!("{} ({})", int(*n), pct(*n, total)),
            )
        })
        .collect()
}

/// `le_1232` → `≤ 1232`; `above` → `> 4095` (the last bound before it).
pub fn size_label(m: &Counts) -> impl Fn(&str) -> String + '_ {
    move |k: &str| {
        if let Some(b) = k.strip_prefix("le_") {
            format!("≤ {b}")
        } else if k == "above" {
            let last =
                m.0.iter()
                    .filter_map(|(k, _)| k.strip_prefix("le_"))
                    .next_back()
                    .unwrap_or("?");
            format!("> {last}")
        } else {
            k.to_owned()
        }
    }
}

/// A sparse `{"n": count}` distribution as columns over `0..=max n`.
pub fn distribution(m: &Counts, x_title: &str, color: &str) -> Option<String> {
    let pts: Vec<(u64, u64)> =
        m.0.iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, *v)))
            .collect();
    let hi = pts.iter().map(|p| p.0).max()?;
    let hi = hi.min(1024);
    let mut values = vec![0; hi as usize + 1];
    for (k, n) in pts {
        if k <= hi {
            values[k as usize] += n;
        }
    }
    columns(&|i| i.to_string(), &values, x_title, color)
}
