//! What the application does with each screen's event: which screen comes
//! next, which notice the cashier sees, what work follows.

use super::{print, status, App, Effects, Message, Screen};
use crate::effect::Effect;
use crate::screen::approval::{self, Pending};
use crate::screen::{
    cash, cashiers, login, parked, receipt, refund, reports, sale, settings, startup, tender,
};
use tillpoint_app::customer::CustomerView;
use tillpoint_app::service::CashMovement;
use tillpoint_core::cashier::Approval;
use tillpoint_core::money::Money;

impl App {
    /// Answers that change the sale or the books, when their screen is no
    /// longer the one showing (the cashier moved on, or the lock came):
    /// they are applied all the same and the cashier is told, so a parked
    /// sale does not stay on the counter, a resumed one is not lost, a
    /// scanned item is not dropped and a Z or a refund is not taken
    /// unseen. Anything else comes back to be routed as usual.
    #[allow(clippy::result_large_err)] // the message is handed back to route, not an error
    pub(super) fn late(&mut self, message: Message) -> Result<Effects, Message> {
        let locked = self.locked_over.is_some();
        let ctx = ctx!(self);
        match (message, &self.screen) {
            (Message::Sale(m @ (sale::Msg::Parked(_) | sale::Msg::Resolved(..))), screen)
                if !matches!(screen, Screen::Sale(_)) =>
            {
                let mut scratch = sale::State::default();
                let u = scratch.update(m, &mut self.sale, &mut self.shelf, &ctx);
                let mut fx = match u.event {
                    Some(e) => self.sale_event(e),
                    None => vec![],
                };
                if let Some((p, _)) = scratch.weighing {
                    // A weighed product needs the sale screen: scan it there.
                    self.error(
                        self.i18n
                            .tr_args(self.lang, "sale-weigh", &[("name", p.name)]),
                    );
                    fx.clear();
                }
                Ok(fx)
            }
            (Message::Parked(parked::Msg::Resumed(r)), screen)
                if !matches!(screen, Screen::Parked(_)) =>
            {
                Ok(match r {
                    Ok(s) if !locked => self.parked_event(parked::Event::Resumed(s)),
                    Ok(s) => {
                        self.sale = *s;
                        self.sale.cashier = self.cashier_no();
                        self.locked_over = Some(Box::new(Screen::Sale(sale::State::default())));
                        vec![]
                    }
                    Err(e) => self.error(e),
                })
            }
            (Message::Reports(m @ reports::Msg::Loaded(_)), screen)
                if !matches!(screen, Screen::Reports(_)) =>
            {
                let mut shown = reports::State::default();
                let u = shown.update(m);
                match &mut self.locked_over {
                    Some(covered) => **covered = Screen::Reports(shown),
                    None => self.screen = Screen::Reports(shown),
                }
                Ok(u.event.map(|e| self.reports_event(e)).unwrap_or_default())
            }
            (Message::Refund(m @ (refund::Msg::Refunded(_) | refund::Msg::Voided(_))), screen)
                if !matches!(screen, Screen::Refund(_)) =>
            {
                let mut scratch = refund::State::default();
                let u = scratch.update(m, &ctx);
                Ok(match u.event {
                    Some(refund::Event::Refunded(r)) if locked => {
                        let no = r.receipt_no.clone();
                        self.info(
                            self.i18n
                                .tr_args(self.lang, "refund-done", &[("number", no)]),
                        );
                        vec![]
                    }
                    Some(e) => self.refund_event(e),
                    None => vec![],
                })
            }
            (Message::Cash(m @ cash::Msg::Done(_)), screen)
                if !matches!(screen, Screen::Cash(_)) =>
            {
                let mut scratch = cash::State::default();
                let (cashier, currency) = (self.cashier_no(), self.currency);
                let u = scratch.update(m, cashier, currency, &ctx);
                Ok(match u.event {
                    Some(cash::Event::Done(kind)) if locked => {
                        self.info(self.t(done_text(kind)));
                        vec![]
                    }
                    Some(e) => self.cash_event(e),
                    None => vec![],
                })
            }
            (message, _) => Err(message),
        }
    }

    /// A worker died before it answered: the cashier is told, and a login
    /// waiting for it may be tried again.
    pub(super) fn worker_failed(&mut self) -> Effects {
        if let Screen::Login(s) = &mut self.screen {
            s.busy = false;
        }
        let mut fx = self.error(self.t("worker-failed"));
        fx.extend(self.refocus());
        fx
    }

    pub(super) fn startup_event(&mut self, e: startup::Event) -> Effects {
        match e {
            startup::Event::Checked(lines) => self.checked(lines),
            startup::Event::Approve(p) => self.ask(p),
            startup::Event::Continue => self.go(Screen::Login(login::State::default())),
        }
    }

