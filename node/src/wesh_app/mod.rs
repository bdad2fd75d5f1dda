//! Wesh over the mixnet, the node's shell: a [`WeshDevice`] (the sans-I/O core) driven by
//! a running client (mixnet sends, mailbox pulls), the rendezvous mailbox it keeps at the
//! provider its rendezvous point selects, history from replication providers, and the
//! typed app API ([`api`]) served to apps over a local socket ([`server`]).

pub mod api;
pub mod client_service;
pub mod journal;
pub mod providers;
pub mod runner;
pub mod server;

pub use api::{ApiError, ApiRequest, ApiResponse};
pub use providers::{ProviderBook, ProviderInfo};
pub use runner::{WeshApp, WeshAppEvent, WeshAppSpec, start_wesh_app};
pub use server::{ApiAnswer, ApiClient, ApiServer, MessageStream, start_api_server};
pub use wesh_client::messenger::WeshDevice;
