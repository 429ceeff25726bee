//! The tenant state machine (DESIGN.md "Provisioning") and the one function that decides which
//! transitions are legal.
//!
//! Provisioning moves forward one Fly resource at a time, `pending → app_created →
//! volume_created → machine_created → ready`, so a crash between two steps leaves a state that
//! says exactly what exists and what to do next. Around that line: `suspended` (an operator
//! switched the tenant off), `failed` (a step failed for a reason retrying will not fix),
//! `deleting` and the terminal `deleted`.

use std::fmt;
use std::str::FromStr;

/// Where a tenant is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantState {
    /// Known, nothing created on Fly yet.
    Pending,
    /// The Fly app exists.
    AppCreated,
    /// The app and its `/data` volume exist.
    VolumeCreated,
    /// The app, volume and machine exist; the machine has not been seen started yet.
    MachineCreated,
    /// Fully provisioned: requests are replayed to the tenant's app.
    Ready,
    /// Switched off by an operator: requests are refused with 403.
    Suspended,
    /// A provisioning step failed for a reason retrying will not fix; see `last_error`.
    Failed,
    /// The tenant's Fly app is being deleted.
    Deleting,
    /// The tenant's Fly app is gone. Terminal.
    Deleted,
}

impl TenantState {
    /// Every state, in life-cycle order.
    pub const ALL: [TenantState; 9] = [
        TenantState::Pending,
        TenantState::AppCreated,
        TenantState::VolumeCreated,
        TenantState::MachineCreated,
        TenantState::Ready,
        TenantState::Suspended,
        TenantState::Failed,
        TenantState::Deleting,
        TenantState::Deleted,
    ];

    /// The name stored in the database and shown in logs, metrics and the admin API.
    pub const fn as_str(self) -> &'static str {
        match self {
            TenantState::Pending => "pending",
            TenantState::AppCreated => "app_created",
            TenantState::VolumeCreated => "volume_created",
            TenantState::MachineCreated => "machine_created",
            TenantState::Ready => "ready",
            TenantState::Suspended => "suspended",
            TenantState::Failed => "failed",
            TenantState::Deleting => "deleting",
            TenantState::Deleted => "deleted",
        }
    }

    /// Whether the reconciler still has provisioning work to do in this state.
    pub const fn is_provisioning(self) -> bool {
        matches!(
            self,
            TenantState::Pending
                | TenantState::AppCreated
                | TenantState::VolumeCreated
                | TenantState::MachineCreated
        )
    }

    /// Whether the reconciler has work to do in this state: provisioning, or deleting.
    pub const fn has_work(self) -> bool {
        self.is_provisioning() || matches!(self, TenantState::Deleting)
    }

    /// The next state on the provisioning line, if this state is on it.
    pub const fn next_provisioning_step(self) -> Option<TenantState> {
        match self {
            TenantState::Pending => Some(TenantState::AppCreated),
            TenantState::AppCreated => Some(TenantState::VolumeCreated),
            TenantState::VolumeCreated => Some(TenantState::MachineCreated),
            TenantState::MachineCreated => Some(TenantState::Ready),
            _ => None,
        }
    }
}

impl fmt::Display for TenantState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`TenantState::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown tenant state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for TenantState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// A transition [`check_transition`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tenant cannot go from `{from}` to `{to}`")]
pub struct IllegalTransition {
    /// The state the tenant is in.
    pub from: TenantState,
    /// The state that was asked for.
    pub to: TenantState,
}

/// Whether a tenant may go from `from` to `to`.
///
/// * Provisioning moves one step forward at a time; skipping a step would lose track of a
///   resource, so it is refused.
/// * Any live state may fail (`failed`) or start deletion (`deleting`); only `ready` may be
///   suspended, because a half-provisioned tenant has nothing to suspend.
/// * `failed` returns to a provisioning state (an operator's retry resumes where the work
///   stopped) and `suspended` returns to `ready`; the store checks that it is the recorded one.
/// * `deleting` ends in `deleted`, which is terminal. Staying in the same state is not a
///   transition.
pub fn check_transition(from: TenantState, to: TenantState) -> Result<(), IllegalTransition> {
    use TenantState::*;
    let legal = match (from, to) {
        (from, to) if from == to => false,
        (Deleted, _) => false,
        (Deleting, to) => to == Deleted,
        (_, Deleting) => true,
        (from, Failed) => from.is_provisioning() || from == Ready,
        (from, to) if from.is_provisioning() => from.next_provisioning_step() == Some(to),
        (Ready, Suspended) => true,
        (Suspended, Ready) => true,
        (Failed, to) => to.is_provisioning(),
        _ => false,
    };
    if legal {
        Ok(())
    } else {
        Err(IllegalTransition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::TenantState::*;
    use super::*;

    #[test]
    fn provisioning_moves_one_step_at_a_time() {
        let line = [Pending, AppCreated, VolumeCreated, MachineCreated, Ready];
        for pair in line.windows(2) {
            assert_eq!(check_transition(pair[0], pair[1]), Ok(()));
        }
        // Skipping a step would lose track of a Fly resource; going back would repeat one.
        assert!(check_transition(Pending, VolumeCreated).is_err());
        assert!(check_transition(AppCreated, Ready).is_err());
        assert!(check_transition(MachineCreated, AppCreated).is_err());
        assert!(check_transition(Ready, Pending).is_err());
    }

    #[test]
    fn only_ready_tenants_can_be_suspended_and_they_resume_to_ready() {
        assert_eq!(check_transition(Ready, Suspended), Ok(()));
        assert_eq!(check_transition(Suspended, Ready), Ok(()));
        for from in [Pending, AppCreated, VolumeCreated, MachineCreated, Failed] {
            assert!(
                check_transition(from, Suspended).is_err(),
                "{from} → suspended"
            );
        }
        assert!(check_transition(Suspended, Pending).is_err());
    }

    #[test]
    fn failed_tenants_retry_into_a_provisioning_state_only() {
        for from in [Pending, AppCreated, VolumeCreated, MachineCreated, Ready] {
            assert_eq!(check_transition(from, Failed), Ok(()), "{from} → failed");
        }
        assert_eq!(check_transition(Failed, VolumeCreated), Ok(()));
        assert!(check_transition(Failed, Ready).is_err());
        assert!(check_transition(Suspended, Failed).is_err());
    }

    #[test]
    fn deletion_is_reachable_from_every_live_state_and_deleted_is_terminal() {
        for from in TenantState::ALL {
            let expected = !matches!(from, Deleting | Deleted);
            assert_eq!(check_transition(from, Deleting).is_ok(), expected, "{from}");
        }
        assert_eq!(check_transition(Deleting, Deleted), Ok(()));
        assert!(check_transition(Deleting, Ready).is_err());
        for to in TenantState::ALL {
            assert!(check_transition(Deleted, to).is_err(), "deleted → {to}");
        }
    }

    #[test]
    fn staying_put_is_not_a_transition() {
        for state in TenantState::ALL {
            let err = check_transition(state, state).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("a tenant cannot go from `{state}` to `{state}`")
            );
        }
    }

    #[test]
    fn state_names_round_trip_and_unknown_names_are_refused() {
        for state in TenantState::ALL {
            assert_eq!(state.as_str().parse::<TenantState>().unwrap(), state);
        }
        assert!("readyish".parse::<TenantState>().is_err());
    }
}
