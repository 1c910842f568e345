//! The end-to-end tests, in one test binary: nodes started in-process on `127.0.0.1:0` (alone, or
//! as a federation behind fault-injecting proxies), called over gRPC as clients would. One binary
//! links the node once instead of once per file.

mod access_log;
mod client_tls;
mod directory_grpc;
mod directory_hsds;
mod duplicates;
mod erasure;
mod eventlog_grpc;
mod federation_convergence;
mod federation_grpc;
mod federation_loop;
mod fhir;
mod followup_grpc;
mod input_bounds;
mod intake_grpc;
mod matching_grpc;
mod metrics;
mod roles;
mod status;
mod tokens;
