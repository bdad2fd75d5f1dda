//! Admission rules a decoded descriptor must meet, cheapest first (spec/pki.md §4).
//! The signature is checked by the directory after these, so junk is dropped
//! before paying for a verification.

use crate::descriptor::{DescriptorContent, Role};
use crate::error::Rejection;
use crate::params::{MAX_DESCRIPTOR_SPAN_EPOCHS, PROTOCOL_VERSION};

/// Checks protocol version, epoch window and role rules at `current_epoch`.
pub fn check_rules(
    content: &DescriptorContent,
    current_epoch: u64,
    future_epoch_tolerance: u64,
) -> Result<(), Rejection> {
    if content.protocol_version != PROTOCOL_VERSION {
        return Err(Rejection::UnsupportedProtocol(content.protocol_version));
    }
    check_window(content, current_epoch, future_epoch_tolerance)?;
    check_role(content)
}

fn check_window(
    content: &DescriptorContent,
    current: u64,
    tolerance: u64,
) -> Result<(), Rejection> {
    let span_ok = content
        .expiry_epoch
        .checked_sub(content.issue_epoch)
        .is_some_and(|d| d < MAX_DESCRIPTOR_SPAN_EPOCHS);
    if !span_ok {
        return Err(Rejection::BadLifetime);
    }
    if content.expiry_epoch < current {
        return Err(Rejection::StaleEpoch {
            expiry: content.expiry_epoch,
            current,
        });
    }
    if content.issue_epoch > current.saturating_add(tolerance) {
        return Err(Rejection::FutureEpoch {
            issue: content.issue_epoch,
            current,
        });
    }
    Ok(())
}

fn check_role(content: &DescriptorContent) -> Result<(), Rejection> {
    match content.role {
        Role::Mix | Role::Provider => {
            if content.sphinx_keys.iter().any(|k| !content.covers(k.epoch)) {
                return Err(Rejection::SphinxKeyOutsideWindow);
            }
            // Keys are strictly ascending and inside the window, so one per epoch
            // covered means the counts match.
            let covered = content.expiry_epoch - content.issue_epoch + 1;
            if u64::try_from(content.sphinx_keys.len()).ok() != Some(covered) {
                return Err(Rejection::MissingSphinxKeys);
            }
            if content.addresses.is_empty() {
                return Err(Rejection::MissingAddresses);
            }
            if content.capacity_pps == 0 {
                return Err(Rejection::ZeroCapacity);
            }
        }
        Role::Issuer => {
            if !content.sphinx_keys.is_empty() {
                return Err(Rejection::UnexpectedSphinxKeys);
            }
            // Any key may publish an issuer descriptor: every node must hold the same set
            // (the view digest covers it), while which issuer's token keys a node *uses*
            // is its own configuration (`Directory::trusted_token_keys`).
            if content.token_keys.iter().any(|k| !content.covers(k.epoch)) {
                return Err(Rejection::TokenKeyOutsideWindow);
            }
        }
    }
    Ok(())
}
