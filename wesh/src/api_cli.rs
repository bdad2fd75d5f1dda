//! `wesh contact …`, `wesh group …`, `wesh send …`, `wesh inbox …`, `wesh account …`: the
//! app API of a running `wesh client --api`, from the shell (a client of the node, kept with
//! the binary). Every subcommand is one [`ApiRequest`]
//! through [`ApiClient`], the same typed client an app uses.

use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use thiserror::Error;
use wesh_shell::roles::client::DEFAULT_API;
use wesh_shell::wesh_app::api::MessageView;
use wesh_shell::wesh_app::{ApiClient, ApiError, ApiRequest, ApiResponse};

/// Where the API is and how to print answers.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// The API of a running `wesh client --api` (IP:PORT).
    #[arg(long, env = "WESH_API", default_value = DEFAULT_API, global = true)]
    pub api: String,
    /// Data directory of that running `wesh client`: its API cookie is read from
    /// `<DIR>/api.cookie` (the API refuses connections without it). The environment
    /// variable WESH_API_COOKIE (the cookie in hex) is used instead when set.
    #[arg(
        long,
        env = "WESH_DATA_DIR",
        default_value = "wesh-client",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Print the API's answer as JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ContactArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: ContactCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ContactCommand {
    /// Print this account's contact card (hex) to give to people who may add you.
    Reference,
    /// Make a new contact card and print it; the cards you gave out before stop working.
    ResetReference,
    /// Ask the owner of a contact card to become a contact.
    Send {
        /// Their contact card (hex, as `wesh contact reference` prints it).
        card: String,
    },
    /// Contact requests waiting for your answer (account IDs).
    Requests,
    /// Accept a contact request.
    Accept {
        /// The requester's account ID (hex, from `wesh contact requests`).
        account: String,
    },
    /// Refuse a contact request.
    Discard { account: String },
    /// Your contacts: account ID and the ID of the group you share with each.
    List,
}

