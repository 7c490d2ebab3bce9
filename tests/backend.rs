//! The backend's numerics: every parameter of every model kind receives a gradient, and
//! autodiff agrees with central finite differences in f64.

use pdgc::backend::Model;
use pdgc::compile;
use pdgc::matrix::Matrix;
use pdgc::spec::ModelSpec;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn spec(text: &str) -> ModelSpec {
    compile(text).unwrap_or_else(|d| panic!("{}", d.render("test.pdg", text)))
}

fn random(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = StdRng::seed_from_u64(seed);
    Matrix::from_shape_fn((rows, cols), |(_, _)| StandardNormal.sample(&mut rng))
}

/// Small models covering every parameter kind: each activation, `encoder none`, the
/// linear decoder, the three posterior-variance modes, per-dimension GMMs with their own
/// K_j, the shared prior, fixed and learnable normals, and the three Gaussian likelihoods
/// (learned per column, learned shared with a floor, fixed), and the importance-weighted
/// bound (with a learned likelihood, and with Half-VAE), and `kl quadrature` (with
/// per-sample variances from an encoder head, and with Half-VAE), and the Laplace,
/// Student-t and logistic priors: alone, shared, and mixed with the mixture families (one
/// group of dimensions each), with Half-VAE, quadrature and the importance-weighted bound;
/// the logistic fixed and learned, in one group and shared; and the invertible encoder's
/// exact likelihood (monotone and affine maps, with mixture and other families).
const VARIANTS: [&str; 23] = [
    "observed x[3]\nlatent z[3] ~ gmm(K = 2)\nencoder { monotone 3 tanh; affine; monotone 2 tanh; affine }\ndecoder inverse",
    "observed x[2]\nlatent z[2]\nz[0] ~ laplace\nz[1] ~ student_t\nencoder { affine; monotone 3 tanh }",
    "observed x[3]\nlatent z[2] ~ gmm(K = 3)\nencoder { dense 5 tanh; dense 4 elu }\ndecoder { dense 4 sigmoid; dense 3 leaky_relu }\nbeta 0.5",
    "observed x[3]\nlatent z[3]\nz[0] ~ gmm(K = 2)\nz[1] ~ normal\nz[2] ~ gmm(K = 4)\nencoder { dense 4 relu }\ndecoder { dense 5 identity; dense 3 tanh }\nposterior variance per_sample",
    "observed x[2]\nlatent z[2] ~ shared gmm(K = 3)\nencoder linear\ndecoder linear\nposterior variance per_dimension\nbeta 2",
    "observed x[3]\nlatent z[3] ~ normal(0, 1)\nencoder { dense 4 tanh }\ndecoder { dense 4 tanh }\nposterior variance fixed(0.3)\nbeta 1",
    "observed x[2]\nlatent z[3] ~ gmm(K = 2)\nencoder none\ndecoder { dense 4 tanh }\nbeta 0.3",
    "observed x[3]\nlatent z[2] ~ gmm(K = 2)\nencoder none\ndecoder linear\nposterior variance per_sample\nbeta 0.7",
    "observed x[3]\nlatent z[2]\nz[0] ~ normal(1, 2)\nz[1] ~ gmm(K = 3)\nencoder { dense 3 sigmoid }\ndecoder { dense 3 elu }\ntrain { samples 3 }\nlikelihood gaussian(0.05)",
    "observed x[3]\nlatent z[2] ~ gmm(K = 2)\nencoder { dense 4 tanh }\ndecoder { dense 4 tanh }\nlikelihood gaussian(learned)\nbeta 0.5\ntrain { samples 2 }",
    "observed x[2]\nlatent z[3] ~ gmm(K = 2)\nencoder none\ndecoder linear\nlikelihood shared gaussian(learned, floor = 1e-3)",
    "observed x[3]\nlatent z[2] ~ gmm(K = 3)\nencoder { dense 4 tanh }\ndecoder { dense 4 elu }\nlikelihood gaussian(learned)\nbeta 0.8\ntrain { samples 3; bound iwae }",
    "observed x[2]\nlatent z[2]\nz[0] ~ normal\nz[1] ~ gmm(K = 2)\nencoder none\ndecoder { dense 3 tanh }\nposterior variance per_sample\ntrain { samples 4; bound iwae }",
    "observed x[3]\nlatent z[2] ~ gmm(K = 3)\nencoder { dense 4 tanh }\ndecoder { dense 4 tanh }\nposterior variance per_sample\nkl quadrature(8)\ntrain { samples 2 }",
    "observed x[2]\nlatent z[2] ~ shared gmm(K = 2)\nencoder none\ndecoder linear\nkl quadrature(5)\nbeta 0.6",
    "observed x[3]\nlatent z[2] ~ laplace\nencoder { dense 4 tanh }\ndecoder { dense 4 tanh }\nbeta 0.5",
    "observed x[2]\nlatent z[3]\nz[0] ~ student_t\nz[1] ~ gmm(K = 2)\nz[2] ~ laplace\nencoder none\ndecoder { dense 3 tanh }\nposterior variance per_sample\nkl quadrature(6)",
    "observed x[3]\nlatent z[2] ~ shared student_t\nencoder { dense 4 elu }\ndecoder linear\ntrain { samples 3; bound iwae }\nbeta 0.8",
    "observed x[3]\nlatent z[3]\nz[0] ~ laplace\nz[1] ~ normal(0, 1)\nz[2] ~ student_t\nencoder { dense 4 tanh }\ndecoder { dense 3 sigmoid }\nlikelihood gaussian(learned)\ntrain { samples 2 }",
    "observed x[3]\nlatent z[2] ~ logistic\nencoder { dense 4 tanh }\ndecoder { dense 4 tanh }\nbeta 0.5",
    "observed x[2]\nlatent z[3]\nz[0] ~ logistic(0.5, 2)\nz[1] ~ laplace\nz[2] ~ logistic\nencoder none\ndecoder { dense 3 tanh }\nposterior variance per_sample\nkl quadrature(6)",
    "observed x[3]\nlatent z[2] ~ shared logistic(0, 1)\nencoder { dense 4 elu }\ndecoder linear\ntrain { samples 3; bound iwae }\nbeta 0.8",
    "observed x[3]\nlatent z[3]\nz[0] ~ gmm(K = 2)\nz[1] ~ logistic\nz[2] ~ logistic(-1, 0.5)\nencoder { dense 4 tanh }\ndecoder { dense 3 sigmoid }\nlikelihood gaussian(learned)\ntrain { samples 2 }",
];

