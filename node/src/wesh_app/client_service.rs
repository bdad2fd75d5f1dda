//! `wesh client --api`: the client runs a Wesh account and serves its app API.
//!
//! The account's seed and the journal of its device's inputs live in the client's
//! database, so a restart (or a crash) rebuilds the same account with its contacts,
//! groups, messages and history cursors. Wesh messages that arrived while it was stopped
//! wait in the inbox and are taken at start; other messages stay there for `wesh inbox
//! --data-dir`.

use super::providers::NotAProviderKey;
use super::server::ApiServerError;
use super::{ApiError, ProviderBook, WeshAppSpec, WeshDevice, start_api_server, start_wesh_app};
use crate::drivers::client_traffic::ClientState;
use crate::roles::client::{ClientSetup, format_address};
use crate::storage::client_store::{ClientStore, ClientStoreError};
use crate::wesh_app::runner::MakeClientSpec;
use std::net::SocketAddr;
use thiserror::Error;
use wesh_client::messenger::{DeviceLink, MailboxAddress, RestoreError, journal};

#[derive(Debug, Error)]
pub enum WeshClientError {
    #[error("client database: {0}")]
    Store(#[from] ClientStoreError),
    #[error("cannot rebuild the Wesh account from its journal in the client database: {0}")]
    Restore(#[from] RestoreError),
    #[error("--link-from: cannot make a device from this code: {0}")]
    Link(wesh_client::WeshError),
    #[error(transparent)]
    Providers(#[from] NotAProviderKey),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Server(#[from] ApiServerError),
    #[error(transparent)]
    Cookie(#[from] super::cookie::CookieError),
    #[error(transparent)]
    Signal(#[from] crate::roles::mix_provider::SignalError),
    #[error("the wesh account stopped (see the log above)")]
    Stopped,
}

/// Runs until SIGINT/SIGTERM. Prints `client address: …` then `api: IP:PORT` on stdout.
pub async fn run_wesh_client(
    state: ClientState,
    setup: ClientSetup,
    api: SocketAddr,
    allow_remote: bool,
    data_dir: &std::path::Path,
    link: Option<DeviceLink>,
) -> Result<(), WeshClientError> {
    // a fresh cookie each start, written before the socket opens
    use super::CookieFile;
    let cookie = super::ApiCookie::generate();
    let cookie_path = cookie.write_to_dir(data_dir)?;
    let address = state.core.address();
    let home = MailboxAddress {
        provider: address.provider.0,
        mailbox: address.client.0,
    };
    let store = setup.store.clone();
    let device = match link {
        Some(link) => new_linked_device(&store, home, link)?,
        None => load_device(&store, home)?,
    };
    let providers = ProviderBook::with_addresses(setup.static_providers.clone())?;
    let follow_directory = setup.static_providers.is_empty();
    let client_spec: MakeClientSpec = Box::new(move |state, observer| setup.spec(state, observer));
    let app = start_wesh_app(WeshAppSpec {
        device,
        providers,
        follow_directory,
        state,
        client_spec,
        store: Some(store),
    })
    .await?;
    let server = match start_api_server(app.clone(), api, allow_remote, cookie).await {
        Ok(s) => s,
        Err(e) => {
            app.shutdown().await;
            return Err(e.into());
        }
    };
    // stdout: what apps and other users need
    println!("client address: {}", format_address(&address));
    println!("api: {}", server.local_addr());
    tracing::info!(
        account = %hex::encode(app.account),
        api = %server.local_addr(),
        cookie = %cookie_path.display(),
        "wesh account running"
    );
    let result = tokio::select! {
        r = crate::roles::mix_provider::wait_for_signal() => r.map_err(WeshClientError::Signal),
        _ = app.stopped() => Err(WeshClientError::Stopped),
    };
    server.shutdown();
    app.shutdown().await;
    result
}

/// A new device of an existing account, from its link code. Its journal starts with the
/// link (written before anything it sends, like every record), so later starts rebuild it.
fn new_linked_device(
    store: &ClientStore,
    home: MailboxAddress,
    link: DeviceLink,
) -> Result<WeshDevice, WeshClientError> {
    let seed = store.wesh_seed()?;
    let device = WeshDevice::from_link(*seed, home, link).map_err(WeshClientError::Link)?;
    tracing::info!(
        account = %hex::encode(device.account_id()),
        "new device linked to the account"
    );
    Ok(device)
}

/// The account's device: rebuilt from its journal, or created on first start.
fn load_device(store: &ClientStore, home: MailboxAddress) -> Result<WeshDevice, WeshClientError> {
    let seed = store.wesh_seed()?;
    let records = store.wesh_journal()?;
    let device = journal::restore(*seed, home, &records)?;
    if !records.is_empty() {
        tracing::info!(
            records = records.len(),
            "wesh account restored from its journal"
        );
    }
    Ok(device)
}
