//! Refunds and post-voids of card tenders, rung up on the till, reach the
//! acquirer host exactly once: the till's real SQLite database (sale engine
//! and acquirer session on the same file), the host simulator on loopback
//! with its own ledger. The till records first; the session then sends each
//! one as a referenced 0200 (no card data) after the advices queued before
//! it, and the host takes the account from its record of the original.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod acquirer_common;

use acquirer_common::Rig;
use tillpoint_app::till::store_settings;
use tillpoint_config::Config;
use tillpoint_core::cashier::{Action, Approval, Cashier, Role, Target};
use tillpoint_core::catalog::{Product, Qty, Unit};
use tillpoint_core::money::Money;
use tillpoint_core::sale::{PricingRules, Sale};
use tillpoint_core::tender::{mask_pan, CardRef, TenderKind};
use tillpoint_payment::acquirer::till_store::{offline_link, online_link};
use tillpoint_payment::acquirer::{
    AcquirerStore, InstructionOutcome, OnlineRequest, SettlementOutcome,
};
use tillpoint_payment::iso8583::messages::TxnKind;
use tillpoint_sim::acquirer::ledger::{TxnRow, TxnStatus};
use tillpoint_sim::acquirer::Fault;
use tillpoint_store::acquirer::CardLink;
use tillpoint_store::cashiers::Login;
use tillpoint_store::Store;

/// The till's sale engine on the rig's database file.
struct Books {
    store: Store,
    rules: PricingRules,
    clock_ms: i64,
}

fn supervisor() -> Cashier {
    Cashier {
        number: 2001,
        name: "Supervisor".into(),
        role: Role::Supervisor,
    }
}

impl Books {
    fn open(rig: &Rig) -> Books {
        let (config, _) = Config::parse("").unwrap();
        let mut store =
            Store::open(&rig.dir.path().join("till.db"), store_settings(&config)).unwrap();
        store.seed_cashiers(&[(supervisor(), "2468")], 0).unwrap();
        Books {
            store,
            rules: config.pricing.clone(),
            clock_ms: 1_790_000_000_000,
        }
    }

    fn now(&mut self) -> i64 {
        self.clock_ms += 60_000;
        self.clock_ms
    }

    /// The supervisor's approval, by her PIN, of `action` on `target`.
    fn approve(&mut self, action: Action, target: Target) -> Approval {
        let now = self.now();
        match self.store.login(2001, "2468", now).unwrap() {
            Login::Welcome(v) => v.approve(action, target).unwrap(),
            other => panic!("the supervisor's PIN: {other:?}"),
        }
    }

    /// A sale of `pieces` items at `unit` minor units, paid by `card`.
    fn sale(&self, unit: u64, pieces: i64, card: CardRef) -> Sale {
        let product = Product {
            sku: format!("SKU{unit}"),
            name: "item".into(),
            barcodes: vec![],
            price: Money::new(unit as i64, self.rules.currency),
            tax_class: self.rules.tax.rates[0].class.clone(),
            category: "test".into(),
            unit: Unit::Piece,
        };
        let mut sale = Sale::new(self.rules.currency, 1001);
        sale.add(&product, Qty::pieces(pieces)).unwrap();
        let due = sale.balance(&self.rules).unwrap();
        sale.pay_electronic(TenderKind::Card, due, card, &self.rules)
            .unwrap();
        sale
    }

    /// An online card sale: authorized by the host, then recorded with its
    /// confirmation in one transaction. Returns the receipt number.
    fn sell_online(&mut self, rig: &mut Rig, unit: u64, pieces: i64) -> String {
        let amount = unit * pieces as u64;
        let card = rig.card(amount, None);
        let auth = rig
            .session
            .authorize(&OnlineRequest::Purchase { amount, card })
            .unwrap();
        assert!(auth.approved(), "{:?}", auth.reply);
        let card = CardRef {
            masked_pan: mask_pan(acquirer_common::PAN),
            scheme: "Visa".into(),
            rrn: auth.reply.rrn.clone().unwrap_or_default(),
            auth_code: auth.reply.auth_code.clone().unwrap_or_default(),
            stan: auth.request.stan.to_string(),
            entry_mode: "chip".into(),
            ..CardRef::default()
        };
        let link = online_link(0, &auth).unwrap().unwrap();
        self.record(unit, pieces, card, link)
    }

    /// Writes the sale with its acquirer link in one transaction.
    fn record(&mut self, unit: u64, pieces: i64, card: CardRef, link: CardLink) -> String {
        let sale = self.sale(unit, pieces, card);
        let now = self.now();
        let done = self
            .store
            .complete_card_sale(&sale, &self.rules, now, 12, &[link])
            .unwrap();
        done.record.receipt_no
    }

