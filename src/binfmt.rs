//! How the kernel finds a program's interpreter: the `#!` line of a script
//! (as `binfmt_script` reads it) and the `PT_INTERP` of an ELF file.
//!
//! Pure parsing of the first bytes of a file, which the caller reads: no I/O
//! here. `fdbroker run` follows these interpreters to grant Landlock
//! `Execute` on them; learn mode records them as executed.

/// How many bytes of a file the kernel reads to recognise its format
/// (`BINPRM_BUF_SIZE`); a `#!` line is only looked for within them.
pub const BINPRM_BUF_SIZE: usize = 256;

/// A script's `#!` line, split as the kernel splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shebang<'a> {
    /// The interpreter's path, never empty.
    pub interpreter: &'a [u8],
    /// The single optional argument (inner blanks kept); it can be empty
    /// when nothing but a NUL follows the blank after the interpreter.
    pub argument: Option<&'a [u8]>,
}

fn blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The `#!` line of a file whose first bytes are `head`, by the kernel's
/// rules (`fs/binfmt_script.c`); `None` when the kernel would not run it as
/// a script (or would find no interpreter to open):
///
/// - Only the first [`BINPRM_BUF_SIZE`] bytes count; a shorter file reads
///   as if padded with NUL bytes. They must start with `#!`.
/// - The line ends at the first newline among them (a NUL before it hides
///   it). Without one, the line is the first 255 bytes, and only when the
///   interpreter ends (at a blank or NUL) within them: a possibly truncated
///   interpreter path is refused.
/// - Blanks are spaces and tabs only: a carriage return is an ordinary byte,
///   so a CRLF script names `/bin/sh\r`.
/// - Blanks at the end of the line are trimmed (those before NUL padding are
///   not: the line ends at the padding, after them).
/// - Leading blanks are skipped; the interpreter runs up to the first blank
///   or NUL. An empty interpreter is `None`.
/// - After a blank, the rest of the line, leading blanks skipped, is one
///   argument, up to a NUL.
///
/// ```
/// use fdbroker::binfmt::{shebang, Shebang};
/// assert_eq!(
///     shebang(b"#! /usr/bin/env  python3 -u \nprint()"),
///     Some(Shebang { interpreter: b"/usr/bin/env", argument: Some(b"python3 -u") })
/// );
/// assert_eq!(shebang(b"\x7fELF"), None);
/// ```
pub fn shebang(head: &[u8]) -> Option<Shebang<'_>> {
    const LAST: usize = BINPRM_BUF_SIZE - 1;
    let at = |i: usize| head.get(i).copied().unwrap_or(0);
    if at(0) != b'#' || at(1) != b'!' {
        return None;
    }
    // strnchr: the newline search stops at a NUL.
    let newline = (0..BINPRM_BUF_SIZE)
        .map(at)
        .take_while(|&c| c != 0)
        .position(|c| c == b'\n');
    let mut end = match newline {
        Some(n) => n,
        None => {
            let first = (2..=LAST).find(|&i| !blank(at(i)))?;
            (first..=LAST).find(|&i| blank(at(i)) || at(i) == 0)?;
            LAST
        }
    };
    while end > 2 && blank(at(end - 1)) {
        end -= 1;
    }
    let name = (2..=end).find(|&i| !blank(at(i))).filter(|&i| i != end)?;
    let sep = (name..=end).find(|&i| blank(at(i)) || at(i) == 0);
    let arg = match sep {
        Some(s) if at(s) != 0 => (s..=end).find(|&i| !blank(at(i))),
        _ => None,
    };
    // The kernel cuts the line into C strings: the interpreter ends at the
    // separator when an argument follows, else at the line's end; each
    // string also ends at its first NUL.
    let name_end = match (arg, sep) {
        (Some(_), Some(s)) => s,
        _ => end,
    };
    let interpreter = c_string(head, name, name_end);
    if interpreter.is_empty() {
        return None;
    }
    Some(Shebang {
        interpreter,
        argument: arg.map(|a| c_string(head, a, end)),
    })
}

