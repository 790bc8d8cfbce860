//! tillpoint: a desktop cashier application for countertop tills.
//!
//! Layers, each using only those below it (see README and DESIGN):
//! `ui` → `sim`, `devices` → `payment` → `store` → `core`.
#![forbid(unsafe_code)]

pub mod core;
pub mod store;
pub mod config;
pub mod logging;
pub mod till;
