//! Protection of the browser and credential endpoints: CSRF tokens, brute-force
//! lockout and rate limits. Counters live in the ephemeral store, so they hold
//! across replicas.

pub mod client_ip;
pub mod lockout;
pub mod rate_limit;
