//! The typed app API of a Wesh client, modeled on weshnet's ProtocolService (same method
//! names where they apply). The same types travel over the node's local API socket as JSON
//! lines (`{"method": "AppMessageSend", "params": {...}}`), are used by the CLI
//! subcommands, and are called in-process by the testnet. Binary values are hex strings.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::messenger::{GroupMessage, GroupMetadataView, WeshStats};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params")]
pub enum ApiRequest {
    /// This account's contact card (account ID and rendezvous seed), to share.
    ContactRequestReference,
    /// Renews the rendezvous seed and returns the new card: cards given out before stop
    /// working (the old rendezvous registration is revoked at its provider).
    ContactRequestResetReference,
    /// Sends a contact request to the owner of `contact` (a contact card, hex).
    ContactRequestSend {
        contact: String,
    },
    /// Accepts a request from `account` (hex account ID).
    ContactRequestAccept {
        account: String,
    },
    ContactRequestDiscard {
        account: String,
    },
    /// Contact requests waiting for a decision.
    ContactRequestList,
    ContactList,
    MultiMemberGroupCreate,
    MultiMemberGroupInvitationCreate {
        group: String,
    },
    MultiMemberGroupJoin {
        invitation: String,
    },
    GroupList,
    /// Sends `payload` (hex) to the group.
    AppMessageSend {
        group: String,
        payload: String,
    },
    /// The group's app messages so far; over the socket, `follow: true` keeps the stream
    /// open and adds each new message as it arrives.
    GroupMessageList {
        group: String,
        #[serde(default)]
        follow: bool,
    },
    GroupMetadataList {
        group: String,
    },
    /// Registers the group at the replication provider `provider` (hex node ID).
    ReplicationServiceRegisterGroup {
        group: String,
        provider: String,
    },
    Stats,
    /// A link code for a new device of this account (hex): `wesh client --api
    /// --link-from FILE` in another data dir makes a device that syncs this account's
    /// contacts and groups. It holds the account's secret keys, so over the API socket
    /// this only starts a request: the node shows a one-time confirmation code on its own
    /// terminal and answers [`ApiError::ConfirmationRequired`]; [`ApiRequest::DeviceLinkConfirm`]
    /// with that code gets the link code.
    DeviceLinkCreate,
    /// Confirms a pending `DeviceLinkCreate` with the code the node showed; answers the
    /// link code.
    DeviceLinkConfirm {
        confirmation: String,
    },
}

