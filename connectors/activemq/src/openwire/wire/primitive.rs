//! ActiveMQ's primitive map (`MarshallingSupport.marshalPrimitiveMap`): message properties and
//! the `WireFormatInfo` options. A 32-bit entry count (-1 for none), then per entry a
//! `writeUTF` name, a type byte and the value.

use super::buf::{Reader, WireError, Writer};
use super::mutf8;
use bytes::{BufMut, Bytes};

const NULL: u8 = 0;
const BOOLEAN: u8 = 1;
const BYTE: u8 = 2;
const CHAR: u8 = 3;
const SHORT: u8 = 4;
const INTEGER: u8 = 5;
const LONG: u8 = 6;
const DOUBLE: u8 = 7;
const FLOAT: u8 = 8;
const STRING: u8 = 9;
const BYTE_ARRAY: u8 = 10;
const MAP: u8 = 11;
const LIST: u8 = 12;
const BIG_STRING: u8 = 13;

/// One JMS property value, with its Java type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Primitive {
    Null,
    Bool(bool),
    Byte(i8),
    /// A Java `char` (one UTF-16 unit).
    Char(u16),
    Short(i16),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    String(String),
    Bytes(Bytes),
    Map(PrimitiveMap),
    List(Vec<Primitive>),
}

/// Entries in the order they came (Java's `HashMap` order on the wire).
pub(crate) type PrimitiveMap = Vec<(String, Primitive)>;

impl Primitive {
    /// The value as Java's `String.valueOf` prints it: how Lambda shows JMS properties.
    pub(crate) fn to_text(&self) -> String {
        match self {
            Primitive::Null => "null".into(),
            Primitive::Bool(b) => b.to_string(),
            Primitive::Byte(n) => n.to_string(),
            Primitive::Char(c) => String::from_utf16_lossy(&[*c]),
            Primitive::Short(n) => n.to_string(),
            Primitive::Int(n) => n.to_string(),
            Primitive::Long(n) => n.to_string(),
            Primitive::Float(x) => java_double(*x as f64, &x.to_string(), &format!("{x:e}")),
            Primitive::Double(x) => java_double(*x, &x.to_string(), &format!("{x:e}")),
            Primitive::String(s) => s.clone(),
            Primitive::Bytes(b) => base64_simd::STANDARD.encode_to_string(b),
            Primitive::Map(m) => {
                let inner: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.to_text()))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
            Primitive::List(l) => {
                let inner: Vec<String> = l.iter().map(Primitive::to_text).collect();
                format!("[{}]", inner.join(", "))
            }
        }
    }
}

/// Java's `Double.toString`: plain notation with at least one decimal between 10^-3 and 10^7,
/// else `1.5E10`.
fn java_double(x: f64, plain: &str, scientific: &str) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let magnitude = x.abs();
    if x == 0.0 || (1e-3..1e7).contains(&magnitude) {
        return if plain.contains('.') {
            plain.to_owned()
        } else {
            format!("{plain}.0")
        };
    }
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

/// Read a map; `None` for the -1 count Java writes for a null map.
pub(super) fn read_map(r: &mut Reader) -> Result<Option<PrimitiveMap>, WireError> {
    let n = r.i32()?;
    if n < 0 {
        return Ok(None);
    }
    // Every entry takes at least 3 bytes: refuse counts the frame cannot hold.
    if n as usize > r.remaining() / 3 {
        return Err(WireError::Truncated);
    }
    r.nest()?;
    let mut map = Vec::with_capacity((n as usize).min(64));
    for _ in 0..n {
        let name = r.utf()?;
        map.push((name, read_value(r)?));
    }
    r.leave();
    Ok(Some(map))
}

