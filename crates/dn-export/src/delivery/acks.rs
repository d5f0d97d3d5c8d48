//! The delivery log of one spans file for one destination: which byte
//! ranges of the file the destination has acknowledged (or rejected).
//!
//! It lives beside the file, in `.dn-delivery/<file name>.<destination>.delivery`
//! (see [`dn_core::layout::delivery_log`]), one JSON line per settled range:
//!
//! ```text
//! {"start":0,"end":18342,"spans":12,"status":"delivered"}
//! {"start":18342,"end":20001,"spans":1,"status":"rejected","code":422}
//! ```
//!
//! A line is appended only after the receiver answered (2xx, or a final
//! rejection), so a crash between the answer and the append sends that one
//! batch again, never loses one. Lines are appended in one `write` each, so
//! several processes (or `dn sync`) may share a log; ranges that overlap
//! count once.

use std::path::Path;

use serde_json::Value;

/// How a range was settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The receiver answered 2xx.
    Delivered,
    /// The receiver rejected it for good (an HTTP status other than
    /// 401/403/408/413/429/5xx).
    Rejected(u16),
}

/// One settled byte range `[start, end)` holding `spans` lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettledRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte (just after a newline).
    pub end: u64,
    /// Lines in the range.
    pub spans: u64,
    /// Delivered or rejected.
    pub how: Settled,
}

/// Every settled range of a log (missing file: none). Unreadable lines (a
/// crash mid-append) are skipped.
pub fn read(log: &Path) -> Vec<SettledRange> {
    let Ok(text) = std::fs::read_to_string(log) else { return Vec::new() };
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let how = match v["status"].as_str()? {
                "delivered" => Settled::Delivered,
                "rejected" => Settled::Rejected(u16::try_from(v["code"].as_u64().unwrap_or(0)).unwrap_or(0)),
                _ => return None,
            };
            Some(SettledRange {
                start: v["start"].as_u64()?,
                end: v["end"].as_u64()?,
                spans: v["spans"].as_u64()?,
                how,
            })
        })
        .collect()
}

/// Appends one settled range (one append-mode write of its line).
pub fn append(log: &Path, r: SettledRange) -> std::io::Result<()> {
    let line = match r.how {
        Settled::Delivered => {
            format!("{{\"start\":{},\"end\":{},\"spans\":{},\"status\":\"delivered\"}}\n", r.start, r.end, r.spans)
        }
        Settled::Rejected(code) => format!(
            "{{\"start\":{},\"end\":{},\"spans\":{},\"status\":\"rejected\",\"code\":{code}}}\n",
            r.start, r.end, r.spans
        ),
    };
    // On a full disk a torn end is cut off, so the next range is not glued
    // to it and lost with it.
    crate::append_lines(log, &line)
}

/// The byte ranges of `[0, complete)` that no settled range covers, in order.
pub fn unsettled(complete: u64, settled: &[SettledRange]) -> Vec<(u64, u64)> {
    let mut covered: Vec<(u64, u64)> = settled.iter().map(|r| (r.start, r.end.min(complete))).collect();
    covered.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for (s, e) in covered {
        if s > at {
            out.push((at, s.min(complete)));
        }
        at = at.max(e);
    }
    if at < complete {
        out.push((at, complete));
    }
    out.retain(|(s, e)| s < e);
    out
}

/// The length of `file` up to and including its last newline: a half-written
/// last line is not delivered until it is whole.
pub fn complete_len(file: &Path) -> std::io::Result<u64> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write as _;

    #[test]
    fn settled_ranges_round_trip_and_overlaps_count_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(".dn-delivery/spans.jsonl.otlp-1.delivery");
        append(&log, SettledRange { start: 0, end: 10, spans: 2, how: Settled::Delivered }).unwrap();
        append(&log, SettledRange { start: 5, end: 20, spans: 3, how: Settled::Rejected(422) }).unwrap();
        std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(b"{\"start\":3").unwrap();
        let got = read(&log);
        assert_eq!(got.len(), 2, "the torn last line is skipped");
        assert_eq!(got[1].how, Settled::Rejected(422));
        assert_eq!(unsettled(30, &got), vec![(20, 30)]);
        assert_eq!(unsettled(30, &[]), vec![(0, 30)]);
        assert_eq!(unsettled(15, &got), vec![]);
    }

    #[test]
    fn a_half_written_last_line_is_not_complete() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("spans.jsonl");
        std::fs::write(&f, b"{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        assert_eq!(complete_len(&f).unwrap(), 16);
        std::fs::write(&f, b"").unwrap();
        assert_eq!(complete_len(&f).unwrap(), 0);
    }
}
