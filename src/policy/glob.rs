//! Path patterns: validation, and translation into `globset` globs.
//!
//! The pattern language is ours (documented in `docs/policy.md`); `globset`
//! only executes it. We parse every pattern ourselves, reject anything
//! ambiguous, and hand `globset` a canonical spelling in which every literal
//! is escaped, so that its own extensions (`{a,b}` alternation, POSIX classes,
//! leniencies around `**`) can never change what a pattern means.
//!
//! Matching is on bytes: a path need not be UTF-8. `?` and a class match one
//! byte; `*` any run of bytes; none of them ever matches `/`.

use std::path::PathBuf;

use globset::{Glob, GlobBuilder};

/// One element of a path component.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// A literal character (matches its UTF-8 bytes).
    Lit(char),
    /// `*`: any run of bytes other than `/`, possibly empty.
    Star,
    /// `?`: exactly one byte other than `/`.
    Any,
    /// `[...]`: one byte in (or, negated, not in) an ASCII set that never holds `/`.
    Class { negated: bool, set: u128 },
}

/// One `/`-separated component of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Component {
    /// `**`: zero or more whole components.
    Recursive,
    /// Anything else.
    Segs(Vec<Seg>),
}

/// A rejected pattern: why, and the byte offset in the pattern it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternError {
    pub(crate) offset: usize,
    pub(crate) reason: String,
}

fn err(offset: usize, reason: impl Into<String>) -> PatternError {
    PatternError {
        offset,
        reason: reason.into(),
    }
}

/// A validated pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    components: Vec<Component>,
}

