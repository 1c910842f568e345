//! The README's commands work as written: every `samenspel …` line (and `cargo run … -- …`)
//! parses as this binary's command line, and every grpcurl call names a method the node serves,
//! with a body whose every field, enum value and JSON type the request message takes.

use std::collections::HashMap;

use clap::Parser;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use serde_json::Value;

const README: &str = include_str!("../../../README.md");

/// What stands in for `<a placeholder>`: one word, as a reader would type one.
const PLACEHOLDER: &str = "placeholder";

/// The shell commands of the README's `sh` blocks: (line, words), as a shell would split them,
/// with `<placeholders>` filled in and comments dropped.
fn readme_commands() -> Vec<(usize, Vec<String>)> {
    let placeholder = |line: &str| {
        let mut out = String::new();
        let mut rest = line;
        while let Some(start) = rest.find('<') {
            let Some(len) = rest[start..].find('>') else { break };
            out.push_str(&rest[..start]);
            out.push_str(PLACEHOLDER);
            rest = &rest[start + len + 1..];
        }
        out + rest
    };
    let mut out = Vec::new();
    let (mut in_block, mut pending, mut first) = (false, String::new(), 0);
    for (i, line) in README.lines().enumerate() {
        let number = i + 1;
        if line.starts_with("```") {
            in_block = line == "```sh";
            assert!(pending.is_empty(), "README line {first}: a command runs past the end of its block");
            continue;
        }
        if !in_block || (pending.is_empty() && line.trim().is_empty()) {
            continue;
        }
        if pending.is_empty() {
            first = number;
        }
        let line = placeholder(line);
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(&line);
        match shlex::split(&pending) {
            Some(words) if words.is_empty() => pending.clear(),
            Some(words) => {
                out.push((first, words));
                pending.clear();
            }
            // An open quote: the command goes on on the next line.
            None => pending.push('\n'),
        }
    }
    out
}

/// The node's protocol: services with their methods' input types, messages and enums by full name.
struct Protocol {
    methods: HashMap<String, String>,
    messages: HashMap<String, DescriptorProto>,
    enums: HashMap<String, Vec<String>>,
}

impl Protocol {
    fn load() -> Self {
        let set = FileDescriptorSet::decode(samenspel_proto::FILE_DESCRIPTOR_SET).expect("the descriptor set decodes");
        let mut protocol = Self { methods: HashMap::new(), messages: HashMap::new(), enums: HashMap::new() };
        for file in set.file {
            let package = format!(".{}", file.package());
            for service in &file.service {
                for method in &service.method {
                    let name = format!("{}.{}/{}", file.package(), service.name(), method.name());
                    protocol.methods.insert(name, method.input_type().to_string());
                }
            }
            for e in &file.enum_type {
                protocol.add_enum(&package, e);
            }
            for m in &file.message_type {
                protocol.add_message(&package, m);
            }
        }
        protocol
    }

    fn add_enum(&mut self, scope: &str, e: &prost_types::EnumDescriptorProto) {
        let values = e.value.iter().map(|v| v.name().to_string()).collect();
        self.enums.insert(format!("{scope}.{}", e.name()), values);
    }

    fn add_message(&mut self, scope: &str, m: &DescriptorProto) {
        let name = format!("{scope}.{}", m.name());
        for e in &m.enum_type {
            self.add_enum(&name, e);
        }
        for nested in &m.nested_type {
            self.add_message(&name, nested);
        }
        self.messages.insert(name, m.clone());
    }

    /// Every way `value` is not a JSON form of message `type_name`, by path.
    fn check(&self, type_name: &str, value: &Value, path: &str, faults: &mut Vec<String>) {
        if type_name.starts_with(".google.protobuf.") {
            return; // well-known types have JSON forms of their own
        }
        let Some(message) = self.messages.get(type_name) else {
            faults.push(format!("{path}: no message {type_name}"));
            return;
        };
        let Value::Object(fields) = value else {
            faults.push(format!("{path}: {type_name} is written as a JSON object"));
            return;
        };
        for (key, value) in fields {
            let Some(field) = message.field.iter().find(|f| f.json_name() == key || f.name() == key) else {
                faults.push(format!("{path}.{key}: {type_name} has no such field"));
                continue;
            };
            let path = format!("{path}.{key}");
            let is_map = field.r#type() == Type::Message
                && self
                    .messages
                    .get(field.type_name())
                    .is_some_and(|m| m.options.as_ref().is_some_and(|o| o.map_entry()));
            if field.label() == Label::Repeated && !is_map {
                let Value::Array(items) = value else {
                    faults.push(format!("{path}: a repeated field is written as a JSON array"));
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    self.check_value(field, item, &format!("{path}[{i}]"), faults);
                }
            } else if !is_map {
                self.check_value(field, value, &path, faults);
            }
        }
    }

