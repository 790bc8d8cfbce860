//! Real-time status (`DLE EOT n`): the request bytes and a strict parser of the answers.
//!
//! Each request makes the printer answer one byte at once, even while offline, which is what
//! lets the till say *why* a receipt cannot print (cover open, paper out) before and after a
//! job. Bit meanings: Epson ESC/POS Command Reference, DLE EOT (TM-T88/TM-T20 family); the
//! same layout is used by Bixolon/Samsung, HPRT and most Chinese clones:
//!
//! | n | bit 2 | bit 3 | bit 5 | bit 6 |
//! |---|-------|-------|-------|-------|
//! | 1 printer | drawer pin 3 high | offline | – | – |
//! | 2 offline cause | cover open | feed button | paper-end stop | error |
//! | 3 error cause | recoverable | autocutter | unrecoverable | auto-recoverable |
//! | 4 roll paper | near end (bits 2+3) | | paper out (bits 5+6) | |
//!
//! In every answer bit 1 and bit 4 are fixed on and bits 0 and 7 fixed off; a byte that
//! breaks this is not a status answer (stale data, a different protocol, line noise), and
//! the parser rejects it rather than guess.

/// Which status byte to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusRequest {
    /// n = 1: online/offline and the drawer sensor.
    Printer,
    /// n = 2: why the printer is offline.
    OfflineCause,
    /// n = 3: which error occurred.
    ErrorCause,
    /// n = 4: paper roll sensors.
    RollPaper,
}

impl StatusRequest {
    /// All four, in the order [`query_bytes`] sends them and [`parse_status`] expects answers.
    pub const ALL: [StatusRequest; 4] = [
        StatusRequest::Printer,
        StatusRequest::OfflineCause,
        StatusRequest::ErrorCause,
        StatusRequest::RollPaper,
    ];

    /// The `n` parameter.
    pub fn n(self) -> u8 {
        match self {
            StatusRequest::Printer => 1,
            StatusRequest::OfflineCause => 2,
            StatusRequest::ErrorCause => 3,
            StatusRequest::RollPaper => 4,
        }
    }

    /// The request for `n`, if it is one of the four basic ones.
    pub fn from_n(n: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.n() == n)
    }

    /// `DLE EOT n` (10 04 n). The escpos crate appends a NUL after it, which the printer would
    /// take as data; this is the bare three-byte command.
    pub fn bytes(self) -> [u8; 3] {
        [0x10, 0x04, self.n()]
    }
}

/// The four requests back to back. Epson allows up to four real-time requests at once as
/// long as nothing else is sent until all answers are in.
pub fn query_bytes() -> Vec<u8> {
    StatusRequest::ALL.iter().flat_map(|r| r.bytes()).collect()
}

/// Mask and value of the fixed bits every answer carries (bits 1 and 4 on, 0 and 7 off).
const FIXED_MASK: u8 = 0b1001_0011;
const FIXED_VALUE: u8 = 0b0001_0010;

/// The printer's state as the till cares about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PrinterStatus {
    /// The printer accepts and prints data.
    pub online: bool,
    /// The roll cover is open.
    pub cover_open: bool,
    /// The near-end sensor sees little paper left: print, but warn the cashier.
    pub paper_near_end: bool,
    /// No paper: nothing prints.
    pub paper_out: bool,
    /// An error stopped the printer (cutter jam, head overheating, hardware fault).
    pub error: bool,
    /// The autocutter failed (usually a jam).
    pub cutter_error: bool,
    /// A fault only a service visit fixes.
    pub unrecoverable_error: bool,
    /// A fault that clears by itself (e.g. print head too hot).
    pub auto_recoverable_error: bool,
    /// The drawer open/close sensor (connector pin 3) reads high. Which level means "open"
    /// depends on the drawer model, so this is reported raw.
    pub drawer_pin3_high: bool,
    /// Paper is being fed with the FEED button.
    pub feeding_by_button: bool,
}

impl PrinterStatus {
    /// A healthy online printer, as the simulator starts.
    pub fn ready() -> Self {
        Self {
            online: true,
            ..Self::default()
        }
    }

    /// Whether a job sent now would print.
    pub fn can_print(&self) -> bool {
        self.online && !self.cover_open && !self.paper_out && !self.error
    }

    /// The problems worth showing the cashier, most urgent first.
    pub fn problems(&self) -> Vec<StatusProblem> {
        let mut p = Vec::new();
        if self.cover_open {
            p.push(StatusProblem::CoverOpen);
        }
        if self.paper_out {
            p.push(StatusProblem::PaperOut);
        }
        if self.error {
            p.push(StatusProblem::Error);
        }
        if !self.online && p.is_empty() {
            p.push(StatusProblem::Offline);
        }
        if self.paper_near_end && !self.paper_out {
            p.push(StatusProblem::PaperNearEnd);
        }
        p
    }

