//! Requests built from the protocol's own descriptors, as an independent client would put them
//! on the wire: every RPC of a service, with every field filled in a chosen way (oversized text,
//! unknown enum numbers, or nothing at all), encoded by hand so nothing is left to the generated
//! types' defaults.

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

/// One method of a service, with what it takes and whether it answers with a stream.
#[derive(Debug, Clone)]
pub struct Method {
    /// `/samenspel.v1.Intake/GetHelpRequest`.
    pub path: String,
    pub input: String,
    pub server_streaming: bool,
}

/// A field set in a request, by its path as violations name it (`fields.client.name`,
/// `events[0].stream`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub path: String,
    pub what: &'static str,
}

/// The protocol's descriptors.
#[derive(Debug)]
pub struct Protocol {
    set: FileDescriptorSet,
}

impl Default for Protocol {
    fn default() -> Self {
        Self::new()
    }
}

impl Protocol {
    pub fn new() -> Self {
        let set = FileDescriptorSet::decode(samenspel_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
        Self { set }
    }

    /// Every method of `service` (`samenspel.v1.Directory`).
    pub fn methods(&self, service: &str) -> Vec<Method> {
        let mut out = Vec::new();
        for file in &self.set.file {
            for s in &file.service {
                if format!("{}.{}", file.package(), s.name()) != service {
                    continue;
                }
                for m in &s.method {
                    out.push(Method {
                        path: format!("/{service}/{}", m.name()),
                        input: m.input_type().trim_start_matches('.').to_string(),
                        server_streaming: m.server_streaming(),
                    });
                }
            }
        }
        out
    }

    fn message(&self, full_name: &str) -> Option<&DescriptorProto> {
        for file in &self.set.file {
            for m in &file.message_type {
                if format!("{}.{}", file.package(), m.name()) == full_name {
                    return Some(m);
                }
                // One level of nested messages (map entries, local types).
                for n in &m.nested_type {
                    if format!("{}.{}.{}", file.package(), m.name(), n.name()) == full_name {
                        return Some(n);
                    }
                }
            }
        }
        None
    }

    /// `message` with every string of `text_len` characters, every bytes field of `bytes_len`
    /// bytes, every enum at `enum_value`, every repeated field holding one element and every
    /// message field filled the same way (to `depth` levels); the leaves set, by path.
    pub fn filled(&self, message: &str, fill: &Fill) -> (Vec<u8>, Vec<Leaf>) {
        let mut leaves = Vec::new();
        let bytes = self.encode(message, fill, "", fill.depth, &mut leaves);
        (bytes, leaves)
    }

    fn encode(&self, message: &str, fill: &Fill, at: &str, depth: usize, leaves: &mut Vec<Leaf>) -> Vec<u8> {
        let Some(descriptor) = self.message(message) else { return Vec::new() };
        let mut out = Vec::new();
        let mut oneofs_done = Vec::new();
        for field in &descriptor.field {
            // Of a oneof, only the first member is set (a later one would replace it).
            if let Some(i) = field.oneof_index
                && !field.proto3_optional()
            {
                if oneofs_done.contains(&i) {
                    continue;
                }
                oneofs_done.push(i);
            }
            let repeated = field.label() == Label::Repeated;
            let name = field.name();
            let path = match (at.is_empty(), repeated) {
                (true, false) => name.to_string(),
                (true, true) => format!("{name}[0]"),
                (false, false) => format!("{at}.{name}"),
                (false, true) => format!("{at}.{name}[0]"),
            };
            if let Some(value) = self.value(field, fill, &path, depth, leaves) {
                out.extend(value);
            }
        }
        out
    }

    fn value(
        &self,
        field: &FieldDescriptorProto,
        fill: &Fill,
        path: &str,
        depth: usize,
        leaves: &mut Vec<Leaf>,
    ) -> Option<Vec<u8>> {
        let number = field.number() as u64;
        let mut out = Vec::new();
        match field.r#type() {
            Type::String => {
                let text = fill.text.repeat(fill.text_len);
                key(number, 2, &mut out);
                length_delimited(text.as_bytes(), &mut out);
                leaves.push(Leaf { path: path.into(), what: "text" });
            }
            Type::Bytes => {
                key(number, 2, &mut out);
                length_delimited(&vec![0x78; fill.bytes_len], &mut out);
                leaves.push(Leaf { path: path.into(), what: "bytes" });
            }
            Type::Enum => {
                key(number, 0, &mut out);
                varint(fill.enum_value, &mut out);
                leaves.push(Leaf { path: path.into(), what: "enum" });
            }
            Type::Message if depth > 0 => {
                let name = field.type_name().trim_start_matches('.');
                if !name.starts_with("samenspel.") {
                    return None;
                }
                let inner = self.encode(name, fill, path, depth - 1, leaves);
                key(number, 2, &mut out);
                length_delimited(&inner, &mut out);
            }
            _ => return None,
        }
        Some(out)
    }
}

/// How `Protocol::filled` fills a request.
#[derive(Debug, Clone)]
pub struct Fill {
    pub text: &'static str,
    pub text_len: usize,
    pub bytes_len: usize,
    pub enum_value: u64,
    pub depth: usize,
}

fn key(number: u64, wire_type: u64, out: &mut Vec<u8>) {
    varint((number << 3) | wire_type, out);
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn length_delimited(bytes: &[u8], out: &mut Vec<u8>) {
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}
