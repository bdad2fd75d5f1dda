//! The account's device from its journal (the core's [`journal`] module does the work;
//! the client's database keeps one encoded record per row).

use wesh_client::messenger::journal;
use wesh_client::messenger::{MailboxAddress, WeshDevice};

/// Rebuilds the device from its seed and journal (a new account when it is empty).
pub fn restore_device(
    seed: [u8; 32],
    home: MailboxAddress,
    records: &[Vec<u8>],
) -> Result<WeshDevice, String> {
    journal::restore(seed, home, records).map_err(|e| {
        format!("cannot rebuild the Wesh account from its journal in the client database: {e}")
    })
}
