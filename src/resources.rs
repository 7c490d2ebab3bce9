//! How much memory a request needs, estimated before anything is allocated, so that a
//! model file, a data file or a flag that asks for more than the machine has is refused
//! with a message (exit 2) instead of aborting on a failed allocation.
//!
//! The estimates are deliberately rough (within a small factor of the measured peak:
//! `nonlinear.pdg` at T = 5000 is estimated at 90 MB for 137 MB of peak RSS, the process
//! included): they exist to catch requests that are off by orders of magnitude.

use crate::backend::parameter_counts;
use crate::spec::{Batch, Bijection, Encoder, ModelSpec};

/// What a part of an estimate is for, so the message can name the statement or flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The encoder's layers (`encoder { … }`).
    Encoder,
    /// The decoder's layers (`decoder { … }`).
    Decoder,
    /// The prior's components (`latent … ~ gmm(K = …)`).
    Prior,
    /// The Monte-Carlo samples (`train { samples … }`), when one sample would fit.
    Samples,
    /// The data rows themselves (the data file, `--samples`, the number of draws).
    Rows,
    /// The training trace, a row per epoch (`train { epochs }`, `--epochs`).
    Epochs,
}

impl Cause {
    /// What is too large, in the words of the model file.
    pub fn what(self) -> &'static str {
        match self {
            Cause::Encoder => "the encoder",
            Cause::Decoder => "the decoder",
            Cause::Prior => "the prior's number of components",
            Cause::Samples => "the number of Monte-Carlo samples",
            Cause::Rows => "the number of rows",
            Cause::Epochs => "the number of epochs",
        }
    }
}

/// An estimate in bytes, with the cause of its largest part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub bytes: u128,
    pub largest: Cause,
}

/// Bytes of one f32 / f64.
const F32: u128 = 4;
const F64: u128 = 8;
/// f32 copies of each parameter while training: the value, its gradient, Adam's two moments.
const PARAMETER_COPIES: u128 = 4;
/// Tensors a dense layer keeps per row and unit for the backward pass (product, bias,
/// the activation's pieces), and what the prior keeps per row, dimension and component.
const LAYER_TENSORS: u128 = 16;
const PRIOR_TENSORS: u128 = 24;

impl Estimate {
    fn of(parts: &[(Cause, Option<u128>)]) -> Estimate {
        let bytes = parts
            .iter()
            .try_fold(0u128, |sum, (_, b)| sum.checked_add((*b)?))
            .unwrap_or(u128::MAX);
        let largest = parts
            .iter()
            .max_by_key(|(_, b)| b.unwrap_or(u128::MAX))
            .map_or(Cause::Rows, |(cause, _)| *cause);
        Estimate { bytes, largest }
    }

    /// Whether it fits in `memory` bytes.
    pub fn fits(&self, memory: u128) -> bool {
        self.bytes <= memory
    }
}

