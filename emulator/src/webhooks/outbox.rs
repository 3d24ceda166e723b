//! The events waiting for delivery to one destination, oldest first, in a
//! bounded queue: when it is full the oldest waiting event is dropped (and
//! the caller logs it), so a receiver that is down for hours costs a fixed
//! amount of memory, never more.

use std::collections::VecDeque;

/// Most events waiting per destination unless configured otherwise.
pub const DEFAULT_CAPACITY: usize = 1000;

#[derive(Debug)]
pub struct Outbox<T> {
    capacity: usize,
    waiting: VecDeque<T>,
}

impl<T> Outbox<T> {
    /// A queue holding at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            waiting: VecDeque::new(),
        }
    }

    /// Appends `item`; returns the oldest waiting event when it had to make
    /// room for it.
    #[must_use = "a dropped event must be logged"]
    pub fn push(&mut self, item: T) -> Option<T> {
        let dropped = (self.waiting.len() >= self.capacity)
            .then(|| self.waiting.pop_front())
            .flatten();
        self.waiting.push_back(item);
        dropped
    }

    /// The oldest waiting event.
    pub fn pop(&mut self) -> Option<T> {
        self.waiting.pop_front()
    }

    /// Removes every waiting event (the destination was cleared or the
    /// sandbox stops) and says how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.waiting.len();
        self.waiting.clear();
        n
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_leave_in_the_order_they_came() {
        let mut outbox = Outbox::new(10);
        for i in 0..5 {
            assert_eq!(outbox.push(i), None);
        }
        let out: Vec<i32> = std::iter::from_fn(|| outbox.pop()).collect();
        assert_eq!(out, [0, 1, 2, 3, 4]);
        assert!(outbox.is_empty());
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_stays_bounded() {
        let mut outbox = Outbox::new(3);
        let dropped: Vec<i32> = (0..10).filter_map(|i| outbox.push(i)).collect();
        assert_eq!(dropped, [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(outbox.len(), 3);
        assert_eq!(outbox.pop(), Some(7), "the newest three are kept, oldest first");
        assert_eq!(outbox.clear(), 2);
        let mut tiny = Outbox::new(0);
        assert_eq!(tiny.push('a'), None, "a capacity of 0 still holds one event");
        assert_eq!(tiny.push('b'), Some('a'));
    }
}
