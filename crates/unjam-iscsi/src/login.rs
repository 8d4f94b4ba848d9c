//! The initiator side of the login phase (RFC 7143 §6.3, §12), sans-I/O: it hands out Login
//! Request PDUs and consumes Login Response PDUs, and ends with the negotiated parameters and
//! the sequence numbers the full feature phase starts from.
//!
//! ```text
//!  Security stage:  AuthMethod=None ──T──────────────────────────────┐
//!                   AuthMethod=CHAP → CHAP_A=5 → CHAP_N/CHAP_R(+I/C) ─┤
//!  Operational stage: offer keys (T, NSG=FullFeature) ⇄ answer target offers
//!                   ─► LoginOutcome (params, TSIH, StatSN, CmdSN window)
//! ```
//!
//! Owns the stage transitions, status-class interpretation and the bound on the number of
//! exchanges. It does not open sockets, read clocks, or retry a refused login.

use bytes::Bytes;
use tracing::debug;

use crate::chap::{self, ChapChallenge, ChapCredentials, ChapError};
use crate::params::{NegotiationError, Negotiator, OperationalParams, OperationalProposal};
use crate::pdu::{LoginRequest, LoginResponse, LoginStage};
use crate::text::{TextAssembler, TextError, TextPairs};

/// Most Login Response PDUs one login may take (continuations included) before it is
/// abandoned as a target that never lets us finish.
pub const MAX_LOGIN_EXCHANGES: usize = 32;

/// Which kind of session to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionType {
    Normal { target_name: String },
    Discovery,
}

/// How to authenticate.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Authentication {
    #[default]
    None,
    Chap {
        initiator: ChapCredentials,
        /// Set for mutual CHAP: the credentials the target must prove it knows.
        target: Option<ChapCredentials>,
    },
}

/// Everything one login needs.
#[derive(Clone, Debug)]
pub struct LoginConfig {
    pub initiator_name: String,
    pub session_type: SessionType,
    pub authentication: Authentication,
    pub isid: [u8; 6],
    /// 0 for a new session; a session's TSIH to add a connection (unused with one connection).
    pub tsih: u16,
    pub cid: u16,
    pub initiator_task_tag: u32,
    pub initial_cmd_sn: u32,
    pub proposal: OperationalProposal,
}

/// The result of a successful login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginOutcome {
    pub params: OperationalParams,
    pub tsih: u16,
    /// The StatSN the next status-carrying PDU will have.
    pub next_stat_sn: u32,
    /// CmdSN of the first non-immediate command.
    pub cmd_sn: u32,
    pub exp_cmd_sn: u32,
    pub max_cmd_sn: u32,
    pub target_alias: Option<String>,
    pub target_portal_group_tag: Option<u16>,
}

