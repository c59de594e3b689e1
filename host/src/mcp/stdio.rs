//! MCP over stdio: one client on stdin and stdout, for the whole life of the
//! process, its transport wrapped so a graceful shutdown drains the calls it
//! owes a result ([`super::drain`]).

use super::drain::Draining;
use super::handler::GatewayHandler;
use crate::shutdown::Shutdown;

/// Serves one client on stdin and stdout until `shutdown` stops (a signal,
/// or the end of stdin) and drains: run it under [`crate::shutdown::run`].
pub async fn serve(handler: GatewayHandler, shutdown: Shutdown) -> std::io::Result<()> {
    use rmcp::ServiceExt;
    let (stdin, stdout) = rmcp::transport::stdio();
    let transport = Draining::new(
        rmcp::transport::async_rw::AsyncRwTransport::new_server(stdin, stdout),
        shutdown.clone(),
    );
    match handler.serve(transport).await {
        Ok(running) => running
            .waiting()
            .await
            .map(drop)
            .map_err(std::io::Error::other),
        // Stopped before the client said hello: nothing was owed.
        Err(_) if shutdown.stop().is_cancelled() => Ok(()),
        Err(e) => Err(std::io::Error::other(e)),
    }
}
