//! Keys compare as Erlang compares terms; items decode to what was encoded.

use sorted_set::term::{decode, encode_to_vec, key, EncodeError, Value};
use std::borrow::Cow;

fn k(v: &Value) -> Vec<u8> {
    key(&encode_to_vec(v).unwrap()).to_vec()
}

fn atom(s: &str) -> Value<'static> {
    Value::Atom(Cow::Owned(s.to_string()))
}

fn big(negative: bool, magnitude: Vec<u8>) -> Value<'static> {
    Value::BigInt { negative, magnitude: Cow::Owned(magnitude) }
}

fn list(items: Vec<Value<'static>>) -> Value<'static> {
    Value::List { items, tail: None }
}

fn bits(bytes: &'static [u8], trailing_bits: u8) -> Value<'static> {
    Value::Bitstring { bytes: Cow::Borrowed(bytes), trailing_bits }
}

/// Strictly ascending in Erlang's term order (checked against `lists:sort`).
fn ascending() -> Vec<Value<'static>> {
    vec![
        big(true, vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), // -2^72
        Value::Float(-1.0e20),
        Value::Int(i64::MIN),
        Value::Int(-1),
        Value::Float(-0.5),
        Value::Float(-5e-324),
        Value::Int(0),
        Value::Float(5e-324),
        Value::Float(2.2250738585072014e-308),
        Value::Float(0.5),
        Value::Int(1),
        Value::Float(1.5),
        Value::Int(2),
        Value::Float(9007199254740992.0),
        Value::Int(9007199254740993),
        Value::Int(i64::MAX),
        big(false, vec![0x80, 0, 0, 0, 0, 0, 0, 0]),
        big(false, vec![1, 0, 0, 0, 0, 0, 0, 0, 1]),
        Value::Float(1.0e300),
        atom(""),
        atom("a"),
        atom("a\0"),
        atom("ab"),
        atom("b"),
        atom("é"),
        Value::Tuple(vec![]),
        Value::Tuple(vec![Value::Int(9)]),
        Value::Tuple(vec![atom("a"), Value::Int(0)]),
        Value::Tuple(vec![Value::Int(1), Value::Int(0), Value::Int(0)]),
        Value::Map(vec![]),
        Value::Map(vec![(Value::Int(2), atom("x"))]),
        Value::Map(vec![(Value::Float(1.0), atom("x"))]),
        Value::Map(vec![(Value::Float(1.0), atom("x")), (Value::Int(5), atom("y"))]),
        Value::nil(),
        Value::List { items: vec![Value::Int(1)], tail: Some(Box::new(Value::Int(2))) },
        list(vec![Value::Int(1)]),
        list(vec![Value::Int(1), Value::Int(2)]),
        list(vec![atom("a")]),
        bits(b"", 0),
        bits(b"\x00", 1),
        bits(b"\x00", 0),
        bits(b"\x00\x00", 0),
        bits(b"\x01", 0),
        bits(b"\x80", 1),
        bits(b"\x80", 2),
        bits(b"\x80", 0),
        bits(b"\x80\x00", 0),
        bits(b"\xc0", 2),
        bits(b"\xff\xff", 0),
    ]
}

#[test]
fn keys_follow_erlang_term_order() {
    let values = ascending();
    for pair in values.windows(2) {
        assert!(k(&pair[0]) < k(&pair[1]), "{:?} should sort before {:?}", pair[0], pair[1]);
    }
}

#[test]
fn equal_numbers_have_equal_keys_but_decode_to_their_own_type() {
    let pairs = [
        (Value::Int(1), Value::Float(1.0)),
        (Value::Int(0), Value::Float(-0.0)),
        (Value::Int(-3), Value::Float(-3.0)),
        (big(false, vec![0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Value::Float(2f64.powi(100))),
        (Value::Tuple(vec![Value::Int(1)]), Value::Tuple(vec![Value::Float(1.0)])),
        (
            Value::Map(vec![(atom("a"), Value::Int(1))]),
            Value::Map(vec![(atom("a"), Value::Float(1.0))]),
        ),
    ];
    for (a, b) in pairs {
        assert_eq!(k(&a), k(&b), "{a:?} == {b:?}");
        assert_eq!(decode(&encode_to_vec(&b).unwrap()).unwrap(), normalise(b));
    }
    // Map keys compare exactly: 1 and 1.0 are different keys.
    let m1 = Value::Map(vec![(Value::Int(1), atom("a"))]);
    let m2 = Value::Map(vec![(Value::Float(1.0), atom("a"))]);
    assert!(k(&m1) < k(&m2));
}

#[test]
fn big_and_small_integer_paths_agree() {
    for v in [1i64, 2, 3, 127, 128, 255, 256, 1 << 40, (1 << 53) + 1, i64::MAX, -1, -(1 << 33) - 7, i64::MIN + 1] {
        let b = big(v < 0, v.unsigned_abs().to_be_bytes().to_vec());
        assert_eq!(k(&Value::Int(v)), k(&b), "{v}");
        assert_eq!(decode(&encode_to_vec(&b).unwrap()).unwrap(), Value::Int(v));
    }
}

#[test]
fn refuses_what_the_beam_cannot_hold() {
    assert_eq!(encode_to_vec(&Value::Float(f64::NAN)), Err(EncodeError::NotFinite));
    assert_eq!(encode_to_vec(&Value::Float(f64::INFINITY)), Err(EncodeError::NotFinite));
    assert_eq!(encode_to_vec(&bits(b"\x01", 8)), Err(EncodeError::BadBitstring));
    let mut deep = Value::nil();
    for _ in 0..150 {
        deep = Value::Tuple(vec![deep]);
    }
    assert_eq!(encode_to_vec(&deep), Err(EncodeError::TooDeep));
}

#[test]
fn malformed_items_are_errors() {
    let item = encode_to_vec(&Value::Tuple(vec![Value::Int(300), atom("abc"), Value::Float(2.5)])).unwrap();
    for cut in 0..item.len() {
        assert!(decode(&item[..cut]).is_err(), "truncated at {cut}");
    }
    assert!(decode(&[0, 0x42]).is_err());
}

/// Decoding gives canonical forms: integers in i64 as `Int`, `-0.0` as
/// `0.0`, map pairs by exact key order.
fn normalise(v: Value<'static>) -> Value<'static> {
    match v {
        Value::Float(f) if f == 0.0 => Value::Float(0.0),
        Value::BigInt { negative, magnitude } => {
            let digits: Vec<u8> = magnitude.iter().copied().skip_while(|&b| b == 0).collect();
            if digits.len() <= 8 {
                let mut buf = [0u8; 8];
                buf[8 - digits.len()..].copy_from_slice(&digits);
                let m = u64::from_be_bytes(buf);
                if !negative && m <= i64::MAX as u64 {
                    return Value::Int(m as i64);
                }
                if negative && m <= 1 << 63 {
                    return Value::Int((m as i64).wrapping_neg());
                }
                return Value::BigInt { negative, magnitude: Cow::Owned(m.to_be_bytes().to_vec()) };
            }
            Value::BigInt { negative, magnitude: Cow::Owned(digits) }
        }
        Value::Tuple(items) => Value::Tuple(items.into_iter().map(normalise).collect()),
        Value::List { items, tail } => Value::List {
            items: items.into_iter().map(normalise).collect(),
            tail: tail.map(|t| Box::new(normalise(*t))),
        },
        Value::Map(pairs) => {
            let mut pairs: Vec<_> = pairs.into_iter().map(|(a, b)| (normalise(a), normalise(b))).collect();
            pairs.sort_by_key(|(a, _)| {
                let wrapped = Value::Map(vec![(a.clone(), Value::nil())]);
                k(&wrapped)
            });
            Value::Map(pairs)
        }
        other => other,
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn value(&mut self, depth: u32) -> Value<'static> {
        let leaf_only = depth >= 3;
        match self.below(if leaf_only { 5 } else { 9 }) {
            0 => Value::Int(self.next() as i64 >> self.below(64)),
            1 => {
                let len = 1 + self.below(20) as usize;
                big(self.below(2) == 0, (0..len).map(|_| self.next() as u8).collect())
            }
            2 => loop {
                let f = f64::from_bits(self.next());
                if f.is_finite() {
                    break Value::Float(if self.below(2) == 0 { f } else { (self.below(1000) as f64) / 8.0 });
                }
            },
            3 => atom(["", "a", "ok", "é", "zz\0z"][self.below(5) as usize]),
            4 => {
                let len = self.below(6) as usize;
                let mut bytes: Vec<u8> = (0..len).map(|_| [0u8, 1, 0x80, 0xFF][self.below(4) as usize]).collect();
                let trailing = if len > 0 { self.below(8) as u8 } else { 0 };
                if trailing > 0 {
                    let last = bytes.len() - 1;
                    bytes[last] &= 0xFF << (8 - trailing);
                }
                Value::Bitstring { bytes: Cow::Owned(bytes), trailing_bits: trailing }
            }
            5 | 6 => {
                let n = self.below(4);
                let items = (0..n).map(|_| self.value(depth + 1)).collect();
                if self.below(2) == 0 {
                    Value::Tuple(items)
                } else {
                    let tail = (self.below(4) == 0).then(|| Box::new(self.value(3)));
                    let tail = tail.filter(|t| !items.is_empty() && !matches!(**t, Value::List { .. }));
                    Value::List { items, tail }
                }
            }
            _ => {
                let n = self.below(3);
                let mut pairs: Vec<(Value<'static>, Value<'static>)> = Vec::new();
                for _ in 0..n {
                    let kv = self.value(depth + 1);
                    let kk = k(&Value::Map(vec![(kv.clone(), Value::nil())]));
                    if pairs.iter().all(|(p, _)| k(&Value::Map(vec![(p.clone(), Value::nil())])) != kk) {
                        pairs.push((kv, self.value(depth + 1)));
                    }
                }
                Value::Map(pairs)
            }
        }
    }
}

#[test]
fn random_values_round_trip() {
    let seed = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED);
    let mut rng = Rng(seed);
    for i in 0..20_000 {
        let v = rng.value(0);
        let item = encode_to_vec(&v).unwrap();
        let back = decode(&item).unwrap_or_else(|e| panic!("seed {seed} case {i}: {e} for {v:?}"));
        assert_eq!(back, normalise(v.clone()), "seed {seed} case {i}");
        assert_eq!(key(&encode_to_vec(&back).unwrap()), key(&item), "seed {seed} case {i}");
    }
}

#[test]
fn piecewise_encoding_and_decoding_agree_with_values() {
    use sorted_set::term::{decode, decode_with, encode, encode_with, Build, EncodeError, ItemWriter};
    use std::borrow::Cow;

    // {1, "ab", [x | 2.5]} written piece by piece, and as a Value.
    let v = Value::Tuple(vec![
        Value::Int(1),
        Value::binary(b"ab"),
        Value::List { items: vec![Value::Atom(Cow::Borrowed("x"))], tail: Some(Box::new(Value::Float(2.5))) },
    ]);
    let mut whole = Vec::new();
    encode(&v, &mut whole).unwrap();
    let mut pieces = Vec::new();
    encode_with(&mut pieces, |w: &mut ItemWriter| -> Result<(), EncodeError> {
        w.tuple(3);
        w.int(1);
        w.bits(b"ab", 0)?;
        w.cons();
        w.atom("x");
        w.float(2.5)
    })
    .unwrap();
    assert_eq!(pieces, whole);
    assert_eq!(decode(&pieces).unwrap(), v);

    // A builder sees the pieces in depth-first order, compounds last.
    struct Trace(Vec<String>);
    impl<'b> Build<'b> for Trace {
        fn int(&mut self, i: i64) { self.0.push(format!("int {i}")) }
        fn big_int(&mut self, _: bool, _: &[u8]) { self.0.push("big".into()) }
        fn float(&mut self, f: f64) { self.0.push(format!("float {f}")) }
        fn atom(&mut self, t: Cow<'b, str>) { self.0.push(format!("atom {t}")) }
        fn bits(&mut self, b: Cow<'b, [u8]>, _: u8) { self.0.push(format!("bits {}", b.len())) }
        fn tuple(&mut self, n: usize) { self.0.push(format!("tuple {n}")) }
        fn list(&mut self, n: usize, improper: bool) { self.0.push(format!("list {n} {improper}")) }
        fn map(&mut self, n: usize) { self.0.push(format!("map {n}")) }
    }
    let mut t = Trace(Vec::new());
    decode_with(&whole, &mut t).unwrap();
    assert_eq!(t.0, ["int 1", "bits 2", "atom x", "float 2.5", "list 1 true", "tuple 3"]);
}
