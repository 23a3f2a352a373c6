//! Allocation-free access to tuple elements, atom names and map pairs, for
//! the encoders' hot loops, and making binaries from byte slices. (rustler's `get_tuple` allocates a Vec, and its `MapIterator`
//! creates two iterators, one per direction.)

use rustler::sys::{
    enif_get_atom, enif_get_map_size, enif_get_tuple, enif_map_iterator_create, enif_map_iterator_destroy, enif_map_iterator_get_pair,
    enif_map_iterator_next, enif_map_iterator_prev, ErlNifMapIterator, ErlNifCharEncoding, ErlNifMapIteratorEntry, ErlNifTerm,
};
use rustler::{Binary, Env, NewBinary, Term};
use std::mem::MaybeUninit;

/// The elements of a tuple term, borrowed from the term itself.
pub fn tuple_elements<'a>(t: Term<'a>) -> Option<impl DoubleEndedIterator<Item = Term<'a>> + ExactSizeIterator> {
    let env = t.get_env();
    let mut arity = 0;
    let mut array: *const ErlNifTerm = std::ptr::null();
    // SAFETY: `arity` and `array` are valid out-pointers; env and term are
    // live for this NIF call.
    if unsafe { enif_get_tuple(env.as_c_arg(), t.as_c_arg(), &mut arity, &mut array) } == 0 {
        return None;
    }
    // SAFETY: on success `array` points to `arity` terms owned by the tuple,
    // which lives as long as `t` (lifetime 'a).
    let elements: &'a [ErlNifTerm] = if arity == 0 { &[] } else { unsafe { std::slice::from_raw_parts(array, arity as usize) } };
    // SAFETY: each element is a valid term of the same env.
    Some(elements.iter().map(move |&e| unsafe { Term::new(env, e) }))
}

/// The name of an atom term in Latin-1, copied into `buf`; `None` when the
/// name is not Latin-1 (OTP 25's NIF API cannot read it directly).
pub fn atom_latin1<'b>(t: Term, buf: &'b mut [u8; 256]) -> Option<&'b [u8]> {
    // SAFETY: `buf` is writable for its full length, which we pass; env and
    // term are live for this call.
    let n = unsafe { enif_get_atom(t.get_env().as_c_arg(), t.as_c_arg(), buf.as_mut_ptr().cast(), 256, ErlNifCharEncoding::ERL_NIF_LATIN1) };
    // `n` counts the terminating NUL.
    (n > 0).then(|| &buf[..n as usize - 1])
}

/// The number of pairs in a map term.
pub fn map_size(t: Term) -> Option<usize> {
    let mut size = 0;
    // SAFETY: `size` is a valid out-pointer; env and term are live.
    (unsafe { enif_get_map_size(t.get_env().as_c_arg(), t.as_c_arg(), &mut size) } != 0).then_some(size)
}

/// Calls `f` on each pair of a map, in iteration order, or in reverse.
/// Returns false if `t` is not a map.
pub fn for_each_pair<'a>(t: Term<'a>, reverse: bool, mut f: impl FnMut(Term<'a>, Term<'a>)) -> bool {
    let env = t.get_env();
    let mut iter = MaybeUninit::<ErlNifMapIterator>::uninit();
    let entry = if reverse { ErlNifMapIteratorEntry::ERL_NIF_MAP_ITERATOR_TAIL } else { ErlNifMapIteratorEntry::ERL_NIF_MAP_ITERATOR_HEAD };
    // SAFETY: `iter` is writable; env and map are live for this call.
    if unsafe { enif_map_iterator_create(env.as_c_arg(), t.as_c_arg(), iter.as_mut_ptr(), entry) } == 0 {
        return false;
    }
    let (mut k, mut v) = (MaybeUninit::<ErlNifTerm>::uninit(), MaybeUninit::<ErlNifTerm>::uninit());
    // SAFETY: the iterator was created above and is destroyed before we
    // return; `k` and `v` are valid out-pointers; terms from the iterator
    // belong to `env`.
    unsafe {
        while enif_map_iterator_get_pair(env.as_c_arg(), iter.as_mut_ptr(), k.as_mut_ptr(), v.as_mut_ptr()) != 0 {
            f(Term::new(env, k.assume_init()), Term::new(env, v.assume_init()));
            if reverse {
                enif_map_iterator_prev(env.as_c_arg(), iter.as_mut_ptr());
            } else {
                enif_map_iterator_next(env.as_c_arg(), iter.as_mut_ptr());
            }
        }
        enif_map_iterator_destroy(env.as_c_arg(), iter.as_mut_ptr());
    }
    true
}

/// A binary term holding a copy of `bytes` (a heap binary when small).
pub fn binary_copy<'a>(env: Env<'a>, bytes: &[u8]) -> Term<'a> {
    let mut b = NewBinary::new(env, bytes.len());
    b.as_mut_slice().copy_from_slice(bytes);
    Binary::from(b).to_term(env)
}

/// A binary term for `bytes`, which lie inside `source`: a sub-binary (no
/// copy) when 64 bytes or more, else a copy, which is cheaper for small
/// binaries and does not keep `source` alive.
pub fn binary_within<'a>(env: Env<'a>, source: Binary<'a>, bytes: &[u8]) -> Term<'a> {
    if bytes.len() >= 64 {
        let offset = (bytes.as_ptr() as usize).wrapping_sub(source.as_slice().as_ptr() as usize);
        if let Ok(sub) = source.make_subbinary(offset, bytes.len()) {
            return sub.to_term(env);
        }
    }
    binary_copy(env, bytes)
}
