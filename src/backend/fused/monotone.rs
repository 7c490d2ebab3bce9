//! The invertible encoder's element-wise monotone map, f(u) = a·u + Σ_i w_i tanh(b_i u +
//! c_i) per dimension (a = e^{log a}, w = e^{log w}, b = e^{log b}), and its log-slope
//! log f′(u), as one dfdx op.
//!
//! Why: as a graph of dfdx ops the map broadcast every cell to its units, a (rows, n,
//! units) cube per step, through a dozen ops forward and back, with libm's scalar tanh
//! on each element; a fit of `models/flow.pdg` spent most of its epoch there. Here the
//! cube is walked once each way, column by column (one unit's numbers fixed along the
//! rows, so the loops vectorise), with the kernels' tanh; the tanh values are kept for the
//! backward pass instead of recomputed.

use super::{add_into, contents, transposed};
use crate::backend::{c, Real, Traced};
use dfdx::prelude::*;
use multiversion::multiversion;

/// f(u) in columns 0..n and log f′(u) in columns n..2n, (rows, 2n), for u (rows, n) and
/// the map's parameters: `log_a` (1, n), `log_w`, `log_b` and `shift` (c; n, units). Every input
/// gets its gradient (the data's too, unread).
pub(crate) fn monotone_map<E: Real>(
    u: Traced<E>,
    log_a: Traced<E>,
    log_w: Traced<E>,
    log_b: Traced<E>,
    shift: Traced<E>,
) -> Traced<E> {
    let (rows, n) = *u.shape();
    let units = log_w.shape().1;
    assert_eq!(*log_a.shape(), (1, n), "one slope a per dimension");
    for t in [&log_w, &log_b, &shift] {
        assert_eq!(*t.shape(), (n, units), "one row of units per dimension");
    }
    let (u, tape) = u.split_tape();
    let (log_a, a_tape) = log_a.split_tape();
    let (log_w, w_tape) = log_w.split_tape();
    let (log_b, b_tape) = log_b.split_tape();
    let (shift, c_tape) = shift.split_tape();
    let mut tape = tape.merge(a_tape).merge(w_tape).merge(b_tape).merge(c_tape);
    let exp = |values: Vec<E>| -> Vec<E> { values.into_iter().map(|v| v.exp()).collect() };
    let map = Parameters {
        a: exp(contents(&log_a)),
        w: exp(contents(&log_w)),
        b: exp(contents(&log_b)),
        c: contents(&shift),
    };
    // [j][row]: u's columns; [j][i][row]: each unit's tanh; [j][row]: f(u) and f′(u).
    let u_columns = transposed(&contents(&u), (rows, n));
    let mut tanh = vec![E::zero(); n * units * rows];
    let mut value = vec![E::zero(); n * rows];
    let mut slope = vec![E::zero(); n * rows];
    for j in 0..n {
        let column = j * rows..(j + 1) * rows;
        let (u, value, slope) = (
            &u_columns[column.clone()],
            &mut value[column.clone()],
            &mut slope[column],
        );
        for ((v, s), &u) in value.iter_mut().zip(slope.iter_mut()).zip(u) {
            *v = map.a[j] * u;
            *s = map.a[j];
        }
        for i in 0..units {
            let k = j * units + i;
            let t = &mut tanh[k * rows..(k + 1) * rows];
            unit_forward(u, (map.w[k], map.b[k], map.c[k]), t, value, slope);
        }
    }
    // The output's columns side by side, f(u) then log f′(u), turned into rows as the
    // mixture op turns its own.
    value.extend(slope.iter().map(|&s| s.ln()));
    let both = transposed(&value, (2 * n, rows));
    let out = u.device().tensor_from_vec(both, (rows, 2 * n));
    let ghosts = (
        out.ghost(),
        u.ghost(),
        log_a.ghost(),
        log_w.ghost(),
        log_b.ghost(),
        shift.ghost(),
    );
    tape.add_backward_op(move |grads| {
        let (out, u, log_a, log_w, log_b, c) = ghosts;
        // [column][row]: the gradients of f(u) (columns 0..n) and of log f′(u) (n..2n).
        let g = transposed(E::cells(grads.get_or_alloc_mut(&out)?), (rows, 2 * n));
        let mut d_u = vec![E::zero(); n * rows];
        let mut d_log_a = vec![E::zero(); n];
        let mut d_log_w = vec![E::zero(); n * units];
        let mut d_log_b = vec![E::zero(); n * units];
        let mut d_c = vec![E::zero(); n * units];
        for j in 0..n {
            let column = j * rows..(j + 1) * rows;
            let (u, slope, d_u) = (
                &u_columns[column.clone()],
                &slope[column.clone()],
                &mut d_u[column],
            );
            // g_f and g_l, the gradients of f(u) and of log f′(u); q = g_l / f′(u), the
            // gradient of f′(u).
            let g_f = &g[j * rows..(j + 1) * rows];
            let g_l = &g[(n + j) * rows..(n + j + 1) * rows];
            let q: Vec<E> = g_l.iter().zip(slope).map(|(&g, &s)| g / s).collect();
            // f = a·u + …, f′ = a + …: ∂/∂u through a·u, and ∂/∂log a = a·(g_f·u + q).
            for ((d, &g_f), &s) in d_u.iter_mut().zip(g_f).zip(slope) {
                *d = g_f * s;
            }
            let a = map.a[j];
            d_log_a[j] = (g_f.iter().zip(&q).zip(u))
                .fold(E::zero(), |sum, ((&g_f, &q), &u)| sum + a * (g_f * u + q));
            for i in 0..units {
                let k = j * units + i;
                let t = &tanh[k * rows..(k + 1) * rows];
                let (w, b) = (map.w[k], map.b[k]);
                unit_backward_u(t, &q, (w, b), d_u);
                (d_log_w[k], d_log_b[k], d_c[k]) = unit_backward_sums(u, t, g_f, &q, (w, b));
            }
        }
        add_into(
            E::cells(grads.get_or_alloc_mut(&u)?),
            &transposed(&d_u, (n, rows)),
        );
        for (t, d) in [
            (&log_a, d_log_a),
            (&log_w, d_log_w),
            (&log_b, d_log_b),
            (&c, d_c),
        ] {
            add_into(E::cells(grads.get_or_alloc_mut(t)?), &d);
        }
        Ok(())
    });
    out.put_tape(tape)
}

