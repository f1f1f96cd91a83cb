//! Single sign-on with a school's Microsoft 365 or Google account: the OpenID Connect
//! authorisation code flow with PKCE, `state` and `nonce`, beside the emailed link.
//!
//! The providers come from the settings (`OIDC_PROVIDERS`); each one's discovery document is
//! read in the background after start ([`Providers::spawn_discovery`]), so a provider that is
//! down or misconfigured is logged and its button left off the sign-in page while the others
//! and the emailed link keep working. A sign-in in progress is kept in the database
//! (`oidc_flows`, under the hash of its `state`) and used once, so the browser may come back
//! to any copy of the service and a replayed callback finds nothing. The person is matched by
//! the ID token's verified `email` claim; the session made is the one the emailed link makes.
//! Signing out ends that session only, not the person's Microsoft or Google session.
//!
//! Providers rotate the keys they sign ID tokens with (Microsoft every few weeks, Google about
//! weekly, each publishing the new key before using it). cpd-hub therefore reads a provider's
//! discovery document and keys again every few hours ([`REFRESH_KEYS_EVERY`], so a key the
//! provider withdrew stops being trusted), and at once when an ID token names a key it does not
//! hold or its signature fails with the keys held, then checks that token again once. Such
//! on-demand reads are limited per provider ([`RefreshLimit`]), so a stream of tokens naming
//! made-up keys cannot make cpd-hub hammer the provider. A read that fails keeps the keys held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use chrono::{DateTime, NaiveDateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreIdTokenVerifier,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

use super::tokens;
use crate::app::state::AppState;
use crate::config::OidcProviderSettings;
use crate::error::{AppError, AppResult};
use crate::store::signin::{self as store, OidcFlow};

/// The cookie holding the `state` of the sign-in in progress: binds the provider's answer to
/// the browser that asked (a callback URL sent to someone else fails without it).
pub const STATE_COOKIE: &str = "cpd_oidc_state";

/// How long a person has to sign in at the provider and come back.
pub const FLOW_MINUTES: i64 = 10;

/// How long discovery or a token request may take before the provider counts as unreachable.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// How often discovery is tried again for a provider that could not be reached at start.
const REDISCOVER_EVERY: Duration = Duration::from_secs(60);

/// How often a discovered provider's metadata and keys are read again in the background, so
/// a key it has withdrawn stops being trusted within this time.
pub const REFRESH_KEYS_EVERY: Duration = Duration::from_secs(3 * 60 * 60);

/// The shortest time between two reads of one provider's keys made because an ID token named
/// a key not held (see [`RefreshLimit`]).
pub const REFRESH_ON_DEMAND_GAP_SECONDS: i64 = 60;

/// The configured providers and, once discovered, each one's metadata (with its keys).
pub struct Providers {
    configured: Vec<OidcProviderSettings>,
    ready: RwLock<HashMap<String, Held>>,
    refreshes: Mutex<RefreshLimit>,
    /// One per provider, held while its keys are read again: a sign-in that finds a key not
    /// held waits here for a read already under way instead of being stopped by the
    /// once-a-minute limit while the old keys are still held.
    reading: HashMap<String, tokio::sync::Mutex<()>>,
    http: openidconnect::reqwest::Client,
}

/// A provider's metadata as last read, and how many times it has been read: a sign-in notes
/// the count with the keys it checks against, so it can tell whether newer keys came since.
struct Held {
    metadata: CoreProviderMetadata,
    generation: u64,
}

/// When each provider's keys were last read again because an ID token named a key not held:
/// at most one such read per provider per [`REFRESH_ON_DEMAND_GAP_SECONDS`], whatever the
/// tokens say, so forged tokens with made-up key ids cost the provider one request a minute
/// at most. Pure: the time is given.
#[derive(Debug, Default)]
pub struct RefreshLimit {
    last: HashMap<String, DateTime<Utc>>,
}

