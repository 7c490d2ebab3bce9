//! Property tests of the front end: printing a valid model and parsing it back is the
//! identity, and no input makes the front end panic.

use pdgc::compile;
use pdgc::spec::*;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    // Any identifier that is not a statement keyword.
    "[a-z_][a-z0-9_]{0,8}".prop_filter("not a keyword", |s| !pdgc::front::is_keyword(s))
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1000i32..1000).prop_map(f64::from),
        -1e3f64..1e3,
        (1e-9f64..1e9),
    ]
}

/// A variance the checker accepts (`spec::VARIANCE_RANGE`).
fn positive() -> impl Strategy<Value = f64> {
    let (lo, hi) = VARIANCE_RANGE;
    prop_oneof![lo..=hi, (1u32..100).prop_map(f64::from)]
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![
        (1usize..8).prop_map(|k| Family::Gmm { k }),
        (
            number().prop_filter("a mean the checker accepts", |m| m.abs()
                <= PRIOR_MEAN_LIMIT),
            positive()
        )
            .prop_map(|(mean, variance)| Family::Normal { mean, variance }),
        Just(Family::LearnableNormal),
        Just(Family::Laplace),
        Just(Family::StudentT),
        (
            number().prop_filter("a location the checker accepts", |m| m.abs()
                <= PRIOR_MEAN_LIMIT),
            scale()
        )
            .prop_map(|(location, scale)| Family::Logistic { location, scale }),
        Just(Family::LearnableLogistic),
    ]
}

/// A scale the checker accepts (`spec::SCALE_RANGE`).
fn scale() -> impl Strategy<Value = f64> {
    let (lo, hi) = SCALE_RANGE;
    prop_oneof![lo..=hi, (1u32..50).prop_map(f64::from), Just(lo), Just(hi)]
}

fn layers(min: usize) -> impl Strategy<Value = Vec<Dense>> {
    prop::collection::vec(
        (1usize..300, prop::sample::select(Activation::ALL.to_vec()))
            .prop_map(|(width, activation)| Dense { width, activation }),
        min..4,
    )
}

/// An invertible encoder's maps: monotone maps and at least one affine map, in any order.
fn maps() -> impl Strategy<Value = Vec<Bijection>> {
    let map = prop_oneof![
        (1usize..64).prop_map(|units| Bijection::Monotone { units }),
        Just(Bijection::Affine),
    ];
    (prop::collection::vec(map, 0..5), 0usize..5).prop_map(|(mut maps, at)| {
        maps.insert(at.min(maps.len()), Bijection::Affine);
        maps
    })
}

fn column() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z_][a-zA-Z0-9_]{0,6}", "[a-z ,.()-]{1,8}"]
}

