//! The page: escaping, number and time formatting, and the [`Page`] being written (headings,
//! panels, grids, key/value tables). Nothing here knows the report's figures.

use std::fmt::Write;

use crate::time::civil;

/// Escapes text for HTML element content and quoted attribute values. C0 control characters
/// (other than tab, newline, carriage return) and DEL become U+FFFD, which HTML cannot hold.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

pub use crate::export::report::ratio;

/// `1234567` → `1,234,567`.
pub fn int(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// A fractional figure: one decimal from 100 up, else up to six without trailing zeros.
pub fn float(f: f64) -> String {
    if f.abs() >= 100.0 {
        format!("{f:.1}")
    } else {
        format!("{f:.6}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

/// A JSON value as text: integers with separators, other numbers as [`float`], strings
/// escaped, null as a dash (for the sections shown generically).
pub fn number(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_u64() => int(n.as_u64().unwrap_or(0)),
        Value::Number(n) => float(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => escape(s),
        Value::Null => "–".to_owned(),
        Value::Bool(b) => b.to_string(),
        other => escape(&other.to_string()),
    }
}

/// `n` of `d` as a percentage with two decimals.
pub fn pct(n: u64, d: u64) -> String {
    format!("{:.2} %", 100.0 * ratio(n, d))
}

/// Nanoseconds since the epoch as `YYYY-MM-DD hh:mm:ss.mmm UTC`.
pub fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let day = u32::try_from(secs / 86_400).unwrap_or(u32::MAX);
    let (y, m, d) = civil(day);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ns % 1_000_000_000 / 1_000_000
    )
}

/// At most `n` characters of `s`, with an ellipsis if cut (not escaped).
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut o: String = s.chars().take(n.saturating_sub(1)).collect();
        o.push('…');
        o
    }
}

/// The style sheet (`style.css`, one rule per line there, joined into one line here).
pub fn style() -> String {
    include_str!("style.css").lines().collect()
}

/// The body being written.
#[derive(Default)]
pub struct Page {
    /// Markup so far.
    pub body: String,
}

impl Page {
    /// A section heading with an anchor.
    pub fn h2(&mut self, id: &str, title: &str) {
        let _ = write!(self.body, r#"<h2 id="{id}">{}</h2>"#, escape(title));
    }

    /// A chart in a panel, or the sentence `none` in its place.
    pub fn panel(&mut self, title: &str, chart: Option<String>, none: &str) {
        let _ = write!(
            self.body,
            r#"<section class="panel"><h3>{}</h3>{}</section>"#,
            escape(title),
            chart.unwrap_or_else(|| format!(r#"<p class="none">{}</p>"#, escape(none)))
        );
    }

    /// Opens a grid of panels.
    pub fn open_grid(&mut self) {
        self.body.push_str(r#"<div class="grid">"#);
    }

    /// Closes a grid.
    pub fn close(&mut self) {
        self.body.push_str("</div>");
    }

    /// A two-column table of (label, value) with pre-escaped values.
    pub fn kv(&mut self, rows: &[(&str, String)]) {
        self.body.push_str(r#"<table class="kv">"#);
        for (k, v) in rows {
            let _ = write!(self.body, "<tr><th>{}</th><td>{v}</td></tr>", escape(k));
        }
        self.body.push_str("</table>");
    }

    /// A panel with a key/value table.
    pub fn kv_panel(&mut self, title: &str, rows: &[(&str, String)]) {
        let _ = write!(
            self.body,
            r#"<section class="panel"><h3>{}</h3>"#,
            escape(title)
        );
        self.kv(rows);
        self.body.push_str("</section>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("a\u{0}b\u{7f}c\td"), "a\u{fffd}b\u{fffd}c\td");
        assert_eq!(escape("ok.example."), "ok.example.");
    }

    #[test]
    fn integers_have_separators() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(1_234_567), "1,234,567");
    }

    #[test]
    fn utc_formats_epoch_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(
            utc(1_700_000_000_123_000_000),
            "2023-11-14 22:13:20.123 UTC"
        );
    }

    #[test]
    fn style_is_one_line() {
        let s = style();
        assert!(!s.contains('\n'));
        assert!(s.starts_with(":root{"));
    }
}