    pub(super) fn login_event(&mut self, e: login::Event) -> Effects {
        match e {
            login::Event::LoggedIn(c) => {
                if let Some(covered) = self.locked_over.take() {
                    self.screen = *covered;
                    return match &self.screen {
                        Screen::Sale(_) => vec![Effect::Focus(sale::SCAN_ID)],
                        _ => vec![],
                    };
                }
                self.cashier = Some(c);
                let mut fx = self.new_sale();
                fx.extend(self.go(Screen::Sale(sale::State::default())));
                fx.push(sale::Shelf::load().map(Message::Sale));
                fx
            }
            login::Event::Failed(why) => self.error(why),
        }
    }

    pub(super) fn ask(&mut self, pending: Pending) -> Effects {
        let (state, focus) = approval::State::ask(pending);
        self.approval = Some(state);
        vec![focus.map(Message::Approval)]
    }

    pub(super) fn approval_event(&mut self, e: approval::Event) -> Effects {
        self.approval = None;
        match e {
            approval::Event::Cancelled => vec![],
            approval::Event::Approved(pending, ap) => self.approved(pending, ap),
        }
    }

    /// Carries out the action a supervisor approved, on the screen that
    /// asked; its answer comes back there.
    pub(super) fn approved(&mut self, pending: Pending, ap: Approval) -> Effects {
        let cashier = self.cashier_no();
        match pending {
            Pending::Override(line, price) => {
                if let Err(e) = self.sale.override_price(line, price, &ap) {
                    self.error(e.to_string());
                }
                vec![Effect::Focus(sale::SCAN_ID)]
            }
            Pending::Refund(receipt, picks) => {
                vec![refund::refund(receipt, picks, cashier, ap).map(Message::Refund)]
            }
            Pending::PostVoid(receipt) => vec![refund::post_void(receipt, ap).map(Message::Refund)],
            Pending::NoSale => vec![cash::no_sale(cashier, ap, self.currency).map(Message::Cash)],
            Pending::ZReport => vec![reports::z(ap).map(Message::Reports)],
            Pending::Settings(values) => vec![settings::save(values, ap).map(Message::Settings)],
            Pending::Change(change, ..) => {
                let ctx = ctx!(self);
                let u: crate::effect::Update<sale::Msg, sale::Event> =
                    sale::supervised(change, &mut self.sale, &ctx, Some(&ap));
                let mut fx = match u.event {
                    Some(e) => self.sale_event(e),
                    None => vec![],
                };
                fx.push(Effect::Focus(sale::SCAN_ID));
                fx
            }
            Pending::Integrity => vec![startup::acknowledge(ap).map(Message::Startup)],
            Pending::Cashiers(change) => vec![cashiers::apply(change, ap).map(Message::Cashiers)],
            Pending::CashOut(amount, reason) => {
                vec![cash::cash_out(amount, reason, cashier, ap).map(Message::Cash)]
            }
        }
    }

    pub(super) fn sale_event(&mut self, e: sale::Event) -> Effects {
        use sale::Nav;
        match e {
            sale::Event::Approve(p) => self.ask(p),
            sale::Event::Notice(n) => self.error(n),
            sale::Event::Parked(id) => {
                self.info(
                    self.i18n
                        .tr_args(self.lang, "parked-done", &[("id", id.to_string())]),
                );
                self.new_sale()
            }
            sale::Event::Go(nav) => match nav {
                Nav::Pay if !self.service.selling_hold().is_empty() => {
                    self.error(self.t("selling-held"))
                }
                Nav::Pay => {
                    let devices = tender::Devices {
                        terminal: self.service.has_devices(),
                        scans_codes: self.service.scans_payment_codes(),
                        pin_pad: self.service.has_pin_pad(),
                        demo: self.demo,
                        shows_codes: self.service.has_qr_gateway(),
                        contactless: self.service.takes_taps(),
                    };
                    self.go(Screen::Tender(tender::State::new(devices)))
                }
                Nav::Parked => {
                    let (s, fx) = parked::State::open();
                    self.open((Screen::Parked(s), vec![fx]), Message::Parked)
                }
                Nav::Refund => self.go(Screen::Refund(refund::State::default())),
                Nav::Cash => self.go(Screen::Cash(cash::State::default())),
                Nav::Reports => {
                    let (s, fx) = reports::State::open();
                    self.open((Screen::Reports(s), vec![fx]), Message::Reports)
                }
                Nav::Receipts => {
                    let (s, fx) = receipt::State::browse();
                    self.open((Screen::Receipt(s), fx), Message::Receipt)
                }
                Nav::Settings => self.go(Screen::Settings(self.settings.clone())),
                Nav::Help => self.go(Screen::Help),
                Nav::Lock => self.lock(),
                Nav::Logout => {
                    self.cashier = None;
                    self.go(Screen::Login(login::State::default()))
                }
                // The sale screen parks by itself.
                Nav::Park => vec![],
            },
        }
    }

