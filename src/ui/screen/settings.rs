//! Settings: language and theme switch at once; shop details, devices and
//! the acquirer host are edited here and saved to the config file (comments
//! kept); the printer can be tested.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::theme;
use iced::keyboard::key::Named;
use iced::widget::{button, column, container, row, scrollable, text, text_input, Column};
use iced::{Alignment, Element, Length};
use tillpoint_i18n::Lang;

/// One editable setting: its label id, config section and key, and value.
/// Lists (address, footer) are edited as lines separated by " | ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub label: &'static str,
    pub section: &'static str,
    pub key: &'static str,
    pub value: String,
}

/// The fields the settings screen edits, in order.
pub const FIELDS: &[(&str, &str, &str)] = &[
    ("settings-shop-name", "shop", "name"),
    ("settings-shop-address", "shop", "address"),
    ("settings-shop-tax-id", "shop", "tax_id"),
    ("settings-printer-transport", "printer", "transport"),
    ("settings-printer-address", "printer", "address"),
    ("settings-printer-path", "printer", "path"),
    ("settings-printer-paper", "printer", "paper"),
    ("settings-reader-name", "reader", "name"),
    ("settings-pinpad-port", "pinpad", "port"),
    ("settings-acquirer-host", "acquirer", "host"),
];

/// What the settings screen shows and edits.
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub config_path: String,
    pub fields: Vec<Field>,
    pub dirty: bool,
}

