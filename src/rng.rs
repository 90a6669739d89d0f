//! A small deterministic PRNG (xorshift64*) for load generation and randomised tests: key
//! choice and test trees need repeatability from a seed, not cryptographic quality.

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Any seed works; zero (the one fixed point of xorshift) is nudged away.
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `0..n` for `n` far below 2^64; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// In `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
