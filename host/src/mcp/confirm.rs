//! Asking the caller to confirm an approved write (docs/confirmations.md).
//!
//! The outbound door stops a write that needs confirmation and asks the
//! call's [`Gate`] (`outbound/confirm.rs`). Who answers depends on how the
//! call came in:
//!
//! - **A 2025 session** (Streamable HTTP, legacy SSE, stdio): the gateway
//!   sends `elicitation/create` to the client while the tool waits
//!   ([`ElicitConfirmer`]), on the call's own stream; a client that declared
//!   no elicitation capability is not asked, and the write is refused.
//! - **A 2026-07-28 request**: nothing may be sent to the client mid-call.
//!   The first run stops at the write (nothing is sent) and the call is
//!   answered `input_required` with the question and a signed, expiring
//!   `requestState` ([`RequestState`]) bound to the tool's definition, the
//!   caller, the arguments and the exact write. The client retries with its
//!   answer and that state; the rerun lets through exactly the writes
//!   confirmed, in order ([`RetryConfirmer`]). A state that does not verify,
//!   has expired, was used already, or belongs to another call is refused
//!   with a JSON-RPC error.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientResult, ContentBlock,
    ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequests, InputRequiredResult, ProtocolVersion, RequestId, ServerRequest,
};
use rmcp::service::{
    ElicitationMode, OriginatingRequestId, PeerRequestOptions, RequestContext, ServiceError,
};
use rmcp::{ErrorData as McpError, Peer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::session_id::{PrincipalDigest, SessionKey};
use crate::auth::Caller;
use crate::outbound::confirm::{
    Answer, Confirmation, Confirmer, Gate, PendingWrite, WriteFingerprint,
};
use crate::runtime::LoadedTool;

/// The key of the one question in an `input_required` result.
pub const INPUT_KEY: &str = "confirm_write";
/// The boolean the answer must set to `true` for the write to leave.
pub const CONFIRM_FIELD: &str = "confirm";
/// The `requestState` format tag.
const STATE_TAG: &str = "c1";
/// What the confirmation key is derived for, from the session key.
const KEY_PURPOSE: &[u8] = b"agent-gateway confirmation request state v1";
/// The most used states remembered at once (each until it expires).
const MAX_REMEMBERED: usize = 100_000;
/// Longest `requestState` read, in bytes.
const MAX_STATE_BYTES: usize = 16 << 10;

/// Why a retry's `requestState` is refused (a JSON-RPC error, -32602).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateRefusal {
    /// Not of the gateway's form, or its MAC does not verify: altered,
    /// forged, or signed by another key.
    #[error("the requestState does not verify")]
    Tampered,
    /// Past its lifetime (`[outbound] confirm_timeout_ms`).
    #[error("the requestState has expired")]
    Expired,
    /// Already answered once: a confirmation lets one run through.
    #[error("the requestState was already used")]
    Replayed,
    /// Issued for another tool, tool version, caller or arguments.
    #[error("the requestState belongs to another call")]
    OtherCall,
    /// Too many states are waiting to expire to remember one more.
    #[error("too many confirmations are outstanding; retry later")]
    Busy,
}

impl StateRefusal {
    /// The reason's code, in the error's `data.reason` and the audit line.
    pub fn code(self) -> &'static str {
        match self {
            StateRefusal::Tampered => "request_state_tampered",
            StateRefusal::Expired => "request_state_expired",
            StateRefusal::Replayed => "request_state_replayed",
            StateRefusal::OtherCall => "request_state_other_call",
            StateRefusal::Busy => "request_state_busy",
        }
    }

    fn to_mcp(self) -> McpError {
        McpError::invalid_params(self.to_string(), Some(json!({ "reason": self.code() })))
    }
}

/// The gateway's confirmation settings and state: the key `requestState`
/// is signed with, how long a question waits, and the states already used.
pub struct Confirmations {
    key: hmac::Key,
    timeout: Duration,
    used: Mutex<HashMap<[u8; 16], u64>>,
    random: SystemRandom,
}

impl std::fmt::Debug for Confirmations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmations")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Confirmations {
    fn default() -> Self {
        Self::new(None, crate::settings::DEFAULT_CONFIRM_TIMEOUT)
    }
}

