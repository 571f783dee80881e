//! HTTP/1.1 on raw sockets: requests are parsed with httparse; responses are
//! written by hand, because the faults (cut bodies, lying lengths, stalls,
//! resets) need control of every byte and of the socket itself.

pub mod request;
pub mod response;

/// How a message's body is delimited.
pub enum Framing {
    Length(u64),
    Chunked,
    None,
}
