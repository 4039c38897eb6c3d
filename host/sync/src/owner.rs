//! Lease owner ids: who holds a claim on the journal.
//!
//! An id names the host and the process id, then a random suffix (one per journal handle,
//! so two handles in one process never share claims): `host:pid:suffix`. An operator
//! reading `claim_owner` in the journal (or the per-worker metrics on PostgreSQL) can tell
//! which process holds which work, and whether that process is still alive.

/// A new lease owner id for this process: `host:pid:suffix` with a random 8-hex-digit
/// suffix.
pub fn lease_owner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{host}:{}:{suffix}", std::process::id())
}

/// The process id an owner id made by [`lease_owner_id`] names, if it has that shape.
pub fn owner_pid(owner: &str) -> Option<u32> {
    let mut parts = owner.rsplit(':');
    let _suffix = parts.next()?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_id_names_this_process_and_differs_per_handle() {
        let (a, b) = (lease_owner_id(), lease_owner_id());
        assert_ne!(a, b);
        assert_eq!(owner_pid(&a), Some(std::process::id()));
        assert_eq!(owner_pid("8c1f1c0e-6a4b-4a8e-9f00-3d2b1c0e6a4b"), None);
    }
}