/// Every prior family of the language is among `VARIANTS`, so the gradient and
/// finite-difference tests below cover a family as soon as it exists (this fails until a
/// variant uses it).
#[test]
fn every_prior_family_is_among_the_variants() {
    for word in pdgc::words::FAMILIES {
        let used = VARIANTS.iter().any(|v| {
            v.lines()
                .filter_map(|line| line.split_once('~'))
                .any(|(_, prior)| {
                    prior
                        .split_whitespace()
                        .any(|w| w.split('(').next() == Some(word))
                })
        });
        assert!(used, "no variant uses the prior family `{word}`");
    }
}

/// `kl quadrature`: with a fixed N(0, 1) prior, E_q[log p] = −½(log 2π + μ² + σ²) exactly
/// (Gauss–Hermite is exact for quadratics), and E_q[log q] = −½(log 2πσ² + 1).
#[test]
fn quadrature_is_exact_for_a_normal_prior() {
    let text = "observed x[3]\nlatent z[2] ~ normal(0, 1)\nencoder { dense 4 tanh }\ndecoder linear\nkl quadrature(3)";
    let (model, y, eps) = setup(text, 8, 2);
    let terms = model.evaluate(&y, &eps);
    let (mu, sd) = model.encode(&y);
    let tm = (8 * 3) as f64;
    let ln_2pi = (2.0 * std::f64::consts::PI).ln();
    let (mut log_p, mut log_q) = (0.0, 0.0);
    for (m, s) in mu.iter().zip(sd.iter()) {
        log_p += -0.5 * (ln_2pi + m * m + s * s);
        log_q += -0.5 * (ln_2pi + (s * s).ln() + 1.0);
    }
    assert!(
        (terms.log_p - log_p / tm).abs() < 1e-12,
        "{} vs {}",
        terms.log_p,
        log_p / tm
    );
    assert!(
        (terms.log_q - log_q / tm).abs() < 1e-12,
        "{} vs {}",
        terms.log_q,
        log_q / tm
    );
}

