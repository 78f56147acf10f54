//! The x87 80-bit `long double` that Redis's HINCRBYFLOAT (and INCRBYFLOAT) computes with, in
//! software: parsed as glibc's `strtold` rounds, added with one rounding to 64 significant bits,
//! and written as `printf("%.17Lf")` writes it, so that replies agree with Redis to the last digit
//! (`1010.09999999999999998` for 1000 + 10.1, where a `f64` gives `1010.1`).

use std::cmp::Ordering;

/// The smallest binary exponent of a mantissa's lowest bit (that of the smallest subnormal).
const LOWEST_EXPONENT: i64 = -16445;
/// A value at or above `2^HIGHEST_MAGNITUDE_BITS` overflows to infinity.
const HIGHEST_MAGNITUDE_BITS: i64 = 16384;
/// The longest argument Redis reads as a long double (`MAX_LONG_DOUBLE_CHARS` - 1).
const LONGEST_ARGUMENT: usize = 5 * 1024 - 1;
/// The digits after the point that `%.17Lf` writes.
const FRACTION_DIGITS: u32 = 17;

/// A finite long double: `(-1)^negative × mantissa × 2^exponent`, the mantissa of at most 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LongDouble {
    negative: bool,
    mantissa: u64,
    exponent: i64,
}

/// What an argument reads as: a finite value, or an infinity (`inf`, `-Infinity`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A finite value.
    Finite(LongDouble),
    /// Plus or minus infinity.
    Infinite,
}

/// Reads `argument` as Redis's `string2ld` does: the whole of it as `strtold` reads it (decimal,
/// C's hexadecimal floats such as `0x1.8p1`, or an infinity), without leading space, refusing
/// NaN, overflow and underflow to zero; `None` when it is no float.
#[must_use]
pub fn parse_long_double(argument: &[u8]) -> Option<Parsed> {
    if argument.is_empty() || argument.len() > LONGEST_ARGUMENT {
        return None;
    }
    let (negative, unsigned) = match argument.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, argument),
    };
    if unsigned.eq_ignore_ascii_case(b"inf") || unsigned.eq_ignore_ascii_case(b"infinity") {
        return Some(Parsed::Infinite);
    }
    if let Some(hexadecimal) = unsigned.strip_prefix(b"0x").or_else(|| unsigned.strip_prefix(b"0X")) {
        return parse_hexadecimal(negative, hexadecimal);
    }
    let (integer_digits, fraction_digits, mut decimal_exponent) = split_number(unsigned, b'e', 10)?;
    let fraction_length = i64::try_from(fraction_digits.len()).unwrap_or(i64::MAX);
    decimal_exponent -= fraction_length;
    let mut digits = BigNumber::default();
    for digit in integer_digits.iter().chain(fraction_digits) {
        digits.multiply_add(10, u32::from(digit - b'0'));
    }
    if digits.is_zero() {
        return Some(Parsed::Finite(LongDouble { negative, mantissa: 0, exponent: 0 }));
    }
    let significant_digits = i64::from(digits.decimal_digit_bound());
    if decimal_exponent + significant_digits > 5000 {
        return None;
    }
    if decimal_exponent + significant_digits < -5000 {
        return None;
    }
    let rounded = if decimal_exponent >= 0 {
        for _ in 0..decimal_exponent {
            digits.multiply_add(10, 0);
        }
        round(negative, &digits, 0, false)
    } else {
        let mut divisor = BigNumber::from_u64(1);
        for _ in 0..-decimal_exponent {
            divisor.multiply_add(10, 0);
        }
        // Enough bits of quotient for 64 significant ones, a rounding bit, and a sticky one.
        let shift = (66 + i64::from(divisor.bit_length()) - i64::from(digits.bit_length())).max(0);
        digits.shift_left(u32::try_from(shift).unwrap_or(0));
        let (quotient, inexact) = digits.divide(&divisor);
        round(negative, &quotient, -shift, inexact)
    };
    match rounded {
        Some(value) if value.mantissa == 0 => None,
        Some(value) => Some(Parsed::Finite(value)),
        None => None,
    }
}

