//! The built-in profiles, compiled in from `policies/profiles/`.

/// Name and text of every built-in profile: `runtime` first, the families
/// that build on it in alphabetical order. The first line of each text is
/// `# NAME: one-line description`.
pub(crate) const BUILTIN: &[(&str, &str)] = &[
    (
        "runtime",
        include_str!("../../policies/profiles/runtime.toml"),
    ),
    ("file", include_str!("../../policies/profiles/file.toml")),
    ("fonts", include_str!("../../policies/profiles/fonts.toml")),
    (
        "ghostscript",
        include_str!("../../policies/profiles/ghostscript.toml"),
    ),
    (
        "imagemagick",
        include_str!("../../policies/profiles/imagemagick.toml"),
    ),
    ("perl", include_str!("../../policies/profiles/perl.toml")),
    (
        "poppler",
        include_str!("../../policies/profiles/poppler.toml"),
    ),
    (
        "python",
        include_str!("../../policies/profiles/python.toml"),
    ),
];