impl RefreshLimit {
    /// Whether provider `id`'s keys may be read again at `now`; if so, `now` is recorded as its
    /// last read. A clock that went back (a last read after `now`) allows it, so a clock set
    /// wrong once cannot stop refreshes for as long as it was wrong.
    pub fn try_claim(&mut self, id: &str, now: DateTime<Utc>) -> bool {
        let gap = chrono::Duration::seconds(REFRESH_ON_DEMAND_GAP_SECONDS);
        let allowed = match self.last.get(id) {
            Some(&last) => now >= last + gap || now < last,
            None => true,
        };
        if allowed {
            self.last.insert(id.to_string(), now);
        }
        allowed
    }
}

/// A button on the sign-in page: one per provider that answered discovery.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Button {
    /// The provider's id, in the button's address `/sign-in/oidc/{id}`.
    pub id: String,
    /// The button's words, such as "Sign in with Microsoft".
    pub label: String,
}

/// Why a single sign-on was refused. Each has its own page; none creates anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No such provider, or it has not answered discovery.
    UnknownProvider,
    /// The `state` that came back is not the one this browser sent, or the sign-in took too
    /// long, or this answer was used already.
    BadState,
    /// The provider said no (the person cancelled, or is not allowed to use cpd-hub there).
    ProviderDenied,
    /// The code could not be exchanged (used already, expired), or the provider could not be
    /// reached to exchange it.
    CodeRefused,
    /// The ID token failed a check: signature, issuer, audience, expiry or nonce.
    BadToken,
    /// The ID token carries no email address.
    NoEmail,
    /// The provider has not verified the address.
    EmailUnverified,
    /// The address is not in one of the domains this provider may sign in.
    DomainNotAllowed {
        /// The address the provider gave, shown back to its owner.
        email: String,
    },
    /// Nobody on record has the address.
    UnknownPerson {
        /// The address the provider gave, shown back to its owner.
        email: String,
    },
}

impl Refusal {
    /// A short code for logs and the page (no personal data).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownProvider => "unknown_provider",
            Refusal::BadState => "bad_state",
            Refusal::ProviderDenied => "provider_denied",
            Refusal::CodeRefused => "code_refused",
            Refusal::BadToken => "bad_token",
            Refusal::NoEmail => "no_email",
            Refusal::EmailUnverified => "email_unverified",
            Refusal::DomainNotAllowed { .. } => "domain_not_allowed",
            Refusal::UnknownPerson { .. } => "unknown_person",
        }
    }
}

impl Providers {
    /// The providers of the settings, none discovered yet.
    pub fn new(configured: &[OidcProviderSettings]) -> Self {
        let http = openidconnect::reqwest::Client::builder()
            // Following redirects would let a provider's answer send cpd-hub anywhere.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .expect("the HTTP client's settings are valid");
        Self {
            configured: configured.to_vec(),
            ready: RwLock::new(HashMap::new()),
            refreshes: Mutex::new(RefreshLimit::default()),
            reading: configured
                .iter()
                .map(|p| (p.id.clone(), tokio::sync::Mutex::new(())))
                .collect(),
            http,
        }
    }

    /// Reads each provider's discovery document in the background, again every minute for
    /// those that fail, until it answers; then again every [`REFRESH_KEYS_EVERY`], so keys the
    /// provider has added or withdrawn are taken up without a restart. A failure is logged
    /// with the provider's id, its issuer and the reason; it stops nothing else, and a
    /// provider already discovered keeps the metadata and keys held.
    pub fn spawn_discovery(self: &Arc<Self>) {
        for provider in self.configured.clone() {
            let me = self.clone();
            tokio::spawn(async move {
                loop {
                    let held = me.get(&provider.id).is_some();
                    if held {
                        {
                            // An on-demand read waits for this one rather than repeat it.
                            let _reading = me.reading[&provider.id].lock().await;
                            me.refresh(&provider, "periodic").await;
                        }
                        tokio::time::sleep(REFRESH_KEYS_EVERY).await;
                        continue;
                    }
                    match me.discover(&provider).await {
                        Ok(metadata) => {
                            tracing::info!(provider = %provider.id, issuer = %provider.issuer, "single sign-on provider ready");
                            me.hold(&provider.id, metadata);
                            tokio::time::sleep(REFRESH_KEYS_EVERY).await;
                        }
                        Err(e) => {
                            tracing::error!(
                                provider = %provider.id,
                                issuer = %provider.issuer,
                                "single sign-on provider unavailable, its button is hidden until \
                                 it answers (retrying every {}s): {e:#}",
                                REDISCOVER_EVERY.as_secs()
                            );
                            tokio::time::sleep(REDISCOVER_EVERY).await;
                        }
                    }
                }
            });
        }
    }

