//! A chain of dense layers, act(…act(x·W₁ + b₁)…·Wₖ + bₖ), as one dfdx op: a whole
//! encoder or decoder.
//!
//! Why one op for the chain and not one per layer: dfdx 0.13 keeps a tensor's buffer
//! private, so an op reads its input by copying it out and hands its output over in a
//! fresh buffer, and the backward pass gets a zero-filled gradient buffer for every
//! hidden layer's output. Per layer of 64 columns that was five (rows × 64) buffers
//! allocated, zeroed or copied, forward and back; a profile of `nonlinear.pdg` (T = 5000,
//! one thread, AVX-512) spent 20 % of an epoch in memset and memcpy, against 37 % in the
//! products. Inside one op the hidden activations never leave the op: each layer's
//! output is the next one's input in place, the backward pass walks the layers in
//! reverse with two gradient buffers, and every buffer is a spare from the last step
//! (`scratch`). What still crosses dfdx's boundary is small or once per chain: the
//! input, the weights and biases are copied in, and the output is handed over (moved
//! for an output projection, copied for a hidden layer's).
//!
//! The numbers are those of the layers one at a time: the same products with the same
//! sizes, the same elementwise loops, in the same order.

use super::scratch::{give_back, scratch, Lent};
use super::{activation_chain_rule, add_into, apply_bias_activation, contents, product};
use crate::backend::{Real, Traced};
use crate::spec::Activation;
use dfdx::prelude::*;

/// One layer of a chain: its weight (inputs × outputs), bias (1 × outputs) and activation.
pub(crate) struct Layer<E: Real> {
    pub w: Traced<E>,
    pub b: Traced<E>,
    pub act: Activation,
}

/// What the backward pass needs of a layer: its weight's numbers and both parameters'
/// gradient slots, `G` being dfdx's ghost of a tensor (a type dfdx does not export by
/// name).
struct Kept<E, G> {
    weight: Vec<E>,
    w: G,
    b: G,
    act: Activation,
    inputs: usize,
    outputs: usize,
}

