//! Which names are random temporary names: the parts of a file name that
//! `mkstemp`, `mkdtemp`, Python's `tempfile` and the like made up, which a
//! learned policy writes as `*` so that it fits the next run's names.
//!
//! Pure and deliberately narrow, since a name it misses only costs a
//! literal rule (and the run's private `TMPDIR` is granted anyway): a part
//! is random only when it has the shape of generated text (letters and
//! digits mixed in many short pieces, a mixed six-character `XXXXXX` tail,
//! five lower-case consonants in a row, or Python's `tmp` + 8 characters);
//! a word, a version number or a name such as `libQt5Core` is kept. About
//! nine in ten `mkstemp` names and nearly all longer random names are
//! recognised.

use crate::policy::escape_into;

/// The shortest run of letters and digits that may be random.
const MIN_RANDOM: usize = 6;

/// `name` as a pattern component with its random parts written `*` and the
/// rest escaped; `None` when nothing in it looks random.
///
/// ```
/// use fdbroker::learn::generalise_name;
/// assert_eq!(generalise_name("magick-7CjO9H2Jabc").as_deref(), Some("magick-*"));
/// assert_eq!(generalise_name("fdbroker-run.aB3dE9").as_deref(), Some("fdbroker-run.*"));
/// assert_eq!(generalise_name("tmpk3j_h5g6").as_deref(), Some("tmp*"));
/// assert_eq!(generalise_name("report-2024.txt"), None);
/// assert_eq!(generalise_name("libQt5Core.so.5"), None);
/// ```
pub fn generalise_name(name: &str) -> Option<String> {
    if let Some(p) = python_tempfile(name) {
        return Some(p);
    }
    let runs = alnum_runs(name);
    let random: Vec<bool> = runs
        .iter()
        .enumerate()
        .map(|(i, &(start, end))| {
            let run = &name[start..end];
            // The last run, or the last before a one-character separator
            // and a final run (`fooXXXXXX.tmp`).
            let tail = i + 1 == runs.len() || (i + 2 == runs.len() && runs[i + 1].0 == end + 1);
            looks_random(run) || (tail && mkstemp_tail(run))
        })
        .collect();
    if !random.contains(&true) {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut at = 0;
    for (&(start, end), &r) in runs.iter().zip(&random) {
        if !r {
            continue;
        }
        escape_into(&mut out, &name[at..start]);
        if !out.ends_with('*') || out.ends_with("\\*") {
            out.push('*');
        }
        at = end;
    }
    escape_into(&mut out, &name[at..]);
    Some(out)
}

/// Python's `tempfile` names: `tmp` and 8 characters of `[a-z0-9_]`,
/// possibly followed by a suffix starting with `.`.
fn python_tempfile(name: &str) -> Option<String> {
    let rest = name.strip_prefix("tmp")?;
    let body = rest.get(..8)?;
    let suffix = &rest[8..];
    let ok = body
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok || !(suffix.is_empty() || suffix.starts_with('.')) {
        return None;
    }
    let mut out = String::from("tmp*");
    escape_into(&mut out, suffix);
    Some(out)
}

/// The byte ranges of the maximal runs of ASCII letters and digits.
fn alnum_runs(name: &str) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, b) in name.bytes().enumerate() {
        match (b.is_ascii_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, name.len()));
    }
    runs
}

/// A run of letters and digits that reads as generated text: at least
/// three of its pieces are odd ([`odd`]: `Cj`, `O`, `9`, `Xkz`), or two
/// making up half of it; or, all lower case, it holds five consonants in a
/// row (`qzwxr`).
fn looks_random(run: &str) -> bool {
    if run.len() < MIN_RANDOM {
        return false;
    }
    let odd: Vec<&str> = pieces(run).into_iter().filter(|p| odd(p)).collect();
    let odd_len: usize = odd.iter().map(|p| p.len()).sum();
    odd.len() >= 3
        || (odd.len() == 2 && 2 * odd_len >= run.len())
        || (!run.bytes().any(|b| b.is_ascii_uppercase()) && consonant_run(run) >= 5)
}

/// A six-character tail as `mkstemp`'s `XXXXXX` makes it: letters and
/// digits of at least two kinds (upper case, lower case, digits), two of
/// its pieces odd (not a capitalised word such as `Report`, nor `abc123`).
fn mkstemp_tail(run: &str) -> bool {
    if run.len() != MIN_RANDOM {
        return false;
    }
    let upper = run.bytes().any(|b| b.is_ascii_uppercase());
    let lower = run.bytes().any(|b| b.is_ascii_lowercase());
    let digit = run.bytes().any(|b| b.is_ascii_digit());
    let kinds = usize::from(upper) + usize::from(lower) + usize::from(digit);
    kinds >= 2 && pieces(run).into_iter().filter(|p| odd(p)).count() >= 2
}

