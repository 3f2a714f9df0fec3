//! Kernel choices timed on this device: a table from a problem's key (for example a convolution's
//! shape and the size class of its output) to the kernel variant that ran fastest here, which
//! ops consult when they record. The table belongs to one adapter and driver; it is saved and
//! loaded as text (natively a cache file, in the browser IndexedDB), so only the first run
//! pays for the timing. The ops own their keys and variants: this module only stores them.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

/// Whether ops use tuned choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TuneMode {
    /// The fixed choices (as if nothing were tuned).
    Off,
    /// Tuned choices where the table has them, the fixed ones elsewhere; nothing is timed.
    #[default]
    Cached,
    /// As `Cached`, and the problems the table lacks are timed before a net runs.
    Full,
}

impl TuneMode {
    /// Parses "off", "cached" or "full".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "off" => Ok(TuneMode::Off),
            "cached" => Ok(TuneMode::Cached),
            "full" => Ok(TuneMode::Full),
            _ => Err(Error::InvalidArgument {
                op: "tune",
                message: format!("the tuning mode is 'off', 'cached' or 'full', not '{s}'"),
            }),
        }
    }

    /// "off", "cached" or "full".
    pub fn as_str(self) -> &'static str {
        match self {
            TuneMode::Off => "off",
            TuneMode::Cached => "cached",
            TuneMode::Full => "full",
        }
    }
}

/// One tuned problem: the variant kept, and what it and the fixed choice took when timed.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuned {
    /// The variant the op runs (its own text form, e.g. "tiled 8px 8co 64t").
    pub choice: String,
    /// Milliseconds of the kept variant when it was timed.
    pub ms: f64,
    /// The fixed choice (what runs untuned).
    pub fixed: String,
    /// Milliseconds of the fixed choice in the same timing.
    pub fixed_ms: f64,
    /// `Some(n)` when the tuning budget ran out after `n` of the candidates were timed: the
    /// choice is the best of those, and the next tuning times the rest.
    pub resume_at: Option<usize>,
}

/// The tuned choices of one adapter and driver, by problem key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TuningTable {
    entries: BTreeMap<String, Tuned>,
}

/// The first line of the table's text form.
const HEADER: &str = "# webgpu-style-transfer kernel tuning v1";

impl TuningTable {
    /// The choice for `key`, if tuned.
    pub fn get(&self, key: &str) -> Option<&Tuned> {
        self.entries.get(key)
    }

    /// Records (or replaces) the choice for `key`. Keys and choices are single lines without tabs.
    pub fn insert(&mut self, key: &str, tuned: Tuned) -> Result<()> {
        for s in [key, &tuned.choice, &tuned.fixed] {
            if s.is_empty() || s.contains(['\t', '\n', '\r']) {
                return Err(Error::InvalidArgument {
                    op: "tune",
                    message: format!(
                        "a tuning key or choice must be one non-empty line without tabs, got {s:?}"
                    ),
                });
            }
        }
        self.entries.insert(key.to_string(), tuned);
        Ok(())
    }

    /// Every entry, by key.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Tuned)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of tuned problems.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is tuned.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds every entry of `other`, replacing this table's entries of the same keys.
    pub fn merge(&mut self, other: TuningTable) {
        self.entries.extend(other.entries);
    }

    /// Parses the text form ([`TuningTable`]'s `Display`): a header line, then a line per
    /// problem, `key<TAB>choice<TAB>ms<TAB>fixed<TAB>fixed_ms`, and `<TAB>n` where only the first
    /// `n` candidates were timed; lines starting with `#` are comments. `source` names the text
    /// in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let mut lines = text.lines();
        let bad = |line: usize, why: String| Error::InvalidArgument {
            op: "tune",
            message: format!(
                "{source}, line {line}: {why}; delete it (or run with --tune off) and tune again"
            ),
        };
        if lines.next().map(str::trim_end) != Some(HEADER) {
            return Err(bad(
                1,
                format!("not a tuning table (the first line should be '{HEADER}')"),
            ));
        }
        let mut table = TuningTable::default();
        let content = |l: &&str| !l.trim().is_empty() && !l.starts_with('#');
        for (i, line) in lines.enumerate().filter(|(_, l)| content(l)) {
            let f: Vec<&str> = line.split('\t').collect();
            let ms = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0);
            let (key, choice, t, fixed, fixed_t, resume) = match f[..] {
                [k, c, t, fx, ft] => (k, c, t, fx, ft, None),
                [k, c, t, fx, ft, n] => (k, c, t, fx, ft, Some(n)),
                _ => return Err(bad(i + 2, format!("{} fields, 5 or 6 expected", f.len()))),
            };
            let count = |n: &str| {
                let bad_count = || bad(i + 2, format!("'{n}' is not a count of tiles timed"));
                n.parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(bad_count)
            };
            let resume_at = resume.map(count).transpose()?;
            let (Some(ms), Some(fixed_ms)) = (ms(t), ms(fixed_t)) else {
                return Err(bad(
                    i + 2,
                    format!("times '{t}' and '{fixed_t}' are not milliseconds"),
                ));
            };
            let tuned = Tuned {
                choice: choice.into(),
                ms,
                fixed: fixed.into(),
                fixed_ms,
                resume_at,
            };
            table
                .insert(key, tuned)
                .map_err(|e| bad(i + 2, e.to_string()))?;
        }
        Ok(table)
    }
}

