//! A directory whose calls are measured: latency, and `error` when the
//! directory was unavailable (a wrong password is an answer, not an error).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tollgate_store::metrics::{Dependency, DependencyTimes};
use tollgate_store::model::ContactCenter;

use super::{Directory, DirectoryError, DirectoryUser};

pub(super) struct Timed {
    pub inner: Arc<dyn Directory>,
    pub dependency: Dependency,
    pub times: DependencyTimes,
}

impl Timed {
    fn record<T>(&self, started: Instant, result: &Result<T, DirectoryError>) {
        let unavailable = matches!(result, Err(DirectoryError::Unavailable { .. }));
        self.times.record(self.dependency, started, !unavailable);
    }
}

#[async_trait]
impl Directory for Timed {
    async fn authenticate(
        &self,
        cc: &ContactCenter,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, DirectoryError> {
        let started = Instant::now();
        let result = self.inner.authenticate(cc, username, password).await;
        self.record(started, &result);
        result
    }

    async fn lookup(
        &self,
        cc: &ContactCenter,
        username: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        let started = Instant::now();
        let result = self.inner.lookup(cc, username).await;
        self.record(started, &result);
        result
    }

    async fn change_password(
        &self,
        cc: &ContactCenter,
        username: &str,
        old: &str,
        new: &str,
    ) -> Result<(), DirectoryError> {
        let started = Instant::now();
        let result = self.inner.change_password(cc, username, old, new).await;
        self.record(started, &result);
        result
    }
}
