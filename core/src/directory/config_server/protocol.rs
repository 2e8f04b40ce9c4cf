//! The boundary between the connector and a Configuration Server's wire
//! protocol, and Tollgate's own implementation of it.
//!
//! The Genesys Configuration Server protocol is proprietary and publicly
//! unspecified, so nothing here claims to speak it. The connector
//! (`connection.rs`) only needs [`ConfigServerProtocol`]: open a registered
//! session on a connected stream, then run [`Command`]s on it. A real wire
//! implementation can be dropped in behind that trait.
//!
//! [`JsonLines`] is the protocol Tollgate ships (and `tollgate-cs-sim`
//! serves): newline-delimited JSON over TCP (or TLS), one object per line,
//! UTF-8, at most [`MAX_LINE`] bytes. The client sends requests with an `id`
//! of its choosing; the server answers each with the same `id`, in any order,
//! so concurrent commands share one connection:
//!
//! ```text
//! > {"id":1,"op":"hello","appName":"Cloud","userName":"default","password":"…"}
//! < {"id":1,"ok":true}
//! > {"id":2,"op":"authenticate","userName":"alice","password":"…"}
//! > {"id":3,"op":"lookup","userName":"bob"}
//! < {"id":3,"ok":true}                      (no such user)
//! < {"id":2,"ok":true,"user":{"userName":"alice","dbid":1001,…}}
//! > {"id":4,"op":"changePassword","userName":"bob","oldPassword":"…","newPassword":"…"}
//! < {"id":4,"ok":false,"error":"badCredentials"}
//! ```
//!
//! `hello` must come first; any other request before it is refused with
//! `notRegistered`. Errors: `badCredentials`, `locked`, `passwordExpired`,
//! `passwordRejected`, `readOnly`, `serviceAccountRejected`,
//! `notRegistered`, `badRequest`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

/// Longest line either side accepts: a user record with generous properties.
pub const MAX_LINE: usize = 64 * 1024;

/// A connected byte stream (plain TCP or TLS).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// How the connector registers: the environment's `appName` and service account.
#[derive(Clone)]
pub struct Hello {
    pub app_name: String,
    pub user_name: String,
    pub password: String,
}

impl std::fmt::Debug for Hello {
    // The service account's password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hello")
            .field("app_name", &self.app_name)
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

/// What the directory asks of a Configuration Server.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Command {
    #[serde(rename_all = "camelCase")]
    Authenticate { user_name: String, password: String },
    #[serde(rename_all = "camelCase")]
    Lookup { user_name: String },
    #[serde(rename_all = "camelCase")]
    ChangePassword {
        user_name: String,
        old_password: String,
        new_password: String,
    },
}

impl Command {
    /// Whether running it twice is harmless, so a command lost with its
    /// connection may be sent again to the other server.
    pub fn idempotent(&self) -> bool {
        !matches!(self, Command::ChangePassword { .. })
    }
}

impl std::fmt::Debug for Command {
    // Passwords never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Authenticate { user_name, .. } => write!(f, "authenticate({user_name})"),
            Command::Lookup { user_name } => write!(f, "lookup({user_name})"),
            Command::ChangePassword { user_name, .. } => write!(f, "changePassword({user_name})"),
        }
    }
}

/// A user record as the server sends it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    pub user_name: String,
    pub dbid: i64,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub authorities: Vec<String>,
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// Why the server refused a command (or the registration).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Refusal {
    BadCredentials,
    Locked,
    PasswordExpired,
    PasswordRejected,
    ReadOnly,
    ServiceAccountRejected,
    NotRegistered,
    BadRequest,
}

/// A command's answer: a user (or none, for a lookup) or a refusal.
pub type Reply = Result<Option<UserRecord>, Refusal>;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WireError {
    /// The connection ended (or broke) before the answer came.
    #[error("connection closed")]
    Closed,
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The server refused the registration.
    #[error("registration refused: {0:?}")]
    Refused(Refusal),
}

/// A registered session with one server.
#[async_trait]
pub trait Session: Send + Sync {
    async fn call(&self, command: Command) -> Result<Reply, WireError>;
    /// True once the connection is gone; the connector then opens another.
    fn is_closed(&self) -> bool;
}

/// A Configuration Server wire protocol. Timeouts are the connector's.
#[async_trait]
pub trait ConfigServerProtocol: Send + Sync + 'static {
    /// Registers on a connected stream and returns the session.
    async fn open(
        &self,
        stream: Box<dyn Stream>,
        hello: &Hello,
    ) -> Result<Arc<dyn Session>, WireError>;
}

/// One line on the wire, either way.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub body: RequestBody,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestBody {
    Hello(HelloBody),
    Command(Command),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename = "hello", rename_all = "camelCase")]
pub struct HelloBody {
    pub app_name: String,
    pub user_name: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Response {
    pub id: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Refusal>,
}

impl Response {
    pub fn answer(id: u64, reply: Reply) -> Self {
        match reply {
            Ok(user) => Response {
                id,
                ok: true,
                user,
                error: None,
            },
            Err(refusal) => Response {
                id,
                ok: false,
                user: None,
                error: Some(refusal),
            },
        }
    }

    fn reply(self) -> Result<Reply, WireError> {
        match (self.ok, self.error) {
            (true, _) => Ok(Ok(self.user)),
            (false, Some(refusal)) => Ok(Err(refusal)),
            (false, None) => Err(WireError::Malformed("an error without a code".into())),
        }
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes; `None` at the end of the stream.
pub async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Vec<u8>>, WireError> {
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|_| WireError::Closed)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if n > MAX_LINE {
            WireError::Malformed("line too long".into())
        } else {
            WireError::Closed
        });
    }
    Ok(Some(line))
}

