defmodule Realtime.HashRingTest do
  use ExUnit.Case, async: true
  import Bitwise

  alias Realtime.HashRing
  alias Realtime.Test.TermGen

  # ex_hash_ring's placement written out plainly, as the model.
  defp model_hash(key), do: :erlang.md5(to_string(key)) |> binary_part(8, 8) |> :binary.decode_unsigned(:little)

  defp model(nodes, replicas) do
    for(n <- nodes, r <- 0..(replicas - 1), do: {model_hash("#{n}#{r}"), n}) |> Enum.sort()
  end

  defp model_find_nodes(points, key, n) do
    h = model_hash(key)
    {after_key, up_to_key} = Enum.split_with(points, fn {p, _} -> p > h end)
    (after_key ++ up_to_key) |> Enum.map(&elem(&1, 1)) |> Enum.uniq() |> Enum.take(n)
  end

  test "placement agrees with ex_hash_ring's rule on seeded random rings and keys" do
    seed = TermGen.seed()

    Enum.reduce(1..12, TermGen.new(seed), fn round, st ->
      {count, st} = TermGen.int(st, 6)
      {replicas, st} = TermGen.int(st, 40)
      nodes = for i <- 0..count, do: :"node#{round}_#{i}@10.0.0.#{i}"
      ring = HashRing.new(Enum.shuffle(nodes), replicas: replicas + 1)
      points = model(nodes, replicas + 1)

      Enum.reduce(1..300, st, fn _, st ->
        {k, st} = TermGen.int(st, 1 <<< 62)
        {bin?, st} = TermGen.int(st, 2)
        key = if bin? == 1, do: "guild:#{k}", else: k
        where = "seed #{seed}, round #{round}, key #{inspect(key)} (rerun with SEED=#{seed})"
        assert HashRing.hash(key) == model_hash(key), where
        assert HashRing.find_node(ring, key) == hd(model_find_nodes(points, key, 1)), where
        assert HashRing.find_nodes(ring, key, 3) == model_find_nodes(points, key, 3), where
        st
      end)
    end)
  end

  test "every node derives the same ring from the same members in any order" do
    nodes = for i <- 1..5, do: :"realtime#{i}@127.0.0.1"
    a = HashRing.new(nodes)
    b = HashRing.new(Enum.reverse(nodes))
    assert Enum.all?(1..2_000, &(HashRing.find_node(a, &1) == HashRing.find_node(b, &1)))
  end

  test "512 points per node spread keys evenly enough" do
    nodes = for i <- 1..3, do: :"realtime#{i}@127.0.0.1"
    ring = HashRing.new(nodes)
    counts = Enum.frequencies(for k <- 1..30_000, do: HashRing.find_node(ring, 1_000_000_000_000_000 + k))
    for n <- nodes, do: assert(counts[n] in 8_000..12_000, inspect(counts))
  end

  test "overrides, empty rings and bad arguments" do
    ring = HashRing.new([:a@h, :b@h], overrides: %{42 => :b@h, "pinned" => :a@h})
    assert HashRing.find_node(ring, 42) == :b@h
    assert HashRing.find_node(ring, "42") == :b@h
    assert hd(HashRing.find_nodes(ring, "pinned", 2)) == :a@h
    assert HashRing.nodes(ring) == [:a@h, :b@h]

    empty = HashRing.new([])
    assert HashRing.find_node(empty, 1) == nil
    assert HashRing.find_nodes(empty, 1, 3) == []

    assert_raise ArgumentError, ~r/given twice/, fn -> HashRing.new([:a@h, :a@h]) end
    assert_raise ArgumentError, ~r/not on the ring/, fn -> HashRing.new([:a@h], overrides: %{1 => :z@h}) end
    assert_raise ArgumentError, ~r/nodes must be atoms/, fn -> HashRing.new(["a@h"]) end
    assert_raise ArgumentError, ~r/replicas/, fn -> HashRing.new([:a@h], replicas: 0) end
    assert_raise ArgumentError, ~r/64 bits/, fn -> HashRing.find_node(ring, 1 <<< 70) end
    assert_raise ArgumentError, ~r/64 bits/, fn -> HashRing.find_node(ring, :atom) end
    assert_raise ArgumentError, ~r/non-negative/, fn -> HashRing.find_nodes(ring, 1, -1) end
    # The ring is unchanged by the failed calls.
    assert HashRing.find_node(ring, 42) == :b@h
  end

  test "one ring is shared by many processes" do
    ring = HashRing.new(for i <- 1..4, do: :"n#{i}@h")
    expected = for k <- 1..1_000, do: HashRing.find_node(ring, k)

    results =
      1..8
      |> Enum.map(fn _ -> Task.async(fn -> for k <- 1..1_000, do: HashRing.find_node(ring, k) end) end)
      |> Task.await_many(10_000)

    assert Enum.all?(results, &(&1 == expected))
  end
end
