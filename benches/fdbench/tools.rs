//! The `tools` section: real tools on the inputs of `tests/fixtures/tools/`
//! (the command lines and profiles of `tests/tools.rs`), wall time natively,
//! under `fdbroker run --profile FAMILY --read IN --write OUT` (default
//! build and flags), under bubblewrap and, when installed, under syd; runs
//! interleaved, median of `FDBENCH_REPEAT`. `FDBENCH_TOOLS_CPUS=0` adds
//! `fdbroker run --cpus 0` (program and broker on one CPU).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::stats::Samples;
use crate::{Env, command, which};

/// One tool: its name, the profile its family uses, the program (by
/// absolute path: Debian's, never a /usr/local one), its arguments (`{in}`,
/// `{out}`: the input and output directories) and the fixtures it reads.
struct Tool {
    name: &'static str,
    family: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    fixtures: &'static [&'static str],
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "pdftotext",
        family: "poppler",
        program: "/usr/bin/pdftotext",
        args: &["-layout", "{in}/a.pdf", "{out}/text.txt"],
        fixtures: &["a.pdf"],
    },
    Tool {
        name: "pdftoppm",
        family: "poppler",
        program: "/usr/bin/pdftoppm",
        args: &["-png", "-r", "24", "{in}/a.pdf", "{out}/page"],
        fixtures: &["a.pdf"],
    },
    Tool {
        name: "convert",
        family: "imagemagick",
        program: "/usr/bin/convert",
        args: &[
            "{in}/a.png",
            "-resize",
            "50%",
            "-rotate",
            "90",
            "{out}/small.ppm",
        ],
        fixtures: &["a.png"],
    },
    Tool {
        name: "identify",
        family: "imagemagick",
        program: "/usr/bin/identify",
        args: &["-format", "%m %w %h %z %[colorspace] %k\\n", "{in}/a.png"],
        fixtures: &["a.png"],
    },
    Tool {
        name: "gs",
        family: "ghostscript",
        program: "/usr/bin/gs",
        args: &[
            "-q",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            "-sDEVICE=png16m",
            "-r24",
            "-o",
            "{out}/p%d.png",
            "{in}/a.pdf",
        ],
        fixtures: &["a.pdf"],
    },
    Tool {
        name: "python3",
        family: "python",
        program: "/usr/bin/python3",
        args: &["{in}/summarize.py", "{in}/a.json", "{out}/summary.json"],
        fixtures: &["a.json", "summarize.py"],
    },
    Tool {
        name: "jq",
        family: "runtime",
        program: "/usr/bin/jq",
        args: &[
            "-S",
            "[paths | map(tostring) | join(\".\")], .",
            "{in}/a.json",
        ],
        fixtures: &["a.json"],
    },
    Tool {
        name: "xmllint",
        family: "runtime",
        program: "/usr/bin/xmllint",
        args: &[
            "--noent",
            "--format",
            "--output",
            "{out}/formatted.xml",
            "{in}/a.xml",
        ],
        fixtures: &["a.xml"],
    },
];

/// The ways each tool is run, in rotation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Way {
    Native,
    Fdbroker,
    /// `fdbroker run --cpus LIST` (`FDBENCH_TOOLS_CPUS`), the placement lever.
    Placed,
    Bwrap,
    Syd,
}

impl Way {
    fn label(self) -> &'static str {
        match self {
            Way::Native => "native",
            Way::Fdbroker => "fdbroker",
            Way::Placed => "fdbroker --cpus",
            Way::Bwrap => "bwrap",
            Way::Syd => "syd",
        }
    }
}

struct Case<'a> {
    tool: &'a Tool,
    input: PathBuf,
    output: PathBuf,
}

