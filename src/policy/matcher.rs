//! All of a policy's patterns, compiled so that matching a path costs about
//! the same for 10 patterns as for 10,000.
//!
//! `globset` matches exact paths by hashing and `/dir/**` patterns with a
//! prefix automaton, at a cost independent of their number. Other wildcard
//! patterns go through a regex set whose bookkeeping is linear in its size,
//! so those are indexed by a literal component they require at a fixed
//! depth (`x` at depth 2 for `/srv/*/x/*.txt`): a path consults only the
//! small sets indexed under its own components.

use std::collections::HashMap;
use std::path::Path;

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
    flat: Vec<(Glob, u32)>,
    indexed: HashMap<(usize, String), Vec<(Glob, u32)>>,
    rest: Vec<(Glob, u32)>,
}

impl MatcherBuilder {
    /// Adds `pattern` as a pattern of rule number `rule`.
    pub(crate) fn add(&mut self, pattern: &Pattern, rule: u32) -> Result<(), globset::Error> {
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
        let mut by_depth: Vec<HashMap<Vec<u8>, Vec<Group>>> = Vec::new();
        for ((depth, name), globs) in self.indexed {
            if by_depth.len() <= depth {
                by_depth.resize_with(depth + 1, HashMap::new);
            }
            by_depth[depth].insert(name.into_bytes(), Group::build_chunked(&globs)?);
        }
        Ok(Matcher {
            flat: Group::build(&self.flat)?,
            by_depth,
            rest: Group::build_chunked(&self.rest)?,
        })
    }
}

/// The compiled patterns of a policy.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    /// Exact paths and `/dir/**` patterns.
    flat: Group,
    /// `by_depth[d][name]`: patterns that need component `d` to be `name`.
    by_depth: Vec<HashMap<Vec<u8>, Vec<Group>>>,
    /// Patterns with no literal component at a fixed depth (`/**/x`, `/*`).
    rest: Vec<Group>,
}

impl Matcher {
    /// The rules (by number, unsorted, possibly repeated) with a pattern
    /// matching `path`, which must be absolute and normalised.
    pub(crate) fn matching_rules(&self, path: &Path) -> Vec<u32> {
        let candidate = Candidate::new(path);
        let mut hits = Vec::new();
        let mut rules = Vec::new();
        self.flat.collect(&candidate, &mut hits, &mut rules);
        let bytes = path.as_os_str().as_bytes();
        let components = bytes
            .split(|&b| b == b'/')
            .skip(1)
            .filter(|c| !c.is_empty());
        for (index, name) in self.by_depth.iter().zip(components) {
            for group in index.get(name).into_iter().flatten() {
                group.collect(&candidate, &mut hits, &mut rules);
            }
        }
        for group in &self.rest {
            group.collect(&candidate, &mut hits, &mut rules);
        }
        rules
    }
}
