//! Cashiers, their roles, and the permission check behind every supervisor action.

use serde::{Deserialize, Serialize};

/// A cashier as the till knows them (the PIN hash stays in the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cashier {
    /// The number typed at login; also printed on receipts.
    pub number: u32,
    pub name: String,
    pub role: Role,
}

/// Ordered by authority: a manager may do all a supervisor may, and more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Cashier,
    Supervisor,
    Manager,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Cashier => "cashier",
            Role::Supervisor => "supervisor",
            Role::Manager => "manager",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cashier" => Some(Role::Cashier),
            "supervisor" => Some(Role::Supervisor),
            "manager" => Some(Role::Manager),
            _ => None,
        }
    }
}

/// The actions that need more than a cashier's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Refund,
    PostVoid,
    PriceOverride,
    NoSale,
    ZReport,
    ManageCashiers,
    /// Changing the till's settings from the window (shop details,
    /// printer, reader, PIN pad, acquirer host).
    ChangeSettings,
    /// A line or sale discount over the shop's `[policy]` limit.
    Discount,
    /// Voiding a line of a sale that is already partly paid.
    LineVoid,
    /// Taking more cash out of the drawer than `[policy]` lets a cashier.
    CashOut,
    /// Going on selling after the start-up check found the till's records
    /// altered or damaged (the check goes on saying so).
    AcknowledgeIntegrity,
}

impl Action {
    /// The lowest role allowed to take this action: the one place this rule lives.
    pub fn required_role(self) -> Role {
        match self {
            Action::Refund
            | Action::PostVoid
            | Action::PriceOverride
            | Action::NoSale
            | Action::ZReport
            | Action::Discount
            | Action::LineVoid
            | Action::CashOut => Role::Supervisor,
            Action::ManageCashiers | Action::ChangeSettings | Action::AcknowledgeIntegrity => {
                Role::Manager
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Refund => "refund",
            Action::PostVoid => "post_void",
            Action::PriceOverride => "price_override",
            Action::NoSale => "no_sale",
            Action::ZReport => "z_report",
            Action::ManageCashiers => "manage_cashiers",
            Action::ChangeSettings => "change_settings",
            Action::Discount => "discount",
            Action::LineVoid => "line_void",
            Action::CashOut => "cash_out",
            Action::AcknowledgeIntegrity => "acknowledge_integrity",
        }
    }
}

/// The one thing an approval is for, as the approver saw it: an approval
/// for a 5.00 cash out does not cover a 500.00 one, and an approval to
/// refund one receipt does not refund another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The till as a whole: a no-sale, a Z report, the settings.
    Till,
    /// A completed sale, by receipt number: its post-void.
    Receipt(String),
    /// A refund of these lines and quantities (thousandths) of a receipt.
    Refund {
        receipt: String,
        picks: Vec<(u32, i64)>,
    },
    /// A line of the sale in progress and the amount in minor units the
    /// approver agreed to: a price override's new unit price or a voided
    /// line's value.
    Line { line_no: u32, minor: i64 },
    /// A discount on a line (`None`: on the whole sale in progress), as
    /// `10%` or an amount in minor units.
    Discount { line_no: Option<u32>, off: String },
    /// Cash taken out of the drawer, in minor units.
    CashOut { minor: i64 },
    /// A cashier number being created, changed or unlocked.
    Cashier(u32),
}

/// Proof that a person with enough authority approved one action on one
/// target.
///
/// It has no public fields and no `Deserialize`: it can only be made by
/// [`Verified::approve`](crate::credential::Verified::approve), that is by a
/// PIN that just matched, and every supervisor operation takes one and
/// checks it with [`require`], so forgetting the check is a compile error
/// rather than a hole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    approver: u32,
    action: Action,
    target: Target,
}

impl Approval {
    pub(crate) fn grant(approver: u32, action: Action, target: Target) -> Approval {
        Approval {
            approver,
            action,
            target,
        }
    }

    pub fn approver(&self) -> u32 {
        self.approver
    }

    pub fn action(&self) -> Action {
        self.action
    }

    pub fn target(&self) -> &Target {
        &self.target
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{who} ({role}) may not {action}: it needs a {needed}")]
pub struct PermissionDenied {
    pub who: String,
    pub role: &'static str,
    pub action: &'static str,
    pub needed: &'static str,
}

/// Checks that an approval is for the action about to be taken and the
/// very target it is taken on, so an approval given for a price override
/// cannot authorise a refund, nor one refund another.
pub fn require(
    approval: &Approval,
    action: Action,
    target: &Target,
) -> Result<(), PermissionDenied> {
    if approval.action != action {
        return Err(PermissionDenied {
            who: format!("approval by {}", approval.approver),
            role: approval.action.as_str(),
            action: action.as_str(),
            needed: "separate approval",
        });
    }
    if approval.target != *target {
        return Err(PermissionDenied {
            who: format!("approval by {}", approval.approver),
            role: approval.action.as_str(),
            action: action.as_str(),
            needed: "approval of what is being done now",
        });
    }
    Ok(())
}

/// An approval for core's and its users' unit tests, as if `who` had just
/// typed their PIN.
#[cfg(test)]
pub(crate) fn approval_for_test(
    who: &Cashier,
    action: Action,
    target: Target,
) -> Result<Approval, PermissionDenied> {
    crate::credential::verified_for_test(who.clone()).approve(action, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(role: Role) -> Cashier {
        Cashier {
            number: 7,
            name: "Ann".into(),
            role,
        }
    }

    #[test]
    fn every_supervisor_action_is_refused_to_a_cashier() {
        for a in [
            Action::Refund,
            Action::PostVoid,
            Action::PriceOverride,
            Action::NoSale,
            Action::ZReport,
            Action::Discount,
            Action::LineVoid,
            Action::CashOut,
        ] {
            assert!(
                approval_for_test(&c(Role::Cashier), a, Target::Till).is_err(),
                "{a:?}"
            );
            assert!(
                approval_for_test(&c(Role::Supervisor), a, Target::Till).is_ok(),
                "{a:?}"
            );
            assert!(
                approval_for_test(&c(Role::Manager), a, Target::Till).is_ok(),
                "{a:?}"
            );
        }
        assert!(
            approval_for_test(&c(Role::Supervisor), Action::ManageCashiers, Target::Till).is_err()
        );
    }

    #[test]
    fn approval_is_bound_to_its_action() {
        let line = Target::Line {
            line_no: 2,
            minor: 150,
        };
        let ap =
            approval_for_test(&c(Role::Supervisor), Action::PriceOverride, line.clone()).unwrap();
        assert!(require(&ap, Action::PriceOverride, &line).is_ok());
        assert!(require(&ap, Action::Refund, &line).is_err());
    }

    #[test]
    fn approval_is_bound_to_its_target() {
        let ap = approval_for_test(
            &c(Role::Supervisor),
            Action::PriceOverride,
            Target::Line {
                line_no: 2,
                minor: 150,
            },
        )
        .unwrap();
        for other in [
            Target::Line {
                line_no: 2,
                minor: 15,
            },
            Target::Line {
                line_no: 3,
                minor: 150,
            },
            Target::Till,
        ] {
            assert!(
                require(&ap, Action::PriceOverride, &other).is_err(),
                "{other:?}"
            );
        }
    }
}
