defmodule Realtime.HashRing do
  @moduledoc """
  A consistent hash ring of node names, placing keys exactly as Discord's
  `ex_hash_ring` does:

    * a key's position is the last 8 bytes of its md5, little-endian;
      integer keys are hashed as their decimal text;
    * each node owns `replicas` points (512 by default), the hashes of its
      name followed by the replica number;
    * a key belongs to the node of the first point above its position,
      wrapping around;
    * overrides pin keys to nodes before the ring is consulted.

  A ring is an immutable NIF resource, built on a dirty scheduler. Lookups
  take no lock, so any number of processes may share one. Membership changes
  build a new ring; `Realtime.Cluster.Ring` publishes the current one through
  `:persistent_term`.

  Keys are integers that fit in 64 bits (guild ids) or binaries.
  """

  alias Realtime.Native

  @opaque t :: reference
  @type key :: integer | binary

  @min_int -0x8000000000000000
  @max_int 0x7FFFFFFFFFFFFFFF

  defguardp is_key(key) when (is_integer(key) and key >= @min_int and key <= @max_int) or is_binary(key)

  @doc """
  A ring over `nodes` (atoms, distinct).

  Options: `:replicas` (points per node, default 512) and `:overrides`, a map
  of key to node. Raises `ArgumentError` on a repeated node, an override to
  a node not on the ring, or arguments of the wrong type.
  """
  @spec new([node], keyword) :: t
  def new(nodes, opts \\ []) when is_list(nodes) do
    replicas = Keyword.get(opts, :replicas, 512)
    overrides = Keyword.get(opts, :overrides, %{})

    unless Enum.all?(nodes, &is_atom/1), do: raise(ArgumentError, "nodes must be atoms, got: #{inspect(nodes)}")
    unless is_integer(replicas) and replicas in 1..65_536, do: raise(ArgumentError, "replicas must be in 1..65536, got: #{inspect(replicas)}")

    unless is_map(overrides) and Enum.all?(overrides, fn {k, n} -> is_key(k) and is_atom(n) end),
      do: raise(ArgumentError, "overrides must map integer or binary keys to node atoms, got: #{inspect(overrides)}")

    case Native.hash_ring_new(nodes, replicas, Map.to_list(overrides)) do
      {:ok, ring} -> ring
      {:error, reason} -> raise ArgumentError, "cannot build the hash ring: " <> reason
    end
  end

  @doc "The node that owns `key`, or `nil` on an empty ring."
  @spec find_node(t, key) :: node | nil
  def find_node(ring, key) when is_key(key), do: Native.hash_ring_find_node(ring, key)
  def find_node(_ring, key), do: raise(ArgumentError, bad_key(key))

  @doc """
  Up to `n` distinct nodes for `key` in ring order, its owner first: the
  owner and its successors, for replicas or for handoff targets.
  """
  @spec find_nodes(t, key, non_neg_integer) :: [node]
  def find_nodes(ring, key, n) when is_key(key) and is_integer(n) and n >= 0, do: Native.hash_ring_find_nodes(ring, key, n)
  def find_nodes(_ring, key, n) when is_key(key), do: raise(ArgumentError, "n must be a non-negative integer, got: #{inspect(n)}")
  def find_nodes(_ring, key, _n), do: raise(ArgumentError, bad_key(key))

  @doc "The ring's nodes, in the order they were given."
  @spec nodes(t) :: [node]
  def nodes(ring), do: Native.hash_ring_nodes(ring)

  @doc "A key's position on the ring (an unsigned 64-bit integer)."
  @spec hash(key) :: non_neg_integer
  def hash(key) when is_key(key), do: Native.hash_ring_hash(key)
  def hash(key), do: raise(ArgumentError, bad_key(key))

  defp bad_key(key), do: "hash ring keys are integers that fit in 64 bits or binaries, got: #{inspect(key)}"
end
