//! The status bar on every screen: who is logged in, whether the acquirer
//! link is up, what waits for it, each configured device's state from the
//! last self-check, why receipts are not printing, what waits for head
//! office, and the time.

use crate::ctx::Ctx;
use crate::theme;
use iced::widget::{container, row, text};
use iced::{Alignment, Element, Length};
use tillpoint_app::check::CheckLine;
use tillpoint_app::headoffice::HeadOfficeStatus;
use tillpoint_app::service::TillStatus;
use tillpoint_core::cashier::Cashier;

/// What the status bar shows.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub pending_outbox: i64,
    /// Waiting longer than the acquirer allows: shown in the error colour.
    pub overdue_outbox: i64,
    pub queued_prints: i64,
    /// Why receipts are not printing, in the cashier's words.
    pub print_problem: Option<String>,
    pub online: bool,
    /// The demo's simulated network: `Some(false)` while taken down.
    pub demo_link: Option<bool>,
    /// The last self-check's lines (the devices' marks).
    pub checks: Vec<CheckLine>,
    /// What waits for head office; `None` when the till is not enrolled.
    pub head_office: Option<HeadOfficeStatus>,
}

impl Status {
    /// The service's latest figures; the link's state only when known.
    pub fn update(&mut self, s: TillStatus) {
        if let Some(up) = s.online {
            self.online = up;
        }
        self.pending_outbox = s.pending_outbox;
        self.overdue_outbox = s.overdue_outbox;
        self.queued_prints = s.queued_prints;
        self.print_problem = s.print_problem;
        self.demo_link = s.demo_link;
        self.head_office = s.head_office;
    }

    /// Each configured device with a mark from the last self-check
    /// ("Printer ✓ · PIN pad ✗"); the demo's simulated devices say so.
    fn devices(&self, ctx: &Ctx<'_>, simulated: bool) -> String {
        if simulated {
            return ctx.t("status-devices-sim");
        }
        let parts: Vec<String> = self
            .checks
            .iter()
            .filter(|l| {
                matches!(
                    l.id,
                    "printer" | "reader" | "pinpad" | "acquirer" | "scale" | "display"
                )
            })
            .map(|l| {
                format!(
                    "{} {}",
                    ctx.t(&format!("check-{}", l.id)),
                    if l.ok { "✓" } else { "✗" }
                )
            })
            .collect();
        if parts.is_empty() {
            ctx.t("status-devices-none")
        } else {
            parts.join(" · ")
        }
    }
}

/// The bar; `simulated` when the demo's simulators are the devices.
pub fn view<'a, M: 'a>(
    ctx: &Ctx<'_>,
    status: &Status,
    cashier: Option<&Cashier>,
    simulated: bool,
) -> Element<'a, M> {
    let who = match cashier {
        Some(c) => ctx.ta(
            "status-cashier",
            &[("name", c.name.clone()), ("number", c.number.to_string())],
        ),
        None => ctx.t("status-nobody"),
    };
    let link = match (status.online, status.demo_link) {
        (_, Some(false)) => ctx.t("status-demo-link-down"),
        (true, _) => ctx.t("status-online"),
        (false, _) => ctx.t("status-offline"),
    };
    let sync = ctx.ta(
        "status-waiting",
        &[("count", status.pending_outbox.max(0).to_string())],
    );
    // Head office only when the till is enrolled: what waits for it, and
    // in the error colour when it cannot be reached.
    let head_office = status.head_office.as_ref().map(|h| {
        let words = ctx.ta("status-head-office", &[("count", h.waiting.to_string())]);
        (words, h.problem.is_some())
    });
    let devices = status.devices(ctx, simulated);
    let prints = match (&status.print_problem, status.queued_prints) {
        (Some(p), _) => format!("· {p}"),
        (None, n) if n > 0 => ctx.ta("status-prints", &[("count", n.to_string())]),
        _ => String::new(),
    };
    let mut r = row![
        text(who).size(theme::SMALL).width(Length::FillPortion(3)),
        text(format!("{link} · {sync}"))
            .size(theme::SMALL)
            .width(Length::FillPortion(3)),
        text(format!("{devices} {prints}"))
            .size(theme::SMALL)
            .width(Length::FillPortion(3)),
        text(ctx.datetime(ctx.now_ms)).size(theme::SMALL),
    ]
    .spacing(theme::GAP)
    .align_y(Alignment::Center);
    if let Some((words, trouble)) = head_office {
        let t = text(words).size(theme::SMALL);
        r = r.push(if trouble {
            t.color(theme::error_color())
        } else {
            t
        });
    }
    if status.overdue_outbox > 0 {
        r = r.push(
            text(ctx.ta(
                "status-overdue",
                &[("count", status.overdue_outbox.to_string())],
            ))
            .size(theme::SMALL)
            .color(theme::error_color()),
        );
    }
    if ctx.demo {
        r = r.push(
            text(ctx.t("status-demo"))
                .size(theme::SMALL)
                .color(theme::error_color()),
        );
    }
    container(r)
        .padding([4, 8])
        .style(container::rounded_box)
        .width(Length::Fill)
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_state_changes_only_when_known() {
        let mut s = Status {
            online: true,
            ..Status::default()
        };
        s.update(TillStatus {
            online: None,
            pending_outbox: 2,
            overdue_outbox: 1,
            queued_prints: 1,
            print_problem: Some("paper out".into()),
            demo_link: None,
            head_office: Some(HeadOfficeStatus {
                waiting: 7,
                problem: Some("head office is not reachable".into()),
            }),
        });
        assert_eq!(s.head_office.as_ref().map(|h| h.waiting), Some(7));
        assert!(s.online, "a busy link says nothing");
        assert_eq!((s.pending_outbox, s.queued_prints), (2, 1));
        assert_eq!(s.overdue_outbox, 1);
        s.update(TillStatus {
            online: Some(false),
            ..TillStatus::default()
        });
        assert!(!s.online && s.print_problem.is_none());
        let ctx = Ctx::for_tests();
        s.checks = vec![CheckLine {
            id: "printer",
            ok: false,
            detail: String::new(),
            action: String::new(),
        }];
        assert!(s.devices(&ctx, false).contains('✗'));
        assert_eq!(s.devices(&ctx, true), ctx.t("status-devices-sim"));
    }
}
