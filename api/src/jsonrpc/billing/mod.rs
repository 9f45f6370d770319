//! CGrateS's billing APIs over JSON-RPC, in CGrateS's shapes, one module per kind of thing they
//! manage; `wire` reads their values as CGrateS does. The `/v1/Billing` REST routes call the same
//! handlers.

mod accounts;
mod actions;
mod chargers;
mod destinations;
mod plans;
mod rates;
mod shared_groups;
mod timings;
mod triggers;
mod wire;

pub use accounts::{change_balance, get_account, get_accounts, remove, set_account};
pub use actions::{execute_action, get_actions, set_actions};
pub use chargers::{get_charger_profile, get_charger_profile_ids, remove_charger_profile, set_charger_profile};
pub use destinations::{load_tariff_plan, set_destination, set_tp_destination};
pub use plans::{get_action_plan, set_action_plan};
pub use rates::set_rate;
pub use shared_groups::{get_shared_group, set_tp_shared_groups};
pub use timings::{get_timing, set_timing, set_tp_timing};
pub use triggers::{add_account_action_triggers, get_action_triggers, set_action_trigger};