impl Confirmations {
    /// With a key derived from the replicas' session key (so any replica
    /// verifies a state another issued), or a random key of this process's
    /// own; questions wait `timeout`, and states live as long.
    pub fn new(session_key: Option<&SessionKey>, timeout: Duration) -> Self {
        let random = SystemRandom::new();
        let bytes = match session_key {
            Some(key) => key.derive(KEY_PURPOSE),
            None => {
                let mut bytes = [0u8; 32];
                // The system's random source does not fail on Linux once
                // booted; were it to, states would still be signed, under a
                // key a client cannot know either.
                let _ = random.fill(&mut bytes);
                bytes
            }
        };
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            timeout,
            used: Mutex::new(HashMap::new()),
            random,
        }
    }

    /// How long a question waits for its answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn seal(&self, state: &RequestState) -> String {
        let body = serde_json::to_vec(state).unwrap_or_default();
        let signed = format!("{STATE_TAG}.{}", URL_SAFE_NO_PAD.encode(body));
        let tag = hmac::sign(&self.key, signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    fn open(&self, token: &str, now_ms: u64) -> Result<RequestState, StateRefusal> {
        if token.len() > MAX_STATE_BYTES {
            return Err(StateRefusal::Tampered);
        }
        let (signed, mac) = token.rsplit_once('.').ok_or(StateRefusal::Tampered)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| StateRefusal::Tampered)?;
        hmac::verify(&self.key, signed.as_bytes(), &mac).map_err(|_| StateRefusal::Tampered)?;
        let body = signed
            .strip_prefix(STATE_TAG)
            .and_then(|rest| rest.strip_prefix('.'))
            .ok_or(StateRefusal::Tampered)?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| StateRefusal::Tampered)?;
        let state: RequestState =
            serde_json::from_slice(&body).map_err(|_| StateRefusal::Tampered)?;
        if state.expires_ms <= now_ms {
            return Err(StateRefusal::Expired);
        }
        Ok(state)
    }

    /// Marks the state's nonce used; refuses one used before.
    fn consume(&self, state: &RequestState, now_ms: u64) -> Result<(), StateRefusal> {
        let nonce = decode_nonce(&state.nonce).ok_or(StateRefusal::Tampered)?;
        let Ok(mut used) = self.used.lock() else {
            return Err(StateRefusal::Busy);
        };
        if used.len() >= MAX_REMEMBERED {
            used.retain(|_, expires| *expires > now_ms);
        }
        if used.len() >= MAX_REMEMBERED {
            return Err(StateRefusal::Busy);
        }
        if used.insert(nonce, state.expires_ms).is_some() {
            return Err(StateRefusal::Replayed);
        }
        Ok(())
    }

    fn nonce(&self) -> String {
        let mut nonce = [0u8; 16];
        let _ = self.random.fill(&mut nonce);
        URL_SAFE_NO_PAD.encode(nonce)
    }
}

fn decode_nonce(text: &str) -> Option<[u8; 16]> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
}

/// What a 2026-07-28 `requestState` carries, signed. Nothing in it is
/// secret: digests, the tool's name and times.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestState {
    /// The tool.
    pub tool: String,
    /// Its definition hash when the question was asked.
    pub definition: String,
    /// The caller's principal digest (hex).
    pub caller: String,
    /// SHA-256 of the call's arguments (hex).
    pub arguments: String,
    /// Writes already confirmed earlier in this call's rounds, in order.
    pub confirmed: Vec<String>,
    /// The write this question is about.
    pub pending: String,
    /// Unix time in milliseconds after which the state is refused.
    pub expires_ms: u64,
    /// Makes each state single-use.
    pub nonce: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of the arguments as JSON (object keys sorted, as serde_json's
/// map keeps them).
fn arguments_digest(arguments: Option<&rmcp::model::JsonObject>) -> String {
    let text = arguments.map_or_else(|| "{}".to_owned(), |a| Value::Object(a.clone()).to_string());
    hex(&Sha256::digest(text.as_bytes()))
}

/// The boolean question a person answers.
fn schema() -> ElicitationSchema {
    ElicitationSchema::builder()
        .required_bool(CONFIRM_FIELD)
        .description("Set confirm to true to send this request; anything else sends nothing.")
        .build_unchecked()
}

fn question(tool: &str, write: &PendingWrite) -> ElicitRequestParams {
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: write.summary.message(tool),
        requested_schema: schema(),
    }
}

/// What an elicitation answer means for the write.
pub fn judge(result: &ElicitResult) -> Answer {
    match result.action {
        ElicitationAction::Accept => {
            let yes = result
                .content
                .as_ref()
                .and_then(|c| c.get(CONFIRM_FIELD))
                .and_then(Value::as_bool)
                == Some(true);
            if yes {
                Answer::Confirmed
            } else {
                Answer::Declined
            }
        }
        ElicitationAction::Cancel => Answer::Cancelled,
        // Decline, and any action a later revision adds: nothing is sent.
        _ => Answer::Declined,
    }
}

