//! The plumbing every samenspel service shares, so that a rule that holds for all of them is
//! written once: the checks of a request's fields before anything is looked up (`check`).

pub mod check;
mod replay;

pub use check::{Check, ID_LEN, MAX_NAME, MAX_REQUEST_ID, MAX_TEXT, MAX_TOKEN, is_id, shown};
pub use replay::replay_json;
