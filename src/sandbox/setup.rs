//! What the child tells the parent while it sets itself up, over a
//! close-on-exec socketpair: the steps of its setup ([`Stage`]) and the
//! messages ([`SetupMsg`]), with pure encode and decode.
//!
//! The child sends [`SetupMsg::Listener`] with the notification listener
//! attached, or [`SetupMsg::Failed`] when a stage fails. In a PID namespace
//! the child is the sandbox's init and then also sends
//! [`SetupMsg::Program`] with a pidfd of the program's process. End of
//! stream without a failure means execve(2) succeeded (the child's end
//! closed on exec) or the child died.

use std::fmt;

use nix::errno::Errno;

/// A step of the child's setup after fork(2), in order (but
/// [`Stage::NoTerminal`], numbered last, comes after Landlock); the first
/// that fails is reported to the parent with its errno.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs = 0,
    /// `setgroups`, `setresgid`, `setresuid` to the unprivileged user.
    SwitchUser = 1,
    /// Dropping every capability (the bounding set too with `CAP_SETPCAP`).
    DropCapabilities = 2,
    /// `PR_SET_PDEATHSIG` and checking the parent is still the broker.
    ParentDeathSignal = 3,
    /// Applying Landlock.
    Landlock = 4,
    /// Leaving only 0, 1, 2 and the protocol socket open across execve.
    CloseDescriptors = 5,
    /// Installing the user-notification filter.
    NotifyFilter = 6,
    /// Sending the listener to the parent, and waiting while it checks that
    /// it can reach the program's memory.
    SendListener = 7,
    /// Installing the deny filter.
    DenyFilter = 8,
    /// Restoring the signal mask and `SIGPIPE`.
    SignalMask = 9,
    /// execve(2) of the program.
    Exec = 10,
    /// Joining the sandbox's cgroups (resource limits).
    JoinCgroups = 11,
    /// Creating the sandbox's own user namespace (`--max-processes`
    /// without a cgroup).
    UserNamespace = 12,
    /// Setting the program's rlimits.
    Rlimits = 13,
    /// `--no-tty`: a new session, `/dev/null` and pipes on 0, 1, 2.
    NoTerminal = 14,
    /// Mapping the user and group ids of the sandbox's own user namespace
    /// (when fdbroker is not root).
    Namespaces = 15,
    /// The sandbox's init (pid 1 of its PID namespace) starting the
    /// program's process and handing it to the parent.
    Init = 16,
}

impl Stage {
    /// What the stage does, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            Stage::NoNewPrivs => "no_new_privs",
            Stage::SwitchUser => "switching user",
            Stage::DropCapabilities => "dropping capabilities",
            Stage::ParentDeathSignal => "parent-death signal",
            Stage::Landlock => "Landlock",
            Stage::CloseDescriptors => "closing descriptors",
            Stage::NotifyFilter => "notification filter",
            Stage::SendListener => "sending the listener",
            Stage::DenyFilter => "deny filters",
            Stage::SignalMask => "signal mask",
            Stage::Exec => "execve",
            Stage::JoinCgroups => "joining the sandbox's cgroups (limits)",
            Stage::UserNamespace => "creating a user namespace (for --max-processes)",
            Stage::Rlimits => "setting resource limits",
            Stage::NoTerminal => "leaving the terminal",
            Stage::Namespaces => "entering the sandbox's namespaces",
            Stage::Init => "starting the program under the sandbox's init",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<u8> for Stage {
    type Error = SetupMsgError;

    fn try_from(value: u8) -> Result<Stage, SetupMsgError> {
        Ok(match value {
            0 => Stage::NoNewPrivs,
            1 => Stage::SwitchUser,
            2 => Stage::DropCapabilities,
            3 => Stage::ParentDeathSignal,
            4 => Stage::Landlock,
            5 => Stage::CloseDescriptors,
            6 => Stage::NotifyFilter,
            7 => Stage::SendListener,
            8 => Stage::DenyFilter,
            9 => Stage::SignalMask,
            10 => Stage::Exec,
            11 => Stage::JoinCgroups,
            12 => Stage::UserNamespace,
            13 => Stage::Rlimits,
            14 => Stage::NoTerminal,
            15 => Stage::Namespaces,
            16 => Stage::Init,
            _ => return Err(SetupMsgError::UnknownStage(value)),
        })
    }
}

/// Why bytes from the child are not a setup message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupMsgError {
    /// An empty record.
    #[error("empty message")]
    Empty,
    /// The first byte names no message.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// Shorter than its kind needs.
    #[error("truncated message: {len} of {need} bytes")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Bytes the kind needs.
        need: usize,
    },
    /// Longer than its kind.
    #[error("message of {len} bytes, {need} expected")]
    TooLong {
        /// Bytes received (at least).
        len: usize,
        /// Bytes the kind needs.
        need: usize,
    },
    /// The stage number names no [`Stage`].
    #[error("unknown stage {0}")]
    UnknownStage(u8),
    /// The errno is no error number this system knows.
    #[error("unknown errno {0}")]
    BadErrno(i32),
    /// A listener after the first.
    #[error("a second listener")]
    SecondListener,
    /// The program's process before the listener, or a second time.
    #[error("the program's process out of order")]
    ProgramOutOfOrder,
    /// The record carried another number of descriptors than its kind.
    #[error("{got} descriptors attached, {want} expected")]
    Descriptors {
        /// Descriptors received.
        got: usize,
        /// Descriptors the kind carries.
        want: usize,
    },
}

