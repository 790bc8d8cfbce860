//! What the customer sees: the window's state as one [`CustomerView`],
//! sent to the customer-facing devices whenever it changes.

use super::{App, Message, Screen};
use crate::screen::customer;
use iced::Element;
use tillpoint_app::customer::{CardPrompt, CustomerView};
use tillpoint_core::money::Money;
use tillpoint_core::tender::TenderKind;

impl App {
    /// What the customer sees of the counter now.
    pub fn customer_view(&self) -> CustomerView {
        let total = || {
            self.totals()
                .map_or(Money::zero(self.currency), |t| t.total)
        };
        if self.sale.live_lines().next().is_none() {
            return match &self.done {
                Some(d) => d.clone(),
                None => CustomerView::Idle {
                    shop: self.shop.clone(),
                },
            };
        }
        if let Screen::Tender(t) = &self.screen {
            if let Some(p) = &t.progress {
                let prompt = match (p.kind, p.step, p.approved) {
                    (_, _, Some(true)) => CardPrompt::Approved,
                    (_, _, Some(false)) => CardPrompt::Declined,
                    (TenderKind::Qr, ..) => CardPrompt::Qr,
                    (_, 0, None) => CardPrompt::InsertOrTap,
                    (_, 1, None) => CardPrompt::EnterPin,
                    _ => CardPrompt::Processing,
                };
                return CustomerView::Card {
                    prompt,
                    amount: p.amount,
                };
            }
            return CustomerView::Paying {
                total: total(),
                due: self.balance(),
            };
        }
        let last = self
            .sale
            .live_lines()
            .last()
            .map(|l| (l.name.clone(), l.unit_price));
        CustomerView::Sale {
            last,
            total: total(),
        }
    }
}

impl App {
    /// The customer display window, in the customer's language.
    pub fn customer_window(&self) -> Element<'_, Message> {
        let mut ctx = self.ctx();
        ctx.lang = self.customer_lang;
        let code = match &self.screen {
            Screen::Tender(t) => t.shown.as_ref().map(|(_, data)| data.as_ref()),
            _ => None,
        };
        let counter = customer::Counter {
            shop: &self.shop,
            sale: &self.sale,
            totals: self.totals(),
            code,
            pole: self.demo_pole.as_ref(),
        };
        customer::view(&ctx, &self.customer_view(), counter)
    }

    /// The customer window's title: always names the till and the customer
    /// display (the kiosk script and a window manager's rules find it so).
    pub fn customer_title(&self) -> String {
        self.i18n.tr(self.customer_lang, "customer-title")
    }
}
