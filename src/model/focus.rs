//! Where CBAM's spatial maps (`Ms`, one per scale, each `grid x grid`) say
//! the model looked on a cover: the hottest cell of their mean. One
//! reading, shared by the Attention view (from a pass over one book) and the
//! placements stored with a run (from the pass that places every book), so
//! a suggestion's ring is where the Attention view puts it.

/// Below this spread of the maps' values (highest less lowest, over every
/// scale) a map is flat: its hottest cell is only the first one, a corner,
/// and says nothing of the cover.
const FLAT_SPREAD: f32 = 1e-4;

/// The hottest cell of the scales' mean map (row-major; the last of equal
/// ones), or `None` when the maps are flat or there are none.
pub fn peak_cell(maps: &[&[f32]]) -> Option<usize> {
    let cells = maps.first()?.len();
    let (low, high) = maps
        .iter()
        .flat_map(|map| map.iter())
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    (high - low > FLAT_SPREAD).then(|| hottest_mean_cell(maps, cells))
}

/// The hottest cell of the scales' mean map, flat or not (cell 0 for none).
pub fn hottest_mean_cell(maps: &[&[f32]], cells: usize) -> usize {
    let mut mean = vec![0f32; cells];
    for map in maps {
        for (total, value) in mean.iter_mut().zip(*map) {
            *total += value / maps.len() as f32;
        }
    }
    mean.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(cell, _)| cell)
}

/// The centre of `cell` of a `grid x grid` map, as fractions of the cover's
/// width and height.
pub fn cell_centre(cell: usize, grid: usize) -> [f32; 2] {
    let side = grid.max(1) as f32;
    [
        ((cell % grid.max(1)) as f32 + 0.5) / side,
        ((cell / grid.max(1)) as f32 + 0.5) / side,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_the_hottest_cell_of_the_mean_and_a_flat_map_has_none() {
        // Scale 1 peaks at cell 1, scale 2 at cell 3; their mean at cell 3.
        let (first, second) = ([0.1, 0.6, 0.1, 0.3], [0.1, 0.1, 0.2, 0.9]);
        assert_eq!(peak_cell(&[&first, &second]), Some(3));
        assert_eq!(peak_cell(&[&[0.5; 4], &[0.5; 4]]), None);
        assert_eq!(peak_cell(&[]), None);
        assert_eq!(cell_centre(3, 2), [0.75, 0.75]);
        assert_eq!(cell_centre(1, 7), [1.5 / 7.0, 0.5 / 7.0]);
    }
}
