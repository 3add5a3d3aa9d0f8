#!/bin/sh
# Runs fdbroker's benchmarks (docs/performance.md) with one command:
#
#     sudo benches/run.sh [SECTION...]      # latency startup tools scale policy
#
# Needs root (`fdbroker run` switches the program to `nobody`), a C compiler
# and Linux with Landlock and seccomp user notification. Installs bubblewrap
# (for the start-up comparison) with apt-get when it is missing. Takes about
# six minutes (it also builds fdbroker linked statically); FDBENCH_QUICK=1
# gives a rough result in well under a minute.
# The report is printed as Markdown; it is also kept in
# target/fdbench-report.md (or $CARGO_TARGET_DIR/fdbench-report.md).
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "benches/run.sh: run as root" >&2
    exit 2
fi
if ! command -v bwrap >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "installing bubblewrap for the start-up comparison..." >&2
        apt-get install -y bubblewrap >/dev/null 2>&1 ||
            { apt-get update >/dev/null 2>&1 && apt-get install -y bubblewrap >/dev/null 2>&1; } ||
            echo "could not install bubblewrap; its start-up will not be measured" >&2
    else
        echo "no apt-get: install bubblewrap to compare start-up with it" >&2
    fi
fi
if ! command -v cc >/dev/null 2>&1; then
    echo "benches/run.sh: a C compiler (cc) is needed for benches/fdbench.c" >&2
    exit 2
fi

report="${CARGO_TARGET_DIR:-target}/fdbench-report.md"
mkdir -p "$(dirname "$report")"
cargo bench --bench fdbench --no-run
# A static-pie build as well, for the start-up comparison (docs/performance.md,
# "Static build"). --target keeps RUSTFLAGS off build scripts and proc-macros.
host="$(rustc -vV | sed -n 's/^host: //p')"
if RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked \
    --bin fdbroker --target "$host"; then
    target_dir="${CARGO_TARGET_DIR:-target}"
    case "$target_dir" in /*) ;; *) target_dir="$(pwd)/$target_dir" ;; esac
    export FDBENCH_STATIC_FDBROKER="$target_dir/$host/release/fdbroker"
else
    echo "the static-pie build failed; only the default build is measured" >&2
fi
# The highest CPU priority for everything measured (baselines and fdbroker
# alike): background jobs at normal or lower priority then disturb less. On a
# quiet machine it changes nothing.
nice -n -20 cargo bench --bench fdbench -- "$@" | tee "$report"
echo "report: $report" >&2
