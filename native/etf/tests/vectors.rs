//! Hand-written vectors for every tag, serde round trips, and malformed input.

use etf::{decompress, from_slice, from_slice_with, to_vec, Decoder, ErrorKind, Event, Limits, Writer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn events(input: &[u8]) -> Result<Vec<Event<'_>>, etf::Error> {
    let body = match decompress(input, &Limits::default())? {
        std::borrow::Cow::Borrowed(b) => b,
        std::borrow::Cow::Owned(_) => panic!("use events_owned for compressed input"),
    };
    let mut d = Decoder::new(body, 1, Limits::default());
    let mut out = Vec::new();
    while !d.is_done() {
        out.push(d.next()?);
    }
    d.finish()?;
    Ok(out)
}

#[test]
fn every_tag_decodes() {
    use Event::*;
    let cases: Vec<(Vec<u8>, Vec<Event>)> = vec![
        (vec![131, 97, 7], vec![Int(7)]),
        (vec![131, 98, 255, 255, 255, 254], vec![Int(-2)]),
        (vec![131, 110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 128], vec![Big { negative: false, le: &[0, 0, 0, 0, 0, 0, 0, 128] }]),
        (vec![131, 110, 2, 1, 1, 1], vec![Int(-257)]),
        (vec![131, 111, 0, 0, 0, 1, 0, 5], vec![Int(5)]),
        (vec![131, 70, 64, 9, 33, 251, 84, 68, 45, 24], vec![Float(std::f64::consts::PI)]),
        ({
            let mut v = vec![131, 99];
            let mut text = b"1.50000000000000000000e+00".to_vec();
            text.resize(31, 0);
            v.extend(text);
            v
        }, vec![Float(1.5)]),
        (vec![131, 100, 0, 2, b'o', b'k'], vec![Atom { name: b"ok", utf8: false }]),
        (vec![131, 115, 2, b'o', b'k'], vec![Atom { name: b"ok", utf8: false }]),
        (vec![131, 118, 0, 2, 0xC3, 0xA9], vec![Atom { name: "é".as_bytes(), utf8: true }]),
        (vec![131, 119, 2, 0xC3, 0xA9], vec![Atom { name: "é".as_bytes(), utf8: true }]),
        (vec![131, 104, 2, 97, 1, 106], vec![Tuple(2), Int(1), Nil]),
        (vec![131, 105, 0, 0, 0, 1, 97, 1], vec![Tuple(1), Int(1)]),
        (vec![131, 106], vec![Nil]),
        (vec![131, 107, 0, 2, 1, 2], vec![Str(&[1, 2])]),
        (vec![131, 108, 0, 0, 0, 1, 97, 1, 97, 2], vec![List(1), Int(1), Int(2)]),
        (vec![131, 109, 0, 0, 0, 2, 0xFF, 0], vec![Binary(&[0xFF, 0])]),
        (vec![131, 77, 0, 0, 0, 1, 3, 0xA0], vec![Bits { bytes: &[0xA0], bits: 3 }]),
        (vec![131, 116, 0, 0, 0, 1, 97, 1, 106], vec![Map(1), Int(1), Nil]),
    ];
    for (input, want) in cases {
        assert_eq!(events(&input).unwrap(), want, "{input:?}");
    }
}

#[test]
fn opaque_terms_are_delimited() {
    // NEW_PID_EXT: node atom, id, serial, creation.
    let mut pid = vec![131, 88, 119, 13];
    pid.extend_from_slice(b"nonode@nohost");
    pid.extend_from_slice(&[0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0]);
    let evs = events(&pid).unwrap();
    assert!(matches!(evs[..], [Event::Opaque(b)] if b.len() == pid.len() - 1));
}

#[test]
fn compressed_terms_inflate_within_limits() {
    let mut w = Writer::new();
    w.binary(&[7u8; 10_000]);
    let packed = w.into_compressed(6);
    assert!(packed.len() < 200);
    let body = decompress(&packed, &Limits::default()).unwrap();
    assert_eq!(body.len(), 10_005);

    // A zip bomb: a small input declaring 1 GiB is refused before inflating.
    let mut bomb = packed.clone();
    bomb[2..6].copy_from_slice(&(1u32 << 30).to_be_bytes());
    assert_eq!(decompress(&bomb, &Limits::default()).unwrap_err().kind, ErrorKind::DecompressedTooLarge);
    // A declared size that is a lie is refused.
    let mut liar = packed.clone();
    liar[2..6].copy_from_slice(&100u32.to_be_bytes());
    assert_eq!(decompress(&liar, &Limits::default()).unwrap_err().kind, ErrorKind::BadCompression);
}