    /// The answer byte a printer in this state gives to `req`; used by the printer emulator
    /// and the tests, and the exact inverse of [`parse_status_byte`].
    pub fn answer(&self, req: StatusRequest) -> u8 {
        let bit = |on: bool, mask: u8| if on { mask } else { 0 };
        FIXED_VALUE
            | match req {
                StatusRequest::Printer => {
                    bit(self.drawer_pin3_high, 0x04) | bit(!self.online, 0x08)
                }
                StatusRequest::OfflineCause => {
                    bit(self.cover_open, 0x04)
                        | bit(self.feeding_by_button, 0x08)
                        | bit(self.paper_out, 0x20)
                        | bit(self.error, 0x40)
                }
                StatusRequest::ErrorCause => {
                    bit(self.cutter_error, 0x08)
                        | bit(self.unrecoverable_error, 0x20)
                        | bit(self.auto_recoverable_error, 0x40)
                }
                StatusRequest::RollPaper => {
                    bit(self.paper_near_end, 0x0C) | bit(self.paper_out, 0x60)
                }
            }
    }

    /// Answers to all four requests in [`StatusRequest::ALL`] order.
    pub fn answers(&self) -> [u8; 4] {
        StatusRequest::ALL.map(|r| self.answer(r))
    }
}

/// One thing that keeps a receipt from printing (or will soon).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusProblem {
    /// Close the cover.
    CoverOpen,
    /// Load paper.
    PaperOut,
    /// The printer reports an error.
    Error,
    /// Offline for another reason.
    Offline,
    /// Paper is running low.
    PaperNearEnd,
}

/// A status answer that cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// The fixed bits are wrong, so the byte is not an answer to `DLE EOT n`.
    #[error("status answer to DLE EOT {n} is 0x{byte:02X}: fixed bits (0x{FIXED_VALUE:02X} under mask 0x{FIXED_MASK:02X}) wrong, not a status byte")]
    Malformed { n: u8, byte: u8 },
    /// Fewer or more answer bytes than requests.
    #[error("expected {expected} status bytes, got {got}")]
    Length { expected: usize, got: usize },
}

/// What one answer byte says; fields a request does not cover stay `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusByte {
    /// Online (n = 1).
    pub online: Option<bool>,
    /// Drawer sensor high (n = 1).
    pub drawer_pin3_high: Option<bool>,
    /// Cover open (n = 2).
    pub cover_open: Option<bool>,
    /// FEED button pressed (n = 2).
    pub feeding_by_button: Option<bool>,
    /// Stopped at paper end (n = 2) or paper-end sensor (n = 4).
    pub paper_out: Option<bool>,
    /// Some error (n = 2).
    pub error: Option<bool>,
    /// Autocutter error (n = 3).
    pub cutter_error: Option<bool>,
    /// Unrecoverable error (n = 3).
    pub unrecoverable_error: Option<bool>,
    /// Auto-recoverable error (n = 3).
    pub auto_recoverable_error: Option<bool>,
    /// Near-end sensor (n = 4).
    pub paper_near_end: Option<bool>,
}

/// Parses one answer byte to `req`.
pub fn parse_status_byte(req: StatusRequest, byte: u8) -> Result<StatusByte, StatusError> {
    if byte & FIXED_MASK != FIXED_VALUE {
        return Err(StatusError::Malformed { n: req.n(), byte });
    }
    let on = |mask: u8| Some(byte & mask != 0);
    let mut s = StatusByte::default();
    match req {
        StatusRequest::Printer => {
            s.drawer_pin3_high = on(0x04);
            s.online = Some(byte & 0x08 == 0);
        }
        StatusRequest::OfflineCause => {
            s.cover_open = on(0x04);
            s.feeding_by_button = on(0x08);
            s.paper_out = on(0x20);
            s.error = on(0x40);
        }
        StatusRequest::ErrorCause => {
            s.cutter_error = on(0x08);
            s.unrecoverable_error = on(0x20);
            s.auto_recoverable_error = on(0x40);
        }
        StatusRequest::RollPaper => {
            // Two bits each; some printers set only one of the pair, so either counts.
            s.paper_near_end = on(0x0C);
            s.paper_out = on(0x60);
        }
    }
    Ok(s)
}

