//! Tollgate's Kubernetes operator as a library: the thin binaries in
//! `src/main.rs` and `src/bin/crdgen.rs`, and the tests, drive it.
//!
//! Layout: `crd/` holds the custom resource types (the CRD schemas are
//! generated from them); `environment.rs`, `contact_center.rs`,
//! `oauth_client.rs` and `platform/` each pair pure desired-state functions
//! with a thin reconciler; `controller.rs` wires the controllers; `leader.rs`
//! and `http.rs` are the edges (Lease, health and metrics).

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
pub mod oauth_client;
pub mod ownership;
pub mod platform;
pub mod rows;
