//! A blocking one-request-at-a-time client over [`SessionCodec`]: for setup,
//! teardown and tools, where simplicity beats throughput. Watch events that
//! arrive while waiting for a reply are kept for [`Client::take_events`].

use super::codec::{CodecError, Incoming, SessionCodec, WatchEvent};
use crate::proto::request::CreateRequest;
use crate::proto::{Acl, ConnectResponse, OpCode, Request, Response, SessionId, ZData, Zxid};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Codec(#[from] CodecError),
    #[error("server closed the connection")]
    Closed,
    #[error("server answered error {0}")]
    Server(i32),
}

impl ClientError {
    /// The server's error code, if that is what this is.
    pub fn code(&self) -> Option<i32> {
        match self {
            ClientError::Server(c) => Some(*c),
            _ => None,
        }
    }
}

pub struct Client {
    stream: TcpStream,
    codec: SessionCodec<()>,
    session: ConnectResponse,
    events: Vec<WatchEvent>,
    buf: Box<[u8]>,
}

impl Client {
    /// Connects and opens a new session; every socket wait is bounded by `io_timeout`.
    pub fn connect(
        addr: &str,
        timeout_ms: i32,
        io_timeout: Duration,
    ) -> Result<Client, ClientError> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(io_timeout))?;
        stream.set_write_timeout(Some(io_timeout))?;
        let mut c = Client {
            stream,
            codec: SessionCodec::new(timeout_ms),
            session: ConnectResponse {
                protocol_version: 0,
                timeout_ms: 0,
                session_id: SessionId(0),
                passwd: bytes::Bytes::new(),
                read_only: None,
            },
            events: Vec::new(),
            buf: vec![0u8; 64 * 1024].into_boxed_slice(),
        };
        c.flush()?;
        loop {
            match c.next()? {
                Incoming::Connected(resp) => {
                    c.session = resp;
                    return Ok(c);
                }
                Incoming::Event(e) => c.events.push(e),
                Incoming::Pong | Incoming::Reply(_) | Incoming::Control { .. } => {}
            }
        }
    }

    pub fn session_id(&self) -> SessionId {
        self.session.session_id
    }

    pub fn last_zxid(&self) -> Zxid {
        self.codec.last_zxid()
    }

    fn flush(&mut self) -> Result<(), ClientError> {
        while self.codec.has_output() {
            let n = self.stream.write(self.codec.output())?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.codec.consume_output(n);
        }
        Ok(())
    }

    fn next(&mut self) -> Result<Incoming<()>, ClientError> {
        loop {
            if let Some(i) = self.codec.next_incoming()? {
                return Ok(i);
            }
            let n = self.stream.read(&mut self.buf)?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.codec.input(&self.buf[..n]);
        }
    }

    /// Sends one request and waits for its reply.
    pub fn call(&mut self, req: &Request) -> Result<Response, ClientError> {
        self.codec.send(req, ());
        self.flush()?;
        loop {
            match self.next()? {
                Incoming::Reply(r) => {
                    return match r.err {
                        Ok(()) => Ok(r.decode().map_err(CodecError::from)?),
                        Err(code) => Err(ClientError::Server(code)),
                    };
                }
                Incoming::Event(e) => self.events.push(e),
                Incoming::Pong | Incoming::Connected(_) | Incoming::Control { .. } => {}
            }
        }
    }

    /// Watch events received so far.
    pub fn take_events(&mut self) -> Vec<WatchEvent> {
        std::mem::take(&mut self.events)
    }

    /// Creates a node with the open ACL; returns the created path.
    pub fn create(&mut self, path: &str, data: &[u8], flags: i32) -> Result<String, ClientError> {
        let resp = self.call(&Request::Create {
            op: OpCode::Create,
            req: CreateRequest {
                path: path.into(),
                data: ZData::from(data.to_vec()),
                acl: Acl::open_unsafe(),
                flags,
                ttl_ms: -1,
            },
        })?;
        match resp {
            Response::Path(p) => Ok(p.to_string()),
            _ => Ok(path.to_string()),
        }
    }

    pub fn delete(&mut self, path: &str, version: i32) -> Result<(), ClientError> {
        self.call(&Request::Delete {
            path: path.into(),
            version,
        })
        .map(|_| ())
    }

    pub fn children(&mut self, path: &str) -> Result<Vec<String>, ClientError> {
        match self.call(&Request::GetChildren {
            path: path.into(),
            watch: false,
        })? {
            Response::Children(c) => Ok(c.iter().map(|s| s.to_string()).collect()),
            _ => Ok(Vec::new()),
        }
    }

    /// Deletes `path` and everything below it. A missing node is fine.
    /// Deletes are pipelined a level at a time: a large key space goes fast.
    pub fn delete_recursive(&mut self, path: &str) -> Result<(), ClientError> {
        let mut order = Vec::new();
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            match self.children(&p) {
                Ok(kids) => {
                    for k in kids {
                        stack.push(if p == "/" {
                            format!("/{k}")
                        } else {
                            format!("{p}/{k}")
                        });
                    }
                    order.push(p);
                }
                Err(ClientError::Server(_)) => {}
                Err(e) => return Err(e),
            }
        }
        // Deepest first (order is a pre-order walk), pipelined in chunks.
        order.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
        for chunk in order.chunks(256) {
            let reqs: Vec<Request> = chunk
                .iter()
                .map(|p| Request::Delete {
                    path: p.as_str().into(),
                    version: -1,
                })
                .collect();
            self.pipeline(&reqs)?;
        }
        Ok(())
    }

    /// Sends every request, then waits for every reply; returns each error code (0 = ok).
    pub fn pipeline(&mut self, reqs: &[Request]) -> Result<Vec<i32>, ClientError> {
        for r in reqs {
            self.codec.send(r, ());
        }
        self.flush()?;
        let mut codes = Vec::with_capacity(reqs.len());
        while codes.len() < reqs.len() {
            match self.next()? {
                Incoming::Reply(r) => codes.push(r.err.err().unwrap_or(0)),
                Incoming::Event(e) => self.events.push(e),
                Incoming::Pong | Incoming::Connected(_) | Incoming::Control { .. } => {}
            }
        }
        Ok(codes)
    }

    /// Closes the session (closeSession) and waits for its answer.
    pub fn close(mut self) -> Result<(), ClientError> {
        match self.call(&Request::CloseSession) {
            Ok(_) | Err(ClientError::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
