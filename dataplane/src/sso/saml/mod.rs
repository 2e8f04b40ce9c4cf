//! SAML 2.0 service provider per contact center (`auth: saml`).

pub mod keys;
pub mod metadata;
pub mod refresh;
pub mod verify;

#[cfg(test)]
mod test_idp;
#[cfg(test)]
mod tests;
