//! `SmallMap`: an insertion-ordered map for the handful of entries a task
//! usually holds. It is a plain vector searched linearly, holding its first
//! `N` entries inline (no allocation for a task's one metric or two
//! objects), and grows a hash index only past [`INDEX_AT`] entries, so a
//! typical task allocates no vector per map, instead of a vector and a hash
//! table.

use std::collections::HashMap;
use std::hash::Hash;

/// Entries from which a hash index is kept.
pub const INDEX_AT: usize = 16;

/// An insertion-ordered map; see the module docs.
#[derive(Clone, Debug)]
pub struct SmallMap<K, V, const N: usize = 0> {
    entries: smallvec::SmallVec<[(K, V); N]>,
    // Boxed: the map stays 8 bytes wide in every task until it is needed.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<K, usize>>>,
}

impl<K, V, const N: usize> Default for SmallMap<K, V, N> {
    fn default() -> Self {
        SmallMap { entries: smallvec::SmallVec::new(), index: None }
    }
}

impl<K: PartialEq, V: PartialEq, const N: usize> PartialEq for SmallMap<K, V, N> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl<K: Hash + Eq + Clone, V, const N: usize> SmallMap<K, V, N> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    fn position<Q>(&self, key: &Q) -> Option<usize>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match &self.index {
            Some(ix) => ix.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k.borrow() == key),
        }
    }
    /// The value under `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.position(key).map(|i| &self.entries[i].1)
    }
    /// The value under `key`, mutably.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.position(key).map(move |i| &mut self.entries[i].1)
    }
    fn push(&mut self, key: K, value: V) -> usize {
        let i = self.entries.len();
        if let Some(ix) = &mut self.index {
            ix.insert(key.clone(), i);
        } else if i + 1 >= INDEX_AT {
            let mut ix: HashMap<K, usize> = self.entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
            ix.insert(key.clone(), i);
            self.index = Some(Box::new(ix));
        }
        self.entries.push((key, value));
        i
    }
    /// Inserts under `key`, which the caller knows is absent (no search).
    pub fn push_new(&mut self, key: K, value: V) {
        debug_assert!(self.position(&key).is_none(), "push_new of a key already present");
        self.push(key, value);
    }
    /// Inserts or replaces; a replaced entry keeps its position.
    pub fn insert(&mut self, key: K, value: V) {
        match self.position(&key) {
            Some(i) => self.entries[i].1 = value,
            None => {
                self.push(key, value);
            }
        }
    }
    /// The value under `key`, inserting `make()` first if absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.position(&key) {
            Some(i) => i,
            None => self.push(key, make()),
        };
        &mut self.entries[i].1
    }
    /// The value under `key` if present, else the value under the key
    /// `derive()` makes (inserted if absent, `make()` its value): for keys
    /// that are normalized, found as given when already normalized without
    /// normalizing them again. `derive` may refuse with an error.
    pub fn get_or_insert_derived<Q, E>(
        &mut self,
        key: &Q,
        derive: impl FnOnce() -> Result<K, E>,
        make: impl FnOnce() -> V,
    ) -> Result<&mut V, E>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = match self.position(key) {
            Some(i) => i,
            None => {
                let derived = derive()?;
                match self.position(derived.borrow()) {
                    Some(i) => i,
                    None => self.push(derived, make()),
                }
            }
        };
        Ok(&mut self.entries[i].1)
    }
    /// Like [`SmallMap::get_or_insert_with`], building the key only when absent.
    pub fn get_or_insert_by<Q>(&mut self, key: &Q, make_key: impl FnOnce() -> K, make: impl FnOnce() -> V) -> &mut V
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = match self.position(key) {
            Some(i) => i,
            None => self.push(make_key(), make()),
        };
        &mut self.entries[i].1
    }
    /// Entries in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
    /// Keys in insertion order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }
    /// Values in insertion order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
    /// Values in insertion order, mutably.
    pub fn values_mut(&mut self) -> impl ExactSizeIterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }
}

impl<K: Hash + Eq + Clone, V, const N: usize> FromIterator<(K, V)> for SmallMap<K, V, N> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = SmallMap::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inline, spilled to the heap, and indexed: the same map.
    fn order_and_positions<const N: usize>() {
        let mut m: SmallMap<String, i32, N> = SmallMap::new();
        for i in 0..40 {
            m.insert(format!("k{i}"), i);
            assert_eq!(m.get(&format!("k{i}")), Some(&i));
            assert_eq!(m.get("k0"), Some(&0));
        }
        m.insert("k3".to_string(), 300);
        assert_eq!(m.len(), 40);
        assert_eq!(m.get("k3"), Some(&300));
        assert_eq!(m.keys().nth(3).map(String::as_str), Some("k3"));
        assert_eq!(m.get("k39"), Some(&39));
        *m.get_or_insert_with("new".to_string(), || 0) += 5;
        assert_eq!(m.get("new"), Some(&5));
        let v: Vec<i32> = m.values().copied().take(4).collect();
        assert_eq!(v, [0, 1, 2, 300]);
        assert_eq!(m.get("absent"), None);
        let copy: SmallMap<String, i32, N> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(copy, m);
    }

    #[test]
    fn keeps_order_and_positions_inline_spilled_and_across_the_index_threshold() {
        order_and_positions::<0>();
        order_and_positions::<1>();
        order_and_positions::<2>();
        order_and_positions::<4>();
    }
}