impl ApiRequest {
    /// Every method name (the `method` of a request), so a shell can tell an unknown
    /// method from bad parameters.
    pub const METHODS: &'static [&'static str] = &[
        "ContactRequestReference",
        "ContactRequestResetReference",
        "ContactRequestSend",
        "ContactRequestAccept",
        "ContactRequestDiscard",
        "ContactRequestList",
        "ContactList",
        "MultiMemberGroupCreate",
        "MultiMemberGroupInvitationCreate",
        "MultiMemberGroupJoin",
        "GroupList",
        "AppMessageSend",
        "GroupMessageList",
        "GroupMetadataList",
        "ReplicationServiceRegisterGroup",
        "Stats",
        "DeviceLinkCreate",
        "DeviceLinkConfirm",
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub group: String,
    pub member: String,
    pub device: String,
    /// The entry's position in its device's chain: (device, counter) names a message.
    #[serde(default)]
    pub counter: u64,
    pub own: bool,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataView {
    pub group: String,
    pub kind: String,
    /// member → devices
    pub members: Vec<(String, Vec<String>)>,
    /// device → "provider:mailbox"
    pub device_mailboxes: Vec<(String, String)>,
    /// Other devices whose messages this device can open (it holds their chain key).
    #[serde(default)]
    pub readable_devices: Vec<String>,
    pub replicas: Vec<String>,
    pub metadata_entries: usize,
    pub message_entries: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", content = "value")]
pub enum ApiResponse {
    ContactRequestReference { reference: String },
    Done,
    Accounts { accounts: Vec<String> },
    Contacts { contacts: Vec<(String, String)> },
    Group { group: String },
    Groups { groups: Vec<(String, String)> },
    Invitation { invitation: String },
    Messages { messages: Vec<MessageView> },
    Message(MessageView),
    Metadata(MetadataView),
    Stats(WeshStats),
    DeviceLink { code: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
#[serde(tag = "error", content = "detail")]
pub enum ApiError {
    #[error("bad argument {field}: {reason}")]
    BadArgument { field: String, reason: String },
    #[error("refused: {0}")]
    Refused(String),
    #[error("the client is offline")]
    Offline,
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The connection did not present the API cookie first (or a wrong one).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The call needs the operator's explicit confirmation (see `DeviceLinkConfirm`).
    #[error("confirmation required: {0}")]
    ConfirmationRequired(String),
}

impl From<crate::WeshError> for ApiError {
    fn from(e: crate::WeshError) -> Self {
        ApiError::Refused(e.to_string())
    }
}

/// Parses one request line of the app API (`{"method": NAME, "params": {...}}`); every
/// failure is a typed `BadArgument`, and an unknown method is told apart from bad
/// parameters.
pub fn parse_request(line: &[u8]) -> Result<ApiRequest, ApiError> {
    let bad = |field: &str, reason: String| ApiError::BadArgument {
        field: field.to_string(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| bad("request", format!("not JSON: {e}")))?;
    let Some(method) = value.get("method").and_then(|m| m.as_str()) else {
        return Err(bad(
            "method",
            r#"missing: a request is {"method": NAME, "params": {...}}"#.to_string(),
        ));
    };
    if !ApiRequest::METHODS.contains(&method) {
        return Err(bad("method", format!("unknown method {method:?}")));
    }
    serde_json::from_value(value).map_err(|e| bad("params", e.to_string()))
}

/// Parses a 32-byte hex id.
pub fn parse_id(field: &str, text: &str) -> Result<[u8; 32], ApiError> {
    let bad = |reason: &str| ApiError::BadArgument {
        field: field.to_string(),
        reason: reason.to_string(),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| bad("not hex"))?;
    bytes
        .try_into()
        .map_err(|_| bad("expected 32 bytes (64 hex digits)"))
}

/// Parses hex bytes.
pub fn parse_hex(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    hex::decode(text.trim()).map_err(|_| ApiError::BadArgument {
        field: field.to_string(),
        reason: "not hex".to_string(),
    })
}

pub fn message_view(m: &GroupMessage) -> MessageView {
    MessageView {
        group: hex::encode(m.group_id),
        member: hex::encode(m.member_id),
        device: hex::encode(m.device_id),
        counter: m.counter,
        own: m.own,
        payload: hex::encode(&m.payload),
    }
}

pub fn metadata_view(m: &GroupMetadataView) -> MetadataView {
    MetadataView {
        group: hex::encode(m.group_id),
        kind: format!("{:?}", m.role),
        members: m
            .members
            .iter()
            .map(|(k, v)| (hex::encode(k), v.iter().map(hex::encode).collect()))
            .collect(),
        device_mailboxes: m
            .device_mailboxes
            .iter()
            .map(|(d, a)| {
                (
                    hex::encode(d),
                    format!("{}:{}", hex::encode(a.provider), hex::encode(a.mailbox)),
                )
            })
            .collect(),
        readable_devices: m.readable_devices.iter().map(hex::encode).collect(),
        replicas: m
            .replicas
            .iter()
            .map(|a| format!("{}:{}", hex::encode(a.provider), hex::encode(a.mailbox)))
            .collect(),
        metadata_entries: m.metadata_entries,
        message_entries: m.message_entries,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_are_json_with_method_names() {
        let r = ApiRequest::AppMessageSend {
            group: "00".repeat(32),
            payload: "6869".into(),
        };
        let j = serde_json::to_string(&r).unwrap();
        assert!(j.contains(r#""method":"AppMessageSend""#), "{j}");
        assert_eq!(serde_json::from_str::<ApiRequest>(&j).unwrap(), r);
        let unit: ApiRequest =
            serde_json::from_str(r#"{"method":"MultiMemberGroupCreate"}"#).unwrap();
        assert_eq!(unit, ApiRequest::MultiMemberGroupCreate);
        assert!(serde_json::from_str::<ApiRequest>(r#"{"method":"Nope"}"#).is_err());
        assert!(parse_id("group", "zz").is_err());
        // every request's method is listed
        let s = String::new;
        let all = [
            ApiRequest::ContactRequestReference,
            ApiRequest::ContactRequestResetReference,
            ApiRequest::ContactRequestSend { contact: s() },
            ApiRequest::ContactRequestAccept { account: s() },
            ApiRequest::ContactRequestDiscard { account: s() },
            ApiRequest::ContactRequestList,
            ApiRequest::ContactList,
            ApiRequest::MultiMemberGroupCreate,
            ApiRequest::MultiMemberGroupInvitationCreate { group: s() },
            ApiRequest::MultiMemberGroupJoin { invitation: s() },
            ApiRequest::GroupList,
            ApiRequest::AppMessageSend {
                group: s(),
                payload: s(),
            },
            ApiRequest::GroupMessageList {
                group: s(),
                follow: false,
            },
            ApiRequest::GroupMetadataList { group: s() },
            ApiRequest::ReplicationServiceRegisterGroup {
                group: s(),
                provider: s(),
            },
            ApiRequest::Stats,
            ApiRequest::DeviceLinkCreate,
            ApiRequest::DeviceLinkConfirm { confirmation: s() },
        ];
        assert_eq!(all.len(), ApiRequest::METHODS.len());
        for r in all {
            let v = serde_json::to_value(&r).unwrap();
            let method = v["method"].as_str().unwrap();
            assert!(ApiRequest::METHODS.contains(&method), "{method}");
        }
        assert!(parse_id("group", "00").is_err());
        assert_eq!(parse_id("group", &"01".repeat(32)).unwrap(), [1; 32]);
    }
}
