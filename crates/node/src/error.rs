//! The node crate's error type.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config: {0}")]
    Config(String),
    #[error(transparent)]
    Log(#[from] samenspel_eventlog::Error),
    #[error("directory: {0}")]
    Directory(#[from] samenspel_directory::Error),
    #[error("intake: {0}")]
    Intake(#[from] samenspel_intake::Error),
    #[error("matching: {0}")]
    Matching(#[from] samenspel_matching::Error),
    #[error("follow-up: {0}")]
    FollowUp(#[from] samenspel_followup::Error),
    #[error("privacy: {0}")]
    Privacy(#[from] samenspel_privacy::Error),
    #[error("key store: {0}")]
    Keys(#[from] samenspel_keys::Error),
    #[error("federation: {0}")]
    Federation(#[from] samenspel_federation::Error),
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A file or directory the node could not use, by its path.
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A listening socket's own failure (its address is in the message where known).
    #[error("socket")]
    Socket(#[source] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An io error `what` did at `path` ("cannot create the data directory", …).
    pub fn io(what: &'static str, path: impl Into<std::path::PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}
