//! Opening a libp2p stream without the lost-request race of `libp2p_stream::Control`.
//!
//! `Control::open_stream` to a peer it does not list as connected parks the request on a
//! "pending" channel that the next connection's handler takes. A connection whose handler
//! was built just before (the swarm builds it, then reports the connection established, and
//! another task's request can fall in between) never takes it: the request waits forever,
//! while a second request a moment later goes through at once. Seen in the testnet on
//! every freshly started client (a mailbox registration, a directory sync and the link to
//! the provider each hung until their own timeouts, or for good). So a request that has no
//! answer after [`OPEN_STALL_FIRST`] is asked again, with the wait doubling up to
//! [`OPEN_STALL_MAX`]; a dial that really fails still ends in its error. Asking again is
//! harmless: a stream opened for an abandoned request is dropped by the handler.

use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::{Control, OpenStreamError};
use std::time::Duration;

/// Wait for the first request's answer before asking again (a loopback or LAN stream
/// opens in milliseconds; a first dial over a slow link can take longer, and is not
/// disturbed by a second request).
pub const OPEN_STALL_FIRST: Duration = Duration::from_millis(500);

/// Longest wait between two requests.
pub const OPEN_STALL_MAX: Duration = Duration::from_secs(8);

/// Opens a stream to `peer` for `protocol`, asking again while a request stalls. Callers
/// bound the whole exchange with their own timeout, as before.
pub async fn open_stream(
    control: &mut Control,
    peer: PeerId,
    protocol: StreamProtocol,
) -> Result<Stream, OpenStreamError> {
    let mut wait = OPEN_STALL_FIRST;
    loop {
        let attempt = control.open_stream(peer, protocol.clone());
        match tokio::time::timeout(wait, attempt).await {
            Ok(result) => return result,
            Err(_) => {
                tracing::debug!(%peer, %protocol, ?wait, "stream request unanswered; asking again");
                wait = (wait * 2).min(OPEN_STALL_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::net::request_server::{RequestLimits, RequestStats, echo_server};
    use crate::net::swarm::start_swarm;
    use futures::{AsyncReadExt, AsyncWriteExt};
    use libp2p::identity::Keypair;
    use std::sync::Arc;
    use tokio::sync::watch;

    const ECHO: StreamProtocol = StreamProtocol::new("/wesh/test-open-echo/1");

    /// Over real sockets: fresh clients that open a stream the moment their swarm starts
    /// (the race above) all get their echo, and a peer with no address ends in an error,
    /// not in endless asking.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fresh_clients_get_their_streams_and_unreachable_peers_fail() {
        let (_stop, stop) = watch::channel(false);
        let limits = RequestLimits {
            max_request: 64,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            burst: 1_000,
            refill_ms: 1,
            max_streams: 1_000,
            max_streams_per_peer: 4,
        };
        let stats = Arc::new(RequestStats::default());
        let server = echo_server(ECHO, limits, stats, stop.clone()).await;
        let book = [(server.peer_id, server.listen_addrs[0].clone())];
        // one after another: the race is inside each client's own swarm
        for i in 0..24u8 {
            let client = start_swarm(Keypair::generate_ed25519(), &[], &book, stop.clone())
                .await
                .unwrap();
            let mut control = client.control.clone();
            let echo = async {
                let mut s = open_stream(&mut control, server.peer_id, ECHO)
                    .await
                    .map_err(|e| e.to_string())?;
                s.write_all(&[i]).await.map_err(|e| e.to_string())?;
                s.close().await.map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
                Ok::<_, String>(out)
            };
            // far above a loopback exchange, far below the callers' own timeouts
            let answer = tokio::time::timeout(Duration::from_secs(5), echo).await;
            assert_eq!(answer, Ok(Ok(vec![i])), "client {i}");
        }
        let client = start_swarm(Keypair::generate_ed25519(), &[], &[], stop)
            .await
            .unwrap();
        let mut control = client.control.clone();
        let nowhere = Keypair::generate_ed25519().public().to_peer_id();
        let outcome = tokio::time::timeout(
            Duration::from_secs(5),
            open_stream(&mut control, nowhere, ECHO),
        )
        .await;
        assert!(
            matches!(outcome, Ok(Err(_))),
            "a dial with no address fails"
        );
    }
}
