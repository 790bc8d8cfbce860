//! Delivery of the refunds and post-voids of card and QR tenders.
//!
//! The till records a refund or a post-void at once (the customer is at the
//! counter; the books must not wait for the host) and leaves one outbox row
//! per electronic tender. This module turns each row into a *referenced*
//! 0200, with no card data: processing code 20 (refund) or 02 (void), the
//! original capture named in field 90 and by its RRN and auth code. The
//! host takes the account from its record of the original.
//!
//! Rules, in the order they apply:
//!
//! * instructions go after every offline advice queued before them (the
//!   host must know an offline original before it can refund or void it),
//!   one at a time, in outbox order, and only when no reversal is owed;
//! * a post-void whose original is still in the open batch is a void; once
//!   that batch is settled it becomes a refund of the original's amount
//!   (the host cannot void what it has already paid out);
//! * every attempt is an ordinary online request ([`Session::authorize`]):
//!   its reversal is armed before it is sent, so an attempt that got no
//!   answer (timeout, dropped link, the till killed) is reversed before the
//!   next attempt goes out with a new STAN: the host books it at most once;
//! * an approval is recorded with its effect on the batch in one store
//!   transaction ([`AcquirerStore::instruction_done`]);
//! * a refusal (original not found, amount above what is left to refund)
//!   is kept with the host's reason for the shop owner, not retried;
//!   "try again" answers (91, 96) are retried like a dead link.

use super::session::{OnlineRequest, Session, SessionError};
use super::{AcquirerStore, Instruction};
use crate::iso8583::messages::{OriginalRef, Stan, TxnKind};
use crate::iso8583::profile::response;
use crate::iso8583::ReversalReason;

/// What one delivery step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstructionOutcome {
    /// No refund or void waits.
    Idle,
    /// The first one waits for offline advices queued before it.
    AfterAdvices { id: u64 },
    /// A card payment's approval is waiting for its sale; try again soon
    /// (not a link failure).
    Busy { id: u64 },
    /// The host approved it.
    Delivered {
        id: u64,
        stan: Stan,
        rrn: Option<String>,
    },
    /// The host refused it, or the till has nothing to refer it to; it is
    /// set aside with the reason.
    Refused { id: u64, note: String },
    /// The link failed or the host asked to try again; it stays first.
    Retry { id: u64, why: String },
}

/// Answers after which the same request may be tried again later.
fn try_again(code: &str) -> bool {
    matches!(
        code,
        response::ISSUER_UNAVAILABLE | response::SYSTEM_MALFUNCTION
    )
}

/// The message an instruction becomes, or why it cannot be sent.
fn request_for(i: &Instruction) -> Result<OnlineRequest, String> {
    if let Some(problem) = &i.problem {
        return Err(format!("{}: {problem}", i.receipt_no));
    }
    let Some(original) = &i.original else {
        return Err(format!(
            "{}: the till has no acquirer record of the original payment",
            i.receipt_no
        ));
    };
    if original.voided {
        return Err(format!(
            "{}: the original payment is already voided",
            i.receipt_no
        ));
    }
    let (kind, amount) = match i.kind {
        // A void cancels the whole original; after settlement it can only
        // be given back.
        TxnKind::VoidPurchase if original.batch == i.open_batch => {
            (TxnKind::VoidPurchase, original.amount)
        }
        TxnKind::VoidPurchase => (TxnKind::Refund, original.amount),
        other => (other, i.amount),
    };
    if amount == 0 {
        return Err(format!("{}: nothing to refund", i.receipt_no));
    }
    Ok(OnlineRequest::Referenced {
        kind,
        amount,
        original: OriginalRef {
            data: original.original,
            rrn: original.rrn.clone().unwrap_or_default(),
            auth_code: original.auth_code.clone().unwrap_or_default(),
        },
    })
}

