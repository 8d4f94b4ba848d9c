//! PERSISTENT RESERVE IN and OUT (SPC-4 §6.15–6.16): READ KEYS, READ RESERVATION, REPORT
//! CAPABILITIES and READ FULL STATUS; REGISTER (and IGNORE EXISTING KEY), RESERVE, RELEASE,
//! CLEAR, PREEMPT and PREEMPT AND ABORT. Scope is always the logical unit; APTPL,
//! ALL_TG_PT, SPEC_I_PT and REGISTER AND MOVE are not supported.
//!
//! Owns the parameter data layouts and the command rules; the state is `Reservations`.

use unjam_scsi::sense::SenseKey;

use super::reserve::CONFLICT;
use super::{byte, respond, PortView, Reply};
use crate::logical_unit::LogicalUnit;
use crate::reservation::{Persistent, Registration, ReservationType};

pub(super) const PERSISTENT_RESERVE_IN: u8 = 0x5e;
pub(super) const PERSISTENT_RESERVE_OUT: u8 = 0x5f;

const INVALID_FIELD_IN_PARAMETER_LIST: (u8, u8) = (0x26, 0x00);
const PARAMETER_LIST_LENGTH_ERROR: (u8, u8) = (0x1a, 0x00);
const INVALID_RELEASE: (u8, u8) = (0x26, 0x04);
const INSUFFICIENT_REGISTRATION_RESOURCES: (u8, u8) = (0x55, 0x04);

/// The parameter list length of a PERSISTENT RESERVE OUT CDB.
pub(super) fn out_parameter_length(cdb: &[u8]) -> u64 {
    u64::from(u32::from_be_bytes([
        byte(cdb, 5),
        byte(cdb, 6),
        byte(cdb, 7),
        byte(cdb, 8),
    ]))
}

pub(super) fn reserve_in(unit: &LogicalUnit, cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    let allocation_length = usize::from(u16::from_be_bytes([byte(cdb, 7), byte(cdb, 8)]));
    let reservations = &unit.reservations;
    let generation = reservations.generation().to_be_bytes();
    let mut data = generation.to_vec();
    match byte(cdb, 1) & 0x1f {
        0x00 => {
            let keys = reservations.registrations();
            data.extend_from_slice(&((keys.len() * 8) as u32).to_be_bytes());
            for registration in keys {
                data.extend_from_slice(&registration.key.to_be_bytes());
            }
        }
        0x01 => match reservations.persistent() {
            None => data.extend_from_slice(&[0; 4]),
            Some(reservation) => {
                let key = reservations
                    .registration(reservation.holder)
                    .map_or(0, |r| r.key);
                let key = if reservation.kind.all_registrants_hold() {
                    0
                } else {
                    key
                };
                data.extend_from_slice(&16u32.to_be_bytes());
                data.extend_from_slice(&key.to_be_bytes());
                data.extend_from_slice(&[0, 0, 0, 0, 0, reservation.kind as u8, 0, 0]);
            }
        },
        0x02 => {
            // LENGTH 8; CRH; TMV with ALLOW COMMANDS 001b; every type but none persistent.
            data = vec![0x00, 0x08, 0x10, 0x90, 0xea, 0x01, 0x00, 0x00];
        }
        0x03 => full_status(unit, &mut data),
        _ => return Reply::invalid_field(),
    }
    respond(data_in, &data, allocation_length)
}

/// READ FULL STATUS: one descriptor per registration, with an iSCSI TransportID.
fn full_status(unit: &LogicalUnit, data: &mut Vec<u8>) {
    let reservations = &unit.reservations;
    let mut descriptors = Vec::new();
    for registration in reservations.registrations() {
        let holder = reservations.is_holder(registration.nexus);
        let kind = reservations.persistent().map_or(0, |r| r.kind as u8);
        descriptors.extend_from_slice(&registration.key.to_be_bytes());
        descriptors.extend_from_slice(&[
            0,
            0,
            0,
            0,
            u8::from(holder),
            if holder { kind } else { 0 },
        ]);
        descriptors.extend_from_slice(&[0, 0, 0, 0]);
        descriptors.extend_from_slice(&registration.relative_port.to_be_bytes());
        let transport_id = transport_id(&registration.initiator_port);
        descriptors.extend_from_slice(&(transport_id.len() as u32).to_be_bytes());
        descriptors.extend_from_slice(&transport_id);
    }
    data.extend_from_slice(&(descriptors.len() as u32).to_be_bytes());
    data.extend_from_slice(&descriptors);
}

/// An iSCSI TransportID of format 01b (initiator port name), NUL-terminated and padded to a
/// multiple of four bytes (SPC-4 §7.6.4.6).
fn transport_id(initiator_port: &str) -> Vec<u8> {
    let name = initiator_port.as_bytes();
    let name = &name[..name.len().min(252)];
    let padded = (name.len() + 1).div_ceil(4) * 4;
    let mut id = vec![0x45, 0];
    id.extend_from_slice(&(padded as u16).to_be_bytes());
    id.extend_from_slice(name);
    id.resize(4 + padded, 0);
    id
}

/// The basic PERSISTENT RESERVE OUT parameter list.
struct OutParameters {
    key: u64,
    action_key: u64,
}

