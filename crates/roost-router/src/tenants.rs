//! Tenants: one per user, each a Fly app with one volume and one machine.
//!
//! [`state`] is the life-cycle state machine, [`store`] the rows in the database. A tenant's id
//! is derived from its user id ([`tenant_id_for_user`]) so the OAuth side can put it in the
//! `tenant` claim of a token before anything exists on Fly; it is also the first choice of Fly
//! app name, and stays the tenant's id when that name turns out to be taken.

pub mod cache;
pub mod state;
pub mod store;

use sha2::{Digest as _, Sha256};

pub use state::{IllegalTransition, TenantState, check_transition};
pub use store::{Learned, StoreError, Tenant, TenantStore};

/// Hex digits of the user-id hash in a tenant id: 48 bits, so a collision between two users
/// needs ~16 million users to reach a one-in-a-million chance, and a collision is still caught
/// by the unique key on `tenants.app_name`.
const HASH_HEX_DIGITS: usize = 12;

/// The tenant id (and first-choice Fly app name) of user `user_id`: `<prefix><short hash>`,
/// e.g. `roost-u-3f9a2c1d0b7e`. Stable: the same user always gets the same id.
pub fn tenant_id_for_user(prefix: &str, user_id: &str) -> String {
    let digest = Sha256::digest(user_id.as_bytes());
    let mut id = String::with_capacity(prefix.len() + HASH_HEX_DIGITS);
    id.push_str(prefix);
    id.push_str(&hex::encode(digest)[..HASH_HEX_DIGITS]);
    id
}

/// The `attempt`-th alternative app name for tenant `tenant_id`, used when Fly says the
/// previous name belongs to somebody else (app names are global across Fly, fly.md §2.2).
pub fn alternative_app_name(tenant_id: &str, attempt: u32) -> String {
    format!("{tenant_id}-{}", attempt + 1)
}

/// Whether `name` is a valid Fly app name: lowercase letters, digits and dashes, starting with
/// a letter, at most 63 characters (a DNS label, since apps get `<name>.internal` names).
pub fn is_valid_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_stable_short_and_valid_app_names() {
        let a = tenant_id_for_user("roost-u-", "user-1");
        assert_eq!(a, tenant_id_for_user("roost-u-", "user-1"));
        assert_ne!(a, tenant_id_for_user("roost-u-", "user-2"));
        assert!(
            a.starts_with("roost-u-") && a.len() == "roost-u-".len() + 12,
            "{a}"
        );
        assert!(is_valid_app_name(&a), "{a}");
        assert!(is_valid_app_name(&alternative_app_name(&a, 1)));
        assert_eq!(alternative_app_name("roost-u-abc", 1), "roost-u-abc-2");
    }

    #[test]
    fn app_name_rules_follow_dns_labels() {
        for bad in ["", "Roost", "1abc", "abc-", "a_b", &"a".repeat(64)] {
            assert!(!is_valid_app_name(bad), "{bad:?}");
        }
    }
}