/// One message from the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetupMsg {
    /// The user-notification listener, attached by `SCM_RIGHTS`.
    Listener,
    /// `stage` failed with `errno`; the child exits.
    Failed {
        /// The step that failed.
        stage: Stage,
        /// Its error.
        errno: Errno,
    },
    /// A pidfd of the program's process, attached by `SCM_RIGHTS`: the
    /// sandbox's init started it.
    Program,
}

/// The parent's one message to the child: it can reach the child's memory,
/// so the child may go on and execute the program.
pub(crate) const MEMORY_REACHED: u8 = 3;

const LISTENER: u8 = 1;
const FAILED: u8 = 2;
const PROGRAM: u8 = 3;
const LISTENER_LEN: usize = 1;
const FAILED_LEN: usize = 6;
const PROGRAM_LEN: usize = 1;

/// The longest message; a receive buffer larger than this detects longer ones.
pub(crate) const MAX_LEN: usize = FAILED_LEN;

impl SetupMsg {
    /// The bytes on the wire: a kind byte, then for `Failed` the stage and
    /// the errno (`i32`, little-endian).
    pub(crate) fn encode(self) -> Vec<u8> {
        match self {
            SetupMsg::Listener => vec![LISTENER],
            SetupMsg::Program => vec![PROGRAM],
            SetupMsg::Failed { stage, errno } => {
                let mut out = Vec::with_capacity(FAILED_LEN);
                out.push(FAILED);
                out.push(stage as u8);
                out.extend_from_slice(&(errno as i32).to_le_bytes());
                out
            }
        }
    }

    /// Parses one record; anything but an exact encoding is an error.
    pub(crate) fn decode(bytes: &[u8]) -> Result<SetupMsg, SetupMsgError> {
        let (&kind, _) = bytes.split_first().ok_or(SetupMsgError::Empty)?;
        let need = match kind {
            LISTENER => LISTENER_LEN,
            FAILED => FAILED_LEN,
            PROGRAM => PROGRAM_LEN,
            other => return Err(SetupMsgError::UnknownKind(other)),
        };
        let len = bytes.len();
        if len < need {
            return Err(SetupMsgError::Truncated { len, need });
        }
        if len > need {
            return Err(SetupMsgError::TooLong { len, need });
        }
        match bytes {
            [LISTENER] => Ok(SetupMsg::Listener),
            [PROGRAM] => Ok(SetupMsg::Program),
            [FAILED, stage, e0, e1, e2, e3] => {
                let stage = Stage::try_from(*stage)?;
                let raw = i32::from_le_bytes([*e0, *e1, *e2, *e3]);
                let errno = Errno::from_raw(raw);
                if raw <= 0 || errno == Errno::UnknownErrno {
                    return Err(SetupMsgError::BadErrno(raw));
                }
                Ok(SetupMsg::Failed { stage, errno })
            }
            _ => Err(SetupMsgError::UnknownKind(kind)),
        }
    }

