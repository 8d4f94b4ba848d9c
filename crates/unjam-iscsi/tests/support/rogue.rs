//! A misbehaving iSCSI target for tests: a minimal login (no authentication, every key left
//! at its RFC 7143 default), then scripted answers. `Misbehaviour::None` behaves well: reads
//! return [`pattern`] bytes, writes are taken through R2Ts, task management succeeds, logout
//! is answered. Each other variant breaks one rule. It listens on a free 127.0.0.1 port and
//! stops when dropped.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use unjam_iscsi::pdu::*;

/// Largest data segment the initiator accepts without negotiation (RFC 7143 default).
const SEGMENT: usize = 8192;
/// Largest R2T this target asks for (the default MaxBurstLength).
const BURST: u32 = 262_144;
/// How many R2Ts a flood sends at most (it stops when the initiator hangs up).
const FLOOD: u32 = 200_000;
/// How many 4 KiB NOP-In pings a storm sends.
const STORM: u32 = 20_000;
/// The target's name.
pub const TARGET: &str = "iqn.2024-01.dev.unjam:rogue";

/// The one rule this target breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    None,
    /// Reads: the second Data-In starts 512 bytes after the end of the first.
    DataGap,
    /// Reads: the second Data-In starts 512 bytes before the end of the first.
    DataOverlap,
    /// Reads: half the data, then GOOD without a residual.
    ShortRead,
    /// Reads: GOOD in a SCSI Response and no data at all.
    NoData,
    /// Reads: the SCSI Response (GOOD) first, then all the data.
    StatusBeforeData,
    /// Reads: half the data, GOOD with an underflow claiming a quarter is missing.
    LyingUnderflow,
    /// Reads: more data than the Expected Data Transfer Length.
    DataBeyondLength,
    /// Reads: the second Data-In skips a DataSN.
    DataSnSkip,
    /// Reads: CHECK CONDITION on the last Data-In (sense needs a SCSI Response).
    SenseOnDataIn,
    /// Writes: GOOD as soon as the command arrives, before any R2T.
    GoodBeforeWriteData,
    /// Writes: R2T for the first half, GOOD when it arrived.
    GoodAfterHalfWrite,
    /// Writes: the same R2T over and over (repeated R2TSN).
    EndlessR2ts,
    /// Writes: R2T after R2T (new R2TSNs) for the same bytes.
    RepeatedR2tRange,
    /// NOP-In pings with 4 KiB of data, as fast as the socket takes them, while answering.
    NopInStorm,
    /// Every answer to a command carries another task tag.
    WrongItt,
    /// The command window never opens (MaxCmdSN = ExpCmdSN - 1); pings are answered.
    WindowNeverOpens,
    /// Every command gets BUSY.
    BusyForever,
    /// Logout Requests are never answered.
    IgnoreLogout,
    /// Login Responses never set the Transit bit.
    LoginNeverTransits,
    /// Like `LoginNeverTransits`, each answer 100 ms late.
    SlowLoginNeverTransits,
    /// Commands are answered with a Task Management Function Response carrying their tag.
    TmfResponseWithScsiItt,
    /// Commands are answered with a Logout Response carrying their tag.
    LogoutResponseWithScsiItt,
    /// Reads get an R2T.
    R2tForRead,
    /// READ CAPACITY(16) reports a logical block length of 0.
    ZeroBlockLength,
    /// Every session is closed right after its login.
    HangUpAfterLogin,
}

/// What the target saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub connections: u32,
    pub logins: u32,
    pub commands: u32,
    /// The operation code of each command (the first 1024).
    pub opcodes: Vec<u8>,
    pub data_out_bytes: u64,
    pub nop_ins_sent: u32,
    pub nop_outs: u32,
    pub task_management: u32,
    pub logouts: u32,
}

pub struct Rogue {
    pub port: u16,
    counters: Arc<Mutex<Counters>>,
    listener: JoinHandle<()>,
}