    /// Reads provider `p`'s discovery document and keys again and holds them in place of the
    /// old; if that fails, logs why (`reason` says what asked for it) and keeps the old.
    async fn refresh(&self, p: &OidcProviderSettings, reason: &'static str) {
        match self.discover(p).await {
            Ok(metadata) => {
                let keys = metadata.jwks().keys().len();
                self.hold(&p.id, metadata);
                tracing::info!(provider = %p.id, reason, keys, "single sign-on provider's keys read again");
            }
            Err(e) => {
                tracing::warn!(
                    provider = %p.id,
                    issuer = %p.issuer,
                    reason,
                    "single sign-on provider's keys could not be read again, keeping those held: {e:#}"
                );
            }
        }
    }

    /// Holds `metadata` as provider `id`'s, one generation newer than what it replaces.
    fn hold(&self, id: &str, metadata: CoreProviderMetadata) {
        let mut ready = self.ready.write().expect("not poisoned");
        let generation = ready.get(id).map_or(0, |h| h.generation) + 1;
        ready.insert(
            id.to_string(),
            Held {
                metadata,
                generation,
            },
        );
    }

    /// Reads provider `p`'s keys again because an ID token named a key not held, checked
    /// against the keys of generation `seen`. Waits for any read of them already under way;
    /// if newer keys than `seen` are held after that, reads nothing (the token is to be
    /// checked with those); otherwise reads them unless that was done less than
    /// [`REFRESH_ON_DEMAND_GAP_SECONDS`] before `now`.
    async fn refresh_on_demand(&self, p: &OidcProviderSettings, seen: u64, now: DateTime<Utc>) {
        let Some(reading) = self.reading.get(&p.id) else {
            return;
        };
        // An async lock, so a sign-in waiting for another's read yields its thread meanwhile.
        let _reading = reading.lock().await;
        let current = self
            .ready
            .read()
            .expect("not poisoned")
            .get(&p.id)
            .map(|h| h.generation);
        if current != Some(seen) {
            return;
        }
        let claimed = self
            .refreshes
            .lock()
            .expect("not poisoned")
            .try_claim(&p.id, now);
        if claimed {
            self.refresh(p, "an ID token named a key not held").await;
        } else {
            tracing::info!(provider = %p.id, "single sign-on provider's keys were read again moments ago; not again yet");
        }
    }

    async fn discover(&self, p: &OidcProviderSettings) -> anyhow::Result<CoreProviderMetadata> {
        let issuer = IssuerUrl::new(p.issuer.clone())?;
        let fut = CoreProviderMetadata::discover_async(issuer, &self.http);
        let metadata = tokio::time::timeout(HTTP_TIMEOUT, fut)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {}s", HTTP_TIMEOUT.as_secs()))??;
        if metadata.token_endpoint().is_none() {
            anyhow::bail!("the discovery document names no token endpoint");
        }
        Ok(metadata)
    }

    /// The buttons for the sign-in page: the providers that have answered, in the order of
    /// `OIDC_PROVIDERS`.
    pub fn buttons(&self) -> Vec<Button> {
        let ready = self.ready.read().expect("not poisoned");
        self.configured
            .iter()
            .filter(|p| ready.contains_key(&p.id))
            .map(|p| Button {
                id: p.id.clone(),
                label: p.label.clone(),
            })
            .collect()
    }

    /// Provider `id`'s settings, metadata and that metadata's generation (see [`Held`]).
    fn get(&self, id: &str) -> Option<(OidcProviderSettings, CoreProviderMetadata, u64)> {
        let ready = self.ready.read().expect("not poisoned");
        let held = ready.get(id)?;
        let settings = self.configured.iter().find(|p| p.id == id)?.clone();
        Some((settings, held.metadata.clone(), held.generation))
    }
}

