//! A value built from the contents of files (the TLS configuration, the
//! policies), replaced when the contents change and the new value builds.
//! A new version that does not build is not remembered, so that the next
//! check tries again: a set of files written in several steps is taken once
//! all are there.

use std::sync::{Arc, RwLock};

/// What became of one check.
pub enum Reloaded<E> {
    /// The contents are the ones in use.
    Unchanged,
    /// The new contents built and are in use now.
    Replaced,
    /// The new contents did not build; the old value stays.
    Refused(E),
}

pub struct Reloadable<T, C> {
    current: RwLock<(Arc<T>, C)>,
}

impl<T, C: PartialEq> Reloadable<T, C> {
    pub fn new(value: T, contents: C) -> Self {
        Self {
            current: RwLock::new((Arc::new(value), contents)),
        }
    }

    /// The value in use.
    pub fn get(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0
            .clone()
    }

    /// Builds a new value from `contents` when they differ from those in use.
    pub fn replace_if_changed<E>(&self, contents: C, build: impl FnOnce(&C) -> Result<T, E>) -> Reloaded<E> {
        if self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).1 == contents {
            return Reloaded::Unchanged;
        }
        match build(&contents) {
            Ok(value) => {
                *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = (Arc::new(value), contents);
                Reloaded::Replaced
            }
            Err(e) => Reloaded::Refused(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_contents_that_build_replace_the_value() {
        let parse = |text: &String| text.parse::<u32>().map_err(|e| e.to_string());
        let reloadable = Reloadable::new(1_u32, "1".to_owned());
        assert!(matches!(
            reloadable.replace_if_changed("1".to_owned(), parse),
            Reloaded::Unchanged
        ));
        assert!(matches!(
            reloadable.replace_if_changed("x".to_owned(), parse),
            Reloaded::Refused(_)
        ));
        assert_eq!(*reloadable.get(), 1);
        assert!(
            matches!(
                reloadable.replace_if_changed("x".to_owned(), parse),
                Reloaded::Refused(_)
            ),
            "tried again"
        );
        assert!(matches!(
            reloadable.replace_if_changed("2".to_owned(), parse),
            Reloaded::Replaced
        ));
        assert_eq!(*reloadable.get(), 2);
    }
}
