//! The policy writer of learn mode: from what a program was seen using to a
//! small, commented policy that allows exactly that, written so that it
//! also fits the program's next run on other input.
//!
//! Pure: it sees only what it is given (the usage per canonical path, the
//! learning run's `${HOME}`, `${TMPDIR}` and `${CWD}`, and a function
//! telling what the base policy already allows), never the file system, so
//! the same input always gives the same policy.
//!
//! What it does, in order:
//!
//! 1. drops every path whose rights the base (the `runtime` profile, the
//!    `--policy` given to `run --learn`, the run's grants and profiles)
//!    already grants;
//! 2. **recursive walks**: a directory the program listed (`read` on a path
//!    that has used paths beneath it), with at least [`GLOB_THRESHOLD`]
//!    read-only paths in its subtree, at least one of them a listed
//!    subdirectory, becomes `DIR/**` with `read` (the topmost such directory);
//! 3. **package directories**: a directory of a system tree (`/usr`, `/etc`,
//!    `/opt`, `/var/lib`, below the level where packages have their own
//!    directories: `/usr/share/perl5`, `/etc/fonts`) in which at least
//!    [`PACKAGE_THRESHOLD`] paths were read (or only stat'ed) becomes
//!    `DIR/*`; when the package's read-only paths are spread over several
//!    directories (not under `/etc`), their common directory becomes
//!    `DIR/**` — a second input loads other modules of the same package;
//! 4. **many siblings**: at least [`GLOB_THRESHOLD`] paths directly in one
//!    directory with the same rights become `DIR/*` with those rights
//!    (never `exec`);
//! 5. everything else is one rule per path, with the rights it needed and
//!    nothing more; in the names of files and directories the program
//!    created (and of paths beneath such directories) random parts are
//!    written `*` ([`super::generalise_name`]: `magick-7CjO9H2J` is
//!    `magick-*`), and paths that then read the same are one rule.
//!
//! Every pattern is written below `${HOME}`, `${TMPDIR}` or `${CWD}` when
//! the path is under that directory of the learning run (the longest one;
//! not for `/` or system directories). Globs of steps 2 to 4 are never
//! made for a directory less than two levels deep (`/etc`, `/tmp`, `/root`)
//! nor for a home directory (`/home/NAME`). Each rule is preceded by a
//! comment saying what asked for it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::naming::Namer;
use crate::policy::{Access, PolicyVars, literal_pattern};

/// How many paths it takes before the writer uses a glob instead of
/// listing them: that many used paths with the same rights directly in one
/// directory give `DIR/*`; that many read-only paths in a recursively listed
/// tree give `DIR/**`.
pub const GLOB_THRESHOLD: usize = 8;

/// How many read-only paths directly in one directory of a system package
/// it takes to write `DIR/*` (step 3 of the [module documentation](self)).
pub const PACKAGE_THRESHOLD: usize = 3;

/// The system trees of package files, and how many components a package's
/// own directory there has (`/usr/share/perl5`, `/etc/fonts`, `/opt/tool`,
/// `/var/lib/tool`).
const PACKAGE_TREES: &[(&str, usize)] = &[
    ("/usr/local", 4),
    ("/usr", 3),
    ("/etc", 2),
    ("/opt", 2),
    ("/var/lib", 3),
];

/// Who first asked for a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// The requesting process's program (`/proc/PID/exe`), when known.
    pub program: Option<PathBuf>,
    /// The requesting thread's id.
    pub pid: u32,
}

/// What a program was seen doing with one canonical path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// The rights it needed (the union over every request).
    pub access: Access,
    /// How many requests of each operation (`open`, `stat`, `access`,
    /// `readlink`, `exec`).
    pub ops: BTreeMap<String, u64>,
    /// Errors the program got and was allowed to see (`ENOENT`, ...), counted.
    pub errors: BTreeMap<String, u64>,
    /// The first requester.
    pub first: Option<Requester>,
    /// Sequence number of the first request (smaller is earlier).
    pub order: u64,
}

impl Usage {
    /// Adds one request: `access` needed by `op`, which failed with `error`
    /// (a name such as `ENOENT`) or succeeded.
    pub fn add(&mut self, access: Access, op: &str, error: Option<&str>) {
        self.access |= access;
        *self.ops.entry(op.to_string()).or_default() += 1;
        if let Some(e) = error {
            *self.errors.entry(e.to_string()).or_default() += 1;
        }
    }
}

/// One rule of a learned policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnedRule {
    /// The path pattern, in policy syntax (wildcards in names escaped).
    pub pattern: String,
    /// The rights granted (`stat` only when nothing else was needed).
    pub access: Access,
    /// What asked for it, one line.
    pub comment: String,
    /// How many used paths it covers.
    pub covers: usize,
}

/// The rules learned from one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Learned {
    /// Rules, in the order they are written: executables first, then by path.
    pub rules: Vec<LearnedRule>,
    /// Paths that cannot be written in a policy (not UTF-8), shown lossily.
    pub skipped: Vec<String>,
    /// How many used paths the base policy already allowed.
    pub covered: usize,
}