    /// An offline (TC) card sale: its advice waits in the outbox.
    fn sell_offline(&mut self, rig: &mut Rig, unit: u64, pieces: i64) -> String {
        let amount = unit * pieces as u64;
        let offline = rig.offline_sale(TxnKind::Purchase, amount);
        let (item, capture) = rig.session.prepare_offline(&offline).unwrap();
        let card = CardRef {
            masked_pan: item.masked_pan.clone(),
            scheme: "Visa".into(),
            auth_code: item.auth_code.clone(),
            stan: item.stan.to_string(),
            entry_mode: "chip".into(),
            offline: true,
            ..CardRef::default()
        };
        let link = offline_link(0, &item, &capture).unwrap();
        self.record(unit, pieces, card, link)
    }

    /// Refunds `pieces` of line 1 of `receipt` to its card.
    fn refund(&mut self, receipt: &str, pieces: i64) -> String {
        let picks = [(1, Qty::pieces(pieces))];
        let approval = self.approve(
            Action::Refund,
            Target::Refund {
                receipt: receipt.to_owned(),
                picks: picks.iter().map(|(l, q)| (*l, q.milli())).collect(),
            },
        );
        let now = self.now();
        let done = self
            .store
            .complete_refund(receipt, &picks, &self.rules, 1001, &approval, now, 12)
            .unwrap();
        done.record.receipt_no
    }

    fn post_void(&mut self, receipt: &str) {
        let approval = self.approve(Action::PostVoid, Target::Receipt(receipt.to_owned()));
        let now = self.now();
        self.store.post_void(receipt, &approval, now).unwrap();
    }
}

fn approved(rows: &[TxnRow], proc_code: &str) -> Vec<TxnRow> {
    rows.iter()
        .filter(|r| r.proc_code == proc_code && r.status == TxnStatus::Approved)
        .cloned()
        .collect()
}

#[test]
fn refunds_and_post_voids_reach_the_host_once_after_the_advices() {
    let mut rig = Rig::new();
    let mut books = Books::open(&rig);
    let a = books.sell_online(&mut rig, 2000, 2);
    let b = books.sell_online(&mut rig, 2500, 1);
    let c = books.sell_offline(&mut rig, 900, 2);
    books.refund(&a, 1);
    books.post_void(&b);
    books.refund(&c, 2);

    // Nothing reached the host yet: the till recorded first.
    assert_eq!(rig.host_rows().len(), 2);
    let status = books
        .store
        .settlement_status(tillpoint_payment::iso8583::profile::processing::SETTLEMENT_KINDS)
        .unwrap();
    assert_eq!(status.refunds_voids_waiting, 3);
    assert_eq!(status.advices_waiting, 1);

    let report = rig.session.forward_pending(usize::MAX).unwrap();
    assert_eq!((report.delivered, report.refused), (4, 0), "{report:?}");
    assert_eq!(report.remaining, 0);

    let rows = rig.host_rows();
    let purchases = approved(&rows, "000000");
    let refunds = approved(&rows, "200000");
    // B is voided at the host; A and C stand, each with one refund.
    assert_eq!(purchases.len(), 2, "{rows:#?}");
    assert_eq!(refunds.len(), 2, "{rows:#?}");
    let voids = approved(&rows, "020000");
    assert_eq!(voids.len(), 1);
    assert_eq!(voids[0].amount, 2500);
    let original_of = |r: &TxnRow| rows.iter().find(|o| Some(o.id) == r.original_id).unwrap();
    assert_eq!(original_of(&voids[0]).status, TxnStatus::Voided);
    let mut refunded: Vec<(i64, i64, String)> = refunds
        .iter()
        .map(|r| {
            (
                r.amount,
                original_of(r).amount,
                original_of(r).source.clone(),
            )
        })
        .collect();
    refunded.sort();
    assert_eq!(
        refunded,
        vec![(1800, 1800, "advice".into()), (2000, 4000, "online".into())],
        "refund of C goes after C's advice; A is refunded half"
    );
    // The refund of C came after C's advice reached the host.
    let c_advice = rows.iter().find(|r| r.source == "advice").unwrap();
    let c_refund = refunds.iter().find(|r| r.amount == 1800).unwrap();
    assert!(c_refund.id > c_advice.id);

    // The till's batch agrees with the host: A, C, two credits; B voided.
    rig.assert_agree();
    let status = books
        .store
        .settlement_status(tillpoint_payment::iso8583::profile::processing::SETTLEMENT_KINDS)
        .unwrap();
    assert_eq!(status.refunds_voids_waiting, 0);
    assert_eq!(status.open_totals.debits_amount, 4000 + 1800);
    assert_eq!(status.open_totals.credits_amount, 2000 + 1800);

    // Delivering again sends nothing: exactly once.
    let again = rig.session.forward_pending(usize::MAX).unwrap();
    assert_eq!((again.delivered, again.remaining), (0, 0));
    assert_eq!(rig.host_rows().len(), rows.len());
    assert_eq!(
        rig.session.settle().unwrap().outcome,
        SettlementOutcome::Matched
    );
}

