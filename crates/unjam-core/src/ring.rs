//! Output queues that restart at the head of their ring when they drain. Owns that one
//! rule; what goes in the queues is the caller's.

use std::collections::VecDeque;

/// The front of `queue`. When that empties it, the ring starts over at its head (`clear`
/// resets it): the next entry is written on the lines the last one used, still in cache,
/// instead of a slot further on that, with thousands of commands in flight, was evicted
/// since the ring last came round.
pub fn pop_front_rewinding<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let front = queue.pop_front()?;
    rewind_if_empty(queue);
    Some(front)
}

/// Drops the front of `queue` (already read where it lies) with the same rewind. Inline and
/// returning nothing: a popped value handed back and thrown away is still copied out.
#[inline]
pub fn drop_front_rewinding<T>(queue: &mut VecDeque<T>) {
    let _ = queue.pop_front();
    rewind_if_empty(queue);
}

#[inline]
fn rewind_if_empty<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() {
        queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_order_and_keeps_the_capacity_when_drained() {
        let mut queue: VecDeque<u32> = VecDeque::with_capacity(8);
        queue.extend([1, 2]);
        let capacity = queue.capacity();
        assert_eq!(pop_front_rewinding(&mut queue), Some(1));
        queue.push_back(3);
        assert_eq!(pop_front_rewinding(&mut queue), Some(2));
        assert_eq!(pop_front_rewinding(&mut queue), Some(3));
        assert_eq!(pop_front_rewinding(&mut queue), None);
        assert_eq!(queue.capacity(), capacity);
        queue.extend([4, 5]);
        drop_front_rewinding(&mut queue);
        assert_eq!(queue.front(), Some(&5));
        drop_front_rewinding(&mut queue);
        drop_front_rewinding(&mut queue);
        assert!(queue.is_empty());
        assert_eq!(queue.capacity(), capacity);
    }
}
