//! The target side of the login phase (RFC 7143 §6, §12), sans-I/O: Login Requests in, Login
//! Responses out, ending in an outcome the caller admits as a session (it assigns the TSIH) or
//! refuses.
//!
//! ```text
//!  first request ─► names, session type, target lookup
//!  security stage:  AuthMethod ─► None ────────────────────────────────┐
//!                   CHAP: CHAP_A ─► CHAP_I/CHAP_C ─► CHAP_N/CHAP_R ─► verify (mutual: answer)
//!  operational stage: the initiator's keys ─► Negotiator ─► answers ─┤ T=1, NSG=FullFeature
//!                                                                    ▼
//!                                      Admit(outcome) ─► accept(tsih) / refuse(class, detail)
//! ```
//!
//! Owns stage transitions, the status class of every refusal, StatSN of the login responses
//! and the bound on exchanges. It does not know sessions (the caller decides about TSIH and
//! reinstatement) and never reads a socket or a clock.

use bytes::Bytes;

use crate::chap::{self, ChapChallenge, ChapCredentials};
use crate::login::{SessionType, MAX_LOGIN_EXCHANGES};
use crate::params::{Negotiator, OperationalParams, OperationalProposal};
use crate::pdu::{LoginRequest, LoginResponse, LoginStage, TargetSequence};
use crate::text::{TextAssembler, TextPairs};

/// How initiators must authenticate to a target.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum AuthPolicy {
    /// No authentication (AuthMethod=None).
    #[default]
    None,
    /// CHAP-MD5: the initiator must prove `initiator`; with `target` set, an initiator may ask
    /// the target to prove those credentials in turn (mutual CHAP).
    Chap {
        initiator: ChapCredentials,
        target: Option<ChapCredentials>,
    },
}

/// One target reachable through the portal a connection arrived on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetEntry {
    pub name: String,
    pub alias: Option<String>,
    pub auth: AuthPolicy,
}

/// What one login needs to know about the target side.
#[derive(Clone, Debug)]
pub struct TargetLoginConfig {
    /// Targets the initiator may name.
    pub targets: Vec<TargetEntry>,
    /// Authentication of discovery sessions.
    pub discovery_auth: AuthPolicy,
    /// TargetPortalGroupTag of the portal.
    pub portal_group_tag: u16,
    /// The target's limits; the negotiator's result functions apply them.
    pub proposal: OperationalProposal,
    /// StatSN of the first Login Response.
    pub initial_stat_sn: u32,
    /// Commands the session may have outstanding (sets the first MaxCmdSN).
    pub command_window: u32,
}

/// The result of a login the caller may now admit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetLoginOutcome {
    pub initiator_name: String,
    pub session_type: SessionType,
    pub isid: [u8; 6],
    /// The TSIH the initiator sent: 0 for a new session.
    pub tsih: u16,
    pub cid: u16,
    pub params: OperationalParams,
    /// The CmdSN the first non-immediate command of the full feature phase carries.
    pub exp_cmd_sn: u32,
    /// StatSN of the first status the full feature phase sends.
    pub next_stat_sn: u32,
}

/// Why a login is refused: the status class and detail of the final Login Response
/// (RFC 7143 §11.13.5).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("login refused with status {class:#04x}/{detail:#04x}: {reason}")]
pub struct LoginRefusal {
    pub class: u8,
    pub detail: u8,
    pub reason: String,
}

impl LoginRefusal {
    fn new(class: u8, detail: u8, reason: impl Into<String>) -> LoginRefusal {
        LoginRefusal {
            class,
            detail,
            reason: reason.into(),
        }
    }

    fn initiator(detail: u8, reason: impl Into<String>) -> LoginRefusal {
        LoginRefusal::new(0x02, detail, reason)
    }
}

/// What to do after a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetLoginStep {
    /// Send this response and wait for the next request.
    Continue(LoginResponse),
    /// Send this refusal, then close the connection.
    Refuse(LoginResponse, LoginRefusal),
    /// The initiator may enter the full feature phase: call [`TargetLogin::accept`] with the
    /// session's TSIH (or [`TargetLogin::refuse`]) and send the response it returns.
    Admit(TargetLoginOutcome),
}