fn redirect_uri(state: &AppState, id: &str) -> AppResult<RedirectUrl> {
    RedirectUrl::new(format!(
        "{}/sign-in/oidc/{id}/callback",
        state.settings.public_base_url
    ))
    .map_err(|e| AppError::Internal(e.into()))
}

fn client(
    state: &AppState,
    settings: &OidcProviderSettings,
    metadata: CoreProviderMetadata,
) -> AppResult<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
> {
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(settings.client_id.clone()),
        Some(ClientSecret::new(settings.client_secret.clone())),
    )
    .set_redirect_uri(redirect_uri(state, &settings.id)?))
}

/// The cookie carrying `value` as the sign-in's `state` (empty and expired to clear it).
/// `SameSite=Lax`: the provider sends the browser back with a top-level GET, which Lax allows.
pub fn state_cookie(state: &AppState, value: &str, minutes: i64) -> Cookie<'static> {
    Cookie::build(STATE_COOKIE, value.to_string())
        .path("/sign-in/oidc")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.public_base_url.starts_with("https://"))
        .max_age(actix_web::cookie::time::Duration::minutes(minutes))
        .finish()
}

/// Starts a single sign-on with provider `id`: records the flow (PKCE verifier, nonce, the
/// page to return to) under the hash of a fresh `state`, and returns the provider's
/// authorisation address and the `state` for the browser's cookie.
pub async fn start(
    state: &AppState,
    id: &str,
    next: Option<String>,
    now: NaiveDateTime,
) -> AppResult<Result<(String, String), Refusal>> {
    let Some((settings, metadata, _)) = state.oidc.get(id) else {
        return Ok(Err(Refusal::UnknownProvider));
    };
    let client = client(state, &settings, metadata)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let flow = OidcFlow {
        provider: settings.id.clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        next,
    };
    let state_value = csrf.secret().clone();
    let state_hash = tokens::hash(&state_value);
    state
        .db(move |c| store::begin_oidc_flow(c, &state_hash, &flow, now, FLOW_MINUTES))
        .await?;
    Ok(Ok((url.to_string(), state_value)))
}

/// What came back from the provider to `/sign-in/oidc/{id}/callback`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct Callback {
    /// The authorisation code.
    pub code: Option<String>,
    /// The `state` sent with the request.
    pub state: Option<String>,
    /// The provider's error code, when it refused.
    pub error: Option<String>,
}

/// A finished single sign-on: the session cookie and the page to go back to.
pub struct SignedIn {
    /// The new session's cookie.
    pub cookie: Cookie<'static>,
    /// Where to send the browser now.
    pub next: String,
}

