//! The lock on a producer thread's buffer: held by its producer for one
//! push and by the writer for one swap, so it spins rather than parks, and
//! it is released by a plain store.
//!
//! Releasing `parking_lot::Mutex` is a locked compare-and-swap (it must
//! see whether anyone parked). On x86 a locked instruction waits until
//! every store before it is visible: the 272 bytes a push just copied into
//! a buffer whose cache lines the writer last held. A profile of the light
//! span in a run put two thirds of the push's samples on that release. A
//! release *store* waits for nothing; the copy completes while the span's
//! caller goes on.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// A mutual-exclusion lock for very short critical sections between a
/// producer and the writer.
#[derive(Default)]
pub(crate) struct HandoffLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a guard, and one guard exists
// at a time (the `locked` flag, taken with acquire and released with
// release ordering), as for any mutex.
unsafe impl<T: Send> Send for HandoffLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for HandoffLock<T> {}

impl<T> HandoffLock<T> {
    /// Takes the lock: at once when it is free (one locked instruction),
    /// else spinning a little and then yielding the core to whoever holds
    /// it (on one core, the holder needs it to finish).
    #[inline]
    pub(crate) fn lock(&self) -> HandoffGuard<'_, T> {
        if self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended();
        }
        HandoffGuard { lock: self, _not_send: std::marker::PhantomData }
    }

    /// The other side holds the lock: spin while it finishes (a swap or a
    /// push take well under a microsecond), then yield the core (on one
    /// core, the holder needs it to finish), then nap, so that a holder
    /// preempted by another process does not cost a core spinning.
    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        let mut tries = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                match tries {
                    0..SPINS => std::hint::spin_loop(),
                    SPINS..YIELDS => std::thread::yield_now(),
                    _ => std::thread::sleep(NAP),
                }
                tries = tries.saturating_add(1);
            }
            if self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return;
            }
        }
    }
}

/// Busy looks at a held lock before yielding.
const SPINS: u32 = 64;
/// Looks (spins included) before napping.
const YIELDS: u32 = SPINS + 256;
/// A nap between looks at a lock held that long.
const NAP: std::time::Duration = std::time::Duration::from_micros(50);

/// Holds a [`HandoffLock`]; releases it on drop. Neither `Send` nor
/// `Sync` (as `std::sync::MutexGuard` is not `Send`): a `&` to it must not
/// hand a `&T` to another thread unless `T: Sync`, which the lock does not
/// ask of `T`.
pub(crate) struct HandoffGuard<'a, T> {
    lock: &'a HandoffLock<T>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl<T> Deref for HandoffGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for HandoffGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the
        // only reference through it.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for HandoffGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;

    /// Two threads (a producer and a writer, as in the pipeline) and a
    /// third that only reads, each taking the lock 200 000 times: every
    /// increment of a plain counter under it survives, and no thread ever
    /// sees the value another is in the middle of changing.
    #[test]
    fn the_lock_excludes_and_publishes_what_it_guards() {
        const ROUNDS: u64 = 200_000;
        let lock = Arc::new(HandoffLock::<(u64, u64)>::default());
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        let mut g = lock.lock();
                        g.0 += 1;
                        std::hint::black_box(&mut *g);
                        g.1 += 1;
                    }
                })
            })
            .collect();
        let reader = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let g = lock.lock();
                    assert_eq!(g.0, g.1, "a guard saw another's half-made change");
                }
            })
        };
        for w in workers {
            w.join().unwrap();
        }
        reader.join().unwrap();
        assert_eq!(*lock.lock(), (2 * ROUNDS, 2 * ROUNDS));
    }

    /// A holder that keeps the lock past the spins and the yields (as one
    /// preempted would): the waiter naps, and takes it once it is released.
    #[test]
    fn a_waiter_gets_a_lock_held_long() {
        let lock = Arc::new(HandoffLock::<u32>::default());
        let g = lock.lock();
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || *lock.lock() + 1)
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished(), "the waiter took a held lock");
        drop(g);
        assert_eq!(waiter.join().unwrap(), 1);
    }
}
