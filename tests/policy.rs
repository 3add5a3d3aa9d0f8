//! Policy loading: every error class with its exact `file:line:column`,
//! includes and profiles, and the shipped example policies.

use std::fs;
use std::path::{Path, PathBuf};

use fdbroker::policy::{Access, Policy, PolicyError};

/// Parses `text` as `t.toml` and returns the error message.
fn error(text: &str) -> String {
    match Policy::parse(text, Path::new("t.toml")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn rule(paths: &str, access: &str) -> String {
    format!("version = 1\n[[allow]]\npaths = [{paths}]\naccess = [{access}]\n")
}

#[test]
fn toml_errors_are_located() {
    assert_eq!(
        error("version = = 1\n"),
        "t.toml:1:11: extra `=`, expected nothing"
    );
    assert_eq!(
        error("version = 1\nversion = 1\n"),
        "t.toml:2:1: duplicate key"
    );
    assert_eq!(
        error("version = 1\n[[allow]]\npaths = [\"/a\"\naccess = [\"read\"]\n"),
        "t.toml:4:1: missing comma between array elements, expected `,`"
    );
}

#[test]
fn unknown_keys_are_located() {
    assert_eq!(
        error("version = 1\nnetwrok = true\n"),
        "t.toml:2:1: unknown field `netwrok`, expected one of `version`, `profiles`, \
         `include`, `network`, `allow`, `deny`, `limits`, `env`"
    );
    assert_eq!(
        error("version = 1\n[[allow]]\npaths = [\"/a\"]\n  acces = [\"read\"]\n"),
        "t.toml:4:3: unknown field `acces`, expected `paths` or `access`"
    );
    assert_eq!(
        error("version = 1\n[[allow]]\npaths = [\"/a\"]\naccess = [\"read\"]\nwhy.x = 1\n"),
        "t.toml:5:1: unknown field `why`, expected `paths` or `access`"
    );
    assert_eq!(
        error("version = 1\n[allow]\npaths = [\"/a\"]\n"),
        "t.toml:2:1: invalid type: map, expected a sequence"
    );
}

#[test]
fn wrong_types_are_located() {
    assert_eq!(
        error("version = 1\nnetwork = \"yes\"\n"),
        "t.toml:2:11: invalid type: string \"yes\", expected a boolean"
    );
    assert_eq!(
        error("version = 1\n[[allow]]\npaths = \"/a\"\naccess = [\"read\"]\n"),
        "t.toml:3:9: invalid type: string \"/a\", expected a sequence"
    );
    assert_eq!(
        error("version = 1\n[[allow]]\npaths = [\"/a\", 3]\naccess = [\"read\"]\n"),
        "t.toml:3:16: invalid type: integer `3`, expected a string"
    );
    assert_eq!(
        error("version = 1\ninclude = \"x.toml\"\n"),
        "t.toml:2:11: invalid type: string \"x.toml\", expected a sequence"
    );
}

#[test]
fn version_errors_are_located() {
    assert_eq!(
        error("\n[[allow]]\npaths = [\"/a\"]\naccess = [\"read\"]\n"),
        "t.toml:1:1: missing `version = 1` (the policy format version)"
    );
    assert_eq!(
        error("version = 2\n"),
        "t.toml:1:11: unsupported policy version 2; this fdbroker reads version 1"
    );
    assert_eq!(
        error("  version = \"1\"\n"),
        "t.toml:1:13: invalid type: string \"1\", expected i64"
    );
}

#[test]
fn rule_errors_are_located() {
    assert_eq!(
        error(&rule("\"/a\"", "\"read\", \"delete\"")),
        "t.toml:4:19: unknown right `delete`; expected one of: read, write, create, remove, exec, stat"
    );
    assert_eq!(
        error(&rule("", "\"read\"")),
        "t.toml:3:9: `paths` must not be empty"
    );
    assert_eq!(
        error(&rule("\"/a\"", "")),
        "t.toml:4:10: `access` must not be empty"
    );
    assert_eq!(
        error("version = 1\n\n[[allow]]\npaths = [\"/a\"]\n"),
        "t.toml:3:1: this [[allow]] rule has no `access` list; name the rights it grants"
    );
    assert_eq!(
        error("version = 1\n[[deny]]\naccess = [\"read\"]\n"),
        "t.toml:2:1: missing field `paths`"
    );
    // A deny rule needs no access: it then takes every right.
    let p = Policy::parse(
        "version = 1\n[[deny]]\npaths = [\"/a\"]\n",
        Path::new("t.toml"),
    )
    .unwrap();
    assert_eq!(p.rules().next().unwrap().access(), Access::all());
}

#[test]
fn pattern_errors_point_at_the_character() {
    let cases = [
        (
            "\"srv/in\"",
            "t.toml:3:11: bad pattern `srv/in`: a pattern must be an absolute path (start with `/`)",
        ),
        (
            "\"\"",
            "t.toml:3:11: bad pattern ``: a pattern must not be empty",
        ),
        (
            "\"/srv//in\"",
            "t.toml:3:16: bad pattern `/srv//in`: a pattern must not contain `//`",
        ),
        (
            "\"/srv/in/\"",
            "t.toml:3:18: bad pattern `/srv/in/`: a pattern must not end with `/`",
        ),
        (
            "\"/srv/./in\"",
            "t.toml:3:16: bad pattern `/srv/./in`: `.` and `..` components are not allowed: write the normalised path",
        ),
        (
            "\"/a\", \"/srv/in/..\"",
            "t.toml:3:25: bad pattern `/srv/in/..`: `.` and `..` components are not allowed: write the normalised path",
        ),
        (
            "\"/srv/**.pem\"",
            "t.toml:3:16: bad pattern `/srv/**.pem`: `**` must be a whole path component (as in `/a/**` or `/a/**/b`); use `*` within a component",
        ),
        (
            "\"/srv/a**\"",
            "t.toml:3:17: bad pattern `/srv/a**`: `**` must be a whole path component (as in `/a/**` or `/a/**/b`); use `*` within a component",
        ),
        (
            "\"/srv/[ab\"",
            "t.toml:3:16: bad pattern `/srv/[ab`: unclosed character class `[`",
        ),
        (
            "\"/srv/[!/]x\"",
            "t.toml:3:18: bad pattern `/srv/[!/]x`: `/` inside a character class: a class never matches `/`",
        ),
        (
            "\"/srv/[z-a]\"",
            "t.toml:3:19: bad pattern `/srv/[z-a]`: empty range `z-a` in character class",
        ),
        (
            "'/srv/\\'",
            "t.toml:3:16: bad pattern `/srv/\\`: `\\` at the end of the pattern escapes nothing",
        ),
        // Escapes in the TOML string: the character cannot be pinned down, the string is.
        (
            "\"/srv/\\u0041//x\"",
            "t.toml:3:10: bad pattern `/srv/A//x`: a pattern must not contain `//`",
        ),
    ];
    for (paths, expected) in cases {
        assert_eq!(
            error(&format!(
                "version = 1\n[[allow]]\npaths = [{paths}]\naccess = [\"read\"]\n"
            )),
            expected,
            "{paths}"
        );
    }
    // Columns count characters, not bytes.
    assert_eq!(
        error("version = 1\n[[allow]]\npaths = [\"/é/\"]\naccess = [\"read\"]\n"),
        "t.toml:3:13: bad pattern `/é/`: a pattern must not end with `/`"
    );
}

#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    fs::write(&f, b"version = 1\n# caf\xe9\n").unwrap();
    let e = Policy::from_file(&f).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:2:6: not valid UTF-8", f.display())
    );
}

