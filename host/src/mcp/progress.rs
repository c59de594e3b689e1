//! Progress and cancellation of a promoted tool's call (docs/progress.md).
//!
//! A `tools/call` whose `_meta` carries a `progressToken` gets a channel for
//! its tool's `progress.report` calls; [`forward`] turns each report the
//! runtime passes on (checked and rate-limited there,
//! `capability/progress.rs`) into `notifications/progress` for that token:
//! on the request's own SSE stream in a 2025 session (ahead of the result,
//! as its log lines go), through the peer otherwise (a stateless 2026-07-28
//! request's one stream, the legacy SSE stream, stdio). Without a token the
//! runtime gets no channel and drops reports at once.
//!
//! The call ends at once when its caller cancels: `notifications/cancelled`
//! for its id (rmcp cancels the request's token), the client dropping a
//! stateless request (rmcp does the same), or, in a 2025 session, the
//! client dropping the request's own stream.

use std::future::Future;
use std::pin::Pin;

use rmcp::RoleServer;
use rmcp::model::{Notification, ProgressNotificationParam, ProgressToken, ServerNotification};
use rmcp::service::RequestContext;

use super::sessions::RequestStream;
use crate::capability::progress::{self, ProgressReceiver, ProgressReport};
use crate::runtime::CallControl;

/// What a call needs from its request: the runtime's side (where progress
/// goes, what cancels it) and, when the request asked for progress, the
/// forwarder to run beside the call.
pub fn control(context: &RequestContext<RoleServer>) -> (CallControl, Option<Forwarder>) {
    let (sender, forwarder) = match context.meta.get_progress_token() {
        Some(token) => {
            let (sender, receiver) = progress::channel();
            let forwarder = Forwarder {
                receiver,
                token,
                stream: context.extensions.get::<RequestStream>().cloned(),
                peer: context.peer.clone(),
            };
            (Some(sender), Some(forwarder))
        }
        None => (None, None),
    };
    let control = CallControl {
        progress: sender,
        cancelled: Some(cancelled(context)),
        gate: None,
        spans: None,
    };
    (control, forwarder)
}

/// Resolves when the caller of the request in `context` cancels it.
fn cancelled(context: &RequestContext<RoleServer>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    let token = context.ct.clone();
    match context.extensions.get::<RequestStream>().cloned() {
        Some(stream) => Box::pin(async move {
            tokio::select! {
                () = token.cancelled_owned() => {}
                () = stream.closed() => {}
            }
        }),
        None => Box::pin(token.cancelled_owned()),
    }
}

/// Sends one call's progress reports to its caller.
pub struct Forwarder {
    receiver: ProgressReceiver,
    token: ProgressToken,
    stream: Option<RequestStream>,
    peer: rmcp::service::Peer<RoleServer>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Forwards every report until the call ends (its sink is dropped with the
/// call's store, so the channel closes) or the caller has gone.
pub async fn forward(mut forwarder: Forwarder) {
    while let Some(report) = forwarder.receiver.recv().await {
        let param = param(&forwarder.token, report);
        let sent = match &forwarder.stream {
            Some(stream) => stream.notify(ServerNotification::ProgressNotification(
                Notification::new(param),
            )),
            None => forwarder.peer.notify_progress(param).await.is_ok(),
        };
        if !sent {
            return;
        }
    }
}

fn param(token: &ProgressToken, report: ProgressReport) -> ProgressNotificationParam {
    let mut param = ProgressNotificationParam::new(token.clone(), report.done);
    param.total = report.total;
    param.message = report.message;
    param
}
