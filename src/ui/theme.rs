//! Sizes and styles shared by every screen: touch targets of at least
//! 48 px, large amounts, and light/dark themes.

use iced::widget::{button, container, text};
use iced::{Border, Color, Element, Length, Theme};

/// Smallest height of anything a finger must hit.
pub const TOUCH: f32 = 52.0;
pub const GAP: f32 = 8.0;
pub const PAD: f32 = 12.0;
pub const TEXT: f32 = 18.0;
pub const SMALL: f32 = 15.0;
pub const TITLE: f32 = 26.0;
pub const HUGE: f32 = 40.0;

/// The iced theme for the light/dark setting.
pub fn theme(dark: bool) -> Theme {
    if dark {
        Theme::Dark
    } else {
        Theme::Light
    }
}

/// A large touch button with a label.
pub fn big<'a, M: Clone + 'a>(label: String, msg: Option<M>) -> button::Button<'a, M> {
    button(
        container(text(label).size(TEXT))
            .center_y(Length::Fill)
            .center_x(Length::Fill),
    )
    .height(TOUCH)
    .padding([4, 12])
    .on_press_maybe(msg)
}

/// The main call to action (Pay, Log in, Confirm).
pub fn primary<'a, M: Clone + 'a>(label: String, msg: Option<M>) -> button::Button<'a, M> {
    big(label, msg).style(button::primary)
}

pub fn secondary<'a, M: Clone + 'a>(label: String, msg: Option<M>) -> button::Button<'a, M> {
    big(label, msg).style(button::secondary)
}

pub fn danger<'a, M: Clone + 'a>(label: String, msg: Option<M>) -> button::Button<'a, M> {
    big(label, msg).style(button::danger)
}

pub fn success<'a, M: Clone + 'a>(label: String, msg: Option<M>) -> button::Button<'a, M> {
    big(label, msg).style(button::success)
}

/// A titled panel with a border.
pub fn panel<'a, M: 'a>(content: impl Into<Element<'a, M>>) -> container::Container<'a, M> {
    container(content)
        .padding(PAD)
        .style(container::bordered_box)
}

pub fn title<'a>(s: String) -> text::Text<'a> {
    text(s).size(TITLE)
}

/// Red for errors, green for success, in either theme.
pub fn error_color() -> Color {
    Color::from_rgb8(0xC6, 0x28, 0x28)
}

pub fn ok_color() -> Color {
    Color::from_rgb8(0x2E, 0x7D, 0x32)
}

/// A notice band (error or information) across the screen.
pub fn notice<'a, M: 'a>(message: &str, is_error: bool) -> Element<'a, M> {
    let color = if is_error { error_color() } else { ok_color() };
    container(text(message.to_string()).size(TEXT).color(Color::WHITE))
        .padding([6, 12])
        .width(Length::Fill)
        .style(move |_t: &Theme| container::Style {
            background: Some(color.into()),
            border: Border::default().rounded(4),
            ..container::Style::default()
        })
        .into()
}

/// A button's label with the key that does the same (`Pay  F12`): one
/// format for every screen, so the keys read alike everywhere.
pub fn keyed(label: String, key: &str) -> String {
    format!("{label}  {key}")
}
