//! Setting a payload's personal values apart for sealing: one scan of its JSON text finds the
//! value at each of the event's pointers, which leaves an empty value of its shape behind and goes,
//! as its JSON text, into its subject's part. No JSON tree is built: a service's event is written
//! once, as text, and its personal values cut out of it (under 0.2 µs a value; BENCHMARKS.md).

use std::collections::BTreeMap;
use std::fmt::Write;

use samenspel_eventlog::PersonalPart;
use serde_json::Value;

use crate::personal::{PERSONAL_FOR, emptied, unmark};

/// `text` (a JSON text, as serde_json writes it) with the values at `parts` (JSON pointers, each
/// with its subject) set apart: each leaves an empty value of its shape, and its JSON text goes,
/// with the bytes of that empty value, into its subject's part. An empty value (no text, no
/// items, null) holds nothing personal and stays; a part inside another goes with it. `None`
/// when `text` is not JSON.
pub fn split(text: &[u8], parts: &[(String, String)]) -> Option<(Vec<u8>, Vec<PersonalPart>)> {
    let named: Vec<&(String, String)> = parts.iter().filter(|(s, p)| !s.is_empty() && !p.is_empty()).collect();
    let wanted: Vec<&str> = named.iter().map(|(_, p)| p.as_str()).collect();
    let mut scan = Scan { text, pos: 0, path: String::new(), wanted: &wanted, found: vec![None; wanted.len()] };
    scan.value()?;
    scan.ws();
    if scan.pos != text.len() {
        return None;
    }
    // The values to cut, in order of place; one inside another goes with the outer one.
    let mut cuts: Vec<(usize, usize, &str)> = Vec::new();
    let subjects = named.iter().map(|(s, _)| s.as_str());
    let mut found: Vec<(usize, usize, &str)> =
        scan.found.iter().zip(subjects).filter_map(|(at, subject)| at.map(|(a, b)| (a, b, subject))).collect();
    found.sort_by_key(|&(start, end, _)| (start, std::cmp::Reverse(end)));
    for (start, end, subject) in found {
        if cuts.last().is_some_and(|&(_, last_end, _)| start < last_end) || is_empty(&text[start..end]) {
            continue;
        }
        cuts.push((start, end, subject));
    }
    let mut out = Vec::with_capacity(text.len());
    let mut by_subject: BTreeMap<&str, PersonalPart> = BTreeMap::new();
    let mut from = 0;
    for (start, end, subject) in cuts {
        out.extend_from_slice(&text[from..start]);
        let begin = out.len();
        empty_of(&text[start..end], &mut out)?;
        let part = by_subject
            .entry(subject)
            .or_insert_with(|| PersonalPart { subject: subject.to_string(), ..Default::default() });
        // A string goes without its quotes, between those of the empty string left behind.
        if text[start] == b'"' {
            part.at.push((begin as u32 + 1, begin as u32 + 1));
            part.values.push(text[start + 1..end - 1].to_vec());
        } else {
            part.at.push((begin as u32, out.len() as u32));
            part.values.push(text[start..end].to_vec());
        }
        from = end;
    }
    out.extend_from_slice(&text[from..]);
    Some((out, by_subject.into_values().collect()))
}

/// A payload with marked values (`{"personal_for": subject, "value": …}`, as earlier versions
/// wrote them), set apart as [`split`] does; `None` when it is not JSON.
pub fn split_marked(payload: &[u8]) -> Option<(Vec<u8>, Vec<PersonalPart>)> {
    let mut value: Value = serde_json::from_slice(payload).ok()?;
    let mut parts = Vec::new();
    marks("", &value, &mut parts);
    unmark(&mut value);
    split(&serde_json::to_vec(&value).ok()?, &parts)
}

/// The subject and pointer of each marked value.
fn marks(pointer: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(subject)), Some(_)) = (map.get(PERSONAL_FOR), map.get("value")) {
                out.push((subject.clone(), pointer.to_string()));
                return;
            }
            for (k, v) in map {
                marks(&format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                marks(&format!("{pointer}/{i}"), v, out);
            }
        }
        _ => {}
    }
}

fn is_empty(value: &[u8]) -> bool {
    matches!(value, b"\"\"" | b"[]" | b"{}" | b"null")
}

