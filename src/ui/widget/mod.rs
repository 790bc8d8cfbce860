//! Reusable widgets: the numeric keypad, the status bar, the hourly chart.

pub mod chart;
pub mod keypad;