/// Training `spec` on `rows` data rows: parameters with gradients and Adam moments, and,
/// for every Monte-Carlo sample, the activations of a batch kept for the backward pass,
/// each counted for the part of the model that makes it.
pub fn fit(spec: &ModelSpec, rows: usize) -> Estimate {
    let (m, n, rows) = (spec.m() as u128, spec.n() as u128, rows as u128);
    let params = parameter_counts(spec, rows as usize);
    let stored = |count: Option<u128>| count?.checked_mul(PARAMETER_COPIES * F32);
    let batch = match spec.train.batch {
        Batch::Full => rows,
        Batch::Size(b) => (b as u128).min(rows),
    };
    let in_flight = batch.saturating_mul(spec.train.samples as u128);
    // Bytes kept for `units` values per row in flight, `tensors` tensors each.
    let activations =
        |units: u128, tensors: u128| in_flight.checked_mul(units)?.checked_mul(tensors * F32);
    let widths = |layers: &[crate::spec::Dense]| layers.iter().map(|l| l.width as u128).sum();
    let encoder_units: u128 = match &spec.encoder {
        Encoder::Mlp(layers) => widths(layers),
        Encoder::None => 0,
        Encoder::Invertible(maps) => invertible_units(maps, spec.n()),
    };
    // An invertible encoder has no decoder: its inverse decodes, outside training.
    let decoder_units = match spec.is_invertible() {
        true => 0,
        false => widths(&spec.decoder) + m,
    };
    let k_max = (0..spec.n())
        .map(|j| spec.prior.family(j).components())
        .max()
        .unwrap_or(1) as u128;
    let plus = |a: Option<u128>, b: Option<u128>| a?.checked_add(b?);
    // The prior is evaluated at every sample, or at every node of `kl quadrature(H)`.
    let prior_rows = match spec.kl {
        crate::spec::KlEstimate::Sample => in_flight,
        crate::spec::KlEstimate::Quadrature(h) => batch.saturating_mul(h as u128),
    };
    // The data as read, standardised, and as a tensor; the posterior and its noise.
    let data = rows.checked_mul(m).and_then(|c| c.checked_mul(3 * F64));
    let posterior = activations(2 * n, LAYER_TENSORS);
    Estimate::of(&[
        (
            Cause::Encoder,
            plus(
                stored(params.map(|p| p.encoder)),
                activations(encoder_units, LAYER_TENSORS),
            ),
        ),
        (
            Cause::Decoder,
            plus(
                stored(params.map(|p| p.decoder)),
                activations(decoder_units, LAYER_TENSORS),
            ),
        ),
        (
            Cause::Prior,
            plus(
                stored(params.map(|p| p.prior)),
                prior_rows
                    .checked_mul(n.saturating_mul(k_max))
                    .and_then(|c| c.checked_mul(PRIOR_TENSORS * F32)),
            ),
        ),
        (
            Cause::Rows,
            plus(plus(stored(params.map(|p| p.latents)), posterior), data),
        ),
        (Cause::Epochs, trace(spec)),
    ])
}

/// The training trace held in memory: per epoch the terms, β, the posterior and noise
/// variances and every prior parameter (traced each epoch), in f64, with room for the
/// vectors' own headers.
fn trace(spec: &ModelSpec) -> Option<u128> {
    let priors: u128 = (0..spec.n())
        .map(|j| spec.prior.family(j).fitted_names().len() as u128 + 4)
        .sum();
    let per_epoch = 16 + 2 * spec.n() as u128 + spec.m() as u128 + priors;
    (spec.train.epochs as u128)
        .checked_mul(per_epoch)?
        .checked_mul(F64)
}

/// Why training `spec` on `rows` rows cannot fit in `memory` bytes: the estimate and the
/// part to name, or `None` when it fits. The Monte-Carlo samples are named when the same
/// request would fit with one sample.
pub fn fit_refusal(spec: &ModelSpec, rows: usize, memory: u128) -> Option<Estimate> {
    let estimate = fit(spec, rows);
    if estimate.fits(memory) {
        return None;
    }
    let mut one_sample = spec.clone();
    one_sample.train.samples = 1;
    let largest = match spec.train.samples > 1 && fit(&one_sample, rows).fits(memory) {
        true => Cause::Samples,
        false => estimate.largest,
    };
    Some(Estimate {
        bytes: estimate.bytes,
        largest,
    })
}

/// Why training `spec` on `rows` rows, `threads` at a time, cannot fit in the memory
/// this process may use: the estimate and the limit, or `None` when it fits (or no limit
/// is known). Restarts run `threads` at a time, each with a model of its own, so each
/// gets its share of the limit.
pub fn fit_refusal_here(
    spec: &ModelSpec,
    rows: usize,
    threads: usize,
) -> Option<(Estimate, MemoryLimit)> {
    let memory = memory_limit()?;
    let at_once = spec.train.restarts.min(threads).max(1) as u128;
    fit_refusal(spec, rows, memory.bytes / at_once).map(|e| (e, memory))
}

/// Encoding `rows` new rows with a fitted `spec`: a Half-VAE fits each row's latents (as
/// much as training on them); an encoder only runs forward.
pub fn encode(spec: &ModelSpec, rows: usize) -> Estimate {
    match &spec.encoder {
        Encoder::None => fit(spec, rows),
        Encoder::Mlp(_) | Encoder::Invertible(_) => {
            let hidden = match &spec.encoder {
                Encoder::Mlp(layers) => layers.iter().map(|l| l.width as u128).sum::<u128>(),
                Encoder::Invertible(maps) => invertible_units(maps, spec.n()),
                Encoder::None => unreachable!("matched above"),
            };
            let units: u128 = hidden + (spec.m() + 2 * spec.n()) as u128;
            let bytes = (rows as u128).checked_mul(units.saturating_mul(LAYER_TENSORS * F64));
            Estimate::of(&[(Cause::Rows, bytes)])
        }
    }
}

