//! User identity: the opaque token a client keeps across reconnects, so cooldowns follow the user.

use std::fmt;
use std::str::FromStr;

/// 128 random bits as 32 lowercase hex characters. Issued by the server on a client's first
/// connection and presented again as `?token=` (websocket) or `"token"` (HTTP).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserToken(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token {0:?} is not 32 lowercase hex characters")]
pub struct BadToken(pub String);

impl UserToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random source is available");
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UserToken {
    type Err = BadToken;
    fn from_str(s: &str) -> Result<Self, BadToken> {
        let ok = s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BadToken(s.chars().take(64).collect()))
        }
    }
}

impl fmt::Display for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_and_differ() {
        let a = UserToken::generate();
        let b = UserToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().parse::<UserToken>().unwrap(), a);
        assert!("ABC".parse::<UserToken>().is_err());
        assert!("g".repeat(32).parse::<UserToken>().is_err());
    }
}