#[derive(Clone, Debug)]
enum Security {
    /// Waiting for AuthMethod (or a transit when no authentication is required).
    Start,
    /// Offered CHAP; waiting for CHAP_A.
    ChapAlgorithm,
    /// Sent our challenge; waiting for CHAP_N and CHAP_R.
    ChapResponse(ChapChallenge),
    /// Authenticated (or nothing to prove).
    Done,
}

/// The login state machine of one connection.
#[derive(Debug)]
pub struct TargetLogin {
    config: TargetLoginConfig,
    first: Option<LoginRequest>,
    initiator_name: String,
    session_type: Option<SessionType>,
    auth: AuthPolicy,
    security: Security,
    operational: bool,
    negotiator: Negotiator,
    assembler: TextAssembler,
    exchanges: usize,
    stat_sn: u32,
    /// The answers of the final exchange, sent with the accepting response.
    final_pairs: TextPairs,
    final_stage: LoginStage,
    sent_portal_group_tag: bool,
}

impl TargetLogin {
    pub fn new(config: TargetLoginConfig) -> TargetLogin {
        let negotiator = Negotiator::new(config.proposal.clone(), false);
        TargetLogin {
            stat_sn: config.initial_stat_sn,
            config,
            first: None,
            initiator_name: String::new(),
            session_type: None,
            auth: AuthPolicy::None,
            security: Security::Start,
            operational: false,
            negotiator,
            assembler: TextAssembler::default(),
            exchanges: 0,
            final_pairs: TextPairs::new(),
            final_stage: LoginStage::OperationalNegotiation,
            sent_portal_group_tag: false,
        }
    }

    /// Consumes one Login Request.
    pub fn handle_request(&mut self, request: &LoginRequest) -> TargetLoginStep {
        match self.step(request) {
            Ok(step) => step,
            Err(refusal) => TargetLoginStep::Refuse(self.refusal(request, &refusal), refusal),
        }
    }

    /// The final response admitting the session with `tsih` (after `Admit`).
    pub fn accept(&mut self, tsih: u16) -> LoginResponse {
        let pairs = std::mem::take(&mut self.final_pairs);
        let first = self.first.clone().unwrap_or_else(empty_request);
        let mut response = self.response(&first, self.final_stage, true, pairs);
        response.next_stage = LoginStage::FullFeature;
        response.tsih = tsih;
        response
    }

    /// A refusal of this login with any status (a fault can refuse every class): for class 1
    /// (redirection) `target_address` is sent as TargetAddress.
    pub fn refuse(
        &mut self,
        request: &LoginRequest,
        class: u8,
        detail: u8,
        target_address: Option<&str>,
    ) -> LoginResponse {
        let mut response = self.refusal(request, &LoginRefusal::new(class, detail, ""));
        if let Some(address) = target_address.filter(|_| class == 0x01) {
            let mut pairs = TextPairs::new();
            pairs.push("TargetAddress", address);
            response.data = Bytes::from(pairs.encode());
        }
        response
    }

    fn step(&mut self, request: &LoginRequest) -> Result<TargetLoginStep, LoginRefusal> {
        self.exchanges += 1;
        if self.exchanges > MAX_LOGIN_EXCHANGES {
            return Err(LoginRefusal::initiator(0x00, "too many login exchanges"));
        }
        self.check_consistent(request)?;
        self.assembler
            .push(&request.data)
            .map_err(|error| LoginRefusal::initiator(0x00, error.to_string()))?;
        if request.cont {
            let response = self.response(request, request.current_stage, false, TextPairs::new());
            return Ok(TargetLoginStep::Continue(response));
        }
        let pairs = self
            .assembler
            .finish()
            .map_err(|error| LoginRefusal::initiator(0x00, error.to_string()))?;
        if self.session_type.is_none() {
            self.identify(&pairs)?;
        }
        match request.current_stage {
            LoginStage::SecurityNegotiation => self.security_stage(request, &pairs),
            LoginStage::OperationalNegotiation => self.operational_stage(request, &pairs),
            LoginStage::FullFeature => Err(LoginRefusal::initiator(
                0x0b,
                "current stage cannot be the full feature phase",
            )),
        }
    }

