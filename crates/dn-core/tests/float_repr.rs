//! Floats are written as Python's `repr(float)` writes them — the object
//! hashes depend on it — for every finite f64, ties included.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use dn_core::json::write_py_float;

fn dn(v: f64) -> String {
    let mut s = String::new();
    write_py_float(&mut s, v);
    s
}

/// 23 000 values with CPython's own `repr` of each (generated once, kept
/// in the repository): 12 000 exact ties such as 1234578535759456.25,
/// random bit patterns and JSON-like values.
#[test]
fn every_value_of_the_python_table_is_written_as_python_writes_it() {
    let table = include_str!("fixtures/python_float_repr.txt");
    let (mut n, mut rust_differs) = (0, 0);
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let (bits, want) = line.split_once(' ').unwrap();
        let v = f64::from_bits(u64::from_str_radix(bits, 16).unwrap());
        assert_eq!(dn(v), want, "repr of {v:?} (bits {bits})");
        // Rust's own shortest digits pick the upper candidate at a tie.
        if format!("{v:?}").trim_end_matches(".0") != want.trim_end_matches(".0") && !want.contains('e') {
            rust_differs += 1;
        }
        n += 1;
    }
    assert_eq!(n, 23_000);
    assert!(rust_differs > 1000, "the table holds real ties ({rust_differs} where Rust's Debug differs)");
    assert_eq!(dn(1234578535759456.0 + 0.25), "1234578535759456.2");
}

/// Python's `repr` from shortest digits `d` (no leading or trailing zeros)
/// with value `0.d × 10^decpt`: fixed notation for -4 < decpt ≤ 16, else
/// scientific with a sign and at least two exponent digits.
fn python_rules(neg: bool, d: &str, decpt: i32) -> String {
    let mut s = String::from(if neg { "-" } else { "" });
    if d.is_empty() {
        s.push_str("0.0");
    } else if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            s.push_str("0.");
            s.push_str(&"0".repeat((-decpt) as usize));
            s.push_str(d);
        } else if d.len() as i32 <= decpt {
            s.push_str(d);
            s.push_str(&"0".repeat(decpt as usize - d.len()));
            s.push_str(".0");
        } else {
            s.push_str(&d[..decpt as usize]);
            s.push('.');
            s.push_str(&d[decpt as usize..]);
        }
    } else {
        s.push_str(&d[..1]);
        if d.len() > 1 {
            s.push('.');
            s.push_str(&d[1..]);
        }
        let e = decpt - 1;
        s.push_str(&format!("e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs()));
    }
    s
}

/// An independent formatter: the standard library's shortest digits
/// (`{:e}`), which at a tie take the upper candidate; there the value is
/// rounded exactly to the same number of digits (ties to even) and that is
/// taken when it reads back as the same float. Put in Python's form.
fn std_python(v: f64) -> String {
    let mut sci = format!("{v:e}");
    let mant_end = sci.find('e').unwrap();
    let count = sci[..mant_end].bytes().filter(u8::is_ascii_digit).count();
    let even = format!("{:.*e}", count - 1, v);
    if even != sci && even.parse::<f64>() == Ok(v) {
        sci = even;
    }
    let (mant, exp) = sci.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let all: String = mant.chars().filter(char::is_ascii_digit).collect();
    let digits = all.trim_end_matches('0');
    if v == 0.0 {
        return python_rules(neg, "", 0);
    }
    python_rules(neg, digits, exp + 1)
}

/// 1 000 000 random bit patterns (a fixed xorshift seed), every finite one
/// compared with the independent formatter.
#[test]
fn a_million_random_floats_match_an_independent_python_style_formatter() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut checked = 0;
    for _ in 0..1_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = f64::from_bits(x);
        if v.is_finite() {
            assert_eq!(dn(v), std_python(v), "bits {x:016x}");
            checked += 1;
        }
    }
    assert!(checked > 990_000);
    for v in [0.0, -0.0, 1e16, 1e-5, 0.0001, 5e-324, f64::MAX, 1234578535759456.0 + 0.25] {
        assert_eq!(dn(v), std_python(v), "{v:?}");
    }
}

/// `write_py_float` takes zmij's text as it is from 1e-4 to 1e16 and
/// rewrites only the exponent of its scientific form: values on each side of
/// the bounds where zmij and Python switch notation (1e-5, 1e-4, 1e16), and
/// 400 000 values spread evenly in magnitude from 1e-7 to 1e18.
#[test]
fn values_around_the_notation_bounds_match_the_independent_formatter() {
    for b in [1e-5f64, 1e-4, 1e16, 1e-3, 1.0, 1e15] {
        let mut up = b;
        let mut down = b;
        for _ in 0..64 {
            for v in [up, down, -up, -down] {
                assert_eq!(dn(v), std_python(v), "{v:?} (bits {:016x})", v.to_bits());
            }
            up = up.next_up();
            down = down.next_down();
        }
    }
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..400_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = 10f64.powf(-7.0 + 25.0 * (x >> 11) as f64 / (1u64 << 53) as f64);
        assert_eq!(dn(v), std_python(v), "{v:?} (bits {:016x})", v.to_bits());
    }
}

/// Integral values are told apart by a round trip through `i64`, not by
/// `fract`: every integer to 10 000 and its halves, and the neighbours of
/// the bounds where that test changes meaning (2^52, from which every float
/// is integral; 2^53; 1e16, from which Python writes an exponent).
#[test]
fn integral_values_and_their_neighbours_match_the_independent_formatter() {
    for i in 1..=10_000i32 {
        for v in [f64::from(i), f64::from(i) + 0.5, -f64::from(i), f64::from(i) / 3.0] {
            assert_eq!(dn(v), std_python(v), "{v:?}");
        }
    }
    let two52 = 4_503_599_627_370_496.0f64;
    for b in [1.0f64, 1e3, two52, 2.0 * two52, 1e15, 1e16] {
        let (mut up, mut down) = (b, b);
        for _ in 0..64 {
            for v in [up, down, -up, -down] {
                assert_eq!(dn(v), std_python(v), "{v:?} (bits {:016x})", v.to_bits());
            }
            up = up.next_up();
            down = down.next_down();
        }
    }
}
