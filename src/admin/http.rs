//! A small HTTP/1.1 server for the AdminServer and `/metrics`: GET and HEAD,
//! one request per connection (`Connection: close`), on plain threads apart
//! from the executors — these endpoints are polled every few seconds, and
//! a slow scraper must never hold a core that serves clients.
//!
//! Bounded like the client port: a request head is at most
//! [`MAX_HEAD_BYTES`] and must arrive within [`READ_TIMEOUT`]; at most
//! [`MAX_CONNECTIONS`] are served at once, and one past that is answered
//! 503 and closed.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const MAX_HEAD_BYTES: usize = 8 * 1024;
pub const MAX_CONNECTIONS: usize = 16;
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What a handler sees of a request.
pub struct Request {
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// `key=value` pairs of the query, decoded.
    pub query: Vec<(String, String)>,
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            body: body.into(),
        }
    }

    fn error(status: u16) -> Response {
        let text = format!(
            "<html><body><h2>HTTP ERROR {status} {}</h2></body></html>\n",
            reason(status)
        );
        Response::new(status, "text/html;charset=iso-8859-1", text)
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Binds `addr` and serves `handler` on a thread named `name` until the
/// process ends. Returns the bound address.
pub fn spawn(name: &str, addr: SocketAddr, handler: Handler) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let active = Arc::new(AtomicUsize::new(0));
    let thread_name = name.to_string();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::AcqRel);
                    let _ = send(&stream, &Response::error(503), false);
                    continue;
                }
                let handler = handler.clone();
                let done = active.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("{thread_name}-conn"))
                    .spawn(move || {
                        serve(stream, &*handler);
                        done.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::AcqRel);
                }
            }
        })?;
    Ok(bound)
}

fn serve(mut stream: TcpStream, handler: &(dyn Fn(&Request) -> Response + Send + Sync)) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let head = match read_head(&mut stream) {
        Ok(Some(head)) => head,
        Ok(None) => return,
        Err(status) => {
            let _ = send(&stream, &Response::error(status), false);
            return;
        }
    };
    let response = match parse_head(&head) {
        Ok(req) if req.method == "GET" || req.method == "HEAD" => handler(&req),
        Ok(_) => Response::error(405),
        Err(status) => Response::error(status),
    };
    let head_only = head.starts_with(b"HEAD ");
    let _ = send(&stream, &response, head_only);
}

/// The request head up to the blank line; `None` if the peer left first.
fn read_head(stream: &mut TcpStream) -> Result<Option<Vec<u8>>, u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(408);
            }
            Err(_) => return Ok(None),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n").or_else(|| find(&buf, b"\n\n")) {
            buf.truncate(end);
            return Ok(Some(buf));
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(431);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> Result<Request, u16> {
    let text = std::str::from_utf8(head).map_err(|_| 400u16)?;
    let line = text.lines().next().ok_or(400u16)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return Err(400);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path).ok_or(400u16)?;
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(400u16)?;
    Ok(Request {
        method: method.to_string(),
        path,
        query,
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn send(mut stream: &TcpStream, r: &Response, head_only: bool) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(&r.body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_parse_with_their_query() {
        let r =
            parse_head(b"GET /commands/set_trace_mask?traceMask=12&x=a%20b HTTP/1.1\r\nHost: h")
                .ok()
                .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/commands/set_trace_mask");
        assert_eq!(
            r.query,
            vec![
                ("traceMask".into(), "12".into()),
                ("x".into(), "a b".into())
            ]
        );
    }

    #[test]
    fn malformed_request_lines_are_400() {
        for head in [
            &b"GET /x"[..],
            b"GET /x HTTP/2",
            b"GET /x HTTP/1.1 extra",
            b"GET /%zz HTTP/1.1",
            b"\xff\xfe HTTP/1.1",
            b"",
        ] {
            assert_eq!(parse_head(head).err(), Some(400), "{head:?}");
        }
    }
}
