//! The Prometheus rules, scrape config and Grafana dashboard in config/: promtool checks and
//! unit tests, and every PromQL expression (dashboard and rules) parses and names only
//! recording rules or families that dnsobs really exports.
//!
//! promtool comes with Debian's `prometheus` package (scripts/install-deps.sh). Without it the
//! promtool steps are skipped with a message, unless `CI=1`, where that is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::util::{BIN, promtool};

const RULES: &str = "config/prometheus/dnsobs.rules.yml";
const RULES_TEST: &str = "config/prometheus/dnsobs.rules.test.yml";
const SCRAPE: &str = "config/prometheus/scrape.yml";
const DASHBOARD: &str = "config/grafana/dnsobs.json";

/// The alerts issue 9 asks for; the rules file may hold more.
const ALERTS: &[&str] = &[
    "DnsobsCaptureDrops",
    "DnsobsNoTraffic",
    "DnsobsCaptureDown",
    "DnsobsMalformedSpike",
    "DnsobsJunkShareJump",
    "DnsobsScrapeFailing",
    "DnsobsConfigReloadFailed",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A fresh scratch directory for one test (removed by the test when it passes).
fn scratch(test: &str) -> PathBuf {
    crate::util::scratch::target(&format!("rules-{test}"))
}

/// Sum of the "SUCCESS: N rules found" lines promtool prints per rule file.
fn rules_found(out: &str) -> usize {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("SUCCESS: "))
        .filter_map(|l| l.strip_suffix(" rules found"))
        .map(|n| n.parse::<usize>().expect("rule count"))
        .sum()
}

#[derive(Debug)]
struct Rule {
    /// The record name, or the alert name.
    name: String,
    alert: bool,
    expr: String,
}

/// Rules of a rules file as written in config/prometheus: `- record:` or `- alert:` items
/// whose `expr:` is inline or a `|` / `>` block. The callers compare the count with
/// promtool's, so a layout this reader does not know fails loudly.
fn parse_rules(text: &str) -> Vec<Rule> {
    let lines: Vec<&str> = text.lines().collect();
    let mut rules: Vec<Rule> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        i += 1;
        if let Some(n) = t.strip_prefix("- record:") {
            rules.push(Rule {
                name: n.trim().to_string(),
                alert: false,
                expr: String::new(),
            });
        } else if let Some(n) = t.strip_prefix("- alert:") {
            rules.push(Rule {
                name: n.trim().to_string(),
                alert: true,
                expr: String::new(),
            });
        } else if let Some(v) = t.strip_prefix("expr:") {
            let v = v.trim();
            let expr = if v.starts_with('|') || v.starts_with('>') {
                let indent = line.len() - t.len();
                let mut block = Vec::new();
                while i < lines.len() {
                    let l = lines[i];
                    if !l.trim().is_empty() && l.len() - l.trim_start().len() <= indent {
                        break;
                    }
                    block.push(l.trim());
                    i += 1;
                }
                block.join("\n").trim().to_string()
            } else if let Some(q) = v.strip_prefix('\'').and_then(|q| q.strip_suffix('\'')) {
                q.replace("''", "'")
            } else if v.starts_with('"') {
                serde_json::from_str::<String>(v).expect("double-quoted expr")
            } else {
                v.to_string()
            };
            let rule = rules.last_mut().expect("expr: inside a rule");
            assert!(rule.expr.is_empty(), "{}: two exprs", rule.name);
            rule.expr = expr;
        }
    }
    for r in &rules {
        assert!(!r.expr.is_empty(), "{}: no expr", r.name);
    }
    rules
}

/// Every name the family table (`export::prometheus::families::ALL`, what `/metrics` writes)
/// exposes, with the series names of histograms, plus Prometheus's own `up`. Every name that
/// `replay --format prometheus` prints for root-mix-v4v6.pcap must be one of them.
fn exported_names() -> BTreeSet<String> {
    use dnsobs::export::prometheus::{encode::Kind, families::ALL};
    let mut names = BTreeSet::new();
    for f in ALL {
        let name = f.exposed();
        if f.kind == Kind::Histogram {
            names.extend(["_bucket", "_sum", "_count"].map(|s| format!("{name}{s}")));
        }
        names.insert(name);
    }
    let o = Command::new(BIN)
        .args(["replay", "--format", "prometheus"])
        .arg(root().join("pcaps/root-mix-v4v6.pcap"))
        .output()
        .expect("dnsobs runs");
    assert!(o.status.success(), "dnsobs replay: {}", o.status);
    let text = String::from_utf8(o.stdout).expect("UTF-8");
    let mut printed = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let end = line.find(['{', ' ']).expect("sample line");
        assert!(
            names.contains(&line[..end]),
            "{} not in the family table",
            &line[..end]
        );
        printed += 1;
    }
    assert!(printed >= 30, "only {printed} samples from replay");
    names.insert("up".to_owned());
    names
}

