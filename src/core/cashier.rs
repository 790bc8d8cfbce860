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
}

impl Action {
    /// The lowest role allowed to take this action: the one place this rule lives.
    pub fn required_role(self) -> Role {
        match self {
            Action::Refund
            | Action::PostVoid
            | Action::PriceOverride
            | Action::NoSale
            | Action::ZReport => Role::Supervisor,
            Action::ManageCashiers | Action::ChangeSettings => Role::Manager,
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
        }
    }
}

/// Proof that a person with enough authority approved one action.
///
/// It can only be made by [`authorize`], and every supervisor operation takes
/// one, so forgetting the check is a compile error rather than a hole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    approver: u32,
    action: Action,
}

impl Approval {
    pub fn approver(&self) -> u32 {
        self.approver
    }

    pub fn action(&self) -> Action {
        self.action
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

/// Checks that `who` (already authenticated by PIN) may take `action`.
pub fn authorize(who: &Cashier, action: Action) -> Result<Approval, PermissionDenied> {
    let needed = action.required_role();
    if who.role >= needed {
        Ok(Approval {
            approver: who.number,
            action,
        })
    } else {
        Err(PermissionDenied {
            who: who.name.clone(),
            role: who.role.as_str(),
            action: action.as_str(),
            needed: needed.as_str(),
        })
    }
}

/// Checks that an approval is for the action about to be taken, so an
/// approval given for a price override cannot authorise a refund.
pub fn require(approval: &Approval, action: Action) -> Result<(), PermissionDenied> {
    if approval.action == action {
        Ok(())
    } else {
        Err(PermissionDenied {
            who: format!("approval by {}", approval.approver),
            role: approval.action.as_str(),
            action: action.as_str(),
            needed: "separate approval",
        })
    }
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
        ] {
            assert!(authorize(&c(Role::Cashier), a).is_err(), "{a:?}");
            assert!(authorize(&c(Role::Supervisor), a).is_ok(), "{a:?}");
            assert!(authorize(&c(Role::Manager), a).is_ok(), "{a:?}");
        }
        assert!(authorize(&c(Role::Supervisor), Action::ManageCashiers).is_err());
    }

    #[test]
    fn approval_is_bound_to_its_action() {
        let ap = authorize(&c(Role::Supervisor), Action::PriceOverride).unwrap();
        assert!(require(&ap, Action::PriceOverride).is_ok());
        assert!(require(&ap, Action::Refund).is_err());
    }
}
