//! Stable hashing and a tiny generator: every simulated number comes from here,
//! so the same seed gives the same portfolio and events on every platform and
//! Rust version (std's hashers promise neither).

/// SplitMix64 finaliser: a strong 64-bit mix.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a sequence of words into one.
pub(crate) fn hash(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x6A09_E667_F3BC_C908, |acc, &p| mix(acc ^ mix(p)))
}

/// FNV-1a of a string, for mixing names into hashes.
pub(crate) fn str_hash(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// A uniform number in `[0, 1)` from a hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` base-62 characters of `h`, most significant first (so ids of the
/// same length sort like their numbers).
pub(crate) fn base62(mut h: u64, len: usize) -> String {
    let mut out = vec![b'0'; len];
    for slot in out.iter_mut().rev() {
        *slot = ALNUM[(h % 62) as usize];
        h /= 62;
    }
    // Only ASCII alphanumerics were written.
    String::from_utf8_lossy(&out).into_owned()
}

/// A small deterministic generator (SplitMix64 stream).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator seeded from a hash of `parts`.
    pub(crate) fn new(parts: &[u64]) -> Self {
        Self(hash(parts))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        unit(self.next_u64())
    }

    /// Uniform integer in `[lo, hi]` (inclusive).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }

    /// Uniform float in `[lo, hi)`.
    pub(crate) fn float(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_spread() {
        assert_eq!(hash(&[1, 2, 3]), hash(&[1, 2, 3]));
        assert_ne!(hash(&[1, 2, 3]), hash(&[3, 2, 1]));
        assert_ne!(str_hash("acme"), str_hash("acmf"));
        let u = unit(u64::MAX);
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn base62_is_fixed_width_and_ordered() {
        assert_eq!(base62(0, 6), "000000");
        assert_eq!(base62(61, 2), "0z");
        assert!(base62(1000, 11) < base62(1001, 11));
        assert_eq!(base62(u64::MAX, 11).len(), 11);
    }

    #[test]
    fn rng_ranges_stay_in_bounds() {
        let mut r = Rng::new(&[7]);
        for _ in 0..1000 {
            let v = r.range(3, 7);
            assert!((3..=7).contains(&v));
            let f = r.float(0.5, 1.5);
            assert!((0.5..1.5).contains(&f));
        }
        assert_eq!(r.range(5, 5), 5);
    }
}