/// The map's positive numbers, exponentiated once per step, row-major (n × units).
struct Parameters<E> {
    a: Vec<E>,
    w: Vec<E>,
    b: Vec<E>,
    c: Vec<E>,
}

vectorised! {
    /// One unit along a column: t ← tanh(b·u + c), value += w·t, slope += w·b·(1 − t²).
    fn unit_forward<E: Real>(u: &[E], (w, b, c): (E, E, E), t: &mut [E], value: &mut [E], slope: &mut [E]) {
        let (one, wb) = (E::one(), w * b);
        for (((&u, t), v), s) in u.iter().zip(t.iter_mut()).zip(value.iter_mut()).zip(slope.iter_mut()) {
            *t = (b * u + c).kernel_tanh();
            *v += w * *t;
            *s += wb * (one - *t * *t);
        }
    }
}

vectorised! {
    /// One unit's part of ∂/∂u along a column through the slope: ∂f′/∂u = −2·w·b²·t·(1 − t²),
    /// times q (the gradient of f′).
    fn unit_backward_u<E: Real>(t: &[E], q: &[E], (w, b): (E, E), d_u: &mut [E]) {
        let (one, k) = (E::one(), c::<E>(-2.0) * w * b * b);
        for ((&t, &q), d) in t.iter().zip(q).zip(d_u.iter_mut()) {
            *d += q * k * t * (one - t * t);
        }
    }
}

/// One unit's parameter gradients along a column, summed over the rows in order, with
/// g_f the gradient of f(u), q that of f′(u) and t the unit's tanh:
/// ∂/∂log w = w·(g_f·t + q·b·(1 − t²)),
/// ∂/∂log b = w·b·(1 − t²)·(g_f·u + q·(1 − 2·t·b·u)),
/// ∂/∂c = w·(1 − t²)·(g_f − 2·q·b·t).
fn unit_backward_sums<E: Real>(u: &[E], t: &[E], g_f: &[E], q: &[E], (w, b): (E, E)) -> (E, E, E) {
    let (one, two) = (E::one(), c::<E>(2.0));
    let (mut d_w, mut d_b, mut d_c) = (E::zero(), E::zero(), E::zero());
    for (((&u, &t), &g_f), &q) in u.iter().zip(t).zip(g_f).zip(q) {
        let dt = one - t * t;
        d_w += w * (g_f * t + q * b * dt);
        d_b += w * b * dt * (g_f * u + q * (one - two * t * b * u));
        d_c += w * dt * (g_f - two * q * b * t);
    }
    (d_w, d_b, d_c)
}
