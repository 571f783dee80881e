//! https against a real TLS server on loopback: the client's roots are
//! loaded on the first handshake (src/tls.rs), a CA file added with
//! `add_ca_file` is trusted, and a server the roots do not vouch for is
//! refused before anything is sent or written.
//!
//! The certificates in tests/data/tls are for tests only: a CA (its key was
//! thrown away) and a server certificate for `localhost` and 127.0.0.1 signed
//! by it, both valid until 2126. To make new ones, see the openssl commands
//! in TESTING.md.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use browserbase::{Client, ClientConfig, ErrorKind, EMPTY_ARCHIVE};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

const KEY: &str = "bb_tls_test_key";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
}

/// A one-thread https server that answers every request with the empty
/// archive and records each request's head (only requests that arrive over
/// a completed handshake are recorded).
struct TlsServer {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl TlsServer {
    fn start() -> TlsServer {
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
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    match tls.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line == "\r\n" => {
                            recorded.lock().unwrap().push(head.clone());
                            let mut reply = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                EMPTY_ARCHIVE.len()
                            )
                            .into_bytes();
                            reply.extend_from_slice(&EMPTY_ARCHIVE);
                            let tls = tls.get_mut();
                            let _ = tls.write_all(&reply);
                            let _ = tls.flush();
                            tls.conn.send_close_notify();
                            let _ = tls.flush();
                            break;
                        }
                        Ok(_) => head.push_str(&line),
                    }
                }
            }
        });
        TlsServer { port, heads }
    }

    fn client(&self, host: &str, trust_test_ca: bool) -> Client {
        let mut config = ClientConfig::default();
        config
            .set_base_url(&format!("https://{host}:{}", self.port))
            .unwrap();
        config.set_max_retries(0).unwrap();
        if trust_test_ca {
            config.add_ca_file(&data("ca.pem")).unwrap();
        }
        Client::new(config).unwrap()
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

#[test]
fn a_server_signed_by_an_added_ca_is_trusted() {
    let server = TlsServer::start();
    for host in ["127.0.0.1", "localhost"] {
        let client = server.client(host, true);
        let (dir, path) = support::scratch();
        let n = client
            .download_to_file(Some(KEY), "tls-session", &path)
            .unwrap();
        assert_eq!(n as usize, EMPTY_ARCHIVE.len());
        assert_eq!(std::fs::read(&path).unwrap(), EMPTY_ARCHIVE);
        assert_eq!(
            support::leftovers(dir.path(), &["out.zip"]),
            Vec::<String>::new()
        );
    }
    let heads = server.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in heads {
        assert!(
            head.starts_with("GET /v1/sessions/tls-session/downloads HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head
            .to_ascii_lowercase()
            .contains(&format!("x-bb-api-key: {KEY}")));
    }
}

#[test]
fn a_server_the_roots_do_not_vouch_for_is_refused() {
    let server = TlsServer::start();
    let client = server.client("127.0.0.1", false);
    let (dir, path) = support::scratch();
    std::fs::write(&path, b"keep me").unwrap();
    let err = client
        .download_to_file(Some(KEY), "tls-session", &path)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(err.message().contains("certificate"), "{err}");
    assert!(!err.message().contains(KEY), "{err}");
    // Nothing was sent over the refused connection, and nothing written.
    assert_eq!(server.heads(), Vec::<String>::new());
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    assert_eq!(
        support::leftovers(dir.path(), &["out.zip"]),
        Vec::<String>::new()
    );
}

#[test]
fn a_ca_file_that_is_not_a_usable_certificate_is_refused_when_added() {
    let (dir, _) = support::scratch();
    let bogus = dir.path().join("bogus.pem");
    std::fs::write(
        &bogus,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut config = ClientConfig::default();
    let err = config.add_ca_file(&bogus).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.message().contains("bogus.pem"), "{err}");
    // The CA's certificate is fine; the server's key is not a certificate.
    config.add_ca_file(&data("ca.pem")).unwrap();
    let err = config.add_ca_file(&data("server.key")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}
