//! The one shape of Genesys's asynchronous work: submit it with one request, then poll
//! with a doubling pause until it answers or a deadline passes. Bulk contact jobs
//! ([`super::bulk`]), contact-list exports and the read-after-write re-reads of a contact
//! ([`super::contacts`]) all poll through [`poll_job`].

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::GenesysError;

/// What one poll found.
pub(crate) enum Step<T, P> {
    /// Finished: the answer.
    Done(T),
    /// Not yet; what was seen (handed to the deadline handler if this was the last poll).
    Pending(P),
}

/// The pause before the second poll, doubled per poll up to `max`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pacing {
    /// First pause.
    pub first: Duration,
    /// Longest pause.
    pub max: Duration,
}

/// Calls `check` until it answers [`Step::Done`], pausing between calls; an error from
/// `check` ends the polling. When the next pause would end after `deadline`,
/// `on_deadline` decides with the last pending value (an error that says the work may
/// still finish, or that value as the answer).
///
/// (`check` is a closure returning a future rather than an async closure: the futures of
/// async closures that borrow are not provably `Send`, which axum handlers need.)
pub(crate) async fn poll_job<T, P, F>(
    pacing: Pacing,
    deadline: Instant,
    mut check: impl FnMut() -> F,
    on_deadline: impl FnOnce(P) -> Result<T, GenesysError>,
) -> Result<T, GenesysError>
where
    F: Future<Output = Result<Step<T, P>, GenesysError>>,
{
    let mut pause = pacing.first;
    loop {
        match check().await? {
            Step::Done(answer) => return Ok(answer),
            Step::Pending(seen) => {
                if Instant::now() + pause > deadline {
                    return on_deadline(seen);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(pacing.max);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACING: Pacing = Pacing {
        first: Duration::from_millis(250),
        max: Duration::from_secs(1),
    };

    #[tokio::test(start_paused = true)]
    async fn polls_with_a_doubling_capped_pause_until_done() {
        let started = Instant::now();
        let mut seen = Vec::new();
        let answer = poll_job(
            PACING,
            started + Duration::from_secs(60),
            || {
                seen.push(started.elapsed().as_millis());
                let done = seen.len() == 5;
                async move {
                    Ok(if done {
                        Step::Done("done")
                    } else {
                        Step::Pending(())
                    })
                }
            },
            |()| unreachable!("the deadline is far"),
        )
        .await
        .unwrap();
        assert_eq!(answer, "done");
        assert_eq!(seen, [0, 250, 750, 1750, 2750]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_hands_over_the_last_pending_value() {
        let started = Instant::now();
        let mut polls = 0;
        let answer: Result<u32, _> = poll_job(
            PACING,
            started + Duration::from_millis(800),
            || {
                polls += 1;
                std::future::ready(Ok(Step::Pending(polls)))
            },
            |last| Ok(last * 100),
        )
        .await;
        // Polls at 0, 250 and 750 ms; the pause after 750 (1 s) would end past 800 ms.
        assert_eq!(answer.unwrap(), 300);
        let failed: Result<(), _> = poll_job(
            PACING,
            started,
            || {
                std::future::ready(Err(GenesysError::Job {
                    what: "job",
                    id: "j".into(),
                    message: "failed".into(),
                    timed_out: false,
                }))
            },
            |()| Ok(()),
        )
        .await;
        assert!(failed.is_err(), "an error from a poll ends the polling");
    }
}
