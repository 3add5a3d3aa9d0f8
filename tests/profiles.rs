//! The built-in profile library (`policies/profiles/`): every file is
//! compiled in and names itself, family profiles only let programs read
//! system files, and each grants what its programs read on Debian. The
//! programs themselves run under these profiles in tests/tools.rs.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use fdbroker::policy::{Access, Policy, RuleKind, builtin_profiles, lint};

fn profiles_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies/profiles")
}

/// A policy that is just `profiles = [name]`.
fn with_profile(name: &str) -> Policy {
    Policy::parse(
        &format!("version = 1\nprofiles = [\"{name}\"]\n"),
        Path::new("t.toml"),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

const FAMILIES: [&str; 7] = [
    "file",
    "fonts",
    "python",
    "perl",
    "imagemagick",
    "ghostscript",
    "poppler",
];

#[test]
fn every_profile_file_is_built_in_and_names_itself() {
    let on_disk: BTreeSet<String> = fs::read_dir(profiles_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".toml").map(str::to_string))
        .collect();
    let built_in: BTreeSet<String> = builtin_profiles().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, built_in);
    for f in FAMILIES.iter().chain(&["runtime"]) {
        assert!(built_in.contains(*f), "{f} is not built in");
    }
    for (name, text) in builtin_profiles() {
        let shipped = fs::read_to_string(profiles_dir().join(format!("{name}.toml"))).unwrap();
        assert_eq!(shipped, text, "{name}.toml differs from the built-in one");
        let first = text.lines().next().unwrap_or_default();
        let description = first
            .strip_prefix(&format!("# {name}: "))
            .unwrap_or_else(|| panic!("{name}: first line {first:?}"));
        assert!(!description.trim().is_empty(), "{name}: no description");
    }
}

#[test]
fn every_rule_of_a_family_profile_says_why() {
    for (name, text) in builtin_profiles().filter(|(n, _)| FAMILIES.contains(n)) {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with("[[") {
                let above = i.checked_sub(1).map(|j| lines[j]).unwrap_or_default();
                assert!(
                    above.starts_with('#'),
                    "{name}.toml:{}: a rule without a comment above it",
                    i + 1
                );
            }
        }
    }
}

#[test]
fn family_profiles_only_let_programs_read_system_files() {
    for name in FAMILIES {
        let p = with_profile(name);
        assert!(p.profiles().contains(&"runtime"), "{name} lacks runtime");
        assert!(!p.network(), "{name} enables the network");
        let own = PathBuf::from(format!("<profile:{name}>"));
        let rules: Vec<_> = p
            .rules()
            .filter(|r| r.origin().file.as_ref() == own.as_path())
            .collect();
        assert!(!rules.is_empty(), "{name} has no rules of its own");
        for r in rules {
            assert_eq!(r.kind(), RuleKind::Allow, "{name}: {:?}", r.patterns());
            assert!(
                (Access::READ | Access::STAT).contains(r.access()),
                "{name} grants {:?} on {:?}",
                r.access(),
                r.patterns()
            );
            for pat in r.patterns() {
                let personal = [
                    "/home", "/root", "/tmp", "/var/tmp", "/proc", "/run", "/srv",
                ];
                assert!(
                    !personal
                        .iter()
                        .any(|d| pat == d || pat.starts_with(&format!("{d}/"))),
                    "{name} grants {pat}"
                );
                assert!(!pat.contains("${"), "{name} depends on the run: {pat}");
            }
        }
        // Whatever a family adds, nothing but runtime's devices is writable,
        // and nothing beyond runtime's loader is executable.
        for path in [
            "/usr/share/fonts/x",
            "/var/cache/fontconfig/x",
            "/etc/ImageMagick-6/policy.xml",
            "/usr/share/perl5/x.pm",
            "/usr/bin/exiftool",
        ] {
            for right in [Access::WRITE, Access::CREATE, Access::EXEC] {
                assert!(
                    !p.decide(Path::new(path), right).allowed,
                    "{name}: {right:?} on {path}"
                );
            }
        }
        for secret in [
            "/etc/shadow",
            "/etc/passwd",
            "/root/.bashrc",
            "/home/u/.ssh/id_ed25519",
            "/etc/ssl/private/key.pem",
        ] {
            assert!(
                !p.decide(Path::new(secret), Access::STAT).allowed,
                "{name} shows {secret}"
            );
        }
        // A listing of /usr/bin is nobody's business.
        assert!(!p.decide(Path::new("/usr/bin"), Access::READ).allowed);
    }
}

