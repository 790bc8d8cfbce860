//! ESC/POS receipt printers: the [`ReceiptPrinter`] trait the print queue talks to, and its
//! real implementation [`EscPosPrinter`] over any [`Transport`].
//!
//! The layers, bottom up: [`doc`] (a printer-neutral document and column layout),
//! [`encode`] (document → ESC/POS bytes), [`status`] (`DLE EOT` requests and answers),
//! [`transport`] (USB device file, serial, TCP 9100, file). The printer emulator in
//! `sim::printer` implements the same protocol from the other side without using any of
//! this, so each checks the other.

pub mod config;
pub mod doc;
pub mod encode;
pub mod layout;
pub mod status;
pub mod transport;

use std::time::Duration;

pub use doc::{Beep, DrawerPulse, PaperWidth, PrintDocument};
pub use encode::{EncodeError, EncodeOptions};
pub use status::{PrinterStatus, StatusError, StatusProblem, StatusRequest};
pub use transport::{Transport, TransportError};

/// What the print queue, the drawer button and the self-check need from a printer. The real
/// printer and the test doubles both implement it, so queue logic runs unchanged in tests.
pub trait ReceiptPrinter {
    /// Prints one document. `Ok` means the printer took the whole job and reported itself
    /// healthy afterwards; any `Err` means the job must stay queued and be printed again.
    fn print(&mut self, doc: &PrintDocument) -> Result<PrintReport, PrinterError>;

    /// Asks the printer how it is, right now.
    fn status(&mut self) -> Result<PrinterStatus, PrinterError>;

    /// Kicks the cash drawer.
    fn open_drawer(&mut self, pulse: DrawerPulse) -> Result<(), PrinterError>;

    /// Sounds the printer's buzzer (only call it when the config says the
    /// printer has one: a printer without takes the bytes as garbage).
    fn beep(&mut self, beep: Beep) -> Result<(), PrinterError>;
}

/// What happened to a printed job that the caller may want to log or show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrintReport {
    /// Bytes handed to the printer.
    pub bytes_sent: usize,
    /// Characters printed as '?' because the printer has no glyph for them.
    pub replaced: Vec<char>,
    /// Status read after the job, when the transport can read status.
    pub status_after: Option<PrinterStatus>,
}

