//! Keyboard shortcuts and demo rules.

use crate::ctx::Ctx;
use crate::theme;
use iced::widget::{column, container, row, text, Column};
use iced::{Element, Length};

/// The shortcut table: key and message id of what it does. The app's key
/// handling and this table are checked against each other in a test.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("F1", "nav-help"),
    ("F2", "help-search"),
    ("F4", "nav-park"),
    ("F5", "nav-parked"),
    ("F6", "nav-refund"),
    ("F7", "nav-cash"),
    ("F8", "nav-reports"),
    ("F9", "nav-settings"),
    ("F10", "nav-lock"),
    ("F11", "nav-receipts"),
    ("F12", "nav-pay"),
    ("Esc", "help-back"),
];

/// Keys on the sale and payment screens, and in every form.
pub const SCREEN_KEYS: &[(&str, &str)] = &[
    ("Tab", "help-tab"),
    ("Enter", "help-enter"),
    ("3*", "help-times"),
    ("↑ ↓", "help-lines"),
    ("F3", "help-sale-discount"),
    ("Shift+F3", "help-line-discount"),
    ("Ctrl+F3", "help-line-price"),
    ("F3 / F2", "help-pay-card-qr"),
    ("1–9", "help-pay-app"),
];

/// The keys of the other screens, one line each (their buttons show them
/// too).
pub const OTHER_SCREENS: &[&str] = &[
    "help-on-refund",
    "help-on-parked",
    "help-on-cash",
    "help-on-reports",
    "help-on-settings",
    "help-on-cashiers",
];

pub fn view<'a, M: Clone + 'a>(ctx: &Ctx<'_>, back: M) -> Element<'a, M> {
    let mut keys = Column::new().spacing(6);
    for (key, id) in SHORTCUTS {
        keys = keys.push(row![
            text(*key).size(theme::TEXT).width(100),
            text(ctx.t(id)).size(theme::TEXT)
        ]);
    }
    let mut more = Column::new().spacing(6);
    for (key, id) in SCREEN_KEYS {
        more = more.push(row![
            text(*key).size(theme::TEXT).width(100),
            text(ctx.t(id)).size(theme::TEXT)
        ]);
    }
    // The scanner, the other screens and the demo, in small print: the
    // whole page fits an 800-pixel-high till screen in both languages.
    let mut notes = Column::new().spacing(4);
    let mut lines: Vec<&str> = vec!["help-scanner"];
    lines.extend(OTHER_SCREENS);
    if ctx.demo {
        lines.push("help-demo");
    }
    for id in lines {
        notes = notes.push(text(ctx.t(id)).size(theme::SMALL));
    }
    let col = column![
        row![
            theme::title(ctx.t("help-title")).width(Length::Fill),
            theme::secondary(ctx.t("common-back"), Some(back)).width(160),
        ]
        .align_y(iced::Alignment::Center),
        row![
            theme::panel(keys).width(Length::FillPortion(1)),
            theme::panel(more).width(Length::FillPortion(2))
        ]
        .spacing(theme::GAP),
        theme::panel(notes).width(Length::Fill),
    ]
    .spacing(theme::GAP);
    container(col.max_width(1240))
        .center_x(Length::Fill)
        .padding(theme::PAD)
        .into()
}
