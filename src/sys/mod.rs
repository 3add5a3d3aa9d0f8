//! The only module allowed to use `unsafe`. Every block carries a `// SAFETY:`
//! comment; raw descriptor numbers are wrapped into `OwnedFd` before they leave.
