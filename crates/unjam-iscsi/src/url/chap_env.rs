//! CHAP credentials from libiscsi's environment variables, and the rules that make a set of
//! credentials usable: a user needs a password and the reverse, and mutual CHAP needs our own
//! CHAP as well. The URL wins over the environment field by field (as libiscsi does), so a
//! password can stay out of the command line (`ps`) while the user is in the URL.

use super::{Environment, PortalUrl, UrlError};

pub const ENV_CHAP_USERNAME: &str = "LIBISCSI_CHAP_USERNAME";
pub const ENV_CHAP_PASSWORD: &str = "LIBISCSI_CHAP_PASSWORD";
pub const ENV_CHAP_TARGET_USERNAME: &str = "LIBISCSI_CHAP_TARGET_USERNAME";
pub const ENV_CHAP_TARGET_PASSWORD: &str = "LIBISCSI_CHAP_TARGET_PASSWORD";

/// The process environment (empty values count as unset).
pub fn process_environment() -> impl Fn(&str) -> Option<String> {
    |name| std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Fills credentials the URL left out from `env`, then checks that they pair up.
pub(super) fn complete(portal: &mut PortalUrl, env: Environment<'_>) -> Result<(), UrlError> {
    let lookup = |name: &str| env(name).filter(|value| !value.is_empty());
    if portal.user.is_none() {
        portal.user = lookup(ENV_CHAP_USERNAME);
    }
    if portal.password.is_none() {
        portal.password = lookup(ENV_CHAP_PASSWORD);
    }
    if portal.target_user.is_none() {
        portal.target_user = lookup(ENV_CHAP_TARGET_USERNAME);
    }
    if portal.target_password.is_none() {
        portal.target_password = lookup(ENV_CHAP_TARGET_PASSWORD);
    }
    check_pairs(portal)
}

fn check_pairs(portal: &PortalUrl) -> Result<(), UrlError> {
    match (&portal.user, &portal.password) {
        (Some(user), None) => return Err(UrlError::MissingPassword { user: user.clone() }),
        (None, Some(_)) => return Err(UrlError::MissingUser),
        _ => {}
    }
    match (&portal.target_user, &portal.target_password) {
        (Some(user), None) => Err(UrlError::MissingTargetPassword { user: user.clone() }),
        (None, Some(_)) => Err(UrlError::MissingTargetUser),
        (Some(_), Some(_)) if portal.user.is_none() => Err(UrlError::MutualWithoutInitiator),
        _ => Ok(()),
    }
}
