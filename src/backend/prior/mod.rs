//! Prior families behind one interface. A family owns its parameters (made by a
//! `VarBuilder` under `prior.`), evaluates log p_j(z_tj) inside the objective, and
//! reports its fitted values as numbers. The model only ever calls [`PriorFamily`].
//!
//! One file a family: Gaussian mixtures (`gmm(K = k)`, and `normal` as a one-component
//! mixture, fixed or learned) in `mixture.rs`, `laplace` in `laplace.rs`, `student_t` in
//! `student_t.rs`, `logistic` (fixed or learned) in `logistic.rs`. A model whose dimensions use several families gets one of each over
//! its own dimensions, joined by [`Split`]. A new family is a new file implementing
//! [`PriorFamily`], its word in `words.rs` and the checker, a `FamilyKind`, and its arm
//! in [`family_of_kind`].

mod laplace;
mod location_scale;
mod logistic;
mod mixture;
mod student_t;

use super::params::{Param, VarBuilder};
use super::{Mat, Part, Real, Traced};
use crate::numeric::PriorDensity;
use crate::spec::{FamilyKind, Prior};
use dfdx::prelude::*;
use rand::rngs::StdRng;

pub(crate) trait PriorFamily<E: Real> {
    /// log p_j(z_tj) for every row t and every latent dimension j: (rows, n) → (rows, n).
    fn log_density(&self, z: Traced<E>) -> Traced<E>;

    /// Each dimension's fitted prior, as numbers.
    fn fitted(&self) -> Vec<PriorDensity>;

    /// A part of the prior, if this family has it.
    fn part(&self, part: Part) -> Option<&Param<E>>;

    /// Every parameter of the prior, in the order they were made (what `step_prior`
    /// trains).
    fn params(&self) -> Vec<&Param<E>>;

    fn params_mut(&mut self) -> Vec<&mut Param<E>>;
}

type Boxed<E> = Box<dyn PriorFamily<E> + Send + Sync>;

/// The prior of `n` latent dimensions as the model file declares it.
pub(crate) fn build<E: Real + 'static>(
    prior: &Prior,
    n: usize,
    dev: &crate::backend::Dev<E>,
    vb: &VarBuilder<'_, E>,
    rng: &mut StdRng,
) -> Boxed<E> {
    let groups = groups(prior, n);
    if let [(kind, _)] = groups.as_slice() {
        // One family for every dimension: no columns to gather, and the parameters keep
        // the names they have always had (`prior.logits`, …).
        return family_of_kind(*kind, prior, n, dev, vb, rng);
    }
    let parts = groups
        .into_iter()
        .map(|(kind, dims)| {
            let own = group_prior(prior, &dims);
            let name = match kind {
                FamilyKind::Mixture => "mixture",
                FamilyKind::Laplace => "laplace",
                FamilyKind::StudentT => "student_t",
                FamilyKind::Logistic => "logistic",
            };
            let family = family_of_kind(kind, &own, dims.len(), dev, &vb.pp(name), rng);
            let ones = |rows: usize, cols: usize, at: &dyn Fn(usize, usize) -> bool| {
                let values =
                    (0..rows * cols).map(|i| super::c::<E>(at(i / cols, i % cols) as u8 as f64));
                super::tensor_of(dev, values, (rows, cols))
            };
            Group {
                gather: ones(n, dims.len(), &|j, g| dims[g] == j),
                scatter: ones(dims.len(), n, &|g, j| dims[g] == j),
                dims,
                family,
            }
        })
        .collect();
    Box::new(Split { groups: parts })
}

/// The dimensions of each family kind, kinds in order of first appearance.
fn groups(prior: &Prior, n: usize) -> Vec<(FamilyKind, Vec<usize>)> {
    let mut groups: Vec<(FamilyKind, Vec<usize>)> = Vec::new();
    for j in 0..n {
        let kind = prior.family(j).kind();
        match groups.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, dims)) => dims.push(j),
            None => groups.push((kind, vec![j])),
        }
    }
    groups
}

fn family_of_kind<E: Real + 'static>(
    kind: FamilyKind,
    prior: &Prior,
    n: usize,
    dev: &crate::backend::Dev<E>,
    vb: &VarBuilder<'_, E>,
    rng: &mut StdRng,
) -> Boxed<E> {
    match kind {
        FamilyKind::Mixture => Box::new(mixture::GaussianMixture::new(prior, n, dev, vb, rng)),
        FamilyKind::Laplace => Box::new(laplace::Laplace::new(prior, n, vb, rng)),
        FamilyKind::StudentT => Box::new(student_t::StudentT::new(prior, n, vb, rng)),
        FamilyKind::Logistic => Box::new(logistic::Logistic::new(prior, n, vb, rng)),
    }
}

