//! Appending JSON values to a buffer.

/// Appends `s` as a JSON string, quotes included. `/` is not escaped;
/// control characters use `\uXXXX` except the usual short escapes.
pub fn string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0..=0x1F => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends an integer.
pub fn int(out: &mut Vec<u8>, i: i64) {
    let mut buf = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[pos..]);
}

/// Appends a finite float in its shortest form that reads back exactly.
/// Returns false (and writes nothing) for NaN and infinities.
pub fn float(out: &mut Vec<u8>, f: f64) -> bool {
    if !f.is_finite() {
        return false;
    }
    let mut buf = ryu::Buffer::new();
    out.extend_from_slice(buf.format_finite(f).as_bytes());
    true
}

/// Appends the decimal digits of an integer given as sign and little-endian
/// magnitude (any size).
pub fn big_int(out: &mut Vec<u8>, negative: bool, le: &[u8]) {
    // Repeated division by 10^19 over 32-bit limbs.
    let mut limbs: Vec<u32> = le.chunks(4).map(|c| {
        let mut b = [0u8; 4];
        b[..c.len()].copy_from_slice(c);
        u32::from_le_bytes(b)
    }).collect();
    let mut chunks: Vec<u64> = Vec::new();
    const BASE: u64 = 10_000_000_000_000_000_000;
    while limbs.iter().any(|&l| l != 0) {
        let mut rem: u128 = 0;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 32) | u128::from(*limb);
            *limb = (cur / u128::from(BASE)) as u32;
            rem = cur % u128::from(BASE);
        }
        chunks.push(rem as u64);
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    if chunks.is_empty() {
        out.push(b'0');
        return;
    }
    if negative {
        out.push(b'-');
    }
    let mut first = true;
    for c in chunks.iter().rev() {
        let s = c.to_string();
        if !first {
            out.extend(std::iter::repeat_n(b'0', 19 - s.len()));
        }
        out.extend_from_slice(s.as_bytes());
        first = false;
    }
}

/// The sign and little-endian magnitude of a decimal integer's text (as the
/// parser hands over in `Event::BigInt`). `None` if it is not one.
pub fn decimal_to_le(text: &str) -> Option<(bool, Vec<u8>)> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut limbs: Vec<u32> = vec![0];
    for chunk in digits.as_bytes().chunks(9) {
        let (mul, add) = (10u64.pow(chunk.len() as u32), std::str::from_utf8(chunk).ok()?.parse::<u64>().ok()?);
        let mut carry = add;
        for limb in &mut limbs {
            let cur = u64::from(*limb) * mul + carry;
            *limb = cur as u32;
            carry = cur >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    let mut le: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    while le.last() == Some(&0) {
        le.pop();
    }
    Some((negative, le))
}
