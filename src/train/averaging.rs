//! Weight averaging: the mean of the heads' weights over the second half of
//! the epochs, tried once training ends and kept when it validates better.

use std::collections::BTreeMap;

use tch::{Tensor, nn};

/// Running sums of the heads' weights and how many epochs they hold.
pub(crate) struct WeightAverage {
    enabled: bool,
    /// The first epoch that counts.
    pub from_epoch: usize,
    sums: BTreeMap<String, Tensor>,
    count: usize,
}

/// The heads' weights as they were, to go back to.
pub(crate) struct Snapshot(BTreeMap<String, Tensor>);

fn set_all(store: &nn::VarStore, values: &dyn Fn(&str) -> Tensor) {
    tch::no_grad(|| {
        for (name, variable) in &store.variables() {
            variable.shallow_clone().copy_(&values(name));
        }
    });
}

impl WeightAverage {
    pub fn new(enabled: bool, epochs: usize) -> Self {
        Self {
            enabled,
            from_epoch: epochs / 2 + 1,
            sums: BTreeMap::new(),
            count: 0,
        }
    }

    /// Adds the weights after `epoch`, when it is one that counts.
    pub fn add(&mut self, store: &nn::VarStore, epoch: usize) {
        if !self.enabled || epoch < self.from_epoch {
            return;
        }
        tch::no_grad(|| {
            for (name, variable) in &store.variables() {
                match self.sums.get_mut(name) {
                    Some(sum) => *sum += variable,
                    None => {
                        self.sums.insert(name.clone(), variable.detach().copy());
                    }
                }
            }
        });
        self.count += 1;
    }

    /// Puts the mean into `store` (when two or more epochs counted) and
    /// returns the weights it replaced.
    pub fn apply(&self, store: &nn::VarStore) -> Option<Snapshot> {
        if self.count < 2 {
            return None;
        }
        let last = store
            .variables()
            .into_iter()
            .map(|(name, v)| (name, v.detach().copy()))
            .collect();
        set_all(store, &|name| &self.sums[name] / self.count as f64);
        Some(Snapshot(last))
    }
}

impl Snapshot {
    pub fn restore(&self, store: &nn::VarStore) {
        set_all(store, &|name| self.0[name].shallow_clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn the_mean_of_the_second_half_goes_in_and_the_snapshot_comes_back() {
        let store = nn::VarStore::new(Device::Cpu);
        let weight = store.root().zeros("w", &[2]);
        let mut average = WeightAverage::new(true, 4);
        assert_eq!(average.from_epoch, 3);
        for (epoch, value) in [(1, 10.0), (2, 10.0), (3, 1.0), (4, 3.0)] {
            let _ = tch::no_grad(|| weight.shallow_clone().fill_(value));
            average.add(&store, epoch);
        }
        let snapshot = average.apply(&store).expect("two epochs counted");
        assert_eq!(weight.mean(Kind::Float).double_value(&[]), 2.0);
        snapshot.restore(&store);
        assert_eq!(weight.mean(Kind::Float).double_value(&[]), 3.0);
        assert!(WeightAverage::new(false, 4).apply(&store).is_none());
    }
}
