//! `fdbroker run` with programs that make and manage directories and files:
//! `unzip -d` and `tar -x` of archives with subdirectories, modes, times
//! and symlinks produce the same tree as natively, owned by the program's
//! user; `mkdir`, `rename`, `unlink`, `rmdir`, `link`, `symlink`, `chmod`
//! and `utimensat` work where the policy allows them and answer the right
//! errno where it does not. Runs the built binary, as a user would; as root
//! the program runs as `nobody`, as an ordinary user as that user (the CI
//! runs this executable both ways).
//!
//! `harness = false`: main() runs every case in turn (see
//! `common::run_cases`).

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Case, Out, output};

const FDBROKER: &str = env!("CARGO_BIN_EXE_fdbroker");
const PYTHON: &str = "/usr/bin/python3";
const UNZIP: &str = "/usr/bin/unzip";
const TAR: &str = "/usr/bin/tar";
const MV: &str = "/usr/bin/mv";

type R = Result<(), String>;

/// A scratch tree: `in/` (readable: the archives), `out/` (read, write,
/// create, remove), `keep/` (read, write, create: no remove), `native/`
/// (where the archives are unpacked without fdbroker).
struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
    policy: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let (dir, root) = common::scratch_dir();
        for d in ["in", "out", "keep", "native"] {
            fs::create_dir(root.join(d)).expect("mkdir");
        }
        // Writable for the program's user, whoever it is.
        for d in ["out", "keep"] {
            fs::set_permissions(root.join(d), fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        let mut ancestors: Vec<String> = root
            .ancestors()
            .map(|a| format!("\"{}\"", a.display()))
            .collect();
        ancestors.retain(|a| a != "\"/\"");
        let text = format!(
            r#"version = 1
profiles = ["runtime"]
include = ["{inc}"]

[[allow]]
paths  = ["{UNZIP}", "{TAR}", "{MV}"]
access = ["read", "exec"]

[[allow]]
paths  = ["{r}/in", "{r}/in/**"]
access = ["read"]

[[allow]]
paths  = ["{r}/out", "{r}/out/**"]
access = ["read", "write", "create", "remove"]

[[allow]]
paths  = ["{r}/keep", "{r}/keep/**"]
access = ["read", "write", "create"]

[[allow]]
paths  = [{anc}]
access = ["stat"]
"#,
            inc = format_args!(
                "{}/policies/examples/include/python3.toml",
                env!("CARGO_MANIFEST_DIR")
            ),
            r = root.display(),
            anc = ancestors.join(", "),
        );
        let policy = root.join("policy.toml");
        fs::write(&policy, text).expect("policy");
        Tree {
            _dir: dir,
            root,
            policy,
        }
    }

    fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    fn run(&self, argv: &[&str]) -> Out {
        let mut cmd = Command::new(FDBROKER);
        cmd.args(["run", "--policy"])
            .arg(&self.policy)
            .arg("--")
            .args(argv)
            .current_dir("/");
        output(&mut cmd)
    }

    /// Runs a Python script confined; its output is its answer.
    fn python(&self, script: &str) -> Out {
        self.run(&[PYTHON, "-c", script])
    }
}

