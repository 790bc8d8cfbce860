//! A large numeric keypad for touch screens (keys at least 48 px).

use crate::theme;
use iced::widget::{column, row};
use iced::{Element, Length};

/// Digits 1–9, 0, backspace, clear and enter; `labels` are the enter,
/// clear and backspace captions in the cashier's language.
pub fn view<'a, M: Clone + 'a>(
    digit: impl Fn(char) -> M,
    backspace: M,
    clear: M,
    enter: M,
    labels: [&str; 3],
) -> Element<'a, M> {
    let [enter_label, clear_label, back_label] = labels;
    let key = |label: String, msg: M| {
        theme::secondary(label, Some(msg))
            .width(Length::Fill)
            .height(64)
    };
    let digits = |a: char, b: char, c: char| {
        row![
            key(a.to_string(), digit(a)),
            key(b.to_string(), digit(b)),
            key(c.to_string(), digit(c))
        ]
        .spacing(theme::GAP)
    };
    column![
        digits('1', '2', '3'),
        digits('4', '5', '6'),
        digits('7', '8', '9'),
        row![
            key(clear_label.to_string(), clear),
            key("0".into(), digit('0')),
            key(back_label.to_string(), backspace)
        ]
        .spacing(theme::GAP),
        theme::primary(enter_label.to_string(), Some(enter))
            .width(Length::Fill)
            .height(64),
    ]
    .spacing(theme::GAP)
    .into()
}
