//! ESC/POS printer emulator: a parser written from the command reference (independent of
//! `devices::printer`, so the two check each other), a renderer that draws receipts the way a
//! 203 dpi thermal head would, and a TCP 9100 server that answers status requests and can
//! simulate paper out or an open cover.

pub mod parse;
pub mod render;
pub mod server;

pub use parse::{parse, Item, ParseError, Parser};
pub use render::{render, split_receipts, Fonts, Paper, RenderError, Rendered};
pub use server::{
    run_printer_sim, Faults, PrinterSim, SimControl, SimError, SimHandle, SimState, SimStats,
};

/// Renders a complete ESC/POS stream to one picture per receipt; what the GUI's receipt
/// preview calls with the encoder's output.
pub fn render_stream(
    bytes: &[u8],
    paper: Paper,
    fonts: &Fonts,
) -> Result<Vec<Rendered>, PreviewError> {
    let items = parse(bytes)?;
    split_receipts(&items)
        .iter()
        .map(|r| render(r, paper, fonts).map_err(PreviewError::from))
        .collect()
}

/// Why a preview could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The bytes are not valid ESC/POS (for this emulator).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Drawing failed.
    #[error(transparent)]
    Render(#[from] RenderError),
}