/// Asks a 2025 client through `elicitation/create`, on the stream of the
/// call that is waiting.
pub struct ElicitConfirmer {
    peer: Peer<RoleServer>,
    originating: RequestId,
    tool: String,
    timeout: Duration,
}

impl Confirmer for ElicitConfirmer {
    fn confirm<'a>(
        &'a self,
        write: &'a PendingWrite,
    ) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>> {
        Box::pin(async move {
            if !self
                .peer
                .supported_elicitation_modes()
                .contains(&ElicitationMode::Form)
            {
                return Answer::Unsupported;
            }
            let mut request = ElicitRequest::new(question(&self.tool, write));
            // On the waiting call's own stream (the hooks of wasi:http may
            // run this outside the handler's task, where rmcp cannot tell).
            request
                .extensions
                .insert(OriginatingRequestId(self.originating.clone()));
            let sent = self
                .peer
                .send_request_with_option(
                    ServerRequest::ElicitRequest(request),
                    PeerRequestOptions::with_timeout(self.timeout),
                )
                .await;
            let answered = match sent {
                Ok(handle) => handle.await_response().await,
                Err(e) => Err(e),
            };
            match answered {
                Ok(ClientResult::ElicitResult(result)) => judge(&result),
                Ok(_) => Answer::Failed,
                Err(ServiceError::Timeout { .. }) => Answer::TimedOut,
                Err(e) => {
                    tracing::info!(tool = %self.tool, "confirmation not delivered: {e}");
                    Answer::Failed
                }
            }
        })
    }
}

/// A 2026-07-28 run: lets through the writes confirmed in earlier rounds,
/// in order, and defers the first other one to the client (or refuses it
/// when the client cannot answer elicitation).
pub struct RetryConfirmer {
    confirmed: Mutex<VecDeque<WriteFingerprint>>,
    can_ask: bool,
    /// Whether this run has let a confirmed write through.
    sent: std::sync::atomic::AtomicBool,
}

impl Confirmer for RetryConfirmer {
    fn confirm<'a>(
        &'a self,
        write: &'a PendingWrite,
    ) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>> {
        let next = self.confirmed.lock().ok().and_then(|mut c| {
            if c.front() == Some(&write.fingerprint) {
                c.pop_front()
            } else {
                None
            }
        });
        use std::sync::atomic::Ordering;
        let answer = match next {
            Some(_) => {
                self.sent.store(true, Ordering::SeqCst);
                Answer::Confirmed
            }
            // Another round would rerun the tool and send the first write again.
            None if self.sent.load(Ordering::SeqCst) => Answer::SecondWrite,
            None if self.can_ask => Answer::Deferred,
            None => Answer::Unsupported,
        };
        Box::pin(async move { answer })
    }
}

/// How a call that may need confirmations runs.
pub enum Plan {
    /// No confirmation applies: the call runs as always.
    Plain,
    /// The call runs with this gate; [`finish`] reads what it asked.
    Gated {
        /// The call's gate.
        gate: Arc<Gate>,
        /// For a 2026-07-28 request: what a new `requestState` binds.
        stateless: Option<Binding>,
    },
    /// A retry that answered no: nothing runs, and this is the result.
    Answered(CallToolResult, Answer),
    /// A retry without its answer: asked again, same state.
    AskAgain(InputRequiredResult),
}

/// What a 2026-07-28 question binds.
pub struct Binding {
    tool: String,
    definition: String,
    caller: String,
    arguments: String,
}

