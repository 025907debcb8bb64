//! Small synchronisation helpers shared by the runtime's modules.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a std mutex, recovering the data if a panicking thread poisoned it: every critical
/// section in the runtime leaves its data consistent before it can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
