//! The callers waiting for their commands: a slab keyed by the request token the core
//! carries, holding each caller's reply slot and data buffers between attempts.
//!
//! Owns buffer recycling across attempts (a read's buffer goes back into the next attempt,
//! never a fresh zeroed allocation) and the rule that only a good completion delivers data.

use bytes::{Bytes, BytesMut};
use unjam_core::fast_hash::FastMap;
use unjam_core::Completion;
use unjam_iscsi::session::DataDirection;

use super::mailbox::{Mailbox, ReplyTo};
use crate::command::{CommandOutcome, IoError, Transfer};

/// Where a caller's answer goes: its reply slot, or nobody (the multipath layer's own
/// commands).
pub(crate) type Reply = Option<ReplyTo>;

/// One caller's command.
#[derive(Debug)]
pub(crate) struct Caller {
    reply: Reply,
    /// Read length, or the write data.
    direction: DataDirection,
    /// A read's idle buffer between attempts.
    buffer: Option<BytesMut>,
    /// The data of the last attempt.
    data: Bytes,
    /// Why the last attempt ended without a status.
    transport_error: Option<String>,
}

impl Caller {
    pub fn new(transfer: Transfer, reply: Reply) -> Caller {
        let (direction, buffer) = match transfer {
            Transfer::None => (DataDirection::None, None),
            Transfer::In { length, buffer } => (DataDirection::Read { length }, Some(buffer)),
            Transfer::Out(data) => (DataDirection::Write { data }, None),
        };
        Caller {
            reply,
            direction,
            buffer,
            data: Bytes::new(),
            transport_error: None,
        }
    }

    /// The direction and read buffer for the next attempt (the last attempt's data buffer
    /// is reused when nothing else holds it).
    pub fn next_attempt(&mut self) -> (DataDirection, BytesMut) {
        let buffer = match self.buffer.take() {
            Some(buffer) => buffer,
            None => std::mem::take(&mut self.data)
                .try_into_mut()
                .unwrap_or_default(),
        };
        (self.direction.clone(), buffer)
    }

    /// An attempt ended with data (possibly empty) or without a status.
    pub fn attempt_done(&mut self, data: Bytes, transport_error: Option<String>) {
        self.data = data;
        self.transport_error = transport_error;
    }

    /// An attempt could not be sent: its buffer comes back.
    pub fn attempt_refused(&mut self, buffer: BytesMut, transport_error: String) {
        self.buffer = Some(buffer);
        self.data = Bytes::new();
        self.transport_error = Some(transport_error);
    }

    /// Answers the caller once with the core's completion: the outcome is written in place
    /// into the caller's reply slot (its data and error taken out of this caller).
    pub fn complete(&mut self, completion: &Completion, mailbox: &Mailbox) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        let ok = completion.status == unjam_scsi::BlkStatus::Ok;
        let data = if ok {
            std::mem::take(&mut self.data)
        } else {
            Bytes::new()
        };
        let transport_error = if ok {
            None
        } else {
            self.transport_error.take()
        };
        mailbox.answer_with(reply, move |answer| {
            *answer = Some(Ok(CommandOutcome {
                status: completion.status,
                result: completion.result,
                sense: completion.sense,
                attempts: completion.attempts,
                counted_retries: completion.counted_retries,
                resid: completion.resid,
                data,
                transport_error,
            }));
        });
    }

    /// The data of the last attempt (the multipath layer's own commands).
    pub fn into_data(self) -> Bytes {
        self.data
    }

    pub fn fail(self, error: IoError, mailbox: &Mailbox) {
        if let Some(reply) = self.reply {
            mailbox.answer(reply, Err(error));
        }
    }
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    caller: Option<Caller>,
}

/// Callers by token (`generation << 32 | index`), with a free list.
#[derive(Debug, Default)]
pub(crate) struct Callers {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The multipath layer's token of a request on a path → the caller it carries
    /// (`engine::mpath`); empty without multipath devices.
    aliases: FastMap<u64, u64>,
}

