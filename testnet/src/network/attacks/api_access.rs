//! `api-cross-origin` and `api-no-credential`: the app API of the Wesh story's bob, attacked
//! as a web page (a cross-origin POST whose body lines are API calls) and as a local
//! process without the cookie would. Each sends `ContactRequestResetReference`, a call
//! with a visible effect (bob's contact card changes), and the judge checks bob's card
//! afterwards through an honest, cookie-holding connection.

use super::{ApiTarget, AttackReport};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wesh_shell::wesh_app::{ApiClient, ApiCookie, ApiRequest, ApiResponse, CookieFile};

const RENEW: &str = r#"{"method":"ContactRequestResetReference"}"#;
/// How long the attacker waits for the server to answer or close.
const PATIENCE: Duration = Duration::from_secs(5);

/// Waits (up to 30 s) for the story to announce its API.
pub async fn wait_for_api(
    api: Option<tokio::sync::watch::Receiver<Option<ApiTarget>>>,
) -> Option<ApiTarget> {
    let mut rx = api?;
    let found = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(Option::is_some)).await;
    match found {
        Ok(Ok(t)) => t.clone(),
        _ => None,
    }
}

/// Sends `bytes` on a fresh connection; everything answered until the server closes.
async fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Result<(String, bool), String> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    // a server that closes early may reset the rest of the write: that is an answer too
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let closed = matches!(
        tokio::time::timeout(PATIENCE, s.read_to_end(&mut out)).await,
        Ok(Ok(_)) | Ok(Err(_))
    );
    Ok((String::from_utf8_lossy(&out).into_owned(), closed))
}

async fn card(target: &ApiTarget) -> Result<String, String> {
    let cookie = ApiCookie::read_from_dir(&target.data_dir).map_err(|e| e.to_string())?;
    let mut c = ApiClient::connect(&target.addr.to_string(), &cookie)
        .await
        .map_err(|e| e.to_string())?;
    match c.call(ApiRequest::ContactRequestReference).await {
        Ok(ApiResponse::ContactRequestReference { reference }) => Ok(reference),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

pub async fn cross_origin(target: Option<ApiTarget>) -> AttackReport {
    let Some(target) = target else {
        return AttackReport::not_run("the Wesh story (and its API) is not running");
    };
    let run = async {
        let before = card(&target).await?;
        let body = format!("{RENEW}\n{RENEW}\n");
        // what fetch(url, {method: "POST", mode: "no-cors", body}) sends
        let page = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nOrigin: https://attacker.example\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
            target.addr,
            body.len()
        );
        let (answer, closed) = exchange(target.addr, page.as_bytes()).await?;
        let after = card(&target).await?;
        Ok::<_, String>((answer, closed, before != after))
    };
    match run.await {
        Ok((answer, closed, card_changed)) => AttackReport {
            refused: !card_changed && closed && answer.is_empty(),
            observed: [
                ("calls_run".to_string(), json!(u8::from(card_changed))),
                ("connection_closed".to_string(), json!(closed)),
                ("answer_bytes".to_string(), json!(answer.len())),
            ]
            .into_iter()
            .collect(),
        },
        Err(e) => AttackReport::not_run(e),
    }
}

pub async fn no_credential(target: Option<ApiTarget>) -> AttackReport {
    let Some(target) = target else {
        return AttackReport::not_run("the Wesh story (and its API) is not running");
    };
    let run = async {
        let before = card(&target).await?;
        // calls without the cookie, then with a guessed one, then a device link with the
        // right cookie but no operator confirmation
        let (bare, bare_closed) =
            exchange(target.addr, format!("{RENEW}\n{RENEW}\n").as_bytes()).await?;
        let guessed = format!("{{\"cookie\":\"{}\"}}\n{RENEW}\n", "00".repeat(32));
        let (guess, guess_closed) = exchange(target.addr, guessed.as_bytes()).await?;
        let after = card(&target).await?;
        let cookie = ApiCookie::read_from_dir(&target.data_dir).map_err(|e| e.to_string())?;
        let mut c = ApiClient::connect(&target.addr.to_string(), &cookie)
            .await
            .map_err(|e| e.to_string())?;
        let link = c.call(ApiRequest::DeviceLinkCreate).await;
        let link_code_given = matches!(link, Ok(ApiResponse::DeviceLink { .. }));
        let guessed_confirmation = c
            .call(ApiRequest::DeviceLinkConfirm {
                confirmation: "00000-00000".into(),
            })
            .await;
        let guessed_code_given = matches!(guessed_confirmation, Ok(ApiResponse::DeviceLink { .. }));
        Ok::<_, String>((
            before != after,
            bare.contains("Unauthorized") && bare.lines().count() == 1 && bare_closed,
            guess.contains("Unauthorized") && guess.lines().count() == 1 && guess_closed,
            link_code_given || guessed_code_given,
        ))
    };
    match run.await {
        Ok((card_changed, bare_refused, guess_refused, keys_given)) => AttackReport {
            refused: !card_changed && bare_refused && guess_refused && !keys_given,
            observed: [
                ("calls_run".to_string(), json!(u8::from(card_changed))),
                (
                    "no_cookie_refused_and_closed".to_string(),
                    json!(bare_refused),
                ),
                (
                    "wrong_cookie_refused_and_closed".to_string(),
                    json!(guess_refused),
                ),
                (
                    "link_code_without_confirmation".to_string(),
                    json!(keys_given),
                ),
            ]
            .into_iter()
            .collect(),
        },
        Err(e) => AttackReport::not_run(e),
    }
}
