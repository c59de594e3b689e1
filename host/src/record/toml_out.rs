//! Writing recorded values as TOML (`routes.toml`, `tests.toml`), and
//! editing those files in place: splitting them into one block per
//! `[[route]]` or `[[case]]` so a block can be replaced and the operator's
//! other blocks and comments stay as written.

use serde_json::Value;

/// A JSON value as TOML, which has no null: `None` if `value` is null or
/// holds a null anywhere.
pub fn strict(value: &Value) -> Option<toml::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            // Beyond i64 a float would change the value: not representable.
            None if n.is_u64() => return None,
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => {
            toml::Value::Array(items.iter().map(strict).collect::<Option<Vec<_>>>()?)
        }
        Value::Object(map) => {
            let mut table = toml::Table::new();
            for (k, v) in map {
                table.insert(k.clone(), strict(v)?);
            }
            toml::Value::Table(table)
        }
    })
}

/// A JSON object as a TOML table that asks for no more than `value` says:
/// keys whose value is not representable ([`strict`]) are left out, nested
/// objects likewise (a subset match then still matches `value`).
pub fn subset(map: &serde_json::Map<String, Value>) -> (toml::Table, usize) {
    let mut table = toml::Table::new();
    let mut dropped = 0;
    for (k, v) in map {
        match v {
            Value::Object(inner) => {
                let (t, d) = subset(inner);
                dropped += d;
                table.insert(k.clone(), toml::Value::Table(t));
            }
            other => match strict(other) {
                Some(t) => {
                    table.insert(k.clone(), t);
                }
                None => dropped += 1,
            },
        }
    }
    (table, dropped)
}

/// One `[[name]]` block of a file: its text and where it starts (1-based line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The block's text: the comment lines right above its header, the
    /// header, and everything up to the next block.
    pub text: String,
    /// 1-based line of the header.
    pub line: usize,
}

/// `text` split at its `[[name]]` header lines: the text before the first
/// block, and the blocks. A block owns the comment lines directly above its
/// header (up to a blank line), so removing it takes its description along.
pub fn split_blocks(text: &str, name: &str) -> (String, Vec<Block>) {
    let header = format!("[[{name}]]");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let is_header = |line: &str| {
        let code = line.split('#').next().unwrap_or("").trim();
        code == header
    };
    let headers: Vec<usize> = (0..lines.len()).filter(|&i| is_header(lines[i])).collect();
    let mut starts = Vec::with_capacity(headers.len());
    let mut floor = 0;
    for &h in &headers {
        let mut start = h;
        while start > floor && lines[start - 1].trim_start().starts_with('#') {
            start -= 1;
        }
        starts.push(start);
        floor = h + 1;
    }
    let preamble = lines[..starts.first().copied().unwrap_or(lines.len())].concat();
    let blocks = starts
        .iter()
        .zip(&headers)
        .enumerate()
        .map(|(i, (&start, &h))| {
            let end = starts.get(i + 1).copied().unwrap_or(lines.len());
            Block {
                text: lines[start..end].concat(),
                line: h + 1,
            }
        })
        .collect();
    (preamble, blocks)
}

/// `text` with a final newline, so a block appended after it starts on its own line.
pub fn ends_with_newline(mut text: String) -> String {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_are_left_out_or_refused() {
        assert_eq!(
            serde_json::to_value(strict(&json!({"a": [1, 2.5], "b": "c"})).unwrap()).unwrap(),
            json!({"a": [1, 2.5], "b": "c"})
        );
        assert!(strict(&json!([1, null])).is_none());
        assert!(strict(&json!({"a": {"b": null}})).is_none());
        assert!(strict(&json!(u64::MAX)).is_none());
        let map = json!({"keep": 1, "gone": null, "nested": {"x": "y", "z": null}, "arr": [null]});
        let (table, dropped) = subset(map.as_object().unwrap());
        assert_eq!(dropped, 3);
        assert_eq!(
            serde_json::to_value(&table).unwrap(),
            json!({"keep": 1, "nested": {"x": "y"}})
        );
    }

    #[test]
    fn blocks_take_their_comments_and_leave_the_preamble() {
        let text = "# file comment\n\n# about a\n[[route]]\npath = \"/a\"\n[route.json_body]\nx = 1\n\n[[route]] # inline\npath = \"/b\"\n# about c\n[[route]]\npath = \"/c\"";
        let (preamble, blocks) = split_blocks(text, "route");
        assert_eq!(preamble, "# file comment\n\n");
        let texts: Vec<&str> = blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "# about a\n[[route]]\npath = \"/a\"\n[route.json_body]\nx = 1\n\n",
                "[[route]] # inline\npath = \"/b\"\n",
                "# about c\n[[route]]\npath = \"/c\"",
            ]
        );
        let lines: Vec<usize> = blocks.iter().map(|b| b.line).collect();
        assert_eq!(lines, [4, 9, 12]);
        // Put back together, the file is unchanged.
        assert_eq!(format!("{preamble}{}", texts.concat()), text);
        let (preamble, blocks) = split_blocks("a = 1\n", "case");
        assert_eq!((preamble.as_str(), blocks.len()), ("a = 1\n", 0));
    }
}
