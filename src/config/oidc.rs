//! The single sign-on providers' settings: `OIDC_PROVIDERS` and each listed provider's
//! `OIDC_<ID>_*` variables, which clap's flat list cannot describe (their names depend on the
//! list's values).

use super::SettingsError;

/// One OpenID Connect provider people may sign in with (`OIDC_PROVIDERS=microsoft,google`,
/// then `OIDC_MICROSOFT_ISSUER`, `OIDC_MICROSOFT_CLIENT_ID`, ... for each id listed).
#[derive(Clone, Debug)]
pub struct OidcProviderSettings {
    /// The id in `OIDC_PROVIDERS` (lower case letters, digits, `-`), used in the sign-in
    /// addresses `/sign-in/oidc/{id}` and in the audit log.
    pub id: String,
    /// `OIDC_<ID>_ISSUER`: the issuer URL; its `/.well-known/openid-configuration` is read at
    /// start. https, except on localhost (tests). For Microsoft Entra ID, a tenant's own
    /// issuer (`https://login.microsoftonline.com/<tenant id>/v2.0`): the issuer check on every
    /// ID token is then the tenant check.
    pub issuer: String,
    /// `OIDC_<ID>_CLIENT_ID`: cpd-hub's client id at the provider.
    pub client_id: String,
    /// `OIDC_<ID>_CLIENT_SECRET`: cpd-hub's client secret at the provider.
    pub client_secret: String,
    /// `OIDC_<ID>_LABEL`: the button's words. Default `Sign in with <id>`.
    pub label: String,
    /// `OIDC_<ID>_DOMAINS`: comma-separated email domains this provider may sign in (the
    /// schools' domains), compared case-insensitively. Required: a provider that would vouch
    /// for any address (Google vouches for every gmail.com) must be limited to the schools'.
    pub domains: Vec<String>,
    /// `OIDC_<ID>_EMAIL_VERIFIED`: `required` (default): an ID token without
    /// `email_verified: true` is refused; `optional`: one without the claim at all is
    /// accepted (Microsoft Entra ID sends none; its tenant owns its addresses). `false` is
    /// refused either way.
    pub email_verified_optional: bool,
}

/// Reads `OIDC_PROVIDERS` and each listed provider's `OIDC_<ID>_*` variables through `get`
/// (the environment or a map), blank values counting as unset. Only the form is checked here;
/// whether the issuer answers is found out in the background after start
/// (`auth::oidc::Providers::discover`), so a provider that is down stops nobody signing in.
pub(super) fn oidc_providers(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<OidcProviderSettings>, SettingsError> {
    let get = |k: &str| {
        get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let fail = |variable: String, problem: String| SettingsError { variable, problem };
    let Some(list) = get("OIDC_PROVIDERS") else {
        return Ok(Vec::new());
    };
    let mut out: Vec<OidcProviderSettings> = Vec::new();
    for id in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = id.to_ascii_lowercase();
        if id.len() > 32
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(fail(
                "OIDC_PROVIDERS".into(),
                format!("expected ids of letters, digits and '-' separated by commas, got {id:?}"),
            ));
        }
        if out.iter().any(|p| p.id == id) {
            return Err(fail(
                "OIDC_PROVIDERS".into(),
                format!("{id:?} is listed twice"),
            ));
        }
        let prefix = format!("OIDC_{}_", id.to_ascii_uppercase().replace('-', "_"));
        let var = |name: &str| format!("{prefix}{name}");
        let required = |name: &str| {
            get(&var(name)).ok_or_else(|| {
                fail(
                    var(name),
                    format!("must be set for the provider {id:?} in OIDC_PROVIDERS"),
                )
            })
        };
        let issuer = required("ISSUER")?;
        let parsed = url::Url::parse(&issuer).map_err(|e| {
            fail(
                var("ISSUER"),
                format!("expected the issuer's URL, got {issuer:?} ({e})"),
            )
        })?;
        let local = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && local) {
            return Err(fail(
                var("ISSUER"),
                format!("expected an https URL, got {issuer:?}"),
            ));
        }
        if ["/common/", "/organizations/", "/consumers/"]
            .iter()
            .any(|t| parsed.path().contains(t))
        {
            // Their ID tokens name each person's own tenant as issuer, so the issuer check
            // cannot hold; one provider entry per tenant keeps the tenant checked.
            return Err(fail(
                var("ISSUER"),
                "Microsoft's multi-tenant issuers (common, organizations, consumers) are not \
                 accepted; use the tenant's own, https://login.microsoftonline.com/<tenant id>/v2.0"
                    .into(),
            ));
        }
        let domains: Vec<String> = required("DOMAINS")?
            .split(',')
            .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        if let Some(bad) = domains
            .iter()
            .find(|d| !d.contains('.') || d.contains(['@', ' ', '/']))
        {
            return Err(fail(
                var("DOMAINS"),
                format!(
                    "expected email domains such as school.sch.uk separated by commas, got {bad:?}"
                ),
            ));
        }
        out.push(OidcProviderSettings {
            issuer,
            client_id: required("CLIENT_ID")?,
            client_secret: required("CLIENT_SECRET")?,
            label: get(&var("LABEL")).unwrap_or_else(|| format!("Sign in with {id}")),
            domains,
            email_verified_optional: match get(&var("EMAIL_VERIFIED")).as_deref() {
                None | Some("required") => false,
                Some("optional") => true,
                Some(other) => {
                    return Err(fail(
                        var("EMAIL_VERIFIED"),
                        format!("expected required or optional, got {other:?}"),
                    ))
                }
            },
            id,
        });
    }
    Ok(out)
}