/// Parses the four answers to [`query_bytes`] into one status.
pub fn parse_status(answers: &[u8]) -> Result<PrinterStatus, StatusError> {
    if answers.len() != StatusRequest::ALL.len() {
        return Err(StatusError::Length {
            expected: StatusRequest::ALL.len(),
            got: answers.len(),
        });
    }
    let mut st = PrinterStatus::default();
    for (req, byte) in StatusRequest::ALL.iter().zip(answers) {
        let b = parse_status_byte(*req, *byte)?;
        let or = |cur: bool, v: Option<bool>| cur || v.unwrap_or(false);
        if let Some(online) = b.online {
            st.online = online;
        }
        st.drawer_pin3_high = or(st.drawer_pin3_high, b.drawer_pin3_high);
        st.cover_open = or(st.cover_open, b.cover_open);
        st.feeding_by_button = or(st.feeding_by_button, b.feeding_by_button);
        st.paper_out = or(st.paper_out, b.paper_out);
        st.error = or(st.error, b.error);
        st.cutter_error = or(st.cutter_error, b.cutter_error);
        st.unrecoverable_error = or(st.unrecoverable_error, b.unrecoverable_error);
        st.auto_recoverable_error = or(st.auto_recoverable_error, b.auto_recoverable_error);
        st.paper_near_end = or(st.paper_near_end, b.paper_near_end);
    }
    // An error cause without the summary bit still means the printer is in error.
    st.error |= st.cutter_error || st.unrecoverable_error || st.auto_recoverable_error;
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_bytes_are_dle_eot_n_without_trailing_nul() {
        assert_eq!(StatusRequest::Printer.bytes(), [0x10, 0x04, 1]);
        assert_eq!(
            query_bytes(),
            [0x10, 4, 1, 0x10, 4, 2, 0x10, 4, 3, 0x10, 4, 4]
        );
    }

    // Values from the Epson DLE EOT tables: idle online printer answers 0x12 to every
    // request; offline with cover open: n=1 0x1A, n=2 0x16; paper end: n=2 0x32, n=4 0x72
    // (0x12 | 0x60); near end: n=4 0x1E (0x12 | 0x0C).
    #[test]
    fn parses_reference_answers() {
        let idle = parse_status(&[0x12, 0x12, 0x12, 0x12]).unwrap();
        assert_eq!(idle, PrinterStatus::ready());
        assert!(idle.can_print());
        assert!(idle.problems().is_empty());

        let cover = parse_status(&[0x1A, 0x16, 0x12, 0x12]).unwrap();
        assert!(!cover.online && cover.cover_open && !cover.paper_out);
        assert_eq!(cover.problems(), vec![StatusProblem::CoverOpen]);

        let out = parse_status(&[0x1A, 0x32, 0x12, 0x72]).unwrap();
        assert!(out.paper_out && !out.can_print());
        assert_eq!(out.problems(), vec![StatusProblem::PaperOut]);

        let near = parse_status(&[0x12, 0x12, 0x12, 0x1E]).unwrap();
        assert!(near.paper_near_end && near.can_print());
        assert_eq!(near.problems(), vec![StatusProblem::PaperNearEnd]);

        let cutter = parse_status(&[0x1A, 0x52, 0x1A, 0x12]).unwrap();
        assert!(cutter.error && cutter.cutter_error && !cutter.can_print());

        let drawer = parse_status(&[0x16, 0x12, 0x12, 0x12]).unwrap();
        assert!(drawer.drawer_pin3_high && drawer.online);
    }

    #[test]
    fn rejects_bytes_with_wrong_fixed_bits() {
        for bad in [0x00, 0xFF, 0x10, 0x02, 0x13, 0x92] {
            assert_eq!(
                parse_status_byte(StatusRequest::RollPaper, bad),
                Err(StatusError::Malformed { n: 4, byte: bad })
            );
        }
        let e = parse_status(&[0x12, 0x12, 0x12]).unwrap_err();
        assert_eq!(
            e,
            StatusError::Length {
                expected: 4,
                got: 3
            }
        );
        assert!(e.to_string().contains("expected 4 status bytes, got 3"));
        let e = parse_status(&[0x12, 0x12, 0x80, 0x12]).unwrap_err();
        assert!(e.to_string().contains("DLE EOT 3"), "{e}");
    }

    fn any_status() -> impl Strategy<Value = PrinterStatus> {
        (any::<[bool; 8]>(), any::<bool>(), any::<bool>()).prop_map(|(b, near, dr)| {
            let mut s = PrinterStatus {
                online: b[0],
                cover_open: b[1],
                paper_out: b[2],
                error: b[3],
                cutter_error: b[4],
                unrecoverable_error: b[5],
                auto_recoverable_error: b[6],
                feeding_by_button: b[7],
                paper_near_end: near,
                drawer_pin3_high: dr,
            };
            s.error |= s.cutter_error || s.unrecoverable_error || s.auto_recoverable_error;
            s
        })
    }

    proptest! {
        #[test]
        fn answer_and_parse_are_inverse(s in any_status()) {
            prop_assert_eq!(parse_status(&s.answers()).unwrap(), s);
        }

        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..8)) {
            let r = parse_status(&bytes);
            if bytes.len() != 4 {
                prop_assert!(r.is_err());
            }
            match r {
                Ok(s) => {
                    prop_assert!(bytes.iter().all(|b| b & 0x93 == 0x12));
                    // What was understood survives a second trip unchanged.
                    prop_assert_eq!(parse_status(&s.answers()).unwrap(), s);
                }
                Err(_) => prop_assert!(bytes.len() != 4 || bytes.iter().any(|b| b & 0x93 != 0x12)),
            }
        }
    }
}
