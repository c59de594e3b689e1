//! Which MCP messages are tool calls still owed a result, for the graceful
//! shutdown ([`crate::shutdown`]). A `tools/call` request counts from the
//! moment the gateway reads it until its response has been handed to the
//! transport, or the client cancels it: a result computed but not yet sent
//! is not drained.
//!
//! Streamable HTTP answers each call on its own POST and counts it there
//! ([`super::http`]). The transports that carry a whole session on one stream,
//! legacy SSE and stdio, keep a [`Ledger`] of the calls they owe by id;
//! stdio's transport is wrapped in [`Draining`] ([`super::stdio`]).

use std::collections::HashMap;
use std::sync::Mutex;

use rmcp::RoleServer;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, JsonRpcMessage, RequestId,
    ServerJsonRpcMessage,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;

use crate::shutdown::{CallGuard, InFlight, Shutdown};

/// The tool calls one session owes a result, each counted in [`InFlight`].
#[derive(Debug)]
pub struct Ledger {
    calls: InFlight,
    /// `None` once the session's output has gone: nothing it owes can be
    /// delivered any more, so nothing counts.
    open: Mutex<Option<HashMap<RequestId, CallGuard>>>,
}

impl Ledger {
    /// An empty ledger counting in `calls`.
    pub fn new(calls: InFlight) -> Self {
        Self {
            calls,
            open: Mutex::new(Some(HashMap::new())),
        }
    }

    /// Notes a message from the client: a `tools/call` request opens a call,
    /// a cancellation closes the call it names (no response will follow).
    pub fn received(&self, message: &ClientJsonRpcMessage) {
        let Ok(mut guard) = self.open.lock() else {
            return;
        };
        let Some(open) = guard.as_mut() else { return };
        match message {
            JsonRpcMessage::Request(request)
                if matches!(request.request, ClientRequest::CallToolRequest(_)) =>
            {
                open.insert(request.id.clone(), self.calls.enter());
            }
            JsonRpcMessage::Notification(notification) => {
                if let ClientNotification::CancelledNotification(cancelled) =
                    &notification.notification
                    && let Some(id) = &cancelled.params.request_id
                {
                    open.remove(id);
                }
            }
            _ => {}
        }
    }

    /// The call `message` answers, if it answers one: drop the guard once
    /// the message is on its way to the client.
    pub fn answered(&self, message: &ServerJsonRpcMessage) -> Option<CallGuard> {
        let id = match message {
            JsonRpcMessage::Response(response) => &response.id,
            JsonRpcMessage::Error(error) => error.id.as_ref()?,
            _ => return None,
        };
        self.open.lock().ok()?.as_mut()?.remove(id)
    }

    /// The session's output is gone: forget what it owes, now and later.
    pub fn close(&self) {
        if let Ok(mut open) = self.open.lock() {
            *open = None;
        }
    }
}

/// A server transport that keeps a [`Ledger`] and, once the shutdown
/// stops, reads no new message: its input ends when the shutdown has
/// drained, after the calls it owes have been answered. The end of its own
/// input stops the shutdown too, so a client that closes its side (stdin)
/// still gets the results it is owed, within the same grace period.
#[derive(Debug)]
pub struct Draining<T> {
    inner: T,
    ledger: Ledger,
    shutdown: Shutdown,
}

impl<T> Draining<T> {
    /// Wraps `inner`, counting its calls in `shutdown`.
    pub fn new(inner: T, shutdown: Shutdown) -> Self {
        Self {
            inner,
            ledger: Ledger::new(shutdown.calls().clone()),
            shutdown,
        }
    }
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for Draining<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let answered = self.ledger.answered(&item);
        let sent = self.inner.send(item);
        async move {
            let result = sent.await;
            drop(answered);
            result
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        let stop = self.shutdown.stop().clone();
        let drained = self.shutdown.drained().clone();
        if !stop.is_cancelled() {
            tokio::select! {
                biased;
                () = stop.cancelled() => {}
                message = self.inner.receive() => match message {
                    Some(message) => {
                        self.ledger.received(&message);
                        return Some(message);
                    }
                    None => stop.cancel(),
                }
            }
        }
        drained.cancelled().await;
        None
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.ledger.close();
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client(value: serde_json::Value) -> ClientJsonRpcMessage {
        serde_json::from_value(value).expect("client message")
    }

    fn server(value: serde_json::Value) -> ServerJsonRpcMessage {
        serde_json::from_value(value).expect("server message")
    }

    #[test]
    fn a_call_counts_until_answered_or_cancelled() {
        let calls = InFlight::default();
        let ledger = Ledger::new(calls.clone());
        let call = |id: u64| {
            client(
                json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{}}}),
            )
        };
        ledger.received(&client(
            json!({"jsonrpc":"2.0","id":9,"method":"tools/list","params":{}}),
        ));
        assert_eq!(calls.count(), 0, "only tool calls count");
        ledger.received(&call(1));
        ledger.received(&call(2));
        assert_eq!(calls.count(), 2);

        let answer = server(json!({"jsonrpc":"2.0","id":1,"result":{"content":[]}}));
        let guard = ledger.answered(&answer).expect("call 1 was open");
        assert_eq!(calls.count(), 2, "counted until the answer is sent");
        drop(guard);
        assert_eq!(calls.count(), 1);
        assert!(ledger.answered(&answer).is_none(), "answered once");

        ledger.received(&client(
            json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}),
        ));
        assert_eq!(calls.count(), 0, "a cancelled call is owed nothing");

        ledger.received(&call(3));
        let error = server(
            json!({"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"unknown tool"}}),
        );
        drop(ledger.answered(&error));
        assert_eq!(calls.count(), 0, "an error answers too");
    }

    #[test]
    fn a_closed_ledger_counts_nothing() {
        let calls = InFlight::default();
        let ledger = Ledger::new(calls.clone());
        ledger.received(&client(
            json!({"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"echo"}}),
        ));
        assert_eq!(calls.count(), 1);
        ledger.close();
        assert_eq!(calls.count(), 0);
        ledger.received(&client(
            json!({"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"echo"}}),
        ));
        assert_eq!(calls.count(), 0);
    }
}
