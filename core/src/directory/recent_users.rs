//! The built-in directory's answers for users looked up again (a refresh, a
//! session reused), kept until the change feed reports a change to the
//! user. Every refresh re-reads its user; without this, that read is a
//! database round trip per refresh for an answer that rarely changes.
//!
//! Disabling or deleting a user also revokes their refresh families in the
//! same transaction, so a stale entry can never keep a grant alive: at
//! worst a new token carries claims one sync old (the catalog's window).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::DirectoryUser;

/// Users kept; past this the cache starts over (a bound on memory).
const MAX_USERS: usize = 100_000;

/// The longest an answer is used, should a change notice ever be missed.
const MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// (contact center id, folded username).
type Key = (String, String);

#[derive(Default)]
pub struct RecentUsers {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    users: HashMap<Key, (DirectoryUser, Instant)>,
    /// "contact center id:user id" (the change feed's name for a user) to its key.
    keys: HashMap<String, Key>,
    /// Bumped by every `forget`: a look-up that began before a change was
    /// applied must not store what it read.
    generation: u64,
}

/// What a look-up must show to store its answer.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl RecentUsers {
    /// A fresh answer for `username` in `contact_center_id`, or a ticket to
    /// store the one about to be read.
    pub fn get(&self, contact_center_id: &str, username: &str) -> Result<DirectoryUser, Ticket> {
        let inner = self.lock();
        let key = key(contact_center_id, username);
        match inner.users.get(&key) {
            Some((user, at)) if at.elapsed() < MAX_AGE => Ok(user.clone()),
            _ => Err(Ticket(inner.generation)),
        }
    }

    /// Keeps `user` (whose stored id is `user_id`), unless something was
    /// forgotten since `ticket` was taken.
    pub fn put(
        &self,
        ticket: Ticket,
        contact_center_id: &str,
        user_id: &str,
        user: &DirectoryUser,
    ) {
        let mut inner = self.lock();
        if inner.generation != ticket.0 {
            return;
        }
        if inner.users.len() >= MAX_USERS {
            inner.users.clear();
            inner.keys.clear();
        }
        let key = key(contact_center_id, &user.username);
        inner
            .keys
            .insert(format!("{contact_center_id}:{user_id}"), key.clone());
        inner.users.insert(key, (user.clone(), Instant::now()));
    }

    /// The change feed reported a change to the user it names
    /// "contact center id:user id".
    pub fn forget(&self, change_id: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        if let Some(key) = inner.keys.remove(change_id) {
            inner.users.remove(&key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn key(contact_center_id: &str, username: &str) -> Key {
    (contact_center_id.to_string(), username.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> DirectoryUser {
        DirectoryUser {
            username: name.into(),
            dbid: 7,
            first_name: "A".into(),
            last_name: "B".into(),
            email: String::new(),
            authorities: vec![],
            properties: Default::default(),
        }
    }

    #[test]
    fn an_answer_is_kept_until_its_user_changes() {
        let recent = RecentUsers::default();
        let Err(ticket) = recent.get("cc1", "Alice") else {
            panic!("nothing kept yet");
        };
        recent.put(ticket, "cc1", "u1", &user("alice"));
        assert_eq!(recent.get("cc1", "ALICE").ok(), Some(user("alice")));
        assert!(recent.get("cc2", "alice").is_err(), "per contact center");
        recent.forget("cc1:u2");
        assert!(recent.get("cc1", "alice").is_ok(), "another user changed");
        recent.forget("cc1:u1");
        assert!(recent.get("cc1", "alice").is_err());
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let recent = RecentUsers::default();
        let Err(ticket) = recent.get("cc1", "alice") else {
            panic!("nothing kept yet");
        };
        // The user changed (and the change was applied) while the read ran.
        recent.forget("cc1:u1");
        recent.put(ticket, "cc1", "u1", &user("alice"));
        assert!(recent.get("cc1", "alice").is_err());
    }
}
