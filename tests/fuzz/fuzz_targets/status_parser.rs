//! Fuzzes the DLE EOT status parser: any bytes must give a status or a clear error, never a
//! panic, and whatever parses must survive a second trip through the printer's own answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillpoint_devices::printer::status::{parse_status, parse_status_byte, StatusRequest};

fuzz_target!(|data: &[u8]| {
    for req in StatusRequest::ALL {
        for &b in data.iter().take(16) {
            let _ = parse_status_byte(req, b);
        }
    }
    if let Ok(status) = parse_status(data) {
        assert_eq!(data.len(), 4);
        let again = parse_status(&status.answers()).expect("own answers parse");
        assert_eq!(again, status);
    }
});
