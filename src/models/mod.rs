//! Detector models beside the notebook's network ([`crate::model`]): each a config validated
//! once, a fit, and a fitted model that scores rows of scaled features.
//!
//! The isolation forest is fitted, scored and checked against scikit-learn here; it is not yet
//! a kind a saved [`Detector`](crate::Detector) can hold (see the README).

pub mod iforest;
