//! How many numbers a model's parameters hold, computed from its spec without building
//! it: a fitted-model file's sizes are checked against this before anything is allocated,
//! and `resources` sizes a fit with it.

use super::prior;
use crate::spec::{Bijection, Encoder, ModelSpec, PosteriorVariance};

/// How many numbers the parameters of `spec`'s model hold, part by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterCounts {
    /// The encoder's layers (and its per-sample variance head).
    pub encoder: u128,
    /// The decoder's layers and the likelihood's learned noise variances: p(y | z).
    pub decoder: u128,
    /// Posterior parameters: Half-VAE's per-row means and variances, or the per-dimension
    /// variances.
    pub latents: u128,
    pub prior: u128,
}

impl ParameterCounts {
    pub fn total(&self) -> Option<u128> {
        self.encoder
            .checked_add(self.decoder)?
            .checked_add(self.latents)?
            .checked_add(self.prior)
    }
}

/// The parameter counts of `spec`'s model for data with `rows` rows (Half-VAE's latents
/// grow with the rows), computed without building it. `None` when a count overflows.
/// `tests/backend.rs` holds the total equal to the built model's.
pub fn parameter_counts(spec: &ModelSpec, rows: usize) -> Option<ParameterCounts> {
    let (m, n) = (spec.m() as u128, spec.n() as u128);
    let rows = rows as u128;
    // Hidden layers from `inputs`, then a projection to `outputs`: (count, last width).
    let mlp = |inputs: u128, layers: &[crate::spec::Dense], outputs: u128| {
        let mut width = inputs;
        let mut count: u128 = 0;
        for layer in layers {
            let w = layer.width as u128;
            count = count.checked_add(width.checked_mul(w)?.checked_add(w)?)?;
            width = w;
        }
        Some((
            count.checked_add(width.checked_mul(outputs)?.checked_add(outputs)?)?,
            width,
        ))
    };
    let per_sample = spec.posterior_variance == PosteriorVariance::PerSample;
    let (encoder, latents) = match &spec.encoder {
        Encoder::Mlp(layers) => {
            let (count, width) = mlp(m, layers, n)?;
            let head = match per_sample {
                true => width.checked_mul(n)?.checked_add(n)?,
                false => 0,
            };
            (count.checked_add(head)?, 0)
        }
        Encoder::Invertible(maps) => {
            let mut count: u128 = 0;
            for map in maps {
                let own = match *map {
                    // a, and w, b, c per unit, per dimension.
                    Bijection::Monotone { units } => {
                        n.checked_mul(3u128.checked_mul(units as u128)?.checked_add(1)?)?
                    }
                    Bijection::Affine => n.checked_mul(n)?.checked_add(n)?,
                };
                count = count.checked_add(own)?;
            }
            // No decoder, posterior or noise of its own: only the prior besides.
            return Some(ParameterCounts {
                encoder: count,
                decoder: 0,
                latents: 0,
                prior: prior::parameter_count(&spec.prior, spec.n())?,
            });
        }
        Encoder::None => {
            let means = rows.checked_mul(n)?;
            (
                0,
                if per_sample {
                    means.checked_mul(2)?
                } else {
                    means
                },
            )
        }
    };
    let latents = match spec.posterior_variance {
        PosteriorVariance::PerDimension => latents.checked_add(n)?,
        _ => latents,
    };
    Some(ParameterCounts {
        encoder,
        decoder: mlp(n, &spec.decoder, m)?
            .0
            .checked_add(spec.likelihood.learned_variances(spec.m()) as u128)?,
        latents,
        prior: prior::parameter_count(&spec.prior, spec.n())?,
    })
}

/// How many numbers the parameters of `spec`'s model hold for data with `rows` rows: the
/// sizes of a fitted-model file are checked against this before anything is allocated.
pub fn parameter_count(spec: &ModelSpec, rows: usize) -> Option<u128> {
    parameter_counts(spec, rows)?.total()
}
