//! The table of wakers that the stop wakes: one per pending
//! [`Stopped`](crate::Stopped) future of a context.

use std::task::Waker;

/// The wakers of the pending [`Stopped`](crate::Stopped) futures of one context: a slab whose
/// free slots are reused. Guarded by the context's lock.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Wakers {
    /// Stores `waker` in `slot` (taking a slot first if there is none yet). A
    /// waker that would wake the same task as the stored one is not cloned again.
    pub(crate) fn register(&mut self, slot: &mut Option<usize>, waker: &Waker) {
        let index = match *slot {
            Some(index) if index < self.slots.len() => index,
            _ => {
                let index = match self.free.pop() {
                    Some(index) => index,
                    None => {
                        self.slots.push(None);
                        self.slots.len() - 1
                    }
                };
                *slot = Some(index);
                index
            }
        };
        match &mut self.slots[index] {
            Some(stored) if stored.will_wake(waker) => {}
            entry => *entry = Some(waker.clone()),
        }
    }

    /// Frees `slot` (its future is gone).
    pub(crate) fn remove(&mut self, slot: usize) {
        if let Some(entry) = self.slots.get_mut(slot)
            && entry.take().is_some()
        {
            self.free.push(slot);
        }
    }

    /// Takes every stored waker, leaving the table empty.
    pub(crate) fn take_all(&mut self) -> Vec<Waker> {
        self.free.clear();
        std::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }
}
