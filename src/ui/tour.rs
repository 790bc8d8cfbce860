//! Scripted walks through the screens, for screenshots and tests: each is a
//! list of the same messages a cashier's clicks and keys produce.

use super::app::{App, Message, Screen};
use super::screen::{cashiers, login, receipt, refund, reports, sale, settings, startup, tender};
use std::collections::VecDeque;

impl App {
    /// Handles a message and every job it leads to, to completion, on this
    /// thread (the window runs the same jobs on a worker thread).
    pub fn drive(&mut self, message: Message) {
        let mut queue = VecDeque::from([message]);
        while let Some(m) = queue.pop_front() {
            for e in self.handle(m) {
                let service = self.service.clone();
                e.perform(&service, &mut |m| queue.push_back(m));
            }
        }
    }
}

fn keys(s: &str) -> Vec<Message> {
    s.chars()
        .map(|c| Message::Login(login::Msg::Key(c)))
        .collect()
}

fn scan(code: &str) -> Vec<Message> {
    vec![
        Message::Sale(sale::Msg::Entry(code.into())),
        Message::Sale(sale::Msg::Submit),
    ]
}

/// Screens the tour can show.
pub const SCREENS: &[&str] = &[
    "startup", "login", "sale", "weigh", "tender", "receipt", "refund", "parked", "cash",
    "reports", "settings", "cashiers", "approval", "help",
];

/// The messages that lead from start-up to `screen` with sample content.
pub fn script(screen: &str) -> Option<Vec<Message>> {
    let mut m = vec![];
    if screen == "startup" {
        return Some(m);
    }
    m.push(Message::Startup(startup::Msg::Continue));
    if screen == "login" {
        m.extend(keys("1001"));
        return Some(m);
    }
    m.extend(keys("1001"));
    m.push(Message::Login(login::Msg::Submit));
    m.extend(keys("1234"));
    m.push(Message::Login(login::Msg::Submit));
    // Three items: two by barcode, one weighed by its in-store label.
    m.extend(scan("6930181590837"));
    m.extend(scan("00010"));
    m.extend(scan("00010"));
    m.extend(scan("2300001012506"));
    match screen {
        "sale" => {}
        "weigh" => m.extend(scan("00170")),
        "tender" => m.push(Message::Sale(sale::Msg::Go(sale::Nav::Pay))),
        "receipt" | "refund" | "reports" => {
            m.push(Message::Sale(sale::Msg::Go(sale::Nav::Pay)));
            if screen == "reports" {
                // Part by card (the demo card that approves offline, no
                // PIN), so the report has card money to show.
                m.push(Message::Tender(tender::Msg::Part("20".into())));
                m.push(Message::Tender(tender::Msg::Profile(
                    "offline-approve".into(),
                )));
                m.push(Message::Tender(tender::Msg::Card));
            }
            m.push(Message::Tender(tender::Msg::Note(10_000)));
            match screen {
                "refund" => {
                    m.push(Message::Receipt(receipt::Msg::NewSale));
                    m.push(Message::Sale(sale::Msg::Go(sale::Nav::Refund)));
                    m.push(Message::Refund(refund::Msg::Lookup("T01-000001".into())));
                    m.push(Message::Refund(refund::Msg::Find));
                    m.push(Message::Refund(refund::Msg::Inc(2)));
                }
                "reports" => {
                    m.push(Message::Receipt(receipt::Msg::NewSale));
                    m.push(Message::Sale(sale::Msg::Go(sale::Nav::Reports)));
                    m.push(Message::Reports(reports::Msg::X));
                }
                _ => {}
            }
        }
        "parked" => {
            m.push(Message::Sale(sale::Msg::Go(sale::Nav::Park)));
            m.extend(scan("6930181590837"));
            m.push(Message::Sale(sale::Msg::Go(sale::Nav::Park)));
            m.push(Message::Sale(sale::Msg::Go(sale::Nav::Parked)));
        }
        "cash" => m.push(Message::Sale(sale::Msg::Go(sale::Nav::Cash))),
        "settings" => m.push(Message::Sale(sale::Msg::Go(sale::Nav::Settings))),
        "cashiers" | "approval" => {
            m.push(Message::Sale(sale::Msg::Go(sale::Nav::Settings)));
            m.push(Message::Settings(settings::Msg::Cashiers));
            m.push(Message::Cashiers(cashiers::Msg::Number("1002".into())));
            m.push(Message::Cashiers(cashiers::Msg::Name("李娜 Li Na".into())));
            m.push(Message::Cashiers(cashiers::Msg::Role(
                tillpoint_core::cashier::Role::Supervisor,
            )));
            if screen == "approval" {
                // The new PIN, then Save: the manager's approval is asked for.
                m.push(Message::Cashiers(cashiers::Msg::Pin("135791".into())));
                m.push(Message::Cashiers(cashiers::Msg::Save));
            }
        }
        "help" => m.push(Message::Sale(sale::Msg::Go(sale::Nav::Help))),
        _ => return None,
    }
    Some(m)
}

/// The state of the screen on show, when it is that screen (for tests and
/// screenshots that look at what a screen holds).
impl App {
    pub fn startup(&self) -> Option<&startup::State> {
        match &self.screen {
            Screen::Startup(s) => Some(s),
            _ => None,
        }
    }

    pub fn login(&self) -> Option<&login::State> {
        match &self.screen {
            Screen::Login(s) => Some(s),
            _ => None,
        }
    }

    pub fn sale_screen(&self) -> Option<&sale::State> {
        match &self.screen {
            Screen::Sale(s) => Some(s),
            _ => None,
        }
    }

    pub fn tender(&self) -> Option<&tender::State> {
        match &self.screen {
            Screen::Tender(s) => Some(s),
            _ => None,
        }
    }

    pub fn receipt(&self) -> Option<&receipt::State> {
        match &self.screen {
            Screen::Receipt(s) => Some(s),
            _ => None,
        }
    }

    pub fn refund(&self) -> Option<&refund::State> {
        match &self.screen {
            Screen::Refund(s) => Some(s),
            _ => None,
        }
    }

    pub fn reports(&self) -> Option<&reports::State> {
        match &self.screen {
            Screen::Reports(s) => Some(s),
            _ => None,
        }
    }

    /// Runs `effects` as the window would, feeding their answers back.
    pub fn perform(&mut self, effects: Vec<crate::effect::Effect<Message>>) {
        for e in effects {
            let service = self.service.clone();
            let mut answers = Vec::new();
            e.perform(&service, &mut |m| answers.push(m));
            for m in answers {
                self.drive(m);
            }
        }
    }
}