/// Builds the archives with Python's zipfile and tarfile (natively): a few
/// levels of directories, odd modes, old times, a symlink in the tar.
fn make_archives(t: &Tree) -> R {
    let script = format!(
        r##"
import tarfile, zipfile, io, time
files = [
    ("top.txt", 0o644, b"top\n", (2001, 2, 3, 4, 5, 6)),
    ("a/run.sh", 0o755, b"#!/bin/sh\necho hi\n", (2002, 3, 4, 5, 6, 8)),
    ("a/b/private.txt", 0o600, b"only mine\n", (2003, 4, 5, 6, 7, 10)),
    ("a/b/c/deep.txt", 0o640, b"deep\n", (2004, 5, 6, 7, 8, 12)),
    ("a/b/c/readonly.txt", 0o444, b"read only\n", (2005, 6, 7, 8, 9, 14)),
]
dirs = [
    ("a/", 0o755, (2010, 1, 1, 0, 0, 0)),
    ("a/b/", 0o750, (2011, 1, 1, 0, 0, 0)),
    ("a/b/c/", 0o700, (2012, 1, 1, 0, 0, 0)),
]
with zipfile.ZipFile("{zip}", "w") as z:
    for name, mode, when in dirs:
        i = zipfile.ZipInfo(name, when)
        i.create_system = 3
        i.external_attr = ((0o040000 | mode) << 16) | 0x10
        z.writestr(i, b"")
    for name, mode, data, when in files:
        i = zipfile.ZipInfo(name, when)
        i.create_system = 3
        i.external_attr = (0o100000 | mode) << 16
        z.writestr(i, data)
with tarfile.open("{tar}", "w", format=tarfile.GNU_FORMAT) as tf:
    for name, mode, when in dirs:
        i = tarfile.TarInfo(name.rstrip("/"))
        i.type, i.mode, i.mtime = tarfile.DIRTYPE, mode, time.mktime(when + (0, 0, -1))
        tf.addfile(i)
    for name, mode, data, when in files:
        i = tarfile.TarInfo(name)
        i.mode, i.size, i.mtime = mode, len(data), time.mktime(when + (0, 0, -1))
        tf.addfile(i, io.BytesIO(data))
    i = tarfile.TarInfo("a/b/link")
    i.type, i.linkname, i.mtime = tarfile.SYMTYPE, "c/deep.txt", 1234567890
    tf.addfile(i)
    i = tarfile.TarInfo("a/hard")
    i.type, i.linkname = tarfile.LNKTYPE, "top.txt"
    tf.addfile(i)
"##,
        zip = t.p("in/tree.zip"),
        tar = t.p("in/tree.tar"),
    );
    let o = output(Command::new(PYTHON).args(["-c", &script]));
    ensure!(o.code == Some(0), "making the archives: {o:?}");
    for f in ["in/tree.zip", "in/tree.tar"] {
        fs::set_permissions(t.p(f), fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What is compared of each object of a tree: type, permission bits,
/// modification time (not for directories written into after their time
/// was set), contents or link target, and the link count.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    mtime: Option<i64>,
    data: Vec<u8>,
    nlink: u64,
}

/// Every object under `root` by relative path, and whether all belong to
/// `owner` (uid, gid).
fn walk(root: &Path, owner: (u32, u32)) -> Result<BTreeMap<String, Entry>, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let e = e.map_err(|e| e.to_string())?;
            let path = e.path();
            let m = path.symlink_metadata().map_err(|e| e.to_string())?;
            let rel = path
                .strip_prefix(root)
                .map_err(|e| e.to_string())?
                .display()
                .to_string();
            ensure!(
                (m.uid(), m.gid()) == owner,
                "{rel} belongs to {}:{}, not {}:{}",
                m.uid(),
                m.gid(),
                owner.0,
                owner.1
            );
            let ft = m.file_type();
            let (kind, data) = if ft.is_dir() {
                todo.push(path.clone());
                ("dir", Vec::new())
            } else if ft.is_symlink() {
                let target = fs::read_link(&path).map_err(|e| e.to_string())?;
                ("symlink", target.into_os_string().into_encoded_bytes())
            } else if ft.is_file() {
                ("file", fs::read(&path).map_err(|e| e.to_string())?)
            } else {
                ("other", Vec::new())
            };
            out.insert(
                rel,
                Entry {
                    kind,
                    mode: if ft.is_symlink() {
                        0
                    } else {
                        m.mode() & 0o7777
                    },
                    mtime: Some(m.mtime()),
                    data,
                    nlink: if ft.is_dir() { 0 } else { m.nlink() },
                },
            );
        }
    }
    Ok(out)
}

/// The program's user and group: `nobody` as root, ourselves otherwise.
fn program_owner() -> (u32, u32) {
    if nix::unistd::geteuid().is_root() {
        (65534, 65534)
    } else {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    }
}

fn me() -> (u32, u32) {
    (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    )
}

/// Unpacks with `argv` natively into `native/NAME` and confined into
/// `out/NAME`, and compares the two trees.
fn same_tree(t: &Tree, name: &str, argv: impl Fn(&str) -> Vec<String>) -> R {
    let native = t.p(&format!("native/{name}"));
    let confined = t.p(&format!("out/{name}"));
    if !Path::new(&native).exists() {
        fs::create_dir(&native).map_err(|e| e.to_string())?;
    }
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64
        - 1;
    let args = argv(&native);
    let o = output(Command::new(&args[0]).args(&args[1..]));
    ensure!(o.code == Some(0), "natively: {o:?}");
    let args = argv(&confined);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The confined program makes its own directory, as unzip -d does.
    let o = t.run(&args);
    ensure!(o.code == Some(0), "confined: {o:?}");
    let mut want = walk(Path::new(&native), me())?;
    let mut got = walk(Path::new(&confined), program_owner())?;
    // A time the archive did not set (the time of unpacking, as tar leaves
    // a directory it adds to after restoring its time) differs by a second.
    for (rel, w) in want.iter_mut() {
        if w.mtime.is_some_and(|m| m >= started) {
            w.mtime = None;
            if let Some(g) = got.get_mut(rel) {
                g.mtime = None;
            }
        }
    }
    ensure!(want.len() >= 8, "too little unpacked natively: {want:?}");
    for (rel, w) in &want {
        let g = got
            .get(rel)
            .ok_or_else(|| format!("{rel} missing: {o:?}"))?;
        ensure!(g == w, "{rel}: natively {w:?}, confined {g:?}");
    }
    ensure!(got.len() == want.len(), "extra objects: {got:?}");
    Ok(())
}