#[test]
fn unreadable_top_level_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let e = Policy::from_file(&missing).unwrap_err();
    assert!(matches!(e, PolicyError::Read { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "{}: cannot read policy file: No such file or directory (os error 2)",
            missing.display()
        )
    );
    let e = Policy::from_file(dir.path()).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("cannot read policy file: not a regular file"),
        "{e}"
    );
    // A FIFO must not block the loader.
    let fifo = dir.path().join("fifo.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let e = Policy::from_file(&fifo).unwrap_err();
    assert!(e.to_string().ends_with("not a regular file"), "{e}");
}

/// Writes `files` (name, text) into a fresh directory.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn includes_are_relative_to_the_including_file() {
    let dir = tree(&[
        (
            "main.toml",
            "version = 1\ninclude = [\"sub/a.toml\"]\n[[allow]]\npaths = [\"/m\"]\naccess = [\"read\"]\n",
        ),
        (
            "sub/a.toml",
            "version = 1\ninclude = [\"b.toml\"]\n[[allow]]\npaths = [\"/a\"]\naccess = [\"read\"]\n",
        ),
        (
            "sub/b.toml",
            "version = 1\nnetwork = true\n[[deny]]\npaths = [\"/a\"]\naccess = [\"write\"]\n",
        ),
    ]);
    let main = dir.path().join("main.toml");
    let p = Policy::from_file(&main).unwrap();
    let sub = dir.path().join("sub");
    assert_eq!(
        p.files(),
        [main.clone(), sub.join("a.toml"), sub.join("b.toml")]
    );
    // Own rules first, then includes depth first.
    let origins: Vec<String> = p.rules().map(|r| r.origin().to_string()).collect();
    assert_eq!(
        origins,
        [
            format!("{}:3", main.display()),
            format!("{}:3", sub.join("a.toml").display()),
            format!("{}:3", sub.join("b.toml").display()),
        ]
    );
    assert!(p.decide(Path::new("/a"), Access::READ).allowed);
    assert_eq!(
        p.decide(Path::new("/a"), Access::WRITE).reason(),
        format!("denied by {}:3", sub.join("b.toml").display())
    );
    // network = true anywhere enables it; where is recorded.
    assert!(p.network());
    assert_eq!(
        p.network_sources()[0].to_string(),
        format!("{}:2:11", sub.join("b.toml").display())
    );
}

