//! `roost admin hash-password`: the argon2id PHC string a local account's `password_hash`
//! takes (`[[accounts]]` in the router's config file, docs/oauth.md).
//!
//! The hash is made by the router's own [`hash_password`], so its parameters are the ones the
//! router hashes and verifies with (argon2's defaults: argon2id v19, m=19456, t=2, p=1), and the
//! router's unknown-username dummy verification costs the same as a real one.
//!
//! The password comes from stdin: typed at a terminal without echo (twice, to catch a typo),
//! or piped (`printf %s "$PASSWORD" | roost admin hash-password`), one trailing newline
//! dropped. It is never a flag, which would land in shell history and `ps`.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};

use roost_router::signin::local::hash_password;

/// The shortest password accepted: the router's rule for local accounts.
const MIN_CHARS: usize = 8;

/// Why no hash was printed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Reading stdin or switching terminal echo failed.
    #[error("cannot read the password from stdin: {0}")]
    Read(String),
    /// Nothing was given.
    #[error("no password given: type it, or pipe it on stdin")]
    Empty,
    /// Too short for the router.
    #[error("the password is too short: use at least {MIN_CHARS} characters")]
    TooShort,
    /// The two typed passwords differ.
    #[error("the passwords do not match")]
    Mismatch,
    /// argon2 failed.
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// Reads the password and prints its hash on stdout.
pub async fn run() -> Result<(), PasswordError> {
    let password = tokio::task::spawn_blocking(read_password)
        .await
        .map_err(|e| PasswordError::Read(e.to_string()))??;
    let hash = hash_password(password)
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    println!("{hash}");
    Ok(())
}

fn read_password() -> Result<String, PasswordError> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = prompt("Password: ")?;
        let second = prompt("Again: ")?;
        if first != second {
            return Err(PasswordError::Mismatch);
        }
        first
    } else {
        let mut input = String::new();
        stdin
            .lock()
            .read_to_string(&mut input)
            .map_err(|e| PasswordError::Read(e.to_string()))?;
        piped_password(&input).to_owned()
    };
    check(&password)?;
    Ok(password)
}

/// A piped password: the input without its one trailing line ending (`echo` adds one), every
/// other character kept (spaces are legal in a password).
fn piped_password(input: &str) -> &str {
    input
        .strip_suffix("\r\n")
        .or_else(|| input.strip_suffix('\n'))
        .unwrap_or(input)
}

fn check(password: &str) -> Result<(), PasswordError> {
    match password.chars().count() {
        0 => Err(PasswordError::Empty),
        n if n < MIN_CHARS => Err(PasswordError::TooShort),
        _ => Ok(()),
    }
}

/// Asks on stderr and reads one line from the terminal with echo off (the newline is still
/// echoed, so the next prompt starts on its own line).
fn prompt(question: &str) -> Result<String, PasswordError> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let read_error = |e: &dyn std::fmt::Display| PasswordError::Read(e.to_string());
    let stdin = std::io::stdin();
    eprint!("{question}");
    std::io::stderr().flush().map_err(|e| read_error(&e))?;
    let original = tcgetattr(&stdin).map_err(|e| read_error(&e))?;
    let mut silent = original.clone();
    silent.local_flags.remove(LocalFlags::ECHO);
    silent.local_flags.insert(LocalFlags::ECHONL);
    tcsetattr(&stdin, SetArg::TCSANOW, &silent).map_err(|e| read_error(&e))?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    // Echo comes back whatever the read did.
    tcsetattr(&stdin, SetArg::TCSANOW, &original).map_err(|e| read_error(&e))?;
    read.map_err(|e| read_error(&e))?;
    Ok(piped_password(&line).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_line_ending_is_dropped_and_nothing_else() {
        assert_eq!(piped_password("hunter2hunter2\n"), "hunter2hunter2");
        assert_eq!(piped_password("hunter2hunter2\r\n"), "hunter2hunter2");
        assert_eq!(piped_password(" two words \n\n"), " two words \n");
        assert_eq!(piped_password("no newline"), "no newline");
    }

    #[test]
    fn empty_and_short_passwords_are_refused() {
        assert!(matches!(check(""), Err(PasswordError::Empty)));
        assert!(matches!(check("short"), Err(PasswordError::TooShort)));
        assert!(check("long enough").is_ok());
    }
}