/// Decides how `tool` runs for this request. A retry's `requestState` is
/// checked here; what fails is a JSON-RPC error.
pub fn plan(
    confirmations: &Confirmations,
    tool: &LoadedTool,
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
    caller: &Caller,
) -> Result<Plan, (McpError, &'static str)> {
    if !tool.confirms_writes() {
        return Ok(Plan::Plain);
    }
    let name = tool.definition.name.clone();
    let stateless = context
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
    if !stateless {
        let confirmer = ElicitConfirmer {
            peer: context.peer.clone(),
            originating: context.id.clone(),
            tool: name,
            timeout: confirmations.timeout,
        };
        return Ok(Plan::Gated {
            gate: Arc::new(Gate::new(confirmer)),
            stateless: None,
        });
    }
    let binding = Binding {
        tool: name,
        definition: tool.definition_sha256.clone(),
        caller: PrincipalDigest::of(&caller.principal).hex(),
        arguments: arguments_digest(request.arguments.as_ref()),
    };
    let can_ask = context
        .client_capabilities()
        .is_some_and(|c| c.elicitation.is_some());
    let mut confirmed = VecDeque::new();
    if let Some(token) = request.request_state.as_deref() {
        let now = now_ms();
        let refuse = |r: StateRefusal| (r.to_mcp(), r.code());
        let state = confirmations.open(token, now).map_err(refuse)?;
        if state.tool != binding.tool
            || state.definition != binding.definition
            || state.caller != binding.caller
            || state.arguments != binding.arguments
        {
            return Err(refuse(StateRefusal::OtherCall));
        }
        let answer = request
            .input_responses
            .as_ref()
            .and_then(|r| r.get(INPUT_KEY));
        let Some(answer) = answer else {
            // Asked again, same question and state (nothing consumed).
            return Ok(Plan::AskAgain(input_required_again(token, &binding.tool)));
        };
        confirmations.consume(&state, now).map_err(refuse)?;
        let answer = serde_json::from_value::<ElicitResult>(answer.clone())
            .map_or(Answer::Failed, |r| judge(&r));
        if answer != Answer::Confirmed {
            return Ok(Plan::Answered(not_confirmed_result(None, answer), answer));
        }
        for fp in state
            .confirmed
            .iter()
            .chain(std::iter::once(&state.pending))
        {
            let Some(bytes) = decode_fingerprint(fp) else {
                return Err(refuse(StateRefusal::Tampered));
            };
            confirmed.push_back(WriteFingerprint(bytes));
        }
    }
    let confirmer = RetryConfirmer {
        confirmed: Mutex::new(confirmed),
        can_ask,
        sent: std::sync::atomic::AtomicBool::new(false),
    };
    Ok(Plan::Gated {
        gate: Arc::new(Gate::new(confirmer)),
        stateless: Some(binding),
    })
}

fn decode_fingerprint(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// An `input_required` result re-asking with an already issued state. The
/// write's summary is not in the state, so the question says only which
/// tool waits.
fn input_required_again(token: &str, tool: &str) -> InputRequiredResult {
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!(
            "Tool {tool} is waiting for your confirmation of the write it asked about. Send it?"
        ),
        requested_schema: schema(),
    };
    let mut requests = InputRequests::new();
    requests.insert(
        INPUT_KEY.to_owned(),
        InputRequest::Elicitation(ElicitRequest::new(params)),
    );
    InputRequiredResult::new(Some(requests), Some(token.to_owned()))
}

/// The call's result as a caller sees it, once the run is over; and how its
/// confirmations went, for the audit line (`None`: it asked nothing).
pub fn finish(
    confirmations: &Confirmations,
    plan: &Plan,
    result: CallToolResult,
    asked: &[Confirmation],
) -> (CallToolResponse, Option<&'static str>) {
    let Plan::Gated { stateless, .. } = plan else {
        return (result.into(), None);
    };
    if asked.is_empty() {
        return (result.into(), None);
    }
    if let (Some(binding), Some(deferred)) = (
        stateless,
        asked.iter().find(|c| c.answer == Answer::Deferred),
    ) {
        let state = RequestState {
            tool: binding.tool.clone(),
            definition: binding.definition.clone(),
            caller: binding.caller.clone(),
            arguments: binding.arguments.clone(),
            confirmed: asked
                .iter()
                .filter(|c| c.answer == Answer::Confirmed)
                .map(|c| c.write.fingerprint.hex())
                .collect(),
            pending: deferred.write.fingerprint.hex(),
            expires_ms: now_ms()
                .saturating_add(u64::try_from(confirmations.timeout.as_millis()).unwrap_or(0)),
            nonce: confirmations.nonce(),
        };
        let token = confirmations.seal(&state);
        let mut requests = InputRequests::new();
        requests.insert(
            INPUT_KEY.to_owned(),
            InputRequest::Elicitation(ElicitRequest::new(question(&binding.tool, &deferred.write))),
        );
        let ir = InputRequiredResult::new(Some(requests), Some(token));
        return (ir.into(), Some("asked"));
    }
    match asked
        .iter()
        .find(|c| !matches!(c.answer, Answer::Confirmed | Answer::Deferred))
    {
        Some(refused) => (
            not_confirmed_result(Some(refused), refused.answer).into(),
            Some(refused.answer.as_str()),
        ),
        None => (result.into(), Some(Answer::Confirmed.as_str())),
    }
}

