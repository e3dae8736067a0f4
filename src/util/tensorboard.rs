//! TensorBoard event files, written natively: TFRecord framing around hand-encoded `tensorflow.Event`
//! protobufs. Written by hand because sertool runs without Python or TensorFlow, and the few message
//! fields a scalar needs (varints, a double, a float, strings) take a few dozen lines, which beats a
//! protobuf dependency and its build step. CRC-32C (Castagnoli) is here too, for the record checksums.

/// One scalar point: tag (e.g. "loss/total", "dev/uar"), step (epoch), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub tag: String,
    pub step: i64,
    pub value: f32,
}

/// The bytes of one event file: a first event with file_version "brain.Event:2", then one Event per scalar
/// (wall_time = `wall_time(step)`, step, summary { value { tag, simple_value } }). Same input, same bytes.
pub fn event_file(scalars: &[Scalar], wall_time: impl Fn(i64) -> f64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ev = Vec::new();
    put_double(&mut ev, 1, wall_time(0));
    put_bytes(&mut ev, 3, b"brain.Event:2");
    put_record(&mut out, &ev);
    for s in scalars {
        let mut value = Vec::new();
        put_bytes(&mut value, 1, s.tag.as_bytes());
        // `simple_value` sits in a oneof: written even when 0, so readers see which kind the value is.
        put_float(&mut value, 2, s.value);
        let mut summary = Vec::new();
        put_bytes(&mut summary, 1, &value);
        ev.clear();
        put_double(&mut ev, 1, wall_time(s.step));
        if s.step != 0 {
            put_varint_field(&mut ev, 2, s.step as u64);
        }
        put_bytes(&mut ev, 5, &summary);
        put_record(&mut out, &ev);
    }
    out
}

/// The file name TensorBoard expects: `events.out.tfevents.<secs>.<host>`.
pub fn file_name(secs: u64, host: &str) -> String {
    format!("events.out.tfevents.{secs}.{host}")
}

/// Appends one TFRecord: length, masked CRC of the length bytes, data, masked CRC of the data.
fn put_record(out: &mut Vec<u8>, data: &[u8]) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

/// Appends `v` as a protobuf base-128 varint (an `i64` cast to `u64` takes the 10-byte two's complement form).
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a field key: field number and wire type.
fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

/// Appends a varint field (wire type 0).
fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_key(out, field, 0);
    put_varint(out, v);
}

/// Appends a `double` field (wire type 1, fixed64 little endian).
fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_key(out, field, 1);
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a `float` field (wire type 5, fixed32 little endian).
fn put_float(out: &mut Vec<u8>, field: u32, v: f32) {
    put_key(out, field, 5);
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a length-delimited field (wire type 2): a string, bytes or an embedded message.
fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// CRC-32C lookup table for the reflected Castagnoli polynomial, built at compile time.
const CRC_TABLE: [u32; 256] = crc_table();

/// Builds [`CRC_TABLE`].
const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32C (Castagnoli) of `data`.
fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// The masked CRC-32C TFRecord stores, so that CRCs of data holding CRCs stay well distributed.
fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalars() -> Vec<Scalar> {
        vec![
            Scalar { tag: "loss/total".into(), step: 0, value: 1.25 },
            Scalar { tag: "dev/uar".into(), step: 0, value: 0.0 },
            Scalar { tag: "loss/total".into(), step: 1, value: 0.75 },
            Scalar { tag: "dev/uar".into(), step: 1, value: 0.5 },
        ]
    }

    /// Splits a file back into its records, checking every length and CRC.
    fn records(mut bytes: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (len, rest) = bytes.split_at(8);
            let (len_crc, rest) = rest.split_at(4);
            assert_eq!(masked_crc32c(len).to_le_bytes(), len_crc, "length CRC");
            let n = u64::from_le_bytes(len.try_into().unwrap()) as usize;
            let (data, rest) = rest.split_at(n);
            let (data_crc, rest) = rest.split_at(4);
            assert_eq!(masked_crc32c(data).to_le_bytes(), data_crc, "data CRC");
            out.push(data);
            bytes = rest;
        }
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn crc32c_check_values() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn framing_decodes_and_holds_the_tags() {
        let s = scalars();
        let bytes = event_file(&s, |step| 1000.0 + step as f64);
        let recs = records(&bytes);
        assert_eq!(recs.len(), 1 + s.len());
        assert!(contains(recs[0], b"brain.Event:2"));
        for (rec, sc) in recs[1..].iter().zip(&s) {
            assert!(contains(rec, sc.tag.as_bytes()), "tag {}", sc.tag);
            assert!(contains(rec, &(1000.0 + sc.step as f64).to_le_bytes()), "wall_time");
            assert!(contains(rec, &[0x15]) && contains(rec, &sc.value.to_le_bytes()), "simple_value");
        }
    }

    #[test]
    fn same_input_same_bytes() {
        let a = event_file(&scalars(), |step| 1.7e9 + step as f64);
        let b = event_file(&scalars(), |step| 1.7e9 + step as f64);
        assert_eq!(a, b);
        assert_ne!(a, event_file(&scalars()[..3], |step| 1.7e9 + step as f64));
    }

    #[test]
    fn negative_varint_takes_ten_bytes() {
        let mut out = Vec::new();
        put_varint(&mut out, -1i64 as u64);
        assert_eq!(out, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    }

    #[test]
    fn file_name_has_tensorboard_form() {
        assert_eq!(file_name(1_700_000_000, "host"), "events.out.tfevents.1700000000.host");
    }
}