/// Writes learned policies: see `docs/learn.md` ("The policy written").
///
/// ```
/// use std::collections::BTreeMap;
/// use std::path::{Path, PathBuf};
/// use fdbroker::learn::{PolicyWriter, Usage};
/// use fdbroker::policy::{Access, Policy};
///
/// let mut usage = BTreeMap::new();
/// let mut u = Usage::default();
/// u.add(Access::READ, "open", None);
/// usage.insert(PathBuf::from("/srv/in/report.txt"), u);
/// let mut u = Usage::default();
/// u.add(Access::READ, "open", None);
/// usage.insert(PathBuf::from("/etc/ld.so.cache"), u);
///
/// // What the runtime profile allows is left to it.
/// let runtime = Policy::parse("version = 1\nprofiles = [\"runtime\"]\n", Path::new("base"))?;
/// let text = PolicyWriter::new().write(&usage, &|p, a| runtime.decide(p, a).allowed);
/// assert!(text.contains("profiles = [\"runtime\"]"));
/// assert!(text.contains("paths  = [\"/srv/in/report.txt\"]"));
/// assert!(!text.contains("ld.so.cache"));
/// Policy::parse(&text, Path::new("learned.toml"))?;
/// # Ok::<(), fdbroker::policy::PolicyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PolicyWriter {
    threshold: usize,
    include: Vec<String>,
    profiles: Vec<String>,
    header: Vec<String>,
    namer: Namer,
}

impl Default for PolicyWriter {
    fn default() -> Self {
        PolicyWriter::new()
    }
}

impl PolicyWriter {
    /// A writer with the default [`GLOB_THRESHOLD`], the `runtime` profile,
    /// no include, no header.
    pub fn new() -> PolicyWriter {
        PolicyWriter {
            threshold: GLOB_THRESHOLD,
            include: Vec::new(),
            profiles: vec!["runtime".to_string()],
            header: Vec::new(),
            namer: Namer::default(),
        }
    }

    /// Write paths under the learning run's `HOME`, `TMPDIR` and working
    /// directory (`vars`) as `${HOME}/...`, `${TMPDIR}/...`, `${CWD}/...`.
    pub fn vars(mut self, vars: &PolicyVars) -> PolicyWriter {
        self.namer = Namer::new(vars);
        self
    }

    /// Use globs from `n` paths on (at least 2).
    pub fn glob_threshold(mut self, n: usize) -> PolicyWriter {
        self.threshold = n.max(2);
        self
    }

    /// Write `entry` in `include = [...]` (a base policy, as it should be
    /// named from the learned file). Repeat for several.
    pub fn include(mut self, entry: impl Into<String>) -> PolicyWriter {
        self.include.push(entry.into());
        self
    }

    /// Write the built-in profile `name` in `profiles = [...]`, after
    /// `runtime` (each once).
    pub fn profile(mut self, name: impl Into<String>) -> PolicyWriter {
        let name = name.into();
        if !self.profiles.contains(&name) {
            self.profiles.push(name);
        }
        self
    }

    /// Add a comment line at the top of the file.
    pub fn header(mut self, line: impl Into<String>) -> PolicyWriter {
        self.header.push(line.into());
        self
    }

    /// The rules for `usage`, leaving out what `covered(path, rights)` says
    /// the base policy already allows.
    pub fn rules(
        &self,
        usage: &BTreeMap<PathBuf, Usage>,
        covered: &dyn Fn(&Path, Access) -> bool,
    ) -> Learned {
        let mut out = Learned::default();
        let mut todo: BTreeMap<&Path, &Usage> = BTreeMap::new();
        for (path, u) in usage {
            if u.access.is_empty() {
                continue;
            }
            if covered(path, u.access) {
                out.covered += 1;
                continue;
            }
            if literal_pattern(path).is_some() {
                todo.insert(path.as_path(), u);
            } else {
                out.skipped.push(clean(&path.to_string_lossy()));
            }
        }

        let mut globs: Vec<LearnedRule> = Vec::new();
        for dir in self.recursive_trees(&todo) {
            let members: Vec<&Path> = todo
                .iter()
                .filter(|(p, u)| p.starts_with(dir) && Access::READ.granted().contains(u.access))
                .map(|(p, _)| *p)
                .collect();
            globs.push(rule_for(
                format!("{}/**", self.namer.literal(dir)),
                Access::READ,
                &members,
                &todo,
                "in a tree it listed recursively",
            ));
            for p in members {
                todo.remove(p);
            }
        }
        globs.extend(self.package_globs(&mut todo));
        globs.extend(self.sibling_globs(&mut todo));

        let mut literals = self.literals(&todo);
        literals.extend(globs);
        for r in &mut literals {
            r.access = narrow(r.access);
        }
        // Executables first, then by path (a glob after the paths it is in).
        literals.sort_by(|a, b| {
            let ea = a.access.contains(Access::EXEC);
            let eb = b.access.contains(Access::EXEC);
            eb.cmp(&ea).then_with(|| a.pattern.cmp(&b.pattern))
        });
        out.rules = literals;
        out
    }

    /// One rule per path left, random parts of the names the program made
    /// written `*`; paths that then read the same share one rule.
    fn literals(&self, todo: &BTreeMap<&Path, &Usage>) -> Vec<LearnedRule> {
        let created = |p: &Path| {
            todo.get(p)
                .is_some_and(|u| u.access.contains(Access::CREATE))
        };
        let mut by_pattern: BTreeMap<String, Vec<&Path>> = BTreeMap::new();
        for (p, u) in todo {
            let pattern = self
                .namer
                .temporary(p, u.access, &created)
                .unwrap_or_else(|| self.namer.literal(p));
            by_pattern.entry(pattern).or_default().push(p);
        }
        by_pattern
            .into_iter()
            .map(|(pattern, paths)| {
                let access = paths
                    .iter()
                    .fold(Access::empty(), |a, p| a | todo[p].access);
                if let [one] = paths[..] {
                    LearnedRule {
                        pattern,
                        access,
                        comment: describe(&[todo[one]]),
                        covers: 1,
                    }
                } else {
                    rule_for(pattern, access, &paths, todo, "with random names")
                }
            })
            .collect()
    }