/// The layers applied in order to input(x), x being rows × inputs of the first layer and
/// `input` an activation applied to it first (the identity but for a decoder that reads
/// sigmoid(z)); x gets a gradient when `input_gradient` says so (not the data, which
/// nothing learns).
///
/// Forward, layer by layer: out = x·W written by gemm into a spare buffer, then the bias
/// and activation in place. Backward, last layer first, with the gradient g of the
/// layer's output: g ← g ⊙ act′ (a function of the output, which is kept), b's gradient
/// += its column sums, W's += inputᵀ·g, and the input's gradient g·Wᵀ becomes the
/// previous layer's g (for the first layer it is added to x's, when asked for).
///
/// Every product is gemm 0.19's (AVX-512 kernels where the CPU has them, chosen at run
/// time; dfdx 0.13's own gemm 0.15 has AVX2 at best), on the calling thread, since a
/// step's chunks are already parallel. Its order of summation depends on the sizes and
/// the CPU alone, so a fit is the same number on any thread count.
pub(crate) fn dense_chain<E: Real>(
    x: Traced<E>,
    input: Activation,
    layers: Vec<Layer<E>>,
    input_gradient: bool,
) -> Traced<E> {
    assert!(!layers.is_empty(), "a chain of at least one layer");
    let (rows, width) = *x.shape();
    let dev = x.device().clone();
    let (x, mut tape) = x.split_tape();
    // xs: the first layer's input, input(x); kept for W₁'s gradient and input′.
    let mut xs = contents(&x);
    if input != Activation::Identity {
        apply_bias_activation(&mut xs, &vec![E::zero(); width], input);
    }
    let mut kept = Vec::with_capacity(layers.len());
    // outs[i]: layer i's output, the input of layer i + 1.
    let mut outs = Lent(Vec::with_capacity(layers.len()));
    for Layer { w, b, act } in layers {
        let (inputs, outputs) = *w.shape();
        assert_eq!(*b.shape(), (1, outputs), "one bias per output column");
        let (w, w_tape) = w.split_tape();
        let (b, b_tape) = b.split_tape();
        tape = tape.merge(w_tape).merge(b_tape);
        let (weight, bias) = (contents(&w), contents(&b));
        let layer_input = outs.0.last().unwrap_or(&xs);
        assert_eq!(
            layer_input.len(),
            rows * inputs,
            "a weight row per input column"
        );
        let mut values = scratch::<E>(rows * outputs);
        product(
            (rows, outputs, inputs),
            (&mut values, outputs, 1),
            false,
            (layer_input, inputs, 1),
            (&weight, outputs, 1),
        );
        apply_bias_activation(&mut values, &bias, act);
        outs.0.push(values);
        let (w, b) = (w.ghost(), b.ghost());
        kept.push(Kept {
            weight,
            w,
            b,
            act,
            inputs,
            outputs,
        });
    }
    let last = kept.last().expect("at least one layer");
    let shape = (rows, last.outputs);
    // The identity's derivative does not read its output, so an output projection's
    // buffer is handed over whole; any other activation's output is kept for act′.
    let output = match last.act {
        Activation::Identity => std::mem::take(outs.0.last_mut().expect("a layer")),
        _ => outs.0.last().expect("a layer").clone(),
    };
    let out = dev.tensor_from_vec(output, shape);
    let (out_ghost, x_ghost) = (out.ghost(), x.ghost());
    tape.add_backward_op(move |grads| {
        let outs = outs;
        let mut g = scratch::<E>(rows * shape.1);
        g.copy_from_slice(E::cells(grads.get_or_alloc_mut(&out_ghost)?));
        for (i, layer) in kept.iter().enumerate().rev() {
            let mut grad_b = vec![E::zero(); layer.outputs];
            activation_chain_rule(&mut g, &outs.0[i], &mut grad_b, layer.act);
            add_into(E::cells(grads.get_or_alloc_mut(&layer.b)?), &grad_b);
            let layer_input = match i {
                0 => &xs,
                _ => &outs.0[i - 1],
            };
            // W's gradient += inputᵀ·g.
            product(
                (layer.inputs, layer.outputs, rows),
                (
                    E::cells(grads.get_or_alloc_mut(&layer.w)?),
                    layer.outputs,
                    1,
                ),
                true,
                (layer_input, 1, layer.inputs),
                (&g, layer.outputs, 1),
            );
            // The input's gradient g·Wᵀ, Wᵀ read from W's row-major buffer by swapping
            // its strides: the previous layer's g, or added to x's.
            let g_times_wt = |dst: (&mut [E], usize, usize), accumulate: bool| {
                let (m, n, k) = (rows, layer.inputs, layer.outputs);
                let (lhs, rhs) = ((&g[..], k, 1), (&layer.weight[..], 1, k));
                product((m, n, k), dst, accumulate, lhs, rhs);
            };
            if i > 0 {
                let mut previous = scratch::<E>(rows * layer.inputs);
                g_times_wt((&mut previous, layer.inputs, 1), false);
                give_back(std::mem::replace(&mut g, previous));
            } else if input_gradient && input == Activation::Identity {
                let x_grad = E::cells(grads.get_or_alloc_mut(&x_ghost)?);
                g_times_wt((x_grad, layer.inputs, 1), true);
            } else if input_gradient {
                // Through the input's activation too: x's gradient += (g·Wᵀ) ⊙ input′.
                let mut through = scratch::<E>(rows * layer.inputs);
                g_times_wt((&mut through, layer.inputs, 1), false);
                let mut unused_bias = vec![E::zero(); layer.inputs];
                activation_chain_rule(&mut through, &xs, &mut unused_bias, input);
                add_into(E::cells(grads.get_or_alloc_mut(&x_ghost)?), &through);
                give_back(through);
            }
        }
        give_back(g);
        Ok(())
    });
    out.put_tape(tape)
}
