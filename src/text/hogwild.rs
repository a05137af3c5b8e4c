//! A matrix that several training threads update at once without locks
//! ("Hogwild!", Recht et al. 2011), as word2vec.c, gensim and finalfrontier do.
//!
//! Skip-gram updates touch a handful of rows out of tens of thousands; two
//! threads rarely meet on one row, and when they do, a lost update costs nothing
//! measurable. Locks or per-element atomics would cost several times the
//! arithmetic. The unsafe code is confined to this type: rows are handed out as
//! slices for the duration of one update, and the matrix outlives every thread
//! (threads are scoped).
#![allow(unsafe_code)]

use std::cell::UnsafeCell;

/// Row-major `rows x dim` f32 matrix shared by training threads.
pub struct HogwildMatrix {
    data: Box<[UnsafeCell<f32>]>,
    dim: usize,
}

// SAFETY: concurrent writes to the same element are the deliberate, benign race
// of Hogwild training (see the module docs); no reference outlives one update,
// and the buffer is never reallocated while shared.
unsafe impl Sync for HogwildMatrix {}

impl HogwildMatrix {
    pub fn from_vec(values: Vec<f32>, dim: usize) -> Self {
        assert!(
            dim > 0 && values.len().is_multiple_of(dim),
            "matrix of {} values is not rows of {dim}",
            values.len()
        );
        let data = values.into_iter().map(UnsafeCell::new).collect();
        Self { data, dim }
    }

    #[cfg(test)]
    fn rows(&self) -> usize {
        self.data.len() / self.dim
    }

    /// One row, for reading or writing during one update.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub fn row(&self, row: usize) -> &mut [f32] {
        let start = row * self.dim;
        let cells = &self.data[start..start + self.dim];
        // SAFETY: `cells` is in bounds (checked by the slice index above) and
        // UnsafeCell<f32> has the layout of f32. Other threads may write the same
        // row meanwhile: that is the Hogwild race the module docs accept.
        unsafe { std::slice::from_raw_parts_mut(cells.as_ptr() as *mut f32, self.dim) }
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.data
            .into_vec()
            .into_iter()
            .map(UnsafeCell::into_inner)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_views_of_the_matrix() {
        let matrix = HogwildMatrix::from_vec((0..6).map(|v| v as f32).collect(), 3);
        assert_eq!(matrix.rows(), 2);
        assert_eq!(matrix.row(1), [3.0, 4.0, 5.0]);
        matrix.row(0)[2] = 9.0;
        assert_eq!(matrix.into_vec(), [0.0, 1.0, 9.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn threads_can_update_rows_together() {
        let matrix = HogwildMatrix::from_vec(vec![0.0; 4 * 8], 8);
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let matrix = &matrix;
                scope.spawn(move || {
                    for _ in 0..1000 {
                        matrix.row(thread).iter_mut().for_each(|v| *v += 1.0);
                    }
                });
            }
        });
        assert!(matrix.into_vec().iter().all(|&v| v == 1000.0));
    }
}