impl Case<'_> {
    fn args(&self) -> Vec<String> {
        let (i, o) = (self.input.display(), self.output.display());
        self.tool
            .args
            .iter()
            .map(|a| {
                a.replace("{in}", &i.to_string())
                    .replace("{out}", &o.to_string())
            })
            .collect()
    }

    fn command(&self, env: &Env, way: Way, bwrap: &Path, syd: Option<&Path>) -> Command {
        let mut cmd = match way {
            Way::Native => command(self.tool.program),
            Way::Fdbroker | Way::Placed => {
                let mut c = command(&env.fdbroker);
                c.arg("run");
                if way == Way::Placed {
                    c.arg("--cpus").arg(cpus_option().unwrap_or_default());
                }
                c.args(["--profile", self.tool.family, "--read"])
                    .arg(&self.input)
                    .arg("--write")
                    .arg(&self.output)
                    .arg("--")
                    .arg(self.tool.program);
                c
            }
            Way::Bwrap => {
                // The output directory bound writable: the tools write there.
                let mut c = command(bwrap);
                c.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
                    .arg("--bind")
                    .arg(&self.output)
                    .arg(&self.output)
                    .arg("--")
                    .arg(self.tool.program);
                c
            }
            Way::Syd => {
                let mut c = command(syd.unwrap_or(Path::new("syd")));
                let profile =
                    std::env::var("FDBENCH_SYD_ARGS").unwrap_or_else(|_| "-ppaludis".into());
                c.args(profile.split_whitespace())
                    .arg("--")
                    .arg(self.tool.program);
                c
            }
        };
        cmd.args(self.args())
            .current_dir(self.input.parent().unwrap_or(Path::new("/")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Wall time of one run in µs, after emptying the output directory.
    fn time(&self, mut cmd: Command) -> f64 {
        let _ = fs::remove_dir_all(&self.output);
        mkdir(&self.output);
        let t = Instant::now();
        let out = cmd.output().expect("spawn a tool");
        let us = t.elapsed().as_secs_f64() * 1e6;
        assert!(
            out.status.success(),
            "{:?} failed: {}\n{}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        us
    }
}

/// `FDBENCH_TOOLS_CPUS`: also measure `fdbroker run --cpus` with this list.
fn cpus_option() -> Option<String> {
    std::env::var("FDBENCH_TOOLS_CPUS")
        .ok()
        .filter(|s| !s.is_empty())
}

fn mkdir(p: &Path) {
    fs::create_dir_all(p).expect("tools bench dir");
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).expect("chmod");
}

pub(crate) fn tools(env: &Env) {
    println!("\n## Real tools\n");
    let Some(bwrap) = which("bwrap") else {
        println!("Not measured: bubblewrap is not installed (benches/run.sh installs it).");
        return;
    };
    let syd = which("syd");
    let fixtures = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tools"));
    let mut cases = Vec::new();
    let mut missing = Vec::new();
    for tool in TOOLS {
        if !Path::new(tool.program).is_file() {
            missing.push(tool.program);
            continue;
        }
        let root = env.dir.join("tools").join(tool.name);
        let input = root.join("in");
        mkdir(&input);
        for name in tool.fixtures {
            let to = input.join(name);
            fs::copy(fixtures.join(name), &to).expect("copy a fixture");
            fs::set_permissions(&to, fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        cases.push(Case {
            tool,
            input,
            output: root.join("out"),
        });
    }
    let mut ways = vec![Way::Native, Way::Fdbroker, Way::Bwrap];
    if cpus_option().is_some() {
        ways.insert(2, Way::Placed);
    }
    if syd.is_some() {
        ways.push(Way::Syd);
    }
    // (tool, way) -> µs; (tool, way) -> ratio to native within the rotation;
    // tool -> fdbroker / bwrap within the rotation.
    let mut us: BTreeMap<(&str, Way), Samples> = BTreeMap::new();
    let mut ratio: BTreeMap<(&str, Way), Samples> = BTreeMap::new();
    let mut vs_bwrap: BTreeMap<&str, Samples> = BTreeMap::new();
    // One untimed round first: page cache, dynamic loader caches.
    for round in 0..=env.repeat {
        for case in &cases {
            let mut this: BTreeMap<Way, f64> = BTreeMap::new();
            for &way in &ways {
                let t = case.time(case.command(env, way, &bwrap, syd.as_deref()));
                this.insert(way, t);
            }
            if round == 0 {
                continue;
            }
            let name = case.tool.name;
            for (&way, &t) in &this {
                us.entry((name, way)).or_default().push(t);
                ratio
                    .entry((name, way))
                    .or_default()
                    .push(t / this[&Way::Native]);
            }
            vs_bwrap
                .entry(name)
                .or_default()
                .push(this[&Way::Fdbroker] / this[&Way::Bwrap]);
        }
    }
    println!(
        "Wall time per run, milliseconds, median of {} runs, interleaved; ratios to native \
         (median of the ratios within each rotation). fdbroker: `fdbroker run --profile FAMILY \
         --read IN --write OUT -- TOOL ...`, default build, no options; bwrap: `bwrap --ro-bind / / \
         --dev /dev --proc /proc --bind OUT OUT -- TOOL ...`{}.\n",
        env.repeat,
        if syd.is_some() {
            format!(
                "; syd: `syd {} -- TOOL ...`",
                std::env::var("FDBENCH_SYD_ARGS").unwrap_or_else(|_| "-ppaludis".into())
            )
        } else {
            String::new()
        }
    );
    let mut head = String::from("| tool | profile |");
    let mut rule = String::from("|---|---|");
    for &w in &ways {
        head.push_str(&format!(" {} ms |", w.label()));
        rule.push_str("---:|");
    }
    for &w in &ways[1..] {
        head.push_str(&format!(" {} × |", w.label()));
        rule.push_str("---:|");
    }
    head.push_str(" fdbroker / bwrap |");
    rule.push_str("---:|");
    println!("{head}\n{rule}");
    let mut all: Vec<f64> = Vec::new();
    for case in &cases {
        let name = case.tool.name;
        let mut row = format!("| {name} | {} |", case.tool.family);
        for &w in &ways {
            row.push_str(&format!(" {:.1} |", us[&(name, w)].median() / 1000.0));
        }
        for &w in &ways[1..] {
            row.push_str(&format!(" {:.2} |", ratio[&(name, w)].median()));
        }
        let r = vs_bwrap[name].median();
        all.push(r);
        row.push_str(&format!(" **{r:.2}** |"));
        println!("{row}");
    }
    if !all.is_empty() {
        let mut sorted = all.clone();
        sorted.sort_by(f64::total_cmp);
        let median = if sorted.len() % 2 == 1 {
            sorted[sorted.len() / 2]
        } else {
            (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
        };
        let max = sorted[sorted.len() - 1];
        let verdict = |ok: bool| if ok { "met" } else { "missed" };
        println!(
            "\n- fdbroker / bwrap over the set: median {median:.2} (target ≤ 1.0: {}), \
             max {max:.2} (target ≤ 1.15: {})",
            verdict(median <= 1.0),
            verdict(max <= 1.15)
        );
    }
    if syd.is_none() {
        println!("- syd: not installed, not measured");
    }
    for m in missing {
        println!("- {m}: not installed, not measured");
    }
    let _ = fs::remove_dir_all(env.dir.join("tools"));
}
