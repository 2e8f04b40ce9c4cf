//! Ceiling probe for bench/run.sh: the least a token endpoint and an
//! introspection endpoint can cost on this machine, measured beside Tollgate
//! with the same wrk settings, so the report can say how close Tollgate gets.
//!
//! `POST /token` parses the form, signs an ES256 JWT access token and answers
//! JSON; `POST /introspect` parses the form, verifies such a token and answers
//! JSON. Nothing else: no client authentication, no storage, no logging.
//! Signing and verifying use the crates Tollgate uses (aws-lc-rs signs,
//! jsonwebtoken verifies), so the gap to Tollgate is everything around them.
//!
//! Usage: tollgate-bench-ceiling 127.0.0.1:8097

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::{extract::State, http::StatusCode, routing::post, Form, Json, Router};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "http://ceiling.invalid";
const AUDIENCE: &str = "urn:tollgate:bench";
const CLIENT: &str = "bench-client";
const LIFETIME: u64 = 300;

struct Probe {
    pair: EcdsaKeyPair,
    /// The JOSE header never changes: encode it once.
    header: String,
    decoding: DecodingKey,
    validation: Validation,
    /// A counter is the cheapest unique `jti`.
    next_jti: AtomicU64,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    jti: String,
    client_id: String,
    scope: String,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// RFC 7662: the token's claims beside `active`, none when it is invalid.
#[derive(Serialize)]
struct Introspection {
    active: bool,
    #[serde(flatten)]
    claims: Option<Claims>,
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
}

#[derive(Deserialize)]
struct IntrospectForm {
    token: String,
}

const FAILED: StatusCode = StatusCode::INTERNAL_SERVER_ERROR;

async fn token(
    State(p): State<Arc<Probe>>,
    Form(f): Form<TokenForm>,
) -> Result<Json<TokenResponse>, StatusCode> {
    if f.grant_type != "client_credentials" {
        return Err(StatusCode::BAD_REQUEST);
    }
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = Claims {
        iss: ISSUER.into(),
        sub: CLIENT.into(),
        aud: AUDIENCE.into(),
        exp: iat + LIFETIME,
        iat,
        jti: p.next_jti.fetch_add(1, Ordering::Relaxed).to_string(),
        client_id: CLIENT.into(),
        scope: "openid".into(),
    };
    let payload = serde_json::to_vec(&claims).map_err(|_| FAILED)?;
    let mut jwt = format!("{}.", p.header);
    B64.encode_string(payload, &mut jwt);
    let sig = p
        .pair
        .sign(&SystemRandom::new(), jwt.as_bytes())
        .map_err(|_| FAILED)?;
    jwt.push('.');
    B64.encode_string(sig.as_ref(), &mut jwt);
    Ok(Json(TokenResponse {
        access_token: jwt,
        token_type: "Bearer",
        expires_in: LIFETIME,
    }))
}

async fn introspect(
    State(p): State<Arc<Probe>>,
    Form(f): Form<IntrospectForm>,
) -> Json<Introspection> {
    // An invalid token is an answer (`active: false`), not an error.
    let claims = jsonwebtoken::decode::<Claims>(&f.token, &p.decoding, &p.validation).ok();
    Json(Introspection {
        active: claims.is_some(),
        claims: claims.map(|t| t.claims),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8097".into());
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())?;
    // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
    let point = pair.public_key().as_ref();
    let decoding =
        DecodingKey::from_ec_components(&B64.encode(&point[1..33]), &B64.encode(&point[33..65]))?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let header = B64.encode(r#"{"alg":"ES256","typ":"at+jwt","kid":"ceiling"}"#);
    let probe = Arc::new(Probe {
        pair,
        header,
        decoding,
        validation,
        next_jti: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/token", post(token))
        .route("/introspect", post(introspect))
        .with_state(probe);
    axum::serve(tokio::net::TcpListener::bind(&listen).await?, app).await?;
    Ok(())
}
