//! Buffers the fused ops reuse from one step to the next.
//!
//! Why: a dense chain's activations and gradients are (rows × width) buffers, a few per
//! network, chunk and step. Fresh from the allocator each is zero-filled (and the largest
//! come from the kernel's page faults); a profile of `nonlinear.pdg` put a tenth of an
//! epoch in that memset. Every buffer taken here is written whole before it is read (a
//! product without accumulation, or a copy), so a spare one can be handed out as it is.

use super::super::Real;
use std::sync::Mutex;

/// Spare buffers of one element type, shared by every thread (a step's chunks take and
/// give them back concurrently, a handful each).
pub struct Spares<E> {
    buffers: Mutex<Vec<Vec<E>>>,
}

/// At most this many bytes of spares are kept per element type (a buffer that would go
/// over is freed): a fit of a million rows does not leave the process holding all of
/// its largest buffers, though up to this much stays for the next fit.
const MOST_KEPT_BYTES: usize = 256 << 20;

impl<E> Spares<E> {
    pub(crate) const fn new() -> Self {
        Spares {
            buffers: Mutex::new(Vec::new()),
        }
    }
}

/// A buffer of `len` elements whose contents are unspecified (a spare one's old numbers,
/// or zeros; NaN in the unit tests, so that a read before a write shows): the caller
/// writes all of it before reading any. A step asks for the lengths the step before gave
/// back, so a spare of exactly `len` is usually there and is handed out untouched;
/// failing that, the smallest spare at least `len` long, shortened; failing that, the
/// smallest that has room for `len`, lengthened with zeros; failing that, a new one.
/// A spare more than twice as large as `len` (and not exactly as long) is left for a
/// larger request: lent to a small one (a bias's column sums), it would come back short,
/// and the next large request would zero-fill it whole (4 % of an epoch in memset, when
/// the chunks' activations and the products' transposes differ in length by a few rows).
pub(crate) fn scratch<E: Real>(len: usize) -> Vec<E> {
    let mut spares = E::spare_buffers().buffers.lock().expect("spare buffers");
    let exact = spares.iter().position(|b| b.len() == len);
    let smallest = |holds: &dyn Fn(&Vec<E>) -> bool| {
        (spares.iter().enumerate())
            .filter(|(_, b)| b.capacity() <= 2 * len && holds(b))
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i)
    };
    let long_enough = || smallest(&|b| b.len() >= len);
    let room = || smallest(&|b| b.capacity() >= len);
    let mut buffer = match exact.or_else(long_enough).or_else(room) {
        Some(i) => spares.swap_remove(i),
        None => Vec::with_capacity(len),
    };
    drop(spares);
    buffer.truncate(len);
    buffer.resize(len, E::zero());
    #[cfg(test)]
    buffer.fill(E::nan());
    buffer
}

/// Hands `buffer` back for a later `scratch`. Over the cap, the largest spares are freed
/// first: a larger fit's leftovers, which a smaller one never asks for (`scratch` lends no
/// spare over twice a request), would otherwise hold the cap for good and send every
/// buffer of the smaller fit back to the allocator, zero-filled anew each step.
pub(crate) fn give_back<E: Real>(buffer: Vec<E>) {
    let bytes = |b: &Vec<E>| b.capacity() * std::mem::size_of::<E>();
    // An empty one (the place of an output handed over to dfdx) is not worth keeping, nor
    // one larger than the cap.
    if buffer.capacity() == 0 || bytes(&buffer) > MOST_KEPT_BYTES {
        return;
    }
    let mut spares = E::spare_buffers().buffers.lock().expect("spare buffers");
    let mut kept: usize = spares.iter().map(bytes).sum();
    while kept + bytes(&buffer) > MOST_KEPT_BYTES {
        let largest = (0..spares.len())
            .max_by_key(|&i| spares[i].capacity())
            .expect("spares to free while over the cap");
        kept -= bytes(&spares.swap_remove(largest));
    }
    spares.push(buffer);
}

/// Buffers that go back to the spares when dropped: a chain's activations live in its
/// backward closure, which runs once or is dropped with an unused tape.
pub(crate) struct Lent<E: Real>(pub Vec<Vec<E>>);

impl<E: Real> Drop for Lent<E> {
    fn drop(&mut self) {
        for buffer in self.0.drain(..) {
            give_back(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_buffer_has_the_length_asked_for_whatever_spare_it_came_from() {
        // Other tests take and give back f64 buffers beside this one, so only lengths are
        // asserted: a spare longer than asked for is cut, a shorter one lengthened.
        let wide = scratch::<f64>(1_000_003);
        assert_eq!(wide.len(), 1_000_003);
        give_back(wide);
        let narrow = scratch::<f64>(17);
        assert_eq!(narrow.len(), 17);
        let again = scratch::<f64>(1_000_003);
        assert_eq!(again.len(), 1_000_003);
        give_back(narrow);
        give_back(again);
    }
}