fn unzip_d_makes_the_same_tree(t: &Tree) -> R {
    make_archives(t)?;
    let zip = t.p("in/tree.zip");
    same_tree(t, "unzip", |dest| {
        vec![
            UNZIP.into(),
            "-q".into(),
            zip.clone(),
            "-d".into(),
            dest.into(),
        ]
    })
}

fn tar_x_makes_the_same_tree(t: &Tree) -> R {
    make_archives(t)?;
    let tar = t.p("in/tree.tar");
    // tar -C needs its directory: made for the program, by the program.
    let o = t.python(&format!("import os; os.mkdir({:?})", t.p("out/tar")));
    ensure!(o.code == Some(0), "{o:?}");
    same_tree(t, "tar", |dest| {
        vec![
            TAR.into(),
            "--no-same-owner".into(),
            "-xpf".into(),
            tar.clone(),
            "-C".into(),
            dest.into(),
        ]
    })
    .map_err(|e| format!("tar: {e}"))
}

/// Runs `script` confined with `out` and `keep` as Python strings `out`
/// and `keep`, and `err(f, *a)` answering "ok" or the errno.
fn py(t: &Tree, body: &str) -> Out {
    let script = format!(
        "import os, errno\nout = {out:?}\nkeep = {keep:?}\nsrc = {src:?}\n\
         def err(f, *a, **k):\n    try:\n        f(*a, **k); return 'ok'\n    except OSError as e:\n        return errno.errorcode[e.errno]\n{body}",
        out = t.p("out"),
        keep = t.p("keep"),
        src = t.p("in"),
    );
    t.python(&script)
}

fn managing_files_where_remove_is_granted(t: &Tree) -> R {
    let o = py(
        t,
        r#"
os.makedirs(out + "/d/e")
with open(out + "/d/e/f", "w") as f: f.write("data\n")
print("rename", err(os.rename, out + "/d/e/f", out + "/d/g"))
print("replace", err(os.replace, out + "/d/g", out + "/d/e/g"))
print("link", err(os.link, out + "/d/e/g", out + "/d/h"))
print("symlink", err(os.symlink, "e/g", out + "/d/s"))
print("readlink", os.readlink(out + "/d/s"))
print("through", open(out + "/d/s").read().strip())
print("chmod", err(os.chmod, out + "/d/e/g", 0o600), oct(os.stat(out + "/d/e/g").st_mode & 0o7777))
print("utime", err(os.utime, out + "/d/e/g", (1000000000, 1000000000)), os.stat(out + "/d/e/g").st_mtime)
print("lutime", err(os.utime, out + "/d/s", (5, 7), follow_symlinks=False), os.lstat(out + "/d/s").st_mtime)
print("rmdir full", err(os.rmdir, out + "/d/e"))
print("unlink dir", err(os.unlink, out + "/d/e"))
print("rename dir", err(os.rename, out + "/d/e", out + "/d/e2"))
print("noreplace", err(os.link, out + "/d/h", out + "/d/s"))
print("mkdir again", err(os.mkdir, out + "/d"))
for n in ("d/e/g", "d/h", "d/s"): os.unlink(out + "/" + n)
print("rmdir", err(os.rmdir, out + "/d/e"), err(os.rmdir, out + "/d"))
print("gone", os.listdir(out))
"#,
    );
    ensure!(o.code == Some(0), "{o:?}");
    let expect = "rename ok\nreplace ok\nlink ok\nsymlink ok\nreadlink e/g\nthrough data\n\
                  chmod ok 0o600\nutime ok 1000000000.0\nlutime ok 7.0\nrmdir full ENOTEMPTY\n\
                  unlink dir EISDIR\nrename dir EXDEV\nnoreplace EEXIST\nmkdir again EEXIST\n\
                  rmdir ok ok\ngone []\n";
    ensure!(o.stdout == expect, "{o:?}");
    Ok(())
}

