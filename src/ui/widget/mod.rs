//! Reusable widgets: the numeric keypad, the hourly chart, the catcher of
//! the window's own keys and the keyboard-wedge stripe reader's swipes.

pub mod chart;
pub mod keypad;
pub mod keys;
pub mod wedge;