/// The result of a call whose write was not confirmed: nothing was sent.
pub fn not_confirmed_result(write: Option<&Confirmation>, answer: Answer) -> CallToolResult {
    let what = write.map_or_else(
        || "the write".to_owned(),
        |c| format!("{} {}", c.write.summary.method, c.write.summary.url),
    );
    let message = format!(
        "{what} was not confirmed ({}); nothing was sent",
        answer.as_str()
    );
    let mut error = json!({ "code": "not_confirmed", "message": message, "answer": answer });
    if let Some(c) = write {
        error["write"] = serde_json::to_value(&c.write.summary).unwrap_or(Value::Null);
    }
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!(
        "[not_confirmed] {message}"
    ))]);
    result.structured_content = Some(json!({ "error": error }));
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn state(expires_ms: u64) -> RequestState {
        RequestState {
            tool: "t".into(),
            definition: "d".into(),
            caller: "c".into(),
            arguments: "a".into(),
            confirmed: Vec::new(),
            pending: "0".repeat(64),
            expires_ms,
            nonce: URL_SAFE_NO_PAD.encode([7u8; 16]),
        }
    }

    #[test]
    fn a_sealed_state_opens_once_and_only_unaltered() {
        let c = Confirmations::default();
        let token = c.seal(&state(2_000));
        assert_eq!(c.open(&token, 1_000), Ok(state(2_000)));
        assert_eq!(c.open(&token, 2_000), Err(StateRefusal::Expired));
        let tampered = format!("{token}-TAMPERED");
        assert_eq!(c.open(&tampered, 1_000), Err(StateRefusal::Tampered));
        let other = Confirmations::default();
        assert_eq!(other.open(&token, 1_000), Err(StateRefusal::Tampered));
        let s = c.open(&token, 1_000).unwrap();
        assert_eq!(c.consume(&s, 1_000), Ok(()));
        assert_eq!(c.consume(&s, 1_000), Err(StateRefusal::Replayed));
    }

    #[test]
    fn replicas_sharing_the_session_key_share_the_state_key() {
        let key = SessionKey::new(&[3u8; 32]).unwrap();
        let a = Confirmations::new(Some(&key), Duration::from_secs(1));
        let b = Confirmations::new(Some(&key), Duration::from_secs(1));
        let token = a.seal(&state(2_000));
        assert_eq!(b.open(&token, 1_000), Ok(state(2_000)));
    }

    #[test]
    fn only_accept_with_confirm_true_confirms() {
        let with = |action, content: Option<Value>| {
            let mut r = ElicitResult::new(action);
            r.content = content;
            judge(&r)
        };
        use ElicitationAction as A;
        assert_eq!(
            with(A::Accept, Some(json!({"confirm": true}))),
            Answer::Confirmed
        );
        assert_eq!(
            with(A::Accept, Some(json!({"confirm": false}))),
            Answer::Declined
        );
        assert_eq!(
            with(A::Accept, Some(json!({"confirm": "true"}))),
            Answer::Declined
        );
        assert_eq!(with(A::Accept, Some(json!({"ok": true}))), Answer::Declined);
        assert_eq!(with(A::Accept, None), Answer::Declined);
        assert_eq!(with(A::Decline, None), Answer::Declined);
        assert_eq!(with(A::Cancel, None), Answer::Cancelled);
    }

    fn write(body: &str) -> PendingWrite {
        let req = crate::outbound::OutboundRequest::from_guest(crate::outbound::GuestRequest {
            method: "POST".into(),
            url: "https://a.example/w".into(),
            headers: Vec::new(),
            body: Some(body.as_bytes().to_vec()),
        })
        .unwrap();
        PendingWrite {
            summary: crate::outbound::confirm::WriteSummary::of(
                &req,
                &crate::outbound::redact::Redactor::new(Vec::<(String, String)>::new()),
            ),
            fingerprint: WriteFingerprint::of(&req),
        }
    }

    #[tokio::test]
    async fn a_rerun_sends_the_confirmed_write_and_asks_for_no_second() {
        let (first, second) = (write("one"), write("two"));
        let rerun = RetryConfirmer {
            confirmed: Mutex::new(VecDeque::from([first.fingerprint])),
            can_ask: true,
            sent: std::sync::atomic::AtomicBool::new(false),
        };
        assert_eq!(rerun.confirm(&first).await, Answer::Confirmed);
        assert_eq!(rerun.confirm(&second).await, Answer::SecondWrite);
        assert_eq!(
            rerun.confirm(&first).await,
            Answer::SecondWrite,
            "used once"
        );
        let fresh = |can_ask| RetryConfirmer {
            confirmed: Mutex::new(VecDeque::new()),
            can_ask,
            sent: std::sync::atomic::AtomicBool::new(false),
        };
        assert_eq!(fresh(true).confirm(&second).await, Answer::Deferred);
        assert_eq!(fresh(false).confirm(&second).await, Answer::Unsupported);
    }
}
