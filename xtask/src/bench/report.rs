//! The results: rows of samples per subject, their statistics, and the two
//! renderings (a markdown table with footnotes, and JSON).

use super::subject::{KINDS, Kind, SUBJECTS};

/// Which statistic a row shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stat {
    /// Median of the samples, with their min–max.
    Median,
    /// 95th percentile of the samples.
    P95,
    /// A pass/fail check: each sample is one passing run.
    Check,
}

/// The samples of one subject in one row, and why some runs failed.
#[derive(Default)]
pub(crate) struct Cell {
    pub(crate) samples: Vec<f64>,
    pub(crate) errors: Vec<String>,
}

pub(crate) struct Row {
    pub(crate) figure: String,
    pub(crate) unit: &'static str,
    pub(crate) stat: Stat,
    /// Planned runs, as shown: "5", "3 × 20 kills".
    pub(crate) runs: String,
    /// One cell per subject, in the order of [`KINDS`].
    pub(crate) cells: [Cell; SUBJECTS],
    /// A row about ours alone: the other cells and the ratios show "—".
    pub(crate) ours_only: bool,
    /// An upper bound that every sample of ours must meet (a target of an issue).
    pub(crate) target: Option<f64>,
}

impl Row {
    pub(crate) fn cell(&mut self, kind: Kind) -> &mut Cell {
        &mut self.cells[KINDS.iter().position(|k| *k == kind).unwrap_or(0)]
    }

    /// Whether every sample of ours meets the target (none: no target or sample).
    pub(crate) fn met(&self) -> Option<bool> {
        let cell = &self.cells[0];
        let max = sorted(&cell.samples).last().copied()?;
        self.target.map(|t| max <= t && cell.errors.is_empty())
    }