/// Whatever goes wrong with the answer to a refund (none, garbled,
/// truncated, the connection dropped after the request), the attempt is
/// reversed before the next one goes out, and the host ends up with
/// exactly one approved refund.
#[test]
fn a_refund_without_a_good_answer_is_reversed_before_it_is_sent_again() {
    for fault in [
        Fault::NoAnswer,
        Fault::Garble,
        Fault::Truncate,
        Fault::DropAfterRead,
    ] {
        let mut rig = Rig::new();
        let mut books = Books::open(&rig);
        let a = books.sell_online(&mut rig, 1500, 2);
        books.refund(&a, 1);

        rig.sim.faults().set_fault(fault, 1);
        let first = rig.session.deliver_instruction().unwrap();
        assert!(
            matches!(first, InstructionOutcome::Retry { .. }),
            "{fault:?}: {first:?}"
        );
        assert_eq!(
            books
                .store
                .settlement_status(
                    tillpoint_payment::iso8583::profile::processing::SETTLEMENT_KINDS
                )
                .unwrap()
                .refunds_voids_waiting,
            1,
            "{fault:?}: still owed"
        );
        // The next attempt delivers the reversal first, then a new request.
        let second = rig.session.deliver_instruction().unwrap();
        let InstructionOutcome::Delivered { stan, .. } = second else {
            panic!("{fault:?}: {second:?}");
        };
        let rows = rig.host_rows();
        let refunds = approved(&rows, "200000");
        assert_eq!(refunds.len(), 1, "{fault:?}: {rows:#?}");
        assert_eq!(refunds[0].amount, 1500);
        assert_eq!(refunds[0].stan, stan.to_string());
        if fault != Fault::DropAfterRead {
            // The first attempt reached the host's books and was reversed.
            assert!(
                rows.iter()
                    .any(|r| r.proc_code == "200000" && r.status == TxnStatus::Reversed),
                "{fault:?}: {rows:#?}"
            );
        }
        assert!(rig.store.pending_reversals().unwrap().is_empty());
        rig.assert_agree();
    }
}

#[test]
fn a_refund_the_host_refuses_is_kept_for_the_owner_and_not_retried() {
    let mut rig = Rig::new();
    let mut books = Books::open(&rig);
    let a = books.sell_online(&mut rig, 3000, 1);
    // Behind the till's back the host reverses A (as after a dispute).
    let a_stan = rig.store.batch_items(1).unwrap()[0]
        .original
        .stan
        .to_string();
    {
        let ledger = rig.sim.ledger().unwrap();
        let row = ledger
            .txns(acquirer_common::TID)
            .unwrap()
            .into_iter()
            .find(|r| r.stan == a_stan)
            .unwrap();
        drop(ledger);
        let mut ledger = rig.sim.ledger().unwrap();
        let tx = ledger.begin().unwrap();
        tx.mark_reversed(row.id, "test").unwrap();
        tx.commit().unwrap();
    }
    let refund = books.refund(&a, 1);
    let out = rig.session.deliver_instruction().unwrap();
    let InstructionOutcome::Refused { note, .. } = out else {
        panic!("{out:?}");
    };
    assert!(note.contains("12"), "{note}");
    let status = books
        .store
        .settlement_status(tillpoint_payment::iso8583::profile::processing::SETTLEMENT_KINDS)
        .unwrap();
    assert_eq!(
        (status.refunds_voids_waiting, status.refunds_voids_refused),
        (0, 1)
    );
    let db = tillpoint_store::acquirer::AcquirerDb::open(&rig.dir.path().join("till.db")).unwrap();
    let refused = db.refused_instructions().unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(books.store.refused_refunds_and_voids().unwrap(), 1);
    // The start-up self-check shows it to the cashier.
    let config_file = rig.dir.path().join("tillpoint.toml");
    std::fs::write(&config_file, "").unwrap();
    let till = tillpoint_app::till::Till::open(tillpoint_app::till::Paths {
        config_file,
        data_dir: rig.dir.path().to_path_buf(),
    })
    .unwrap();
    let line = tillpoint_app::check::run(&till)
        .into_iter()
        .find(|l| l.id == "card-returns")
        .expect("a self-check line");
    assert!(!line.ok && line.detail.starts_with("1 card"), "{line:?}");
    assert!(refused[0].1.contains(&refund), "{refused:?}");
    let sent = rig.host_rows().len();
    assert_eq!(
        rig.session.deliver_instruction().unwrap(),
        InstructionOutcome::Idle
    );
    assert_eq!(rig.host_rows().len(), sent, "not retried");
}