    /// `DIR/*` (or, for several directories of one package, `ROOT/**`)
    /// rules for system package directories in which enough paths were
    /// read or stat'ed; removes the paths they cover from `todo`.
    fn package_globs(&self, todo: &mut BTreeMap<&Path, &Usage>) -> Vec<LearnedRule> {
        let readonly = |u: &Usage| Access::READ.granted().contains(u.access);
        let mut by_dir: BTreeMap<&Path, Vec<&Path>> = BTreeMap::new();
        for (p, u) in todo.iter() {
            if let Some(dir) = p.parent()
                && readonly(u)
                && globbable_dir(dir)
                && package_root(dir).is_some()
            {
                by_dir.entry(dir).or_default().push(p);
            }
        }
        // The directories of each package, and the access `DIR/*` would
        // grant in those with enough paths of one kind.
        let mut packages: BTreeMap<PathBuf, Vec<&Path>> = BTreeMap::new();
        for dir in by_dir.keys() {
            if let Some(root) = package_root(dir) {
                packages.entry(root).or_default().push(dir);
            }
        }
        let enough: HashMap<&Path, Access> = by_dir
            .iter()
            .filter_map(|(dir, children)| {
                let reads = children
                    .iter()
                    .filter(|c| narrow(todo[*c].access) == Access::READ)
                    .count();
                if reads >= PACKAGE_THRESHOLD {
                    Some((*dir, Access::READ))
                } else if children.len() - reads >= PACKAGE_THRESHOLD {
                    Some((*dir, Access::STAT))
                } else {
                    None
                }
            })
            .collect();
        let mut rules = Vec::new();
        for (root, dirs) in packages {
            let globs: Vec<(&Path, Access)> = dirs
                .iter()
                .filter_map(|d| enough.get(d).map(|a| (*d, *a)))
                .collect();
            if globs.is_empty() {
                continue;
            }
            if dirs.len() >= 2 && !root.starts_with("/etc") {
                // Spread over the package's directories: their common one.
                let top = dirs.iter().fold(dirs[0], |top, d| {
                    top.ancestors().find(|a| d.starts_with(a)).unwrap_or(top)
                });
                let members: Vec<&Path> = todo
                    .iter()
                    .filter(|(p, u)| p.starts_with(top) && readonly(u))
                    .map(|(p, _)| *p)
                    .collect();
                let access = members
                    .iter()
                    .fold(Access::empty(), |a, m| a | narrow(todo[m].access));
                rules.push(rule_for(
                    format!("{}/**", self.namer.literal(top)),
                    access,
                    &members,
                    todo,
                    "in one package's directories",
                ));
                for m in members {
                    todo.remove(m);
                }
                continue;
            }
            for (dir, access) in globs {
                let members: Vec<&Path> = by_dir[dir]
                    .iter()
                    .filter(|c| access.granted().contains(todo[*c].access))
                    .copied()
                    .collect();
                rules.push(rule_for(
                    format!("{}/*", self.namer.literal(dir)),
                    access,
                    &members,
                    todo,
                    "in one package directory",
                ));
                for m in members {
                    todo.remove(m);
                }
            }
        }
        rules
    }