    /// Every request of one login carries the same ISID, TSIH, CID and task tag, and a version
    /// range that includes 0.
    fn check_consistent(&mut self, request: &LoginRequest) -> Result<(), LoginRefusal> {
        let Some(first) = &self.first else {
            if request.version_min > 0 {
                return Err(LoginRefusal::initiator(0x05, "unsupported version"));
            }
            self.first = Some(request.clone());
            return Ok(());
        };
        let same = first.isid == request.isid
            && first.tsih == request.tsih
            && first.cid == request.cid
            && first.initiator_task_tag == request.initiator_task_tag;
        if !same {
            return Err(LoginRefusal::initiator(
                0x0b,
                "ISID, TSIH, CID or task tag changed during the login",
            ));
        }
        Ok(())
    }

    /// Reads the names and session type of the first request and looks the target up.
    fn identify(&mut self, pairs: &TextPairs) -> Result<(), LoginRefusal> {
        let name = pairs
            .get("InitiatorName")
            .filter(|name| !name.is_empty())
            .ok_or_else(|| LoginRefusal::initiator(0x07, "InitiatorName missing"))?;
        self.initiator_name = name.to_string();
        let session_type = match pairs.get("SessionType").unwrap_or("Normal") {
            "Normal" => {
                let target_name = pairs
                    .get("TargetName")
                    .ok_or_else(|| LoginRefusal::initiator(0x07, "TargetName missing"))?;
                let entry = self
                    .config
                    .targets
                    .iter()
                    .find(|entry| entry.name == target_name)
                    .ok_or_else(|| {
                        let shown: String = target_name.chars().take(64).collect();
                        LoginRefusal::initiator(0x03, format!("no target {shown}"))
                    })?;
                self.auth = entry.auth.clone();
                SessionType::Normal {
                    target_name: entry.name.clone(),
                }
            }
            "Discovery" => {
                self.auth = self.config.discovery_auth.clone();
                self.negotiator = Negotiator::new(self.config.proposal.clone(), true);
                SessionType::Discovery
            }
            _ => return Err(LoginRefusal::initiator(0x09, "unknown SessionType")),
        };
        self.session_type = Some(session_type);
        Ok(())
    }

    fn security_stage(
        &mut self,
        request: &LoginRequest,
        pairs: &TextPairs,
    ) -> Result<TargetLoginStep, LoginRefusal> {
        if self.operational {
            return Err(LoginRefusal::initiator(
                0x0b,
                "back to the security stage after the operational stage",
            ));
        }
        let mut answers = TextPairs::new();
        self.authenticate(pairs, &mut answers)?;
        let operational_keys = without_login_keys(pairs);
        answers.0.extend(self.negotiate(&operational_keys)?.0);
        let authenticated = matches!(self.security, Security::Done);
        let transit = request.transit && authenticated;
        if transit {
            self.operational = request.next_stage != LoginStage::SecurityNegotiation;
        }
        self.finish_step(request, LoginStage::SecurityNegotiation, transit, answers)
    }

    fn operational_stage(
        &mut self,
        request: &LoginRequest,
        pairs: &TextPairs,
    ) -> Result<TargetLoginStep, LoginRefusal> {
        if !matches!(self.security, Security::Done) {
            if self.auth != AuthPolicy::None {
                return Err(LoginRefusal::initiator(0x01, "authentication required"));
            }
            self.security = Security::Done;
        }
        self.operational = true;
        let answers = self.negotiate(&without_login_keys(pairs))?;
        self.finish_step(
            request,
            LoginStage::OperationalNegotiation,
            request.transit,
            answers,
        )
    }

    /// Answers the request, or, when the initiator may now enter the full feature phase,
    /// keeps the answers for the accepting response.
    fn finish_step(
        &mut self,
        request: &LoginRequest,
        stage: LoginStage,
        transit: bool,
        answers: TextPairs,
    ) -> Result<TargetLoginStep, LoginRefusal> {
        if transit && request.next_stage == LoginStage::FullFeature {
            let params = self
                .negotiator
                .finish()
                .map_err(|error| LoginRefusal::initiator(0x00, error.to_string()))?;
            self.final_pairs = self.with_portal_group_tag(answers);
            self.final_stage = stage;
            let outcome = TargetLoginOutcome {
                initiator_name: self.initiator_name.clone(),
                session_type: self.session_type.clone().unwrap_or(SessionType::Discovery),
                isid: request.isid,
                tsih: request.tsih,
                cid: request.cid,
                params,
                exp_cmd_sn: request.cmd_sn,
                next_stat_sn: self.stat_sn.wrapping_add(1),
            };
            return Ok(TargetLoginStep::Admit(outcome));
        }
        let answers = self.with_portal_group_tag(answers);
        let mut response = self.response(request, stage, transit, answers);
        if transit {
            response.next_stage = request.next_stage;
        }
        Ok(TargetLoginStep::Continue(response))
    }

