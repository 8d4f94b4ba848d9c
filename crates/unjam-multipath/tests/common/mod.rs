//! A virtual-time world for the multipath layer: paths answer like the core would after
//! its own retries (a final `Completion` per request), with per-path latency, link state,
//! ALUA port groups shared by the paths of a target, and injected errors. No clock, no
//! sleeps: time jumps from one due event to the next.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use unjam_core::buffers::{Cdb, SenseBuffer};
use unjam_core::request::{BlockOp, Request, TransportOutcome};
use unjam_core::topology::DeviceId;
use unjam_core::{Completion, Instant};
use unjam_multipath::{Action, Config, MpathCompletion, MpathEvent, MpathId, Multipath, PathId};
use unjam_scsi::cdb::response::AccessState;
use unjam_scsi::{BlkStatus, HostByte, MlStatus, SamStatus, ScsiResult};

pub const MS: Duration = Duration::from_millis(1);

/// How a path answers.
#[derive(Clone, Debug)]
pub struct SimPath {
    pub naa: Option<u64>,
    pub serial: &'static str,
    pub relative_port: u16,
    pub port_group: u16,
    pub latency: Duration,
    pub link_up: bool,
    /// Answers never come (a silent path).
    pub silent: bool,
    /// The next I/O completions end with this status (and sense), counted down.
    pub io_error: Option<(BlkStatus, HostByte, [u8; 3], u32)>,
    /// Reads in this LBA range fail with MEDIUM ERROR.
    pub medium_error: Option<(u64, u64)>,
}