/// `head[start..end]` up to its first NUL (the padding past `head` is NUL).
fn c_string(head: &[u8], start: usize, end: usize) -> &[u8] {
    let s = head.get(start..end.min(head.len())).unwrap_or(&[]);
    let len = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    &s[..len]
}

/// The interpreter named by a `#!` line: [`shebang`]'s interpreter.
///
/// ```
/// use fdbroker::binfmt::shebang_interpreter;
/// assert_eq!(shebang_interpreter(b"#! /bin/sh -e\necho"), Some(&b"/bin/sh"[..]));
/// assert_eq!(shebang_interpreter(b"\x7fELF"), None);
/// ```
pub fn shebang_interpreter(head: &[u8]) -> Option<&[u8]> {
    shebang(head).map(|s| s.interpreter)
}

/// The `PT_INTERP` path of a 64-bit little-endian ELF file, from its first
/// bytes (`head`); `None` for anything else or when it lies beyond `head`.
pub fn elf_interpreter(head: &[u8]) -> Option<&[u8]> {
    const PT_INTERP: u32 = 3;
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| head.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        head.get(o..o + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |o: usize| {
        head.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    if phentsize < 56 {
        return None;
    }
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? == PT_INTERP {
            let off = usize::try_from(u64_at(ph.checked_add(8)?)?).ok()?;
            let size = usize::try_from(u64_at(ph.checked_add(32)?)?).ok()?;
            let raw = head.get(off..off.checked_add(size)?)?;
            let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
            return Some(&raw[..end]).filter(|s| !s.is_empty());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(head: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
        shebang(head).map(|s| (s.interpreter, s.argument))
    }

    #[test]
    fn shebangs() {
        assert_eq!(
            shebang_interpreter(b"#!/usr/bin/env python3\n"),
            Some(&b"/usr/bin/env"[..])
        );
        assert_eq!(shebang_interpreter(b"#!/bin/sh"), Some(&b"/bin/sh"[..]));
        assert_eq!(
            shebang_interpreter(b"#!\t/bin/bash\t-x\n"),
            Some(&b"/bin/bash"[..])
        );
        assert_eq!(shebang_interpreter(b"#!   \n"), None);
        assert_eq!(shebang_interpreter(b"#!"), None);
        assert_eq!(shebang_interpreter(b""), None);
        assert_eq!(shebang_interpreter(b"echo hi"), None);
    }

    #[test]
    fn shebang_lines() {
        assert_eq!(split(b"#!/bin/sh\necho"), Some((&b"/bin/sh"[..], None)));
        assert_eq!(
            split(b"#! /usr/bin/env  python3 -u \nx"),
            Some((&b"/usr/bin/env"[..], Some(&b"python3 -u"[..])))
        );
        assert_eq!(split(b"#!\n"), None);
        assert_eq!(split(b"echo"), None);
        assert_eq!(split(b"#!/bin/sh\r\n"), Some((&b"/bin/sh\r"[..], None)));
    }

    #[test]
    fn carriage_returns_are_ordinary_bytes() {
        assert_eq!(
            split(b"#!/bin/sh -e\r\n"),
            Some((&b"/bin/sh"[..], Some(&b"-e\r"[..])))
        );
        assert_eq!(split(b"#!\r\n"), Some((&b"\r"[..], None)));
    }

    #[test]
    fn tabs_are_blanks() {
        assert_eq!(
            split(b"#!\t/bin/echo\t a\tb \t\n"),
            Some((&b"/bin/echo"[..], Some(&b"a\tb"[..])))
        );
        assert_eq!(split(b"#!\t\t\n"), None);
    }

    #[test]
    fn no_newline() {
        // A short file is NUL-padded: the line ends there, trailing blanks
        // before the padding included, and a lone blank gives an empty argument.
        assert_eq!(split(b"#!/bin/sh"), Some((&b"/bin/sh"[..], None)));
        assert_eq!(
            split(b"#!/bin/echo -e  "),
            Some((&b"/bin/echo"[..], Some(&b"-e  "[..])))
        );
        assert_eq!(
            split(b"#!/bin/echo "),
            Some((&b"/bin/echo"[..], Some(&b""[..])))
        );
        assert_eq!(split(b"#!  "), None);
    }

    #[test]
    fn nul_bytes_end_strings() {
        assert_eq!(
            split(b"#!/bin/echo a\0b\n"),
            Some((&b"/bin/echo"[..], Some(&b"a"[..])))
        );
        assert_eq!(split(b"#!/bin/sh\0 -e\n"), Some((&b"/bin/sh"[..], None)));
        assert_eq!(
            split(b"#!/bin/echo\t\0x"),
            Some((&b"/bin/echo"[..], Some(&b""[..])))
        );
        // An empty interpreter.
        assert_eq!(split(b"#! \0/bin/sh\n"), None);
        // A newline after a NUL is not seen.
        assert_eq!(split(b"#!/bin/sh\0\n"), Some((&b"/bin/sh"[..], None)));
    }

    #[test]
    fn overlong_lines() {
        // The argument is cut at the buffer's last byte.
        let mut long_arg = b"#!/bin/echo ".to_vec();
        long_arg.extend([b'y'; 300]);
        long_arg.push(b'\n');
        let s = shebang(&long_arg).unwrap();
        assert_eq!(s.interpreter, b"/bin/echo");
        assert_eq!(s.argument, Some(&long_arg[12..BINPRM_BUF_SIZE - 1]));
        // Blanks just before the cut are trimmed.
        let mut blanks = b"#!/bin/echo ".to_vec();
        blanks.extend([b'y'; 241]);
        blanks.extend(b"  zzzz");
        let s = shebang(&blanks).unwrap();
        assert_eq!(s.argument, Some(&blanks[12..253]));
        // An interpreter that may be truncated is refused.
        let mut long_name = b"#!/".to_vec();
        long_name.extend([b'/'; 260]);
        long_name.extend(b"bin/sh\n");
        assert_eq!(shebang(&long_name), None);
        // Only blanks within the buffer.
        let mut spaces = b"#!".to_vec();
        spaces.extend([b' '; 300]);
        spaces.extend(b"/bin/sh\n");
        assert_eq!(shebang(&spaces), None);
        // An interpreter ending exactly at the last byte's blank.
        let mut edge = b"#!/".to_vec();
        edge.extend([b'a'; 252]);
        edge.push(b' ');
        assert_eq!(edge.len(), BINPRM_BUF_SIZE);
        assert_eq!(split(&edge), Some((&edge[2..255], None)));
    }

    #[test]
    fn any_input_is_safe() {
        let mut head = Vec::new();
        for n in 0..300u16 {
            head.push(match n % 7 {
                0 => b' ',
                1 => b'\t',
                2 => b'\n',
                3 => 0,
                _ => b'x',
            });
            let mut script = b"#!".to_vec();
            script.extend(&head);
            if let Some(s) = shebang(&script) {
                assert!(!s.interpreter.is_empty());
                assert!(
                    !s.interpreter
                        .iter()
                        .any(|&c| blank(c) || c == 0 || c == b'\n')
                );
            }
        }
    }

    #[test]
    fn elf_interp_of_real_binaries() {
        let sh = std::fs::read("/bin/sh").unwrap();
        let interp = elf_interpreter(&sh).expect("dynamically linked /bin/sh");
        assert!(
            interp.starts_with(b"/lib"),
            "{:?}",
            String::from_utf8_lossy(interp)
        );
        // Truncated or foreign input never panics and gives nothing.
        for n in [0, 4, 63, 64, 100, 200] {
            let _ = elf_interpreter(&sh[..n.min(sh.len())]);
        }
        let mut bad = sh[..128].to_vec();
        bad[0x36] = 0xff; // phentsize
        bad[0x38] = 0xff; // phnum
        bad[0x37] = 0xff;
        bad[0x39] = 0xff;
        assert_eq!(elf_interpreter(&bad), None);
        assert_eq!(elf_interpreter(b"\x7fELF\x01\x01"), None);
    }
}