/// Finishes a single sign-on with provider `id`: checks the `state` against the browser's
/// cookie and takes its flow (once), exchanges the code with the PKCE verifier, verifies the
/// ID token (signature, issuer, audience, expiry, nonce, at `now`), checks the address is
/// verified and in the provider's domains, and signs in the person on record with it.
pub async fn finish(
    state: &AppState,
    id: &str,
    cookie_state: Option<&str>,
    callback: Callback,
    now: DateTime<Utc>,
) -> AppResult<Result<SignedIn, Refusal>> {
    // The generation of the keys this token will first be checked against, taken with them.
    let Some((settings, metadata, generation)) = state.oidc.get(id) else {
        return Ok(Err(Refusal::UnknownProvider));
    };
    // The state must be the one this browser was given: compared by hash, in constant time
    // as far as the comparison of two equal-length digests goes.
    let returned = callback.state.unwrap_or_default();
    let matches =
        cookie_state.is_some_and(|c| !c.is_empty() && tokens::hash(c) == tokens::hash(&returned));
    if !matches {
        return Ok(Err(Refusal::BadState));
    }
    let state_hash = tokens::hash(&returned);
    let naive_now = now.naive_utc();
    let flow = state
        .db(move |c| store::take_oidc_flow(c, &state_hash, naive_now))
        .await?;
    let Some(flow) = flow.filter(|f| f.provider == settings.id) else {
        return Ok(Err(Refusal::BadState));
    };
    if callback.error.is_some() {
        tracing::info!(provider = %settings.id, error = ?callback.error, "single sign-on refused by the provider");
        return Ok(Err(Refusal::ProviderDenied));
    }
    let Some(code) = callback.code.filter(|c| !c.is_empty()) else {
        return Ok(Err(Refusal::ProviderDenied));
    };
    let client = client(state, &settings, metadata)?;
    let request = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| AppError::Internal(e.into()))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()));
    let response = match request.request_async(&state.oidc.http).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(provider = %settings.id, "single sign-on code exchange failed: {e}");
            return Ok(Err(Refusal::CodeRefused));
        }
    };
    let Some(id_token) = response.id_token() else {
        tracing::warn!(provider = %settings.id, "single sign-on: no ID token in the answer");
        return Ok(Err(Refusal::BadToken));
    };
    let nonce = Nonce::new(flow.nonce.clone());
    let email = match checked_email(
        &client.id_token_verifier(),
        id_token,
        &nonce,
        &settings,
        now,
    ) {
        Ok(email) => email,
        Err(TokenFailure::KeyNotHeld) => {
            // The provider may have rotated its signing key since its keys were read: read them
            // again (at most once a minute), or wait for another sign-in's read of them under
            // way, and check this token once more with the keys then held.
            state
                .oidc
                .refresh_on_demand(&settings, generation, now)
                .await;
            let Some((_, metadata, _)) = state.oidc.get(id) else {
                return Ok(Err(Refusal::UnknownProvider));
            };
            let refreshed = self::client(state, &settings, metadata)?;
            let verifier = refreshed.id_token_verifier();
            match verified_email(&verifier, id_token, &nonce, &settings, now) {
                Ok(email) => email,
                Err(refusal) => return Ok(Err(refusal)),
            }
        }
        Err(TokenFailure::Refused(refusal)) => return Ok(Err(refusal)),
    };
    let secret = tokens::random_hex(32);
    let session_hash = tokens::hash(&secret);
    let sign_in = state.settings.sign_in.clone();
    let provider = settings.id.clone();
    let address = email.clone();
    let person = state
        .db(move |c| {
            store::oidc_sign_in(c, &address, &provider, &session_hash, &sign_in, naive_now)
        })
        .await?;
    if person.is_none() {
        tracing::info!(provider = %settings.id, "single sign-on for an address not on record");
        return Ok(Err(Refusal::UnknownPerson { email }));
    }
    Ok(Ok(SignedIn {
        cookie: super::session::cookie(state, &secret),
        next: flow.next.unwrap_or_else(|| "/".to_string()),
    }))
}

/// Checks an ID token and returns the address it vouches for: the signature against the
/// provider's keys, issuer, audience, expiry (at `now`) and `nonce` (by `verifier`), then
/// that `email` is present, verified (or, where the provider is set so, not said to be
/// unverified) and in one of the provider's domains. Pure apart from the clock it is given,
/// so hand-made tokens test it.
pub fn verified_email(
    verifier: &CoreIdTokenVerifier<'_>,
    id_token: &CoreIdToken,
    nonce: &Nonce,
    settings: &OidcProviderSettings,
    now: DateTime<Utc>,
) -> Result<String, Refusal> {
    checked_email(verifier, id_token, nonce, settings, now).map_err(|f| match f {
        TokenFailure::KeyNotHeld => {
            tracing::warn!(provider = %settings.id, "single sign-on ID token refused: signed with a key the provider has not published, or its signature does not match");
            Refusal::BadToken
        }
        TokenFailure::Refused(refusal) => refusal,
    })
}

/// Why an ID token was not accepted, as far as reading the provider's keys again could
/// change it.
#[derive(Debug, PartialEq, Eq)]
enum TokenFailure {
    /// Its key id is not among the keys held, or its signature fails with them: the provider
    /// may have rotated its key since they were read.
    KeyNotHeld,
    /// Any other failure: new keys would not change it.
    Refused(Refusal),
}

