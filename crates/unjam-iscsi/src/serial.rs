//! Serial number arithmetic for CmdSN, StatSN, DataSN and R2TSN (RFC 1982 with SERIAL_BITS =
//! 32, as RFC 7143 §4.2.2.1 requires).

/// `a < b` in 32-bit serial arithmetic.
pub fn serial_lt(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000_0000
}

/// `a <= b` in 32-bit serial arithmetic.
pub fn serial_le(a: u32, b: u32) -> bool {
    a == b || serial_lt(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_wrap_around() {
        assert!(serial_lt(1, 2));
        assert!(!serial_lt(2, 1));
        assert!(serial_lt(u32::MAX, 0));
        assert!(serial_le(5, 5));
        assert!(!serial_lt(5, 5));
        assert!(serial_lt(0xffff_fff0, 0x10));
    }
}