impl Drop for Rogue {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// The byte at `offset` of every read.
pub fn pattern(offset: usize) -> u8 {
    (offset % 251) as u8
}

impl Rogue {
    pub async fn start(misbehaviour: Misbehaviour) -> Rogue {
        let listener = TcpListener::bind("127.0.0.1:0").await;
        let listener = listener.unwrap_or_else(|error| panic!("bind: {error}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let counters = Arc::new(Mutex::new(Counters::default()));
        let shared = Arc::clone(&counters);
        let listener = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count(&shared, |c| c.connections += 1);
                let counters = Arc::clone(&shared);
                tokio::spawn(serve(stream, misbehaviour, counters));
            }
        });
        Rogue {
            port,
            counters,
            listener,
        }
    }

    pub fn url(&self, lun: u16) -> String {
        format!("iscsi://127.0.0.1:{}/{TARGET}/{lun}", self.port)
    }

    pub fn counters(&self) -> Counters {
        self.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

fn count(counters: &Mutex<Counters>, update: impl FnOnce(&mut Counters)) {
    if let Ok(mut counters) = counters.lock() {
        update(&mut counters);
    }
}

/// A write the target is taking.
struct WriteTask {
    tag: u32,
    lun: u64,
    expected: u32,
    received: u32,
    next_r2t_sn: u32,
}

/// One connection: its sequence numbers and the tasks in progress.
struct Connection {
    misbehaviour: Misbehaviour,
    counters: Arc<Mutex<Counters>>,
    out: mpsc::Sender<Vec<u8>>,
    stat_sn: u32,
    exp_cmd_sn: u32,
    writes: Vec<WriteTask>,
}

async fn serve(stream: TcpStream, misbehaviour: Misbehaviour, counters: Arc<Mutex<Counters>>) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (out, mut queued) = mpsc::channel::<Vec<u8>>(64);
    tokio::spawn(async move {
        while let Some(bytes) = queued.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
    });
    let mut connection = Connection {
        misbehaviour,
        counters,
        out,
        stat_sn: 1,
        exp_cmd_sn: 1,
        writes: Vec::new(),
    };
    let mut buffer = BytesMut::new();
    let decoder = PduDecoder::new(1 << 24, Digests::default());
    loop {
        let pdu = match next_pdu(&mut reader, &decoder, &mut buffer).await {
            Some(pdu) => pdu,
            None => return,
        };
        if !connection.handle(pdu).await {
            return;
        }
    }
}

async fn next_pdu(
    reader: &mut OwnedReadHalf,
    decoder: &PduDecoder,
    buffer: &mut BytesMut,
) -> Option<Pdu> {
    loop {
        match decoder.decode(buffer) {
            Ok(Some(pdu)) => return Some(pdu),
            Ok(None) => {}
            Err(_) => return None,
        }
        match reader.read_buf(buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

impl Connection {
    fn sequence(&mut self, consume: bool) -> TargetSequence {
        let stat_sn = self.stat_sn;
        if consume {
            self.stat_sn = self.stat_sn.wrapping_add(1);
        }
        let max_cmd_sn = if self.misbehaviour == Misbehaviour::WindowNeverOpens {
            self.exp_cmd_sn.wrapping_sub(1)
        } else {
            self.exp_cmd_sn.wrapping_add(31)
        };
        TargetSequence {
            stat_sn,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn,
        }
    }

    async fn send(&self, pdu: Pdu) -> bool {
        let mut bytes = Vec::new();
        if encode_pdu(&pdu, Digests::default(), &mut bytes).is_err() {
            return false;
        }
        self.out.send(bytes).await.is_ok()
    }

    /// Answers one PDU; false ends the connection.
    async fn handle(&mut self, pdu: Pdu) -> bool {
        match pdu {
            Pdu::LoginRequest(request) => self.login(request).await,
            Pdu::ScsiCommand(command) => {
                count(&self.counters, |c| {
                    c.commands += 1;
                    if c.opcodes.len() < 1024 {
                        c.opcodes.push(command.cdb[0]);
                    }
                });
                if !command.immediate {
                    self.exp_cmd_sn = command.cmd_sn.wrapping_add(1);
                }
                self.command(command).await
            }
            Pdu::DataOut(data) => self.data_out(data).await,
            Pdu::NopOut(nop) => {
                count(&self.counters, |c| c.nop_outs += 1);
                if nop.initiator_task_tag == RESERVED_TAG {
                    return true;
                }
                let sequence = self.sequence(false);
                self.send(Pdu::NopIn(NopIn {
                    lun: 0,
                    initiator_task_tag: nop.initiator_task_tag,
                    target_transfer_tag: RESERVED_TAG,
                    sequence,
                    data: nop.data,
                }))
                .await
            }
            Pdu::TaskManagementRequest(request) => {
                count(&self.counters, |c| c.task_management += 1);
                let sequence = self.sequence(true);
                self.send(Pdu::TaskManagementResponse(TaskManagementResponse {
                    response: 0,
                    initiator_task_tag: request.initiator_task_tag,
                    sequence,
                }))
                .await
            }
            Pdu::LogoutRequest(request) => {
                count(&self.counters, |c| c.logouts += 1);
                if self.misbehaviour == Misbehaviour::IgnoreLogout {
                    return true;
                }
                let sequence = self.sequence(true);
                self.send(logout_response(request.initiator_task_tag, sequence))
                    .await;
                false
            }
            _ => true,
        }
    }

    async fn login(&mut self, request: LoginRequest) -> bool {
        use Misbehaviour::{LoginNeverTransits, SlowLoginNeverTransits};
        let never = matches!(
            self.misbehaviour,
            LoginNeverTransits | SlowLoginNeverTransits
        );
        if self.misbehaviour == SlowLoginNeverTransits {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.exp_cmd_sn = request.cmd_sn;
        let sequence = self.sequence(true);
        let response = LoginResponse {
            transit: !never,
            cont: false,
            current_stage: request.current_stage,
            next_stage: if never {
                LoginStage::SecurityNegotiation
            } else {
                LoginStage::FullFeature
            },
            version_max: 0,
            version_active: 0,
            isid: request.isid,
            tsih: 1,
            initiator_task_tag: request.initiator_task_tag,
            sequence,
            status_class: 0,
            status_detail: 0,
            data: Bytes::from_static(b"AuthMethod=None\0"),
        };
        if !self.send(Pdu::LoginResponse(response)).await {
            return false;
        }
        if !never {
            count(&self.counters, |c| c.logins += 1);
            if self.misbehaviour == Misbehaviour::HangUpAfterLogin {
                return false;
            }
            if self.misbehaviour == Misbehaviour::NopInStorm {
                self.start_storm();
            }
        }
        true
    }

    fn start_storm(&self) {
        let out = self.out.clone();
        let counters = Arc::clone(&self.counters);
        let sequence = TargetSequence {
            stat_sn: self.stat_sn,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.exp_cmd_sn.wrapping_add(31),
        };
        tokio::spawn(async move {
            for ttt in 0..STORM {
                let ping = Pdu::NopIn(NopIn {
                    lun: 0,
                    initiator_task_tag: RESERVED_TAG,
                    target_transfer_tag: ttt,
                    sequence,
                    data: Bytes::from(vec![0x6e; 4096]),
                });
                let mut bytes = Vec::new();
                if encode_pdu(&ping, Digests::default(), &mut bytes).is_err()
                    || out.send(bytes).await.is_err()
                {
                    return;
                }
                count(&counters, |c| c.nop_ins_sent += 1);
            }
        });
    }

    async fn command(&mut self, command: ScsiCommand) -> bool {
        use Misbehaviour as M;
        let tag = command.initiator_task_tag;
        match self.misbehaviour {
            M::WrongItt => {
                return self
                    .respond(tag.wrapping_add(1000), 0, Residual::None)
                    .await
            }
            M::BusyForever => return self.respond(tag, 0x08, Residual::None).await,
            M::TmfResponseWithScsiItt => {
                let sequence = self.sequence(true);
                return self
                    .send(Pdu::TaskManagementResponse(TaskManagementResponse {
                        response: 0,
                        initiator_task_tag: tag,
                        sequence,
                    }))
                    .await;
            }
            M::LogoutResponseWithScsiItt => {
                let sequence = self.sequence(true);
                return self.send(logout_response(tag, sequence)).await;
            }
            _ => {}
        }
        if command.read {
            return self.read(&command).await;
        }
        if command.write {
            return self.write(&command).await;
        }
        self.respond(tag, 0, Residual::None).await
    }

    async fn respond(&mut self, tag: u32, status: u8, residual: Residual) -> bool {
        let sequence = self.sequence(true);
        self.send(Pdu::ScsiResponse(ScsiResponse {
            bidirectional_residual: Residual::None,
            residual,
            response: 0,
            status,
            initiator_task_tag: tag,
            snack_tag: 0,
            sequence,
            exp_data_sn: 0,
            data: Bytes::new(),
        }))
        .await
    }

    /// Sends `[offset, end)` of the read as Data-In PDUs from `data_sn`; the last one carries
    /// `status` when given. Returns the next DataSN, or None when the connection is gone.
    async fn data(
        &mut self,
        tag: u32,
        content: &[u8],
        range: (usize, usize),
        data_sn: u32,
        status: Option<(u8, Residual)>,
    ) -> Option<u32> {
        let (mut offset, end) = range;
        let mut data_sn = data_sn;
        loop {
            let chunk_end = end.min(offset + SEGMENT);
            let last = chunk_end == end;
            let status = status.filter(|_| last);
            let stat_sn = if status.is_some() {
                self.sequence(true).stat_sn
            } else {
                0
            };
            let bytes = content.get(offset..chunk_end).unwrap_or_default().to_vec();
            let pdu = Pdu::DataIn(DataIn {
                final_pdu: last,
                acknowledge: false,
                status: status.map(|(status, residual)| DataInStatus {
                    status,
                    stat_sn,
                    residual,
                }),
                lun: 0,
                initiator_task_tag: tag,
                target_transfer_tag: RESERVED_TAG,
                exp_cmd_sn: self.exp_cmd_sn,
                max_cmd_sn: self.exp_cmd_sn.wrapping_add(31),
                data_sn,
                buffer_offset: offset as u32,
                data: Bytes::from(bytes),
            });
            if !self.send(pdu).await {
                return None;
            }
            data_sn += 1;
            if last {
                return Some(data_sn);
            }
            offset = chunk_end;
        }
    }

    async fn read(&mut self, command: &ScsiCommand) -> bool {
        use Misbehaviour as M;
        let tag = command.initiator_task_tag;
        let length = command.expected_data_transfer_length as usize;
        let content = self.content(&command.cdb, length + 512);
        let half = length / 2;
        let good = Some((0u8, Residual::None));
        let sent = match self.misbehaviour {
            M::DataGap | M::DataOverlap | M::DataSnSkip if length >= 2048 => {
                let second = match self.misbehaviour {
                    M::DataGap => half + 512,
                    M::DataOverlap => half - 512,
                    _ => half,
                };
                let skip = u32::from(self.misbehaviour == M::DataSnSkip);
                match self.data(tag, &content, (0, half), 0, None).await {
                    Some(next) => {
                        let range = (second, length);
                        self.data(tag, &content, range, next + skip, good).await
                    }
                    None => None,
                }
            }
            M::ShortRead => self.data(tag, &content, (0, half), 0, good).await,
            M::NoData => return self.respond(tag, 0, Residual::None).await,
            M::StatusBeforeData => {
                if !self.respond(tag, 0, Residual::None).await {
                    return false;
                }
                self.data(tag, &content, (0, length), 0, None).await
            }
            M::LyingUnderflow => {
                let lie = Some((0u8, Residual::Underflow((length / 4) as u32)));
                self.data(tag, &content, (0, half), 0, lie).await
            }
            M::DataBeyondLength => self.data(tag, &content, (0, length + 512), 0, good).await,
            M::SenseOnDataIn => {
                let check_condition = Some((2, Residual::None));
                self.data(tag, &content, (0, length), 0, check_condition)
                    .await
            }
            M::R2tForRead => {
                let sequence = self.sequence(false);
                return self.send(r2t(tag, command.lun, 0, 0, 512, sequence)).await;
            }
            _ => self.data(tag, &content, (0, length), 0, good).await,
        };
        sent.is_some()
    }

    /// What a read returns: READ CAPACITY(16) data for 2048 blocks of 512 bytes (of 0 bytes
    /// for `ZeroBlockLength`), the pattern for anything else.
    fn content(&self, cdb: &[u8; 16], length: usize) -> Vec<u8> {
        let mut content: Vec<u8> = (0..length).map(pattern).collect();
        if cdb[0] == 0x9e && content.len() >= 32 {
            content[..32].fill(0);
            content[..8].copy_from_slice(&2047u64.to_be_bytes());
            let block_length: u32 = match self.misbehaviour {
                Misbehaviour::ZeroBlockLength => 0,
                _ => 512,
            };
            content[8..12].copy_from_slice(&block_length.to_be_bytes());
        }
        content
    }

    async fn write(&mut self, command: &ScsiCommand) -> bool {
        use Misbehaviour as M;
        let tag = command.initiator_task_tag;
        let received = command.data.len() as u32;
        count(&self.counters, |c| c.data_out_bytes += u64::from(received));
        let expected = command.expected_data_transfer_length;
        if self.misbehaviour == M::GoodBeforeWriteData || received >= expected {
            return self.respond(tag, 0, Residual::None).await;
        }
        self.writes.push(WriteTask {
            tag,
            lun: command.lun,
            expected,
            received,
            next_r2t_sn: 0,
        });
        self.next_r2t(tag).await
    }

    /// Asks for the next part of write `tag` (or, misbehaving, for too much).
    async fn next_r2t(&mut self, tag: u32) -> bool {
        use Misbehaviour as M;
        let Some(task) = self.writes.iter_mut().find(|task| task.tag == tag) else {
            return true;
        };
        let mut length = (task.expected - task.received).min(BURST);
        if self.misbehaviour == M::GoodAfterHalfWrite {
            length = (task.expected / 2).saturating_sub(task.received).max(1);
        }
        let (lun, offset, r2t_sn) = (task.lun, task.received, task.next_r2t_sn);
        task.next_r2t_sn += 1;
        let flood = matches!(self.misbehaviour, M::EndlessR2ts | M::RepeatedR2tRange);
        for round in 0..if flood { FLOOD } else { 1 } {
            let sequence = self.sequence(false);
            let r2t_sn = match self.misbehaviour {
                M::RepeatedR2tRange => r2t_sn + round,
                _ => r2t_sn,
            };
            if !self
                .send(r2t(tag, lun, r2t_sn, offset, length, sequence))
                .await
            {
                return false;
            }
        }
        true
    }

    async fn data_out(&mut self, data: DataOut) -> bool {
        let length = data.data.len() as u32;
        count(&self.counters, |c| c.data_out_bytes += u64::from(length));
        let tag = data.initiator_task_tag;
        let Some(index) = self.writes.iter().position(|task| task.tag == tag) else {
            return true;
        };
        self.writes[index].received += length;
        if !data.final_pdu {
            return true;
        }
        let task = &self.writes[index];
        let half_done = self.misbehaviour == Misbehaviour::GoodAfterHalfWrite
            && task.received >= task.expected / 2;
        if task.received >= task.expected || half_done {
            self.writes.remove(index);
            return self.respond(tag, 0, Residual::None).await;
        }
        self.next_r2t(tag).await
    }
}

fn r2t(tag: u32, lun: u64, r2t_sn: u32, offset: u32, length: u32, sequence: TargetSequence) -> Pdu {
    Pdu::ReadyToTransfer(ReadyToTransfer {
        lun,
        initiator_task_tag: tag,
        target_transfer_tag: 0x1000 + r2t_sn,
        sequence,
        r2t_sn,
        buffer_offset: offset,
        desired_data_transfer_length: length,
    })
}

fn logout_response(tag: u32, sequence: TargetSequence) -> Pdu {
    Pdu::LogoutResponse(LogoutResponse {
        response: 0,
        initiator_task_tag: tag,
        sequence,
        time_to_wait_s: 0,
        time_to_retain_s: 0,
    })
}