/// `kl quadrature(32)` against a fine Simpson rule on a mixture prior: the objective's value
/// and its gradient with respect to Half-VAE's free means (where μ enters only the prior
/// term and the sampled reconstruction) match the Simpson objective's finite differences.
#[test]
fn quadrature_value_and_gradient_match_a_fine_simpson_rule() {
    use pdgc::backend::Part;
    use pdgc::theory::{Normal, Quadrature};
    let text = "observed x[2]\nlatent z[2] ~ gmm(K = 3)\nencoder none\ndecoder linear\nposterior variance fixed(0.3)\nkl quadrature(32)\nbeta 0.9";
    let rows = 5;
    let (mut model, y, eps) = setup(text, rows, 3);
    let simpson = Quadrature::simpson(4000);
    let tm = (rows * 2) as f64;
    // The objective with E_q[log p] by Simpson, from the model's own numbers: its
    // reconstruction (sampled, the same noise) and its priors.
    let simpson_objective = |model: &Model<f64>| {
        let terms = model.evaluate(&y, &eps);
        let (mu, sd) = model.encode(&y);
        let priors = model.priors();
        let mut log_p = 0.0;
        for t in 0..rows {
            for (j, prior) in priors.iter().enumerate() {
                let q = Normal {
                    mean: mu[[t, j]],
                    variance: sd[[t, j]].powi(2),
                };
                log_p += simpson.expect_under(q, |z| prior.log_density(z));
            }
        }
        let simpson_log_p = log_p / tm;
        (
            terms.reconstruction + 0.9 * (terms.log_q - simpson_log_p),
            terms,
            simpson_log_p,
        )
    };
    let (objective, terms, simpson_log_p) = simpson_objective(&model);
    // 32 nodes against 4000 Simpson panels agree to ~1e-8 here (σ² = 0.3, random priors).
    assert!(
        (terms.log_p - simpson_log_p).abs() < 1e-6,
        "{} vs {simpson_log_p}",
        terms.log_p
    );
    assert!((terms.loss - objective).abs() < 1e-6);
    let means = model.index_of(Part::LatentMeans).unwrap();
    let (_, grads) = model.gradients(&y, &eps);
    let values = model.parameters()[means].values.clone();
    for i in 0..values.len() {
        let h = 1e-5;
        let at = |x: f64, model: &mut Model<f64>| {
            let mut v = values.clone();
            v[i] = x;
            model.set_parameter(means, &v);
            simpson_objective(model).0
        };
        let fd = (at(values[i] + h, &mut model) - at(values[i] - h, &mut model)) / (2.0 * h);
        let g = grads[means][i];
        assert!(
            (g - fd).abs() < 1e-6 * (1.0 + fd.abs()),
            "mean {i}: autodiff {g} vs Simpson {fd}"
        );
    }
}

/// The importance-weighted bound (Burda et al. 2016): with one sample it is the ELBO, loss
/// and gradient; with several its loss is at most the ELBO's on the same noise (Jensen),
/// and the order of the samples does not matter.
#[test]
fn the_importance_weighted_bound_is_the_elbo_at_one_sample_and_tighter_after() {
    let base = "observed x[3]\nlatent z[2] ~ gmm(K = 2)\nencoder { dense 4 tanh }\ndecoder { dense 4 elu }\nbeta 0.7\ntrain { samples 4 }\n";
    for likelihood in ["mse", "gaussian(learned)"] {
        let text = format!("{base}likelihood {likelihood}");
        let (elbo, y, eps) = setup(&text, 9, 4);
        let iwae_text = text.replace("samples 4", "samples 4; bound iwae");
        let (iwae, _, _) = setup(&iwae_text, 9, 4);
        let (e1, g1) = elbo.gradients(&y, &eps[..1]);
        let (i1, h1) = iwae.gradients(&y, &eps[..1]);
        assert!(
            (e1.loss - i1.loss).abs() < 1e-12,
            "{likelihood}: {e1:?} vs {i1:?}"
        );
        for (a, b) in g1.iter().flatten().zip(h1.iter().flatten()) {
            assert!((a - b).abs() < 1e-10, "{likelihood}: gradient {a} vs {b}");
        }
        let e4 = elbo.evaluate(&y, &eps);
        let i4 = iwae.evaluate(&y, &eps);
        assert!(
            i4.loss < e4.loss,
            "{likelihood}: IWAE {} vs ELBO {}",
            i4.loss,
            e4.loss
        );
        assert_eq!(
            i4.reconstruction, e4.reconstruction,
            "the reported terms are the same"
        );
        let reversed: Vec<Matrix> = eps.iter().rev().cloned().collect();
        assert!((iwae.evaluate(&y, &reversed).loss - i4.loss).abs() < 1e-12);
    }
}