impl Callers {
    pub fn with_capacity(capacity: usize) -> Callers {
        Callers {
            slots: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            aliases: FastMap::default(),
        }
    }

    /// Inline, so that the caller can be built where it goes.
    #[inline]
    pub fn insert(&mut self, caller: Caller) -> u64 {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    caller: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.caller = Some(caller);
        u64::from(slot.generation) << 32 | u64::from(index)
    }

    /// Makes `alias` (a multipath layer token) name the caller of `token`.
    pub fn alias(&mut self, alias: u64, token: u64) {
        self.aliases.insert(alias, token);
    }

    /// Ends an alias; the caller's own token.
    pub fn unalias(&mut self, alias: u64) -> Option<u64> {
        self.aliases.remove(&alias)
    }

    pub fn get_mut(&mut self, token: u64) -> Option<&mut Caller> {
        let token = if unjam_multipath::is_multipath_token(token) {
            *self.aliases.get(&token)?
        } else {
            token
        };
        self.live_slot(token)?.caller.as_mut()
    }

    /// The slot `token` names while its generation is current (a stale token names none).
    fn live_slot(&mut self, token: u64) -> Option<&mut Slot> {
        let slot = self.slots.get_mut((token & 0xffff_ffff) as usize)?;
        (u64::from(slot.generation) == token >> 32).then_some(slot)
    }

    /// Answers the caller of `token` with the core's completion ([`Caller::complete`]) and
    /// frees its entry, without moving the caller out of the slab.
    pub fn complete(&mut self, token: u64, completion: &Completion, mailbox: &Mailbox) {
        let Some(slot) = self.live_slot(token) else {
            return;
        };
        let Some(caller) = slot.caller.as_mut() else {
            return;
        };
        caller.complete(completion, mailbox);
        slot.caller = None;
        self.release(token);
    }

    pub fn remove(&mut self, token: u64) -> Option<Caller> {
        let caller = self.live_slot(token)?.caller.take()?;
        self.release(token);
        Some(caller)
    }

    /// Puts the entry of `token`, whose caller was just taken, back on the free list.
    fn release(&mut self, token: u64) {
        self.free.push((token & 0xffff_ffff) as u32);
    }

    /// Every waiting caller (at shutdown).
    pub fn drain(&mut self) -> Vec<Caller> {
        let callers: Vec<Caller> = self
            .slots
            .iter_mut()
            .filter_map(|slot| slot.caller.take())
            .collect();
        self.slots.clear();
        self.free.clear();
        self.aliases.clear();
        callers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_one_request_and_go_stale() {
        let mut callers = Callers::default();
        let first = callers.insert(Caller::new(Transfer::None, None));
        assert!(callers.get_mut(first).is_some());
        assert!(callers.remove(first).is_some());
        let second = callers.insert(Caller::new(Transfer::None, None));
        assert_eq!(second & 0xffff_ffff, first & 0xffff_ffff, "slot reused");
        assert!(callers.get_mut(first).is_none(), "old token is stale");
        assert!(callers.remove(first).is_none());
        assert!(callers.remove(second).is_some());
    }

    #[test]
    fn a_read_buffer_is_reused_across_attempts() {
        let reply = None;
        let buffer = BytesMut::with_capacity(8192);
        let pointer = buffer.as_ptr();
        let mut caller = Caller::new(
            Transfer::In {
                length: 4096,
                buffer,
            },
            reply,
        );
        let (_, mut first) = caller.next_attempt();
        assert_eq!(first.as_ptr(), pointer);
        first.extend_from_slice(&[7u8; 4096]);
        caller.attempt_done(first.freeze(), None);
        let (direction, second) = caller.next_attempt();
        assert_eq!(direction, DataDirection::Read { length: 4096 });
        assert_eq!(
            second.as_ptr(),
            pointer,
            "the last attempt's buffer comes back"
        );
    }
}