/// Writes the empty value of `value`'s shape.
fn empty_of(value: &[u8], out: &mut Vec<u8>) -> Option<()> {
    match value.first()? {
        b'"' => out.extend_from_slice(b"\"\""),
        b'[' => out.extend_from_slice(b"[]"),
        b't' | b'f' => out.extend_from_slice(b"false"),
        b'n' => out.extend_from_slice(b"null"),
        // An object keeps its members, each emptied: rare enough to take the tree for.
        b'{' => serde_json::to_writer(out, &emptied(&serde_json::from_slice(value).ok()?)).ok()?,
        _ => out.push(b'0'),
    }
    Some(())
}

/// A scan of a JSON text that notes where the values at the wanted pointers are.
struct Scan<'a> {
    text: &'a [u8],
    pos: usize,
    /// The pointer of the value being scanned.
    path: String,
    wanted: &'a [&'a str],
    found: Vec<Option<(usize, usize)>>,
}

impl Scan<'_> {
    fn ws(&mut self) {
        while matches!(self.text.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.ws();
        (self.text.get(self.pos) == Some(&byte)).then(|| self.pos += 1)
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.text.get(self.pos).copied()
    }

    /// Whether a value under the current pointer may be wanted.
    fn may_hold_wanted(&self) -> bool {
        self.wanted.iter().any(|w| w.starts_with(self.path.as_str()))
    }

    fn value(&mut self) -> Option<()> {
        self.ws();
        let start = self.pos;
        let deeper = self.may_hold_wanted();
        match self.text.get(self.pos)? {
            b'{' if deeper => self.object()?,
            b'[' if deeper => self.array()?,
            b'{' | b'[' => self.skip_container()?,
            b'"' => {
                self.string()?;
            }
            _ => self.scalar()?,
        }
        if deeper && let Some(i) = self.wanted.iter().position(|w| *w == self.path) {
            self.found[i] = Some((start, self.pos));
        }
        Some(())
    }

    fn object(&mut self) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.eat(b':')?;
            let len = self.path.len();
            self.path.push('/');
            let (quoted, inner) = (&self.text[key.0..key.1], &self.text[key.0 + 1..key.1 - 1]);
            match inner.contains(&b'\\') {
                false => push_token(&mut self.path, std::str::from_utf8(inner).ok()?),
                true => push_token(&mut self.path, &serde_json::from_slice::<String>(quoted).ok()?),
            }
            self.value()?;
            self.path.truncate(len);
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }

    /// Past the `,` before another member or item (true), or the `close` that ends them (false).
    fn more(&mut self, close: u8) -> Option<bool> {
        let next = self.peek()?;
        self.pos += 1;
        match next {
            b',' => Some(true),
            b if b == close => Some(false),
            _ => None,
        }
    }

    fn array(&mut self) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        for i in 0usize.. {
            let len = self.path.len();
            write!(self.path, "/{i}").expect("a String takes any write");
            self.value()?;
            self.path.truncate(len);
            if !self.more(b']')? {
                return Some(());
            }
        }
        None
    }

    /// A string's range, its quotes included.
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.pos;
        if self.text.get(self.pos) != Some(&b'"') {
            return None;
        }
        self.pos += 1;
        loop {
            let at = memchr::memchr2(b'"', b'\\', &self.text[self.pos..])?;
            self.pos += at;
            match self.text[self.pos] {
                b'\\' => self.pos += 2,
                _ => {
                    self.pos += 1;
                    return Some((start, self.pos));
                }
            }
        }
    }

    fn scalar(&mut self) -> Option<()> {
        let start = self.pos;
        while let Some(b) = self.text.get(self.pos) {
            if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
        (self.pos > start).then_some(())
    }

    /// Past an object or array no wanted pointer reaches into.
    fn skip_container(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match *self.text.get(self.pos)? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
    }
}