/// Reads the digits of a hexadecimal float after its `0x` (`1.8p1`, `10`, `.8`): hexadecimal
/// digits with an optional point, then an optional binary exponent `p` with decimal digits.
fn parse_hexadecimal(negative: bool, text: &[u8]) -> Option<Parsed> {
    let (integer_digits, fraction_digits, mut binary_exponent) = split_number(text, b'p', 16)?;
    binary_exponent -= 4 * i64::try_from(fraction_digits.len()).unwrap_or(i64::MAX / 8);
    let mut digits = BigNumber::default();
    for digit in integer_digits.iter().chain(fraction_digits) {
        let value = char::from(*digit).to_digit(16).unwrap_or(0);
        digits.multiply_add(16, value);
    }
    if digits.is_zero() {
        return Some(Parsed::Finite(LongDouble { negative, mantissa: 0, exponent: 0 }));
    }
    if binary_exponent + i64::from(digits.bit_length()) > HIGHEST_MAGNITUDE_BITS {
        return None;
    }
    match round(negative, &digits, binary_exponent, false) {
        Some(value) if value.mantissa != 0 => Some(Parsed::Finite(value)),
        _ => None,
    }
}

/// Splits the digits of a number (`12.5e3` in base 10 with the exponent letter `e`, `1.8p1` in
/// base 16 with `p`) into its integer digits, its fraction digits (at least one digit in all) and
/// its exponent (0 when it has none); `None` when it is not of that form.
fn split_number(text: &[u8], exponent_letter: u8, base: u32) -> Option<(&[u8], &[u8], i64)> {
    let exponent_start = text.iter().position(|byte| byte.eq_ignore_ascii_case(&exponent_letter)).unwrap_or(text.len());
    let (mantissa_text, exponent_text) = text.split_at(exponent_start);
    let (integer_digits, fraction_digits) = match mantissa_text.iter().position(|byte| *byte == b'.') {
        Some(point) => (mantissa_text.get(..point)?, mantissa_text.get(point + 1..)?),
        None => (mantissa_text, &[][..]),
    };
    let all_digits = |digits: &[u8]| digits.iter().all(|digit| char::from(*digit).is_digit(base));
    if integer_digits.len() + fraction_digits.len() == 0 || !all_digits(integer_digits) || !all_digits(fraction_digits) {
        return None;
    }
    let exponent = match exponent_text.get(1..) {
        None => 0,
        Some(exponent_text) => parse_exponent(exponent_text)?,
    };
    Some((integer_digits, fraction_digits, exponent))
}

/// Reads an exponent's digits after its letter: an optional sign, then decimal digits (at least
/// one), saturated far beyond any long double's range.
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().fold(0_i64, |value, digit| (value * 10 + i64::from(digit - b'0')).min(1_000_000));
    Some(if negative { -magnitude } else { magnitude })
}

impl LongDouble {
    /// The sum, rounded once to the nearest long double (ties to even), or `None` when it
    /// overflows to infinity.
    #[must_use]
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        let lowest = self.exponent.min(other.exponent);
        let aligned = |value: LongDouble| {
            let mut number = BigNumber::from_u64(value.mantissa);
            number.shift_left(u32::try_from(value.exponent - lowest).unwrap_or(0));
            number
        };
        let (mut first, second) = (aligned(self), aligned(other));
        if self.negative == other.negative {
            first.add(&second);
            return round(self.negative, &first, lowest, false);
        }
        match first.compare(&second) {
            Ordering::Equal => Some(LongDouble::default()),
            Ordering::Greater => {
                first.subtract(&second);
                round(self.negative, &first, lowest, false)
            }
            Ordering::Less => {
                let mut difference = second;
                difference.subtract(&first);
                round(other.negative, &difference, lowest, false)
            }
        }
    }
}

impl LongDouble {
    /// What C's `(long long) ceill(value * 1000.0)` gives on x86-64, as Redis 7.0 turns a timeout in
    /// seconds into milliseconds: the product rounded once to a long double, then rounded up to an
    /// integer. `None` when that integer is outside `i64`, where the conversion gives `i64::MIN`.
    #[must_use]
    pub fn thousandfold_ceiling(self) -> Option<i64> {
        let mut product = BigNumber::from_u64(self.mantissa);
        product.multiply_add(1000, 0);
        let rounded = round(self.negative, &product, self.exponent, false)?;
        let (integer_part, has_fraction) = if rounded.exponent >= 0 {
            if rounded.mantissa != 0 && rounded.exponent >= 64 {
                return None;
            }
            (u128::from(rounded.mantissa) << rounded.exponent, false)
        } else {
            let shift = u32::try_from(-rounded.exponent).unwrap_or(u32::MAX);
            if shift >= 64 {
                (0, rounded.mantissa != 0)
            } else {
                (u128::from(rounded.mantissa >> shift), rounded.mantissa & ((1_u64 << shift) - 1) != 0)
            }
        };
        if rounded.negative {
            // Rounding up a negative number drops its fraction.
            i64::try_from(-i128::try_from(integer_part).ok()?).ok()
        } else {
            i64::try_from(integer_part + u128::from(has_fraction)).ok()
        }
    }
}