#[test]
fn diamond_includes_load_once() {
    let dir = tree(&[
        (
            "main.toml",
            "version = 1\ninclude = [\"a.toml\", \"b.toml\"]\n",
        ),
        ("a.toml", "version = 1\ninclude = [\"c.toml\"]\n"),
        ("b.toml", "version = 1\ninclude = [\"./c.toml\"]\n"),
        (
            "c.toml",
            "version = 1\n[[allow]]\npaths = [\"/c\"]\naccess = [\"read\"]\n",
        ),
    ]);
    let p = Policy::from_file(&dir.path().join("main.toml")).unwrap();
    assert_eq!(p.files().len(), 4);
    assert_eq!(p.rules().len(), 1);
}

#[test]
fn include_cycles_name_the_chain() {
    let dir = tree(&[
        ("a.toml", "version = 1\ninclude = [\"b.toml\"]\n"),
        (
            "b.toml",
            "version = 1\n\ninclude = [\"c.toml\",\n  \"a.toml\"]\n",
        ),
        ("c.toml", "version = 1\n"),
        ("self.toml", "version = 1\ninclude = [\"self.toml\"]\n"),
    ]);
    let d = dir.path().display();
    let e = Policy::from_file(&dir.path().join("a.toml")).unwrap_err();
    assert!(matches!(e, PolicyError::IncludeCycle { .. }));
    assert_eq!(
        e.to_string(),
        format!("{d}/b.toml:4:3: include cycle: {d}/a.toml -> {d}/b.toml -> {d}/a.toml")
    );
    let e = Policy::from_file(&dir.path().join("self.toml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{d}/self.toml:2:12: include cycle: {d}/self.toml -> {d}/self.toml")
    );
}