/// A member name as a JSON pointer token (RFC 6901: `~` as `~0`, `/` as `~1`).
fn push_token(path: &mut String, key: &str) {
    if key.contains(['~', '/']) {
        path.push_str(&key.replace('~', "~0").replace('/', "~1"));
    } else {
        path.push_str(key);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn put_back(payload: &[u8], parts: &[PersonalPart]) -> Value {
        let event = samenspel_eventlog::NewEvent::new("s", "k", payload.to_vec()).with_personal(parts.to_vec());
        serde_json::from_slice(&event.in_place().payload).unwrap()
    }

    fn parts(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(s, p)| (s.to_string(), p.to_string())).collect()
    }

    #[test]
    fn sets_the_named_parts_apart_leaving_empty_values_and_puts_them_back_the_same() {
        let original = json!({"id": "r1", "client": {"subject_id": "c1", "name": "Jan \"de\" Vries\\", "phone": "",
            "contact": {"a": [1], "b": "x"}, "age": 81, "alone": true}, "notes": ["a", {"b": "]}"}], "helper": {"name": "Pieters"},
            "a/b~c": "slash", "list": [{"x": 1}, {"x": "second"}]});
        let wanted = parts(&[
            ("c1", "/client/name"),
            ("c1", "/client/phone"),
            ("c1", "/notes"),
            ("c1", "/missing"),
            ("c1", "/client/contact/b"),
            ("c1", "/client/contact"),
            ("c1", "/client/age"),
            ("c1", "/client/alone"),
            ("h1", "/helper/name"),
            ("", "/id"),
            ("c1", "/a~1b~0c"),
            ("c1", "/list/1/x"),
        ]);
        let (payload, personal) = split(&serde_json::to_vec(&original).unwrap(), &wanted).unwrap();
        let clear: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            clear,
            json!({"id": "r1", "client": {"subject_id": "c1", "name": "", "phone": "", "contact": {"a": [], "b": ""},
                "age": 0, "alone": false}, "notes": [], "helper": {"name": ""}, "a/b~c": "", "list": [{"x": 1}, {"x": ""}]})
        );
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(!text.contains("Vries") && !text.contains("Pieters") && !text.contains("second"));
        assert_eq!(personal.iter().map(|p| p.subject.as_str()).collect::<Vec<_>>(), ["c1", "h1"]);
        assert_eq!(
            personal[0].values.len(),
            7,
            "the enclosing value takes the one inside it along; an empty one stays"
        );
        assert!(personal.iter().all(|p| p.at.windows(2).all(|w| w[0].1 <= w[1].0)), "ranges ascending");
        assert_eq!(put_back(&payload, &personal), original);
        assert!(!format!("{personal:?}").contains("Vries"), "never printed");
        assert!(split(b"{\"a\":", &wanted).is_none(), "not JSON");
    }

    #[test]
    fn any_event_put_back_is_the_event() {
        // Shapes a service's event may take, with the pointers they name.
        for (value, wanted) in [
            (
                json!({"Submitted": {"request": {"client": {"name": "A"}}}}),
                parts(&[("c", "/Submitted/request/client/name")]),
            ),
            (json!({"kind": "x", "items": [[1, 2], ["q"]]}), parts(&[("c", "/items/1/0"), ("c", "/items/0")])),
            (json!({"n": -1.5e3, "s": "\u{1}\u{7f}é"}), parts(&[("c", "/n"), ("d", "/s")])),
            (json!({}), parts(&[("c", "/x")])),
        ] {
            let (payload, personal) = split(&serde_json::to_vec(&value).unwrap(), &wanted).unwrap();
            assert_eq!(put_back(&payload, &personal), value);
            assert!(serde_json::from_slice::<Value>(&payload).is_ok());
        }
    }

    #[test]
    fn marked_payloads_are_set_apart_as_events_are() {
        let marked = json!({"id": "r1", "client": {"name": {"personal_for": "c1", "value": "Jansen"}}, "n": [{"personal_for": "c2", "value": ["a"]}]});
        let (payload, personal) = split_marked(&serde_json::to_vec(&marked).unwrap()).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&payload).unwrap(),
            json!({"id": "r1", "client": {"name": ""}, "n": [[]]})
        );
        assert_eq!(put_back(&payload, &personal), json!({"id": "r1", "client": {"name": "Jansen"}, "n": [["a"]]}));
        assert_eq!(personal.iter().map(|p| p.subject.as_str()).collect::<Vec<_>>(), ["c1", "c2"]);
    }
}
