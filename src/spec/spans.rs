//! Where each YAML node sits in its file.
//!
//! serde_yaml parses and deserializes but keeps no positions after a
//! successful parse. To point an error at a node, the same text is re-read
//! with saphyr-parser's event stream, which carries marks, and every node's
//! position is indexed by its JSON-pointer path ("/schedule/cron"), the same
//! path a JSON Schema error reports. The walk keeps its own stack, so deep
//! nesting cannot overflow ours.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, Span};

/// A position in a file: 1-based line and column (in characters), and the
/// byte range of the node, for labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// Byte offset of the node's first character.
    pub offset: usize,
    /// Length of the node in bytes (0 for containers: label their first line).
    pub len: usize,
}

/// The key and value positions of one node.
#[derive(Debug, Clone, Copy)]
pub struct NodeSpan {
    /// The mapping key that holds the node, if it is a mapping value.
    pub key: Option<Pos>,
    /// The node itself.
    pub value: Pos,
}

/// Node positions of one document, by JSON-pointer path ("" is the root).
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    nodes: HashMap<String, NodeSpan>,
    /// Where the document starts (its first node), for errors about it as a whole.
    pub start: Pos,
}

impl SpanIndex {
    /// The node at `path`, or its nearest indexed ancestor (a node inside an
    /// alias has no position of its own).
    pub fn lookup(&self, path: &str) -> Option<(NodeSpan, bool)> {
        let mut p = path;
        let mut exact = true;
        loop {
            if let Some(n) = self.nodes.get(p) {
                return Some((*n, exact));
            }
            exact = false;
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }

    /// Whether the document has any node (an empty document has none).
    pub fn has_nodes(&self) -> bool {
        !self.nodes.is_empty()
    }

    /// The value position at `path` (or an ancestor's), else the document start.
    pub fn value(&self, path: &str) -> Pos {
        self.lookup(path).map_or(self.start, |(n, _)| n.value)
    }

    /// The key position at `path` if it is a mapping value, else its value position.
    pub fn key(&self, path: &str) -> Pos {
        match self.lookup(path) {
            Some((n, _)) => n.key.unwrap_or(n.value),
            None => self.start,
        }
    }
}

/// Escapes a mapping key as a JSON-pointer segment (RFC 6901).
pub fn escape_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Converts saphyr's character marks to byte offsets.
struct Offsets<'a> {
    text: &'a str,
    /// Byte offset of every character, only built for non-ASCII text.
    table: Option<Vec<usize>>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        let table = (!text.is_ascii()).then(|| text.char_indices().map(|(b, _)| b).collect());
        Offsets { text, table }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.text.len()),
            Some(t) => t.get(char_index).copied().unwrap_or(self.text.len()),
        }
    }

    fn pos(&self, span: Span, scalar: bool) -> Pos {
        let offset = self.byte(span.start.index());
        let len = if scalar {
            self.byte(span.end.index()).saturating_sub(offset)
        } else {
            0
        };
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
            offset,
            len,
        }
    }
}

enum Frame {
    Map {
        path: String,
        /// The pending key (segment, position) once read; None while expecting a key.
        key: Option<(String, Pos)>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

/// Indexes every document of `text`. Returns what it could index before a
/// parse error (serde_yaml reports syntax errors; this only finds positions).
pub fn index_documents(text: &str) -> Vec<SpanIndex> {
    let offsets = Offsets::new(text);
    let mut docs = Vec::new();
    let mut current: Option<SpanIndex> = None;
    let mut stack: Vec<Frame> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(Ok((event, span))) = parser.next_event() {
        match event {
            Event::DocumentStart(_) => {
                stack.clear();
                current = Some(SpanIndex::default());
            }
            Event::DocumentEnd => {
                if let Some(doc) = current.take() {
                    docs.push(doc);
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                finish_value(&mut stack);
            }
            Event::Scalar(..)
            | Event::Alias(_)
            | Event::MappingStart(..)
            | Event::SequenceStart(..) => {
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                let scalar = matches!(event, Event::Scalar(..) | Event::Alias(_));
                let pos = offsets.pos(span, scalar);
                // A scalar read where a key is expected is a key.
                if let Some(Frame::Map {
                    key: key @ None, ..
                }) = stack.last_mut()
                {
                    let segment = match &event {
                        Event::Scalar(value, ..) => escape_segment(value),
                        // A complex key: index nothing below it.
                        _ => String::from("\u{0}"),
                    };
                    *key = Some((segment, pos));
                    if !scalar {
                        stack.push(container(&event, String::from("\u{0}")));
                    }
                    continue;
                }
                let (path, key_pos) = match stack.last_mut() {
                    None => (String::new(), None),
                    Some(Frame::Map { path, key }) => {
                        let (segment, kpos) = key.clone().unwrap_or_default();
                        (format!("{path}/{segment}"), Some(kpos))
                    }
                    Some(Frame::Seq { path, index }) => {
                        let p = format!("{path}/{index}");
                        *index += 1;
                        (p, None)
                    }
                };
                if path.is_empty() {
                    doc.start = pos;
                }
                if !path.contains('\u{0}') {
                    doc.nodes.insert(
                        path.clone(),
                        NodeSpan {
                            key: key_pos,
                            value: pos,
                        },
                    );
                }
                if scalar {
                    finish_value(&mut stack);
                } else {
                    stack.push(container(&event, path));
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
    if let Some(doc) = current.take() {
        docs.push(doc);
    }
    docs
}

fn container(event: &Event, path: String) -> Frame {
    match event {
        Event::SequenceStart(..) => Frame::Seq { path, index: 0 },
        _ => Frame::Map { path, key: None },
    }
}

/// After a complete value inside a mapping, the next node is a key again.
fn finish_value(stack: &mut [Frame]) {
    if let Some(Frame::Map { key, .. }) = stack.last_mut() {
        *key = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_keys_and_values_in_every_document() {
        let text = "a: 1\nb:\n  c: [x, \"y\"]\n---\n# c\nkind: Schedule\nschedule:\n  cron: \"0 9 * * 1\"\n";
        let docs = index_documents(text);
        assert_eq!(docs.len(), 2);
        let v = docs[0].value("/b/c/1");
        assert_eq!((v.line, v.column), (3, 10));
        assert_eq!(&text[v.offset..v.offset + v.len], "\"y\"");
        let k = docs[1].key("/schedule/cron");
        assert_eq!((k.line, k.column), (8, 3));
        let v = docs[1].value("/schedule/cron");
        assert_eq!((v.line, v.column), (8, 9));
        // Unknown paths fall back to the nearest ancestor.
        assert_eq!(docs[1].value("/schedule/nope").line, 8);
        assert_eq!(docs[1].start.line, 6);
    }

    #[test]
    fn non_ascii_text_gives_byte_offsets() {
        let text = "name: \"Crème brûlée\"\nid: x\n";
        let docs = index_documents(text);
        let v = docs[0].value("/id");
        assert_eq!(&text[v.offset..v.offset + v.len], "x");
        assert_eq!((v.line, v.column), (2, 5));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let text = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
        let _ = index_documents(&text);
    }
}
