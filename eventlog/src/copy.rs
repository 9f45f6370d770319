//! PostgreSQL's binary `COPY` format, both ways: the append path's bulk insert ([`CopyBinary`])
//! and the catch-up read ([`CopyRows`]). No text escaping of JSON, no per-row result structures:
//! the cheapest way to hand rows to the server and to take them back.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

pub struct CopyBinary {
    buf: Vec<u8>,
}

impl CopyBinary {
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes + 32);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Self { buf }
    }

    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self
    }

    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        let len = i32::try_from(bytes.len()).expect("field under 2 GiB");
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn int4(&mut self, v: i32) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub fn int8(&mut self, v: i64) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub fn uuid(&mut self, v: &Uuid) -> &mut Self {
        self.field(v.as_bytes())
    }

    pub fn text(&mut self, v: &str) -> &mut Self {
        self.field(v.as_bytes())
    }

    /// jsonb's binary form is a version byte (1) followed by the JSON text.
    pub fn jsonb(&mut self, json: &str) -> &mut Self {
        let len = i32::try_from(json.len() + 1).expect("json under 2 GiB");
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.push(1);
        self.buf.extend_from_slice(json.as_bytes());
        self
    }

    pub fn timestamptz(&mut self, v: &DateTime<Utc>) -> &mut Self {
        self.field(&(v.timestamp_micros() - PG_EPOCH_OFFSET_MICROS).to_be_bytes())
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

/// Rows of a binary `COPY … TO STDOUT`, parsed as the chunks arrive: a row is handed out as
/// soon as its last byte is in, so decoding runs while the server still sends.
#[derive(Default)]
pub struct CopyRows {
    buf: Vec<u8>,
    /// Where the next row starts in `buf`.
    at: usize,
    header_seen: bool,
    finished: bool,
}

/// A field of a row: its bytes, `None` for NULL.
pub type Field<'a> = Option<&'a [u8]>;

/// What is wrong with a COPY stream.
#[derive(Debug, thiserror::Error)]
pub enum CopyFormatError {
    #[error("not a binary COPY stream")]
    Signature,
    #[error("the COPY stream ended inside a row")]
    Truncated,
    #[error("a row has {got} fields, not {expected}")]
    FieldCount { expected: usize, got: i16 },
    #[error("a {kind} field holds {len} bytes")]
    FieldSize { kind: &'static str, len: usize },
    #[error("jsonb of format version {0}")]
    JsonbVersion(u8),
    #[error("text that is not UTF-8")]
    Utf8,
}

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

impl CopyRows {
    /// Adds a chunk of the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.at > 0 && self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
        } else if self.at > 1 << 20 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// Whether the trailer has been read: the stream is complete.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The next complete row of `N` fields, if its bytes are all in; `Ok(None)` asks for more.
    pub fn next_row<const N: usize>(&mut self) -> Result<Option<[Field<'_>; N]>, CopyFormatError> {
        if !self.header_seen {
            if self.buf.len() < SIGNATURE.len() + 8 {
                return Ok(None);
            }
            if &self.buf[..SIGNATURE.len()] != SIGNATURE {
                return Err(CopyFormatError::Signature);
            }
            let extension = be_i32(&self.buf[SIGNATURE.len() + 4..]) as usize;
            if self.buf.len() < SIGNATURE.len() + 8 + extension {
                return Ok(None);
            }
            self.at = SIGNATURE.len() + 8 + extension;
            self.header_seen = true;
        }
        if self.finished {
            return Ok(None);
        }
        let rest = &self.buf[self.at..];
        if rest.len() < 2 {
            return Ok(None);
        }
        let count = i16::from_be_bytes([rest[0], rest[1]]);
        if count == -1 {
            self.finished = true;
            self.at += 2;
            return Ok(None);
        }
        if count as usize != N {
            return Err(CopyFormatError::FieldCount { expected: N, got: count });
        }
        // First find the row's end without borrowing out of it, then hand out its fields.
        let mut offset = 2;
        let mut spans = [(0usize, 0usize, false); N];
        for span in spans.iter_mut() {
            if rest.len() < offset + 4 {
                return Ok(None);
            }
            let len = be_i32(&rest[offset..]);
            offset += 4;
            if len < 0 {
                *span = (0, 0, true);
                continue;
            }
            let len = len as usize;
            if rest.len() < offset + len {
                return Ok(None);
            }
            *span = (self.at + offset, len, false);
            offset += len;
        }
        self.at += offset;
        let buf = &self.buf;
        Ok(Some(spans.map(|(start, len, null)| (!null).then(|| &buf[start..start + len]))))
    }

    /// Bytes received and not yet handed out as rows.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.at
    }
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Field decoders for [`CopyRows`].
pub mod field {
    use super::{CopyFormatError, PG_EPOCH_OFFSET_MICROS};
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    fn exact<const N: usize>(b: &[u8], kind: &'static str) -> Result<[u8; N], CopyFormatError> {
        b.try_into().map_err(|_| CopyFormatError::FieldSize { kind, len: b.len() })
    }

    pub fn int4(b: &[u8]) -> Result<i32, CopyFormatError> {
        Ok(i32::from_be_bytes(exact(b, "int4")?))
    }

    pub fn int8(b: &[u8]) -> Result<i64, CopyFormatError> {
        Ok(i64::from_be_bytes(exact(b, "int8")?))
    }

    pub fn uuid(b: &[u8]) -> Result<Uuid, CopyFormatError> {
        Ok(Uuid::from_bytes(exact(b, "uuid")?))
    }

    pub fn text(b: &[u8]) -> Result<&str, CopyFormatError> {
        std::str::from_utf8(b).map_err(|_| CopyFormatError::Utf8)
    }

    /// jsonb's binary form: a version byte (1) and the JSON text.
    pub fn jsonb(b: &[u8]) -> Result<&str, CopyFormatError> {
        match b.split_first() {
            Some((1, json)) => text(json),
            Some((v, _)) => Err(CopyFormatError::JsonbVersion(*v)),
            None => Err(CopyFormatError::FieldSize { kind: "jsonb", len: 0 }),
        }
    }

    pub fn timestamptz(b: &[u8]) -> Result<DateTime<Utc>, CopyFormatError> {
        let micros = i64::from_be_bytes(exact(b, "timestamptz")?);
        DateTime::from_timestamp_micros(micros.saturating_add(PG_EPOCH_OFFSET_MICROS))
            .ok_or(CopyFormatError::FieldSize { kind: "timestamptz", len: 8 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_rows() -> Vec<u8> {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let mut c = CopyBinary::with_capacity(256);
        c.row(3).int8(7).jsonb(r#"{"a":1}"#).timestamptz(&at);
        c.row(3).int8(8).field(b"\x01[]").timestamptz(&at);
        c.finish()
    }

    #[test]
    fn rows_written_by_copy_binary_read_back_in_any_chunking() {
        let bytes = two_rows();
        for chunk in [1, 2, 3, 7, 64, bytes.len()] {
            let mut rows = CopyRows::default();
            let mut got = Vec::new();
            for piece in bytes.chunks(chunk) {
                rows.push(piece);
                while let Some([pos, json, at]) = rows.next_row::<3>().unwrap() {
                    let at = field::timestamptz(at.unwrap()).unwrap();
                    got.push((field::int8(pos.unwrap()).unwrap(), field::jsonb(json.unwrap()).unwrap().to_owned(), at));
                }
            }
            assert!(rows.finished(), "chunks of {chunk}");
            assert_eq!(got.len(), 2, "chunks of {chunk}");
            assert_eq!((got[0].0, got[0].1.as_str()), (7, r#"{"a":1}"#));
            assert_eq!((got[1].0, got[1].1.as_str()), (8, "[]"));
            assert_eq!(got[0].2.timestamp_micros(), 1_790_000_000_123_456);
        }
    }

    #[test]
    fn a_stream_that_is_not_binary_copy_or_has_other_rows_is_refused() {
        let mut rows = CopyRows::default();
        rows.push(b"1\t2\n and some more text here");
        assert!(matches!(rows.next_row::<3>(), Err(CopyFormatError::Signature)));
        let mut rows = CopyRows::default();
        rows.push(&two_rows());
        assert!(matches!(rows.next_row::<4>(), Err(CopyFormatError::FieldCount { expected: 4, got: 3 })));
        assert!(matches!(field::int8(&[0, 1]), Err(CopyFormatError::FieldSize { .. })));
        assert!(matches!(field::jsonb(&[2, b'1']), Err(CopyFormatError::JsonbVersion(2))));
    }

    #[test]
    fn a_stream_cut_inside_a_row_asks_for_more_rather_than_inventing_a_row() {
        let bytes = two_rows();
        let mut rows = CopyRows::default();
        rows.push(&bytes[..bytes.len() - 5]);
        assert!(rows.next_row::<3>().unwrap().is_some());
        assert!(rows.next_row::<3>().unwrap().is_none());
        assert!(!rows.finished());
        assert!(rows.pending() > 0);
    }
}
