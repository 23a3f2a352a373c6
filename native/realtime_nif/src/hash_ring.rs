//! `Realtime.HashRing`: an immutable `hash_ring::HashRing` in a resource,
//! with the node atoms to answer with. Lookups take no lock: a ring never
//! changes once built, and membership changes build a new one.

use crate::atoms;
use hash_ring::{HashRing, Key, DEFAULT_REPLICAS};
use rustler::{Atom, Binary, Encoder, Env, NifResult, ResourceArc, Term};

pub struct RingResource {
    ring: HashRing,
    // Atoms are immediates that live as long as the VM, so they can be kept
    // here and handed to any process's env.
    nodes: Vec<Atom>,
}

#[rustler::resource_impl]
impl rustler::Resource for RingResource {}

fn key<'a>(term: Term<'a>) -> NifResult<Key<'a>> {
    if let Ok(i) = term.decode::<i64>() {
        return Ok(Key::Int(i));
    }
    let b: Binary = term.decode()?;
    Ok(Key::Bytes(b.as_slice()))
}

fn node_name(env: Env, node: Atom) -> NifResult<String> {
    node.to_term(env).atom_to_string()
}

#[rustler::nif(schedule = "DirtyCpu")]
fn hash_ring_new<'a>(env: Env<'a>, nodes: Vec<Atom>, replicas: usize, overrides: Vec<(Term<'a>, Atom)>) -> NifResult<Term<'a>> {
    let names = nodes.iter().map(|&n| node_name(env, n)).collect::<NifResult<Vec<String>>>()?;
    let mut pinned = Vec::with_capacity(overrides.len());
    for (k, node) in &overrides {
        pinned.push((key(*k)?, node_name(env, *node)?));
    }
    let replicas = if replicas == 0 { DEFAULT_REPLICAS } else { replicas };
    match HashRing::new(&names, replicas, &pinned) {
        Ok(ring) => Ok((atoms::ok(), ResourceArc::new(RingResource { ring, nodes })).encode(env)),
        Err(e) => Ok((atoms::error(), e.to_string()).encode(env)),
    }
}

#[rustler::nif]
fn hash_ring_find_node<'a>(env: Env<'a>, ring: ResourceArc<RingResource>, k: Term<'a>) -> NifResult<Term<'a>> {
    Ok(match ring.ring.find_node(key(k)?) {
        Some(i) => ring.nodes[i].encode(env),
        None => atoms::nil().encode(env),
    })
}

#[rustler::nif]
fn hash_ring_find_nodes(ring: ResourceArc<RingResource>, k: Term, n: usize) -> NifResult<Vec<Atom>> {
    Ok(ring.ring.find_nodes(key(k)?, n).into_iter().map(|i| ring.nodes[i]).collect())
}

#[rustler::nif]
fn hash_ring_nodes(ring: ResourceArc<RingResource>) -> Vec<Atom> {
    ring.nodes.clone()
}

#[rustler::nif]
fn hash_ring_hash(k: Term) -> NifResult<u64> {
    Ok(key(k)?.hash())
}