fn removing_needs_the_remove_right(t: &Tree) -> R {
    make_archives(t)?;
    fs::write(t.p("keep/k"), "keep\n").map_err(|e| e.to_string())?;
    fs::set_permissions(t.p("keep/k"), fs::Permissions::from_mode(0o666))
        .map_err(|e| e.to_string())?;
    fs::create_dir(t.p("keep/dir")).map_err(|e| e.to_string())?;
    let o = py(
        t,
        r#"
print("mkdir", err(os.mkdir, keep + "/new"))
print("unlink", err(os.unlink, keep + "/k"))
print("rmdir", err(os.rmdir, keep + "/dir"))
print("rename away", err(os.rename, keep + "/k", out + "/k"))
print("rename within", err(os.rename, keep + "/k", keep + "/k2"))
with open(out + "/o", "w") as f: f.write("o\n")
print("replace", err(os.replace, out + "/o", keep + "/k"))
print("into keep", err(os.rename, out + "/o", keep + "/o"))
print("setuid", err(os.chmod, keep + "/k", 0o4755))
print("sticky", err(os.chmod, keep + "/dir", 0o1777))
print("input chmod", err(os.chmod, src + "/tree.zip", 0o666))
print("input utime", err(os.utime, src + "/tree.zip", None))
print("input unlink", err(os.unlink, src + "/tree.zip"))
print("chown", err(os.chown, out + "/o", os.getuid(), os.getgid()))
"#,
    );
    ensure!(o.code == Some(0), "{o:?}");
    // keep/ grants read, write, create (not remove): moving a file from
    // out/ (which also grants remove) into keep/ narrows it, and is fine.
    let expect = "mkdir ok\nunlink EACCES\nrmdir EACCES\nrename away EACCES\n\
                  rename within EACCES\nreplace EACCES\ninto keep ok\nsetuid EPERM\n\
                  sticky EPERM\ninput chmod EACCES\ninput utime EACCES\ninput unlink EACCES\n\
                  chown EPERM\n";
    ensure!(o.stdout == expect, "{o:?}");
    ensure!(
        fs::read_to_string(t.p("keep/k")).is_ok_and(|s| s == "keep\n"),
        "keep/k changed"
    );
    Ok(())
}

fn created_objects_belong_to_the_program(t: &Tree) -> R {
    let o = py(
        t,
        r#"
os.mkdir(out + "/d")
open(out + "/d/f", "w").close()
os.symlink("f", out + "/d/s")
print("ok")
"#,
    );
    ensure!(o.code == Some(0) && o.stdout == "ok\n", "{o:?}");
    let owner = program_owner();
    for rel in ["out/d", "out/d/f", "out/d/s"] {
        let m = fs::symlink_metadata(t.p(rel)).map_err(|e| e.to_string())?;
        ensure!(
            (m.uid(), m.gid()) == owner,
            "{rel} belongs to {}:{}",
            m.uid(),
            m.gid()
        );
    }
    Ok(())
}

/// A directory is never renamed (`EXDEV`): mv(1) then copies it, file by
/// file through the broker, keeping modes and times, and removes the
/// original.
fn mv_of_a_directory_copies_it(t: &Tree) -> R {
    make_archives(t)?;
    let o = t.run(&[UNZIP, "-q", &t.p("in/tree.zip"), "-d", &t.p("out/a1")]);
    ensure!(o.code == Some(0), "{o:?}");
    let before = walk(Path::new(&t.p("out/a1")), program_owner())?;
    let o = t.run(&[MV, &t.p("out/a1"), &t.p("out/a2")]);
    // Silent: nothing it copies fails (not even the permissions it
    // preserves as ACLs, "not supported here").
    ensure!(o.code == Some(0) && !o.stderr.contains("mv:"), "{o:?}");
    ensure!(!Path::new(&t.p("out/a1")).exists(), "the original is left");
    let after = walk(Path::new(&t.p("out/a2")), program_owner())?;
    ensure!(before == after, "before {before:?}\nafter {after:?}");
    Ok(())
}

fn kernel_ready(t: &Tree) -> Result<(), String> {
    let o = t.run(&[PYTHON, "-c", "pass"]);
    if o.code == Some(125) && o.stderr.contains("refusing to run unconfined") {
        return Err(o.stderr.trim().to_string());
    }
    Ok(())
}

fn main() {
    let cases: &[Case<Tree>] = &[
        (
            "unzip_d_makes_the_same_tree",
            unzip_d_makes_the_same_tree,
            true,
        ),
        ("tar_x_makes_the_same_tree", tar_x_makes_the_same_tree, true),
        (
            "managing_files_where_remove_is_granted",
            managing_files_where_remove_is_granted,
            true,
        ),
        (
            "removing_needs_the_remove_right",
            removing_needs_the_remove_right,
            true,
        ),
        (
            "created_objects_belong_to_the_program",
            created_objects_belong_to_the_program,
            true,
        ),
        (
            "mv_of_a_directory_copies_it",
            mv_of_a_directory_copies_it,
            true,
        ),
    ];
    common::run_cases(cases, kernel_ready(&Tree::new()), Tree::new);
}
