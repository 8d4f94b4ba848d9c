//! One connection, from accept to close: the login phase (`login`), then the full feature
//! loop that moves bytes between the socket and the sans-I/O [`TargetSession`], runs
//! commands through the [`Engine`](crate::engine::Engine) when they are due, answers task
//! management, and obeys messages from the rest of the target (resets, window faults,
//! logout requests, tasks terminated elsewhere).
//!
//! ```text
//!  socket ─► decode ─► TargetSession ─► Command ─► Engine::admit ─► now: execute ─► complete
//!                                    │                          └─► later: Held ─► execute
//!                                    └► TaskManagement ─► Engine::task_management ─► discard
//!  TargetSession::poll_transmit ─► (delay fault) ─► socket
//! ```
//!
//! Owns the socket, the receive buffer and what the connection holds; never decides a
//! command's fate (the engine does).

mod held;
mod login;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::debug;
use unjam_iscsi::pdu::{Pdu, PduDecoder, PduError, TaskManagementFunction};
use unjam_iscsi::target::{
    CommandRequest, ManagementRequest, ResponseFaults, TargetEvent, TargetSession,
    TargetSessionError,
};
use unjam_sim::fault::WireAction;

use crate::engine::{Executed, Origin, Plan, Reach};
use crate::faults::PortalWindow;
use crate::registry::Control;
use crate::server::Shared;
use held::{Due, Held, HeldCommand};

pub use login::{nexus_id, LOGIN_TIMEOUT};

/// Room kept free in the receive buffer before each read.
const READ_CHUNK: usize = 256 * 1024;

