//! A TCP connection to a portal with PDU framing, and the login exchange over it.
//!
//! Owns the socket, the receive buffer and the request/response pattern of the login and
//! discovery phases. The full feature phase's concurrent I/O is in `driver`.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::login::{Login, LoginConfig, LoginOutcome, LoginProgress};
use crate::pdu::{encode_pdu, Digests, Pdu, PduDecoder};
use crate::session::ReadTarget;

use super::ClientError;

/// Largest data segment accepted while logging in (RFC 7143 default MaxRecvDataSegmentLength).
const LOGIN_MAX_DATA_SEGMENT: u32 = 8192;

/// A connected socket with framing.
#[derive(Debug)]
pub struct Connection {
    pub(crate) stream: TcpStream,
    pub(crate) decoder: PduDecoder,
    pub(crate) read_buffer: BytesMut,
    pub(crate) digests: Digests,
}

/// A logged-in connection taken apart for a driver that runs the session itself.
#[derive(Debug)]
pub struct ConnectionParts {
    pub stream: TcpStream,
    /// Framing with the negotiated digests and receive limit.
    pub decoder: PduDecoder,
    /// Bytes received after the last login PDU (the start of the full feature phase).
    pub read_buffer: BytesMut,
}

impl Connection {
    /// The socket, the framing and any bytes already received.
    pub fn into_parts(self) -> ConnectionParts {
        ConnectionParts {
            stream: self.stream,
            decoder: self.decoder,
            read_buffer: self.read_buffer,
        }
    }

    /// Connects to `address` (`host:port`) within `timeout`.
    pub async fn connect(address: &str, timeout: Duration) -> Result<Connection, ClientError> {
        let connect = TcpStream::connect(address);
        let stream = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| ClientError::Timeout("TCP connect"))?
            .map_err(|source| ClientError::Connect {
                address: address.to_string(),
                reason: source.to_string(),
            })?;
        stream.set_nodelay(true).map_err(ClientError::io)?;
        Ok(Connection {
            stream,
            decoder: PduDecoder::new(LOGIN_MAX_DATA_SEGMENT, Digests::default()),
            read_buffer: BytesMut::with_capacity(64 * 1024),
            digests: Digests::default(),
        })
    }

    /// Sends one PDU.
    pub async fn send(&mut self, pdu: &Pdu) -> Result<(), ClientError> {
        let mut bytes = Vec::new();
        encode_pdu(pdu, self.digests, &mut bytes)?;
        self.stream.write_all(&bytes).await.map_err(ClientError::io)
    }

    /// Receives one PDU, waiting at most `timeout`.
    pub async fn receive(&mut self, timeout: Duration) -> Result<Pdu, ClientError> {
        tokio::time::timeout(timeout, self.receive_forever())
            .await
            .map_err(|_| ClientError::Timeout("waiting for a PDU"))?
    }

    async fn receive_forever(&mut self) -> Result<Pdu, ClientError> {
        loop {
            if let Some(pdu) = self.decoder.decode(&mut self.read_buffer)? {
                return Ok(pdu);
            }
            let read = self
                .stream
                .read_buf(&mut self.read_buffer)
                .await
                .map_err(ClientError::io)?;
            if read == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// Runs a login to completion; afterwards the negotiated digests and receive limit apply.
    pub async fn login(
        &mut self,
        config: LoginConfig,
        timeout: Duration,
    ) -> Result<LoginOutcome, ClientError> {
        let mut login = Login::new(config);
        loop {
            let Some(request) = login.poll_request() else {
                return Err(ClientError::Protocol(
                    "login stalled with nothing to send".into(),
                ));
            };
            self.send(&Pdu::LoginRequest(request)).await?;
            let response = match self.receive(timeout).await? {
                Pdu::LoginResponse(response) => response,
                other => {
                    let name = format!("{:?}", other.header().opcode_byte());
                    return Err(ClientError::Protocol(format!(
                        "expected Login Response, got opcode {name}"
                    )));
                }
            };
            if let LoginProgress::Complete(outcome) = login.handle_response(&response)? {
                self.digests = Digests {
                    header: outcome.params.header_digest,
                    data: outcome.params.data_digest,
                };
                self.decoder =
                    PduDecoder::new(outcome.params.max_recv_data_segment_length, self.digests);
                return Ok(outcome);
            }
        }
    }
}

/// One `recv` into `target`'s free room (a [`crate::session::Session::read_target`]; a
/// placed data segment and what follows it are one `readv`). A read that filled less than
/// the room drained the socket (epoll is edge-triggered): the socket's readiness is cleared
/// then, as tokio's own `poll_read` does, so the next read waits for the next edge instead
/// of paying a `recv` that returns `EAGAIN` on every wakeup. Readiness that arrives after
/// the read is not lost: tokio clears only the readiness it saw before the read.
pub fn read_into(stream: &TcpStream, target: &mut ReadTarget<'_>) -> std::io::Result<usize> {
    read_draining(stream, target).map(|(count, _)| count)
}

/// [`read_into`], also saying whether the read drained the socket (its readiness is cleared
/// then: the next read would say `WouldBlock`, so a driver can go straight to waiting).
pub fn read_draining(
    stream: &TcpStream,
    target: &mut ReadTarget<'_>,
) -> std::io::Result<(usize, bool)> {
    let room = target.room();
    let mut drained = None;
    let result = stream.try_io(Interest::READABLE, || {
        let count = match target {
            ReadTarget::Buffer(buffer) => stream.try_read_buf(buffer)?,
            ReadTarget::Placed(placed) => {
                let count = stream.try_read_vectored(&mut placed.slices())?;
                placed.advance(count);
                count
            }
        };
        if count > 0 && count < room {
            drained = Some(count);
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        Ok(count)
    });
    match (result, drained) {
        (_, Some(count)) => Ok((count, true)),
        (result, None) => result.map(|count| (count, false)),
    }
}