#[test]
fn missing_includes_point_at_the_entry() {
    let dir = tree(&[
        (
            "main.toml",
            "version = 1\ninclude = [\n  \"gone.toml\",\n]\n",
        ),
        ("dir.toml", "version = 1\ninclude = [\"sub\"]\n"),
        ("sub/x", ""),
        ("bad.toml", "version = 1\ninclude = [\"inner.toml\"]\n"),
        (
            "inner.toml",
            "version = 1\n[[allow]]\npaths = [\"/x/\"]\naccess = [\"read\"]\n",
        ),
    ]);
    let d = dir.path().display();
    let e = Policy::from_file(&dir.path().join("main.toml")).unwrap_err();
    assert!(matches!(e, PolicyError::Include { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "{d}/main.toml:3:3: cannot read include `{d}/gone.toml`: No such file or directory (os error 2)"
        )
    );
    let e = Policy::from_file(&dir.path().join("dir.toml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{d}/dir.toml:2:12: cannot read include `{d}/sub`: not a regular file")
    );
    // An error inside an include is located in the include.
    let e = Policy::from_file(&dir.path().join("bad.toml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{d}/inner.toml:3:13: bad pattern `/x/`: a pattern must not end with `/`")
    );
}

#[test]
fn profiles() {
    assert_eq!(
        error("version = 1\nprofiles = [\"runtime\", \"runtim\"]\n"),
        "t.toml:2:24: unknown profile `runtim`; built-in profiles: runtime"
    );
    let p = Policy::parse(
        "version = 1\nprofiles = [\"runtime\", \"runtime\"]\n[[allow]]\npaths = [\"/usr/lib/**\"]\naccess = [\"read\"]\n",
        Path::new("t.toml"),
    )
    .unwrap();
    assert_eq!(p.profiles(), ["runtime"]);
    // The file's own rules come first: its rule decides.
    assert_eq!(
        p.decide(Path::new("/usr/lib/libz.so"), Access::READ)
            .reason(),
        "allowed by t.toml:3"
    );
    // Rules from a profile name it; the line is the rule's header in the profile.
    let rule = p
        .decide(Path::new("/dev/null"), Access::WRITE)
        .rule
        .unwrap();
    assert_eq!(rule.file.as_ref(), Path::new("<profile:runtime>"));
    let (_, text) = fdbroker::policy::builtin_profiles().next().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = rule.line as usize - 1;
    assert_eq!(lines[at], "[[allow]]");
    assert!(lines[at + 1].contains("\"/dev/null\""), "{}", lines[at + 1]);
}

#[test]
fn the_runtime_profile_file_is_the_builtin_one() {
    let shipped = fs::read_to_string(repo().join("policies/profiles/runtime.toml")).unwrap();
    let (_, builtin) = fdbroker::policy::builtin_profiles()
        .find(|(n, _)| *n == "runtime")
        .unwrap();
    assert_eq!(shipped, builtin);
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_policies_are_valid_and_mean_what_they_say() {
    let load = |name: &str| Policy::from_file(&repo().join("policies").join(name)).unwrap();
    let allowed = |p: &Policy, path: &str, a: Access| p.decide(Path::new(path), a).allowed;

    let parser = load("untrusted-parser.toml");
    assert!(allowed(&parser, "/srv/fdbroker/in/doc.pdf", Access::READ));
    assert!(allowed(&parser, "/srv/fdbroker/in", Access::READ));
    assert!(!allowed(&parser, "/srv/fdbroker/in/doc.pdf", Access::WRITE));
    assert!(!allowed(
        &parser,
        "/srv/fdbroker/in/private/key",
        Access::STAT
    ));
    assert!(!allowed(&parser, "/etc/shadow", Access::READ));
    assert!(allowed(
        &parser,
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        Access::READ
    ));
    assert!(!parser.network());

    let out = load("output-dir.toml");
    let rwc = Access::READ | Access::WRITE | Access::CREATE;
    assert!(allowed(&out, "/srv/fdbroker/out/result.json", rwc));
    assert!(allowed(&out, "/srv/fdbroker/out/sub/dir", Access::CREATE));
    assert!(!allowed(&out, "/srv/fdbroker/out/run.sh", Access::CREATE));
    assert!(!allowed(&out, "/srv/fdbroker/in/x", Access::WRITE));
    assert!(!allowed(&out, "/srv/fdbroker/outside", Access::CREATE));
    assert!(!allowed(&out, "/tmp/x", Access::CREATE));

    let fetcher = load("include/fetcher.toml");
    assert!(fetcher.network());
    assert_eq!(fetcher.files().len(), 2);
    assert!(allowed(
        &fetcher,
        "/etc/ssl/certs/ca-certificates.crt",
        Access::READ
    ));
    assert!(allowed(
        &fetcher,
        "/var/cache/fdbroker-fetcher/a",
        Access::CREATE
    ));
    assert!(!load("include/common.toml").network());
}

#[test]
fn env_tables_merge_across_includes() {
    let dir = tree(&[
        (
            "main.toml",
            "version = 1\ninclude = [\"a.toml\"]\n[env]\nkeep = [\"PYTHON*\"]\nset = { TMPDIR = \"/srv/tmp\" }\n",
        ),
        (
            "a.toml",
            "version = 1\n\n[env]\nkeep = [\"LC_ALL\"]\nset.TMPDIR = \"/ignored\"\nset.MPLBACKEND = \"Agg\"\n",
        ),
    ]);
    let main = dir.path().join("main.toml");
    let p = Policy::from_file(&main).unwrap();
    let env = p.env();
    let keep: Vec<(&str, String)> = env
        .keep()
        .map(|(k, at)| (k.as_str(), at.to_string()))
        .collect();
    let a = dir.path().join("a.toml");
    assert_eq!(
        keep,
        [
            ("PYTHON*", format!("{}:4:9", main.display())),
            ("LC_ALL", format!("{}:4:9", a.display())),
        ]
    );
    // The first file in load order wins: the including file's own table.
    let set: Vec<(&str, &str, String)> =
        env.set().map(|(k, v, at)| (k, v, at.to_string())).collect();
    assert_eq!(
        set,
        [
            ("MPLBACKEND", "Agg", format!("{}:6:5", a.display())),
            ("TMPDIR", "/srv/tmp", format!("{}:5:9", main.display())),
        ]
    );
    assert!(
        Policy::parse("version = 1\n", Path::new("t.toml"))
            .unwrap()
            .env()
            .is_empty()
    );
}

#[test]
fn env_errors_are_located() {
    assert_eq!(
        error("version = 1\n[env]\nkeep = [\"PATH\", \"A-B\"]\n"),
        "t.toml:3:17: `A-B`: not a variable name (character 2): use ASCII letters, digits \
         and `_`, not starting with a digit, and the wildcards `*` and `?`"
    );
    assert_eq!(
        error("version = 1\n[env]\nkeep = [\"\"]\n"),
        "t.toml:3:9: an empty variable name"
    );
    assert_eq!(
        error("version = 1\n[env]\nset = { \"1X\" = \"y\" }\n"),
        "t.toml:3:9: `1X`: not a variable name (character 1): use ASCII letters, digits \
         and `_`, not starting with a digit"
    );
    assert_eq!(
        error("version = 1\n[env]\nset = { FDBROKER_FD = \"7\" }\n"),
        "t.toml:3:9: `FDBROKER_FD` is set by fdbroker itself (the broker's socket)"
    );
    assert_eq!(
        error("version = 1\n[env]\nset = { X = \"a\\u0000b\" }\n"),
        "t.toml:3:13: the value of `X` contains a NUL byte"
    );
    assert_eq!(
        error("version = 1\n[env]\nset = { X = 1 }\n"),
        "t.toml:3:13: invalid type: integer `1`, expected a string"
    );
    assert_eq!(
        error("version = 1\n[env]\nkepe = [\"A\"]\n"),
        "t.toml:3:1: unknown field `kepe`, expected `keep` or `set`"
    );
    assert_eq!(
        error("version = 1\n[env]\nkeep = \"A\"\n"),
        "t.toml:3:8: invalid type: string \"A\", expected a sequence"
    );
}