/// Serializes `value` as one line.
pub fn line_of<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Newline-delimited JSON, multiplexed by request id (see the module docs).
pub struct JsonLines;

type Pending = Mutex<HashMap<u64, oneshot::Sender<Response>>>;

struct Shared {
    pending: Pending,
    closed: AtomicBool,
}

struct JsonSession {
    writer: tokio::sync::Mutex<Box<dyn AsyncWrite + Unpin + Send>>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for JsonSession {
    fn drop(&mut self) {
        // The read half keeps the socket open; ending the reader closes it.
        self.reader.abort();
    }
}

/// Removes a request's slot when its caller stops waiting (timeout).
struct Slot<'a> {
    pending: &'a Pending,
    id: u64,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl JsonSession {
    async fn send(&self, body: RequestBody) -> Result<Response, WireError> {
        if self.is_closed() {
            return Err(WireError::Closed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        let _slot = Slot {
            pending: &self.shared.pending,
            id,
        };
        {
            let mut w = self.writer.lock().await;
            let line = line_of(&Request { id, body });
            if w.write_all(&line).await.is_err() || w.flush().await.is_err() {
                self.shared.closed.store(true, Ordering::Release);
                return Err(WireError::Closed);
            }
        }
        rx.await.map_err(|_| WireError::Closed)
    }
}

#[async_trait]
impl Session for JsonSession {
    async fn call(&self, command: Command) -> Result<Reply, WireError> {
        self.send(RequestBody::Command(command)).await?.reply()
    }

    fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

async fn read_responses(read: impl AsyncRead + Unpin, shared: Arc<Shared>) {
    let mut reader = BufReader::new(read);
    while let Ok(Some(line)) = read_line(&mut reader).await {
        let Ok(response) = serde_json::from_slice::<Response>(&line) else {
            tracing::warn!("Configuration Server sent a malformed line; closing the connection");
            break;
        };
        let waiter = shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&response.id);
        // A caller that gave up (timeout) is no longer waiting.
        if let Some(waiter) = waiter {
            let _ = waiter.send(response);
        }
    }
    shared.closed.store(true, Ordering::Release);
    // Waiters see their sender dropped: `Closed`.
    shared
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
}

#[async_trait]
impl ConfigServerProtocol for JsonLines {
    async fn open(
        &self,
        stream: Box<dyn Stream>,
        hello: &Hello,
    ) -> Result<Arc<dyn Session>, WireError> {
        let (read, write) = tokio::io::split(stream);
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        });
        let session = JsonSession {
            writer: tokio::sync::Mutex::new(Box::new(write)),
            shared: shared.clone(),
            next_id: AtomicU64::new(1),
            reader: tokio::spawn(read_responses(read, shared)),
        };
        let answer = session
            .send(RequestBody::Hello(HelloBody {
                app_name: hello.app_name.clone(),
                user_name: hello.user_name.clone(),
                password: hello.password.clone(),
            }))
            .await?
            .reply()?;
        match answer {
            Ok(_) => Ok(Arc::new(session)),
            Err(refusal) => Err(WireError::Refused(refusal)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_have_the_documented_shape() {
        let hello = Request {
            id: 1,
            body: RequestBody::Hello(HelloBody {
                app_name: "Cloud".into(),
                user_name: "default".into(),
                password: "pw".into(),
            }),
        };
        assert_eq!(
            serde_json::to_value(&hello).unwrap(),
            json!({"id":1,"op":"hello","appName":"Cloud","userName":"default","password":"pw"})
        );
        let change = Request {
            id: 4,
            body: RequestBody::Command(Command::ChangePassword {
                user_name: "bob".into(),
                old_password: "a".into(),
                new_password: "b".into(),
            }),
        };
        let value = serde_json::to_value(&change).unwrap();
        assert_eq!(
            value,
            json!({"id":4,"op":"changePassword","userName":"bob","oldPassword":"a","newPassword":"b"})
        );
        let back: Request = serde_json::from_value(value).unwrap();
        assert!(matches!(
            back.body,
            RequestBody::Command(Command::ChangePassword { .. })
        ));
        let back: Request = serde_json::from_value(
            json!({"id":2,"op":"hello","appName":"a","userName":"u","password":"p"}),
        )
        .unwrap();
        assert!(matches!(back.body, RequestBody::Hello(_)));
    }

    #[test]
    fn responses_map_to_replies() {
        let r: Response =
            serde_json::from_value(json!({"id":2,"ok":false,"error":"passwordExpired"})).unwrap();
        assert_eq!(r.reply(), Ok(Err(Refusal::PasswordExpired)));
        let r: Response = serde_json::from_value(json!({"id":3,"ok":true,"user":null})).unwrap();
        assert_eq!(r.reply(), Ok(Ok(None)));
        let r: Response = serde_json::from_value(json!({"id":3,"ok":false})).unwrap();
        assert!(matches!(r.reply(), Err(WireError::Malformed(_))));
    }

    #[test]
    fn debug_output_carries_no_password() {
        let c = Command::Authenticate {
            user_name: "alice".into(),
            password: "s3cret".into(),
        };
        let h = Hello {
            app_name: "Cloud".into(),
            user_name: "svc".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{c:?}{h:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn a_line_longer_than_the_limit_is_refused() {
        let mut long = vec![b'x'; MAX_LINE + 10];
        long.push(b'\n');
        let mut reader = BufReader::new(&long[..]);
        assert!(matches!(
            read_line(&mut reader).await,
            Err(WireError::Malformed(_))
        ));
        let mut reader = BufReader::new(&b"{}\n"[..]);
        assert_eq!(
            read_line(&mut reader).await.unwrap(),
            Some(b"{}\n".to_vec())
        );
        assert_eq!(read_line(&mut reader).await.unwrap(), None);
    }
}
