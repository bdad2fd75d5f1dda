//! Parameters of Wesh over the mixnet, each with its unit and source.

/// Most entries in one envelope. Source: our choice; bounds the work one envelope causes.
pub const MAX_ENTRIES_PER_ENVELOPE: usize = 1024;

/// Longest encoded entry accepted in an envelope, in bytes: the largest entry body plus
/// room for its header, parents and signature. Source: `crate::params::MAX_ENTRY_CIPHERTEXT_LEN`.
pub const MAX_ENCODED_ENTRY: usize = crate::params::MAX_ENTRY_CIPHERTEXT_LEN + 8192;

/// Longest handshake message, in bytes (the largest, Authenticate, is 2 + 128 + 16).
/// Source: `crate::handshake`.
pub const MAX_HANDSHAKE_MESSAGE: usize = 256;

/// Bytes of entries put in one envelope before starting another, in bytes. Source: our
/// choice; well under the mixnet's 4 MiB message limit, so a big log goes as several
/// messages that are retransmitted independently.
pub const ENVELOPE_TARGET_BYTES: usize = 256 * 1024;

/// Handshakes in progress a device keeps (both roles), in flows. Source: our choice; a
/// flood of Hellos to a rendezvous mailbox cannot grow memory beyond this.
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// App messages a contact group holds until the contact's member joins it (each is sent
/// then). Bounds memory when a contact never completes the exchange. Unit: messages.
pub const MAX_DEFERRED_MESSAGES: usize = 1024;