fn parameters(cdb: &[u8], data_out: &[u8]) -> Result<OutParameters, Reply> {
    if out_parameter_length(cdb) != 24 {
        return Err(Reply::illegal_request(PARAMETER_LIST_LENGTH_ERROR));
    }
    let list = data_out
        .get(..24)
        .ok_or(Reply::illegal_request(PARAMETER_LIST_LENGTH_ERROR))?;
    if list[20] & 0x0d != 0 {
        // SPEC_I_PT, ALL_TG_PT or APTPL: not supported.
        return Err(Reply::illegal_request(INVALID_FIELD_IN_PARAMETER_LIST));
    }
    let key = u64::from_be_bytes(list[..8].try_into().unwrap_or_default());
    let action_key = u64::from_be_bytes(list[8..16].try_into().unwrap_or_default());
    Ok(OutParameters { key, action_key })
}

pub(super) fn reserve_out(
    unit: &mut LogicalUnit,
    port: PortView<'_>,
    cdb: &[u8],
    data_out: &[u8],
) -> Reply {
    let action = byte(cdb, 1) & 0x1f;
    if !(0x00..=0x06).contains(&action) {
        return Reply::invalid_field();
    }
    if unit
        .reservations
        .holder()
        .is_some_and(|holder| holder != port.nexus)
    {
        return CONFLICT;
    }
    let parameters = match parameters(cdb, data_out) {
        Ok(parameters) => parameters,
        Err(reply) => return reply,
    };
    if matches!(action, 0x00 | 0x06) {
        return register(unit, port, &parameters, action == 0x06);
    }
    let registered = unit.reservations.registration(port.nexus).map(|r| r.key);
    if registered != Some(parameters.key) {
        return CONFLICT;
    }
    let scope_type = byte(cdb, 2);
    let kind = ReservationType::from_code(scope_type & 0x0f);
    let lu_scope = scope_type >> 4 == 0;
    match action {
        0x01 => reserve(unit, port.nexus, kind, lu_scope),
        0x02 => release(unit, port.nexus, kind),
        0x03 => {
            unit.reservations.clear_persistent(port.nexus);
            Reply::GOOD
        }
        _ => preempt(unit, port.nexus, kind, lu_scope, parameters.action_key),
    }
}

fn register(
    unit: &mut LogicalUnit,
    port: PortView<'_>,
    parameters: &OutParameters,
    ignore_existing: bool,
) -> Reply {
    let reservations = &mut unit.reservations;
    let current = reservations.registration(port.nexus).map(|r| r.key);
    let key_matches = match current {
        None => parameters.key == 0,
        Some(key) => key == parameters.key,
    };
    if !ignore_existing && !key_matches {
        return CONFLICT;
    }
    match (current, parameters.action_key) {
        (None, 0) => Reply::GOOD,
        (Some(_), 0) => {
            reservations.unregister(port.nexus);
            Reply::GOOD
        }
        (_, key) => {
            let registration = Registration {
                nexus: port.nexus,
                key,
                initiator_port: port.initiator_port.to_string(),
                relative_port: port.relative_port,
            };
            if reservations.register(registration) {
                Reply::GOOD
            } else {
                Reply::check(
                    SenseKey::ILLEGAL_REQUEST,
                    INSUFFICIENT_REGISTRATION_RESOURCES,
                )
            }
        }
    }
}

fn reserve(
    unit: &mut LogicalUnit,
    nexus: u64,
    kind: Option<ReservationType>,
    lu_scope: bool,
) -> Reply {
    let (Some(kind), true) = (kind, lu_scope) else {
        return Reply::invalid_field();
    };
    let reservations = &mut unit.reservations;
    match reservations.persistent() {
        None => {
            reservations.set_persistent(Some(Persistent {
                holder: nexus,
                kind,
            }));
            Reply::GOOD
        }
        Some(existing) if reservations.is_holder(nexus) && existing.kind == kind => Reply::GOOD,
        Some(_) => CONFLICT,
    }
}

fn release(unit: &mut LogicalUnit, nexus: u64, kind: Option<ReservationType>) -> Reply {
    let reservations = &mut unit.reservations;
    let Some(existing) = reservations.persistent() else {
        return Reply::GOOD;
    };
    if !reservations.is_holder(nexus) {
        return Reply::GOOD;
    }
    if kind != Some(existing.kind) {
        return Reply::illegal_request(INVALID_RELEASE);
    }
    reservations.release_persistent(nexus);
    Reply::GOOD
}

/// PREEMPT (and PREEMPT AND ABORT, whose task abort the front does not see: the preempted
/// nexuses' commands still finish).
fn preempt(
    unit: &mut LogicalUnit,
    nexus: u64,
    kind: Option<ReservationType>,
    lu_scope: bool,
    victim: u64,
) -> Reply {
    let reservations = &mut unit.reservations;
    let existing = reservations.persistent();
    let all_registrants = existing.is_some_and(|r| r.kind.all_registrants_hold());
    let holder_key = existing
        .and_then(|r| reservations.registration(r.holder))
        .map(|r| r.key);
    if victim == 0 && !all_registrants {
        return Reply::illegal_request(INVALID_FIELD_IN_PARAMETER_LIST);
    }
    let takes_reservation = existing.is_some() && (all_registrants || holder_key == Some(victim));
    if takes_reservation {
        let (Some(kind), true) = (kind, lu_scope) else {
            return Reply::invalid_field();
        };
        let key = (!all_registrants || victim != 0).then_some(victim);
        reservations.remove_registrations(nexus, key);
        reservations.set_persistent(Some(Persistent {
            holder: nexus,
            kind,
        }));
        return Reply::GOOD;
    }
    if reservations.remove_registrations(nexus, Some(victim)) == 0 {
        return CONFLICT;
    }
    Reply::GOOD
}