impl Pattern {
    /// Parses and validates one pattern.
    pub(crate) fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.is_empty() {
            return Err(err(0, "a pattern must not be empty"));
        }
        if !text.starts_with('/') {
            return Err(err(
                0,
                "a pattern must be an absolute path (start with `/`)",
            ));
        }
        if text == "/" {
            return Ok(Pattern { components: vec![] });
        }
        let mut components = Vec::new();
        // Byte offset of the first character of each component, for messages.
        let mut start = 1;
        let mut segs: Vec<Seg> = Vec::new();
        let mut chars = text.char_indices().skip(1).peekable();
        // Set when the current component is `**` (must then end right there).
        let mut recursive = false;
        loop {
            let Some((i, c)) = chars.next() else {
                finish_component(
                    text,
                    start,
                    text.len(),
                    recursive,
                    &mut segs,
                    &mut components,
                )?;
                break;
            };
            match c {
                '/' => {
                    finish_component(text, start, i, recursive, &mut segs, &mut components)?;
                    recursive = false;
                    start = i + 1;
                }
                '\0' => return Err(err(i, "a pattern must not contain a NUL character")),
                '\\' => match chars.next() {
                    None => return Err(err(i, "`\\` at the end of the pattern escapes nothing")),
                    Some((j, '/')) => {
                        return Err(err(
                            j,
                            "`/` cannot be escaped: it always separates components",
                        ));
                    }
                    Some((j, '\0')) => {
                        return Err(err(j, "a pattern must not contain a NUL character"));
                    }
                    Some((_, e)) => segs.push(Seg::Lit(e)),
                },
                '*' => {
                    if chars.next_if(|&(_, c)| c == '*').is_some() {
                        if !segs.is_empty() || chars.peek().is_some_and(|&(_, c)| c != '/') {
                            return Err(err(i, STARSTAR));
                        }
                        recursive = true;
                    } else {
                        segs.push(Seg::Star);
                    }
                }
                '?' => segs.push(Seg::Any),
                '[' => segs.push(parse_class(i, &mut chars)?),
                c => segs.push(Seg::Lit(c)),
            }
        }
        Ok(Pattern { components })
    }

    /// The components, with runs of `**` (which mean the same as one) collapsed.
    fn collapsed(&self) -> Vec<&Component> {
        let mut comps: Vec<&Component> = Vec::with_capacity(self.components.len());
        for c in &self.components {
            if !(matches!(c, Component::Recursive)
                && matches!(comps.last(), Some(Component::Recursive)))
            {
                comps.push(c);
            }
        }
        comps
    }

    /// A literal component every matching path has at a fixed place: its
    /// depth (0 for the first component) and text. The deepest one before
    /// any `**` is chosen, being usually the most specific; `None` when the
    /// pattern has none (`/*/x` has `x` at depth 1; `/**/x` has none).
    pub(crate) fn index_key(&self) -> Option<(usize, String)> {
        self.components
            .iter()
            .take_while(|c| !matches!(c, Component::Recursive))
            .enumerate()
            .filter_map(|(depth, c)| literal(c).map(|text| (depth, text)))
            .last()
    }

    /// Whether the pattern is one exact path, or one exact directory and
    /// everything below it (`/a/b/**`): shapes matched by hashing, whatever
    /// the number of patterns (see [`Self::literal_shape`]).
    pub(crate) fn is_flat(&self) -> bool {
        let comps = self.collapsed();
        let literal_part = match comps.last() {
            Some(Component::Recursive) => &comps[..comps.len() - 1],
            _ => &comps[..],
        };
        literal_part.iter().all(|c| literal(c).is_some())
    }

    /// For a pattern that is one exact path (`/a/b`) or one exact directory
    /// and everything below it (`/a/b/**`): that path, and whether the
    /// pattern reaches below it. `/` is `("/", false)`; `/**`, which matches
    /// every path, is `("", true)`. `None` for other shapes.
    pub(crate) fn literal_shape(&self) -> Option<(String, bool)> {
        let comps = self.collapsed();
        let recursive = matches!(comps.last(), Some(Component::Recursive));
        let literal_part = if recursive {
            &comps[..comps.len() - 1]
        } else {
            &comps[..]
        };
        if literal_part.is_empty() {
            let path = if recursive { "" } else { "/" };
            return Some((path.to_string(), recursive));
        }
        let mut path = String::new();
        for c in literal_part {
            path.push('/');
            path.push_str(&literal(c)?);
        }
        Some((path, recursive))
    }

    /// The `globset` globs that together match exactly what this pattern matches.
    pub(crate) fn globs(&self) -> Result<Vec<Glob>, globset::Error> {
        let comps = self.collapsed();
        // In a wildcard pattern, a `.ext` ending would make globset pick its
        // "required extension" strategy, which tries each such glob in turn;
        // spelling the dot `[.]` keeps it in the one regex set.
        let dot_class = !self.is_flat();
        let mut texts = vec![render(&comps, dot_class)];
        // globset's trailing `/**` needs at least one more component; ours
        // also matches the directory itself (zero components).
        if comps.len() >= 2 && matches!(comps.last(), Some(Component::Recursive)) {
            texts.push(render(&comps[..comps.len() - 1], dot_class));
        }
        texts
            .iter()
            .map(|t| {
                GlobBuilder::new(t)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .case_insensitive(false)
                    .build()
            })
            .collect()
    }
}

/// The text of a wildcard-free component.
fn literal(c: &Component) -> Option<String> {
    match c {
        Component::Recursive => None,
        Component::Segs(segs) => segs
            .iter()
            .map(|s| match s {
                Seg::Lit(c) => Some(*c),
                _ => None,
            })
            .collect(),
    }
}

const STARSTAR: &str =
    "`**` must be a whole path component (as in `/a/**` or `/a/**/b`); use `*` within a component";

fn finish_component(
    text: &str,
    start: usize,
    end: usize,
    recursive: bool,
    segs: &mut Vec<Seg>,
    out: &mut Vec<Component>,
) -> Result<(), PatternError> {
    if recursive {
        out.push(Component::Recursive);
        return Ok(());
    }
    if segs.is_empty() {
        return Err(if end == text.len() {
            err(end - 1, "a pattern must not end with `/`")
        } else {
            err(end, "a pattern must not contain `//`")
        });
    }
    if segs[..] == [Seg::Lit('.')] || segs[..] == [Seg::Lit('.'), Seg::Lit('.')] {
        return Err(err(
            start,
            "`.` and `..` components are not allowed: write the normalised path",
        ));
    }
    out.push(Component::Segs(std::mem::take(segs)));
    Ok(())
}