    /// Records one run's outcome: its samples, or the error.
    pub(crate) fn record(&mut self, kind: Kind, outcome: Result<Vec<f64>, String>) {
        let cell = self.cell(kind);
        match outcome {
            Ok(samples) => cell.samples.extend(samples),
            Err(e) => cell.errors.push(e),
        }
    }
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

pub(crate) fn median(samples: &[f64]) -> Option<f64> {
    let v = sorted(samples);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

pub(crate) fn p95(samples: &[f64]) -> Option<f64> {
    let v = sorted(samples);
    let rank = (v.len() as f64 * 0.95).ceil() as usize;
    v.get(rank.max(1) - 1).copied()
}

impl Cell {
    /// The row's statistic, if there is any sample.
    fn value(&self, stat: Stat) -> Option<f64> {
        match stat {
            Stat::Median => median(&self.samples),
            Stat::P95 => p95(&self.samples),
            Stat::Check => None,
        }
    }
}

/// 3 significant-ish digits: 0.123, 1.23, 12.3, 123, 1234.
fn num(x: f64) -> String {
    match x.abs() {
        0.0 => "0".to_owned(),
        a if a < 1.0 => format!("{x:.3}"),
        a if a < 10.0 => format!("{x:.2}"),
        a if a < 100.0 => format!("{x:.1}"),
        _ => format!("{x:.0}"),
    }
}

fn ratio(ours: Option<f64>, other: Option<f64>) -> String {
    match (ours, other) {
        (Some(a), Some(b)) if b > 0.0 => format!("{}×", num(a / b)),
        _ => "–".to_owned(),
    }
}

/// Footnotes: distinct texts, numbered in order of first use.
#[derive(Default)]
pub(crate) struct Notes(pub(crate) Vec<String>);

impl Notes {
    fn mark(&mut self, text: String) -> String {
        let n = match self.0.iter().position(|t| *t == text) {
            Some(i) => i + 1,
            None => {
                self.0.push(text);
                self.0.len()
            }
        };
        format!("[^{n}]")
    }
}

fn render_cell(row: &Row, kind: Kind, available: bool, notes: &mut Notes) -> String {
    let cell = &row.cells[KINDS.iter().position(|k| *k == kind).unwrap_or(0)];
    if row.ours_only && kind != KINDS[0] {
        return "—".to_owned();
    }
    if !available {
        return "–".to_owned();
    }
    let verdict = match (row.target, row.met()) {
        (Some(t), Some(met)) => format!("; target ≤ {}: {}", num(t), verdict(met)),
        (Some(t), None) => format!("; target ≤ {}", num(t)),
        _ => String::new(),
    };
    let text = match (row.stat, cell.value(row.stat)) {
        (Stat::Check, _) if !cell.samples.is_empty() => format!("ok ×{}", cell.samples.len()),
        (Stat::Median, Some(m)) if cell.samples.len() > 1 => {
            let v = sorted(&cell.samples);
            format!("{} ({}–{})", num(m), num(v[0]), num(v[v.len() - 1]))
        }
        (_, Some(m)) => num(m),
        _ => String::new(),
    } + &verdict;
    if cell.errors.is_empty() {
        return text;
    }
    let mut distinct: Vec<&str> = Vec::new();
    for e in &cell.errors {
        if !distinct.contains(&e.as_str()) {
            distinct.push(e);
        }
    }
    let skipped = cell.errors.iter().all(|e| e.starts_with("skipped"));
    let mark = notes.mark(format!(
        "{}, {}: {}",
        kind.name(),
        row.figure,
        distinct.join("; ")
    ));
    let what = if skipped { "skipped" } else { "fail" };
    if text.is_empty() {
        format!("{what}{mark}")
    } else {
        format!("{text}, {what} ×{}{mark}", cell.errors.len())
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "not met" }
}

/// One markdown table line.
fn table_line(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

/// The markdown table: a column per subject, then ours over each other subject
/// (python, and both floors); footnotes are added to `notes`.
pub(crate) fn table(rows: &[Row], available: [bool; SUBJECTS], notes: &mut Notes) -> String {
    let (ours, others) = (KINDS[0].name(), &KINDS[1..]);
    let head: Vec<String> = ["figure", "unit", "runs"]
        .map(str::to_owned)
        .into_iter()
        .chain(KINDS.iter().map(|k| k.name().to_owned()))
        .chain(others.iter().map(|k| format!("{ours}/{}", k.name())))
        .collect();
    let align: Vec<&str> = (0..head.len())
        .map(|i| if i < 3 { "---" } else { "---:" })
        .collect();
    let mut out = format!("{}|{}|\n", table_line(&head), align.join("|"));
    for row in rows {
        let value = |i: usize| available[i].then(|| row.cells[i].value(row.stat)).flatten();
        let line: Vec<String> = [row.figure.clone(), row.unit.to_owned(), row.runs.clone()]
            .into_iter()
            .chain(
                KINDS
                    .iter()
                    .zip(available)
                    .map(|(k, a)| render_cell(row, *k, a, notes)),
            )
            .chain((1..SUBJECTS).map(|i| match row.ours_only {
                true => "—".to_owned(),
                false => ratio(value(0), value(i)),
            }))
            .collect();
        out.push_str(&table_line(&line));
    }
    out
}

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(x: Option<f64>) -> String {
    x.filter(|x| x.is_finite())
        .map_or_else(|| "null".to_owned(), |x| format!("{x}"))
}

/// The rows as a JSON array.
pub(crate) fn json_rows(rows: &[Row], available: [bool; SUBJECTS]) -> String {
    let mut items = Vec::new();
    for row in rows {
        let mut fields = vec![
            format!("\"figure\": {}", json_str(&row.figure)),
            format!("\"unit\": {}", json_str(row.unit)),
            format!("\"runs\": {}", json_str(&row.runs)),
        ];
        if let Some(t) = row.target {
            let met = row.met().map_or("null".to_owned(), |m| m.to_string());
            fields.push(format!("\"target_max\": {t}, \"met\": {met}"));
        }
        for (i, kind) in KINDS.iter().enumerate() {
            let cell = &row.cells[i];
            let value = if available[i] && !(row.ours_only && i > 0) {
                let samples: Vec<String> =
                    cell.samples.iter().map(|x| json_num(Some(*x))).collect();
                let errors: Vec<String> = cell.errors.iter().map(|e| json_str(e)).collect();
                let v = sorted(&cell.samples);
                format!(
                    "{{\"value\": {}, \"min\": {}, \"max\": {}, \"samples\": [{}], \"errors\": [{}]}}",
                    json_num(cell.value(row.stat)),
                    json_num(v.first().copied()),
                    json_num(v.last().copied()),
                    samples.join(", "),
                    errors.join(", ")
                )
            } else {
                "null".to_owned()
            };
            fields.push(format!("{}: {value}", json_str(kind.name())));
        }
        let value = |i: usize| available[i].then(|| row.cells[i].value(row.stat)).flatten();
        let r = |a: Option<f64>, b: Option<f64>| {
            json_num(a.zip(b).filter(|(_, b)| *b > 0.0).map(|(a, b)| a / b))
        };
        for (i, kind) in KINDS.iter().enumerate().skip(1) {
            let key = format!("{}_over_{}", KINDS[0].name(), kind.name());
            let ratio = if row.ours_only { None } else { value(i) };
            fields.push(format!("{}: {}", json_str(&key), r(value(0), ratio)));
        }
        items.push(format!("    {{{}}}", fields.join(", ")));
    }
    format!("[\n{}\n  ]", items.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p95(&v), Some(95.0));
        assert_eq!(p95(&[7.0]), Some(7.0));
    }

    #[test]
    fn numbers_and_json() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1.234), "1.23");
        assert_eq!(num(1234.4), "1234");
        assert_eq!(json_str("a\"b\\\n"), r#""a\"b\\\n""#);
        assert_eq!(ratio(Some(2.0), Some(1.0)), "2.00×");
        assert_eq!(ratio(Some(2.0), Some(0.0)), "–");
    }