#[derive(Debug, Clone, Args)]
pub struct AccountArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: AccountCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AccountCommand {
    /// Write a link code for a new device of this account.
    ///
    /// Start the new device with
    /// `wesh client --api --link-from FILE --data-dir <a new dir>`: it gets this
    /// account's contacts and groups and receives what they write. The code holds the
    /// account's secret keys: move it only over a channel you trust, then delete it.
    ///
    /// The running node must confirm: it prints a one-time code on its terminal, and this
    /// command asks for it on stdin.
    Link {
        /// Write the code to this file (created with mode 0600; an existing file is not
        /// overwritten). Without it the code goes to stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct GroupArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: GroupCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum GroupCommand {
    /// Create a multi-member group; prints its ID.
    Create,
    /// Print an invitation (hex) to a group, to give to whoever should join.
    Invite { group: String },
    /// Join a group from an invitation; prints its ID.
    Join { invitation: String },
    /// Your groups (ID and kind: account, contact or multi-member).
    List,
    /// A group's members, their devices and mailboxes, and its replication providers.
    Info { group: String },
    /// Have a provider keep the group's sealed entries for members who are offline.
    Replicate {
        group: String,
        /// The provider's node ID (hex, as `wesh pki show` lists it).
        provider: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The group to write to (a contact's group from `wesh contact list`, or a group).
    pub group: String,
    /// The message; words are joined with spaces. Omit it with --file.
    #[arg(required_unless_present = "file")]
    pub text: Vec<String>,
    /// Send this file's bytes instead.
    #[arg(long, conflicts_with = "text")]
    pub file: Option<PathBuf>,
    /// The message is hex bytes, not text.
    #[arg(long, conflicts_with = "file")]
    pub hex: bool,
}

#[derive(Debug, Clone, Args)]
pub struct InboxArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Only this group's messages (default: every group).
    pub group: Option<String>,
    /// Keep running and print each new message as it arrives (needs GROUP).
    #[arg(long, requires = "group")]
    pub follow: bool,
    /// Also list the messages this account wrote.
    #[arg(long)]
    pub own: bool,
    /// Read the raw mixnet messages a stopped `wesh client` kept in its --data-dir
    /// instead of asking the API.
    #[arg(long, conflicts_with_all = ["group", "follow", "own"])]
    pub raw: bool,
    /// With --raw: remove the listed messages afterwards.
    #[arg(long, requires = "raw")]
    pub delete: bool,
}

#[derive(Debug, Error)]
pub enum WeshCliError {
    #[error("{0}; point --api or WESH_API at it")]
    Connect(ApiError),
    #[error(transparent)]
    Cookie(#[from] wesh_shell::wesh_app::cookie::CookieError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot print the answer as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unexpected answer {0}")]
    UnexpectedAnswer(String),
    #[error("cannot {what} {}: {source}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the API closed the stream")]
    StreamClosed,
}

fn bad(field: &str, reason: impl Into<String>) -> WeshCliError {
    WeshCliError::Api(ApiError::BadArgument {
        field: field.into(),
        reason: reason.into(),
    })
}

fn file_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> WeshCliError {
    let path = path.to_path_buf();
    move |source| WeshCliError::File { what, path, source }
}

async fn connect(args: &ApiArgs) -> Result<ApiClient, WeshCliError> {
    let cookie = <wesh_shell::wesh_app::ApiCookie as wesh_shell::wesh_app::CookieFile>::for_cli(
        &args.data_dir,
    )?;
    ApiClient::connect(&args.api, &cookie)
        .await
        .map_err(WeshCliError::Connect)
}

/// One call; prints the answer (JSON or text).
async fn call_and_print(args: &ApiArgs, request: ApiRequest) -> Result<(), WeshCliError> {
    let answer = connect(args).await?.call(request).await?;
    if args.json {
        println!("{}", serde_json::to_string(&answer)?);
    } else {
        print!("{}", answer_text(&answer));
    }
    Ok(())
}

pub async fn contact(args: ContactArgs) -> Result<(), WeshCliError> {
    let request = match args.command {
        ContactCommand::Reference => ApiRequest::ContactRequestReference,
        ContactCommand::ResetReference => ApiRequest::ContactRequestResetReference,
        ContactCommand::Send { card } => ApiRequest::ContactRequestSend { contact: card },
        ContactCommand::Requests => ApiRequest::ContactRequestList,
        ContactCommand::Accept { account } => ApiRequest::ContactRequestAccept { account },
        ContactCommand::Discard { account } => ApiRequest::ContactRequestDiscard { account },
        ContactCommand::List => ApiRequest::ContactList,
    };
    call_and_print(&args.api, request).await
}

pub async fn account(args: AccountArgs) -> Result<(), WeshCliError> {
    let AccountCommand::Link { out } = args.command;
    let mut client = connect(&args.api).await?;
    match client.call(ApiRequest::DeviceLinkCreate).await {
        Err(ApiError::ConfirmationRequired(_)) => {}
        Ok(other) => return Err(WeshCliError::UnexpectedAnswer(format!("{other:?}"))),
        Err(e) => return Err(e.into()),
    }
    eprintln!("the node printed a one-time confirmation code on its terminal; type it here:");
    let mut typed = zeroize::Zeroizing::new(String::new());
    std::io::stdin().read_line(&mut typed).map_err(file_error(
        "read the confirmation code from",
        Path::new("stdin"),
    ))?;
    let answer = client
        .call(ApiRequest::DeviceLinkConfirm {
            confirmation: typed.trim().to_string(),
        })
        .await?;
    let ApiResponse::DeviceLink { code } = answer else {
        return Err(WeshCliError::UnexpectedAnswer(format!("{answer:?}")));
    };
    let code = zeroize::Zeroizing::new(code);
    match out {
        Some(path) => {
            write_secret_file(&path, code.as_bytes())?;
            eprintln!(
                "link code written to {} (it holds the account's secret keys)",
                path.display()
            );
        }
        None => {
            eprintln!(
                "the link code below holds the account's secret keys: move it only over a channel you trust"
            );
            println!("{}", code.as_str());
        }
    }
    Ok(())
}

/// Creates `path` readable by its owner only and writes `bytes`; refuses to overwrite.
fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<(), WeshCliError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(file_error("create", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(file_error("write", path))
}

pub async fn group(args: GroupArgs) -> Result<(), WeshCliError> {
    let request = match args.command {
        GroupCommand::Create => ApiRequest::MultiMemberGroupCreate,
        GroupCommand::Invite { group } => ApiRequest::MultiMemberGroupInvitationCreate { group },
        GroupCommand::Join { invitation } => ApiRequest::MultiMemberGroupJoin { invitation },
        GroupCommand::List => ApiRequest::GroupList,
        GroupCommand::Info { group } => ApiRequest::GroupMetadataList { group },
        GroupCommand::Replicate { group, provider } => {
            ApiRequest::ReplicationServiceRegisterGroup { group, provider }
        }
    };
    call_and_print(&args.api, request).await
}

pub async fn send(args: SendArgs) -> Result<(), WeshCliError> {
    let bytes = match (&args.file, args.hex) {
        (Some(path), _) => std::fs::read(path).map_err(file_error("read", path))?,
        (None, true) => hex::decode(args.text.concat()).map_err(|e| bad("text", e.to_string()))?,
        (None, false) => args.text.join(" ").into_bytes(),
    };
    if bytes.is_empty() {
        return Err(bad("text", "the message is empty"));
    }
    call_and_print(
        &args.api,
        ApiRequest::AppMessageSend {
            group: args.group,
            payload: hex::encode(bytes),
        },
    )
    .await
}

pub async fn inbox(args: InboxArgs) -> Result<(), WeshCliError> {
    let mut client = connect(&args.api).await?;
    let groups = match &args.group {
        Some(g) => vec![g.clone()],
        None => match client.call(ApiRequest::GroupList).await? {
            ApiResponse::Groups { groups } => groups.into_iter().map(|(g, _)| g).collect(),
            other => return Err(WeshCliError::UnexpectedAnswer(format!("{other:?}"))),
        },
    };
    let show = |m: &MessageView| -> Result<(), WeshCliError> {
        if m.own && !args.own {
            return Ok(());
        }
        if args.api.json {
            println!("{}", serde_json::to_string(m)?);
        } else {
            println!("{}", message_text(m));
        }
        Ok(())
    };
    if args.follow {
        let group = groups.into_iter().next().unwrap_or_default();
        let (now, mut stream) = client.follow(&group).await?;
        for m in &now {
            show(m)?;
        }
        while let Some(m) = stream.next().await {
            match m {
                Ok(m) => show(&m)?,
                // e.g. the stream fell behind and skipped messages: say so, keep going
                Err(e) => eprintln!("warning: {e}"),
            }
        }
        return Err(WeshCliError::StreamClosed);
    }
    for group in groups {
        let request = ApiRequest::GroupMessageList {
            group,
            follow: false,
        };
        if let ApiResponse::Messages { messages } = client.call(request).await? {
            for m in &messages {
                show(m)?;
            }
        }
    }
    Ok(())
}

/// The payload as text when it is short printable UTF-8, else its size and hex.
fn payload_text(hex_payload: &str) -> String {
    let Ok(bytes) = hex::decode(hex_payload) else {
        return hex_payload.to_string();
    };
    match std::str::from_utf8(&bytes) {
        Ok(t) if t.len() <= 1000 && !t.chars().any(|c| c.is_control() && c != '\n') => {
            format!("{t:?}")
        }
        _ if bytes.len() <= 64 => format!("{} bytes: {hex_payload}", bytes.len()),
        _ => format!("{} bytes", bytes.len()),
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn message_text(m: &MessageView) -> String {
    format!(
        "{} {}{} #{}: {}",
        short(&m.group),
        short(&m.member),
        if m.own { " (you)" } else { "" },
        m.counter,
        payload_text(&m.payload)
    )
}

/// What a person reads for each answer.
fn answer_text(answer: &ApiResponse) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    match answer {
        ApiResponse::ContactRequestReference { reference } => line(reference.clone()),
        ApiResponse::Done => line("done".into()),
        ApiResponse::Accounts { accounts } => accounts.iter().for_each(|a| line(a.clone())),
        ApiResponse::Contacts { contacts } => contacts
            .iter()
            .for_each(|(account, group)| line(format!("{account} group {group}"))),
        ApiResponse::Group { group } => line(group.clone()),
        ApiResponse::Groups { groups } => groups
            .iter()
            .for_each(|(group, kind)| line(format!("{group} {kind}"))),
        ApiResponse::Invitation { invitation } => line(invitation.clone()),
        ApiResponse::Messages { messages } => messages.iter().for_each(|m| line(message_text(m))),
        ApiResponse::Message(m) => line(message_text(m)),
        ApiResponse::Metadata(m) => {
            line(format!("group {} ({})", m.group, m.kind));
            for (member, devices) in &m.members {
                line(format!("  member {member}"));
                for d in devices {
                    let mailbox = m
                        .device_mailboxes
                        .iter()
                        .find(|(dev, _)| dev == d)
                        .map(|(_, a)| a.as_str())
                        .unwrap_or("no mailbox announced");
                    line(format!("    device {d} at {mailbox}"));
                }
            }
            for r in &m.replicas {
                line(format!("  replicated at {r}"));
            }
            line(format!(
                "  {} metadata entries, {} messages",
                m.metadata_entries, m.message_entries
            ));
        }
        ApiResponse::DeviceLink { code } => line(code.clone()),
        ApiResponse::Stats(s) => match serde_json::to_string_pretty(s) {
            Ok(t) => line(t),
            Err(e) => line(format!("stats: {e}")),
        },
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_print_as_text_or_size() {
        assert_eq!(payload_text(&hex::encode("hi there")), "\"hi there\"");
        assert_eq!(payload_text("00ff"), "2 bytes: 00ff");
        assert_eq!(payload_text(&"00".repeat(100)), "100 bytes");
        assert_eq!(payload_text("zz"), "zz");
    }

    #[test]
    fn answers_read_as_lines() {
        let t = answer_text(&ApiResponse::Contacts {
            contacts: vec![("aa".into(), "bb".into())],
        });
        assert_eq!(t, "aa group bb\n");
        assert_eq!(answer_text(&ApiResponse::Done), "done\n");
    }
}