#[test]
fn a_post_void_after_settlement_becomes_a_refund() {
    let mut rig = Rig::new();
    let mut books = Books::open(&rig);
    let a = books.sell_online(&mut rig, 1200, 1);
    assert_eq!(
        rig.session.settle().unwrap().outcome,
        SettlementOutcome::Matched
    );
    // The till's day is still open (no Z yet), so the cashier may void.
    books.post_void(&a);
    let out = rig.session.deliver_instruction().unwrap();
    assert!(
        matches!(out, InstructionOutcome::Delivered { .. }),
        "{out:?}"
    );
    let rows = rig.host_rows();
    assert!(approved(&rows, "020000").is_empty());
    let refunds = approved(&rows, "200000");
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].amount, 1200);
    assert_eq!(refunds[0].batch, "000002");
    rig.assert_agree();
}

#[test]
fn an_unreadable_row_is_set_aside_and_the_next_refund_still_goes() {
    let mut rig = Rig::new();
    let mut books = Books::open(&rig);
    let a = books.sell_online(&mut rig, 1000, 2);
    {
        // A damaged row: its tender is not in the sale.
        let conn = rusqlite::Connection::open(rig.dir.path().join("till.db")).unwrap();
        conn.execute(
            "INSERT INTO outbox(sale_id, tender_idx, kind, created_at_ms)
             SELECT id, 99, 'refund', 0 FROM sales WHERE receipt_no = ?1",
            [&a],
        )
        .unwrap();
    }
    books.refund(&a, 1);
    let first = rig.session.deliver_instruction().unwrap();
    assert!(
        matches!(&first, InstructionOutcome::Refused { note, .. } if note.contains("unreadable")),
        "{first:?}"
    );
    let second = rig.session.deliver_instruction().unwrap();
    assert!(
        matches!(second, InstructionOutcome::Delivered { .. }),
        "{second:?}"
    );
    assert_eq!(approved(&rig.host_rows(), "200000").len(), 1);
}

/// A sale whose approval was recorded on its own (the session's immediate
/// mode: the capture is not linked to the sale) is still refunded against
/// the right capture: same STAN *and* the tender's RRN and auth code, not a
/// newer capture that happens to share the STAN (STANs wrap).
#[test]
fn an_unlinked_original_is_found_by_stan_rrn_and_auth_code() {
    let mut rig = Rig::new();
    let mut books = Books::open(&rig);
    let card = rig.card(1800, None);
    let auth = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 1800, card })
        .unwrap();
    rig.session.confirm(&auth).unwrap();
    // A later capture with the same STAN (after a wrap), another payment.
    let mut decoy = rig.store.batch_items(1).unwrap()[0].clone();
    decoy.amount = 999;
    decoy.original.transmitted =
        tillpoint_payment::iso8583::messages::Timestamp::new(1, 2, 3, 4, 5).unwrap();
    decoy.rrn = Some("000000099999".into());
    decoy.auth_code = Some("999999".into());
    rig.store.add_capture(&decoy).unwrap();
    let card = CardRef {
        masked_pan: mask_pan(acquirer_common::PAN),
        scheme: "Visa".into(),
        rrn: auth.reply.rrn.clone().unwrap_or_default(),
        auth_code: auth.reply.auth_code.clone().unwrap_or_default(),
        stan: auth.request.stan.to_string(),
        entry_mode: "chip".into(),
        ..CardRef::default()
    };
    let sale = books.sale(900, 2, card);
    let now = books.now();
    let receipt = books
        .store
        .complete_sale(&sale, &books.rules, now, 12, &[])
        .unwrap()
        .record
        .receipt_no;
    books.refund(&receipt, 1);
    let out = rig.session.deliver_instruction().unwrap();
    assert!(
        matches!(out, InstructionOutcome::Delivered { .. }),
        "{out:?}"
    );
    let rows = rig.host_rows();
    let refund = &approved(&rows, "200000")[0];
    assert_eq!(refund.amount, 900);
    let original = rows
        .iter()
        .find(|r| Some(r.id) == refund.original_id)
        .unwrap();
    assert_eq!(
        original.rrn, auth.reply.rrn,
        "refunded against the real original"
    );
}

on_cups_profile!(
    refunds_and_post_voids_reach_the_host_once_after_the_advices,
    a_refund_without_a_good_answer_is_reversed_before_it_is_sent_again,
    a_refund_the_host_refuses_is_kept_for_the_owner_and_not_retried,
    a_post_void_after_settlement_becomes_a_refund,
    an_unreadable_row_is_set_aside_and_the_next_refund_still_goes,
    an_unlinked_original_is_found_by_stan_rrn_and_auth_code,
);
