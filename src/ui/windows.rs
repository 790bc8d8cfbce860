//! The till's windows: the cashier's and, on dual-screen registers, the
//! customer's. `[ui]` in tillpoint.toml places them:
//!
//! ```toml
//! [ui]                      # the cashier's window
//! position = [0, 0]         # kiosk: exactly here, borderless, instead of full screen
//! size = [1280, 800]
//!
//! [ui.customer]             # the customer display
//! open = true               # default: only in the demo
//! lang = "zh-CN"            # the customer's language (default: the cashier's)
//! position = [1280, 0]      # where the second monitor starts on the desktop
//!                           # (default: the screen's bottom right corner)
//! size = [1024, 600]
//! fullscreen = true         # kiosk: full screen on the monitor at `position`
//! ```
//!
//! A monitor is chosen by position: X and Wayland lay their monitors side
//! by side on one desktop, so `position` names the monitor as well as the
//! place on it.

use iced::window::{Position, Settings};
use iced::{Point, Size};
use serde::Deserialize;
use tillpoint_i18n::Lang;

/// `[ui]`: where the cashier's window goes, and the customer's.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    pub position: Option<[i32; 2]>,
    pub size: Option<[u32; 2]>,
    pub customer: CustomerWindow,
}

/// `[ui.customer]`: the customer-facing window.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CustomerWindow {
    /// Whether it opens; unset: in the demo only (a shop's till may have
    /// no second screen).
    pub open: Option<bool>,
    /// "en-US" or "zh-CN"; unset: the cashier's language.
    pub lang: Option<String>,
    pub position: Option<[i32; 2]>,
    pub size: [u32; 2],
    /// In kiosk mode: full screen on the monitor holding `position`
    /// (false: borderless at exactly `position` and `size`).
    pub fullscreen: bool,
}

impl Default for CustomerWindow {
    fn default() -> Self {
        // The common 10.1-inch customer display is 1024×600.
        CustomerWindow {
            open: None,
            lang: None,
            position: None,
            size: [1024, 600],
            fullscreen: true,
        }
    }
}

/// The cashier window's default size.
pub const CASHIER_SIZE: [u32; 2] = [1280, 800];

impl UiConfig {
    pub fn from_config(config: &tillpoint_config::Config) -> UiConfig {
        // Unreadable keys fall back to their defaults; the self-check and
        // the log report config warnings where the file is read.
        config.section("ui", &mut Vec::new())
    }

    /// The cashier's window: full screen in kiosk mode unless it is placed.
    pub fn cashier(&self, kiosk: bool) -> Settings {
        let placed = kiosk && self.position.is_some();
        Settings {
            size: size(self.size.unwrap_or(CASHIER_SIZE)),
            position: position(self.position),
            fullscreen: kiosk && !placed,
            decorations: !kiosk,
            exit_on_close_request: !kiosk,
            ..Settings::default()
        }
    }

    /// Whether the customer's window opens.
    pub fn opens_customer(&self, demo: bool) -> bool {
        self.customer.open.unwrap_or(demo)
    }

    /// The customer's language: its own, else the cashier's.
    pub fn customer_lang(&self, cashier: Lang) -> Lang {
        self.customer
            .lang
            .as_deref()
            .map_or(cashier, Lang::from_code)
    }

    /// The customer's window. It is never closed by a customer: in kiosk
    /// mode a close request is the till's (a manager's) to grant.
    pub fn customer(&self, kiosk: bool) -> Settings {
        let c = &self.customer;
        Settings {
            size: size(c.size),
            // Unplaced, it keeps to the screen's bottom right corner, clear
            // of the cashier's window on a screen wide enough for both.
            position: c
                .position
                .map_or(Position::SpecificWith(bottom_right), |p| position(Some(p))),
            fullscreen: kiosk && c.fullscreen,
            decorations: !kiosk,
            exit_on_close_request: !kiosk,
            ..Settings::default()
        }
    }
}

fn bottom_right(window: Size, monitor: Size) -> Point {
    Point::new(
        (monitor.width - window.width).max(0.0),
        (monitor.height - window.height).max(0.0),
    )
}

fn size([w, h]: [u32; 2]) -> Size {
    Size::new(w.max(320) as f32, h.max(240) as f32)
}

fn position(p: Option<[i32; 2]>) -> Position {
    p.map_or(Position::Default, |[x, y]| {
        Position::Specific(Point::new(x as f32, y as f32))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ui(toml: &str) -> UiConfig {
        let (c, _) = tillpoint_config::Config::parse(toml).expect("parses");
        UiConfig::from_config(&c)
    }

    #[test]
    fn the_customer_window_opens_in_the_demo_unless_told_otherwise() {
        let none = ui("");
        assert!(none.opens_customer(true));
        assert!(!none.opens_customer(false));
        let off = ui("[ui.customer]\nopen = false\n");
        assert!(!off.opens_customer(true));
        let on = ui("[ui.customer]\nopen = true\n");
        assert!(on.opens_customer(false));
    }

    #[test]
    fn the_customer_may_read_another_language() {
        assert_eq!(ui("").customer_lang(Lang::En), Lang::En);
        let zh = ui("[ui.customer]\nlang = \"zh-CN\"\n");
        assert_eq!(zh.customer_lang(Lang::En), Lang::Zh);
    }

    #[test]
    fn kiosk_windows_are_placed_or_full_screen() {
        let placed = ui("[ui]\nposition = [0, 0]\nsize = [1280, 800]\n\
             [ui.customer]\nposition = [1280, 0]\nsize = [1024, 800]\nfullscreen = false\n");
        let cashier = placed.cashier(true);
        assert!(!cashier.fullscreen && !cashier.decorations);
        assert!(matches!(cashier.position, Position::Specific(p) if p == Point::ORIGIN));
        let customer = placed.customer(true);
        assert!(!customer.fullscreen && !customer.decorations);
        assert_eq!(customer.size, Size::new(1024.0, 800.0));
        assert!(matches!(customer.position, Position::Specific(p) if p.x == 1280.0));
        assert!(
            !customer.exit_on_close_request,
            "kiosk windows close by a manager"
        );

        let plain = ui("");
        assert!(
            plain.cashier(true).fullscreen,
            "an unplaced kiosk window fills its screen"
        );
        assert!(plain.customer(true).fullscreen);
        assert!(!plain.cashier(false).fullscreen && plain.cashier(false).decorations);
        assert!(plain.customer(false).exit_on_close_request);
        let Position::SpecificWith(place) = plain.customer(false).position else {
            panic!("an unplaced customer window keeps to a corner")
        };
        let at = place(Size::new(1024.0, 600.0), Size::new(2304.0, 800.0));
        assert_eq!(
            at,
            Point::new(1280.0, 200.0),
            "beside a 1280-wide cashier window"
        );
    }

    #[test]
    fn a_bad_key_keeps_the_rest() {
        let c = ui("[ui.customer]\nsize = [800, 480]\n");
        assert_eq!(c.customer.size, [800, 480]);
        let bad = ui("[ui]\nposition = \"left\"\n[ui.customer]\nlang = \"zh-CN\"\n");
        assert_eq!(bad.position, None);
        assert_eq!(bad.customer.lang.as_deref(), Some("zh-CN"));
    }
}
