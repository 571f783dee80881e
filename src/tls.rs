//! TLS settings of a client: rustls, trusting Mozilla's roots (so a bare
//! machine works), the system's roots (corporate CAs) and any CA file the
//! caller added.
//!
//! One configuration per client, shared by all its transports. The roots are
//! loaded on the first https handshake, not when the client is built: reading
//! the system's roots costs about 2 ms, which a client that only talks plain
//! http to a loopback server (tests, the stand-in server, a local proxy)
//! never needs to pay.

use std::sync::Arc;

use once_cell::race::OnceBox;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::{Error, Result};

/// The rustls configuration for a client that trusts `extra_roots` besides
/// the built-in ones. HTTP/1.1 only, as the client speaks no HTTP/2.
pub(crate) fn client_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(LazyRoots {
        provider: provider.clone(),
        extra_roots: extra_roots.to_vec(),
        verifier: OnceBox::new(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("cannot set up TLS: {e}")))?
        // "dangerous" only in name: the verifier is rustls's own WebPKI
        // verifier, built on first use (see `LazyRoots`).
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// rustls's WebPKI server verifier over the roots, built on the first
/// handshake that needs it and kept (a failure to build it is kept too, and
/// fails every handshake with the same message).
///
/// Built without a lock: threads that race to build it each build one and
/// the first stored wins. A lock held while the roots load (reading files)
/// would leave a process forked meanwhile unable to make any https call.
struct LazyRoots {
    provider: Arc<CryptoProvider>,
    extra_roots: Vec<CertificateDer<'static>>,
    verifier: OnceBox<std::result::Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
}

impl std::fmt::Debug for LazyRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyRoots")
            .field("extra_roots", &self.extra_roots.len())
            .field("loaded", &self.verifier.get().is_some())
            .finish()
    }
}

impl LazyRoots {
    fn verifier(&self) -> std::result::Result<&WebPkiServerVerifier, rustls::Error> {
        match self.verifier.get_or_init(|| Box::new(self.build())) {
            Ok(v) => Ok(v),
            Err(e) => Err(e.clone()),
        }
    }

    fn build(&self) -> std::result::Result<Arc<WebPkiServerVerifier>, rustls::Error> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // System stores often hold a few certificates rustls cannot use
        // (ancient, malformed): those are skipped, as reqwest does.
        let system = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(system.certs);
        for cert in &self.extra_roots {
            // Checked when the CA file was added (config.rs).
            roots.add(cert.clone())?;
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(format!("cannot load the trusted roots: {e}")))
    }
}

impl ServerCertVerifier for LazyRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