    /// The first response of a normal session carries TargetPortalGroupTag (RFC 7143 §13.9).
    fn with_portal_group_tag(&mut self, mut answers: TextPairs) -> TextPairs {
        let normal = matches!(self.session_type, Some(SessionType::Normal { .. }));
        if normal && !self.sent_portal_group_tag {
            self.sent_portal_group_tag = true;
            let tag = self.config.portal_group_tag.to_string();
            answers
                .0
                .insert(0, ("TargetPortalGroupTag".to_string(), tag));
        }
        answers
    }

    fn negotiate(&mut self, pairs: &TextPairs) -> Result<TextPairs, LoginRefusal> {
        if pairs.is_empty() {
            return Ok(TextPairs::new());
        }
        self.negotiator
            .handle(pairs)
            .map_err(|error| LoginRefusal::initiator(0x00, error.to_string()))
    }

    /// The security keys of one request: AuthMethod, then the CHAP exchange.
    fn authenticate(
        &mut self,
        pairs: &TextPairs,
        answers: &mut TextPairs,
    ) -> Result<(), LoginRefusal> {
        match self.security.clone() {
            Security::Start => self.choose_method(pairs, answers),
            Security::ChapAlgorithm => self.choose_algorithm(pairs, answers),
            Security::ChapResponse(challenge) => self.check_chap(pairs, answers, &challenge),
            Security::Done => Ok(()),
        }
    }

    fn choose_method(
        &mut self,
        pairs: &TextPairs,
        answers: &mut TextPairs,
    ) -> Result<(), LoginRefusal> {
        let Some(offered) = pairs.get("AuthMethod") else {
            if self.auth == AuthPolicy::None {
                self.security = Security::Done;
                return Ok(());
            }
            return Err(LoginRefusal::initiator(0x01, "authentication required"));
        };
        let methods: Vec<&str> = offered.split(',').collect();
        let wanted = match self.auth {
            AuthPolicy::None => "None",
            AuthPolicy::Chap { .. } => "CHAP",
        };
        if !methods.contains(&wanted) {
            return Err(LoginRefusal::initiator(
                0x01,
                format!("AuthMethod {wanted} required"),
            ));
        }
        answers.push("AuthMethod", wanted);
        self.security = if wanted == "CHAP" {
            Security::ChapAlgorithm
        } else {
            Security::Done
        };
        Ok(())
    }

    fn choose_algorithm(
        &mut self,
        pairs: &TextPairs,
        answers: &mut TextPairs,
    ) -> Result<(), LoginRefusal> {
        let offered = pairs
            .get("CHAP_A")
            .ok_or_else(|| LoginRefusal::initiator(0x07, "CHAP_A missing"))?;
        let md5 = chap::CHAP_ALGORITHM_MD5.to_string();
        if !offered.split(',').any(|algorithm| algorithm == md5) {
            return Err(LoginRefusal::initiator(0x01, "CHAP_A without MD5 (5)"));
        }
        let challenge = ChapChallenge::random();
        answers.push("CHAP_A", md5);
        answers.push("CHAP_I", challenge.identifier.to_string());
        answers.push("CHAP_C", chap::encode_binary(&challenge.challenge));
        self.security = Security::ChapResponse(challenge);
        Ok(())
    }