prop_compose! {
    fn spec()(
        name in name(),
        obs_name in name(),
        columns in prop_oneof![
            (1usize..20).prop_map(Columns::First),
            prop::collection::hash_set(column(), 1..5).prop_map(|s| Columns::Named(s.into_iter().collect())),
        ],
        latent_name in name(),
        n in 1usize..6,
        shared in any::<bool>(),
        families in prop::collection::vec(family(), 6),
        encoder in prop_oneof![
            3 => Just(Encoder::None),
            3 => layers(0).prop_map(Encoder::Mlp),
            2 => maps().prop_map(Encoder::Invertible),
        ],
        decoder in layers(0),
        decoder_input in prop::sample::select(Activation::ALL.to_vec()),
        posterior in prop_oneof![
            Just(PosteriorVariance::PerDimension),
            Just(PosteriorVariance::PerSample),
            positive().prop_map(PosteriorVariance::Fixed),
        ],
        preprocess in prop::sample::select(Preprocess::ALL.to_vec()),
        postprocess in prop::sample::select(Postprocess::ALL.to_vec()),
        choose in prop::sample::select(Choose::ALL.to_vec()),
        start in prop::sample::select(Start::ALL.to_vec()),
        init in prop::sample::select(Init::ALL.to_vec()),
        likelihood in prop_oneof![
            Just(Likelihood::SquaredError),
            positive().prop_map(Likelihood::Gaussian),
            (any::<bool>(), positive()).prop_map(|(shared, floor)| Likelihood::LearnedGaussian { shared, floor }),
        ],
        beta in prop_oneof![Just(0.0), positive()],
        beta_warmup in prop_oneof![Just(0usize), 1usize..100_000],
        epochs in 1usize..100_000,
        lr in prop_oneof![1e-6f64..=pdgc::spec::limits::LR_MAX, Just(pdgc::spec::limits::LR_MAX)],
        batch in prop_oneof![Just(Batch::Full), (1usize..5000).prop_map(Batch::Size)],
        seed in any::<u64>(),
        samples in 1usize..16,
        tol in prop_oneof![Just(None), (1e-9f64..0.5).prop_map(Some)],
        restarts in prop_oneof![Just(1usize), 1usize..=1024],
        iwae in any::<bool>(),
        quadrature in prop_oneof![Just(None), (1usize..=64).prop_map(Some)],
    ) -> ModelSpec {
        let prior = if shared {
            Prior::Shared(families[0].clone())
        } else {
            Prior::PerDimension(families[..n].to_vec())
        };
        // Minibatches are rejected without an encoder.
        let batch = if encoder == Encoder::None { Batch::Full } else { batch };
        // `fastica_and_random` needs restarts to start at random.
        let start = match (start, restarts) {
            (Start::FasticaAndRandom, 1) => Start::Fastica,
            _ => start,
        };
        let spec = ModelSpec {
            name,
            observed: Observed { name: obs_name, columns },
            preprocess,
            postprocess,
            latent: Latent { name: latent_name, dim: n },
            prior,
            encoder,
            decoder,
            decoder_input,
            posterior_variance: posterior,
            likelihood,
            // Quadrature replaces the sampled prior term that the importance weights need.
            kl: match quadrature {
                Some(h) if !iwae => KlEstimate::Quadrature(h),
                _ => KlEstimate::Sample,
            },
            beta,
            beta_warmup,
            // The importance-weighted bound needs two samples or more.
            train: Train {
                epochs, lr, batch, seed, samples, tol, restarts,
                // `choose` needs restarts to choose from.
                choose: if restarts > 1 { choose } else { Choose::Objective },
                start,
                init,
                bound: if iwae && samples > 1 { Bound::Iwae } else { Bound::Elbo },
            },
        };
        match spec.encoder {
            Encoder::Invertible(_) => exact_likelihood(spec),
            _ => spec,
        }
    }
}

/// `spec` as a model with an invertible encoder may be: as many sources as columns, its
/// inverse for a decoder, and the variational statements and settings at their defaults.
fn exact_likelihood(spec: ModelSpec) -> ModelSpec {
    let defaults =
        pdgc::compile("observed x[1]\nlatent z[1] ~ normal\nencoder { affine }\ndecoder inverse")
            .expect("the smallest invertible model checks");
    let start = match spec.train.start {
        Start::FasticaAutoencoder => Start::Fastica,
        start => start,
    };
    ModelSpec {
        observed: Observed {
            columns: Columns::First(spec.n()),
            ..spec.observed
        },
        decoder: defaults.decoder,
        decoder_input: defaults.decoder_input,
        posterior_variance: defaults.posterior_variance,
        likelihood: defaults.likelihood,
        kl: defaults.kl,
        beta: defaults.beta,
        beta_warmup: defaults.beta_warmup,
        train: Train {
            samples: defaults.train.samples,
            bound: defaults.train.bound,
            init: defaults.train.init,
            start,
            ..spec.train
        },
        ..spec
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn printed_model_parses_back_to_itself(spec in spec()) {
        let text = spec.to_pdg();
        let parsed = compile(&text)
            .map_err(|d| d.render("printed.pdg", &text))
            .map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed, spec);
    }

    #[test]
    fn ron_round_trip_is_the_identity(spec in spec()) {
        let ron = spec.to_ron();
        let back = ModelSpec::from_ron(&ron).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &spec);
        prop_assert_eq!(back.to_ron(), ron);
    }
}
