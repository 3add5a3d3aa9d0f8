//! broker (in progress)