impl SimPath {
    pub fn new(naa: u64, relative_port: u16, port_group: u16) -> SimPath {
        SimPath {
            naa: Some(naa),
            serial: "",
            relative_port,
            port_group,
            latency: Duration::from_micros(400),
            link_up: true,
            silent: false,
            io_error: None,
            medium_error: None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Group {
    pub id: u16,
    pub state: AccessState,
    pub preferred: bool,
}

impl Group {
    /// A target port group in `state`, not preferred.
    pub fn new(id: u16, state: AccessState) -> Group {
        Group {
            id,
            state,
            preferred: false,
        }
    }
}

pub struct World {
    pub mp: Multipath,
    pub now: Instant,
    pub paths: Vec<SimPath>,
    pub alua: bool,
    pub groups: Vec<Group>,
    /// A unit attention 2A/06 owed to each path (after a group state change).
    pub attention: Vec<bool>,
    due: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    pending: std::collections::HashMap<u64, (usize, Request)>,
    pub completions: Vec<MpathCompletion>,
    pub events: Vec<MpathEvent>,
    /// (time, path, caller token) of every I/O sent to a path.
    pub sent: Vec<(Instant, usize, u64)>,
    pub probes_sent: Vec<(Instant, usize, u8)>,
    next_token: u64,
    /// Closed-loop load: (device, depth, stop time).
    load: Option<(MpathId, usize, Instant)>,
    load_in_flight: usize,
    next_lba: u64,
}

impl World {
    pub fn new(config: Config, paths: Vec<SimPath>) -> World {
        let count = paths.len();
        World {
            mp: Multipath::new(config).expect("valid config"),
            now: Instant::ZERO,
            paths,
            alua: false,
            groups: Vec::new(),
            attention: vec![false; count],
            due: BinaryHeap::new(),
            pending: Default::default(),
            completions: Vec::new(),
            events: Vec::new(),
            sent: Vec::new(),
            probes_sent: Vec::new(),
            next_token: 1,
            load: None,
            load_in_flight: 0,
            next_lba: 0,
        }
    }

    pub fn with_alua(mut self, groups: Vec<Group>) -> World {
        self.alua = true;
        self.groups = groups;
        self
    }

    /// Adds every path (the layer identifies them) and runs until they are up.
    pub fn add_all(&mut self) {
        for index in 0..self.paths.len() {
            self.mp.add_path(self.now, DeviceId(index as u32)).unwrap();
        }
        self.drain();
        self.run_for(10 * MS);
    }

    pub fn device(&self, path: usize) -> MpathId {
        self.mp
            .device_of(DeviceId(path as u32))
            .expect("identified")
    }

    pub fn state(&self, path: usize) -> &'static str {
        self.mp.path(DeviceId(path as u32)).unwrap().state
    }

    pub fn set_group(&mut self, id: u16, state: AccessState) {
        for group in &mut self.groups {
            if group.id == id {
                group.state = state;
            }
        }
        self.attention.iter_mut().for_each(|a| *a = true);
    }

    pub fn read(&mut self, device: MpathId, lba: u64) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        let cdb = Cdb::from_slice(&[
            0x28,
            0,
            (lba >> 24) as u8,
            (lba >> 16) as u8,
            (lba >> 8) as u8,
            lba as u8,
            0,
            0,
            8,
            0,
        ])
        .unwrap();
        let mut request = Request::new(cdb, token);
        request.data_len = 4096;
        request.block.op = BlockOp::Read;
        request.block.start_sector = lba;
        self.mp.submit(self.now, device, request).expect("queued");
        self.drain();
        token
    }

    /// Keeps `depth` reads in flight on `device` until `stop`.
    pub fn load(&mut self, device: MpathId, depth: usize, stop: Instant) {
        self.load = Some((device, depth, stop));
        self.refill();
    }

    fn refill(&mut self) {
        let Some((device, depth, stop)) = self.load else {
            return;
        };
        while self.now < stop && self.load_in_flight < depth {
            self.load_in_flight += 1;
            let lba = self.next_lba;
            self.next_lba = (self.next_lba + 8) % 100_000;
            self.read(device, lba);
        }
    }

    pub fn completion(&self, token: u64) -> Option<&MpathCompletion> {
        self.completions.iter().find(|c| c.token == token)
    }

    pub fn failed(&self) -> Vec<&MpathCompletion> {
        self.completions
            .iter()
            .filter(|c| c.status != BlkStatus::Ok)
            .collect()
    }

    /// I/O sends to `path` in [from, to).
    pub fn sends_on(&self, path: usize, from: Instant, to: Instant) -> usize {
        self.sent
            .iter()
            .filter(|(t, p, _)| *p == path && *t >= from && *t < to)
            .count()
    }

    pub fn at(&self, ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    /// Runs until virtual time `until`.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..10_000_000 {
            let next_answer = self.due.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = self.mp.poll_timeout();
            let next = [next_answer, next_timer].into_iter().flatten().min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.step();
                }
                _ => {
                    self.now = self.now.max(until);
                    return;
                }
            }
        }
        panic!("world did not settle");
    }

    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        self.run_until(until);
    }

    fn step(&mut self) {
        while let Some(Reverse((t, token, _))) = self.due.peek().copied() {
            if t > self.now {
                break;
            }
            self.due.pop();
            self.answer(token);
        }
        self.mp.handle_timeout(self.now);
        self.drain();
    }

    pub fn drain(&mut self) {
        for _ in 0..1_000_000 {
            let Some(action) = self.mp.poll_action() else {
                return;
            };
            match action {
                Action::Submit {
                    path,
                    request,
                    caller_token,
                } => {
                    let index = path.0 as usize;
                    match caller_token {
                        Some(token) => self.sent.push((self.now, index, token)),
                        None => self
                            .probes_sent
                            .push((self.now, index, request.cdb.opcode())),
                    }
                    self.pending.insert(request.token, (index, request));
                    let sim = &self.paths[index];
                    if !sim.silent {
                        let at = self.now + sim.latency;
                        self.due.push(Reverse((at, request.token, index)));
                    }
                }
                Action::Complete(completion) => {
                    if self.load.is_some() {
                        self.load_in_flight = self.load_in_flight.saturating_sub(1);
                    }
                    self.completions.push(completion);
                    self.refill();
                }
                Action::Event(event) => self.events.push(event),
            }
        }
        panic!("action storm");
    }

    fn answer(&mut self, token: u64) {
        let Some((index, request)) = self.pending.remove(&token) else {
            return;
        };
        let (completion, data) = self.respond(index, &request);
        self.mp.handle_completion(self.now, &completion, &data);
        self.drain();
    }

    fn group_of(&self, index: usize) -> Option<Group> {
        self.groups
            .iter()
            .copied()
            .find(|g| g.id == self.paths[index].port_group)
    }

    fn respond(&mut self, index: usize, request: &Request) -> (Completion, Vec<u8>) {
        let cdb = request.cdb.as_slice().to_vec();
        let mut out = completion(request.token, index, BlkStatus::Ok, TransportOutcome::GOOD);
        let sim = self.paths[index].clone();
        if !sim.link_up {
            let outcome = TransportOutcome::host(HostByte::DID_TRANSPORT_DISRUPTED);
            // As the core ends it: a passthrough command without data completes "all
            // bytes" (BLK_STS_OK) whatever its result; I/O ends BLK_STS_IOERR.
            let status = if request.passthrough && request.data_len == 0 {
                BlkStatus::Ok
            } else {
                BlkStatus::IoErr
            };
            return (
                completion(request.token, index, status, outcome),
                Vec::new(),
            );
        }
        let opcode = cdb[0];
        // INQUIRY and REPORT TARGET PORT GROUPS run in every state and report no attention.
        match opcode {
            0x12 => return (out, self.inquiry(index, &cdb)),
            0xa3 => return (out, self.report_groups()),
            _ => {}
        }
        if self.alua && self.attention[index] {
            self.attention[index] = false;
            return (
                check(request.token, index, BlkStatus::IoErr, [0x06, 0x2a, 0x06]),
                Vec::new(),
            );
        }
        if let Some(group) = self.group_of(index).filter(|_| self.alua) {
            let ascq = match group.state {
                AccessState::Transitioning => Some(0x0a),
                AccessState::Standby => Some(0x0b),
                AccessState::Unavailable => Some(0x0c),
                _ => None,
            };
            if let Some(ascq) = ascq {
                return (
                    check(request.token, index, BlkStatus::IoErr, [0x02, 0x04, ascq]),
                    Vec::new(),
                );
            }
        }
        if opcode == 0x00 {
            return (out, Vec::new());
        }
        if let Some((status, host, sense, count)) = sim.io_error {
            let remaining = count - 1;
            self.paths[index].io_error =
                (remaining > 0).then_some((status, host, sense, remaining));
            let mut outcome = TransportOutcome::host(host);
            if sense[0] != 0 {
                outcome = TransportOutcome::check_condition(&TransportOutcome::fixed_sense(
                    sense[0], sense[1], sense[2],
                ));
            }
            return (
                completion(request.token, index, status, outcome),
                Vec::new(),
            );
        }
        if let Some((first, last)) = sim.medium_error {
            let lba = request.block.start_sector;
            if opcode == 0x28 && lba >= first && lba <= last {
                return (
                    check(request.token, index, BlkStatus::Medium, [0x03, 0x11, 0x00]),
                    Vec::new(),
                );
            }
        }
        out.good_bytes = request.data_len;
        (out, Vec::new())
    }

    fn inquiry(&self, index: usize, cdb: &[u8]) -> Vec<u8> {
        let sim = &self.paths[index];
        if cdb[1] & 1 == 0 {
            let mut data = vec![0u8; 36];
            data[4] = 31;
            data[5] = if self.alua { 0x10 } else { 0 };
            return data;
        }
        match cdb[2] {
            0x83 => {
                let mut body = Vec::new();
                if let Some(naa) = sim.naa {
                    body.extend_from_slice(&[0x01, 0x03, 0x00, 0x08]);
                    body.extend_from_slice(&naa.to_be_bytes());
                }
                body.extend_from_slice(&[0x61, 0x94, 0x00, 0x04, 0, 0]);
                body.extend_from_slice(&sim.relative_port.to_be_bytes());
                if self.alua {
                    body.extend_from_slice(&[0x01, 0x95, 0x00, 0x04, 0, 0]);
                    body.extend_from_slice(&sim.port_group.to_be_bytes());
                }
                let mut page = vec![0x00, 0x83];
                page.extend_from_slice(&(body.len() as u16).to_be_bytes());
                page.extend_from_slice(&body);
                page
            }
            0x80 => {
                let mut page = vec![0x00, 0x80, 0x00, sim.serial.len() as u8];
                page.extend_from_slice(sim.serial.as_bytes());
                page
            }
            _ => Vec::new(),
        }
    }

    fn report_groups(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for group in &self.groups {
            let ports: Vec<u16> = self
                .paths
                .iter()
                .filter(|p| p.port_group == group.id)
                .map(|p| p.relative_port)
                .collect();
            body.push(if group.preferred { 0x80 } else { 0 } | group.state.code());
            body.push(0x8f);
            body.extend_from_slice(&group.id.to_be_bytes());
            body.extend_from_slice(&[0, 0, 0, ports.len() as u8]);
            for port in ports {
                body.extend_from_slice(&[0, 0]);
                body.extend_from_slice(&port.to_be_bytes());
            }
        }
        let mut data = (body.len() as u32).to_be_bytes().to_vec();
        data.extend_from_slice(&body);
        data
    }
}

pub fn completion(
    token: u64,
    path: usize,
    status: BlkStatus,
    outcome: TransportOutcome,
) -> Completion {
    Completion {
        token,
        device: DeviceId(path as u32),
        status,
        result: outcome.result,
        sense: outcome.sense,
        attempts: 1,
        counted_retries: 0,
        good_bytes: 0,
        resid: 0,
        tag_number: 0,
    }
}

pub fn check(token: u64, path: usize, status: BlkStatus, sense: [u8; 3]) -> Completion {
    let bytes = TransportOutcome::fixed_sense(sense[0], sense[1], sense[2]);
    let outcome = TransportOutcome {
        result: ScsiResult::new(HostByte::DID_OK, MlStatus::OK, SamStatus::CHECK_CONDITION),
        sense: SenseBuffer::from_slice(&bytes),
        resid: 0,
    };
    completion(token, path, status, outcome)
}

pub fn path_id(index: usize) -> PathId {
    DeviceId(index as u32)
}
