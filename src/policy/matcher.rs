//! All of a policy's patterns, compiled so that matching a path costs about
//! the same for 10 patterns as for 10,000.
//!
//! Exact paths and `/dir/**` patterns are looked up in hash tables: the path
//! itself, and each of its ancestors, at a cost independent of their number
//! (and far below that of `globset`'s prefix automaton). Other wildcard
//! patterns go through a regex set whose bookkeeping is linear in its size,
//! so those are indexed by a literal component they require at a fixed
//! depth (`x` at depth 2 for `/srv/*/x/*.txt`): a path consults only the
//! small sets indexed under its own components.

use std::collections::HashMap;
use std::path::Path;

use rustc_hash::FxHashMap;

use globset::{Candidate, Glob, GlobSet, GlobSetBuilder};
use std::os::unix::ffi::OsStrExt;

use super::glob::Pattern;

/// The most globs compiled into one set: keeps each regex set well below
/// `globset`'s size limit however many patterns share an index key.
const CHUNK: usize = 256;

/// A `GlobSet` and, for each of its globs, the rule it belongs to.
#[derive(Debug, Clone)]
struct Group {
    set: GlobSet,
    rule_of: Vec<u32>,
}

impl Group {
    fn build(globs: &[(Glob, u32)]) -> Result<Group, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        for (glob, _) in globs {
            builder.add(glob.clone());
        }
        Ok(Group {
            set: builder.build()?,
            rule_of: globs.iter().map(|(_, rule)| *rule).collect(),
        })
    }

    fn build_chunked(globs: &[(Glob, u32)]) -> Result<Vec<Group>, globset::Error> {
        globs.chunks(CHUNK).map(Group::build).collect()
    }

    fn collect(&self, candidate: &Candidate<'_>, hits: &mut Vec<usize>, out: &mut Vec<u32>) {
        hits.clear();
        self.set.matches_candidate_into(candidate, hits);
        out.extend(hits.iter().filter_map(|&g| self.rule_of.get(g)));
    }
}

/// Collects patterns before compiling them.
#[derive(Default)]
pub(crate) struct MatcherBuilder {
    everything: Vec<u32>,
    exact: FxHashMap<Box<[u8]>, Vec<u32>>,
    below: FxHashMap<Box<[u8]>, Vec<u32>>,
    flat: Vec<(Glob, u32)>,
    indexed: HashMap<(usize, String), Vec<(Glob, u32)>>,
    rest: Vec<(Glob, u32)>,
}

impl MatcherBuilder {
    /// Adds `pattern` as a pattern of rule number `rule`.
    pub(crate) fn add(&mut self, pattern: &Pattern, rule: u32) -> Result<(), globset::Error> {
        if let Some((path, recursive)) = pattern.literal_shape() {
            if path.is_empty() {
                self.everything.push(rule);
                return Ok(());
            }
            let key: Box<[u8]> = path.into_bytes().into_boxed_slice();
            if recursive {
                self.below.entry(key.clone()).or_default().push(rule);
            }
            self.exact.entry(key).or_default().push(rule);
            return Ok(());
        }
        let globs = pattern.globs()?.into_iter().map(|g| (g, rule));
        if pattern.is_flat() {
            self.flat.extend(globs);
        } else if let Some(key) = pattern.index_key() {
            self.indexed.entry(key).or_default().extend(globs);
        } else {
            self.rest.extend(globs);
        }
        Ok(())
    }

    pub(crate) fn build(self) -> Result<Matcher, globset::Error> {
        let mut by_depth: Vec<FxHashMap<Vec<u8>, Vec<Group>>> = Vec::new();
        for ((depth, name), globs) in self.indexed {
            if by_depth.len() <= depth {
                by_depth.resize_with(depth + 1, FxHashMap::default);
            }
            by_depth[depth].insert(name.into_bytes(), Group::build_chunked(&globs)?);
        }
        Ok(Matcher {
            everything: self.everything,
            exact: self.exact,
            below: self.below,
            flat: Group::build(&self.flat)?,
            by_depth,
            rest: Group::build_chunked(&self.rest)?,
        })
    }
}

/// The compiled patterns of a policy.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    /// Rules with a `/**` pattern, which matches every path.
    everything: Vec<u32>,
    /// Rules by the exact path a pattern names (`/a/b`, and `/a/b` for `/a/b/**`).
    exact: FxHashMap<Box<[u8]>, Vec<u32>>,
    /// Rules by the directory whose every descendant a pattern matches
    /// (`/a/b` for `/a/b/**`).
    below: FxHashMap<Box<[u8]>, Vec<u32>>,
    /// Flat patterns not in the tables above (none today: kept so that a
    /// new shape still matches).
    flat: Group,
    /// `by_depth[d][name]`: patterns that need component `d` to be `name`.
    /// Hashed with FxHash: the keys are the policy's own, and a lookup of a
    /// child's component cannot make the table degrade.
    by_depth: Vec<FxHashMap<Vec<u8>, Vec<Group>>>,
    /// Patterns with no literal component at a fixed depth (`/**/x`, `/*`).
    rest: Vec<Group>,
}

impl Matcher {
    /// Appends to `rules` the rules (by number, unsorted, possibly repeated)
    /// with a pattern matching `path`, which must be absolute and
    /// normalised. `hits` is scratch space.
    pub(crate) fn matching_rules(&self, path: &Path, hits: &mut Vec<usize>, rules: &mut Vec<u32>) {
        let bytes = path.as_os_str().as_bytes();
        rules.extend_from_slice(&self.everything);
        if let Some(r) = self.exact.get(bytes) {
            rules.extend_from_slice(r);
        }
        if !self.below.is_empty() {
            // Every proper ancestor but `/`: the path up to each inner `/`.
            for (i, _) in bytes
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(_, b)| **b == b'/')
            {
                if let Some(r) = self.below.get(&bytes[..i]) {
                    rules.extend_from_slice(r);
                }
            }
        }
        if self.flat.set.is_empty() && self.by_depth.is_empty() && self.rest.is_empty() {
            return;
        }
        let candidate = Candidate::new(path);
        self.flat.collect(&candidate, hits, rules);
        let components = bytes
            .split(|&b| b == b'/')
            .skip(1)
            .filter(|c| !c.is_empty());
        for (index, name) in self.by_depth.iter().zip(components) {
            for group in index.get(name).into_iter().flatten() {
                group.collect(&candidate, hits, rules);
            }
        }
        for group in &self.rest {
            group.collect(&candidate, hits, rules);
        }
    }
}