/// The Gaussian likelihood is eq. 26: with σ² = ½ its loss is eq. 39's plus ½·log π, with
/// the same gradient, whether σ² is fixed or learned (and then set to ½).
#[test]
fn a_gaussian_likelihood_with_half_variance_is_eq_39_plus_a_constant() {
    let base = "observed x[3]\nlatent z[2] ~ gmm(K = 2)\nencoder { dense 4 tanh }\ndecoder { dense 4 elu }\nbeta 0.7\ntrain { samples 2 }\n";
    let (mse, y, eps) = setup(base, 9, 4);
    let (expected, expected_grads) = mse.gradients(&y, &eps);
    for likelihood in [
        "gaussian(0.5)",
        "gaussian(learned)",
        "shared gaussian(learned)",
    ] {
        let (mut model, _, _) = setup(&format!("{base}likelihood {likelihood}"), 9, 4);
        if let Some(i) = model.index_of(pdgc::backend::Part::NoiseLogVariance) {
            let k = model.parameters()[i].values.len();
            model.set_parameter(i, &vec![0.5f64.ln(); k]);
        }
        let (terms, grads) = model.gradients(&y, &eps);
        let constant = 0.5 * std::f64::consts::PI.ln();
        assert!(
            (terms.loss - expected.loss - constant).abs() < 1e-12,
            "{likelihood}"
        );
        assert_eq!(
            terms.reconstruction, expected.reconstruction,
            "{likelihood}"
        );
        for (a, b) in grads.iter().zip(&expected_grads) {
            for (a, b) in a.iter().zip(b) {
                assert!((a - b).abs() < 1e-12, "{likelihood}: gradient {a} vs {b}");
            }
        }
    }
}

fn setup(text: &str, rows: usize, seed: u64) -> (Model<f64>, Matrix, Vec<Matrix>) {
    let spec = spec(text);
    let model = Model::<f64>::new(&spec, rows, seed);
    let y = random(rows, spec.m(), seed + 1);
    let mut rng = StdRng::seed_from_u64(seed + 2);
    let eps = model.draw_noise(rows, &mut rng);
    (model, y, eps)
}

#[test]
fn every_parameter_receives_a_gradient() {
    for (v, text) in VARIANTS.iter().enumerate() {
        let (model, y, eps) = setup(text, 7, v as u64);
        let (terms, grads) = model.gradients(&y, &eps);
        assert!(terms.loss.is_finite());
        for (p, g) in model.parameters().iter().zip(&grads) {
            let live: Vec<f64> = g
                .iter()
                .zip(&p.learned)
                .filter(|(_, &l)| l)
                .map(|(g, _)| *g)
                .collect();
            let dead: Vec<f64> = g
                .iter()
                .zip(&p.learned)
                .filter(|(_, &l)| !l)
                .map(|(g, _)| *g)
                .collect();
            assert!(
                live.is_empty() || live.iter().any(|g| *g != 0.0),
                "variant {v}: parameter `{}` gets no gradient: {g:?}",
                p.name
            );
            assert!(
                dead.iter().all(|g| *g == 0.0),
                "variant {v}: fixed entries of `{}` get a gradient: {g:?}",
                p.name
            );
        }
        // Every learnable kind of parameter is present and learned somewhere.
        assert!(model
            .parameters()
            .iter()
            .any(|p| p.learned.iter().any(|&l| l)));
    }
}