/// A piece words and numbers rarely have: one or two characters, or three
/// or more letters without a vowel (`y` counts as one).
fn odd(piece: &str) -> bool {
    piece.len() <= 2
        || (piece.bytes().all(|b| b.is_ascii_alphabetic())
            && !piece
                .bytes()
                .any(|b| b"aeiouy".contains(&b.to_ascii_lowercase())))
}

/// `run` cut where the kind of character changes, a capital staying with
/// the lower-case letters after it (`libQt5Core`: `lib`, `Qt`, `5`, `Core`).
fn pieces(run: &str) -> Vec<&str> {
    #[derive(PartialEq, Clone, Copy)]
    enum Kind {
        Upper,
        Lower,
        Digit,
    }
    let kind = |b: u8| {
        if b.is_ascii_uppercase() {
            Kind::Upper
        } else if b.is_ascii_lowercase() {
            Kind::Lower
        } else {
            Kind::Digit
        }
    };
    let bytes = run.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..bytes.len() {
        let (a, b) = (kind(bytes[i - 1]), kind(bytes[i]));
        if a == Kind::Upper && b == Kind::Lower {
            // A capital starts the word of the lower-case letters after it
            // (`HTMLParser`: `HTML`, `Parser`).
            if i - 1 > start {
                out.push(&run[start..i - 1]);
                start = i - 1;
            }
        } else if a != b {
            out.push(&run[start..i]);
            start = i;
        }
    }
    out.push(&run[start..]);
    out
}

/// The longest run of lower-case consonants (`y` counts as a vowel).
fn consonant_run(run: &str) -> usize {
    let mut best = 0;
    let mut n = 0;
    for b in run.bytes() {
        if b.is_ascii_lowercase() && !b"aeiouy".contains(&b) {
            n += 1;
            best = best.max(n);
        } else {
            n = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_parts_become_stars() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            // ImageMagick, mkstemp and mkdtemp, mktemp(1), Python's tempfile.
            ("magick-7CjO9H2Jabc", "magick-*"),
            ("magick-7CjO9H2Jabc.pnm", "magick-*.pnm"),
            ("fdbroker-run.aB3dE9", "fdbroker-run.*"),
            ("gs_Xa19Qk", "gs_*"),
            ("tmp.K2jD9xLq0p", "tmp.*"),
            ("tmp.qzwxrkplmn", "tmp.*"),
            ("tmpk3j4h5g6", "tmp*"),
            ("tmp_8xqzrkl", "tmp*"),
            ("tmpab12cd9x.json", "tmp*.json"),
            ("a1B2c3", "*"),
            ("cache-a1B2c3-X9y8Z7", "cache-*-*"),
            ("x[1]-7CjO9H2J", "x\\[1\\]-*"),
        ];
        for &(name, pattern) in cases {
            assert_eq!(generalise_name(name).as_deref(), Some(pattern), "{name}");
        }
    }

    #[test]
    fn words_and_versions_stay() {
        for name in [
            "output",
            "report.txt",
            "Report",
            "README",
            "python3.11",
            "python311",
            "cpython-311-x86_64-linux-gnu.so",
            "libQt5Core.so.5",
            "ImageMagick-6.9.11",
            "modules-Q16",
            "x86_64",
            "utf8",
            "strength",
            "ld-linux-x86-64.so.2",
            "Resource",
            "ExifTool.pm",
            "GPS.pm",
            "fontconfig",
            "ld.so.cache",
            "20240101",
            "2024-01-01T120000",
            "SHA256SUMS",
            "tmpfile",
            "tmp",
            "backup",
            "Abcdef",
        ] {
            assert_eq!(generalise_name(name), None, "{name}");
        }
    }

    #[test]
    fn pieces_and_consonants() {
        assert_eq!(pieces("libQt5Core"), ["lib", "Qt", "5", "Core"]);
        assert_eq!(
            pieces("7CjO9H2Jabc"),
            ["7", "Cj", "O", "9", "H", "2", "Jabc"]
        );
        assert_eq!(pieces("HTMLParser"), ["HTML", "Parser"]);
        assert_eq!(consonant_run("tmpqzwxr"), 8);
        assert_eq!(consonant_run("strength"), 4);
    }

    /// Of random names as `mkstemp` and ImageMagick make them, most are
    /// recognised.
    #[test]
    fn most_random_names_are_recognised() {
        let alpha = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut x: u64 = 88172645463325252;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (len, at_least) in [(6, 850), (10, 900), (16, 980)] {
            let mut hits = 0;
            for _ in 0..1000 {
                let s: String = (0..len)
                    .map(|_| char::from(alpha[(next() % 62) as usize]))
                    .collect();
                if super::generalise_name(&format!("magick-{s}")).as_deref() == Some("magick-*") {
                    hits += 1;
                }
            }
            assert!(hits >= at_least, "{len}: {hits}");
        }
    }
}
