//! API requests as device calls: which call each request makes, and what it answers.

use super::action::{Action, CallId};
use super::api::{
    ApiError, ApiRequest, ApiResponse, message_view, metadata_view, parse_hex, parse_id,
};
use super::wesh_app::WeshApp;

impl WeshApp {
    /// Runs `request`: `Ok(None)` when the answer waits for the network
    /// ([`Action::RegisterReplica`]).
    pub(super) fn call(
        &mut self,
        now: u64,
        call: CallId,
        request: ApiRequest,
    ) -> Result<Option<ApiResponse>, ApiError> {
        let d = &mut self.device;
        let named = |g: crate::Result<[u8; 32]>| -> Result<ApiResponse, ApiError> {
            Ok(ApiResponse::Group {
                group: hex::encode(g?),
            })
        };
        let response = match request {
            // the confirmation gate belongs to whoever exposes the API (the socket server);
            // an in-process caller is trusted and calls DeviceLinkCreate directly
            ApiRequest::DeviceLinkConfirm { .. } => {
                return Err(ApiError::Refused(
                    "DeviceLinkConfirm is answered by the API server, not the app".into(),
                ));
            }
            ApiRequest::DeviceLinkCreate => ApiResponse::DeviceLink {
                code: hex::encode(d.device_link()?.encode().as_slice()),
            },
            ApiRequest::ContactRequestResetReference => {
                d.renew_rendezvous_seed();
                // persisted first, then the old registration is revoked and the new point
                // registered before the answer
                self.flush();
                self.check_rendezvous(now);
                ApiResponse::ContactRequestReference {
                    reference: hex::encode(self.device.contact_request_reference()),
                }
            }
            ApiRequest::ContactRequestReference => ApiResponse::ContactRequestReference {
                reference: hex::encode(d.contact_request_reference()),
            },
            ApiRequest::ContactRequestSend { contact } => {
                let card = parse_hex("contact", &contact)?;
                d.contact_request_send(&card, now / 1000, &self.providers)?;
                ApiResponse::Done
            }
            ApiRequest::ContactRequestAccept { account } => {
                d.contact_request_accept(&parse_id("account", &account)?)?;
                ApiResponse::Done
            }
            ApiRequest::ContactRequestDiscard { account } => {
                d.contact_request_discard(&parse_id("account", &account)?)?;
                ApiResponse::Done
            }
            ApiRequest::ContactRequestList => ApiResponse::Accounts {
                accounts: d
                    .contact_requests_pending()
                    .iter()
                    .map(hex::encode)
                    .collect(),
            },
            ApiRequest::ContactList => ApiResponse::Contacts {
                contacts: d
                    .contacts()
                    .iter()
                    .map(|(a, g)| (hex::encode(a), hex::encode(g)))
                    .collect(),
            },
            ApiRequest::MultiMemberGroupCreate => named(d.multi_member_group_create())?,
            ApiRequest::MultiMemberGroupInvitationCreate { group } => ApiResponse::Invitation {
                invitation: hex::encode(
                    d.multi_member_group_invitation_create(&parse_id("group", &group)?)?,
                ),
            },
            ApiRequest::MultiMemberGroupJoin { invitation } => {
                named(d.multi_member_group_join(&parse_hex("invitation", &invitation)?))?
            }
            ApiRequest::GroupList => ApiResponse::Groups {
                groups: d
                    .group_ids()
                    .into_iter()
                    .filter_map(|g| {
                        d.group_metadata(&g)
                            .ok()
                            .map(|m| (hex::encode(g), format!("{:?}", m.role)))
                    })
                    .collect(),
            },
            ApiRequest::AppMessageSend { group, payload } => {
                let group = parse_id("group", &group)?;
                d.app_message_send(&group, &parse_hex("payload", &payload)?)?;
                ApiResponse::Done
            }
            ApiRequest::GroupMessageList { group, .. } => ApiResponse::Messages {
                messages: d
                    .group_message_list(&parse_id("group", &group)?)?
                    .iter()
                    .map(message_view)
                    .collect(),
            },
            ApiRequest::GroupMetadataList { group } => ApiResponse::Metadata(metadata_view(
                &d.group_metadata(&parse_id("group", &group)?)?,
            )),
            ApiRequest::ReplicationServiceRegisterGroup { group, provider } => {
                let group = parse_id("group", &group)?;
                let provider = parse_id("provider", &provider)?;
                if !self.providers.contains(&provider) {
                    return Err(ApiError::BadArgument {
                        field: "provider".into(),
                        reason: "not a known provider".into(),
                    });
                }
                let registration = d.replication_registration(&group, provider)?.encode();
                if !self.online {
                    return Err(ApiError::Offline);
                }
                // the provider must know the group before it is announced to members
                self.registering.insert(call, (group, provider));
                self.actions.push_back(Action::RegisterReplica {
                    call,
                    provider,
                    registration,
                });
                return Ok(None);
            }
            ApiRequest::Stats => ApiResponse::Stats(d.stats().clone()),
        };
        Ok(Some(response))
    }
}
