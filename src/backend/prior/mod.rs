//! Prior families behind one interface. A family owns its parameters (added through the
//! store's `VarBuilder` under `prior.`), evaluates log p_j(z_tj) inside the objective, and
//! reports its fitted values as numbers. The model only ever calls [`PriorFamily`].
//!
//! Today every family of the language is a Gaussian mixture (`gmm(K = k)`, and `normal`
//! as a one-component mixture, fixed or learned): `mixture.rs`. A family of another shape
//! (Laplace, Student-t) is a new file implementing [`PriorFamily`], its grammar word in
//! `words.rs` and the checker, and its arm in [`build`]; models that mix it with mixture
//! dimensions also need [`build`] to split the latent dimensions into one group per family.

mod mixture;

use super::params::VarBuilder;
use super::{Part, Real, Traced};
use crate::numeric::Mixture;
use crate::spec::Prior;
use rand::rngs::StdRng;

use super::params::ParamStore;

pub(crate) trait PriorFamily<E: Real> {
    /// log p_j(z_tj) for every row t and every latent dimension j: (rows, n) → (rows, n).
    fn log_density(&self, store: &ParamStore<E>, z: Traced<E>) -> Traced<E>;

    /// Each dimension's fitted prior, as numbers.
    fn fitted(&self, store: &ParamStore<E>) -> Vec<Mixture>;

    /// The store index of a part of the prior, if this family has it.
    fn part(&self, part: Part) -> Option<usize>;

    /// Every parameter of the prior, in the store (what `step_prior` trains).
    fn parameters(&self) -> Vec<usize>;
}

/// The prior of `n` latent dimensions as the model file declares it.
pub(crate) fn build<E: Real + 'static>(
    prior: &Prior,
    n: usize,
    dev: &crate::backend::Dev<E>,
    vb: &mut VarBuilder<'_, E>,
    rng: &mut StdRng,
) -> Box<dyn PriorFamily<E> + Send + Sync> {
    Box::new(mixture::GaussianMixture::new(prior, n, dev, vb, rng))
}

/// How many numbers the prior's parameters hold (see `backend::parameter_count`).
pub(crate) fn parameter_count(prior: &Prior, n: usize) -> Option<u128> {
    mixture::GaussianMixture::<f32>::parameter_count(prior, n)
}