/// Serves one accepted connection until it closes.
pub async fn serve(
    shared: Arc<Shared>,
    portal: usize,
    id: u64,
    mut stream: TcpStream,
    control: mpsc::Receiver<Control>,
) {
    let _ = stream.set_nodelay(true);
    let Some(logged_in) = login::log_in(&shared, portal, id, &mut stream).await else {
        return;
    };
    let mut connection = Connection {
        shared,
        id,
        portal,
        origin: logged_in.origin,
        session: logged_in.session,
        decoder: logged_in.decoder,
        buffer: logged_in.buffer,
        held: Held::default(),
        out: Vec::with_capacity(READ_CHUNK),
        window: PortalWindow::default(),
        close: Close::No,
    };
    connection.run(&mut stream, control).await;
    connection.release_all();
    if let Some(origin) = connection.origin {
        connection.shared.engine().nexus_lost(origin.nexus);
    }
    if connection.close == Close::Reset {
        // SO_LINGER 0 makes the close a TCP reset. tokio deprecates it because a non-zero
        // linger blocks on drop; a zero linger never waits.
        #[allow(deprecated)]
        let _ = stream.set_linger(Some(Duration::ZERO));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    No,
    /// After the pending output is sent (logout, cold reset).
    AfterFlush,
    /// At once, with a TCP reset.
    Reset,
}

struct Connection {
    shared: Arc<Shared>,
    id: u64,
    portal: usize,
    origin: Option<Origin>,
    session: TargetSession,
    decoder: PduDecoder,
    buffer: BytesMut,
    held: Held,
    out: Vec<u8>,
    window: PortalWindow,
    close: Close,
}

impl Connection {
    async fn run(&mut self, stream: &mut TcpStream, mut control: mpsc::Receiver<Control>) {
        self.reevaluate();
        loop {
            if self.close == Close::Reset {
                return;
            }
            // A blackhole sends nothing: the output waits in the session (bounded by its
            // command window) until the window ends.
            let silent = self.window.silent;
            if !silent && self.flush(stream).await.is_err() {
                return;
            }
            if !silent && self.close == Close::AfterFlush && !self.held.has_delayed_output() {
                let _ = stream.shutdown().await;
                return;
            }
            if self.buffer.capacity() - self.buffer.len() < READ_CHUNK / 4 {
                self.buffer.reserve(READ_CHUNK);
            }
            let clock = self.shared.clock;
            let deadline = self.held.next_due_us().map(|at| clock.instant(at));
            // Biased: a control message (a fault now in force, a reset) is applied before
            // bytes that arrived after it are read.
            tokio::select! {
                biased;
                message = control.recv() => match message {
                    Some(message) => self.on_control(message),
                    None => return,
                },
                read = stream.read_buf(&mut self.buffer), if !silent && !self.held.delayed_is_full() => match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => if let Err(error) = self.on_bytes() {
                        debug!(%error, "connection closed on a protocol error");
                        self.close = Close::Reset;
                    },
                },
                _ = sleep_until(deadline), if deadline.is_some() && !silent => self.on_due(),
            }
        }
    }

    /// Sends what the session has queued (held back while a delay fault is in force) and
    /// whatever delayed output is due.
    async fn flush(&mut self, stream: &mut TcpStream) -> std::io::Result<()> {
        self.out.clear();
        if self.session.poll_transmit(&mut self.out).is_err() {
            self.close = Close::Reset;
        }
        let now = self.shared.clock.now_us();
        if !self.out.is_empty() {
            if self.window.delay_us > 0 || self.held.has_delayed_output() {
                let bytes = std::mem::take(&mut self.out);
                self.held.delay_output(now + self.window.delay_us, bytes);
            } else {
                stream.write_all(&self.out).await?;
            }
        }
        while let Some(bytes) = self.held.released_output(now) {
            stream.write_all(&bytes).await?;
        }
        Ok(())
    }

    fn on_bytes(&mut self) -> Result<(), TargetSessionError> {
        while let Some((header, data)) = self.decoder.decode_frame(&mut self.buffer)? {
            match Pdu::from_parts(&header, data) {
                Ok(pdu) => self.session.handle_pdu(pdu)?,
                Err(PduError::UnknownOpcode(_)) => self.session.reject_pdu(0x04, &header),
                Err(_) => self.session.reject_pdu(0x09, &header),
            }
            self.on_events();
            if self.close != Close::No {
                break;
            }
        }
        Ok(())
    }

    fn on_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                TargetEvent::Command(command) => self.on_command(command),
                TargetEvent::TaskManagement(request) => self.on_management(request),
                TargetEvent::LoggedOut { .. } => self.close = Close::AfterFlush,
            }
        }
    }

    fn on_command(&mut self, command: CommandRequest) {
        let Some(origin) = self.origin else {
            self.session.reject_command(command.itt, 0x04);
            return;
        };
        let now = self.shared.clock.now_us();
        let mut engine = self.shared.engine();
        match engine.admit(now, origin, command.lun, &command.cdb) {
            Plan::Run(scheduled) if scheduled.due_us <= now => {
                let executed = engine.execute(
                    origin,
                    command.lun,
                    &command.cdb,
                    &command.data_out,
                    &scheduled,
                );
                drop(engine);
                self.deliver(command.itt, executed, scheduled.wire);
            }
            plan @ (Plan::Run(scheduled) | Plan::Swallow(scheduled)) => {
                drop(engine);
                let held = HeldCommand {
                    lun: command.lun,
                    cdb: command.cdb,
                    data_out: command.data_out,
                    scheduled,
                };
                let swallowed = matches!(plan, Plan::Swallow(_));
                self.held.hold(command.itt, held, swallowed);
            }
            Plan::ResetConnection => self.close = Close::Reset,
            Plan::Reject(reason) => {
                drop(engine);
                self.session.reject_command(command.itt, reason);
            }
        }
    }

    fn deliver(&mut self, itt: u32, executed: Executed, wire: Option<WireAction>) {
        match executed {
            Executed::Answer(result) => {
                let faults = ResponseFaults {
                    duplicate: wire == Some(WireAction::DuplicateResponse),
                    corrupt_digest: wire == Some(WireAction::CorruptDigest),
                };
                self.session.complete(itt, &result, faults);
            }
            Executed::Lost | Executed::Terminated => {
                self.session.discard(itt);
            }
            Executed::ResetConnection => self.close = Close::Reset,
        }
    }

    fn on_due(&mut self) {
        let now = self.shared.clock.now_us();
        while let Some(due) = self.held.pop_due(now) {
            match due {
                Due::Command { itt } => {
                    let (Some(origin), Some(command)) = (self.origin, self.held.take(itt)) else {
                        continue;
                    };
                    let executed = self.shared.engine().execute(
                        origin,
                        command.lun,
                        &command.cdb,
                        &command.data_out,
                        &command.scheduled,
                    );
                    self.deliver(itt, executed, command.scheduled.wire);
                }
                Due::Management { itt, response } => {
                    self.session.complete_management(itt, response);
                }
            }
        }
    }

    fn on_management(&mut self, request: ManagementRequest) {
        let Some(origin) = self.origin else {
            return;
        };
        let now = self.shared.clock.now_us();
        let cdb = match request.referenced_itt {
            Some(itt) => self.session.task_cdb(itt),
            None => self
                .session
                .tasks_on(Some(request.lun))
                .first()
                .and_then(|itt| self.session.task_cdb(*itt)),
        };
        let cdb = cdb.unwrap_or_default();
        let plan =
            self.shared
                .engine()
                .task_management(now, origin, request.function, request.lun, &cdb);
        let mut response = plan.response;
        if let Some(reach) = plan.reach {
            response = self.terminate(origin, &request, reach).unwrap_or(response);
        }
        match plan.answer_after_us {
            Some(0) => self.session.complete_management(request.itt, response),
            Some(delay_us) => self.held.schedule(
                now.saturating_add(delay_us),
                Due::Management {
                    itt: request.itt,
                    response,
                },
            ),
            None => debug!(itt = request.itt, "task management function hangs (fault)"),
        }
    }

    /// Ends the tasks a successful task management function reaches, here and on the
    /// target's other connections. Returns a different response code when ABORT TASK names
    /// a task the connection does not have.
    fn terminate(
        &mut self,
        origin: Origin,
        request: &ManagementRequest,
        reach: Reach,
    ) -> Option<u8> {
        let shared = Arc::clone(&self.shared);
        let id = self.id;
        let registry = |message| {
            shared
                .registry()
                .to_target_except(origin.target, id, message)
        };
        match reach {
            Reach::Task => {
                let itt = request.referenced_itt?;
                if !self.session.has_task(itt) {
                    return Some(1);
                }
                self.drop_task(itt);
            }
            Reach::Lun(lun) => {
                self.drop_tasks(Some(lun));
                if request.function != TaskManagementFunction::AbortTaskSet {
                    registry(Control::Terminate { lun: Some(lun) });
                }
            }
            Reach::Target => {
                self.drop_tasks(None);
                registry(Control::Terminate { lun: None });
            }
            Reach::TargetCold => {
                self.drop_tasks(None);
                registry(Control::Reset);
                self.close = Close::AfterFlush;
            }
        }
        None
    }

    fn drop_tasks(&mut self, lun: Option<u64>) {
        for itt in self.session.tasks_on(lun) {
            self.drop_task(itt);
        }
    }

    fn drop_task(&mut self, itt: u32) {
        self.session.discard(itt);
        if let Some(command) = self.held.take(itt) {
            self.shared.engine().release(&command.scheduled);
        }
    }

    fn on_control(&mut self, message: Control) {
        match message {
            Control::Reset => self.close = Close::Reset,
            Control::Reevaluate => self.reevaluate(),
            Control::LogoutRequest { within_s } => self.session.request_logout(within_s),
            Control::Terminate { lun } => self.drop_tasks(lun),
        }
    }

    /// Applies the window faults in force on the portal now.
    fn reevaluate(&mut self) {
        let now = self.shared.clock.now_us();
        let window = self
            .shared
            .engine()
            .faults()
            .portal_window(now, self.portal);
        self.session.set_window_stalled(window.stall_cmd_sn);
        self.session.set_answer_nops(!window.ignore_nops);
        if self.window.stall_cmd_sn && !window.stall_cmd_sn {
            self.session.announce_window();
        }
        self.window = window;
    }

    /// Everything the connection holds goes back to the engine (it will never run).
    fn release_all(&mut self) {
        let commands = self.held.drain_commands();
        if commands.is_empty() {
            return;
        }
        let mut engine = self.shared.engine();
        for command in commands {
            engine.release(&command.scheduled);
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