/// Why a login failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("target refused the login: {} (status class {class:#04x}, detail {detail:#04x})", status_meaning(*.class, *.detail))]
    Refused { class: u8, detail: u8 },
    #[error("target redirected the login to {address:?}")]
    Redirected { address: Option<String> },
    #[error("target requires authentication, but no CHAP credentials were given")]
    AuthenticationRequired,
    #[error("target does not accept the offered authentication method (it answered {0:?})")]
    AuthMethodRejected(String),
    #[error("CHAP: {0}")]
    Chap(#[from] ChapError),
    #[error("login key {0} missing from the target's response")]
    MissingKey(&'static str),
    #[error("negotiation: {0}")]
    Negotiation(#[from] NegotiationError),
    #[error("login text: {0}")]
    Text(#[from] TextError),
    #[error("login did not finish within {0} exchanges")]
    TooManyExchanges(usize),
    #[error("target answered with stage {received:?}, expected {expected:?}")]
    UnexpectedStage {
        received: LoginStage,
        expected: LoginStage,
    },
    #[error("login response for a different task tag or ISID")]
    WrongResponse,
}

/// The text of a login status (RFC 7143 §11.13.5).
pub fn status_meaning(class: u8, detail: u8) -> &'static str {
    match (class, detail) {
        (0, 0) => "success",
        (1, 1) => "target moved temporarily",
        (1, 2) => "target moved permanently",
        (2, 0) => "initiator error",
        (2, 1) => "authentication failure (wrong CHAP user or secret?)",
        (2, 2) => "authorization failure (initiator not allowed on this target)",
        (2, 3) => "target not found",
        (2, 4) => "target removed",
        (2, 5) => "unsupported version",
        (2, 6) => "too many connections",
        (2, 7) => "missing parameter",
        (2, 8) => "cannot include in session",
        (2, 9) => "session type not supported",
        (2, 10) => "session does not exist",
        (2, 11) => "invalid request during login",
        (3, 0) => "target error",
        (3, 1) => "service unavailable",
        (3, 2) => "out of resources",
        (1, _) => "redirection",
        (2, _) => "initiator error",
        _ => "target error",
    }
}

/// Where the conversation stands: what the last request asked for.
#[derive(Debug, Clone)]
enum Step {
    /// Sent the opening security keys (names and AuthMethod).
    SecurityOffer,
    /// Sent CHAP_A.
    ChapAlgorithm,
    /// Sent CHAP_N and CHAP_R (and our own challenge for mutual CHAP).
    ChapResponse { mutual: Option<ChapChallenge> },
    /// Sent operational keys (or answers) with T=1 towards the full feature phase.
    Operational,
}

/// Progress after a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginProgress {
    /// Send `poll_request()` and wait for the next response.
    Continue,
    Complete(LoginOutcome),
}

/// The login state machine. Call [`Login::poll_request`] to get a PDU to send and
/// [`Login::handle_response`] with each response.
#[derive(Debug)]
pub struct Login {
    config: LoginConfig,
    step: Step,
    negotiator: Negotiator,
    pending: Option<LoginRequest>,
    assembler: TextAssembler,
    exchanges: usize,
    exp_stat_sn: u32,
    target_alias: Option<String>,
    target_portal_group_tag: Option<u16>,
}

impl Login {
    /// Starts a login; the first request is ready at once.
    pub fn new(config: LoginConfig) -> Login {
        let discovery = config.session_type == SessionType::Discovery;
        let negotiator = Negotiator::new(config.proposal.clone(), discovery);
        let mut login = Login {
            config,
            step: Step::SecurityOffer,
            negotiator,
            pending: None,
            assembler: TextAssembler::default(),
            exchanges: 0,
            exp_stat_sn: 0,
            target_alias: None,
            target_portal_group_tag: None,
        };
        let pairs = login.opening_keys();
        let transit = matches!(login.config.authentication, Authentication::None);
        login.queue(LoginStage::SecurityNegotiation, transit, pairs);
        login
    }

    /// The next request to send, if one is due.
    pub fn poll_request(&mut self) -> Option<LoginRequest> {
        self.pending.take()
    }

    /// Consumes one Login Response.
    pub fn handle_response(
        &mut self,
        response: &LoginResponse,
    ) -> Result<LoginProgress, LoginError> {
        self.exchanges += 1;
        if self.exchanges > MAX_LOGIN_EXCHANGES {
            return Err(LoginError::TooManyExchanges(MAX_LOGIN_EXCHANGES));
        }
        // A refusal is reported first: tgtd does not echo the ISID in one.
        check_status(response)?;
        if response.initiator_task_tag != self.config.initiator_task_tag
            || response.isid != self.config.isid
        {
            return Err(LoginError::WrongResponse);
        }
        self.exp_stat_sn = response.sequence.stat_sn.wrapping_add(1);
        self.assembler.push(&response.data)?;
        if response.cont {
            // More text follows: ask for it with an empty request in the same stage.
            let stage = response.current_stage;
            self.queue_raw(stage, stage, false, Bytes::new());
            return Ok(LoginProgress::Continue);
        }
        let pairs = self.assembler.finish()?;
        self.note_declaratives(&pairs);
        match self.step.clone() {
            Step::SecurityOffer => self.after_security_offer(response, &pairs),
            Step::ChapAlgorithm => self.after_chap_algorithm(&pairs),
            Step::ChapResponse { mutual } => self.after_chap_response(response, &pairs, mutual),
            Step::Operational => self.after_operational(response, &pairs),
        }
    }

    fn opening_keys(&self) -> TextPairs {
        let mut pairs = TextPairs::new();
        pairs.push("InitiatorName", self.config.initiator_name.clone());
        match &self.config.session_type {
            SessionType::Normal { target_name } => {
                pairs.push("SessionType", "Normal");
                pairs.push("TargetName", target_name.clone());
            }
            SessionType::Discovery => pairs.push("SessionType", "Discovery"),
        }
        let method = match self.config.authentication {
            Authentication::None => "None",
            Authentication::Chap { .. } => "CHAP",
        };
        pairs.push("AuthMethod", method);
        pairs
    }

    fn after_security_offer(
        &mut self,
        response: &LoginResponse,
        pairs: &TextPairs,
    ) -> Result<LoginProgress, LoginError> {
        expect_stage(response.current_stage, LoginStage::SecurityNegotiation)?;
        let method = pairs.get("AuthMethod").unwrap_or("None");
        match (&self.config.authentication, method) {
            (Authentication::None, "None") => self.enter_operational(response),
            (Authentication::None, "CHAP") => Err(LoginError::AuthenticationRequired),
            (Authentication::Chap { .. }, "CHAP") => {
                let mut request = TextPairs::new();
                request.push("CHAP_A", chap::CHAP_ALGORITHM_MD5.to_string());
                self.step = Step::ChapAlgorithm;
                self.queue(LoginStage::SecurityNegotiation, false, request);
                Ok(LoginProgress::Continue)
            }
            (_, other) => Err(LoginError::AuthMethodRejected(
                other.chars().take(32).collect(),
            )),
        }
    }

    fn after_chap_algorithm(&mut self, pairs: &TextPairs) -> Result<LoginProgress, LoginError> {
        let Authentication::Chap { initiator, target } = self.config.authentication.clone() else {
            return Err(LoginError::AuthMethodRejected("None".into()));
        };
        let algorithm = pairs
            .get("CHAP_A")
            .ok_or(LoginError::MissingKey("CHAP_A"))?;
        if algorithm != "5" {
            return Err(
                ChapError::UnsupportedAlgorithm(algorithm.chars().take(16).collect()).into(),
            );
        }
        let identifier = chap::parse_identifier(
            pairs
                .get("CHAP_I")
                .ok_or(LoginError::MissingKey("CHAP_I"))?,
        )?;
        let challenge = chap::parse_challenge(
            pairs
                .get("CHAP_C")
                .ok_or(LoginError::MissingKey("CHAP_C"))?,
        )?;
        let mut request = TextPairs::new();
        request.push("CHAP_N", initiator.user.clone());
        let answer = chap::response(identifier, &initiator.secret, &challenge);
        request.push("CHAP_R", chap::encode_binary(&answer));
        let mutual = target.map(|_| ChapChallenge::random());
        if let Some(ours) = &mutual {
            if ours.challenge.as_slice() == challenge.as_slice() {
                return Err(ChapError::ReflectedChallenge.into());
            }
            request.push("CHAP_I", ours.identifier.to_string());
            request.push("CHAP_C", chap::encode_binary(&ours.challenge));
        }
        self.step = Step::ChapResponse { mutual };
        self.queue(LoginStage::SecurityNegotiation, true, request);
        Ok(LoginProgress::Continue)
    }

    fn after_chap_response(
        &mut self,
        response: &LoginResponse,
        pairs: &TextPairs,
        mutual: Option<ChapChallenge>,
    ) -> Result<LoginProgress, LoginError> {
        if let (
            Some(ours),
            Authentication::Chap {
                target: Some(expected),
                ..
            },
        ) = (&mutual, &self.config.authentication)
        {
            let name = pairs
                .get("CHAP_N")
                .ok_or(LoginError::MissingKey("CHAP_N"))?;
            let answer = pairs
                .get("CHAP_R")
                .ok_or(LoginError::MissingKey("CHAP_R"))?;
            ours.verify(expected, name, answer)?;
        }
        if !response.transit {
            // The target is not ready to leave the security stage; ask again (bounded by
            // MAX_LOGIN_EXCHANGES).
            self.step = Step::ChapResponse { mutual: None };
            self.queue(LoginStage::SecurityNegotiation, true, TextPairs::new());
            return Ok(LoginProgress::Continue);
        }
        self.enter_operational(response)
    }

    fn enter_operational(&mut self, response: &LoginResponse) -> Result<LoginProgress, LoginError> {
        if response.transit && response.next_stage == LoginStage::FullFeature {
            // The target skipped the operational stage: all defaults.
            return self.complete(response);
        }
        if !response.transit {
            self.queue(LoginStage::SecurityNegotiation, true, TextPairs::new());
            return Ok(LoginProgress::Continue);
        }
        let offer = self.negotiator.offer();
        self.step = Step::Operational;
        self.queue(LoginStage::OperationalNegotiation, true, offer);
        Ok(LoginProgress::Continue)
    }

    fn after_operational(
        &mut self,
        response: &LoginResponse,
        pairs: &TextPairs,
    ) -> Result<LoginProgress, LoginError> {
        expect_stage(response.current_stage, LoginStage::OperationalNegotiation)?;
        let answers = self.negotiator.handle(pairs)?;
        if response.transit && response.next_stage == LoginStage::FullFeature {
            // The target has left the login phase; keys it declared in this last response
            // (tgtd sends e.g. OFMarker/IFMarker) need no answer any more.
            if !answers.is_empty() {
                debug!(keys = ?answers, "target offered keys in its final login response");
            }
            return self.complete(response);
        }
        self.queue(LoginStage::OperationalNegotiation, true, answers);
        Ok(LoginProgress::Continue)
    }

    fn complete(&mut self, response: &LoginResponse) -> Result<LoginProgress, LoginError> {
        let params = self.negotiator.finish()?;
        Ok(LoginProgress::Complete(LoginOutcome {
            params,
            tsih: response.tsih,
            next_stat_sn: response.sequence.stat_sn.wrapping_add(1),
            cmd_sn: self.config.initial_cmd_sn,
            exp_cmd_sn: response.sequence.exp_cmd_sn,
            max_cmd_sn: response.sequence.max_cmd_sn,
            target_alias: self.target_alias.clone(),
            target_portal_group_tag: self.target_portal_group_tag,
        }))
    }

    fn note_declaratives(&mut self, pairs: &TextPairs) {
        if let Some(alias) = pairs.get("TargetAlias") {
            self.target_alias = Some(alias.to_string());
        }
        if let Some(tag) = pairs
            .get("TargetPortalGroupTag")
            .and_then(|tag| tag.parse().ok())
        {
            self.target_portal_group_tag = Some(tag);
        }
    }

    fn queue(&mut self, stage: LoginStage, transit: bool, pairs: TextPairs) {
        let next = match stage {
            LoginStage::SecurityNegotiation => LoginStage::OperationalNegotiation,
            _ => LoginStage::FullFeature,
        };
        self.queue_raw(stage, next, transit, Bytes::from(pairs.encode()));
    }

    fn queue_raw(&mut self, current: LoginStage, next: LoginStage, transit: bool, data: Bytes) {
        self.pending = Some(LoginRequest {
            transit,
            cont: false,
            current_stage: current,
            next_stage: if transit {
                next
            } else {
                current_or_zero(current)
            },
            version_max: 0,
            version_min: 0,
            isid: self.config.isid,
            tsih: self.config.tsih,
            initiator_task_tag: self.config.initiator_task_tag,
            cid: self.config.cid,
            cmd_sn: self.config.initial_cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
            data,
        });
    }
}

/// NSG is reserved (sent as 0) when T is clear.
fn current_or_zero(_current: LoginStage) -> LoginStage {
    LoginStage::SecurityNegotiation
}

fn expect_stage(received: LoginStage, expected: LoginStage) -> Result<(), LoginError> {
    if received == expected {
        return Ok(());
    }
    Err(LoginError::UnexpectedStage { received, expected })
}

fn check_status(response: &LoginResponse) -> Result<(), LoginError> {
    match response.status_class {
        0 => Ok(()),
        1 => {
            let pairs = TextPairs::parse(&response.data).unwrap_or_default();
            let address = pairs.get("TargetAddress").map(str::to_string);
            Err(LoginError::Redirected { address })
        }
        class => Err(LoginError::Refused {
            class,
            detail: response.status_detail,
        }),
    }
}