impl fmt::Display for TuningTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{HEADER}")?;
        for (key, t) in &self.entries {
            // Shortest text that reads back as the same number.
            write!(
                f,
                "{key}\t{}\t{}\t{}\t{}",
                t.choice, t.ms, t.fixed, t.fixed_ms
            )?;
            if let Some(n) = t.resume_at {
                write!(f, "\t{n}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// A context's tuning: the mode, the table, and (while a net is recorded for tuning) the
/// problems met that the table lacks, by key, each with the text the op rebuilds it from.
#[derive(Debug, Default)]
pub(crate) struct TuneState {
    pub(crate) mode: TuneMode,
    pub(crate) table: TuningTable,
    pub(crate) collecting: bool,
    pub(crate) missing: BTreeMap<String, String>,
    pub(crate) hits: std::collections::BTreeSet<String>,
    /// Counts changes of the mode or the table: plans recorded under another generation may
    /// hold other choices (plan caches drop them).
    pub(crate) generation: u64,
}

impl TuneState {
    /// Adds (or replaces) the choices of `table`; plans recorded before hold other choices.
    pub(crate) fn extend(&mut self, table: TuningTable) {
        self.table.merge(table);
        self.generation += 1;
    }

    /// The tuned choice for `key` (none when tuning is off); while collecting, a miss is noted
    /// with `problem()`, the text the op rebuilds the problem from. An entry tuned against
    /// another fixed choice than today's `fixed` (made by a build with other defaults, whose
    /// candidates differed) is stale and counts as a miss: the better default runs, and the
    /// next full tuning times the problem again.
    pub(crate) fn choice(
        &mut self,
        key: &str,
        fixed: &str,
        problem: impl FnOnce() -> String,
    ) -> Option<String> {
        if self.mode == TuneMode::Off {
            return None;
        }
        if let Some(t) = self.table.get(key).filter(|t| t.fixed == fixed) {
            if self.collecting && t.resume_at.is_some() {
                // Cut short by an earlier budget: used, and noted for its remaining tiles.
                self.missing.entry(key.to_string()).or_insert_with(problem);
            } else if self.collecting {
                self.hits.insert(key.to_string());
            }
            return Some(t.choice.clone());
        }
        if self.collecting {
            self.missing.entry(key.to_string()).or_insert_with(problem);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuned(choice: &str) -> Tuned {
        Tuned {
            choice: choice.into(),
            ms: 1.25,
            fixed: "tiled 8px 16co 64t".into(),
            fixed_ms: 2.5,
            resume_at: None,
        }
    }

    #[test]
    fn the_text_form_round_trips_and_names_what_is_wrong() {
        let mut t = TuningTable::default();
        t.insert("conv2d 3->32 9x9 s1", tuned("tiled 16px 8co 64t"))
            .unwrap();
        t.insert("conv2d 32->3 9x9 s1", tuned("tiled 8px 4co 128t"))
            .unwrap();
        let cut = Tuned {
            resume_at: Some(3),
            ..tuned("tiled 4px 8co 64t")
        };
        t.insert("conv2d 32->32 3x3 s1", cut).unwrap();
        let text = t.to_string();
        assert!(text.contains("\t2.5\t3\n"), "{text}");
        assert_eq!(TuningTable::parse(&text, "cache").unwrap(), t);
        let e = TuningTable::parse(&format!("{HEADER}\nk\tc\t1\tf\t1\t0\n"), "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'0' is not a count of tiles timed"), "{e}");
        let e = TuningTable::parse("hello\n", "cache.txt")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cache.txt, line 1") && e.contains("not a tuning table"),
            "{e}"
        );
        let e = TuningTable::parse(&format!("{HEADER}\nk\tc\tx\tf\t1\n"), "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("'x'"), "{e}");
        let e = TuningTable::parse(&format!("{HEADER}\nk\tc\t1\n"), "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 fields, 5 or 6 expected"), "{e}");
        assert!(t.insert("a\tb", tuned("x")).is_err());
    }

    #[test]
    fn choices_follow_the_mode_and_misses_are_noted_only_while_collecting() {
        let mut s = TuneState::default();
        s.table.insert("k", tuned("v")).unwrap();
        let fixed = "tiled 8px 16co 64t";
        assert_eq!(
            s.choice("k", fixed, || unreachable!()).as_deref(),
            Some("v")
        );
        assert_eq!(s.choice("other", fixed, || "p".into()), None);
        assert!(s.missing.is_empty());
        s.collecting = true;
        assert_eq!(s.choice("other", fixed, || "p".into()), None);
        assert_eq!(s.missing.get("other").map(String::as_str), Some("p"));
        assert_eq!(
            s.choice("k", fixed, || unreachable!()).as_deref(),
            Some("v")
        );
        assert!(s.hits.contains("k"));
        // An entry whose tiles a budget cut short is used, and noted for the rest of its tiles.
        let cut = Tuned {
            resume_at: Some(2),
            ..tuned("w")
        };
        s.table.insert("cut", cut).unwrap();
        assert_eq!(s.choice("cut", fixed, || "q".into()).as_deref(), Some("w"));
        assert_eq!(s.missing.get("cut").map(String::as_str), Some("q"));
        assert!(!s.hits.contains("cut"));
        s.mode = TuneMode::Off;
        assert_eq!(s.choice("k", fixed, || unreachable!()), None);
    }

    #[test]
    fn an_entry_tuned_against_another_fixed_choice_is_a_miss() {
        let mut s = TuneState::default();
        s.table.insert("k", tuned("v")).unwrap();
        s.collecting = true;
        let today = "tiled 8px 16co 64t sg";
        assert_eq!(s.choice("k", today, || "p".into()), None);
        assert_eq!(s.missing.get("k").map(String::as_str), Some("p"));
        assert!(!s.hits.contains("k"));
    }
}