/// Replaces Grafana template variables ($var, ${var}, ${var:fmt}) with concrete values:
/// intervals become 5m, anything else (instance) the literal x.
fn substitute(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(b) = after.strip_prefix('{') {
            let close = b.find('}').expect("closing } of ${...}");
            let inner = &b[..close];
            (inner.split(':').next().unwrap_or(inner), close + 2)
        } else {
            let n = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..n], n)
        };
        assert!(!name.is_empty(), "lone $ in {expr}");
        out.push_str(match name {
            "__rate_interval" | "__interval" | "__range" => "5m",
            _ => "x",
        });
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// Metric names an expression selects: identifiers outside strings, `{...}` matchers,
/// `[...]` ranges and `by (...)`-style label lists that are not functions, aggregation
/// operators or keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const AGGREGATIONS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    const KEYWORDS: &[&str] = &[
        "and", "or", "unless", "bool", "offset", "start", "end", "inf", "nan", "atan2",
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let b = expr.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Index just past the closing delimiter `close`, skipping quoted strings on the way.
    let skip_to = |mut i: usize, close: u8| -> usize {
        while i < b.len() && b[i] != close {
            if matches!(b[i], b'"' | b'\'' | b'`') {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' && q != b'`' { 2 } else { 1 };
                }
            }
            i += 1;
        }
        i + 1
    };
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                // A string: skip_to stops at its closing quote.
                i = skip_to(i + 1, c);
            }
            b'{' => i = skip_to(i + 1, b'}'),
            b'[' => i = skip_to(i + 1, b']'),
            b'#' => i = expr[i..].find('\n').map_or(b.len(), |n| i + n),
            b'0'..=b'9' | b'.' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = expr[i..].trim_start();
                if LABEL_LISTS.contains(&word) && next.starts_with('(') {
                    i = skip_to(b.len() - next.len() + 1, b')');
                } else if next.starts_with('(')
                    || AGGREGATIONS.contains(&word)
                    || KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
                {
                    // A function call, an aggregation operator or a keyword.
                } else {
                    names.insert(word.to_string());
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// Every object under a `targets` array's `expr` key, anywhere in the dashboard (panels,
/// rows' nested panels), with the path of the panel for messages.
fn dashboard_exprs(v: &Value, title: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            let title = m.get("title").and_then(Value::as_str).unwrap_or(title);
            if let Some(Value::Array(targets)) = m.get("targets") {
                for t in targets {
                    let e = t["expr"].as_str().expect("target has an expr");
                    out.push((title.to_string(), e.to_string()));
                }
            }
            for (k, x) in m {
                if k != "targets" {
                    dashboard_exprs(x, title, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| dashboard_exprs(x, title, out)),
        _ => {}
    }
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).expect("dashboard is JSON")
}

/// The selector of each `label_values(selector, label)` variable query.
fn variable_selectors(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in d["templating"]["list"].as_array().expect("templating.list") {
        let q = v["query"]["query"].as_str().or(v["query"].as_str());
        let Some(inner) = q.and_then(|q| q.trim().strip_prefix("label_values(")) else {
            continue;
        };
        let (sel, _label) = inner
            .rsplit_once(',')
            .expect("label_values(selector, label)");
        let name = v["name"].as_str().expect("variable name");
        out.push((format!("variable {name}"), sel.trim().to_string()));
    }
    out
}

/// The `# >>> example NAME` ... `# <<<` blocks of a commented config, uncommented.
fn commented_examples(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut open = false;
    for l in text.lines() {
        if let Some(name) = l.strip_prefix("# >>> example ") {
            out.push((name.trim().to_string(), String::new()));
            open = true;
        } else if l == "# <<<" {
            open = false;
        } else if open {
            let body = l
                .strip_prefix("# ")
                .or(l.strip_prefix('#'))
                .expect("commented line");
            let block = &mut out.last_mut().expect("open block").1;
            block.push_str(body);
            block.push('\n');
        }
    }
    assert!(!open, "unclosed example");
    out
}

#[test]
fn promtool_checks_and_unit_tests_the_rules_and_scrape_config() {
    let rules = parse_rules(&read(RULES));
    let records: Vec<&Rule> = rules.iter().filter(|r| !r.alert).collect();
    let alerts: BTreeSet<&str> = rules
        .iter()
        .filter(|r| r.alert)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(records.len(), 20, "recording rules");
    assert_eq!(alerts, ALERTS.iter().copied().collect(), "alerts");
    for r in &records {
        let parts: Vec<&str> = r.name.split(':').collect();
        assert!(
            parts.len() == 3 && parts.iter().all(|p| !p.is_empty()),
            "{}: not level:metric:operations",
            r.name
        );
    }
    let text = read(RULES);
    for a in ALERTS {
        let at = text.find(&format!("- alert: {a}\n")).expect("alert");
        let body = &text[at..];
        let body = &body[..body[2..].find("- alert:").map_or(body.len(), |n| n + 2)];
        for key in ["for:", "severity:", "summary:", "description:"] {
            assert!(body.contains(key), "{a} has no {key}");
        }
    }

    // The unit tests cover every recording rule, and every alert both firing and not.
    let tests = read(RULES_TEST);
    let mut tested = BTreeSet::new();
    let (mut firing, mut silent) = (BTreeMap::new(), BTreeMap::new());
    let mut alertname = "";
    for l in tests.lines().map(str::trim) {
        if let Some(e) = l.strip_prefix("- expr:") {
            tested.insert(e.trim());
        } else if let Some(a) = l.strip_prefix("alertname:") {
            alertname = a.trim();
        } else if l == "exp_alerts: []" {
            *silent.entry(alertname).or_insert(0) += 1;
        } else if l == "exp_alerts:" {
            *firing.entry(alertname).or_insert(0) += 1;
        }
    }
    for r in &records {
        assert!(
            tested.contains(r.name.as_str()),
            "{} is not unit-tested",
            r.name
        );
    }
    for a in ALERTS {
        assert!(
            firing.get(a).is_some_and(|&n| n >= 1),
            "{a}: no firing case"
        );
        assert!(
            silent.get(a).is_some_and(|&n| n >= 1),
            "{a}: no silent case"
        );
    }
    let cases = firing.values().sum::<usize>() + silent.values().sum::<usize>();
    assert_eq!(tested.len(), records.len(), "promql_expr_test entries");
    assert!(cases >= 2 * ALERTS.len(), "{cases} alert cases");

    if !promtool::required("promtool check/test rules, check config") {
        return;
    }
    let out = promtool::run(&root(), &["check", "rules", RULES]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rules_found(&out), rules.len(), "promtool's count: {out}");
    let out =
        promtool::run(&root(), &["test", "rules", RULES_TEST]).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("SUCCESS"), "{out}");

    // scrape.yml names dnsobs.rules.yml beside it, as in /etc/prometheus.
    let dir = scratch("scrape");
    std::fs::copy(root().join(SCRAPE), dir.join("prometheus.yml")).expect("copy");
    std::fs::copy(root().join(RULES), dir.join("dnsobs.rules.yml")).expect("copy");
    let out = promtool::run(&dir, &["check", "config", "prometheus.yml"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rules_found(&out), rules.len(), "check config: {out}");
    // The commented fleet, federation and remote_write examples, uncommented.
    let examples = commented_examples(&read(SCRAPE));
    let names: Vec<&str> = examples.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["fleet", "federation", "remote_write"]);
    for (name, yaml) in &examples {
        let file = format!("{name}.yml");
        std::fs::write(dir.join(&file), yaml).expect("write");
        let out = promtool::run(&dir, &["check", "config", &file])
            .unwrap_or_else(|e| panic!("example {name}: {e}\n{yaml}"));
        let want = if yaml.contains("rule_files:") {
            rules.len()
        } else {
            0
        };
        assert_eq!(rules_found(&out), want, "example {name}: {out}");
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
    eprintln!(
        "rules: {} recording rules and {} alerts pass promtool; {} expression tests, \
         {} alert cases ({} firing); scrape.yml and its {} examples pass check config",
        records.len(),
        alerts.len(),
        tested.len(),
        cases,
        firing.values().sum::<usize>(),
        examples.len()
    );
}

#[test]
fn every_promql_expression_parses_and_names_only_exported_metrics() {
    let rules = parse_rules(&read(RULES));
    let records: BTreeSet<&str> = rules
        .iter()
        .filter(|r| !r.alert)
        .map(|r| r.name.as_str())
        .collect();
    let d = dashboard();
    let mut exprs = Vec::new();
    dashboard_exprs(&d["panels"], "dashboard", &mut exprs);
    let from_dashboard = exprs.len();
    assert_eq!(from_dashboard, 29, "dashboard target exprs");
    let variables = variable_selectors(&d);
    assert_eq!(variables.len(), 1, "label_values variables");
    exprs.extend(variables);
    exprs.extend(
        rules
            .iter()
            .map(|r| (format!("rule {}", r.name), r.expr.clone())),
    );
    let exprs: Vec<(String, String)> = exprs
        .into_iter()
        .map(|(w, e)| (w, substitute(&e)))
        .collect();
    for (w, e) in &exprs {
        assert!(!e.contains('$'), "{w}: unsubstituted variable in {e}");
    }

    // Names: recording rules, or families dnsobs exports.
    let exported = exported_names();
    let mut used = BTreeSet::new();
    let mut references = 0;
    for (w, e) in &exprs {
        let names = metric_names(e);
        assert!(!names.is_empty(), "{w}: no metric in {e}");
        for n in names {
            assert!(
                records.contains(n.as_str()) || exported.contains(&n),
                "{w}: {n} is neither a recording rule nor exported by dnsobs ({e})"
            );
            references += 1;
            used.insert(n);
        }
    }
    // The dashboard is built on the recording rules: each is shown or alerted on.
    let shown: BTreeSet<String> = exprs[..from_dashboard]
        .iter()
        .map(|(_, e)| e)
        .chain(rules.iter().filter(|r| r.alert).map(|r| &r.expr))
        .flat_map(|e| metric_names(e))
        .collect();
    for r in &records {
        assert!(shown.contains(*r), "{r} is used by no panel or alert");
    }

    eprintln!(
        "rules: {} expressions ({from_dashboard} dashboard targets, 1 variable, {} rules), \
         {references} metric references to {} distinct names, all known",
        exprs.len(),
        rules.len(),
        used.len()
    );

    if !promtool::required("PromQL parse check") {
        return;
    }
    let dir = scratch("parse");
    let rules_file = |exprs: &[(String, String)]| {
        let mut y = String::from("groups:\n  - name: parse\n    rules:\n");
        for (i, (_, e)) in exprs.iter().enumerate() {
            let e = serde_json::to_string(e).expect("JSON string");
            y += &format!("      - record: check:expr_{i}:parse\n        expr: {e}\n");
        }
        y
    };
    std::fs::write(dir.join("exprs.yml"), rules_file(&exprs)).expect("write");
    let out = promtool::run(&dir, &["check", "rules", "exprs.yml"]).unwrap_or_else(|e| {
        let which: Vec<String> = exprs
            .iter()
            .enumerate()
            .map(|(i, (w, _))| format!("check:expr_{i}:parse is {w}"))
            .collect();
        panic!("{e}\n{}", which.join("\n"))
    });
    assert_eq!(rules_found(&out), exprs.len(), "{out}");
    // The same check rejects a broken expression.
    let broken = [(
        "broken".to_string(),
        "sum(rate(dnsobs_queries_total[5m])".to_string(),
    )];
    std::fs::write(dir.join("broken.yml"), rules_file(&broken)).expect("write");
    let err = promtool::run(&dir, &["check", "rules", "broken.yml"]).expect_err("a parse error");
    assert!(
        err.contains("parse error") || err.contains("unclosed"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn dashboard_has_variables_and_uses_the_datasource_variable() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().expect("schemaVersion") >= 36);
    let vars = d["templating"]["list"].as_array().expect("variables");
    let ds = vars
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("datasource variable");
    assert_eq!(
        (ds["type"].as_str(), ds["query"].as_str()),
        (Some("datasource"), Some("prometheus"))
    );
    let inst = vars
        .iter()
        .find(|v| v["name"] == "instance")
        .expect("instance variable");
    assert_eq!(inst["type"], "query");
    assert_eq!(inst["multi"], true);

    // Every panel (rows' nested panels too) has a unique id and, if it queries, the
    // ${datasource} variable.
    fn walk(panels: &Value, ids: &mut BTreeSet<u64>, queried: &mut usize) {
        for p in panels.as_array().into_iter().flatten() {
            let id = p["id"].as_u64().expect("panel id");
            assert!(ids.insert(id), "duplicate panel id {id}");
            if p["type"] != "row" {
                assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {id}");
                assert!(
                    !p["targets"].as_array().expect("targets").is_empty(),
                    "panel {id}"
                );
                *queried += 1;
            }
            walk(&p["panels"], ids, queried);
        }
    }
    let (mut ids, mut queried) = (BTreeSet::new(), 0);
    walk(&d["panels"], &mut ids, &mut queried);
    assert_eq!((ids.len(), queried), (25, 19), "panels, of which not rows");
}

#[test]
fn metric_name_extraction() {
    let e = r#"sum by (le, up) (rate(foo_bucket{le=~"1|}2",job="up"}[5m:1m]))
        / on (instance) group_left (node) up offset 1d > bool 0.5e3
        and instance:x:rate5m unless max without (worker) (histogram_quantile(0.9, b_c)) # c_d
        or topk(3, 'e_f' == 'x') or count_values("le", g_h)"#;
    let want: BTreeSet<String> = ["foo_bucket", "up", "instance:x:rate5m", "b_c", "g_h"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(metric_names(e), want);
    assert_eq!(
        substitute("rate(a{instance=~\"$instance\",i=\"${x:regex}\"}[$__rate_interval])"),
        "rate(a{instance=~\"x\",i=\"x\"}[5m])"
    );
}