#[test]
fn autodiff_agrees_with_finite_differences_in_f64() {
    for (v, text) in VARIANTS.iter().enumerate() {
        let (mut model, y, eps) = setup(text, 5, 100 + v as u64);
        let (_, grads) = model.gradients(&y, &eps);
        let params = model.parameters();
        for (i, p) in params.iter().enumerate() {
            for e in 0..p.values.len() {
                if !p.learned[e] {
                    continue;
                }
                let h = 1e-6 * p.values[e].abs().max(1.0);
                let mut values = p.values.clone();
                values[e] = p.values[e] + h;
                model.set_parameter(i, &values);
                let up = model.evaluate(&y, &eps).loss;
                values[e] = p.values[e] - h;
                model.set_parameter(i, &values);
                let down = model.evaluate(&y, &eps).loss;
                model.set_parameter(i, &p.values);
                let numeric = (up - down) / (2.0 * h);
                let analytic = grads[i][e];
                // Central differences err by O(h²) ≈ 1e-12 and by rounding ≈ 1e-16/h ≈ 1e-10.
                let tol = 1e-6 * (1.0 + analytic.abs());
                assert!(
                    (numeric - analytic).abs() <= tol,
                    "variant {v}: `{}`[{e}]: autodiff {analytic}, finite difference {numeric}",
                    p.name
                );
            }
        }
    }
}

#[test]
fn training_lowers_the_objective_for_every_variant() {
    for (v, text) in VARIANTS.iter().enumerate() {
        let spec = spec(text);
        let mut model = Model::<f32>::new(&spec, 64, v as u64);
        let y = random(64, spec.m(), 7);
        let mut rng = StdRng::seed_from_u64(3);
        let eps = model.draw_noise(64, &mut rng);
        let before = model.evaluate(&y, &eps).loss;
        for _ in 0..200 {
            let eps = model.draw_noise(64, &mut rng);
            assert!(model.step(&y, &eps).terms.loss.is_finite());
        }
        let after = model.evaluate(&y, &eps).loss;
        assert!(after < before, "variant {v}: loss {before} → {after}");
    }
}

/// The count a fitted-model file is checked against before loading is the count the
/// built model holds, for every variant and the shipped models.
#[test]
fn parameter_count_matches_the_built_model() {
    let shipped = crate::util::shipped_models()
        .into_iter()
        .map(|p| std::fs::read_to_string(p).unwrap());
    for text in VARIANTS.iter().map(|t| t.to_string()).chain(shipped) {
        let spec = spec(&text);
        for rows in [1, 7] {
            let model = Model::<f64>::new(&spec, rows, 0);
            let held: usize = model.parameters().iter().map(|p| p.values.len()).sum();
            assert_eq!(
                pdgc::backend::parameter_count(&spec, rows),
                Some(held as u128),
                "{text}"
            );
        }
    }
}

/// A step whose objective is not finite moves nothing; the next finite step moves again.
/// The noise is not finite, or the data where no noise is drawn (the exact likelihood).
#[test]
fn a_non_finite_step_is_not_applied() {
    for text in VARIANTS {
        let spec = spec(text);
        let mut model = Model::<f32>::new(&spec, 6, 1);
        let y = random(6, spec.m(), 2);
        let mut rng = StdRng::seed_from_u64(3);
        let mut eps = model.draw_noise(6, &mut rng);
        let before = model.parameters();
        eps[0][[0, 0]] = f64::NAN;
        let mut bad = y.clone();
        if spec.is_invertible() {
            bad[[0, 0]] = f64::NAN;
        }
        let step = model.step(&bad, &eps);
        assert!(!step.applied, "{text}");
        assert_eq!(model.parameters(), before, "{text}: nothing moved");
        let eps = model.draw_noise(6, &mut rng);
        assert!(model.step(&y, &eps).applied, "{text}");
        assert_ne!(model.parameters(), before, "{text}");
    }
}