/// How many numbers the prior's parameters hold (see `backend::parameter_count`).
pub(crate) fn parameter_count(prior: &Prior, n: usize) -> Option<u128> {
    let count = |kind: FamilyKind, prior: &Prior, n: usize| match kind {
        FamilyKind::Mixture => mixture::GaussianMixture::<f32>::parameter_count(prior, n),
        FamilyKind::Laplace | FamilyKind::Logistic => {
            Some(2 * rows_of_parameters(prior, n) as u128)
        }
        FamilyKind::StudentT => Some(3 * rows_of_parameters(prior, n) as u128),
    };
    let groups = groups(prior, n);
    if let [(kind, _)] = groups.as_slice() {
        return count(*kind, prior, n);
    }
    groups.into_iter().try_fold(0u128, |total, (kind, dims)| {
        total.checked_add(count(kind, &group_prior(prior, &dims), dims.len())?)
    })
}

/// The prior of the dimensions `dims` alone, one family each (a shared prior is never
/// split: it is one family).
fn group_prior(prior: &Prior, dims: &[usize]) -> Prior {
    Prior::PerDimension(dims.iter().map(|&j| prior.family(j).clone()).collect())
}

/// One parameter row for a shared prior, one per dimension otherwise.
fn rows_of_parameters(prior: &Prior, n: usize) -> usize {
    match prior {
        Prior::Shared(_) => 1,
        Prior::PerDimension(_) => n,
    }
}

/// Each of the n dimensions' value of a (p, 1) parameter (p = 1 when shared), through `f`.
fn per_dimension<E: Real>(p: &Param<E>, n: usize, f: impl Fn(f64) -> f64) -> Vec<f64> {
    let v = p.values();
    (0..n)
        .map(|j| f(if v.len() == 1 { v[0] } else { v[j] }))
        .collect()
}

/// e^x for x clamped to `range`: a log-parameter's value as the density uses it.
fn exp_within(range: (f64, f64)) -> impl Fn(f64) -> f64 {
    move |x| x.clamp(range.0, range.1).exp()
}

/// A (p, 1) column of per-dimension values (p = n, or 1 when shared) spread over a
/// (rows, n) tensor: column j holds dimension j's value.
fn spread<E: Real>(column: Traced<E>, (rows, n): (usize, usize)) -> Traced<E> {
    let p = column.shape().0;
    if p == 1 {
        column
            .reshape_like(&())
            .broadcast_like::<_, Axes2<0, 1>>(&(rows, n))
    } else {
        assert_eq!(p, n, "one parameter per dimension");
        column
            .reshape_like(&(n,))
            .broadcast_like::<_, Axis<0>>(&(rows, n))
    }
}

/// Several families, each over its own latent dimensions.
struct Split<E: Real> {
    groups: Vec<Group<E>>,
}

struct Group<E: Real> {
    dims: Vec<usize>,
    /// (n, n_g) and (n_g, n) 0/1 matrices: z·gather picks the group's columns, and
    /// ·scatter puts its log-densities back in place.
    gather: Mat<E>,
    scatter: Mat<E>,
    family: Boxed<E>,
}

impl<E: Real> PriorFamily<E> for Split<E> {
    fn log_density(&self, z: Traced<E>) -> Traced<E> {
        let mut total: Option<Traced<E>> = None;
        for g in &self.groups {
            // Copies of z share its identity, so every group's gradient reaches it.
            let own = z.with_empty_tape().matmul(g.gather.clone());
            let placed = g.family.log_density(own).matmul(g.scatter.clone());
            total = Some(match total {
                None => placed,
                Some(t) => t + placed,
            });
        }
        // z's own tape (the ops that made it) joins the sum's.
        let (sum, tape) = total.expect("at least two groups").split_tape();
        let (_, z_tape) = z.split_tape();
        sum.put_tape(tape.merge(z_tape))
    }

    fn fitted(&self) -> Vec<PriorDensity> {
        let n = self.groups.iter().map(|g| g.dims.len()).sum();
        let mut out: Vec<Option<PriorDensity>> = vec![None; n];
        for g in &self.groups {
            for (&j, p) in g.dims.iter().zip(g.family.fitted()) {
                out[j] = Some(p);
            }
        }
        out.into_iter()
            .map(|p| p.expect("every dimension in a group"))
            .collect()
    }

    fn part(&self, part: Part) -> Option<&Param<E>> {
        self.groups.iter().find_map(|g| g.family.part(part))
    }

    fn params(&self) -> Vec<&Param<E>> {
        self.groups.iter().flat_map(|g| g.family.params()).collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        self.groups
            .iter_mut()
            .flat_map(|g| g.family.params_mut())
            .collect()
    }
}
