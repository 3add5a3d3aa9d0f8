//! Operations the broker performs for a child, one file per operation.