    /// How many descriptors travel with the message.
    pub(crate) fn descriptors(self) -> usize {
        match self {
            SetupMsg::Listener | SetupMsg::Program => 1,
            SetupMsg::Failed { .. } => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Stage; 17] = [
        Stage::NoNewPrivs,
        Stage::SwitchUser,
        Stage::DropCapabilities,
        Stage::ParentDeathSignal,
        Stage::Landlock,
        Stage::CloseDescriptors,
        Stage::NotifyFilter,
        Stage::SendListener,
        Stage::DenyFilter,
        Stage::SignalMask,
        Stage::Exec,
        Stage::JoinCgroups,
        Stage::UserNamespace,
        Stage::Rlimits,
        Stage::NoTerminal,
        Stage::Namespaces,
        Stage::Init,
    ];

    #[test]
    fn stages_round_trip_and_are_named() {
        for (i, stage) in ALL.into_iter().enumerate() {
            assert_eq!(stage as u8 as usize, i);
            assert_eq!(Stage::try_from(stage as u8), Ok(stage));
            assert_eq!(stage.to_string(), stage.name());
        }
        assert_eq!(Stage::Exec.to_string(), "execve");
        assert_eq!(Stage::DenyFilter.name(), "deny filters");
        for n in ALL.len() as u8..=u8::MAX {
            assert_eq!(Stage::try_from(n), Err(SetupMsgError::UnknownStage(n)));
        }
    }

    #[test]
    fn messages_round_trip() {
        let mut msgs = vec![SetupMsg::Listener, SetupMsg::Program];
        for stage in ALL {
            for errno in [Errno::EPERM, Errno::ENOENT, Errno::EACCES] {
                msgs.push(SetupMsg::Failed { stage, errno });
            }
        }
        for msg in msgs {
            let bytes = msg.encode();
            assert!(bytes.len() <= MAX_LEN);
            assert_eq!(SetupMsg::decode(&bytes), Ok(msg));
        }
        assert_eq!(SetupMsg::Listener.descriptors(), 1);
        assert_eq!(SetupMsg::Program.descriptors(), 1);
        assert_eq!(
            SetupMsg::Failed {
                stage: Stage::Exec,
                errno: Errno::ENOENT
            }
            .descriptors(),
            0
        );
    }

    #[test]
    fn truncated_messages_are_errors() {
        let failed = SetupMsg::Failed {
            stage: Stage::Landlock,
            errno: Errno::EPERM,
        }
        .encode();
        assert_eq!(SetupMsg::decode(&[]), Err(SetupMsgError::Empty));
        for len in 1..failed.len() {
            assert_eq!(
                SetupMsg::decode(&failed[..len]),
                Err(SetupMsgError::Truncated {
                    len,
                    need: FAILED_LEN
                })
            );
        }
    }

    #[test]
    fn unknown_or_malformed_messages_are_errors() {
        assert_eq!(SetupMsg::decode(&[0]), Err(SetupMsgError::UnknownKind(0)));
        assert_eq!(
            SetupMsg::decode(&[PROGRAM, 0]),
            Err(SetupMsgError::TooLong { len: 2, need: 1 })
        );
        assert_eq!(
            SetupMsg::decode(&[9, 1, 2]),
            Err(SetupMsgError::UnknownKind(9))
        );
        assert_eq!(
            SetupMsg::decode(&[LISTENER, 0]),
            Err(SetupMsgError::TooLong { len: 2, need: 1 })
        );
        assert_eq!(
            SetupMsg::decode(&[FAILED, 4, 1, 0, 0, 0, 0]),
            Err(SetupMsgError::TooLong { len: 7, need: 6 })
        );
        assert_eq!(
            SetupMsg::decode(&[FAILED, 17, 1, 0, 0, 0]),
            Err(SetupMsgError::UnknownStage(17))
        );
        assert_eq!(
            SetupMsg::decode(&[FAILED, 4, 0, 0, 0, 0]),
            Err(SetupMsgError::BadErrno(0))
        );
        assert_eq!(
            SetupMsg::decode(&[FAILED, 4, 0xff, 0xff, 0xff, 0xff]),
            Err(SetupMsgError::BadErrno(-1))
        );
        assert_eq!(
            SetupMsg::decode(&[FAILED, 4, 0x39, 0x30, 0, 0]),
            Err(SetupMsgError::BadErrno(12345))
        );
    }

    #[test]
    fn only_exact_encodings_are_accepted() {
        // Any first two bytes, in records up to two bytes longer than the
        // longest message: no panic, and whatever decodes re-encodes the same.
        let mut buf = [0u8; MAX_LEN + 2];
        buf[2] = Errno::EPERM as u8;
        let mut accepted = 0;
        for len in 0..=buf.len() {
            for first in 0..=u8::MAX {
                for second in 0..=u8::MAX {
                    buf[0] = first;
                    buf[1] = second;
                    if let Ok(msg) = SetupMsg::decode(&buf[..len]) {
                        assert_eq!(msg.encode(), &buf[..len]);
                        accepted += 1;
                    }
                }
            }
        }
        // The listener and the program (any second byte, unused at length
        // 1) and each stage.
        assert_eq!(accepted, 2 * 256 + ALL.len());
    }
}
