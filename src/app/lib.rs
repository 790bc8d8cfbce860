//! The till's application layer: the use cases the window and the command
//! line both call (selling, paying, refunds, cash, printing, reports and
//! settlement, settings, cashiers), the wiring of the shop's devices and of
//! the demo's simulators behind the same traits, and the power-on check.
//! Every rule about who may do what is checked here, once.

pub mod check;
pub mod closing;
pub mod customer;
pub mod demo_shop;
pub mod headoffice;
pub mod payments;
pub mod print_queue;
pub mod printing;
pub mod qr_desk;
pub mod service;
pub mod settings;
pub mod terminal;
pub mod till;