impl Info {
    /// Reads the current values out of the configuration.
    pub fn from_config(c: &tillpoint_config::Config, config_path: String) -> Info {
        let fields = FIELDS
            .iter()
            .map(|(label, section, key)| {
                let value = match (*section, *key) {
                    ("shop", "name") => c.shop.name.clone(),
                    ("shop", "address") => c.shop.address.join(" | "),
                    ("shop", "tax_id") => c.shop.tax_id.clone(),
                    _ => c
                        .sections
                        .get(*section)
                        .and_then(|s| s.get(*key))
                        .map(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                        })
                        .unwrap_or_default(),
                };
                Field {
                    label,
                    section,
                    key,
                    value,
                }
            })
            .collect();
        Info {
            config_path,
            fields,
            dirty: false,
        }
    }

    /// The values to write, lists turned back into lines.
    pub fn to_save(&self) -> Vec<tillpoint_config::edit::Setting> {
        self.fields
            .iter()
            .map(|f| {
                let v = if f.key == "address" && f.section == "shop" {
                    f.value
                        .split('|')
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join("\n")
                        + "\n"
                } else {
                    f.value.clone()
                };
                (f.section.to_string(), f.key.to_string(), v)
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub enum Msg {
    Lang(Lang),
    Dark(bool),
    Edit(usize, String),
    Save,
    TestPrinter,
    Cashiers,
    Back,
    /// The settings were written: the warnings of reading them back.
    Saved(Result<Vec<String>, String>),
    /// The test page's outcome, in words.
    Printed(Result<String, String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Lang(Lang),
    Dark(bool),
    /// Saved; the self-check runs again with the new devices.
    Saved(Vec<String>),
    Info(String),
    Notice(String),
    Back,
    /// The cashiers screen (a manager's changes).
    Cashiers,
    /// Saving needs a manager's approval of these values.
    Approve(crate::screen::approval::Pending),
}

/// Saves `values` with the manager's approval; the answer comes back to
/// the settings screen.
pub fn save(
    values: Vec<tillpoint_config::edit::Setting>,
    approval: tillpoint_core::cashier::Approval,
) -> Effect<Msg> {
    Effect::call(move |s| Msg::Saved(s.save_settings(&values, &approval)))
}

impl Info {
    pub fn update(&mut self, msg: Msg) -> Update<Msg, Event> {
        match msg {
            Msg::Lang(l) => Update::event(Event::Lang(l)),
            Msg::Dark(d) => Update::event(Event::Dark(d)),
            Msg::Edit(i, v) => {
                if let Some(f) = self.fields.get_mut(i) {
                    f.value = v;
                    self.dirty = true;
                }
                Update::none()
            }
            // Enter in a field with nothing changed saves nothing.
            Msg::Save if !self.dirty => Update::none(),
            Msg::Save => Update::event(Event::Approve(crate::screen::approval::Pending::Settings(
                self.to_save(),
            ))),
            Msg::TestPrinter => Update::effect(Effect::call(|s| Msg::Printed(s.test_print()))),
            Msg::Back => Update::event(Event::Back),
            Msg::Cashiers => Update::event(Event::Cashiers),
            Msg::Saved(Ok(warnings)) => {
                self.dirty = false;
                Update::event(Event::Saved(warnings))
            }
            Msg::Printed(Ok(words)) => Update::event(Event::Info(words)),
            Msg::Saved(Err(e)) | Msg::Printed(Err(e)) => Update::event(Event::Notice(e)),
        }
    }
}

/// The keys of the screen (the fields keep the focus, Enter in any of
/// them saves): F2 the other language, F3 the other theme, F4 a test page
/// on the printer, F5 the cashiers.
pub fn key(k: Named, lang: Lang, dark: bool) -> Option<Msg> {
    match k {
        Named::F2 => Some(Msg::Lang(match lang {
            Lang::En => Lang::Zh,
            Lang::Zh => Lang::En,
        })),
        Named::F3 => Some(Msg::Dark(!dark)),
        Named::F4 => Some(Msg::TestPrinter),
        Named::F5 => Some(Msg::Cashiers),
        _ => None,
    }
}

pub fn view<'a>(info: &'a Info, ctx: &Ctx<'_>, dark: bool) -> Element<'a, Msg> {
    let choice = |label: String, selected: bool, msg: Msg| {
        let b = theme::big(label, Some(msg)).width(Length::Fill);
        if selected {
            b.style(button::primary)
        } else {
            b.style(button::secondary)
        }
    };
    let mut fields = Column::new().spacing(6);
    for (i, f) in info.fields.iter().enumerate() {
        fields = fields.push(
            row![
                text(ctx.t(f.label)).size(theme::TEXT).width(260),
                text_input(&format!("[{}] {}", f.section, f.key), &f.value)
                    .on_input(move |s| Msg::Edit(i, s))
                    .on_submit(Msg::Save)
                    .size(theme::TEXT)
                    .padding(10),
            ]
            .spacing(theme::GAP)
            .align_y(Alignment::Center),
        );
    }
    let actions = row![
        theme::primary(
            theme::keyed(ctx.t("settings-save"), "Enter"),
            info.dirty.then_some(Msg::Save)
        )
        .width(Length::Fill),
        theme::secondary(
            theme::keyed(ctx.t("settings-test-printer"), "F4"),
            Some(Msg::TestPrinter)
        )
        .width(Length::Fill),
        theme::secondary(
            theme::keyed(ctx.t("settings-cashiers"), "F5"),
            Some(Msg::Cashiers)
        )
        .width(Length::Fill),
        theme::secondary(ctx.t("common-back"), Some(Msg::Back)).width(Length::Fill),
    ]
    .spacing(theme::GAP);
    let col = column![
        theme::title(ctx.t("settings-title")),
        actions,
        row![
            column![
                text(theme::keyed(ctx.t("settings-language"), "F2")).size(theme::TEXT),
                row![
                    choice("English".into(), ctx.lang == Lang::En, Msg::Lang(Lang::En)),
                    choice("简体中文".into(), ctx.lang == Lang::Zh, Msg::Lang(Lang::Zh)),
                ]
                .spacing(theme::GAP),
            ]
            .spacing(4)
            .width(Length::Fill),
            column![
                text(theme::keyed(ctx.t("settings-theme"), "F3")).size(theme::TEXT),
                row![
                    choice(ctx.t("settings-light"), !dark, Msg::Dark(false)),
                    choice(ctx.t("settings-dark"), dark, Msg::Dark(true)),
                ]
                .spacing(theme::GAP),
            ]
            .spacing(4)
            .width(Length::Fill),
        ]
        .spacing(16),
        text(ctx.t("settings-devices")).size(theme::TEXT),
        theme::panel(fields).width(Length::Fill),
        text(ctx.ta(
            "settings-config-file",
            &[("path", info.config_path.clone())]
        ))
        .size(theme::SMALL),
    ]
    .spacing(theme::GAP)
    .max_width(1000);
    container(scrollable(col))
        .center_x(Length::Fill)
        .padding(theme::PAD)
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_mark_the_form_dirty_until_saved() {
        let (config, _) = tillpoint_config::Config::parse("[shop]\nname = \"A\"\n").unwrap();
        let mut s = Info::from_config(&config, "t.toml".into());
        assert_eq!(s.fields[0].value, "A");
        s.update(Msg::Edit(0, "B".into()));
        assert!(s.dirty);
        assert_eq!(s.to_save()[0], ("shop".into(), "name".into(), "B".into()));
        let u = s.update(Msg::Save);
        assert!(
            u.effects.is_empty(),
            "nothing is written before a manager approves"
        );
        assert!(
            matches!(&u.event, Some(Event::Approve(crate::screen::approval::Pending::Settings(v))) if v == &s.to_save())
        );
        let u = s.update(Msg::Saved(Ok(vec![])));
        assert_eq!(u.event, Some(Event::Saved(vec![])));
        assert!(!s.dirty);
        assert_eq!(
            s.update(Msg::Lang(Lang::Zh)).event,
            Some(Event::Lang(Lang::Zh))
        );
        let u = s.update(Msg::Printed(Err("printer: offline".into())));
        assert_eq!(u.event, Some(Event::Notice("printer: offline".into())));
    }
}
