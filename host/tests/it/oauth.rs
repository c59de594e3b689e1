//! The OAuth 2.1 resource server (`auth/oauth.rs`, `docs/auth.md`): tokens
//! minted at test time with real Ed25519, P-256 and RSA keys, signing keys
//! served as a JWKS by a real identity-provider stand-in on 127.0.0.1 that
//! counts how often it is asked. Every outcome is a typed `AuthError`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gateway::auth::oauth::{OAuthError, OAuthValidator, routes};
use gateway::auth::{AuthError, Caller, Principal, Scope};
use gateway::settings::{AuthSettings, Settings};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use serde_json::{Value, json};
use tower::ServiceExt;

const RESOURCE: &str = "https://gateway.example.com/mcp";
const METADATA_URL: &str = "https://gateway.example.com/.well-known/oauth-protected-resource/mcp";

/// A signing key and its public JWK.
struct TestKey {
    alg: Algorithm,
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn ed25519(kid: &str) -> TestKey {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("generate");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pkcs8");
    TestKey {
        alg: Algorithm::EdDSA,
        kid: kid.into(),
        encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                    "x": b64(pair.public_key().as_ref())}),
    }
}

fn p256(kid: &str) -> TestKey {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("generate");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("pkcs8");
    // Uncompressed point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    TestKey {
        alg: Algorithm::ES256,
        kid: kid.into(),
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": kid,
                    "x": b64(&point[1..33]), "y": b64(&point[33..65])}),
    }
}

/// One DER TLV with tag `tag` at the start of `input`: its content and the rest.
fn tlv(input: &[u8], tag: u8) -> (&[u8], &[u8]) {
    assert_eq!(input[0], tag, "DER tag");
    let (len, header) = if input[1] < 0x80 {
        (usize::from(input[1]), 2)
    } else {
        let count = usize::from(input[1] & 0x7f);
        let len = input[2..2 + count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + count)
    };
    (&input[header..header + len], &input[header + len..])
}

/// The checked-in test-only RSA key (PKCS#1), as DER.
fn rsa_der() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oauth-test-rsa.pem");
    let text = std::fs::read_to_string(path).expect("fixture");
    let armored: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(armored).expect("base64")
}

fn rsa(kid: &str, jwk_alg: &str) -> TestKey {
    let der = rsa_der();
    let pair = RsaKeyPair::from_der(&der).expect("rsa key");
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    let (body, _) = tlv(pair.public().as_ref(), 0x30);
    let (n, rest) = tlv(body, 0x02);
    let (e, _) = tlv(rest, 0x02);
    let n = n.strip_prefix(&[0]).unwrap_or(n);
    TestKey {
        alg: Algorithm::RS256,
        kid: kid.into(),
        encoding: EncodingKey::from_rsa_der(&der),
        jwk: json!({"kty": "RSA", "alg": jwk_alg, "kid": kid, "n": b64(n), "e": b64(e)}),
    }
}

/// The identity provider stand-in: a JWKS it can change, metadata naming
/// `issuer`, a broken endpoint, and a count of JWKS requests.
#[derive(Clone)]
struct Idp {
    addr: SocketAddr,
    issuer: String,
    jwks: Arc<Mutex<Value>>,
    jwks_hits: Arc<AtomicUsize>,
}