/// A fixed `logistic(m, s)` holds its location and log-scale as parameters marked not
/// learned: 200 Adam steps of training, and 50 of the prior alone, leave them exactly where
/// the file put them (and its fitted prior is the file's), while a learned logistic in the
/// same group and a shared learned one move.
#[test]
fn a_fixed_logistic_prior_never_moves() {
    use pdgc::numeric::PriorDensity;
    for (text, fixed) in [
        (
            "observed x[3]\nlatent z[3]\nz[0] ~ logistic(0.5, 2)\nz[1] ~ logistic\nz[2] ~ laplace\nencoder { dense 4 tanh }\ndecoder { dense 4 tanh }",
            vec![Some((0.5, 2.0)), None, None],
        ),
        (
            "observed x[3]\nlatent z[2] ~ shared logistic(0, 1)\nencoder { dense 4 tanh }\ndecoder linear",
            vec![Some((0.0, 1.0)); 2],
        ),
        (
            "observed x[3]\nlatent z[2] ~ shared logistic\nencoder { dense 4 tanh }\ndecoder linear",
            vec![None; 2],
        ),
    ] {
        let spec = spec(text);
        let mut model = Model::<f32>::new(&spec, 64, 1);
        let y = random(64, spec.m(), 2);
        let mut rng = StdRng::seed_from_u64(3);
        let prior_params = |model: &Model<f32>| -> Vec<_> {
            model
                .parameters()
                .into_iter()
                .filter(|p| p.name.contains("location") || p.name.contains("log_scale"))
                .collect()
        };
        let before = prior_params(&model);
        assert!(!before.is_empty(), "{text}");
        for _ in 0..200 {
            let eps = model.draw_noise(64, &mut rng);
            assert!(model.step(&y, &eps).applied, "{text}");
        }
        let z = random(64, spec.n(), 4);
        for _ in 0..50 {
            model.step_prior(&z);
        }
        let after = prior_params(&model);
        for (b, a) in before.iter().zip(&after) {
            for e in 0..b.values.len() {
                if b.learned[e] {
                    assert_ne!(b.values[e], a.values[e], "{text}: `{}`[{e}] is learned", b.name);
                } else {
                    assert_eq!(b.values[e], a.values[e], "{text}: `{}`[{e}] moved", b.name);
                }
            }
        }
        for (j, (p, given)) in model.priors().iter().zip(&fixed).enumerate() {
            match (p, given) {
                (PriorDensity::Logistic { location, scale }, Some((m, s))) => {
                    assert_eq!((*location, *scale), (*m, *s), "{text}: z{j}")
                }
                (PriorDensity::Logistic { .. } | PriorDensity::Laplace { .. }, None) => {}
                other => panic!("{text}: z{j}: {other:?}"),
            }
        }
    }
}

/// The backend's logistic log-density is the f64 closed form, at every dimension of a
/// per-dimension and a shared prior, from the location and scale it reports.
#[test]
fn the_logistic_log_density_is_the_closed_form() {
    use pdgc::numeric::PriorDensity;
    for text in [
        "observed x[2]\nlatent z[3]\nz[0] ~ logistic(0.5, 2)\nz[1] ~ logistic\nz[2] ~ logistic(-3, 0.01)\nencoder none\ndecoder linear\nposterior variance fixed(0.3)\nkl quadrature(12)",
        "observed x[2]\nlatent z[2] ~ shared logistic\nencoder none\ndecoder linear\nposterior variance fixed(0.3)\nkl quadrature(12)",
    ] {
        // With `kl quadrature`, the log_p term is E_q[log p] by Gauss–Hermite; q is
        // N(μ, 0.3) with μ Half-VAE's free means, so the same rule in f64 on the reported
        // densities must give the same number.
        let rows = 4;
        let (model, y, eps) = setup(text, rows, 9);
        let terms = model.evaluate(&y, &eps);
        let (mu, sd) = model.encode(&y);
        let rule = pdgc::theory::Quadrature::gauss_hermite(12);
        let priors = model.priors();
        assert!(priors
            .iter()
            .all(|p| matches!(p, PriorDensity::Logistic { .. })));
        let mut log_p = 0.0;
        for t in 0..rows {
            for (j, p) in priors.iter().enumerate() {
                let q = pdgc::theory::Normal {
                    mean: mu[[t, j]],
                    variance: sd[[t, j]].powi(2),
                };
                log_p += rule.expect_under(q, |z| {
                    let PriorDensity::Logistic { location, scale } = p else {
                        unreachable!()
                    };
                    let u = (z - location) / scale;
                    -u - scale.ln() - 2.0 * (-u).exp().ln_1p()
                });
            }
        }
        let tm = (rows * 2) as f64;
        assert!(
            (terms.log_p - log_p / tm).abs() < 1e-10,
            "{text}: {} vs {}",
            terms.log_p,
            log_p / tm
        );
    }
}
