//! Wesh over the mixnet, the node's shell: the app core ([`wesh_client::app::WeshApp`])
//! driven with a running client (mixnet sends, mailbox pulls, history fetches, replica
//! registrations), and its typed API ([`api`]) served to apps over a local socket
//! ([`server`]).

pub mod client_service;
pub mod cookie;
pub mod providers;
pub mod runner;
pub mod server;

pub use cookie::CookieFile;
pub use providers::{ProviderBook, ProviderInfo};
pub use runner::{WeshApp, WeshAppEvent, WeshAppSpec, start_wesh_app};
pub use server::{ApiAnswer, ApiClient, ApiServer, MessageStream, start_api_server};
pub use wesh_client::app::ApiCookie;
pub use wesh_client::app::api;
pub use wesh_client::app::api::{ApiError, ApiRequest, ApiResponse};
pub use wesh_client::messenger::WeshDevice;
