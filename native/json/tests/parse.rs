use json::{write, ErrorKind, Event, Limits, Parser};
use std::borrow::Cow;

fn events(s: &str) -> Result<Vec<Event<'_>>, json::Error> {
    let mut p = Parser::new(s.as_bytes(), Limits::default())?;
    let mut out = Vec::new();
    while let Some(e) = p.next()? {
        out.push(e);
    }
    Ok(out)
}

fn kind(s: &[u8]) -> ErrorKind {
    let mut p = Parser::new(s, Limits::default()).unwrap();
    loop {
        match p.next() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("{:?} parsed", String::from_utf8_lossy(s)),
            Err(e) => return e.kind,
        }
    }
}

#[test]
fn parses_documents() {
    use Event::*;
    let evs = events(r#" {"a": [1, -2.5e3, true, null, "x\n\u00e9\ud83d\ude00"], "b": {}, "c": 123456789012345678901234567890} "#).unwrap();
    assert_eq!(
        evs,
        vec![
            ObjectStart,
            Key(Cow::Borrowed("a")),
            ArrayStart,
            Int(1),
            Float(-2500.0),
            Bool(true),
            Null,
            Str(Cow::Owned("x\né😀".into())),
            ArrayEnd,
            Key(Cow::Borrowed("b")),
            ObjectStart,
            ObjectEnd,
            Key(Cow::Borrowed("c")),
            BigInt("123456789012345678901234567890"),
            ObjectEnd,
        ]
    );
    assert_eq!(events("[]").unwrap(), vec![ArrayStart, ArrayEnd]);
    assert_eq!(events("-0").unwrap(), vec![Int(0)]);
    assert_eq!(events("9223372036854775807").unwrap(), vec![Int(i64::MAX)]);
    assert_eq!(events("-9223372036854775809").unwrap(), vec![BigInt("-9223372036854775809")]);
}

#[test]
fn rejects_malformed_input_with_offsets() {
    assert_eq!(kind(b"[1,]"), ErrorKind::UnexpectedByte);
    assert_eq!(kind(b"{\"a\" 1}"), ErrorKind::UnexpectedByte);
    assert_eq!(kind(b"{\"a\":1,}"), ErrorKind::UnexpectedByte);
    assert_eq!(kind(b"[1 2]"), ErrorKind::UnexpectedByte);
    assert_eq!(kind(b"01"), ErrorKind::InvalidNumber);
    assert_eq!(kind(b"1."), ErrorKind::UnexpectedEnd);
    assert_eq!(kind(b"1e999"), ErrorKind::InvalidNumber);
    assert_eq!(kind(b"\"\\x\""), ErrorKind::InvalidEscape);
    assert_eq!(kind(b"\"\\ud800\""), ErrorKind::LoneSurrogate);
    assert_eq!(kind(b"\"\\udc00x\""), ErrorKind::LoneSurrogate);
    assert_eq!(kind(b"\"\xff\""), ErrorKind::InvalidUtf8);
    assert_eq!(kind(b"\"a\x01\""), ErrorKind::ControlCharacter);
    assert_eq!(kind(b"[1] 2"), ErrorKind::TrailingBytes);
    assert_eq!(kind(b"tru"), ErrorKind::UnexpectedEnd);
    assert_eq!(kind(b"nul!"), ErrorKind::UnexpectedByte);
    assert_eq!(kind(b""), ErrorKind::UnexpectedEnd);
    assert_eq!(kind(&b"[".repeat(100_000)), ErrorKind::TooDeep);
    let doc = br#"{"k": [1, 2, 3], "s": "abcdef"}"#;
    for cut in 0..doc.len() {
        let mut p = Parser::new(&doc[..cut], Limits::default()).unwrap();
        let failed = loop {
            match p.next() {
                Ok(Some(_)) => {}
                Ok(None) => break false,
                Err(_) => break true,
            }
        };
        assert!(failed, "truncated at {cut}");
    }
}

#[test]
fn limits() {
    let l = Limits { max_length: 2, ..Limits::default() };
    let mut p = Parser::new(b"[1,2,3]", l).unwrap();
    let err = loop {
        if let Err(e) = p.next() {
            break e;
        }
    };
    assert_eq!(err.kind, ErrorKind::TooLong);
    assert_eq!(Parser::new(b"[1]", Limits { max_size: 2, ..Limits::default() }).err().unwrap().kind, ErrorKind::InputTooLarge);
}

#[test]
fn writes() {
    let mut out = Vec::new();
    write::string(&mut out, "a\"b\\c\n\u{1}é/");
    assert_eq!(out, b"\"a\\\"b\\\\c\\n\\u0001\xc3\xa9/\"");
    for (i, want) in [(0i64, "0"), (-7, "-7"), (i64::MIN, "-9223372036854775808")] {
        let mut out = Vec::new();
        write::int(&mut out, i);
        assert_eq!(out, want.as_bytes());
    }
    let mut out = Vec::new();
    write::big_int(&mut out, true, &(1u128 << 100).to_le_bytes());
    assert_eq!(String::from_utf8(out).unwrap(), format!("-{}", 1u128 << 100));
    let mut out = Vec::new();
    assert!(write::float(&mut out, 0.1));
    assert!(!write::float(&mut out, f64::NAN));
    assert_eq!(out, b"0.1");
}

#[test]
fn decimal_round_trip() {
    for text in ["0", "123456789012345678901234567890", "-18446744073709551616"] {
        let (neg, le) = write::decimal_to_le(text).unwrap();
        let mut out = Vec::new();
        write::big_int(&mut out, neg, &le);
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
    assert!(write::decimal_to_le("12a").is_none());
}
