//! Passwords, hashed with argon2id (memory-hard) off the runtime threads.
//!
//! The one thing to know: a sign-in for a name that does not exist still
//! verifies against a hash, so the answer takes as long as for a real
//! user with a wrong password — no user enumeration by timing.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;

/// The shortest password accepted.
pub const MIN_LEN: usize = 8;
/// Longer passwords are refused: argon2 would hash them, but nobody types 256
/// characters, and the bound keeps one request's work bounded.
pub const MAX_LEN: usize = 256;

/// Why a password cannot be used.
pub fn check(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(format!("at least {MIN_LEN} characters"));
    }
    if n > MAX_LEN {
        return Err(format!("at most {MAX_LEN} characters"));
    }
    if password.chars().any(char::is_control) {
        return Err("no control characters".into());
    }
    Ok(())
}

/// The PHC string (`$argon2id$…`) of `password`, computed on a blocking thread.
pub async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// A hash of nothing anyone knows, to verify against when the name is unknown.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let password = super::secret::random_hex(16);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

/// Whether `password` matches `stored` (or, with no stored hash, spend the
/// same time and say no).
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let real = stored.is_some();
        let stored = stored.unwrap_or_else(|| decoy().to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else { return false };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && real
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse".into()).await.unwrap();
        let b = hash("correct horse".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse".into(), Some(a.clone())).await);
        assert!(!verify("wrong horse".into(), Some(a)).await);
        assert!(!verify("correct horse".into(), None).await);
        assert!(check("short").is_err() && check("long enough").is_ok() && check("bell\u{7}bell").is_err());
    }
}
