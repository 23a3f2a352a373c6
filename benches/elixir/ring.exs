# mix bench ring [ROUNDS]
#
# One guild-id lookup on a consistent hash ring of 512 points per node, at
# 3 and 100 nodes, in interleaved rounds against the two ways Elixir
# clusters do it today:
#
#   * an ETS ordered_set of {point, node} (ex_hash_ring's ETS ring; here
#     with :ets.next/2 and :ets.lookup_element/3, which is faster than the
#     select that ex_hash_ring uses);
#   * a tuple of {point, node} in :persistent_term, binary-searched in
#     Elixir (ex_hash_ring's HashRing kept in FastGlobal).
#
# Every case hashes the key the same way (md5 of its decimal text) and
# starts from the key; "ours" includes the :persistent_term read of the
# ring, as Realtime.Cluster.Ring does it. The harness's own cost per call
# (taking the key from a tuple) is measured too.
#
# Goal: ≤ 0.1 µs per lookup, ≥ 5× faster than the ETS ring.

defmodule Bench.RingScript do
  import Bitwise
  alias Realtime.{Bench, HashRing}

  def hash(key), do: :erlang.md5(Integer.to_string(key)) |> binary_part(8, 8) |> :binary.decode_unsigned(:little)

  defp points(nodes), do: for(n <- nodes, r <- 0..511, do: {hash_text("#{n}#{r}"), n}) |> Enum.sort()
  defp hash_text(t), do: :erlang.md5(t) |> binary_part(8, 8) |> :binary.decode_unsigned(:little)

  def ets_find(table, key) do
    point =
      case :ets.next(table, hash(key)) do
        :"$end_of_table" -> :ets.first(table)
        p -> p
      end

    :ets.lookup_element(table, point, 2)
  end

  def tuple_find(key) do
    items = :persistent_term.get({__MODULE__, :tuple})
    search(items, hash(key), 0, tuple_size(items) - 1)
  end

  # The first item whose point is above h, wrapping to the first.
  defp search(items, _h, lo, hi) when lo > hi do
    if lo == tuple_size(items), do: elem(elem(items, 0), 1), else: elem(elem(items, lo), 1)
  end

  defp search(items, h, lo, hi) do
    mid = (lo + hi) >>> 1
    if elem(elem(items, mid), 0) > h, do: search(items, h, lo, mid - 1), else: search(items, h, mid + 1, hi)
  end

  def ours_find(key), do: HashRing.find_node(:persistent_term.get({__MODULE__, :ring}), key)

  def run(args) do
    rounds = String.to_integer(List.first(args) || "7")
    :rand.seed(:exsss, 16)
    keys = List.to_tuple(for _ <- 1..4096, do: 1_000_000_000_000_000_000 + :rand.uniform(1 <<< 60))

    for count <- [3, 100] do
      nodes = for i <- 1..count, do: :"realtime#{i}@10.0.0.#{i}"
      pts = points(nodes)
      table = :ets.new(:bench_ring, [:ordered_set, :public, read_concurrency: true])
      :ets.insert(table, pts)
      :persistent_term.put({__MODULE__, :tuple}, List.to_tuple(pts))
      ring = HashRing.new(nodes)
      :persistent_term.put({__MODULE__, :ring}, ring)

      # The three must agree before they are timed.
      for i <- 0..4095 do
        k = elem(keys, i)
        ours = ours_find(k)
        ^ours = ets_find(table, k)
        ^ours = tuple_find(k)
      end

      key = fn i -> elem(keys, i &&& 4095) end

      Bench.rounds(
        "find_node at #{count} nodes × 512 points, random guild ids",
        {"ETS ordered_set ring", fn i -> ets_find(table, key.(i)) end},
        [
          {"persistent_term tuple + binary search", fn i -> tuple_find(key.(i)) end},
          {"Realtime.HashRing via persistent_term", fn i -> ours_find(key.(i)) end},
          {"Realtime.HashRing, ring in hand", fn i -> HashRing.find_node(ring, key.(i)) end},
          {"md5 of the key alone (Elixir)", fn i -> hash(key.(i)) end},
          {"md5 of the key alone (HashRing.hash NIF)", fn i -> HashRing.hash(key.(i)) end},
          {"empty call (harness)", fn i -> key.(i) end}
        ],
        rounds
      )

      :ets.delete(table)
    end
  end
end

Bench.RingScript.run(System.argv())
