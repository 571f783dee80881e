//! A small https server on loopback for the TLS tests: rustls with the
//! test-only certificates in tests/data/tls (see TESTING.md), one thread per
//! connection, answering every request with the 22-byte empty archive and
//! recording each request's head (only requests that arrive over a completed
//! handshake are recorded).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The empty ZIP archive every request gets.
pub const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A file of tests/data/tls: `ca.pem` (the CA that signed the server's
/// certificate), `server.pem`, `server.key`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
}

pub struct TlsServer {
    pub port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl TlsServer {
    pub fn start() -> TlsServer {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(data("server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(data("server.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (config, recorded) = (config.clone(), recorded.clone());
                std::thread::spawn(move || serve(config, stream, recorded));
            }
        });
        TlsServer { port, heads }
    }

    /// The heads of the requests received so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn serve(
    config: Arc<rustls::ServerConfig>,
    stream: std::net::TcpStream,
    recorded: Arc<Mutex<Vec<String>>>,
) {
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match tls.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    recorded.lock().unwrap().push(head);
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        EMPTY_ZIP.len()
    )
    .into_bytes();
    reply.extend_from_slice(&EMPTY_ZIP);
    let tls = tls.get_mut();
    let _ = tls.write_all(&reply);
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.flush();
}
