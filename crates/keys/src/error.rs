//! What can go wrong with the key store.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("subject {subject} was erased")]
    Erased { subject: String },
    #[error("no key for subject {subject}")]
    UnknownSubject { subject: String },
    #[error("the key store {path} cannot be opened: {why}")]
    Unreadable { path: String, why: String },
    #[error("key store i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("no randomness: {0}")]
    Random(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
