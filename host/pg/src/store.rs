//! [`PgJournal`] behind the engine's storage boundary ([`JournalStore`]).

use std::sync::Arc;

use async_trait::async_trait;
use dialsync_sync::{
    ClaimedKey, ComplianceAlert, ContactStatus, DeadLetter, JournalError, JournalStore, KeyResult,
    NewBatch, Outcome,
};

use crate::{PgError, PgJournal};

fn backend(e: PgError) -> JournalError {
    JournalError::Backend {
        backend: "postgres",
        message: e.to_string(),
    }
}

#[async_trait]
impl JournalStore for PgJournal {
    fn backend(&self) -> &'static str {
        "postgres"
    }
    fn owner(&self) -> &str {
        PgJournal::owner(self)
    }
    async fn accept_group(
        &self,
        batches: Vec<NewBatch>,
        now_ms: i64,
    ) -> Result<Vec<Vec<i64>>, JournalError> {
        PgJournal::accept_group(self, batches, now_ms)
            .await
            .map_err(backend)
    }
    async fn delivery(&self, source: &str, id: &str) -> Result<Option<String>, JournalError> {
        PgJournal::delivery(self, source, id).await.map_err(backend)
    }
    async fn known_deliveries(
        &self,
        source: &str,
        ids: Vec<String>,
    ) -> Result<Vec<String>, JournalError> {
        PgJournal::known_deliveries(self, source, &ids)
            .await
            .map_err(backend)
    }
    async fn claim_ready(
        &self,
        now_ms: i64,
        max_keys: usize,
        lists: Vec<String>,
    ) -> Result<Vec<ClaimedKey>, JournalError> {
        PgJournal::claim_ready(self, now_ms, max_keys, &lists)
            .await
            .map_err(backend)
    }
    async fn renew(&self, now_ms: i64) -> Result<(), JournalError> {
        PgJournal::renew(self, now_ms).await.map_err(backend)
    }
    async fn release(&self) -> Result<(), JournalError> {
        PgJournal::release(self).await.map(|_| ()).map_err(backend)
    }
    async fn finish(
        &self,
        results: Vec<(String, String, KeyResult)>,
        now_ms: i64,
    ) -> Result<usize, JournalError> {
        PgJournal::finish(self, &results, now_ms)
            .await
            .map_err(backend)
    }
    async fn unfinished(&self) -> Result<u64, JournalError> {
        PgJournal::unfinished(self).await.map_err(backend)
    }
    async fn unfinished_in(
        &self,
        lists: Vec<String>,
        alert_attempts: u32,
    ) -> Result<u64, JournalError> {
        PgJournal::unfinished_in(self, &lists, alert_attempts)
            .await
            .map_err(backend)
    }
    async fn compliance_alerts(
        &self,
        min_attempts: u32,
    ) -> Result<Vec<ComplianceAlert>, JournalError> {
        PgJournal::compliance_alerts(self, min_attempts)
            .await
            .map_err(backend)
    }
    async fn next_ready_at(&self, lists: Vec<String>) -> Result<Option<i64>, JournalError> {
        PgJournal::next_ready_at(self, &lists)
            .await
            .map_err(backend)
    }
    async fn status(
        &self,
        external_id: String,
        source: Option<String>,
    ) -> Result<Vec<ContactStatus>, JournalError> {
        PgJournal::status(self, &external_id, source.as_deref())
            .await
            .map_err(backend)
    }
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, JournalError> {
        PgJournal::dead_letters(self).await.map_err(backend)
    }
    async fn replay(
        &self,
        ids: Option<Vec<i64>>,
        now_ms: i64,
    ) -> Result<(Vec<i64>, Vec<i64>), JournalError> {
        PgJournal::replay(self, ids.as_deref(), now_ms)
            .await
            .map_err(backend)
    }
    async fn prune(&self, before_ms: i64) -> Result<u64, JournalError> {
        PgJournal::prune(self, before_ms).await.map_err(backend)
    }
    async fn start_run(&self, source: &str, input: &str, now_ms: i64) -> Result<i64, JournalError> {
        PgJournal::start_run(self, source, input, now_ms)
            .await
            .map_err(backend)
    }
    async fn finish_run(&self, id: i64, report: &str, now_ms: i64) -> Result<(), JournalError> {
        PgJournal::finish_run(self, id, report, now_ms)
            .await
            .map_err(backend)
    }
    async fn outcome_counts(
        &self,
        run_id: Option<i64>,
    ) -> Result<Vec<(Outcome, u64)>, JournalError> {
        PgJournal::outcome_counts(self, run_id)
            .await
            .map_err(backend)
    }
    async fn run_failures(
        &self,
        run_id: i64,
        outcome: Outcome,
    ) -> Result<Vec<(i64, String, Option<String>)>, JournalError> {
        PgJournal::run_failures(self, run_id, outcome)
            .await
            .map_err(backend)
    }
    fn work_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.signal()
    }
}