fn read_value(r: &mut Reader) -> Result<Primitive, WireError> {
    Ok(match r.u8()? {
        NULL => Primitive::Null,
        BOOLEAN => Primitive::Bool(r.bool()?),
        BYTE => Primitive::Byte(r.u8()? as i8),
        CHAR => Primitive::Char(r.u16()?),
        SHORT => Primitive::Short(r.i16()?),
        INTEGER => Primitive::Int(r.i32()?),
        LONG => Primitive::Long(r.i64()?),
        DOUBLE => Primitive::Double(r.f64()?),
        FLOAT => Primitive::Float(r.f32()?),
        STRING => Primitive::String(r.utf()?),
        BIG_STRING => {
            let n = r.i32()?;
            let n = r.length(n as i64)?;
            Primitive::String(mutf8::decode(&r.bytes(n)?))
        }
        BYTE_ARRAY => {
            let n = r.i32()?;
            let n = r.length(n as i64)?;
            Primitive::Bytes(r.bytes(n)?)
        }
        MAP => Primitive::Map(read_map(r)?.unwrap_or_default()),
        LIST => {
            let n = r.i32()?;
            let n = r.length(n as i64)?;
            r.nest()?;
            let mut list = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                list.push(read_value(r)?);
            }
            r.leave();
            Primitive::List(list)
        }
        _ => return Err(WireError::Invalid("unknown primitive type in a map")),
    })
}

/// Write a map as Java does.
pub(super) fn write_map(w: &mut Writer, map: &[(String, Primitive)]) -> Result<(), WireError> {
    w.i32(map.len() as i32);
    for (name, value) in map {
        w.utf(name)?;
        write_value(w, value)?;
    }
    Ok(())
}

fn write_value(w: &mut Writer, v: &Primitive) -> Result<(), WireError> {
    match v {
        Primitive::Null => w.u8(NULL),
        Primitive::Bool(b) => {
            w.u8(BOOLEAN);
            w.bool(*b);
        }
        Primitive::Byte(n) => {
            w.u8(BYTE);
            w.u8(*n as u8);
        }
        Primitive::Char(c) => {
            w.u8(CHAR);
            w.0.put_u16(*c);
        }
        Primitive::Short(n) => {
            w.u8(SHORT);
            w.i16(*n);
        }
        Primitive::Int(n) => {
            w.u8(INTEGER);
            w.i32(*n);
        }
        Primitive::Long(n) => {
            w.u8(LONG);
            w.i64(*n);
        }
        Primitive::Float(x) => {
            w.u8(FLOAT);
            w.f32(*x);
        }
        Primitive::Double(x) => {
            w.u8(DOUBLE);
            w.f64(*x);
        }
        Primitive::String(s) if s.encode_utf16().count() < i16::MAX as usize / 4 => {
            w.u8(STRING);
            w.utf(s)?;
        }
        Primitive::String(s) => {
            // Java switches to a 32-bit length for long strings, as `writeUTF8` does.
            w.u8(BIG_STRING);
            w.i32(mutf8::encoded_len(s) as i32);
            mutf8::encode_into(s, w.0);
        }
        Primitive::Bytes(b) => {
            w.u8(BYTE_ARRAY);
            w.i32(b.len() as i32);
            w.raw(b);
        }
        Primitive::Map(m) => {
            w.u8(MAP);
            write_map(w, m)?;
        }
        Primitive::List(l) => {
            w.u8(LIST);
            w.i32(l.len() as i32);
            for v in l {
                write_value(w, v)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn java_string_value_of() {
        let cases = [
            (Primitive::Double(1.0), "1.0"),
            (Primitive::Double(0.5), "0.5"),
            (Primitive::Double(1e10), "1.0E10"),
            (Primitive::Double(1.5e-5), "1.5E-5"),
            (Primitive::Float(2.25), "2.25"),
            (Primitive::Long(-7), "-7"),
            (Primitive::Bool(false), "false"),
            (Primitive::Char('x' as u16), "x"),
            (Primitive::Double(f64::NEG_INFINITY), "-Infinity"),
        ];
        for (v, text) in cases {
            assert_eq!(v.to_text(), text, "{v:?}");
        }
    }

    #[test]
    fn golden_bytes_of_a_map() {
        let map = vec![
            ("a".to_owned(), Primitive::Int(1)),
            ("b".to_owned(), Primitive::String("x".into())),
        ];
        let mut out = BytesMut::new();
        write_map(&mut Writer(&mut out), &map).unwrap();
        assert_eq!(
            &out[..],
            &[
                0, 0, 0, 2, // entries
                0, 1, b'a', INTEGER, 0, 0, 0, 1, // a: Integer 1
                0, 1, b'b', STRING, 0, 1, b'x', // b: String "x"
            ]
        );
        let back = read_map(&mut Reader::new(out.freeze())).unwrap();
        assert_eq!(back, Some(map));
    }
}