/// `value` as Redis writes a long double for people (`ld2string` with `LD_STR_HUMAN`): `%.17Lf`,
/// then without the trailing zeros of the fraction nor a bare point, and `-0` as `0`: `0.1`,
/// `3000`, `0.000015`, `1010.09999999999999998`.
#[must_use]
pub fn format_long_double(value: LongDouble) -> String {
    let mut scaled = BigNumber::from_u64(value.mantissa);
    for _ in 0..FRACTION_DIGITS {
        scaled.multiply_add(10, 0);
    }
    let scaled = if value.exponent >= 0 {
        scaled.shift_left(u32::try_from(value.exponent).unwrap_or(0));
        scaled
    } else {
        let shift = u32::try_from(-value.exponent).unwrap_or(u32::MAX);
        let (mut kept, half, sticky) = scaled.shift_right_rounding_bits(shift);
        if half && (sticky || kept.is_odd()) {
            kept.add(&BigNumber::from_u64(1));
        }
        kept
    };
    let mut digits = scaled.to_decimal();
    let fraction_digits = FRACTION_DIGITS as usize;
    if digits.len() <= fraction_digits {
        digits = format!("{}{digits}", "0".repeat(fraction_digits + 1 - digits.len()));
    }
    let (integer_part, fraction) = digits.split_at(digits.len() - fraction_digits);
    let fraction = fraction.trim_end_matches('0');
    let text = if fraction.is_empty() { integer_part.to_owned() } else { format!("{integer_part}.{fraction}") };
    if value.negative && text != "0" { format!("-{text}") } else { text }
}

/// `number × 2^exponent` rounded to 64 significant bits (ties to even; `inexact` says that bits
/// below `number` were dropped already), subnormal below the lowest exponent; `None` on overflow.
fn round(negative: bool, number: &BigNumber, exponent: i64, inexact: bool) -> Option<LongDouble> {
    let bit_length = i64::from(number.bit_length());
    let shift = (bit_length - 64).max(LOWEST_EXPONENT - exponent).max(0);
    let (mut kept, half, sticky) = number.shift_right_rounding_bits(u32::try_from(shift).unwrap_or(u32::MAX));
    if half && (sticky || inexact || kept.is_odd()) {
        kept.add(&BigNumber::from_u64(1));
    }
    let mut exponent = exponent + shift;
    if kept.bit_length() > 64 {
        kept = kept.shift_right_rounding_bits(1).0;
        exponent += 1;
    }
    let mantissa = kept.low_u64();
    if mantissa != 0 && i64::from(kept.bit_length()) + exponent > HIGHEST_MAGNITUDE_BITS {
        return None;
    }
    Some(LongDouble { negative, mantissa, exponent: if mantissa == 0 { 0 } else { exponent } })
}

/// A non-negative integer of any size: 32-bit words, the lowest first, without high zero words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct BigNumber {
    words: Vec<u32>,
}

impl BigNumber {
    /// `value` as a big number.
    fn from_u64(value: u64) -> BigNumber {
        let mut number = BigNumber { words: vec![value as u32, (value >> 32) as u32] };
        number.trim();
        number
    }

    /// Drops the high zero words.
    fn trim(&mut self) {
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }

    /// Whether the number is 0.
    fn is_zero(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether the number is odd.
    fn is_odd(&self) -> bool {
        self.words.first().is_some_and(|word| word & 1 == 1)
    }

    /// The lowest 64 bits.
    fn low_u64(&self) -> u64 {
        let word = |index: usize| u64::from(self.words.get(index).copied().unwrap_or(0));
        word(0) | (word(1) << 32)
    }

    /// How many bits the number takes (0 for 0).
    fn bit_length(&self) -> u32 {
        match self.words.last() {
            Some(top) => u32::try_from(self.words.len() * 32).unwrap_or(u32::MAX) - top.leading_zeros(),
            None => 0,
        }
    }

    /// More than the number of decimal digits of the number.
    fn decimal_digit_bound(&self) -> u32 {
        self.bit_length() * 10 / 33 + 1
    }

    /// Bit `index`.
    fn bit(&self, index: u32) -> bool {
        self.words.get((index / 32) as usize).is_some_and(|word| (word >> (index % 32)) & 1 == 1)
    }

    /// `self × factor + addend`.
    fn multiply_add(&mut self, factor: u32, addend: u32) {
        let mut carry = u64::from(addend);
        for word in &mut self.words {
            let product = u64::from(*word) * u64::from(factor) + carry;
            *word = product as u32;
            carry = product >> 32;
        }
        if carry != 0 {
            self.words.push(carry as u32);
        }
        self.trim();
    }

    /// `self + other`.
    fn add(&mut self, other: &BigNumber) {
        if self.words.len() < other.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        let mut carry = 0_u64;
        for (index, word) in self.words.iter_mut().enumerate() {
            let sum = u64::from(*word) + u64::from(other.words.get(index).copied().unwrap_or(0)) + carry;
            *word = sum as u32;
            carry = sum >> 32;
        }
        if carry != 0 {
            self.words.push(carry as u32);
        }
    }

    /// `self - other`, where `other` is not larger.
    fn subtract(&mut self, other: &BigNumber) {
        let mut borrow = 0_i64;
        for (index, word) in self.words.iter_mut().enumerate() {
            let mut difference = i64::from(*word) - i64::from(other.words.get(index).copied().unwrap_or(0)) - borrow;
            borrow = i64::from(difference < 0);
            if difference < 0 {
                difference += 1 << 32;
            }
            *word = difference as u32;
        }
        self.trim();
    }

    /// Orders two numbers.
    fn compare(&self, other: &BigNumber) -> Ordering {
        self.words.len().cmp(&other.words.len()).then_with(|| self.words.iter().rev().cmp(other.words.iter().rev()))
    }

    /// `self × 2^bits`.
    fn shift_left(&mut self, bits: u32) {
        if self.is_zero() || bits == 0 {
            return;
        }
        let (whole_words, bits) = ((bits / 32) as usize, bits % 32);
        let mut shifted = vec![0_u32; whole_words];
        let mut carry = 0_u32;
        for word in &self.words {
            shifted.push(if bits == 0 { *word } else { (word << bits) | carry });
            carry = if bits == 0 { 0 } else { word >> (32 - bits) };
        }
        shifted.push(carry);
        self.words = shifted;
        self.trim();
    }

    /// `self / 2^bits` rounded down, the highest dropped bit, and whether any lower dropped bit
    /// is set.
    fn shift_right_rounding_bits(&self, bits: u32) -> (BigNumber, bool, bool) {
        if bits == 0 {
            return (self.clone(), false, false);
        }
        let half = self.bit(bits - 1);
        let sticky = (0..bits - 1).any(|index| self.bit(index));
        let (whole_words, bits) = ((bits / 32) as usize, bits % 32);
        let remaining = self.words.get(whole_words..).unwrap_or_default();
        let mut words = Vec::with_capacity(remaining.len());
        for (index, word) in remaining.iter().enumerate() {
            let high = remaining.get(index + 1).copied().unwrap_or(0);
            words.push(if bits == 0 { *word } else { (word >> bits) | (high << (32 - bits)) });
        }
        let mut kept = BigNumber { words };
        kept.trim();
        (kept, half, sticky)
    }

    /// The quotient of `self / divisor` (which must not be 0), and whether a remainder is left.
    fn divide(&self, divisor: &BigNumber) -> (BigNumber, bool) {
        let mut quotient = BigNumber::default();
        let mut remainder = BigNumber::default();
        for index in (0..self.bit_length()).rev() {
            remainder.shift_left(1);
            if self.bit(index) {
                remainder.add(&BigNumber::from_u64(1));
            }
            quotient.shift_left(1);
            if remainder.compare(divisor) != Ordering::Less {
                remainder.subtract(divisor);
                quotient.add(&BigNumber::from_u64(1));
            }
        }
        quotient.trim();
        (quotient, !remainder.is_zero())
    }

    /// The number in decimal.
    fn to_decimal(&self) -> String {
        let mut words = self.words.clone();
        let mut groups = Vec::new();
        while !words.is_empty() {
            let mut remainder = 0_u64;
            for word in words.iter_mut().rev() {
                let current = (remainder << 32) | u64::from(*word);
                *word = (current / 1_000_000_000) as u32;
                remainder = current % 1_000_000_000;
            }
            while words.last() == Some(&0) {
                words.pop();
            }
            groups.push(remainder);
        }
        let mut text = groups.pop().map_or_else(|| "0".to_owned(), |top| top.to_string());
        for group in groups.iter().rev() {
            text.push_str(&format!("{group:09}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::{LongDouble, Parsed, format_long_double, parse_long_double};

    /// `first + second` as Redis's HINCRBYFLOAT replies.
    fn sum(first: &str, second: &str) -> Option<String> {
        let value = |text: &str| match parse_long_double(text.as_bytes()) {
            Some(Parsed::Finite(value)) => value,
            other => panic!("{text} reads as {other:?}"),
        };
        value(first).checked_add(value(second)).map(format_long_double)
    }

    #[test]
    fn sums_are_written_as_redis_writes_them() {
        assert_eq!(sum("1.5", "0.1").as_deref(), Some("1.6"));
        assert_eq!(sum("0", "3.0e3").as_deref(), Some("3000"));
        assert_eq!(sum("0", "1.5e-5").as_deref(), Some("0.000015"));
        assert_eq!(sum("10", "1000.1").as_deref(), Some("1010.09999999999999998"));
        assert_eq!(sum("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(sum("0", "12345678.9").as_deref(), Some("12345678.8999999999996362"));
        assert_eq!(sum("0", "1e-30").as_deref(), Some("0"));
        assert_eq!(sum("-1e-30", "0").as_deref(), Some("0"));
        assert_eq!(sum("5", "-5").as_deref(), Some("0"));
        assert_eq!(sum("-2.5", "1").as_deref(), Some("-1.5"));
        assert_eq!(
            sum("0", "1e300").as_deref(),
            Some(
                "1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497190350372508614274835903592556184672983913096260520748646287327135641843653294084255107606016789726652932370030551382947620994540294772781889620606179267611627097410650567187386105690089424915104006144"
            )
        );
        assert_eq!(sum("1e4932", "1e4932"), None);
    }

    #[test]
    fn seconds_become_milliseconds_as_redis_7_0_rounds_them() {
        let milliseconds = |text: &str| match parse_long_double(text.as_bytes()) {
            Some(Parsed::Finite(value)) => value.thousandfold_ceiling(),
            other => panic!("{text} reads as {other:?}"),
        };
        assert_eq!(milliseconds("0"), Some(0));
        assert_eq!(milliseconds("1"), Some(1000));
        assert_eq!(milliseconds("0.2"), Some(200));
        assert_eq!(milliseconds("0.0001"), Some(1));
        assert_eq!(milliseconds("1e-400"), Some(1));
        assert_eq!(milliseconds("-0.0001"), Some(0));
        // Redis 7.0.15 blocks forever on -0.001: the long double nearest 0.001 is just below it.
        assert_eq!(milliseconds("-0.001"), Some(0));
        assert_eq!(milliseconds("-0.0011"), Some(-1));
        assert_eq!(milliseconds("-2"), Some(-2000));
        assert_eq!(milliseconds("9.2e15"), Some(9_200_000_000_000_000_000));
        assert_eq!(milliseconds("9.3e15"), None);
        assert_eq!(milliseconds("-9.3e15"), None);
        assert_eq!(milliseconds("1e30"), None);
    }

    #[test]
    fn arguments_read_as_string2ld_reads_them() {
        assert_eq!(parse_long_double(b"inf"), Some(Parsed::Infinite));
        assert_eq!(parse_long_double(b"-Infinity"), Some(Parsed::Infinite));
        for refused in [
            "",
            "nan",
            "x",
            " 1",
            "1 ",
            "1e",
            "1e5000",
            "1e-5000",
            ".",
            "-",
            "1.5.",
            "--1",
            "0x",
            "0x1p",
            "0xg",
            "0x.p1",
            "0x1p99999",
            "0x1p-99999",
        ] {
            assert_eq!(parse_long_double(refused.as_bytes()), None, "{refused}");
        }
        assert_eq!(parse_long_double(b"-0"), Some(Parsed::Finite(LongDouble { negative: true, mantissa: 0, exponent: 0 })));
        assert!(matches!(parse_long_double(b".5"), Some(Parsed::Finite(_))));
        assert!(matches!(parse_long_double(b"5."), Some(Parsed::Finite(_))));
        assert!(matches!(parse_long_double(b"+1E+3"), Some(Parsed::Finite(_))));
        let written = |text: &str| match parse_long_double(text.as_bytes()) {
            Some(Parsed::Finite(value)) => format_long_double(value),
            other => format!("{other:?}"),
        };
        assert_eq!(written("0x10"), "16");
        assert_eq!(written("0X1p3"), "8");
        assert_eq!(written("0x1.8p1"), "3");
        assert_eq!(written("-0x.8"), "-0.5");
        assert_eq!(written("0x1P-2"), "0.25");
        assert_eq!(written("0x1.p1"), "2");
        assert_eq!(written("0x1e2"), "482");
        assert_eq!(written("+0x10"), "16");
        assert_eq!(written("0xffffffffffffffffff"), "4722366482869645213696");
    }
}