/// Parses a class after its `[` (at byte `open`).
///
/// Grammar: `[` `!`|`^`? `]`? (char | char `-` char)* `-`? `]`, with ASCII
/// characters other than `/` only.
fn parse_class(
    open: usize,
    chars: &mut std::iter::Peekable<impl Iterator<Item = (usize, char)>>,
) -> Result<Seg, PatternError> {
    let negated = chars.next_if(|&(_, c)| c == '!' || c == '^').is_some();
    let mut set: u128 = 0;
    let mut first = true;
    // The previous single character, which a following `-x` turns into a range.
    let mut prev: Option<char> = None;
    loop {
        let Some((i, c)) = chars.next() else {
            return Err(err(open, "unclosed character class `[`"));
        };
        if c == ']' && !first {
            break;
        }
        first = false;
        check_class_char(i, c)?;
        if c == '['
            && chars
                .peek()
                .is_some_and(|&(_, c)| c == ':' || c == '=' || c == '.')
        {
            return Err(err(
                i,
                "POSIX classes such as `[:alpha:]` are not supported; list the characters",
            ));
        }
        if c == '-'
            && let Some(lo) = prev
            && let Some(&(j, hi)) = chars.peek()
            && hi != ']'
        {
            chars.next();
            check_class_char(j, hi)?;
            if hi < lo {
                return Err(err(
                    j,
                    format!("empty range `{lo}-{hi}` in character class"),
                ));
            }
            if lo <= '/' && '/' <= hi {
                return Err(err(
                    j,
                    format!("range `{lo}-{hi}` includes `/`, which a class can never match"),
                ));
            }
            for b in (lo as u8)..=(hi as u8) {
                set |= 1u128 << b;
            }
            prev = None;
            continue;
        }
        set |= 1u128 << (c as u8);
        prev = Some(c);
    }
    Ok(Seg::Class { negated, set })
}

fn check_class_char(at: usize, c: char) -> Result<(), PatternError> {
    if c == '/' {
        Err(err(
            at,
            "`/` inside a character class: a class never matches `/`",
        ))
    } else if !c.is_ascii() || c == '\0' {
        Err(err(
            at,
            "character classes may only hold ASCII characters (other than NUL)",
        ))
    } else {
        Ok(())
    }
}

/// Characters that must be escaped to be literal in a globset glob.
fn push_literal(out: &mut String, c: char) {
    if matches!(
        c,
        '*' | '?' | '[' | ']' | '{' | '}' | ',' | '\\' | '!' | '^' | '-'
    ) {
        out.push('\\');
    }
    out.push(c);
}

fn render(comps: &[&Component], dot_class: bool) -> String {
    if comps.is_empty() {
        return "/".to_string();
    }
    let mut out = String::new();
    for (i, c) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        out.push('/');
        match c {
            Component::Recursive => out.push_str("**"),
            Component::Segs(segs) => {
                // A lone `*` must not match an empty component: globset's
                // `/*` would otherwise match `/`.
                if segs[..] == [Seg::Star] {
                    out.push_str("?*");
                    continue;
                }
                for s in segs {
                    match s {
                        Seg::Lit('.') if dot_class && last => out.push_str("[.]"),
                        Seg::Lit(c) => push_literal(&mut out, *c),
                        Seg::Star => out.push('*'),
                        Seg::Any => out.push('?'),
                        Seg::Class { negated, set } => render_class(&mut out, *negated, *set),
                    }
                }
            }
        }
    }
    out
}

/// Writes a class in a canonical spelling globset parses unambiguously:
/// `]` first, `-` last, no ranges, never `!`/`^` first, never `[` before `:`.
fn render_class(out: &mut String, negated: bool, set: u128) {
    let members: Vec<char> = (0u8..128)
        .filter(|b| set & (1u128 << b) != 0)
        .map(char::from)
        .collect();
    if !negated && members.len() == 1 {
        push_literal(out, members[0]);
        return;
    }
    let mut body: Vec<char> = Vec::with_capacity(members.len());
    if members.contains(&']') {
        body.push(']');
    }
    // Ascending order keeps `:` (0x3a) before `[` (0x5b).
    body.extend(members.iter().copied().filter(|&c| c != ']' && c != '-'));
    if !negated && matches!(body.first(), Some('!' | '^')) {
        // Only reached when `]` is absent: more than one member, so at least
        // one other character exists to lead.
        let c = body.remove(0);
        body.push(c);
    }
    if members.contains(&'-') {
        body.push('-');
    }
    out.push('[');
    if negated {
        out.push('!');
    }
    out.extend(body);
    out.push(']');
}

