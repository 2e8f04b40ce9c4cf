//! `spec.trustedIssuers` → the contact center's trusted issuers in the
//! store, made to match exactly: the resource owns the list, so an issuer
//! added through the Environment API to a contact center the operator
//! manages is removed on the next reconcile (as a hand edit of any other
//! row is undone).

use tollgate_store::model::TrustedIssuer;
use tollgate_store::validate::check_trusted_issuer;
use tollgate_store::StoreError;

use crate::conditions::Outcome;
use crate::context::{Context, Result};
use crate::crd::{ContactCenter, TrustedIssuerSpec};

/// The records the spec asks for, each checked by the Environment API's rules.
pub fn desired(id: &str, specs: &[TrustedIssuerSpec]) -> Result<Vec<TrustedIssuer>, String> {
    specs
        .iter()
        .map(|s| {
            let record = TrustedIssuer {
                issuer: s.issuer.clone(),
                contact_center_id: id.into(),
                jwks: s.jwks.clone(),
                jwks_uri: s.jwks_uri.clone(),
                algorithms: s.algorithms.clone(),
                max_lifetime: s.max_lifetime,
                updated_at: 0,
            };
            check_trusted_issuer(&record).map_err(|why| format!("issuer {}: {why}", s.issuer))?;
            Ok(record)
        })
        .collect()
}

/// What to upsert (new or different) and which issuers to delete so the
/// stored list equals `want`.
pub fn changes(
    stored: &[TrustedIssuer],
    want: &[TrustedIssuer],
) -> (Vec<TrustedIssuer>, Vec<String>) {
    let upserts = want
        .iter()
        .filter(|w| {
            !stored.iter().any(|s| {
                TrustedIssuer {
                    updated_at: s.updated_at,
                    ..(*w).clone()
                } == *s
            })
        })
        .cloned()
        .collect();
    let deletes = stored
        .iter()
        .filter(|s| !want.iter().any(|w| w.issuer == s.issuer))
        .map(|s| s.issuer.clone())
        .collect();
    (upserts, deletes)
}

/// Brings the stored issuers in line with the spec. `Some` says why the
/// contact center is not Ready.
pub async fn sync(cc: &ContactCenter, id: &str, ctx: &Context) -> Result<Option<Outcome>> {
    let want = match desired(id, &cc.spec.trusted_issuers) {
        Ok(want) => want,
        Err(message) => {
            return Ok(Some(Outcome::Stalled {
                reason: "InvalidTrustedIssuer".into(),
                message,
            }))
        }
    };
    let stored = ctx.db.list_trusted_issuers(id).await?;
    let (upserts, deletes) = changes(&stored, &want);
    for issuer in &deletes {
        match ctx.db.delete_trusted_issuer(id, issuer).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for record in &upserts {
        match ctx.db.upsert_trusted_issuer(record).await {
            Ok(_) => {}
            Err(StoreError::Duplicate { detail, .. }) => {
                return Ok(Some(Outcome::Stalled {
                    reason: "IssuerTaken".into(),
                    message: detail,
                }))
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !upserts.is_empty() || !deletes.is_empty() {
        ctx.event(
            cc,
            false,
            "TrustedIssuersWritten",
            format!(
                "trusted issuers of {id}: {} written, {} removed",
                upserts.len(),
                deletes.len()
            ),
        )
        .await;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issuer(name: &str, lifetime: i64) -> TrustedIssuer {
        TrustedIssuer {
            issuer: name.into(),
            contact_center_id: "cc".into(),
            jwks: None,
            jwks_uri: Some(format!("{name}/jwks")),
            algorithms: vec!["ES256".into()],
            max_lifetime: lifetime,
            updated_at: 0,
        }
    }

    #[test]
    fn the_stored_list_is_made_equal_to_the_spec() {
        let stored = vec![
            TrustedIssuer {
                updated_at: 42,
                ..issuer("https://same.example", 600)
            },
            issuer("https://changed.example", 600),
            issuer("https://gone.example", 600),
        ];
        let want = vec![
            issuer("https://same.example", 600),
            issuer("https://changed.example", 300),
            issuer("https://new.example", 600),
        ];
        let (upserts, deletes) = changes(&stored, &want);
        let names: Vec<&str> = upserts.iter().map(|u| u.issuer.as_str()).collect();
        assert_eq!(names, ["https://changed.example", "https://new.example"]);
        assert_eq!(deletes, ["https://gone.example"]);
    }

    #[test]
    fn specs_are_checked_by_the_store_rules() {
        let spec: Vec<TrustedIssuerSpec> = serde_json::from_value(json!([
            {"issuer": "https://idp.example", "jwksUri": "http://idp.example/jwks"}
        ]))
        .unwrap();
        let err = desired("cc", &spec).unwrap_err();
        assert!(
            err.contains("https://idp.example") && err.contains("https"),
            "{err}"
        );
        let spec: Vec<TrustedIssuerSpec> = serde_json::from_value(json!([
            {"issuer": "https://idp.example", "jwksUri": "https://idp.example/jwks"}
        ]))
        .unwrap();
        let ok = desired("cc", &spec).unwrap();
        assert_eq!(ok[0].algorithms, ["RS256", "ES256"], "the store's default");
        assert_eq!(ok[0].max_lifetime, 600);
    }
}