/// The units of an invertible encoder, as a dense layer's width counts them (the caller
/// multiplies by the tensors a layer keeps): a monotone map of K units works on a (rows,
/// n, K) cube and puts out n values and their log-slopes; an affine map's output is n wide.
fn invertible_units(maps: &[Bijection], n: usize) -> u128 {
    let n = n as u128;
    (maps.iter())
        .map(|map| match *map {
            Bijection::Monotone { units } => n.saturating_mul(units as u128 + 2),
            Bijection::Affine => n,
        })
        .fold(0, u128::saturating_add)
}

/// Drawing `rows` samples from a fitted `spec`: latents, the decoder's activations and
/// the output, in f64 and f32.
pub fn sample(spec: &ModelSpec, rows: usize) -> Estimate {
    let units: u128 =
        spec.decoder.iter().map(|l| l.width as u128).sum::<u128>() + (spec.m() + spec.n()) as u128;
    let bytes = (rows as u128).checked_mul(units.saturating_mul(LAYER_TENSORS * F64));
    Estimate::of(&[(Cause::Rows, bytes)])
}

/// Simulating `rows` rows of `columns` sources and observations: sources, hidden layers
/// and observations in f64, several copies while mixing and writing.
pub fn simulate(rows: usize, columns: usize) -> Estimate {
    let bytes = (rows as u128)
        .checked_mul(columns as u128)
        .and_then(|c| c.checked_mul(8 * F64));
    Estimate::of(&[(Cause::Rows, bytes)])
}

/// Address space a thread takes: its stack (2 MiB, Rust's and rayon's default), the guard
/// and signal stacks, and the allocator's first segment for it. Only the stack's touched
/// pages become memory; the estimate is for a process whose address space is limited
/// (`ulimit -v`), where a thread that cannot get its stacks aborts the process.
const THREAD_BYTES: u128 = 8 << 20;

/// Starting `count` threads.
pub fn threads(count: usize) -> Estimate {
    let bytes = (count as u128).checked_mul(THREAD_BYTES);
    Estimate::of(&[(Cause::Rows, bytes)])
}

/// The memory this process may use: the smallest of the machine's physical memory, the
/// cgroup's `memory.max` (a container's or a batch job's limit) less what the group uses,
/// and the address-space limit (`ulimit -v`, RLIMIT_AS) less what the process has mapped.
/// `None` when none of them can be read.
pub fn machine_memory() -> Option<u128> {
    memory_limit().map(|m| m.bytes)
}

/// The memory this process may use, and which limit sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    pub bytes: u128,
    /// How a message says whose limit it is: "this machine has", "this process may use
    /// (its cgroup's memory.max)", "this process may use (ulimit -v)".
    pub source: &'static str,
}

/// The address-space limit (`ulimit -v`) less what is mapped, when there is one: what
/// limits how many threads can start (their stacks are address space, not memory).
pub fn address_space_limit() -> Option<MemoryLimit> {
    address_space_left().map(|bytes| MemoryLimit {
        bytes,
        source: ADDRESS_SPACE,
    })
}

const ADDRESS_SPACE: &str = "this process may use (its ulimit -v)";

/// The smallest of the limits [`machine_memory`] takes, with its source.
pub fn memory_limit() -> Option<MemoryLimit> {
    let limit = |bytes: Option<u128>, source| bytes.map(|bytes| MemoryLimit { bytes, source });
    [
        limit(physical_memory(), "this machine has"),
        limit(
            cgroup_memory(),
            "this process may use (its cgroup's memory limit)",
        ),
        limit(address_space_left(), ADDRESS_SPACE),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|m| m.bytes)
}

/// `MemTotal` of `/proc/meminfo`.
fn physical_memory() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&text, "MemTotal:")
}

