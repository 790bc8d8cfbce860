//! Fuzz target for the config reader: any text either parses, with every
//! bad field falling back alone, or is refused with a message; never a
//! panic. Each section's own reader runs on what parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillpoint_config::policy::Policy;
use tillpoint_config::Config;
use tillpoint_devices::printer::config::PrinterConfig;
use tillpoint_payment::acquirer::config::AcquirerConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((config, _)) = Config::parse(text) {
        let mut w = Vec::new();
        let _ = Policy::load(&config, &mut w);
        let acquirer = AcquirerConfig::load(&config, &mut w);
        let _ = acquirer.address();
        let _ = acquirer.host_is_local();
        let printer = PrinterConfig::load(&config, &mut w);
        let _ = printer.receipt_settings(&config, 0, &mut w);
        let _ = tillpoint_payment::emv::TerminalConfig::from_till_config(&config, &mut w);
    }
});
