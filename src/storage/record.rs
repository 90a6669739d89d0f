//! Log record framing: `len: u32 | crc32c: u32 | zxid: i64 | txn bytes`, big-endian.
//!
//! `len` counts the zxid and txn bytes; the CRC covers the same bytes, so a record whose
//! length field survived but whose body was torn is still caught. A zero length marks the
//! end of written data (zero-filled preallocation).

use crate::txn::Zxid;

pub const HEADER_BYTES: usize = 8;
const ZXID_BYTES: usize = 8;
/// No record is larger than this; a bigger length is corruption, not a record.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Bytes one record with a `txn_len`-byte txn takes on disk.
pub const fn framed_len(txn_len: usize) -> usize {
    HEADER_BYTES + ZXID_BYTES + txn_len
}

/// Appends one framed record to `out`.
pub fn encode_into(out: &mut Vec<u8>, zxid: Zxid, txn: &[u8]) {
    let len = (ZXID_BYTES + txn.len()) as u32;
    let start = out.len();
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&zxid.to_be_bytes());
    out.extend_from_slice(txn);
    let crc = crc32c::crc32c(&out[start + HEADER_BYTES..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
}

/// What the reader found at an offset.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan<'a> {
    Record {
        zxid: Zxid,
        txn: &'a [u8],
        next: usize,
    },
    /// Clean end: end of file or a zero length (preallocated space).
    End,
    /// A record that cannot be trusted starts here: short, oversized or bad checksum.
    Torn { why: &'static str },
}

/// Reads the record at `pos` of `buf`.
pub fn scan(buf: &[u8], pos: usize) -> Scan<'_> {
    let rest = &buf[pos.min(buf.len())..];
    if rest.is_empty() {
        return Scan::End;
    }
    if rest.len() < HEADER_BYTES {
        return if rest.iter().all(|b| *b == 0) {
            Scan::End
        } else {
            Scan::Torn {
                why: "short record header",
            }
        };
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    if len == 0 {
        return Scan::End;
    }
    if !(ZXID_BYTES..=MAX_RECORD_BYTES).contains(&len) {
        return Scan::Torn {
            why: "impossible record length",
        };
    }
    if rest.len() < HEADER_BYTES + len {
        return Scan::Torn {
            why: "record extends past end of file",
        };
    }
    let crc = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
    let body = &rest[HEADER_BYTES..HEADER_BYTES + len];
    if crc32c::crc32c(body) != crc {
        return Scan::Torn {
            why: "checksum mismatch",
        };
    }
    let mut z = [0u8; 8];
    z.copy_from_slice(&body[..ZXID_BYTES]);
    Scan::Record {
        zxid: i64::from_be_bytes(z),
        txn: &body[ZXID_BYTES..],
        next: pos + HEADER_BYTES + len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_torn_detection() {
        let mut buf = Vec::new();
        encode_into(&mut buf, 1, b"abc");
        encode_into(&mut buf, 2, b"defg");
        let Scan::Record { zxid, txn, next } = scan(&buf, 0) else {
            panic!()
        };
        assert_eq!((zxid, txn), (1, &b"abc"[..]));
        let Scan::Record { zxid, next: n2, .. } = scan(&buf, next) else {
            panic!()
        };
        assert_eq!(zxid, 2);
        assert_eq!(scan(&buf, n2), Scan::End);

        // No truncation of the second record reads as a record; once the non-zero part of
        // the length is present, it reads as torn.
        for cut in next + 1..buf.len() {
            let s = scan(&buf[..cut], next);
            assert!(!matches!(s, Scan::Record { .. }), "cut {cut}");
            if cut >= next + 4 {
                assert!(matches!(s, Scan::Torn { .. }), "cut {cut}");
            }
        }
        // A flipped bit anywhere in the body is caught by the checksum.
        for i in next + HEADER_BYTES..buf.len() {
            let mut b = buf.clone();
            b[i] ^= 0x10;
            assert!(matches!(scan(&b, next), Scan::Torn { .. }));
        }
        // Zero fill after the data is a clean end.
        buf.extend_from_slice(&[0; 64]);
        assert_eq!(scan(&buf, n2), Scan::End);
    }
}