    fn check_chap(
        &mut self,
        pairs: &TextPairs,
        answers: &mut TextPairs,
        challenge: &ChapChallenge,
    ) -> Result<(), LoginRefusal> {
        let AuthPolicy::Chap { initiator, target } = self.auth.clone() else {
            return Err(LoginRefusal::initiator(0x01, "CHAP not expected"));
        };
        let failure = || LoginRefusal::initiator(0x01, "CHAP authentication failed");
        let name = pairs.get("CHAP_N").ok_or_else(failure)?;
        let answer = pairs.get("CHAP_R").ok_or_else(failure)?;
        let proven = challenge
            .answered_by(&initiator.secret, answer)
            .unwrap_or(false);
        if name != initiator.user || !proven {
            return Err(failure());
        }
        if let (Some(identifier), Some(theirs)) = (pairs.get("CHAP_I"), pairs.get("CHAP_C")) {
            let target = target.ok_or_else(|| {
                LoginRefusal::initiator(0x01, "mutual CHAP asked but not configured")
            })?;
            answer_mutual(&target, identifier, theirs, challenge, answers)?;
        }
        self.security = Security::Done;
        Ok(())
    }

    fn refusal(&mut self, request: &LoginRequest, refusal: &LoginRefusal) -> LoginResponse {
        let mut response = self.response(request, request.current_stage, false, TextPairs::new());
        response.status_class = refusal.class;
        response.status_detail = refusal.detail;
        response
    }

    /// A response to `request` in `stage`; consumes one StatSN.
    fn response(
        &mut self,
        request: &LoginRequest,
        stage: LoginStage,
        transit: bool,
        pairs: TextPairs,
    ) -> LoginResponse {
        let stat_sn = self.stat_sn;
        self.stat_sn = self.stat_sn.wrapping_add(1);
        let window = self.config.command_window.max(1);
        LoginResponse {
            transit,
            cont: false,
            current_stage: stage,
            next_stage: LoginStage::SecurityNegotiation,
            version_max: 0,
            version_active: 0,
            isid: request.isid,
            tsih: 0,
            initiator_task_tag: request.initiator_task_tag,
            sequence: TargetSequence {
                stat_sn,
                exp_cmd_sn: request.cmd_sn,
                max_cmd_sn: request.cmd_sn.wrapping_add(window - 1),
            },
            status_class: 0,
            status_detail: 0,
            data: Bytes::from(pairs.encode()),
        }
    }
}

/// Mutual CHAP: prove the target's credentials to the initiator's challenge, refusing a
/// challenge that reflects our own.
fn answer_mutual(
    target: &ChapCredentials,
    identifier: &str,
    theirs: &str,
    ours: &ChapChallenge,
    answers: &mut TextPairs,
) -> Result<(), LoginRefusal> {
    let bad = |reason: &str| LoginRefusal::initiator(0x01, reason.to_string());
    let identifier = chap::parse_identifier(identifier).map_err(|_| bad("bad CHAP_I"))?;
    let challenge = chap::parse_challenge(theirs).map_err(|_| bad("bad CHAP_C"))?;
    if challenge.as_slice() == ours.challenge.as_slice() {
        return Err(bad("the initiator reflected the target's challenge"));
    }
    answers.push("CHAP_N", target.user.clone());
    let response = chap::response(identifier, &target.secret, &challenge);
    answers.push("CHAP_R", chap::encode_binary(&response));
    Ok(())
}

/// Keys that are not negotiated: names, session type and the security keys.
fn without_login_keys(pairs: &TextPairs) -> TextPairs {
    const LOGIN_KEYS: [&str; 12] = [
        "InitiatorName",
        "InitiatorAlias",
        "TargetName",
        "SessionType",
        "AuthMethod",
        "CHAP_A",
        "CHAP_I",
        "CHAP_C",
        "CHAP_N",
        "CHAP_R",
        "TargetAlias",
        "TargetPortalGroupTag",
    ];
    TextPairs(
        pairs
            .0
            .iter()
            .filter(|(key, _)| !LOGIN_KEYS.contains(&key.as_str()))
            .cloned()
            .collect(),
    )
}

fn empty_request() -> LoginRequest {
    LoginRequest {
        transit: false,
        cont: false,
        current_stage: LoginStage::OperationalNegotiation,
        next_stage: LoginStage::FullFeature,
        version_max: 0,
        version_min: 0,
        isid: [0; 6],
        tsih: 0,
        initiator_task_tag: 0,
        cid: 0,
        cmd_sn: 0,
        exp_stat_sn: 0,
        data: Bytes::new(),
    }
}
