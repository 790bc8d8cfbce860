//! tillpoint: a desktop cashier application for countertop tills.
//!
//! Layers, each using only those below it (see README and DESIGN):
//! `ui` → `sim`, `devices` → `payment` → `store` → `core`.
#![forbid(unsafe_code)]

pub mod bench;
pub mod check;
pub mod cli;
pub mod closing;
pub mod config;
pub mod config_edit;
pub mod core;
pub mod demo;
pub mod devices;
pub mod i18n;
pub mod logging;
pub mod payment;
pub mod sim;
pub mod store;
pub mod till;
pub mod ui;
