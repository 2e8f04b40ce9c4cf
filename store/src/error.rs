use thiserror::Error;

/// Everything the store can refuse or fail with.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A unique key (id, domain, client id, username) is already taken.
    #[error("{entity} already exists: {detail}")]
    Duplicate {
        entity: &'static str,
        detail: String,
    },
    /// The record changed since it was read (optimistic concurrency).
    #[error("{entity} was changed by someone else")]
    VersionConflict { entity: &'static str },
    /// Deleting would orphan dependents (e.g. an environment with contact centers).
    #[error("{entity} is still in use: {detail}")]
    InUse {
        entity: &'static str,
        detail: String,
    },
    /// A reference points to nothing (e.g. an unknown environment id).
    #[error("unknown {entity}: {detail}")]
    MissingReference {
        entity: &'static str,
        detail: String,
    },
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("encryption failure")]
    Crypto,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The dependency failed moments ago; refused without trying again yet.
    #[error("{0} unavailable (failing fast until it answers again)")]
    Unavailable(&'static str),
    /// A write failed or went unanswered after it was sent: it may have
    /// been committed or not.
    #[error("write in doubt: {0}")]
    InDoubt(String),
    #[error("ephemeral store error: {0}")]
    Ephemeral(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