impl Idp {
    async fn start(issuer_path: &str, metadata_issuer: Option<&str>, keys: &[&TestKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let issuer = format!("http://{addr}{issuer_path}");
        let idp = Idp {
            addr,
            issuer: issuer.clone(),
            jwks: Arc::new(Mutex::new(jwks(keys))),
            jwks_hits: Arc::new(AtomicUsize::new(0)),
        };
        let named = metadata_issuer.unwrap_or(&issuer).to_owned();
        let metadata = json!({"issuer": named, "jwks_uri": format!("http://{addr}/jwks")});
        let app = Router::new()
            .route(
                "/jwks",
                get(|State(idp): State<Idp>| async move {
                    idp.jwks_hits.fetch_add(1, Ordering::SeqCst);
                    let doc = idp.jwks.lock().expect("lock").clone();
                    axum::Json(doc)
                }),
            )
            .route(
                &format!("/.well-known/oauth-authorization-server{issuer_path}"),
                get(move || async move { axum::Json(metadata) }),
            )
            .route(
                "/broken",
                get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .route(
                "/huge",
                get(|| async {
                    let pad = "k".repeat(300 << 10);
                    axum::Json(json!({"keys": [], "pad": pad}))
                }),
            )
            .with_state(idp.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        idp
    }

    fn hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }

    fn publish(&self, keys: &[&TestKey]) {
        *self.jwks.lock().expect("lock") = jwks(keys);
    }
}

fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}

/// `[auth]` settings, read from TOML as an operator writes them; `oauth_extra`
/// goes into `[auth.oauth]`.
fn settings(issuer: &str, jwks_url: Option<&str>, oauth_extra: &str) -> AuthSettings {
    let jwks_line = jwks_url.map_or(String::new(), |u| format!("jwks_url = \"{u}\"\n"));
    let text = format!(
        r#"
[auth]
mode = "oauth"
[auth.oauth]
issuer = "{issuer}"
resource = "{RESOURCE}"
team_claim = "groups"
{jwks_line}{oauth_extra}
[auth.teams.finance]
tools = ["stripe_*", "hubspot_*"]
[auth.teams.support]
tools = ["zendesk_*"]
"#
    );
    Settings::parse(Path::new("gateway.toml"), &text)
        .expect("settings")
        .auth
}

fn validator(idp: &Idp, oauth_extra: &str) -> OAuthValidator {
    let jwks = format!("http://{}/jwks", idp.addr);
    OAuthValidator::new(&settings(&idp.issuer, Some(&jwks), oauth_extra)).expect("validator")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn claims(issuer: &str) -> Value {
    json!({
        "iss": issuer,
        "sub": "alice",
        "aud": RESOURCE,
        "iat": now(),
        "nbf": now() - 5,
        "exp": now() + 300,
        "scope": "openid mcp:tools",
        "groups": ["unknown-group", "finance"],
    })
}

fn mint(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("encode")
}

/// A token with a hand-made header (algorithms jsonwebtoken will not sign with).
fn forged(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let part = |v: &Value| b64(serde_json::to_string(v).expect("json").as_bytes());
    format!("{}.{}.{}", part(header), part(claims), b64(signature))
}

fn finance() -> Scope {
    Scope::from_patterns(["stripe_*", "hubspot_*"]).expect("scope")
}

#[tokio::test]
async fn valid_tokens_of_each_algorithm_give_the_caller_its_team_and_tools() {
    let (ed, ec, rs) = (ed25519("ed"), p256("ec"), rsa("rs", "RS256"));
    let idp = Idp::start("", None, &[&ed, &ec, &rs]).await;
    let v = validator(&idp, "required_scope = \"mcp:tools\"\n");
    for key in [&ed, &ec, &rs] {
        let caller = v.validate(&mint(key, &claims(&idp.issuer))).await;
        assert_eq!(
            caller,
            Ok(Caller {
                principal: Principal::Token {
                    issuer: idp.issuer.clone(),
                    subject: "alice".into(),
                },
                team: Some("finance".into()),
                scope: finance(),
            }),
            "{:?}",
            key.alg
        );
    }
    // One fetch served all three.
    assert_eq!(idp.hits(), 1);

    // Several known teams: the first names the caller, the tools are the union.
    let mut c = claims(&idp.issuer);
    c["groups"] = json!(["support", "finance"]);
    let caller = v.validate(&mint(&ed, &c)).await.expect("valid");
    assert_eq!(caller.team.as_deref(), Some("support"));
    assert!(caller.allows("zendesk_tickets") && caller.allows("stripe_revenue"));
    assert!(!caller.allows("github_repo_summary"));

    // A single string claim works too; no known team gets the built-ins only.
    c["groups"] = json!("support");
    let caller = v.validate(&mint(&ec, &c)).await.expect("valid");
    assert_eq!(caller.team.as_deref(), Some("support"));
    for groups in [json!(["nobody"]), Value::Null] {
        c["groups"] = groups;
        let caller = v.validate(&mint(&rs, &c)).await.expect("valid");
        assert_eq!((caller.team, caller.scope), (None, Scope::none()));
    }

    // `aud` may list other audiences beside this resource.
    let mut c = claims(&idp.issuer);
    c["aud"] = json!(["https://other.example.com", RESOURCE]);
    assert!(v.validate(&mint(&ed, &c)).await.is_ok());
}

#[tokio::test]
async fn tokens_outside_their_bounds_are_refused_with_their_error() {
    let key = ed25519("ed");
    let idp = Idp::start("", None, &[&key]).await;
    let v = validator(&idp, "leeway_s = 60\n");
    let with = |field: &str, value: Value| {
        let mut c = claims(&idp.issuer);
        if value.is_null() {
            c.as_object_mut().expect("object").remove(field);
        } else {
            c[field] = value;
        }
        mint(&key, &c)
    };
    let cases = [
        (
            "wrong audience",
            with("aud", json!("https://other.example.com/mcp")),
            AuthError::Invalid,
        ),
        (
            "audience list without us",
            with("aud", json!(["https://a.example", "https://b.example"])),
            AuthError::Invalid,
        ),
        ("no audience", with("aud", Value::Null), AuthError::Invalid),
        (
            "expired",
            with("exp", json!(now() - 3600)),
            AuthError::Expired,
        ),
        (
            "not yet valid",
            with("nbf", json!(now() + 3600)),
            AuthError::Expired,
        ),
        (
            "wrong issuer",
            with("iss", json!("http://evil.example")),
            AuthError::Invalid,
        ),
        (
            "issuer as a list",
            with("iss", json!([idp.issuer.clone()])),
            AuthError::Invalid,
        ),
        ("no issuer", with("iss", Value::Null), AuthError::Invalid),
        ("no expiry", with("exp", Value::Null), AuthError::Invalid),
        // Wrong types must not skip the time checks (CVE-2026-25537 in
        // jsonwebtoken 9.x for optional claims).
        (
            "nbf as a string",
            with("nbf", json!((now() + 3600).to_string())),
            AuthError::Invalid,
        ),
        (
            "nbf as an object",
            with("nbf", json!({"t": 1})),
            AuthError::Invalid,
        ),
        (
            "exp as a string",
            with("exp", json!((now() + 3600).to_string())),
            AuthError::Invalid,
        ),
        (
            "exp as a float in the past",
            with("exp", json!((now() - 3600) as f64 + 0.5)),
            AuthError::Expired,
        ),
        ("no subject", with("sub", Value::Null), AuthError::Invalid),
        (
            "subject not a string",
            with("sub", json!(42)),
            AuthError::Invalid,
        ),
        ("not a JWT", "not-a-token".to_owned(), AuthError::Invalid),
        ("empty", String::new(), AuthError::Invalid),
    ];
    for (what, token, want) in cases {
        assert_eq!(v.validate(&token).await, Err(want), "{what}");
    }
    // A tampered payload fails the signature.
    let token = mint(&key, &claims(&idp.issuer));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut c = claims(&idp.issuer);
    c["sub"] = json!("mallory");
    parts[1] = b64(c.to_string().as_bytes());
    assert_eq!(v.validate(&parts.join(".")).await, Err(AuthError::Invalid));
    // Within the leeway, a just-expired token still passes.
    assert!(v.validate(&with("exp", json!(now() - 30))).await.is_ok());
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_once_then_is_refused() {
    let key = ed25519("current");
    let idp = Idp::start("", None, &[&key]).await;
    let v = validator(&idp, "");
    assert!(v.validate(&mint(&key, &claims(&idp.issuer))).await.is_ok());
    assert_eq!(idp.hits(), 1);

    let stranger = ed25519("made-up");
    let token = mint(&stranger, &claims(&idp.issuer));
    assert_eq!(v.validate(&token).await, Err(AuthError::Invalid));
    assert_eq!(idp.hits(), 2, "one refetch for the unknown kid");
    for _ in 0..5 {
        assert_eq!(v.validate(&token).await, Err(AuthError::Invalid));
    }
    assert_eq!(idp.hits(), 2, "no more refetches within the interval");
    assert_eq!(v.key_fetches(), 2);
    // Known keys keep working from the cache.
    assert!(v.validate(&mint(&key, &claims(&idp.issuer))).await.is_ok());
    assert_eq!(idp.hits(), 2);
}

#[tokio::test]
async fn a_rotated_key_is_found_by_the_refetch() {
    let (old, new) = (p256("2026-01"), p256("2026-02"));
    let idp = Idp::start("", None, &[&old]).await;
    let v = validator(&idp, "");
    assert!(v.validate(&mint(&old, &claims(&idp.issuer))).await.is_ok());
    idp.publish(&[&old, &new]);
    assert!(v.validate(&mint(&new, &claims(&idp.issuer))).await.is_ok());
    assert_eq!(idp.hits(), 2);
}

#[tokio::test]
async fn alg_none_and_hmac_with_the_public_key_are_refused() {
    let rs = rsa("rs", "RS256");
    let ed = ed25519("ed");
    let mut keys = jwks(&[&rs, &ed]);
    // An HMAC key in the JWKS is never loaded either.
    keys["keys"]
        .as_array_mut()
        .expect("keys")
        .push(json!({"kty": "oct", "kid": "hmac", "k": b64(b"shared-secret")}));
    let idp = Idp::start("", None, &[]).await;
    *idp.jwks.lock().expect("lock") = keys;
    let v = validator(&idp, "");
    let c = claims(&idp.issuer);
    assert!(v.validate(&mint(&rs, &c)).await.is_ok());

    for alg in ["none", "None", "NONE"] {
        let token = forged(&json!({"alg": alg, "typ": "JWT", "kid": "rs"}), &c, b"");
        assert_eq!(v.validate(&token).await, Err(AuthError::Invalid), "{alg}");
    }
    // The classic confusion: HS256 "signed" with the public key as the secret,
    // in every form a verifier might have lying around.
    let n = rs.jwk["n"].as_str().expect("n").to_owned();
    let secrets: Vec<Vec<u8>> = vec![
        serde_json::to_vec(&rs.jwk).expect("json"),
        n.clone().into_bytes(),
        URL_SAFE_NO_PAD.decode(&n).expect("n"),
        ed.jwk["x"].as_str().expect("x").as_bytes().to_vec(),
    ];
    for (i, secret) in secrets.iter().enumerate() {
        for (alg, kid) in [
            (Algorithm::HS256, "rs"),
            (Algorithm::HS256, "ed"),
            (Algorithm::HS384, "rs"),
            (Algorithm::HS512, "rs"),
        ] {
            let mut header = Header::new(alg);
            header.kid = Some(kid.into());
            let token = jsonwebtoken::encode(&header, &c, &EncodingKey::from_secret(secret))
                .expect("encode");
            assert_eq!(
                v.validate(&token).await,
                Err(AuthError::Invalid),
                "secret {i} {alg:?} {kid}"
            );
        }
    }
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("hmac".into());
    let token = jsonwebtoken::encode(&header, &c, &EncodingKey::from_secret(b"shared-secret"))
        .expect("encode");
    assert_eq!(v.validate(&token).await, Err(AuthError::Invalid));
    // A key embedded in the token's header is never trusted.
    let attacker = ed25519("rs");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("rs".into());
    header.jwk = serde_json::from_value(attacker.jwk.clone()).ok();
    let token = jsonwebtoken::encode(&header, &c, &attacker.encoding).expect("encode");
    assert_eq!(v.validate(&token).await, Err(AuthError::Invalid));
}

#[tokio::test]
async fn the_header_alg_must_fit_the_key_it_names() {
    let ed = ed25519("ed");
    let ec = p256("ec");
    // The same RSA public key, published for PS256 only.
    let rs_pss = rsa("rs-pss", "PS256");
    let idp = Idp::start("", None, &[&ed, &ec, &rs_pss]).await;
    let v = validator(&idp, "");
    let c = claims(&idp.issuer);
    // ES256 signed by the P-256 key but naming the Ed25519 key.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ed".into());
    let token = jsonwebtoken::encode(&header, &c, &ec.encoding).expect("encode");
    assert_eq!(v.validate(&token).await, Err(AuthError::Invalid));
    // EdDSA naming the P-256 key.
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("ec".into());
    let token = jsonwebtoken::encode(&header, &c, &ed.encoding).expect("encode");
    assert_eq!(v.validate(&token).await, Err(AuthError::Invalid));
    // A correct RS256 signature, but the key's JWK says PS256.
    let token = mint(&rsa("rs-pss", "RS256"), &c);
    assert_eq!(v.validate(&token).await, Err(AuthError::Invalid));
    // None of these were unknown kids: no refetch.
    assert_eq!(idp.hits(), 1);

    // Algorithms outside the configured set are refused before any key lookup.
    let only_ed = validator(&idp, "algorithms = [\"EdDSA\"]\n");
    assert_eq!(
        only_ed.validate(&mint(&ec, &c)).await,
        Err(AuthError::Invalid)
    );
    assert!(only_ed.validate(&mint(&ed, &c)).await.is_ok());
}

#[tokio::test]
async fn a_token_without_the_required_scope_has_insufficient_scope() {
    let key = ed25519("ed");
    let idp = Idp::start("", None, &[&key]).await;
    let v = validator(&idp, "required_scope = \"mcp:tools\"\n");
    let mut c = claims(&idp.issuer);
    c["scope"] = json!("openid profile");
    assert_eq!(
        v.validate(&mint(&key, &c)).await,
        Err(AuthError::InsufficientScope)
    );
    c.as_object_mut().expect("object").remove("scope");
    assert_eq!(
        v.validate(&mint(&key, &c)).await,
        Err(AuthError::InsufficientScope)
    );
    // `scp` as an array (RFC 8693) or a space-separated string (Entra).
    for scp in [json!(["mcp:tools"]), json!("User.Read mcp:tools")] {
        c["scp"] = scp;
        assert!(v.validate(&mint(&key, &c)).await.is_ok());
    }
    // Validity comes first: an expired token without the scope is Expired.
    let mut c = claims(&idp.issuer);
    c["scope"] = json!("openid");
    c["exp"] = json!(now() - 3600);
    assert_eq!(v.validate(&mint(&key, &c)).await, Err(AuthError::Expired));
    // Without required_scope, no scope is checked.
    let lax = validator(&idp, "");
    let mut c = claims(&idp.issuer);
    c.as_object_mut().expect("object").remove("scope");
    assert!(lax.validate(&mint(&key, &c)).await.is_ok());
}

#[tokio::test]
async fn the_jwks_url_is_discovered_from_the_issuer_metadata() {
    let key = rsa("rs", "RS256");
    let idp = Idp::start("/realms/acme", None, &[&key]).await;
    let v = OAuthValidator::new(&settings(&idp.issuer, None, "")).expect("validator");
    assert!(v.validate(&mint(&key, &claims(&idp.issuer))).await.is_ok());
    assert_eq!(idp.hits(), 1);

    // Metadata naming another issuer is not used (RFC 8414 §3.3).
    let liar = Idp::start(
        "/realms/acme",
        Some("https://someone-else.example"),
        &[&key],
    )
    .await;
    let v = OAuthValidator::new(&settings(&liar.issuer, None, "")).expect("validator");
    assert!(matches!(
        v.refresh_keys().await,
        Err(OAuthError::Discovery { .. })
    ));
    assert_eq!(
        v.validate(&mint(&key, &claims(&liar.issuer))).await,
        Err(AuthError::Unavailable)
    );
    assert_eq!(liar.hits(), 0);
}

#[tokio::test]
async fn an_unreachable_or_broken_key_server_fails_closed() {
    let key = ed25519("ed");
    let idp = Idp::start("", None, &[&key]).await;
    let broken = format!("http://{}/broken", idp.addr);
    let v = OAuthValidator::new(&settings(&idp.issuer, Some(&broken), "")).expect("validator");
    assert!(matches!(
        v.refresh_keys().await,
        Err(OAuthError::Status { status: 500, .. })
    ));
    assert_eq!(
        v.validate(&mint(&key, &claims(&idp.issuer))).await,
        Err(AuthError::Unavailable)
    );

    // A body past the cap is not read whole.
    let huge = format!("http://{}/huge", idp.addr);
    let v = OAuthValidator::new(&settings(&idp.issuer, Some(&huge), "")).expect("validator");
    assert!(matches!(
        v.refresh_keys().await,
        Err(OAuthError::Fetch { .. })
    ));

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let gone = format!("http://{}/jwks", closed.local_addr().expect("addr"));
    drop(closed);
    let v = OAuthValidator::new(&settings(&idp.issuer, Some(&gone), "")).expect("validator");
    assert!(matches!(
        v.refresh_keys().await,
        Err(OAuthError::Fetch { .. })
    ));
    assert_eq!(
        v.validate(&mint(&key, &claims(&idp.issuer))).await,
        Err(AuthError::Unavailable)
    );
}

#[tokio::test]
async fn protected_resource_metadata_is_served_at_both_well_known_paths() {
    let idp = Idp::start("", None, &[]).await;
    let v = Arc::new(validator(&idp, "required_scope = \"mcp:tools\"\n"));
    assert_eq!(v.metadata_url(), METADATA_URL);
    let want = json!({
        "resource": RESOURCE,
        "authorization_servers": [idp.issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["mcp:tools"],
    });
    assert_eq!(v.metadata(), want);
    let app = routes(Arc::clone(&v));
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let request = http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let doc: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(doc, want, "{path}");
    }
    let request = http::Request::get("/.well-known/oauth-protected-resource/other")
        .body(axum::body::Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // No scope configured: none advertised.
    let lax = validator(&idp, "");
    assert_eq!(lax.metadata().get("scopes_supported"), None);
}

#[tokio::test]
async fn www_authenticate_names_the_metadata_the_error_and_the_scope() {
    let idp = Idp::start("", None, &[]).await;
    let v = validator(&idp, "required_scope = \"mcp:tools\"\n");
    let header = |e: AuthError| v.www_authenticate(&e).to_str().expect("ascii").to_owned();
    let meta = format!("Bearer resource_metadata=\"{METADATA_URL}\"");
    assert_eq!(
        header(AuthError::Missing),
        format!("{meta}, scope=\"mcp:tools\"")
    );
    assert_eq!(
        header(AuthError::Invalid),
        format!(
            "{meta}, error=\"invalid_token\", error_description=\"invalid credentials\", scope=\"mcp:tools\""
        )
    );
    assert_eq!(
        header(AuthError::Expired),
        format!(
            "{meta}, error=\"invalid_token\", error_description=\"credentials expired\", scope=\"mcp:tools\""
        )
    );
    assert_eq!(
        header(AuthError::InsufficientScope),
        format!(
            "{meta}, error=\"insufficient_scope\", error_description=\"insufficient scope\", scope=\"mcp:tools\""
        )
    );
    assert_eq!(
        header(AuthError::Malformed),
        format!(
            "{meta}, error=\"invalid_request\", error_description=\"malformed Authorization header\", scope=\"mcp:tools\""
        )
    );
    let lax = validator(&idp, "");
    assert_eq!(
        lax.www_authenticate(&AuthError::Missing)
            .to_str()
            .expect("ascii"),
        meta
    );
}

#[test]
fn the_validator_needs_oauth_mode() {
    let none = Settings::parse(Path::new("g.toml"), "")
        .expect("settings")
        .auth;
    assert!(matches!(
        OAuthValidator::new(&none),
        Err(OAuthError::NotConfigured)
    ));
}

/// The whole front door in OAuth mode, in-process: the metadata is public,
/// a request without a token gets the challenge naming it, a valid token
/// lists its team's tools only, and a token for another resource is 401.
#[tokio::test]
async fn the_front_door_in_oauth_mode_lists_a_tokens_team_tools() {
    use gateway::auth::Authenticator;
    use gateway::frontdoor::FrontDoor;
    use gateway::mcp::FieldSource;
    use tower::ServiceExt;

    let ed = ed25519("ed");
    let idp = Idp::start("", None, &[&ed]).await;
    let door = FrontDoor {
        auth: Arc::new(Authenticator::OAuth(Arc::new(validator(&idp, "")))),
        ..FrontDoor::default()
    };
    let tools: Vec<(&str, String, Vec<u8>)> = ["stripe_revenue", "zendesk_tickets"]
        .iter()
        .map(|name| {
            (
                *name,
                String::new(),
                gateway_test_programs::wat::component_described(
                    name,
                    "Echo",
                    r#"{"type":"object"}"#,
                ),
            )
        })
        .collect();
    let (app, _dir) = crate::mcp::serve_tools(door, &tools, FieldSource::empty()).await;

    let metadata = http::Request::get("/.well-known/oauth-protected-resource/mcp")
        .header("host", "127.0.0.1:8000")
        .body(axum::body::Body::empty())
        .expect("request");
    let (status, doc) =
        crate::mcp::json_body(app.clone().oneshot(metadata).await.expect("metadata")).await;
    assert_eq!(
        (status, &doc["resource"]),
        (StatusCode::OK, &json!(RESOURCE))
    );

    let list = || crate::mcp::stateless("tools/list", json!({}), 1);
    let anonymous = app.clone().oneshot(list()).await.expect("list");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let challenge = anonymous
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer resource_metadata=\""),
        "{challenge}"
    );

    let with = |token: &str| {
        let mut request = list();
        request.headers_mut().insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header"),
        );
        request
    };
    let token = mint(&ed, &claims(&idp.issuer));
    let (status, body) =
        crate::mcp::json_body(app.clone().oneshot(with(&token)).await.expect("list")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .filter(|n| n.contains('_') && !n.contains("field") && *n != "health_check")
        .collect();
    assert_eq!(names, ["stripe_revenue"]);

    let mut other = claims(&idp.issuer);
    other["aud"] = json!("https://other.example.com/mcp");
    let refused = app
        .clone()
        .oneshot(with(&mint(&ed, &other)))
        .await
        .expect("list");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

/// With no signing key fetched, the front door answers 503 with a retry
/// hint: a token cannot be judged, which is not the client's fault.
#[tokio::test]
async fn an_unreachable_identity_provider_is_503_not_401() {
    use gateway::auth::Authenticator;
    use gateway::frontdoor::FrontDoor;
    use gateway::mcp::FieldSource;
    use tower::ServiceExt;

    let key = ed25519("ed");
    let idp = Idp::start("", None, &[&key]).await;
    let broken = format!("http://{}/broken", idp.addr);
    let v = OAuthValidator::new(&settings(&idp.issuer, Some(&broken), "")).expect("validator");
    let door = FrontDoor {
        auth: Arc::new(Authenticator::OAuth(Arc::new(v))),
        ..FrontDoor::default()
    };
    let tools = [("edge", String::new(), gateway_test_programs::wat::echo())];
    let (app, _dir) = crate::mcp::serve_tools(door, &tools, FieldSource::empty()).await;
    let mut request = crate::mcp::stateless("tools/list", json!({}), 1);
    request.headers_mut().insert(
        http::header::AUTHORIZATION,
        format!("Bearer {}", mint(&key, &claims(&idp.issuer)))
            .parse()
            .expect("header"),
    );
    let response = app.oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("10")
    );
}

/// A verified token is remembered by its digest, never past its `exp`; a
/// different token (even one character) is verified from scratch.
#[tokio::test]
async fn a_remembered_token_still_expires_and_others_are_verified() {
    let key = ed25519("ed");
    let idp = Idp::start("", None, &[&key]).await;
    let v = validator(&idp, "leeway_s = 0\n");
    let mut short = claims(&idp.issuer);
    short["exp"] = json!(now() + 2);
    let token = mint(&key, &short);
    assert!(v.validate(&token).await.is_ok());
    assert!(v.validate(&token).await.is_ok(), "remembered");
    let mut tampered = token.clone();
    let last = tampered.pop().expect("a character");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(v.validate(&tampered).await, Err(AuthError::Invalid));
    // Past its exp, the remembered token is checked again, and refused.
    while now() <= short["exp"].as_i64().unwrap_or(0) {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(v.validate(&token).await, Err(AuthError::Expired));
}