/// A `NAME:  N kB` line's bytes.
fn kib_field(text: &str, name: &str) -> Option<u128> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The cgroup's limit less what the group uses (v2: `memory.max` and `memory.current`;
/// v1: `memory.limit_in_bytes` and `memory.usage_in_bytes`), the tightest of this
/// process's group and the groups above it that can be seen.
fn cgroup_memory() -> Option<u128> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let v2 = membership.lines().find_map(|l| l.strip_prefix("0::"));
    let v1 = membership.lines().find_map(|l| {
        let (_, rest) = l.split_once(':')?;
        rest.strip_prefix("memory:")
    });
    let limits = [
        v2.and_then(|p| group_limit("/sys/fs/cgroup", p, "memory.max", "memory.current")),
        v1.and_then(|p| {
            group_limit(
                "/sys/fs/cgroup/memory",
                p,
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            )
        }),
    ];
    limits.into_iter().flatten().min()
}

/// The tightest `limit − usage` from the group at `path` under `mount` up to the mount.
fn group_limit(mount: &str, path: &str, limit: &str, usage: &str) -> Option<u128> {
    let root = std::path::Path::new(mount);
    let mut group = root.join(path.trim_start_matches('/'));
    let mut tightest: Option<u128> = None;
    loop {
        let read = |name: &str| -> Option<u128> {
            std::fs::read_to_string(group.join(name))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        if let Some(max) = read(limit) {
            let left = max.saturating_sub(read(usage).unwrap_or(0));
            tightest = Some(tightest.map_or(left, |t| t.min(left)));
        }
        if group == root || !group.pop() {
            return tightest;
        }
    }
}

/// RLIMIT_AS's soft limit less the address space the process has mapped already
/// (`VmSize`); `None` when there is no limit.
fn address_space_left() -> Option<u128> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::As).current?;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mapped = kib_field(&status, "VmSize:").unwrap_or(0);
    Some(u128::from(limit).saturating_sub(mapped))
}

/// `bytes` in binary units with two or three significant digits: `12 TiB`, `24 GiB`.
pub fn human(bytes: u128) -> String {
    if bytes == u128::MAX {
        return "more than can be counted".to_string();
    }
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    let digits = if value < 10.0 && unit > 0 { 1 } else { 0 };
    format!("about {value:.digits$} {}", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model of `text`, however large (no memory limit while checking).
    fn spec(text: &str) -> ModelSpec {
        crate::compile_within(text, None).unwrap()
    }

    #[test]
    fn the_shipped_size_is_within_a_small_factor_of_its_measured_peak() {
        let text = std::fs::read_to_string("models/nonlinear.pdg").unwrap();
        let e = fit(&spec(&text), 5000);
        // Measured: 45 MB peak RSS for the whole process at any number of epochs (137 MB
        // at 400 epochs before 46c0e21 stopped dfdx's cache from keeping each epoch's
        // inputs).
        assert!(
            (30e6..140e6).contains(&(e.bytes as f64)),
            "{}",
            human(e.bytes)
        );
    }

    #[test]
    fn the_largest_part_is_named() {
        let base = "observed x[3]\nlatent z[3] ~ gmm(K = 3)\n";
        let wide = spec(&format!("{base}decoder {{ dense 1000000000000 tanh }}"));
        assert_eq!(fit(&wide, 100).largest, Cause::Decoder);
        let mixture = spec("observed x[3]\nlatent z[3] ~ gmm(K = 60000)\n");
        assert_eq!(fit(&mixture, 5000).largest, Cause::Prior);
        let samples = spec(&format!("{base}train {{ samples 100000000 }}"));
        let refused = fit_refusal(&samples, 100, 24 << 30).expect("too large");
        assert_eq!(refused.largest, Cause::Samples);
        assert!(refused.bytes > 1 << 40);
        assert_eq!(fit_refusal(&mixture, 100, 24 << 30), None);
        // `kl quadrature(H)` evaluates the prior at H points per row and dimension.
        let sampled = fit(&mixture, 5000).bytes;
        let quadrature = fit(
            &spec("observed x[3]\nlatent z[3] ~ gmm(K = 60000)\nkl quadrature(64)\n"),
            5000,
        );
        assert_eq!(quadrature.largest, Cause::Prior);
        assert!(
            quadrature.bytes > 30 * sampled,
            "{} vs {}",
            quadrature.bytes,
            sampled
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(24 << 30), "about 24 GiB");
        assert_eq!(human(3 << 39), "about 1.5 TiB");
        assert_eq!(human(512), "about 512 bytes");
    }
}