/// Whether `path` is absolute and normalised: no empty, `.` or `..`
/// components, no trailing `/` (except `/` itself), no NUL.
pub(crate) fn is_normalised(path: &[u8]) -> bool {
    if path == b"/" {
        return true;
    }
    let Some(rest) = path.strip_prefix(b"/") else {
        return false;
    };
    // One pass (this runs on every decision): the length of the current
    // component and whether it is all dots.
    let bad = |len: usize, dots: bool| len == 0 || (dots && len <= 2);
    let (mut len, mut dots) = (0usize, true);
    for &b in rest {
        match b {
            0 => return false,
            b'/' => {
                if bad(len, dots) {
                    return false;
                }
                (len, dots) = (0, true);
            }
            b'.' => len += 1,
            _ => (len, dots) = (len + 1, false),
        }
    }
    !bad(len, dots)
}

/// The pattern that matches exactly `path` and nothing else: wildcard
/// characters (`*`, `?`, `[`, `]`), `\`, and a `$` before `{` (which
/// would start a variable) are escaped with `\`.
///
/// `None` when `path` cannot be a pattern: not valid UTF-8, not absolute, or
/// not normalised (`.`/`..` components, `//`, a trailing `/`).
///
/// ```
/// use std::path::Path;
/// use fdbroker::policy::literal_pattern;
/// assert_eq!(literal_pattern(Path::new("/srv/in/a[1]*.csv")).as_deref(), Some(r"/srv/in/a\[1\]\*.csv"));
/// assert_eq!(literal_pattern(Path::new("/srv/${HOME}")).as_deref(), Some(r"/srv/\${HOME}"));
/// assert_eq!(literal_pattern(Path::new("relative/path")), None);
/// assert_eq!(literal_pattern(Path::new("/a/../b")), None);
/// ```
pub fn literal_pattern(path: &std::path::Path) -> Option<String> {
    let text = path.to_str()?;
    let mut out = String::with_capacity(text.len() + 8);
    super::vars::escape_into(&mut out, text);
    // Whatever the parser would reject (relative, `..`, `//`, ...) is not a
    // path a rule can name.
    Pattern::parse(&out).ok()?;
    Some(out)
}

