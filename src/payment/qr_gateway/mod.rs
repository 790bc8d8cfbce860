//! The QR gateway: a provider's merchant API for wallet payments (Alipay,
//! WeChat Pay, UnionPay QR) in signed JSON over HTTPS, beside the
//! acquirer's ISO 8583 path. It carries both directions: a code scanned
//! from the customer's phone (`pay`), and a code the till shows for the
//! customer to scan (`precreate`, then `query` until paid), with `cancel`,
//! `close` and `refund`. See `api` for the messages and `sign` for the
//! signatures.

pub mod api;
pub mod client;
pub mod sign;

pub use client::{GatewayClient, GatewayConfig, GatewayError};