/// Why a printer operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    /// The printer reports it cannot print; nothing was sent.
    #[error("printer not ready: {}", describe(.0))]
    NotReady(PrinterStatus),
    /// The job was sent but the printer stopped (e.g. paper ran out mid-receipt); treat the
    /// receipt as not printed.
    #[error("printing stopped: {}", describe(.0))]
    Interrupted(PrinterStatus),
    /// The connection to the printer failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The printer answered a status request with something that is not a status byte.
    #[error("printer sent an invalid status answer: {0}")]
    Status(#[from] StatusError),
    /// The document could not be turned into printer commands.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Names the status problems in plain words for logs and error messages (the GUI maps
/// [`StatusProblem`] to localized text itself).
pub fn describe(status: &PrinterStatus) -> String {
    let words: Vec<&str> = status
        .problems()
        .iter()
        .map(|p| match p {
            StatusProblem::CoverOpen => "cover open",
            StatusProblem::PaperOut => "paper out",
            StatusProblem::Error => "printer error",
            StatusProblem::Offline => "offline",
            StatusProblem::PaperNearEnd => "paper near end",
        })
        .collect();
    if words.is_empty() {
        "ready".to_string()
    } else {
        words.join(", ")
    }
}

/// An ESC/POS printer on some transport.
pub struct EscPosPrinter<T: Transport> {
    transport: T,
    options: EncodeOptions,
    status_timeout: Duration,
}

impl<T: Transport> EscPosPrinter<T> {
    /// Wraps a connected transport. `status_timeout` bounds each status read.
    pub fn new(transport: T, options: EncodeOptions, status_timeout: Duration) -> Self {
        Self {
            transport,
            options,
            status_timeout,
        }
    }

    /// The transport, e.g. to inspect a file transport in tests.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Status if the transport can read it, `None` for write-only transports.
    fn status_if_supported(&mut self) -> Result<Option<PrinterStatus>, PrinterError> {
        if self.transport.supports_status() {
            self.status().map(Some)
        } else {
            Ok(None)
        }
    }
}

impl<T: Transport> ReceiptPrinter for EscPosPrinter<T> {
    fn print(&mut self, doc: &PrintDocument) -> Result<PrintReport, PrinterError> {
        // Encode first: a bad document must not cost a status round trip or a partial job.
        let encoded = encode::encode(doc, &self.options)?;
        if !encoded.replaced.is_empty() {
            tracing::warn!(
                count = encoded.replaced.len(),
                chars = ?encoded.replaced,
                "receipt has characters the printer cannot print; printed as '?'"
            );
        }
        if let Some(before) = self.status_if_supported()? {
            if !before.can_print() {
                return Err(PrinterError::NotReady(before));
            }
        }
        self.transport.write_all(&encoded.bytes)?;
        let after = self.status_if_supported()?;
        if let Some(after) = after {
            if !after.can_print() {
                return Err(PrinterError::Interrupted(after));
            }
        }
        Ok(PrintReport {
            bytes_sent: encoded.bytes.len(),
            replaced: encoded.replaced,
            status_after: after,
        })
    }

    fn status(&mut self) -> Result<PrinterStatus, PrinterError> {
        self.transport.discard_input()?;
        self.transport.write_all(&status::query_bytes())?;
        let mut answers = [0u8; 4];
        self.transport
            .read_exact_timeout(&mut answers, self.status_timeout)?;
        Ok(status::parse_status(&answers)?)
    }

    fn open_drawer(&mut self, pulse: DrawerPulse) -> Result<(), PrinterError> {
        self.transport
            .write_all(&encode::drawer_pulse_bytes(&pulse))?;
        Ok(())
    }

    fn beep(&mut self, beep: Beep) -> Result<(), PrinterError> {
        self.transport.write_all(&encode::beep_bytes(&beep))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::doc::TextStyle;
    use super::transport::FileTransport;
    use super::*;

    fn doc() -> PrintDocument {
        let mut d = PrintDocument::new(PaperWidth::Mm58);
        d.text("Hello", TextStyle::plain());
        d
    }

    #[test]
    fn file_printer_writes_the_encoded_job() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        let mut pr = EscPosPrinter::new(
            FileTransport::create(&p).unwrap(),
            EncodeOptions::default(),
            Duration::from_millis(50),
        );
        let r = pr.print(&doc()).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.len(), r.bytes_sent);
        assert_eq!(
            bytes,
            encode::encode(&doc(), &EncodeOptions::default())
                .unwrap()
                .bytes
        );
        assert_eq!(r.status_after, None);
        pr.open_drawer(DrawerPulse::default()).unwrap();
        assert!(std::fs::read(&p)
            .unwrap()
            .ends_with(&[0x1B, 0x70, 0, 25, 250]));
    }

    #[test]
    fn paper_out_before_the_job_sends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        let a = dir.path().join("answers.bin");
        let out = PrinterStatus {
            online: false,
            paper_out: true,
            ..PrinterStatus::default()
        };
        std::fs::write(&a, out.answers()).unwrap();
        let mut pr = EscPosPrinter::new(
            FileTransport::create(&p)
                .unwrap()
                .with_status_answers(&a)
                .unwrap(),
            EncodeOptions::default(),
            Duration::from_millis(50),
        );
        let e = pr.print(&doc()).unwrap_err();
        assert!(matches!(e, PrinterError::NotReady(s) if s.paper_out));
        assert_eq!(e.to_string(), "printer not ready: paper out");
        // Only the status query went out.
        assert_eq!(std::fs::read(&p).unwrap(), status::query_bytes());
    }

    #[test]
    fn paper_running_out_during_the_job_is_an_interruption() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        let a = dir.path().join("answers.bin");
        let mut answers = PrinterStatus::ready().answers().to_vec();
        let out = PrinterStatus {
            online: false,
            paper_out: true,
            ..PrinterStatus::default()
        };
        answers.extend(out.answers());
        std::fs::write(&a, answers).unwrap();
        let mut pr = EscPosPrinter::new(
            FileTransport::create(&p)
                .unwrap()
                .with_status_answers(&a)
                .unwrap(),
            EncodeOptions::default(),
            Duration::from_millis(50),
        );
        let e = pr.print(&doc()).unwrap_err();
        assert!(matches!(e, PrinterError::Interrupted(_)), "{e}");
    }

    #[test]
    fn silent_printer_times_out_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("answers.bin");
        std::fs::write(&a, [0x12, 0x12]).unwrap();
        let mut pr = EscPosPrinter::new(
            FileTransport::create(&dir.path().join("o"))
                .unwrap()
                .with_status_answers(&a)
                .unwrap(),
            EncodeOptions::default(),
            Duration::from_millis(40),
        );
        let e = pr.status().unwrap_err();
        assert!(e.to_string().contains("did not answer within"), "{e}");
    }

    #[test]
    fn garbage_status_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("answers.bin");
        std::fs::write(&a, [0x12, 0xFF, 0x12, 0x12]).unwrap();
        let mut pr = EscPosPrinter::new(
            FileTransport::create(&dir.path().join("o"))
                .unwrap()
                .with_status_answers(&a)
                .unwrap(),
            EncodeOptions::default(),
            Duration::from_millis(40),
        );
        let e = pr.status().unwrap_err();
        assert!(matches!(e, PrinterError::Status(_)));
        assert!(e.to_string().contains("0xFF"), "{e}");
    }
}
