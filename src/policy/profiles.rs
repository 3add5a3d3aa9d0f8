//! The built-in profiles, compiled in from `policies/profiles/`: their
//! names, texts and one-line descriptions.

/// Name and text of every built-in profile. The first line of each file is
/// `# NAME: one-line description` ([`description`]).
pub(crate) const BUILTIN: &[(&str, &str)] = &[(
    "runtime",
    include_str!("../../policies/profiles/runtime.toml"),
)];

/// The names of the built-in profiles, in [`BUILTIN`] order.
pub(crate) fn names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// The description on the first line of a profile's `text`
/// (`# NAME: description`); empty when the line is not of that form.
pub(crate) fn description<'a>(name: &str, text: &'a str) -> &'a str {
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .and_then(|l| l.strip_prefix(name))
        .and_then(|l| l.strip_prefix(':'))
        .map_or("", str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_describes_itself_on_its_first_line() {
        for (name, text) in BUILTIN {
            assert!(
                !description(name, text).is_empty(),
                "{name}: {:?}",
                text.lines().next()
            );
        }
        assert_eq!(description("x", "# x: a b \nversion = 1\n"), "a b");
        assert_eq!(description("x", "# y: a b\n"), "");
        assert_eq!(description("x", ""), "");
    }
}
