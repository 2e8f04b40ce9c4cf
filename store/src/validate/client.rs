//! The parts of an OAuth client both the ops client API and the operator set.

use crate::model::ExchangePolicy;

/// An RFC 8693 policy names clients and audiences; an empty name is a mistake.
pub fn check_exchange_policy(p: &ExchangePolicy) -> Result<(), String> {
    if p.subject_clients
        .iter()
        .chain(&p.subject_issuers)
        .chain(&p.audiences)
        .any(|s| s.trim().is_empty())
    {
        return Err(
            "tokenExchange: subjectClients, subjectIssuers and audiences must not contain \
             empty names"
                .into(),
        );
    }
    Ok(())
}