/// [`verified_email`], telling a token signed with a key not held from other failures.
fn checked_email(
    verifier: &CoreIdTokenVerifier<'_>,
    id_token: &CoreIdToken,
    nonce: &Nonce,
    settings: &OidcProviderSettings,
    now: DateTime<Utc>,
) -> Result<String, TokenFailure> {
    use openidconnect::{ClaimsVerificationError as E, SignatureVerificationError as S};
    let verifier = verifier.clone().set_time_fn(move || now);
    let claims: &CoreIdTokenClaims = match id_token.claims(&verifier, nonce) {
        Ok(c) => c,
        Err(E::SignatureVerification(S::NoMatchingKey | S::CryptoError(_))) => {
            return Err(TokenFailure::KeyNotHeld);
        }
        Err(e) => {
            // The reason names no person: which check failed, for the operator.
            tracing::warn!(provider = %settings.id, "single sign-on ID token refused: {e}");
            return Err(TokenFailure::Refused(Refusal::BadToken));
        }
    };
    let Some(email) = claims.email().map(|e| e.as_str().trim().to_string()) else {
        return Err(TokenFailure::Refused(Refusal::NoEmail));
    };
    match claims.email_verified() {
        Some(true) => {}
        None if settings.email_verified_optional => {}
        _ => return Err(TokenFailure::Refused(Refusal::EmailUnverified)),
    }
    let domain = email
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    if !settings.domains.contains(&domain) {
        return Err(TokenFailure::Refused(Refusal::DomainNotAllowed { email }));
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration as Span;
    use openidconnect::core::{
        CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
    };
    use openidconnect::{
        Audience, EmptyAdditionalClaims, EndUserEmail, JsonWebKeyId, PrivateSigningKey,
        StandardClaims, SubjectIdentifier,
    };

    const ISSUER: &str = "https://login.example.test/tenant/v2.0";
    const CLIENT: &str = "cpd-hub";

    // Two throwaway 2048-bit RSA keys, made for tests only (tests/oidc/provider.mjs signs
    // with A too).
    const KEY_A: &str = include_str!("../../tests/oidc/test-key-a.pem");
    const KEY_B: &str = include_str!("../../tests/oidc/test-key-b.pem");

    fn key(pem: &str) -> CoreRsaPrivateSigningKey {
        CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("k1".into()))).unwrap()
    }

    fn settings() -> OidcProviderSettings {
        OidcProviderSettings {
            id: "test".into(),
            issuer: ISSUER.into(),
            client_id: CLIENT.into(),
            client_secret: "secret".into(),
            label: "Sign in with Test".into(),
            domains: vec!["oak.sch.uk".into()],
            email_verified_optional: false,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    struct Token {
        audience: &'static str,
        issued: DateTime<Utc>,
        email: Option<&'static str>,
        verified: Option<bool>,
        nonce: &'static str,
        key: &'static str,
    }

    impl Default for Token {
        fn default() -> Self {
            Token {
                audience: CLIENT,
                issued: now() - Span::seconds(30),
                email: Some("Jo.Smith@Oak.sch.uk"),
                verified: Some(true),
                nonce: "n-1",
                key: KEY_A,
            }
        }
    }

    fn check(t: Token) -> Result<String, Refusal> {
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new(ISSUER.into()).unwrap(),
            vec![Audience::new(t.audience.into())],
            t.issued + Span::minutes(5),
            t.issued,
            StandardClaims::new(SubjectIdentifier::new("sub-1".into()))
                .set_email(t.email.map(|e| EndUserEmail::new(e.into())))
                .set_email_verified(t.verified),
            EmptyAdditionalClaims {},
        )
        .set_nonce(Some(Nonce::new(t.nonce.into())));
        let token = CoreIdToken::new(
            claims,
            &key(t.key),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap();
        // The provider publishes key A only.
        let jwks = CoreJsonWebKeySet::new(vec![key(KEY_A).as_verification_key()]);
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(CLIENT.into()),
            ClientSecret::new("secret".into()),
            IssuerUrl::new(ISSUER.into()).unwrap(),
            jwks,
        );
        verified_email(
            &verifier,
            &token,
            &Nonce::new("n-1".into()),
            &settings(),
            now(),
        )
    }

    /// A good token signed with `pem` under key id `kid`, checked against a provider that
    /// publishes key A as "k1".
    fn check_signed(pem: &str, kid: &str) -> Result<String, TokenFailure> {
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new(ISSUER.into()).unwrap(),
            vec![Audience::new(CLIENT.into())],
            now() + Span::minutes(5),
            now(),
            StandardClaims::new(SubjectIdentifier::new("sub-1".into()))
                .set_email(Some(EndUserEmail::new("jo@oak.sch.uk".into())))
                .set_email_verified(Some(true)),
            EmptyAdditionalClaims {},
        )
        .set_nonce(Some(Nonce::new("n-1".into())));
        let signing =
            CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into()))).unwrap();
        let token = CoreIdToken::new(
            claims,
            &signing,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap();
        let jwks = CoreJsonWebKeySet::new(vec![key(KEY_A).as_verification_key()]);
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(CLIENT.into()),
            ClientSecret::new("secret".into()),
            IssuerUrl::new(ISSUER.into()).unwrap(),
            jwks,
        );
        checked_email(
            &verifier,
            &token,
            &Nonce::new("n-1".into()),
            &settings(),
            now(),
        )
    }

    #[test]
    fn a_token_under_a_key_not_held_asks_for_the_keys_again() {
        assert_eq!(check_signed(KEY_A, "k1"), Ok("jo@oak.sch.uk".into()));
        // A rotated key: a key id the provider had not published when its keys were read.
        assert_eq!(check_signed(KEY_B, "k2"), Err(TokenFailure::KeyNotHeld));
        // A known key id whose signature does not match: the provider may reuse key ids.
        assert_eq!(check_signed(KEY_B, "k1"), Err(TokenFailure::KeyNotHeld));
    }

    #[test]
    fn keys_are_read_again_on_demand_at_most_once_a_minute_per_provider() {
        let mut limit = RefreshLimit::default();
        let t0 = now();
        assert!(limit.try_claim("microsoft", t0), "the first read");
        assert!(!limit.try_claim("microsoft", t0));
        assert!(!limit.try_claim("microsoft", t0 + Span::seconds(59)));
        assert!(
            limit.try_claim("google", t0 + Span::seconds(1)),
            "each provider has its own"
        );
        assert!(
            limit.try_claim("microsoft", t0 + Span::seconds(60)),
            "a minute later"
        );
        // Refused attempts do not push the next one back: the minute counts from the last read.
        assert!(!limit.try_claim("microsoft", t0 + Span::seconds(119)));
        assert!(limit.try_claim("microsoft", t0 + Span::seconds(120)));
        // A clock set back does not stop reads until it catches up.
        assert!(limit.try_claim("microsoft", t0 - Span::hours(1)));
        assert!(!limit.try_claim("microsoft", t0 - Span::hours(1) + Span::seconds(30)));
    }

    #[test]
    fn a_good_token_gives_its_address() {
        assert_eq!(check(Token::default()), Ok("Jo.Smith@Oak.sch.uk".into()));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        assert_eq!(
            check(Token {
                key: KEY_B,
                ..Token::default()
            }),
            Err(Refusal::BadToken)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        assert_eq!(
            check(Token {
                issued: now() - Span::minutes(6),
                ..Token::default()
            }),
            Err(Refusal::BadToken)
        );
    }

    #[test]
    fn a_token_for_another_client_is_refused() {
        assert_eq!(
            check(Token {
                audience: "another-app",
                ..Token::default()
            }),
            Err(Refusal::BadToken)
        );
    }

    #[test]
    fn a_token_with_another_nonce_is_refused() {
        assert_eq!(
            check(Token {
                nonce: "n-2",
                ..Token::default()
            }),
            Err(Refusal::BadToken)
        );
    }

    #[test]
    fn an_unverified_or_missing_address_is_refused() {
        for verified in [Some(false), None] {
            assert_eq!(
                check(Token {
                    verified,
                    ..Token::default()
                }),
                Err(Refusal::EmailUnverified)
            );
        }
        assert_eq!(
            check(Token {
                email: None,
                ..Token::default()
            }),
            Err(Refusal::NoEmail)
        );
    }

    #[test]
    fn an_address_outside_the_domains_is_refused() {
        assert_eq!(
            check(Token {
                email: Some("jo@gmail.com"),
                ..Token::default()
            }),
            Err(Refusal::DomainNotAllowed {
                email: "jo@gmail.com".into()
            })
        );
    }
}
