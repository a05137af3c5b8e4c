//! What the Train view and the sweep report both show of runs: their
//! curves, bands over seeds and figures against beta ([`curves`]), and
//! their names and statuses in plain words ([`labels`]).

pub mod curves;
pub mod labels;