    /// Directories to grant `DIR/**`: listed, deep enough, with enough
    /// read-only paths beneath and a listed subdirectory; the topmost only.
    fn recursive_trees<'a>(&self, todo: &BTreeMap<&'a Path, &Usage>) -> Vec<&'a Path> {
        let parents: HashSet<&Path> = todo.keys().filter_map(|p| p.parent()).collect();
        let listed = |p: &Path, u: &Usage| u.access.contains(Access::READ) && parents.contains(p);
        let mut readonly_below: HashMap<&Path, usize> = HashMap::new();
        let mut listed_below: HashMap<&Path, usize> = HashMap::new();
        for (p, u) in todo {
            let readonly = Access::READ.granted().contains(u.access);
            let is_listed = listed(p, u);
            for anc in p.ancestors().skip(1) {
                if readonly {
                    *readonly_below.entry(anc).or_default() += 1;
                }
                if is_listed {
                    *listed_below.entry(anc).or_default() += 1;
                }
            }
        }
        let mut trees: Vec<&Path> = Vec::new();
        for (p, u) in todo {
            if !listed(p, u) || !globbable_dir(p) {
                continue;
            }
            // Paths sort component-wise, so a tree's members follow it.
            if trees.last().is_some_and(|t| p.starts_with(t)) {
                continue;
            }
            let below = readonly_below.get(p).copied().unwrap_or(0);
            if below + 1 >= self.threshold && listed_below.get(p).copied().unwrap_or(0) >= 1 {
                trees.push(p);
            }
        }
        trees
    }

    /// `DIR/*` rules for many siblings with the same rights; removes the
    /// paths they cover from `todo`.
    fn sibling_globs(&self, todo: &mut BTreeMap<&Path, &Usage>) -> Vec<LearnedRule> {
        let mut by_dir: BTreeMap<&Path, Vec<&Path>> = BTreeMap::new();
        for p in todo.keys() {
            if let Some(dir) = p.parent().filter(|d| globbable_dir(d)) {
                by_dir.entry(dir).or_default().push(p);
            }
        }
        let mut rules = Vec::new();
        for (dir, mut children) in by_dir {
            loop {
                let mut groups: BTreeMap<u8, usize> = BTreeMap::new();
                for c in &children {
                    let a = narrow(todo[c].access);
                    if !a.contains(Access::EXEC) {
                        *groups.entry(a.bits()).or_default() += 1;
                    }
                }
                let best = groups
                    .iter()
                    .filter(|(_, n)| **n >= self.threshold)
                    .max_by_key(|(bits, n)| (**n, std::cmp::Reverse(**bits)));
                let Some((&bits, _)) = best else { break };
                let access = Access::from_bits_truncate(bits);
                let (members, rest): (Vec<&Path>, Vec<&Path>) = children
                    .iter()
                    .partition(|c| access.granted().contains(todo[*c].access));
                rules.push(rule_for(
                    format!("{}/*", self.namer.literal(dir)),
                    access,
                    &members,
                    todo,
                    "in one directory",
                ));
                for m in members {
                    todo.remove(m);
                }
                children = rest;
            }
        }
        rules
    }

    /// The policy text for `learned`.
    pub fn render(&self, learned: &Learned) -> String {
        let mut s = String::new();
        for line in &self.header {
            let _ = writeln!(s, "# {}", clean(line));
        }
        s.push_str("version = 1\n");
        let list = |items: &[String]| -> String {
            items
                .iter()
                .map(|i| toml_string(i))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(s, "profiles = [{}]", list(&self.profiles));
        if !self.include.is_empty() {
            let _ = writeln!(s, "include = [{}]", list(&self.include));
        }
        for (name, value) in self
            .namer
            .used(learned.rules.iter().map(|r| r.pattern.as_str()))
        {
            let _ = writeln!(
                s,
                "# ${{{name}}} was {} in the learning run.",
                clean(&value.to_string_lossy())
            );
        }
        if learned.covered > 0 {
            let _ = writeln!(
                s,
                "# {} other path{} used {} allowed by the {} above.",
                learned.covered,
                if learned.covered == 1 { "" } else { "s" },
                if learned.covered == 1 { "is" } else { "are" },
                match (self.profiles.len() > 1, self.include.len()) {
                    (false, 0) => "profile",
                    (true, 0) => "profiles",
                    (false, 1) => "profile and the include",
                    (true, 1) => "profiles and the include",
                    (false, _) => "profile and the includes",
                    (true, _) => "profiles and the includes",
                }
            );
        }
        for p in &learned.skipped {
            let _ = writeln!(
                s,
                "# not written (a policy can only name UTF-8, normalised paths): {p}"
            );
        }
        if learned.rules.is_empty() {
            s.push_str("# Nothing else was used.\n");
        }
        self.write_rules(&mut s, learned);
        s
    }

    /// Only the rules of `learned`, each as a commented `[[allow]]` table
    /// preceded by an empty line.
    pub fn render_rules(&self, learned: &Learned) -> String {
        let mut s = String::new();
        self.write_rules(&mut s, learned);
        s
    }

    /// Appends [`PolicyWriter::render_rules`] to `s`, without a second copy.
    fn write_rules(&self, s: &mut String, learned: &Learned) {
        let size: usize = learned
            .rules
            .iter()
            .map(|r| r.pattern.len() + r.comment.len() + 80)
            .sum();
        s.reserve(size);
        for r in &learned.rules {
            let names: Vec<String> = Access::NAMES
                .iter()
                .filter(|(_, a)| r.access.contains(*a))
                .map(|(n, _)| toml_string(n))
                .collect();
            let _ = write!(
                s,
                "\n# {}\n[[allow]]\npaths  = [{}]\naccess = [{}]\n",
                clean(&r.comment),
                toml_string(&r.pattern),
                names.join(", ")
            );
        }
    }

    /// [`PolicyWriter::rules`] and [`PolicyWriter::render`] in one.
    pub fn write(
        &self,
        usage: &BTreeMap<PathBuf, Usage>,
        covered: &dyn Fn(&Path, Access) -> bool,
    ) -> String {
        self.render(&self.rules(usage, covered))
    }
}

/// A glob rule covering `members`, commented with their combined usage.
fn rule_for(
    pattern: String,
    access: Access,
    members: &[&Path],
    todo: &BTreeMap<&Path, &Usage>,
    how: &str,
) -> LearnedRule {
    let usages: Vec<&Usage> = members
        .iter()
        .filter_map(|m| todo.get(m).copied())
        .collect();
    LearnedRule {
        pattern,
        access,
        comment: format!("{} paths {how}: {}", members.len(), describe(&usages)),
        covers: members.len(),
    }
}

