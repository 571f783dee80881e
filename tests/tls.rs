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

use browserbase::{Client, ClientConfig, ErrorKind, EMPTY_ARCHIVE};
use support::tls_server::{data, TlsServer};

const KEY: &str = "bb_tls_test_key";

fn client(server: &TlsServer, host: &str, trust_test_ca: bool) -> Client {
    let mut config = ClientConfig::default();
    config
        .set_base_url(&format!("https://{host}:{}", server.port))
        .unwrap();
    config.set_max_retries(0).unwrap();
    if trust_test_ca {
        config.add_ca_file(&data("ca.pem")).unwrap();
    }
    Client::new(config).unwrap()
}

#[test]
fn a_server_signed_by_an_added_ca_is_trusted() {
    let server = TlsServer::start();
    for host in ["127.0.0.1", "localhost"] {
        let client = client(&server, host, true);
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
    let client = client(&server, "127.0.0.1", false);
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
