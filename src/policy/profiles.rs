//! The built-in profiles, compiled in from `policies/profiles/`.

/// Name and text of every built-in profile.
pub(crate) const BUILTIN: &[(&str, &str)] = &[(
    "runtime",
    include_str!("../../policies/profiles/runtime.toml"),
)];
