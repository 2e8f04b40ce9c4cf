//! Tollgate's Kubernetes operator as a library: the thin binaries in
//! `src/main.rs` and `src/bin/crdgen.rs`, and the tests, drive it.
//!
//! Layout: `crd/` holds the custom resource types (the CRD schemas are
//! generated from them); `rows.rs` is the one reconcile of the row
//! resources, and `environment.rs`, `contact_center/` and `oauth_client.rs`
//! each pair pure desired-state functions with what their kind adds to it;
//! `platform/` reconciles the platform's workloads; `controller.rs` wires the
//! controllers; `leader.rs` and `http.rs` are the edges (Lease, health and
//! metrics). `mock_api.rs` tests the reconcilers against a mocked API server.

pub mod conditions;
pub mod contact_center;
pub mod context;
pub mod controller;
pub mod crd;
pub mod crdgen;
pub mod environment;
pub mod http;
pub mod leader;
pub mod metrics;
#[cfg(test)]
mod mock_api;
pub mod oauth_client;
pub mod ownership;
pub mod platform;
pub mod rows;