    pub(super) fn tender_event(&mut self, e: tender::Event) -> Effects {
        match e {
            tender::Event::Completed(record, change) => {
                let paid = record
                    .tenders
                    .iter()
                    .fold(0i64, |a, t| a.saturating_add(t.amount.minor));
                let cur = record.currency;
                // The tenders hold what was applied; the customer handed
                // over that and the change.
                let change_back = change.unwrap_or(Money::zero(cur));
                let done = CustomerView::Done {
                    total: record.total,
                    paid: Money::new(paid.saturating_add(change_back.minor), cur),
                    change: change_back,
                };
                let change = change.map(|c| tillpoint_i18n::money(self.lang, c));
                let mut fx = self.new_sale();
                self.done = Some(done);
                self.done_at_ms = self.now_ms;
                fx.push(print(Some(record.clone())));
                let shown = receipt::State::of(*record, change);
                fx.extend(self.open((Screen::Receipt(shown.0), shown.1), Message::Receipt));
                fx
            }
            tender::Event::Back => self.go(Screen::Sale(sale::State::default())),
            tender::Event::Notice(n) => self.error(n),
        }
    }

    pub(super) fn receipt_event(&mut self, e: receipt::Event) -> Effects {
        match e {
            receipt::Event::NewSale => self.go(Screen::Sale(sale::State::default())),
            receipt::Event::Reprinted(no) => {
                self.info(
                    self.i18n
                        .tr_args(self.lang, "preview-reprinted", &[("number", no)]),
                );
                vec![print(None)]
            }
            receipt::Event::Notice(n) => self.error(n),
        }
    }

    pub(super) fn refund_event(&mut self, e: refund::Event) -> Effects {
        match e {
            refund::Event::Approve(p) => self.ask(p),
            refund::Event::Refunded(record) => {
                let no = record.receipt_no.clone();
                self.info(
                    self.i18n
                        .tr_args(self.lang, "refund-done", &[("number", no)]),
                );
                let shown = receipt::State::of(*record, None);
                let mut fx = self.open((Screen::Receipt(shown.0), shown.1), Message::Receipt);
                fx.push(status(self.lang));
                fx
            }
            refund::Event::Voided(no) => {
                self.info(
                    self.i18n
                        .tr_args(self.lang, "refund-voided-done", &[("number", no)]),
                );
                vec![]
            }
            refund::Event::Back => self.go(Screen::Sale(sale::State::default())),
            refund::Event::Notice(n) => self.error(n),
        }
    }

    pub(super) fn parked_event(&mut self, e: parked::Event) -> Effects {
        match e {
            parked::Event::Resumed(s) => {
                self.sale = *s;
                self.sale.cashier = self.cashier_no();
                self.go(Screen::Sale(sale::State::default()))
            }
            parked::Event::Back => self.go(Screen::Sale(sale::State::default())),
            parked::Event::Notice(n) => self.error(n),
        }
    }

    pub(super) fn cash_event(&mut self, e: cash::Event) -> Effects {
        match e {
            cash::Event::Approve(p) => self.ask(p),
            cash::Event::Done(kind) => {
                self.info(self.t(done_text(kind)));
                self.go(Screen::Sale(sale::State::default()))
            }
            cash::Event::Back => self.go(Screen::Sale(sale::State::default())),
            cash::Event::Notice(n) => self.error(n),
        }
    }

    pub(super) fn reports_event(&mut self, e: reports::Event) -> Effects {
        match e {
            reports::Event::Approve(p) => self.ask(p),
            reports::Event::Back => self.go(Screen::Sale(sale::State::default())),
            reports::Event::Notice(n) => self.error(n),
        }
    }

    pub(super) fn settings_event(&mut self, e: settings::Event) -> Effects {
        match e {
            settings::Event::Lang(l) => {
                self.lang = l;
                vec![]
            }
            settings::Event::Dark(d) => {
                self.dark = d;
                vec![]
            }
            settings::Event::Saved(warnings) => {
                if let Screen::Settings(s) = &self.screen {
                    self.settings = s.clone();
                }
                if warnings.is_empty() {
                    self.info(self.t("settings-saved"));
                } else {
                    let w = warnings.join("; ");
                    self.error(self.i18n.tr_args(
                        self.lang,
                        "settings-saved-warnings",
                        &[("warnings", w)],
                    ));
                }
                vec![Effect::call(|s| Message::Checked(s.check()))]
            }
            settings::Event::Approve(p) => self.ask(p),
            settings::Event::Info(i) => {
                self.info(i);
                vec![]
            }
            settings::Event::Notice(n) => self.error(n),
            settings::Event::Back => self.go(Screen::Sale(sale::State::default())),
            settings::Event::Cashiers => {
                let (s, fx) = cashiers::open();
                self.open((Screen::Cashiers(s), vec![fx]), Message::Cashiers)
            }
        }
    }

    pub(super) fn cashiers_event(&mut self, e: cashiers::Event) -> Effects {
        match e {
            cashiers::Event::Approve(p) => self.ask(p),
            cashiers::Event::Back => self.go(Screen::Settings(self.settings.clone())),
        }
    }
}

/// What the cashier is told when a cash movement is recorded.
fn done_text(kind: CashMovement) -> &'static str {
    match kind {
        CashMovement::In => "cash-in-done",
        CashMovement::Out => "cash-out-done",
        CashMovement::NoSale => "cash-no-sale-done",
    }
}