/// `open 2x, stat 1x; ENOENT 1x; first by /usr/bin/cat, pid 42`.
fn describe(usages: &[&Usage]) -> String {
    let mut ops: BTreeMap<&str, u64> = BTreeMap::new();
    let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
    for u in usages {
        for (op, n) in &u.ops {
            *ops.entry(op).or_default() += n;
        }
        for (e, n) in &u.errors {
            *errors.entry(e).or_default() += n;
        }
    }
    let list = |m: &BTreeMap<&str, u64>| {
        m.iter()
            .map(|(k, n)| format!("{k} {n}x"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = list(&ops);
    if !errors.is_empty() {
        let _ = write!(s, "; answered {}", list(&errors));
    }
    let first = usages
        .iter()
        .filter(|u| u.first.is_some())
        .min_by_key(|u| u.order)
        .and_then(|u| u.first.as_ref());
    if let Some(r) = first {
        match &r.program {
            Some(p) => {
                let _ = write!(s, "; first by {}, pid {}", p.to_string_lossy(), r.pid);
            }
            None => {
                let _ = write!(s, "; first by pid {}", r.pid);
            }
        }
    }
    s
}

/// The rights as written: `stat` only when it is all (every right implies it).
fn narrow(a: Access) -> Access {
    if a == Access::STAT || a.is_empty() {
        a
    } else {
        a - Access::STAT
    }
}

/// The directory of the package `dir` is in, in a system tree
/// ([`PACKAGE_TREES`]): its ancestor (or itself) at the depth of packages'
/// own directories; `None` outside those trees, above that depth, and in
/// the directories of programs (`/usr/bin/...`).
fn package_root(dir: &Path) -> Option<PathBuf> {
    const PROGRAMS: &[&str] = &["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"];
    if PROGRAMS.iter().any(|p| dir.starts_with(p)) {
        return None;
    }
    let (_, depth) = PACKAGE_TREES.iter().find(|(t, _)| dir.starts_with(t))?;
    let comps: Vec<_> = dir.components().collect();
    // `comps[0]` is the root.
    (comps.len() > *depth).then(|| comps[..=*depth].iter().collect())
}

/// Whether a glob may be made in `dir`: at least two levels deep, not a
/// home directory, UTF-8.
pub(crate) fn globbable_dir(dir: &Path) -> bool {
    let comps: Vec<&[u8]> = dir
        .as_os_str()
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    comps.len() >= 2 && !(comps.len() == 2 && comps[0] == b"home") && dir.to_str().is_some()
}

/// `s` as a TOML basic string, quotes included.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` safe inside a one-line comment: control characters (a newline would
/// end the comment and start policy text) written as escapes.
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Policy, PolicyVars};

    fn used(entries: &[(&str, Access, &str)]) -> BTreeMap<PathBuf, Usage> {
        let mut m: BTreeMap<PathBuf, Usage> = BTreeMap::new();
        for (i, (p, a, op)) in entries.iter().enumerate() {
            let u = m.entry(PathBuf::from(p)).or_default();
            if u.first.is_none() {
                u.first = Some(Requester {
                    program: Some(PathBuf::from("/usr/bin/prog")),
                    pid: 100 + i as u32,
                });
                u.order = i as u64;
            }
            u.add(*a, op, None);
        }
        m
    }

    fn nothing(_: &Path, _: Access) -> bool {
        false
    }

    fn patterns(l: &Learned) -> Vec<(String, Access)> {
        l.rules
            .iter()
            .map(|r| (r.pattern.clone(), r.access))
            .collect()
    }

    #[test]
    fn narrowest_rights_per_path() {
        let u = used(&[
            ("/srv/a", Access::READ, "open"),
            ("/srv/a", Access::STAT, "stat"),
            ("/srv/b", Access::STAT, "stat"),
            ("/srv/c", Access::WRITE | Access::CREATE, "open"),
            ("/srv/c", Access::READ, "open"),
        ]);
        let l = PolicyWriter::new().rules(&u, &nothing);
        assert_eq!(
            patterns(&l),
            vec![
                ("/srv/a".to_string(), Access::READ),
                ("/srv/b".to_string(), Access::STAT),
                (
                    "/srv/c".to_string(),
                    Access::READ | Access::WRITE | Access::CREATE
                ),
            ]
        );
    }

    #[test]
    fn sibling_glob_from_the_threshold_on() {
        let names: Vec<String> = (0..GLOB_THRESHOLD)
            .map(|i| format!("/srv/in/f{i}"))
            .collect();
        let below: Vec<(&str, Access, &str)> = names[..GLOB_THRESHOLD - 1]
            .iter()
            .map(|n| (n.as_str(), Access::READ, "open"))
            .collect();
        let l = PolicyWriter::new().rules(&used(&below), &nothing);
        assert_eq!(l.rules.len(), GLOB_THRESHOLD - 1, "{l:?}");
        assert!(l.rules.iter().all(|r| !r.pattern.contains('*')));

        let mut at: Vec<(&str, Access, &str)> = names
            .iter()
            .map(|n| (n.as_str(), Access::READ, "open"))
            .collect();
        // A stat-only sibling is covered by the read glob; a written one is not.
        at.push(("/srv/in/probe", Access::STAT, "stat"));
        at.push(("/srv/in/out", Access::WRITE, "open"));
        let l = PolicyWriter::new().rules(&used(&at), &nothing);
        assert_eq!(
            patterns(&l),
            vec![
                ("/srv/in/*".to_string(), Access::READ),
                ("/srv/in/out".to_string(), Access::WRITE),
            ]
        );
        assert_eq!(l.rules[0].covers, GLOB_THRESHOLD + 1);
        assert!(
            l.rules[0]
                .comment
                .starts_with("9 paths in one directory: open 8x, stat 1x")
        );
        // A lower threshold globs sooner.
        let l = PolicyWriter::new()
            .glob_threshold(3)
            .rules(&used(&below[..3]), &nothing);
        assert_eq!(patterns(&l), vec![("/srv/in/*".to_string(), Access::READ)]);
    }

    #[test]
    fn no_globs_high_up_in_home_dirs_or_for_exec() {
        for dir in ["/etc", "/tmp", "/root", "/home/alice"] {
            let names: Vec<String> = (0..20).map(|i| format!("{dir}/f{i}")).collect();
            let e: Vec<(&str, Access, &str)> = names
                .iter()
                .map(|n| (n.as_str(), Access::READ, "open"))
                .collect();
            let l = PolicyWriter::new().rules(&used(&e), &nothing);
            assert_eq!(l.rules.len(), 20, "{dir}");
        }
        let names: Vec<String> = (0..20).map(|i| format!("/opt/bin/t{i}")).collect();
        let e: Vec<(&str, Access, &str)> = names
            .iter()
            .map(|n| (n.as_str(), Access::EXEC, "exec"))
            .collect();
        let l = PolicyWriter::new().rules(&used(&e), &nothing);
        assert_eq!(l.rules.len(), 20);
    }

    #[test]
    fn recursive_walk_becomes_a_tree_glob() {
        let mut e: Vec<(String, Access, &str)> = vec![
            ("/srv/tree".into(), Access::READ, "open"),
            ("/srv/tree/a".into(), Access::READ, "open"),
            ("/srv/tree/b".into(), Access::READ, "open"),
            ("/srv/tree/b/c".into(), Access::READ, "open"),
        ];
        for d in ["a", "b", "b/c"] {
            for f in 0..3 {
                e.push((format!("/srv/tree/{d}/f{f}"), Access::READ, "open"));
            }
        }
        e.push(("/srv/tree/a/f0".into(), Access::STAT, "stat"));
        e.push((
            "/srv/tree/b/out".into(),
            Access::CREATE | Access::WRITE,
            "open",
        ));
        e.push(("/srv/other".into(), Access::READ, "open"));
        let e2: Vec<(&str, Access, &str)> =
            e.iter().map(|(p, a, o)| (p.as_str(), *a, *o)).collect();
        let l = PolicyWriter::new().rules(&used(&e2), &nothing);
        assert_eq!(
            patterns(&l),
            vec![
                ("/srv/other".to_string(), Access::READ),
                ("/srv/tree/**".to_string(), Access::READ),
                (
                    "/srv/tree/b/out".to_string(),
                    Access::WRITE | Access::CREATE
                ),
            ]
        );
        assert!(l.rules[1].comment.contains("13 paths in a tree"), "{l:?}");

        // Reading many files without listing directories is no walk.
        let flat: Vec<(&str, Access, &str)> = e2
            .iter()
            .filter(|(p, _, _)| *p != "/srv/tree" && *p != "/srv/tree/b" && *p != "/srv/tree/a")
            .copied()
            .collect();
        let l = PolicyWriter::new().rules(&used(&flat), &nothing);
        assert!(l.rules.iter().all(|r| !r.pattern.ends_with("**")), "{l:?}");
    }

    #[test]
    fn runtime_profile_and_base_are_subtracted() {
        let runtime =
            Policy::parse("version = 1\nprofiles = [\"runtime\"]\n", Path::new("b")).unwrap();
        let u = used(&[
            ("/etc/ld.so.cache", Access::READ, "open"),
            ("/usr/lib/x86_64-linux-gnu/libc.so.6", Access::READ, "open"),
            ("/dev/null", Access::WRITE, "open"),
            ("/proc/self/maps", Access::READ, "open"),
            (
                "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                Access::EXEC,
                "exec",
            ),
            ("/etc/passwd", Access::READ, "open"),
            // The profile grants read here, not write: written in full.
            ("/usr/lib/locale/x", Access::READ | Access::WRITE, "open"),
        ]);
        let covered = |p: &Path, a: Access| runtime.decide(p, a).allowed;
        let l = PolicyWriter::new().rules(&u, &covered);
        assert_eq!(
            patterns(&l),
            vec![
                ("/etc/passwd".to_string(), Access::READ),
                (
                    "/usr/lib/locale/x".to_string(),
                    Access::READ | Access::WRITE
                ),
            ]
        );
        assert_eq!(l.covered, 5);
        let text = PolicyWriter::new().render(&l);
        assert!(text.contains("# 5 other paths used are allowed by the profile above."));
    }

    #[test]
    fn comments_say_what_asked() {
        let mut u = used(&[
            ("/srv/x", Access::STAT, "stat"),
            ("/srv/x", Access::STAT, "access"),
            ("/srv/x", Access::STAT, "stat"),
        ]);
        u.get_mut(Path::new("/srv/x"))
            .unwrap()
            .errors
            .insert("ENOENT".into(), 3);
        let l = PolicyWriter::new().rules(&u, &nothing);
        assert_eq!(
            l.rules[0].comment,
            "access 1x, stat 2x; answered ENOENT 3x; first by /usr/bin/prog, pid 100"
        );
        let text = PolicyWriter::new()
            .header("learned from: prog\nx = 1")
            .include("base.toml")
            .render(&l);
        assert!(
            text.starts_with("# learned from: prog\\nx = 1\nversion = 1\n"),
            "{text}"
        );
        assert!(text.contains("include = [\"base.toml\"]\n"));
        assert!(text.contains(
            "\n# access 1x, stat 2x; answered ENOENT 3x; first by /usr/bin/prog, pid 100\n[[allow]]\npaths  = [\"/srv/x\"]\naccess = [\"stat\"]\n"
        ), "{text}");
    }

    #[test]
    fn executables_come_first_and_odd_names_round_trip() {
        let mut u = used(&[
            ("/srv/a*b?[c]\\d", Access::READ, "open"),
            ("/srv/quote\"d\nnew", Access::READ, "open"),
            ("/opt/tool", Access::EXEC, "exec"),
            ("/opt/tool", Access::STAT, "stat"),
        ]);
        u.get_mut(Path::new("/opt/tool")).unwrap().first = Some(Requester {
            program: Some(PathBuf::from("/evil\n[[allow]]\npaths=[\"/**\"]")),
            pid: 1,
        });
        let bad = PathBuf::from(std::ffi::OsStr::from_bytes(b"/srv/\xff"));
        u.insert(
            bad.clone(),
            Usage {
                access: Access::READ,
                ..Usage::default()
            },
        );
        let l = PolicyWriter::new().rules(&u, &nothing);
        assert_eq!(l.rules[0].pattern, "/opt/tool");
        assert_eq!(l.rules[0].access, Access::EXEC);
        assert_eq!(l.skipped.len(), 1);
        let text = PolicyWriter::new().render(&l);
        let p = Policy::parse(&text, Path::new("learned.toml")).unwrap();
        let own = p
            .rules()
            .filter(|r| r.origin().file.as_ref() == Path::new("learned.toml"))
            .count();
        assert_eq!(own, 3, "{text}");
        assert!(p.decide(Path::new("/srv/a*b?[c]\\d"), Access::READ).allowed);
        assert!(!p.decide(Path::new("/srv/aXb?[c]\\d"), Access::READ).allowed);
        assert!(
            p.decide(Path::new("/srv/quote\"d\nnew"), Access::READ)
                .allowed
        );
        assert!(p.decide(Path::new("/opt/tool"), Access::EXEC).allowed);
        assert!(
            !p.decide(Path::new("/etc/shadow"), Access::READ).allowed,
            "{text}"
        );
        assert!(!p.decide(&bad, Access::READ).allowed);
    }

    #[test]
    fn package_directories_become_globs() {
        let read = |p: &'static str| (p, Access::READ, "open");
        let stat = |p: &'static str| (p, Access::STAT, "stat");
        let l = PolicyWriter::new().rules(
            &used(&[
                // Three files read in one directory of a package: `DIR/*`,
                // covering what was only stat'ed there.
                read("/usr/share/color/icc/a.icc"),
                read("/usr/share/color/icc/b.icc"),
                read("/usr/share/color/icc/c.icc"),
                stat("/usr/share/color/icc/d.icc"),
                // Spread over directories of the package: the directory
                // they have in common.
                read("/usr/share/perl5/Image/ExifTool/Exif.pm"),
                read("/usr/share/perl5/Image/ExifTool/GPS.pm"),
                read("/usr/share/perl5/Image/ExifTool/XMP.pm"),
                stat("/usr/share/perl5/Image/ExifTool/PDF.pm"),
                read("/usr/share/perl5/Image/ExifTool.pm"),
                // Two are not enough; nor three in /usr/share itself (not a
                // package's directory), nor outside the system trees.
                read("/usr/share/misc/a"),
                read("/usr/share/misc/b"),
                read("/usr/share/x1"),
                read("/usr/share/x2"),
                read("/usr/share/x3"),
                read("/srv/data/a"),
                read("/srv/data/b"),
                read("/srv/data/c"),
                // Only stat'ed: a `stat` glob.
                stat("/opt/tool/lib/a"),
                stat("/opt/tool/lib/b"),
                stat("/opt/tool/lib/c"),
                // Not beside programs.
                read("/usr/bin/lib/a"),
                read("/usr/bin/lib/b"),
                read("/usr/bin/lib/c"),
                // Written: never.
                ("/var/lib/tool/db/a", Access::WRITE, "open"),
                ("/var/lib/tool/db/b", Access::WRITE, "open"),
                ("/var/lib/tool/db/c", Access::WRITE, "open"),
            ]),
            &nothing,
        );
        assert_eq!(
            patterns(&l),
            vec![
                ("/opt/tool/lib/*".to_string(), Access::STAT),
                ("/srv/data/a".to_string(), Access::READ),
                ("/srv/data/b".to_string(), Access::READ),
                ("/srv/data/c".to_string(), Access::READ),
                ("/usr/bin/lib/a".to_string(), Access::READ),
                ("/usr/bin/lib/b".to_string(), Access::READ),
                ("/usr/bin/lib/c".to_string(), Access::READ),
                ("/usr/share/color/icc/*".to_string(), Access::READ),
                ("/usr/share/misc/a".to_string(), Access::READ),
                ("/usr/share/misc/b".to_string(), Access::READ),
                ("/usr/share/perl5/Image/**".to_string(), Access::READ),
                ("/usr/share/x1".to_string(), Access::READ),
                ("/usr/share/x2".to_string(), Access::READ),
                ("/usr/share/x3".to_string(), Access::READ),
                ("/var/lib/tool/db/a".to_string(), Access::WRITE),
                ("/var/lib/tool/db/b".to_string(), Access::WRITE),
                ("/var/lib/tool/db/c".to_string(), Access::WRITE),
            ]
        );
        let glob = &l.rules[7];
        assert_eq!(glob.covers, 4);
        assert!(
            glob.comment
                .starts_with("4 paths in one package directory: open 3x, stat 1x;"),
            "{}",
            glob.comment
        );
        let tree = &l.rules[10];
        assert_eq!(tree.covers, 5);
        assert!(
            tree.comment
                .starts_with("5 paths in one package's directories: open 4x, stat 1x;"),
            "{}",
            tree.comment
        );

        // Spread over several directories of one package: their common
        // directory, with everything read-only beneath it; not in /etc.
        let l = PolicyWriter::new().rules(
            &used(&[
                read("/usr/share/ghostscript/10.0/Resource/Init/gs_init.ps"),
                read("/usr/share/ghostscript/10.0/Resource/Init/gs_fonts.ps"),
                read("/usr/share/ghostscript/10.0/Resource/Init/Fontmap"),
                read("/usr/share/ghostscript/10.0/Resource/Font/A"),
                read("/usr/share/ghostscript/10.0/Resource/Font/B"),
                read("/usr/share/ghostscript/10.0/Resource/Font/C"),
                stat("/usr/share/ghostscript/10.0/Resource/CMap"),
                ("/usr/share/ghostscript/10.0/x", Access::EXEC, "exec"),
                read("/etc/fonts/conf.d/10-a.conf"),
                read("/etc/fonts/conf.d/20-b.conf"),
                read("/etc/fonts/conf.d/30-c.conf"),
                read("/etc/fonts/conf.avail/1"),
                read("/etc/fonts/conf.avail/2"),
                read("/etc/fonts/conf.avail/3"),
            ]),
            &nothing,
        );
        assert_eq!(
            patterns(&l),
            vec![
                ("/usr/share/ghostscript/10.0/x".to_string(), Access::EXEC),
                ("/etc/fonts/conf.avail/*".to_string(), Access::READ),
                ("/etc/fonts/conf.d/*".to_string(), Access::READ),
                (
                    "/usr/share/ghostscript/10.0/Resource/**".to_string(),
                    Access::READ
                ),
            ]
        );
        assert_eq!(l.rules[3].covers, 7);
        assert!(
            l.rules[3]
                .comment
                .starts_with("7 paths in one package's directories:")
        );
    }

    #[test]
    fn run_directories_are_variables_and_temporary_names_globs() {
        let vars = PolicyVars::none()
            .home("/root")
            .tmpdir("/tmp")
            .cwd("/srv/work");
        let rw = Access::READ | Access::WRITE | Access::CREATE;
        let u = used(&[
            ("/root/.config/ImageMagick/policy.xml", Access::READ, "open"),
            ("/srv/work/script.py", Access::READ, "open"),
            ("/tmp/magick-7CjO9H2Jabc", rw, "open"),
            ("/tmp/magick-Qx81bZa0LmT", rw, "open"),
            ("/tmp/magick-Qx81bZa0LmT", Access::STAT, "stat"),
            ("/var/tmp/gs_Xa19Qk", rw, "open"),
            ("/tmp/report.txt", rw, "open"),
            ("/srv/other/*odd", Access::READ, "open"),
        ]);
        let w = PolicyWriter::new().vars(&vars);
        let l = w.rules(&u, &nothing);
        assert_eq!(
            patterns(&l),
            vec![
                ("${CWD}/script.py".to_string(), Access::READ),
                (
                    "${HOME}/.config/ImageMagick/policy.xml".to_string(),
                    Access::READ
                ),
                ("${TMPDIR}/magick-*".to_string(), rw),
                ("${TMPDIR}/report.txt".to_string(), rw),
                ("/srv/other/\\*odd".to_string(), Access::READ),
                ("/var/tmp/gs_*".to_string(), rw),
            ]
        );
        assert_eq!(l.rules[2].covers, 2);
        assert!(
            l.rules[2]
                .comment
                .starts_with("2 paths with random names: open 2x, stat 1x;"),
            "{}",
            l.rules[2].comment
        );
        let text = w.render(&l);
        assert!(
            text.contains(
                "\n# ${HOME} was /root in the learning run.\n# ${TMPDIR} was /tmp in the learning run.\n# ${CWD} was /srv/work in the learning run.\n"
            ),
            "{text}"
        );
        // Read back in another run, it names that run's directories.
        let next = PolicyVars::none()
            .home("/home/u")
            .tmpdir("/tmp/fdbroker-run.Ab12Cd")
            .cwd("/srv/two");
        let p = Policy::parse_with(&text, Path::new("l.toml"), &next).unwrap();
        for (path, access) in [
            ("/tmp/fdbroker-run.Ab12Cd/magick-0aZ9yX8wV7", rw),
            ("/home/u/.config/ImageMagick/policy.xml", Access::READ),
            ("/srv/two/script.py", Access::READ),
            ("/var/tmp/gs_Zz00Aa", rw),
        ] {
            assert!(p.decide(Path::new(path), access).allowed, "{path}");
        }
        assert!(!p.decide(Path::new("/tmp/magick-x"), Access::READ).allowed);
        assert!(
            !p.decide(Path::new("/srv/work/script.py"), Access::READ)
                .allowed
        );
    }

    #[test]
    fn empty_usage_is_a_valid_policy() {
        let text = PolicyWriter::new().write(&BTreeMap::new(), &nothing);
        let p = Policy::parse(&text, Path::new("e.toml")).unwrap();
        assert_eq!(p.profiles(), &["runtime"]);
        assert!(text.contains("# Nothing else was used."));
    }
}