#[test]
fn malformed_input_is_an_error_never_a_panic() {
    let good = to_vec(&Sample::example()).unwrap();
    for cut in 0..good.len() {
        assert!(events(&good[..cut]).is_err(), "truncated at {cut}");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(events(&trailing).unwrap_err().kind, ErrorKind::TrailingBytes);
    assert_eq!(events(&[130, 97, 1]).unwrap_err().kind, ErrorKind::BadVersion);
    assert_eq!(events(&[131, 200]).unwrap_err().kind, ErrorKind::BadTag(200));
    // Lengths larger than the input.
    assert_eq!(events(&[131, 108, 255, 255, 255, 255, 106]).unwrap_err().kind, ErrorKind::TooLong);
    assert_eq!(events(&[131, 116, 0, 0, 1, 0, 106]).unwrap_err().kind, ErrorKind::TooLong);
    assert_eq!(events(&[131, 109, 0, 0, 0, 9, 1]).unwrap_err().kind, ErrorKind::Truncated);
    // NaN and infinity.
    let mut nan = vec![131, 70];
    nan.extend_from_slice(&f64::NAN.to_bits().to_be_bytes());
    assert_eq!(events(&nan).unwrap_err().kind, ErrorKind::NotFinite);
    // A depth bomb: 100k nested one-tuples.
    let mut deep = vec![131];
    deep.extend(std::iter::repeat_n([104u8, 1], 100_000).flatten());
    deep.push(106);
    assert_eq!(events(&deep).unwrap_err().kind, ErrorKind::TooDeep);
    // An atom longer than 255 characters.
    let mut long_atom = vec![131, 100, 1, 0];
    long_atom.extend(std::iter::repeat_n(b'a', 256));
    assert_eq!(events(&long_atom).unwrap_err().kind, ErrorKind::BadAtom);
    // Invalid UTF-8 in a UTF-8 atom.
    assert_eq!(events(&[131, 119, 1, 0xFF]).unwrap_err().kind, ErrorKind::BadAtom);
}

#[test]
fn limits_are_enforced() {
    let limits = Limits { max_size: 10, ..Limits::default() };
    let big = to_vec(&"a string longer than ten bytes").unwrap();
    assert_eq!(from_slice_with::<String>(&big, limits).unwrap_err().kind, ErrorKind::InputTooLarge);
    let limits = Limits { max_binary: 4, ..Limits::default() };
    assert_eq!(from_slice_with::<String>(&big, limits).unwrap_err().kind, ErrorKind::BinaryTooLarge);
    let limits = Limits { max_length: 2, ..Limits::default() };
    assert_eq!(from_slice_with::<Vec<i32>>(&to_vec(&vec![1, 2, 3]).unwrap(), limits).unwrap_err().kind, ErrorKind::TooLong);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Sample {
    id: u64,
    name: String,
    nick: Option<String>,
    tags: Vec<String>,
    score: f64,
    flags: (bool, i32),
    kind: Kind,
    extra: BTreeMap<String, i64>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Kind {
    Bot,
    User { level: u8 },
    Pair(i8, i8),
}

impl Sample {
    fn example() -> Self {
        Sample {
            id: 80351110224678912,
            name: "Nelly".into(),
            nick: None,
            tags: vec!["a".into(), "é".into()],
            score: -2.5,
            flags: (true, -70000),
            kind: Kind::User { level: 3 },
            extra: [("z".to_string(), 1), ("a".to_string(), 1 << 40)].into(),
        }
    }
}

#[test]
fn serde_round_trips() {
    let s = Sample::example();
    let bytes = to_vec(&s).unwrap();
    assert_eq!(from_slice::<Sample>(&bytes).unwrap(), s);
    for k in [Kind::Bot, Kind::Pair(-1, 2)] {
        assert_eq!(from_slice::<Kind>(&to_vec(&k).unwrap()).unwrap(), k);
    }
    // Strings borrow from the input.
    let bytes = to_vec(&"zero copy").unwrap();
    let s: &str = from_slice(&bytes).unwrap();
    assert_eq!(s, "zero copy");
    assert!(to_vec(&f64::NAN).is_err());
    assert_eq!(from_slice::<u64>(&to_vec(&u64::MAX).unwrap()).unwrap(), u64::MAX);
    assert_eq!(from_slice::<i64>(&to_vec(&i64::MIN).unwrap()).unwrap(), i64::MIN);
}

#[test]
fn serde_output_is_what_erlpack_writes() {
    // Struct fields become binary keys, sorted; None becomes nil.
    #[derive(Serialize)]
    struct T {
        b: Option<u8>,
        a: bool,
    }
    let bytes = to_vec(&T { b: None, a: true }).unwrap();
    let mut want = vec![131, 116, 0, 0, 0, 2];
    want.extend_from_slice(&[109, 0, 0, 0, 1, b'a', 115, 4, b't', b'r', b'u', b'e']);
    want.extend_from_slice(&[109, 0, 0, 0, 1, b'b', 115, 3, b'n', b'i', b'l']);
    assert_eq!(bytes, want);
    // Mixed keys sort in term order: numbers < atoms < binaries.
    let mut w = Writer::fragment();
    w.atom("k");
    let atom_key = w.into_vec();
    let entries = vec![(vec![109, 0, 0, 0, 1, b'x'], 1), (atom_key.clone(), 2), (vec![97, 5], 3)];
    let sorted = etf::sort_map_entries(entries).unwrap();
    assert_eq!(sorted.iter().map(|e| e.1).collect::<Vec<_>>(), vec![3, 2, 1]);
}
