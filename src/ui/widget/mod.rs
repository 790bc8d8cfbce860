//! Reusable widgets: the numeric keypad, the hourly chart, and the catcher
//! of the window's own keys.

pub mod chart;
pub mod keypad;
pub mod keys;
