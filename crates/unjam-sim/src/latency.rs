//! Latency models of a simulated logical unit: how long the device takes to answer a
//! command, drawn from the path's seeded random stream so that a run replays exactly.

use rand::Rng;
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// No drawn latency exceeds this (a bound on lognormal tails): one minute.
pub const MAX_LATENCY_US: u64 = 60_000_000;

/// A latency distribution, in microseconds.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(
    tag = "model",
    rename_all = "snake_case",
    deny_unknown_fields,
    try_from = "LatencyModelFields"
)]
pub enum LatencyModel {
    /// Every command takes `us`.
    Fixed { us: u64 },
    /// Uniform in `[min_us, max_us]`.
    Uniform { min_us: u64, max_us: u64 },
    /// Lognormal with the given median and shape `sigma` (0 = fixed at the median).
    Lognormal { median_us: u64, sigma: f64 },
}

/// Why a latency model was refused.
#[derive(Clone, PartialEq, Debug, Error)]
pub enum LatencyError {
    #[error("uniform latency needs min_us <= max_us, got {min_us} > {max_us}")]
    UniformBounds { min_us: u64, max_us: u64 },
    #[error("lognormal sigma must be a number in [0, 4], got {0}")]
    Sigma(f64),
    #[error("latency above {MAX_LATENCY_US} us is not supported, got {0}")]
    TooLong(u64),
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel::Fixed { us: 100 }
    }
}

impl LatencyModel {
    /// Checks the parameters (the deserializer calls this too).
    pub fn validate(&self) -> Result<(), LatencyError> {
        match *self {
            LatencyModel::Fixed { us } if us > MAX_LATENCY_US => Err(LatencyError::TooLong(us)),
            LatencyModel::Uniform { min_us, max_us } if min_us > max_us => {
                Err(LatencyError::UniformBounds { min_us, max_us })
            }
            LatencyModel::Uniform { max_us, .. } if max_us > MAX_LATENCY_US => {
                Err(LatencyError::TooLong(max_us))
            }
            LatencyModel::Lognormal { sigma, .. } if !(0.0..=4.0).contains(&sigma) => {
                Err(LatencyError::Sigma(sigma))
            }
            LatencyModel::Lognormal { median_us, .. } if median_us > MAX_LATENCY_US => {
                Err(LatencyError::TooLong(median_us))
            }
            _ => Ok(()),
        }
    }

    /// Draws one latency in microseconds.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> u64 {
        match *self {
            LatencyModel::Fixed { us } => us,
            LatencyModel::Uniform { min_us, max_us } => rng.gen_range(min_us..=max_us),
            LatencyModel::Lognormal { median_us, sigma } => {
                let mu = (median_us.max(1) as f64).ln();
                match LogNormal::new(mu, sigma) {
                    Ok(distribution) => {
                        let value: f64 = distribution.sample(rng);
                        (value.round() as u64).min(MAX_LATENCY_US)
                    }
                    Err(_) => median_us,
                }
            }
        }
    }
}

/// The serde shape, validated into [`LatencyModel`].
#[derive(Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
enum LatencyModelFields {
    Fixed { us: u64 },
    Uniform { min_us: u64, max_us: u64 },
    Lognormal { median_us: u64, sigma: f64 },
}

impl TryFrom<LatencyModelFields> for LatencyModel {
    type Error = LatencyError;

    fn try_from(fields: LatencyModelFields) -> Result<Self, Self::Error> {
        let model = match fields {
            LatencyModelFields::Fixed { us } => LatencyModel::Fixed { us },
            LatencyModelFields::Uniform { min_us, max_us } => {
                LatencyModel::Uniform { min_us, max_us }
            }
            LatencyModelFields::Lognormal { median_us, sigma } => {
                LatencyModel::Lognormal { median_us, sigma }
            }
        };
        model.validate()?;
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn samples_stay_in_their_model() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(LatencyModel::Fixed { us: 250 }.sample(&mut rng), 250);
        let uniform = LatencyModel::Uniform {
            min_us: 10,
            max_us: 20,
        };
        assert!((0..1000).all(|_| (10..=20).contains(&uniform.sample(&mut rng))));
        let lognormal = LatencyModel::Lognormal {
            median_us: 1000,
            sigma: 0.5,
        };
        let mut samples: Vec<u64> = (0..10_001).map(|_| lognormal.sample(&mut rng)).collect();
        samples.sort_unstable();
        let median = samples[5000];
        assert!((900..1100).contains(&median), "median {median}");
        assert!(samples[9990] > 2 * median, "a real tail");
    }

    #[test]
    fn same_seed_same_draws() {
        let model = LatencyModel::Lognormal {
            median_us: 500,
            sigma: 1.0,
        };
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..100).map(|_| model.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(9), draw(9));
        assert_ne!(draw(9), draw(10));
    }

    #[test]
    fn invalid_models_are_refused_when_parsed() {
        let parsed: Result<LatencyModel, _> =
            toml::from_str::<toml::Value>("model = \"uniform\"\nmin_us = 5\nmax_us = 1")
                .unwrap()
                .try_into();
        assert!(parsed.unwrap_err().to_string().contains("min_us <= max_us"));
        let parsed: LatencyModel =
            toml::from_str("model = \"lognormal\"\nmedian_us = 200\nsigma = 0.3").unwrap();
        assert_eq!(
            parsed,
            LatencyModel::Lognormal {
                median_us: 200,
                sigma: 0.3
            }
        );
    }
}
