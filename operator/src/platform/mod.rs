//! The platform (`Tollgate`): the reconciler (`reconcile.rs`) applies the
//! children built by `children.rs` and follows the upgrade (`upgrade.rs`).

pub mod children;
mod reconcile;
pub mod upgrade;

pub use reconcile::reconcile;
