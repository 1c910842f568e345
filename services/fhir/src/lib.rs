//! The `samenspel.v1.Fhir` gRPC service: HL7 FHIR R4 views of what a node holds, for the systems
//! care organisations already use — a request for help and its referrals as a Bundle
//! (ServiceRequest, a Task per referral after the SDOH Clinical Care IG, Organization,
//! HealthcareService, Patient and RelatedPerson as the audience allows, Consent), one referral's
//! Task, and id-only notifications of Task changes driven by the log. It reads the intake's,
//! matching's, the follow-up's and the directory's events as a tolerant reader and writes none;
//! FHIR coming in is the intake's (`Intake/ImportFhirReferral`).

mod bundle;
mod config;
mod error;
mod grpc;
mod history;
mod inputs;
mod notify;
mod service;
mod task;

pub use bundle::{Audience, Exported};
pub use config::FhirConfig;
pub use error::Error;
pub use grpc::FhirGrpc;
pub use notify::{Notice, TOPIC};
pub use samenspel_proto::v1::fhir_server::FhirServer;
pub use service::FhirService;