impl<S: AcquirerStore> Session<S> {
    /// Delivers the first waiting refund or void, if its turn has come.
    pub fn deliver_instruction(&mut self) -> Result<InstructionOutcome, SessionError> {
        let Some(item) = self.store.instructions_pending(1)?.into_iter().next() else {
            return Ok(InstructionOutcome::Idle);
        };
        if self
            .store
            .outbox_pending(1)?
            .first()
            .is_some_and(|advice| advice.id < item.id)
        {
            return Ok(InstructionOutcome::AfterAdvices { id: item.id });
        }
        let request = match request_for(&item) {
            Ok(r) => r,
            Err(note) => {
                self.store.instruction_refused(item.id, &note)?;
                tracing::warn!(receipt = %item.receipt_no, %note, "refund or void set aside");
                return Ok(InstructionOutcome::Refused { id: item.id, note });
            }
        };
        self.store
            .instruction_attempt(item.id, item.attempts.saturating_add(1))?;
        let auth = match self.authorize(&request) {
            Ok(auth) => auth,
            Err(SessionError::Unconfirmed(_)) => {
                return Ok(InstructionOutcome::Busy { id: item.id })
            }
            Err(
                e @ (SessionError::Offline(_)
                | SessionError::NoAnswer { .. }
                | SessionError::ReversalPending { .. }
                | SessionError::Link(_)),
            ) => {
                return Ok(InstructionOutcome::Retry {
                    id: item.id,
                    why: e.to_string(),
                })
            }
            Err(e) => return Err(e),
        };
        let code = auth.reply.response_code.clone();
        let Some(change) = auth.capture_change() else {
            if try_again(&code) {
                return Ok(InstructionOutcome::Retry {
                    id: item.id,
                    why: format!("host answered {code} ({})", response::describe(&code)),
                });
            }
            let note = format!(
                "{}: the host refused it: {code} ({})",
                item.receipt_no,
                response::describe(&code)
            );
            self.store.instruction_refused(item.id, &note)?;
            tracing::warn!(receipt = %item.receipt_no, %code, "host refused a refund or void");
            return Ok(InstructionOutcome::Refused { id: item.id, note });
        };
        let recorded = self.store.instruction_done(
            item.id,
            auth.request.stan,
            &change,
            auth.reply.rrn.as_deref(),
            auth.reply.auth_code.as_deref(),
        );
        if let Err(e) = recorded {
            // Not recorded means not done: take the approval back so the
            // next attempt cannot make it two.
            tracing::error!(error = %e, "could not record an approved refund or void; reversing");
            let _ = self.reverse(&auth, ReversalReason::PowerLoss);
            return Err(e.into());
        }
        tracing::info!(receipt = %item.receipt_no, stan = %auth.request.stan, "refund or void delivered");
        Ok(InstructionOutcome::Delivered {
            id: item.id,
            stan: auth.request.stan,
            rrn: auth.reply.rrn.clone(),
        })
    }

    /// Delivers waiting refunds and voids until none is left, one must wait
    /// for advices, or one fails; returns (delivered, refused, why it
    /// stopped early).
    pub fn deliver_instructions(&mut self) -> Result<(usize, usize, Option<String>), SessionError> {
        let (mut delivered, mut refused) = (0, 0);
        loop {
            match self.deliver_instruction()? {
                InstructionOutcome::Idle => return Ok((delivered, refused, None)),
                InstructionOutcome::AfterAdvices { .. } => {
                    return Ok((
                        delivered,
                        refused,
                        Some("offline advices are still waiting".into()),
                    ))
                }
                InstructionOutcome::Busy { .. } => {
                    return Ok((
                        delivered,
                        refused,
                        Some("a card payment is waiting for its sale".into()),
                    ))
                }
                InstructionOutcome::Delivered { .. } => delivered += 1,
                InstructionOutcome::Refused { .. } => refused += 1,
                InstructionOutcome::Retry { why, .. } => {
                    return Ok((delivered, refused, Some(why)))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::messages::{OriginalData, Timestamp};
    use crate::iso8583::Mti;

    fn instruction(kind: TxnKind, batch: u32, open: u32) -> Instruction {
        Instruction {
            id: 4,
            kind,
            receipt_no: "T01-000009".into(),
            amount: 300,
            attempts: 0,
            original: Some(super::super::BatchItem {
                original: OriginalData {
                    mti: Mti::FINANCIAL_REQUEST,
                    stan: Stan::new(12).unwrap(),
                    transmitted: Timestamp::new(11, 21, 10, 0, 0).unwrap(),
                },
                kind: TxnKind::Purchase,
                amount: 1000,
                local: Timestamp::new(11, 21, 10, 0, 0).unwrap(),
                batch,
                rrn: Some("000000000031".into()),
                auth_code: Some("123456".into()),
                voided: false,
            }),
            open_batch: open,
            problem: None,
        }
    }

    fn kind_and_amount(r: &OnlineRequest) -> (TxnKind, u64) {
        match r {
            OnlineRequest::Referenced { kind, amount, .. } => (*kind, *amount),
            other => panic!("not referenced: {other:?}"),
        }
    }

    #[test]
    fn a_void_of_the_open_batch_voids_the_whole_original() {
        let r = request_for(&instruction(TxnKind::VoidPurchase, 3, 3)).unwrap();
        assert_eq!(kind_and_amount(&r), (TxnKind::VoidPurchase, 1000));
    }

    #[test]
    fn a_void_after_settlement_becomes_a_refund() {
        let r = request_for(&instruction(TxnKind::VoidPurchase, 2, 3)).unwrap();
        assert_eq!(kind_and_amount(&r), (TxnKind::Refund, 1000));
    }

    #[test]
    fn a_refund_sends_its_own_amount() {
        let r = request_for(&instruction(TxnKind::Refund, 2, 3)).unwrap();
        assert_eq!(kind_and_amount(&r), (TxnKind::Refund, 300));
    }

    #[test]
    fn nothing_to_refer_to_is_refused_with_the_receipt() {
        let mut i = instruction(TxnKind::Refund, 3, 3);
        i.original = None;
        assert!(request_for(&i).unwrap_err().contains("T01-000009"));
        let mut i = instruction(TxnKind::VoidPurchase, 3, 3);
        if let Some(o) = i.original.as_mut() {
            o.voided = true;
        }
        assert!(request_for(&i).unwrap_err().contains("already voided"));
        let mut i = instruction(TxnKind::Refund, 3, 3);
        i.problem = Some("unreadable: no sale or tender".into());
        assert!(request_for(&i).unwrap_err().contains("unreadable"));
    }
}
