//! libxmlsec1 prints its failures to stderr unless told otherwise, which
//! breaks the service's JSON log lines. A failing signature verification
//! (the first use of libxmlsec1 in the process, and a later one) runs in a
//! child process of this test binary (libxmlsec1's error handler
//! is process-wide state, so the check needs a process of its own) and the
//! parent reads the child's stderr and stdout.

use crate::saml_idp;

use std::process::Command;

use saml_idp::{idp_metadata, Answer, KeyPair, ACS, IDP_ENTITY, SP_ENTITY};
use tollgate_core::federation::saml::verify::{verify, Expected, Refusal};

// The test's path inside the one integration-test binary.
const CHILD: &str = "saml_xmlsec_stderr::verification_by_another_key_in_a_child_process";

#[test]
fn libxmlsec1_diagnostics_go_to_tracing_not_to_stderr() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            CHILD,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    // The child really ran the verification and libxmlsec1 reported its
    // failure, through tracing (written to stdout by the child's subscriber).
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(stderr.trim().is_empty(), "stderr is not empty:\n{stderr}");
    assert!(stdout.contains("libxmlsec1"), "{stdout}");
    assert!(
        stdout.contains("xmlSecOpenSSLEvpSignatureVerify"),
        "{stdout}"
    );
}

/// Run only by the test above, in its own process.
#[test]
#[ignore = "the child half of libxmlsec1_diagnostics_go_to_tracing_not_to_stderr"]
fn verification_by_another_key_in_a_child_process() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(std::io::stdout)
        .init();
    let idp = KeyPair::generate("idp");
    let intruder = KeyPair::generate("intruder");
    let metadata = idp_metadata(IDP_ENTITY, &idp.cert_der).parse().unwrap();
    let answer = Answer {
        destination: ACS.into(),
        recipient: ACS.into(),
        audience: SP_ENTITY.into(),
        in_response_to: None,
        name_id: "alice".into(),
        ..Answer::default()
    };
    let expected = Expected {
        idp: &metadata,
        audience: SP_ENTITY,
        recipient: ACS,
        in_response_to: None,
        decryption_key: None,
    };
    // The first use of libxmlsec1 in the process (its lazy initialisation
    // resets the error reporter): an empty signature template, whose digest
    // does not match.
    let unsigned = answer.response(&answer.assertion(true), false);
    assert_eq!(verify(&unsigned, &expected), Err(Refusal::Signature));
    // A later use: a real signature by a key the IdP metadata does not name.
    let forged = answer.response(&intruder.sign(&answer.assertion(true)), false);
    assert_eq!(verify(&forged, &expected), Err(Refusal::Signature));
}