#[test]
fn family_profiles_build_on_each_other() {
    for (name, includes) in [
        ("file", &["runtime"][..]),
        ("fonts", &["runtime"]),
        ("python", &["runtime"]),
        ("perl", &["runtime"]),
        ("imagemagick", &["fonts", "runtime"]),
        ("ghostscript", &["fonts", "runtime"]),
        ("poppler", &["fonts", "runtime"]),
    ] {
        let p = with_profile(name);
        let mut got: Vec<&str> = p
            .profiles()
            .iter()
            .copied()
            .filter(|n| *n != name)
            .collect();
        got.sort_unstable();
        assert_eq!(got, includes, "{name}");
    }
}

#[test]
fn family_profiles_grant_what_their_programs_read() {
    let cases: &[(&str, &[&str])] = &[
        (
            "fonts",
            &[
                "/etc/fonts/fonts.conf",
                "/etc/fonts/conf.d",
                // conf.d's symbolic links resolve here; rules match the target.
                "/usr/share/fontconfig/conf.avail/10-hinting-slight.conf",
                "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                "/usr/local/share/fonts",
                "/var/cache/fontconfig/0bd3dc0958fa2205aaaa8ebb13e2872b-le64.cache-8",
            ],
        ),
        (
            "file",
            &[
                "/usr/lib/file/magic.mgc",
                "/usr/share/misc/magic.mgc",
                "/usr/share/file/magic/elf",
                "/etc/magic",
                "/etc/magic.mgc",
            ],
        ),
        (
            "python",
            &[
                "/usr/lib/python3.11/json/__init__.py",
                "/usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so",
                "/usr/lib/python3/dist-packages/yaml/__init__.py",
                "/usr/local/lib/python3.11/dist-packages/x.py",
                "/usr/share/python3/debian_defaults",
                "/etc/python3.11/sitecustomize.py",
                "/etc/python3/debian_config",
                "/etc/ssl/openssl.cnf",
            ],
        ),
        (
            "perl",
            &[
                "/etc/perl/Net/libnet.cfg",
                "/usr/share/perl5/Image/ExifTool/GPS.pm",
                "/usr/share/perl/5.36/strict.pm",
                "/usr/lib/x86_64-linux-gnu/perl/5.36/POSIX.pm",
                "/usr/lib/x86_64-linux-gnu/perl-base/warnings.pm",
                "/usr/local/share/perl/5.36.0/Local.pm",
                "/usr/local/lib/site_perl/Site.pm",
                // The script of a Perl program installed as a command.
                "/usr/bin/exiftool",
            ],
        ),
        (
            "imagemagick",
            &[
                // ImageMagick's own limits stay in force.
                "/etc/ImageMagick-6/policy.xml",
                "/etc/ImageMagick-6/type-ghostscript.xml",
                "/usr/share/ImageMagick-6/english.xml",
                "/usr/lib/x86_64-linux-gnu/ImageMagick-6.9.11/modules-Q16/coders/png.so",
                "/etc/fonts/fonts.conf",
            ],
        ),
        (
            "ghostscript",
            &[
                "/usr/share/ghostscript/10.00.0/Resource/Init/gs_init.ps",
                "/usr/share/ghostscript/fonts/n019003l.pfb",
                "/var/lib/ghostscript/fonts/Fontmap",
                "/etc/ghostscript/fontmap.d/10fonts-urw-base35.conf",
                "/usr/share/color/icc/ghostscript/default_rgb.icc",
                // /var/lib/ghostscript/CMap's links resolve into poppler-data.
                "/usr/share/poppler/cMap/Adobe-Japan1/78-EUC-H",
                "/usr/share/fonts/type1/urw-base35/NimbusSans-Regular.t1",
                "/etc/papersize",
            ],
        ),
        (
            "poppler",
            &[
                "/usr/share/poppler/cMap/Adobe-Japan1/78-EUC-H",
                "/usr/share/poppler/nameToUnicode/Greek",
                "/usr/share/poppler/unicodeMap/Latin2",
                "/usr/share/fonts/type1/urw-base35/NimbusSans-Regular.t1",
                "/var/cache/fontconfig/x.cache-8",
            ],
        ),
    ];
    for (name, paths) in cases {
        let p = with_profile(name);
        for path in *paths {
            let d = p.decide(Path::new(path), Access::READ);
            assert!(d.allowed, "{name} does not let programs read {path}");
        }
    }
}

#[test]
fn a_policy_of_profiles_passes_the_strict_check() {
    for name in FAMILIES {
        let warnings = lint(&with_profile(name));
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
    }
}