/// The literal beginning of a policy pattern: `(path, true)` when the whole
/// pattern is literal, else `(directory before the first wildcard component,
/// false)`. Escapes (`\*`) are undone.
///
/// ```
/// use std::path::PathBuf;
/// use fdbroker::policy::literal_prefix;
/// assert_eq!(literal_prefix("/usr/bin/python3*"), (PathBuf::from("/usr/bin"), false));
/// assert_eq!(literal_prefix("/opt/tools/**"), (PathBuf::from("/opt/tools"), false));
/// assert_eq!(literal_prefix("/usr/bin/file"), (PathBuf::from("/usr/bin/file"), true));
/// assert_eq!(literal_prefix("/opt/a\\*b"), (PathBuf::from("/opt/a*b"), true));
/// ```
pub fn literal_prefix(pattern: &str) -> (PathBuf, bool) {
    let mut out = String::from("/");
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut lit = String::new();
        let mut chars = comp.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => lit.extend(chars.next()),
                '*' | '?' | '[' => return (PathBuf::from(out), false),
                c => lit.push(c),
            }
        }
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(&lit);
    }
    (PathBuf::from(out), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use globset::GlobSetBuilder;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    fn matcher(pattern: &str) -> globset::GlobSet {
        let p = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e:?}"));
        let mut b = GlobSetBuilder::new();
        for g in p.globs().unwrap() {
            b.add(g);
        }
        b.build().unwrap()
    }

    fn is_match(pattern: &str, path: &[u8]) -> bool {
        matcher(pattern).is_match(Path::new(OsStr::from_bytes(path)))
    }

    #[test]
    fn table() {
        #[rustfmt::skip]
        let cases: &[(&str, &[u8], bool)] = &[
            // Exact paths.
            ("/", b"/", true),
            ("/", b"/a", false),
            ("/etc/passwd", b"/etc/passwd", true),
            ("/etc/passwd", b"/etc/passwd2", false),
            ("/etc/passwd", b"/etc", false),
            ("/etc", b"/etc/passwd", false),
            // `*` stays within a component, and is never empty as a whole component.
            ("/a/*", b"/a/b", true),
            ("/a/*", b"/a/b/c", false),
            ("/a/*", b"/a", false),
            ("/*", b"/", false),
            ("/*", b"/x", true),
            ("/a/*.pem", b"/a/.pem", true),
            ("/a/*.pem", b"/a/x.pem", true),
            ("/a/*.pem", b"/a/x/y.pem", false),
            ("/a/x*y", b"/a/xy", true),
            ("/a/x*y", b"/a/x/y", false),
            ("/a/*/c", b"/a/b/c", true),
            ("/a/*/c", b"/a/c", false),
            // Dotfiles are not special.
            ("/a/*", b"/a/.hidden", true),
            ("/a/**", b"/a/.git/config", true),
            // `?` is one byte, never `/`.
            ("/a/?", b"/a/b", true),
            ("/a/?", b"/a/bc", false),
            ("/a?b", b"/a/b", false),
            ("/a/?", b"/a/\xff", true),
            ("/a/?", "/a/é".as_bytes(), false),
            ("/a/??", "/a/é".as_bytes(), true),
            // `**`: zero or more whole components.
            ("/a/**", b"/a", true),
            ("/a/**", b"/a/b", true),
            ("/a/**", b"/a/b/c/d", true),
            ("/a/**", b"/ab", false),
            ("/a/**", b"/", false),
            ("/**", b"/", true),
            ("/**", b"/x/y", true),
            ("/a/**/b", b"/a/b", true),
            ("/a/**/b", b"/a/x/b", true),
            ("/a/**/b", b"/a/x/y/b", true),
            ("/a/**/b", b"/a/xb", false),
            ("/a/**/b", b"/a/x/b/c", false),
            ("/**/b", b"/b", true),
            ("/**/b", b"/x/y/b", true),
            ("/**/b", b"/x/yb", false),
            ("/a/**/**/b", b"/a/b", true),
            ("/a/**/**", b"/a", true),
            ("/a/**/*", b"/a", false),
            ("/a/**/*", b"/a/x", true),
            ("/**/*", b"/", false),
            // Classes: one byte, never `/`.
            ("/a/[bc]", b"/a/c", true),
            ("/a/[bc]", b"/a/d", false),
            ("/a/[a-c]x", b"/a/bx", true),
            ("/a/[!a]", b"/a/b", true),
            ("/a/[!a]", b"/a/a", false),
            ("/a[!a]b", b"/a/b", false),
            ("/a[^a]b", b"/a/b", false),
            ("/a/[!a]", b"/a/\xff", true),
            ("/a/[!a]", b"/a/\n", true),
            ("/a/[]]", b"/a/]", true),
            ("/a/[]-]", b"/a/-", true),
            ("/a/[!]]", b"/a/]", false),
            ("/a/[!]]", b"/a/x", true),
            ("/a/[!!]", b"/a/!", false),
            ("/a/[!^]", b"/a/x", true),
            ("/a/[!-]", b"/a/-", false),
            ("/a/[a-]", b"/a/-", true),
            ("/a/[-a]", b"/a/-", true),
            ("/a/[!a-z]", b"/a/q", false),
            ("/a/[!a-z]", b"/a/Q", true),
            ("/a/[\\]", b"/a/\\", true),
            ("/a/[[]", b"/a/[", true),
            ("/a/[{]", b"/a/{", true),
            ("/a/[:[]", b"/a/:", true),
            ("/a/[:[]", b"/a/[", true),
            // Braces, commas and other punctuation are literal.
            ("/a/{b,c}", b"/a/{b,c}", true),
            ("/a/{b,c}", b"/a/b", false),
            ("/a/b!", b"/a/b!", true),
            ("/a/]", b"/a/]", true),
            // Escapes make wildcards literal.
            ("/a/\\*", b"/a/*", true),
            ("/a/\\*", b"/a/b", false),
            ("/a/\\?", b"/a/?", true),
            ("/a/\\[x]", b"/a/[x]", true),
            ("/a/\\\\", b"/a/\\", true),
            // `*` and `**` match any byte but `/`, including newlines and non-UTF-8.
            ("/a/*", b"/a/x\ny", true),
            ("/a/**", b"/a/x\n/y", true),
            ("/a/*", b"/a/\xff\xfe", true),
            ("/a/**/c", b"/a/\xff/c", true),
            // The examples in docs/policy.md.
            ("/srv/in/**", b"/srv/input", false),
            ("/srv/in/**", b"/srv", false),
            ("/srv/**/*.pem", b"/srv/a.pem", true),
            ("/srv/**/*.pem", b"/srv/x/y/a.pem", true),
            ("/srv/**/*.pem", b"/srv/x/a.pem.bak", false),
            ("/etc/ssl/certs/*.pem", b"/etc/ssl/certs/sub/a.pem", false),
            ("/data/file?.txt", b"/data/file1.txt", true),
            ("/data/file?.txt", b"/data/file10.txt", false),
            ("/data/file?.txt", b"/data/file/.txt", false),
            ("/data/[!.]*", b"/data/x", true),
            ("/data/[!.]*", b"/data/x.y", true),
            ("/data/[!.]*", b"/data/.x", false),
            ("/data/[!.]*", b"/data", false),
            // Non-ASCII literals match their UTF-8 bytes.
            ("/données/*", "/données/x".as_bytes(), true),
            ("/données/*", b"/donn\xe9es/x", false),
        ];
        for &(pattern, path, expected) in cases {
            assert_eq!(
                is_match(pattern, path),
                expected,
                "pattern {pattern:?} against {:?}",
                String::from_utf8_lossy(path)
            );
        }
    }

    #[test]
    fn rejected() {
        #[rustfmt::skip]
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "empty"),
            ("a/b", 0, "absolute"),
            ("~/x", 0, "absolute"),
            ("/a//b", 3, "`//`"),
            ("//", 1, "`//`"),
            ("/a/", 2, "end with `/`"),
            ("/a/./b", 3, "`.` and `..`"),
            ("/a/..", 3, "`.` and `..`"),
            ("/.", 1, "`.` and `..`"),
            ("/a/**b", 3, "whole path component"),
            ("/a/b**", 4, "whole path component"),
            ("/a/***", 3, "whole path component"),
            ("/**a/b", 1, "whole path component"),
            ("/a/[b", 3, "unclosed"),
            ("/a/[/]", 4, "`/` inside"),
            ("/a/[!/]", 5, "`/` inside"),
            ("/a/[.-0]", 6, "includes `/`"),
            ("/a/[z-a]", 6, "empty range"),
            ("/a/[é]", 4, "ASCII"),
            ("/a/[[:alpha:]]", 4, "POSIX"),
            ("/a/\\", 3, "escapes nothing"),
            ("/a\\/b", 3, "cannot be escaped"),
            ("/a/b\0", 4, "NUL"),
        ];
        for &(pattern, offset, reason) in cases {
            let e = Pattern::parse(pattern).expect_err(pattern);
            assert_eq!(e.offset, offset, "offset for {pattern:?}: {e:?}");
            assert!(e.reason.contains(reason), "reason for {pattern:?}: {e:?}");
        }
    }

    #[test]
    fn normalised_paths() {
        for p in [
            &b"/"[..],
            b"/a",
            b"/a/b",
            b"/a/.b",
            b"/a/..b",
            b"/a/...",
            b"/.../a",
            b"/a./b.",
            b"/\xff",
        ] {
            assert!(is_normalised(p), "{p:?}");
        }
        for p in [
            &b""[..],
            b"a",
            b"//",
            b"/a/",
            b"/a//b",
            b"/./a",
            b"/a/..",
            b"/a/.",
            b"/../a",
            b"/.",
            b"/a\0",
            b"/a/\0/b",
        ] {
            assert!(!is_normalised(p), "{p:?}");
        }
    }
}
