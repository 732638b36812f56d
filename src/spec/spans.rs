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
    /// YAML merge keys: a mapping's path to the paths of the anchored
    /// mappings merged into it (`<<: *defaults`), in order of precedence.
    merged: HashMap<String, Vec<String>>,
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
            if exact {
                if let Some(n) = self.through_merge(path, 0) {
                    return Some((n, true));
                }
            }
            exact = false;
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }

    /// The node a merge key brought to `path`: the same relative path in the
    /// anchored mapping, where the text actually has it.
    fn through_merge(&self, path: &str, depth: usize) -> Option<NodeSpan> {
        // Merges can chain (an anchor that merges another); bound the walk.
        if depth > 8 || self.merged.is_empty() {
            return None;
        }
        let mut cut = path.len();
        while let Some(i) = path[..cut].rfind('/') {
            let (prefix, rest) = (&path[..i], &path[i..]);
            for source in self.merged.get(prefix).into_iter().flatten() {
                let candidate = format!("{source}{rest}");
                if let Some(n) = self.nodes.get(&candidate) {
                    return Some(*n);
                }
                if let Some(n) = self.through_merge(&candidate, depth + 1) {
                    return Some(n);
                }
            }
            cut = i;
        }
        None
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
    // Anchor id -> the path of the node it names, for merge keys.
    let mut anchors: HashMap<usize, String> = HashMap::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(Ok((event, span))) = parser.next_event() {
        match event {
            Event::DocumentStart(_) => {
                stack.clear();
                anchors.clear();
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
                let anchor = match &event {
                    Event::Scalar(_, _, a, _)
                    | Event::MappingStart(a, _)
                    | Event::SequenceStart(a, _) => *a,
                    _ => 0,
                };
                if anchor != 0 {
                    anchors.insert(anchor, path.clone());
                }
                // `<<: *a`, `<<: [*a, *b]` or `<<: {...}`: the mapping holding
                // `<<` takes the keys of the merged mapping, found at `source`.
                let target = path.strip_suffix("/<<").or_else(|| {
                    path.rsplit_once('/')
                        .and_then(|(p, _)| p.strip_suffix("/<<"))
                });
                let source = match &event {
                    Event::Alias(id) => anchors.get(id).cloned(),
                    Event::MappingStart(..) => Some(path.clone()),
                    _ => None,
                };
                if let (Some(target), Some(source)) = (target, source) {
                    doc.merged
                        .entry(target.to_string())
                        .or_default()
                        .push(source);
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

/// The position of the first mapping key that repeats an earlier key of the
/// same mapping: serde_yaml refuses such a document but reports no position.
pub fn first_duplicate_key(text: &str) -> Option<Pos> {
    let offsets = Offsets::new(text);
    // One entry per open collection: the keys seen (None for a sequence) and
    // whether the next node is a key.
    let mut stack: Vec<(Option<std::collections::HashSet<String>>, bool)> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(Ok((event, span))) = parser.next_event() {
        match event {
            // The parent's key/value turn was taken when the collection opened.
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Scalar(..)
            | Event::Alias(_)
            | Event::MappingStart(..)
            | Event::SequenceStart(..) => {
                if let Some((Some(keys), expect_key)) = stack.last_mut() {
                    if *expect_key {
                        if let Event::Scalar(value, ..) = &event {
                            if !keys.insert(value.to_string()) {
                                return Some(offsets.pos(span, true));
                            }
                        }
                    }
                    *expect_key = !*expect_key;
                }
                match event {
                    Event::MappingStart(..) => stack.push((Some(Default::default()), true)),
                    Event::SequenceStart(..) => stack.push((None, false)),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    None
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
    fn merged_keys_point_into_the_anchored_mapping() {
        let text = "base: &b\n  at: \"25:00\"\n  day: monday\nweekly:\n  <<: *b\n  day: friday\n";
        let docs = index_documents(text);
        // From the anchor: its own line.
        let v = docs[0].value("/weekly/at");
        assert_eq!((v.line, v.column), (2, 7));
        // Written beside the merge key: that line wins.
        let v = docs[0].value("/weekly/day");
        assert_eq!((v.line, v.column), (6, 8));
    }

    #[test]
    fn a_repeated_key_is_found_at_its_second_place() {
        let text = "kind: Schedule\nschedule:\n  daily: { at: \"09:00\" }\nlist: [{a: 1}, {a: 2}]\nname: a\nname: b\n";
        let p = first_duplicate_key(text).unwrap();
        assert_eq!((p.line, p.column), (6, 1));
        assert!(first_duplicate_key("a: {b: 1, c: {b: 2}}\nb: 3\n").is_none());
        let p = first_duplicate_key("a:\n  b: 1\n  b: 2\n").unwrap();
        assert_eq!((p.line, p.column), (3, 3));
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
