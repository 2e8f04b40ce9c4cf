//! User directories: where a contact center's users are checked. Chosen per
//! contact center by its `auth` field. The built-in directory lives in the
//! store; LDAP (`ldap`) and the Configuration Server (`config_server`) plug
//! in behind the same trait.

pub mod builtin;
pub mod config_server;
mod directories;
pub mod ldap;
pub mod names;
pub mod password_policy;
mod recent_users;
mod timed;

pub use directories::{Directories, Directory, DirectoryError, DirectoryUser};
