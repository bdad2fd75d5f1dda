//! The client's side of `/wesh/mailbox/1`: register, pull (challenge, then signed pull), and
//! confirm, each as one stream to the provider. The checks are the core's
//! ([`MailboxClient`]); this only moves bytes and bounds time.

use super::MAILBOX_STREAM;
use super::exchange::request;
use super::params::{EXCHANGE_TIMEOUT, SMALL_EXCHANGE_TIMEOUT};
use crate::net::stream_open::open_stream;
use libp2p::PeerId;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use wesh_mix::mailbox::{ClientError, MailboxClient, Pulled};
use wesh_mix::params::{MAX_CONFIRM_SEQS, PULL_SLOTS};

/// Why a puller cannot be made.
#[derive(Debug, Error)]
#[error("{0} pull slots is outside 1..={PULL_SLOTS}")]
pub struct SlotsError(pub usize);

#[derive(Debug, Error)]
pub enum PullError {
    #[error("cannot open a mailbox stream to the provider: {0}")]
    Open(#[from] libp2p_stream::OpenStreamError),
    #[error("mailbox exchange failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("mailbox exchange timed out")]
    Timeout,
    #[error("{0}")]
    Protocol(#[from] ClientError),
}

/// One mailbox at one provider, reached over libp2p.
pub struct Puller {
    control: libp2p_stream::Control,
    provider: PeerId,
    mailbox: Arc<MailboxClient>,
    /// Slots every pull asks for (the answer's size): 1..=`PULL_SLOTS`.
    slots: u16,
}

impl Puller {
    /// A puller whose every answer has `slots` slots (the client's profile).
    pub fn new(
        control: libp2p_stream::Control,
        provider: PeerId,
        mailbox: Arc<MailboxClient>,
        slots: usize,
    ) -> Result<Self, SlotsError> {
        let slots = u16::try_from(slots)
            .ok()
            .filter(|s| (1..=PULL_SLOTS).contains(&usize::from(*s)))
            .ok_or(SlotsError(slots))?;
        Ok(Puller {
            control,
            provider,
            mailbox,
            slots,
        })
    }

    async fn exchange(&mut self, frame: &[u8], within: Duration) -> Result<Vec<u8>, PullError> {
        let work = async {
            let mut stream = open_stream(&mut self.control, self.provider, MAILBOX_STREAM).await?;
            Ok(request(&mut stream, frame).await?)
        };
        tokio::time::timeout(within, work)
            .await
            .map_err(|_| PullError::Timeout)?
    }

    /// Registers the mailbox (idempotent: again after a restart is fine).
    pub async fn register(&mut self) -> Result<(), PullError> {
        let response = self
            .exchange(&self.mailbox.register_request(), SMALL_EXCHANGE_TIMEOUT)
            .await?;
        Ok(self.mailbox.on_register_response(&response)?)
    }

    /// Pulls up to `slots` payloads (they stay at the provider until confirmed).
    pub async fn pull(&mut self) -> Result<Pulled, PullError> {
        let challenge = self
            .exchange(&self.mailbox.challenge_request(), SMALL_EXCHANGE_TIMEOUT)
            .await?;
        let (pull, pending) = self.mailbox.pull_request(&challenge, self.slots)?;
        let response = self.exchange(&pull, EXCHANGE_TIMEOUT).await?;
        Ok(self.mailbox.open_pull_response(&pending, &response)?)
    }

    /// Lets the provider delete these payloads; call only once they are kept safely. With
    /// no seqs it still sends one (empty) Confirm: the fixed schedule's.
    pub async fn confirm(&mut self, seqs: &[u64]) -> Result<u32, PullError> {
        let mut deleted = 0;
        let empty: &[u64] = &[];
        let chunks: Vec<&[u64]> = if seqs.is_empty() {
            vec![empty]
        } else {
            seqs.chunks(MAX_CONFIRM_SEQS).collect()
        };
        for chunk in chunks {
            let request = self.mailbox.confirm_request(chunk)?;
            let response = self.exchange(&request, SMALL_EXCHANGE_TIMEOUT).await?;
            deleted += self.mailbox.on_confirm_response(&response)?;
        }
        Ok(deleted)
    }
}