    fn check_value(
        &self,
        field: &prost_types::FieldDescriptorProto,
        value: &Value,
        path: &str,
        faults: &mut Vec<String>,
    ) {
        let fits = match field.r#type() {
            Type::Message | Type::Group => {
                self.check(field.type_name(), value, path, faults);
                true
            }
            Type::Enum => match value {
                Value::String(name) => {
                    let known = self.enums.get(field.type_name()).is_some_and(|values| values.contains(name));
                    if !known {
                        faults.push(format!("{path}: {} has no value {name}", field.type_name()));
                    }
                    true
                }
                Value::Number(_) => true,
                _ => false,
            },
            Type::String | Type::Bytes => value.is_string(),
            Type::Bool => value.is_boolean(),
            Type::Int64 | Type::Uint64 | Type::Sint64 | Type::Fixed64 | Type::Sfixed64 => {
                value.is_u64() || value.is_i64() || value.as_str().is_some_and(|s| s.parse::<i128>().is_ok())
            }
            Type::Int32 | Type::Uint32 | Type::Sint32 | Type::Fixed32 | Type::Sfixed32 => {
                value.is_u64() || value.is_i64()
            }
            Type::Double | Type::Float => value.is_number(),
        };
        if !fits {
            faults.push(format!("{path}: {value} is not a JSON form of a {:?} field", field.r#type()));
        }
    }
}

/// Every way a grpcurl call (`grpcurl …`, or the README's `call …` that adds the headers) does
/// not fit the node's protocol.
fn check_call(protocol: &Protocol, words: &[String], faults: &mut Vec<String>) {
    let (mut body, mut target, mut rest) = (None, Vec::new(), words[1..].iter());
    while let Some(word) = rest.next() {
        match word.as_str() {
            "-d" => body = rest.next(),
            "-H" => {
                rest.next();
            }
            "-plaintext" => {}
            flag if flag.starts_with('-') => faults.push(format!("grpcurl flag {flag} is not one the README explains")),
            word => target.push(word),
        }
    }
    let method = match target.as_slice() {
        [_address, "list"] => return,
        [address, method] => {
            if !address.contains(':') {
                faults.push(format!("{address} is no host:port"));
            }
            *method
        }
        other => {
            faults.push(format!("a call names an address and a method, not {other:?}"));
            return;
        }
    };
    let body: Value = match body.map(|b| serde_json::from_str(b)) {
        None => Value::Object(Default::default()),
        Some(Ok(body)) => body,
        Some(Err(e)) => {
            faults.push(format!("{method}: the body is no JSON: {e}"));
            return;
        }
    };
    if method == "grpc.health.v1.Health/Check" {
        let service = body.get("service").and_then(Value::as_str).unwrap_or_default();
        if !service.is_empty() && !protocol.methods.keys().any(|m| m.starts_with(&format!("{service}/"))) {
            faults.push(format!("health check of {service}, which the node does not serve"));
        }
        return;
    }
    match protocol.methods.get(method) {
        Some(input) => protocol.check(input, &body, method, faults),
        None => faults.push(format!("{method}: the node serves no such method")),
    }
}

#[test]
fn every_command_in_the_readme_works_as_written() {
    let protocol = Protocol::load();
    let commands = readme_commands();
    let mut faults = Vec::new();
    let (mut cli, mut calls) = (0, 0);
    for (line, words) in &commands {
        let mut here = Vec::new();
        let program = words[0].as_str();
        let samenspel_args = match program {
            "samenspel" => Some(&words[1..]),
            "cargo" if words.get(1).is_some_and(|w| w == "run") => {
                let dash = words.iter().position(|w| w == "--");
                if !words.windows(2).any(|w| w[0] == "-p" && w[1] == "samenspel") {
                    here.push("cargo run without -p samenspel".to_string());
                }
                dash.map(|d| &words[d + 1..])
            }
            _ => None,
        };
        if let Some(args) = samenspel_args {
            cli += 1;
            let argv = std::iter::once("samenspel").chain(args.iter().map(String::as_str));
            if let Err(e) = crate::Cli::try_parse_from(argv) {
                here.push(format!(
                    "samenspel {}: {}",
                    args.join(" "),
                    e.render().to_string().lines().next().unwrap_or("")
                ));
            }
        } else {
            match program {
                "grpcurl" | "call" => {
                    calls += 1;
                    check_call(&protocol, words, &mut here);
                }
                // The README's own test command is the one running this; the rest set the scene.
                "cargo" if words.get(1).is_some_and(|w| w == "test") => {}
                "export" => {}
                // `call() { grpcurl … "$@"; }`: the calls after it are checked as grpcurl calls.
                "call()" if words.get(2).is_some_and(|w| w == "grpcurl") => {}
                other => here.push(format!("{other}: a command this check does not know")),
            }
        }
        faults.extend(here.into_iter().map(|f| format!("README line {line}: {f}")));
    }
    assert!(cli >= 10 && calls >= 20, "the README's commands were read ({cli} samenspel, {calls} calls)");
    assert!(faults.is_empty(), "commands in the README that do not work as written:\n{}", faults.join("\n"));
}

/// The check itself catches what it is for: a renamed flag, an unknown method, a misspelt
/// field, a wrong enum value, a number where a string goes.
#[test]
fn a_wrong_command_or_call_is_caught() {
    assert!(crate::Cli::try_parse_from(["samenspel", "verify", "--dir", "x"]).is_err());
    let protocol = Protocol::load();
    let call = |line: &str| {
        let mut faults = Vec::new();
        check_call(&protocol, &shlex::split(line).unwrap(), &mut faults);
        faults
    };
    assert!(call(r#"call -d '{"page_size": 20}' 127.0.0.1:7400 samenspel.v1.Directory/ListOrganisations"#).is_empty());
    assert_eq!(call(r#"call -d '{}' 127.0.0.1:7400 samenspel.v1.Directory/ListOrganisation"#).len(), 1);
    assert_eq!(call(r#"call -d '{"pagesize": 20}' 127.0.0.1:7400 samenspel.v1.Directory/ListOrganisations"#).len(), 1);
    let kind = r#"call -d '{"fields": {"kind": "ORGANISATION_KIND_BAKERY"}}' 127.0.0.1:7400 samenspel.v1.Directory/CreateOrganisation"#;
    assert_eq!(call(kind).len(), 1);
    assert_eq!(
        call(r#"call -d '{"page_size": "twenty"}' 127.0.0.1:7400 samenspel.v1.Directory/ListOrganisations"#).len(),
        1
    );
}
