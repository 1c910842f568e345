//! HL7 FHIR R4 as samenspel writes and reads it. No service logic: the code systems and
//! identifier systems samenspel's resources use (`codes.rs`), ids and references inside a Bundle
//! (`refs.rs`), a reader of incoming resources that names every bad element by its FHIRPath
//! (`read.rs`) and a writer that puts each resource's `resourceType` first (`write.rs`). The
//! services build their resources with these and `serde_json`; an independent validator (the
//! Python `fhir.resources` models) checks what they build in CI.

pub mod codes;
mod read;
mod refs;
mod write;

pub use read::{At, Violation};
pub use refs::{derived_id, full_url, instant, reference, uuid_of};
pub use write::{to_json, to_json_pretty};
