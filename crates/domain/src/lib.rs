//! Domain value types shared by the samenspel services. Each type can only hold a valid value:
//! parsing checks and normalises, and an error names what is wrong so a service can report it
//! as a field violation. No protobuf and no storage here.

mod clock;
mod date;
mod email;
mod error;
mod phone;
mod postcode;
mod schedule;
mod strain;
mod support;

pub use clock::{Clock, ManualClock, SystemClock};
pub use date::LocalDate;
pub use email::EmailAddress;
pub use error::{Invalid, shown};
pub use phone::PhoneNumber;
pub use postcode::{Postcode, Postcode4, PostcodeRange};
pub use schedule::{Slot, SlotProblem, TimeOfDay, TimeSlot, Weekday, WeeklyHours, overlap_minutes, total_minutes};
pub use strain::{CaregiverStrainIndex, Complexity, EdizPlus};
pub use support::{SupportFunction, SupportKind};