    /// A median row "f" with these samples per subject, in the order of KINDS.
    fn row(samples: [&[f64]; SUBJECTS]) -> Row {
        let mut row = Row {
            figure: "f".to_owned(),
            unit: "ms",
            stat: Stat::Median,
            runs: "3".to_owned(),
            cells: Default::default(),
            ours_only: false,
            target: None,
        };
        for (kind, s) in KINDS.iter().zip(samples) {
            row.record(*kind, Ok(s.to_vec()));
        }
        row
    }

    #[test]
    fn table_reports_ours_against_both_floors() {
        let rows = [row([&[3.0], &[30.0], &[1.0, 2.0, 3.0], &[1.5]])];
        let mut notes = Notes::default();
        let got = table(&rows, [true; SUBJECTS], &mut notes);
        assert_eq!(
            got,
            "| figure | unit | runs | ours | python | bare | threaded \
             | ours/python | ours/bare | ours/threaded |\n\
             |---|---|---|---:|---:|---:|---:|---:|---:|---:|\n\
             | f | ms | 3 | 3.00 | 30.0 | 2.00 (1.00–3.00) | 1.50 \
             | 0.100× | 1.50× | 2.00× |\n"
        );
        assert!(notes.0.is_empty());
    }

    #[test]
    fn unavailable_subjects_have_no_cell_and_no_ratio() {
        let rows = [row([&[3.0], &[30.0], &[2.0], &[1.5]])];
        let mut notes = Notes::default();
        let got = table(&rows, [true, false, true, false], &mut notes);
        let last = got.lines().last().unwrap_or_default();
        assert_eq!(last, "| f | ms | 3 | 3.00 | – | 2.00 | – | – | 1.50× | – |");
    }

    #[test]
    fn a_failed_floor_gets_a_footnote_naming_it() {
        let mut r = row([&[3.0], &[], &[2.0], &[]]);
        r.record(
            Kind::Threaded,
            Err("timeout: 10 workers in run()".to_owned()),
        );
        let mut notes = Notes::default();
        let got = table(&[r], [true, false, true, true], &mut notes);
        assert!(
            got.ends_with("| 3.00 | – | 2.00 | fail[^1] | – | 1.50× | – |\n"),
            "{got}"
        );
        assert_eq!(notes.0, ["threaded, f: timeout: 10 workers in run()"]);
    }

    #[test]
    fn an_ours_only_row_shows_its_target_and_verdict() {
        let mut r = row([&[3.0, 9.0], &[], &[], &[]]);
        (r.ours_only, r.target) = (true, Some(5.0));
        let got = table(&[r], [true; SUBJECTS], &mut Notes::default());
        let last = got.lines().last().unwrap_or_default();
        let want = "| 6.00 (3.00–9.00); target ≤ 5.00: not met | — | — | — | — | — | — |";
        assert!(last.ends_with(want), "{last}");
        let mut r = row([&[3.0], &[], &[], &[]]);
        (r.ours_only, r.target) = (true, Some(5.0));
        let got = json_rows(&[r], [true; SUBJECTS]);
        assert!(got.contains("\"target_max\": 5, \"met\": true"), "{got}");
        assert!(got.contains("\"bare\": null, \"threaded\": null"), "{got}");
    }

    #[test]
    fn json_has_every_subject_and_a_ratio_to_each() {
        let rows = [row([&[3.0], &[], &[2.0], &[1.5]])];
        let got = json_rows(&rows, [true, false, true, true]);
        assert!(got.contains("\"python\": null"), "{got}");
        assert!(
            got.contains("\"threaded\": {\"value\": 1.5, \"min\": 1.5, \"max\": 1.5"),
            "{got}"
        );
        assert!(got.contains("\"ours_over_python\": null"), "{got}");
        assert!(got.contains("\"ours_over_bare\": 1.5"), "{got}");
        assert!(got.contains("\"ours_over_threaded\": 2}"), "{got}");
    }
}
