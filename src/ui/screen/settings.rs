//! Settings: language and theme switch at once; devices, acquirer and shop
//! details are shown from the config file, and the printer can be tested.

use crate::i18n::Lang;
use crate::ui::ctx::Ctx;
use crate::ui::theme;
use iced::widget::{button, column, container, row, scrollable, text, Column};
use iced::{Element, Length};

/// What the settings screen shows of the configuration.
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub config_path: String,
    pub shop: Vec<String>,
    pub devices: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Lang(Lang),
    Dark(bool),
    TestPrinter,
    Back,
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
    let mut devices = Column::new().spacing(4);
    for (k, v) in &info.devices {
        devices = devices.push(row![
            text(ctx.t(k)).size(theme::TEXT).width(220),
            text(v.clone()).size(theme::TEXT)
        ]);
    }
    let mut shop = Column::new().spacing(2);
    for l in &info.shop {
        shop = shop.push(text(l.clone()).size(theme::TEXT));
    }
    let col = column![
        theme::title(ctx.t("settings-title")),
        text(ctx.t("settings-language")).size(theme::TEXT),
        row![
            choice("English".into(), ctx.lang == Lang::En, Msg::Lang(Lang::En)),
            choice("简体中文".into(), ctx.lang == Lang::Zh, Msg::Lang(Lang::Zh)),
        ]
        .spacing(theme::GAP),
        text(ctx.t("settings-theme")).size(theme::TEXT),
        row![
            choice(ctx.t("settings-light"), !dark, Msg::Dark(false)),
            choice(ctx.t("settings-dark"), dark, Msg::Dark(true)),
        ]
        .spacing(theme::GAP),
        text(ctx.t("settings-devices")).size(theme::TEXT),
        theme::panel(devices).width(Length::Fill),
        text(ctx.t("settings-shop")).size(theme::TEXT),
        theme::panel(shop).width(Length::Fill),
        text(ctx.ta(
            "settings-config-file",
            &[("path", info.config_path.clone())]
        ))
        .size(theme::SMALL),
        row![
            theme::secondary(ctx.t("settings-test-printer"), Some(Msg::TestPrinter))
                .width(Length::Fill),
            theme::secondary(ctx.t("common-back"), Some(Msg::Back)).width(Length::Fill),
        ]
        .spacing(theme::GAP),
    ]
    .spacing(theme::GAP)
    .max_width(800);
    container(scrollable(col))
        .center_x(Length::Fill)
        .padding(theme::PAD)
        .into()
}
