# mix bench sorted_set
#
# Realtime.SortedSet through the NIF at 5k, 100k and 1M items, for integers
# and for {int, binary, int} member rows, at the beginning, middle and end.
# Baseline in the same run: :gb_sets for add/remove and membership.
# Also: from_enumerable and to_list of 1M items, and memory per item.

# The cases live in a module so that they are compiled, not interpreted.
defmodule Bench.SortedSetScript do
  alias Realtime.{Bench, SortedSet}

  def run do
    sizes = [5_000, 100_000, 1_000_000]
    opts = [samples: 150, warmup_ms: 100]

    # Members are built from even numbers; odd ones are free slots.
    shapes = [
      {"integers", fn i -> i end},
      {"{int, binary, int} rows", fn i -> {rem(i, 7), "user" <> Integer.to_string(i), i} end}
    ]

    for {shape, make} <- shapes, n <- sizes do
      members = for i <- 0..(n - 1), do: make.(2 * i)
      set = SortedSet.from_proper_enumerable(Enum.sort(members))
      gb = :gb_sets.from_ordset(Enum.sort(members))

      for {pos, at} <- [{"begin", 1}, {"middle", div(n, 2)}, {"end", n - 2}] do
        free = make.(2 * at + 1)
        member = make.(2 * at)

        Bench.compare(
          "#{shape}, #{n} items, #{pos}: add then remove",
          {":gb_sets add+delete", fn _ -> :gb_sets.delete(free, :gb_sets.add(free, gb)) end},
          [
            {"SortedSet index_add+index_remove",
             fn _ ->
               SortedSet.index_add(set, free)
               SortedSet.index_remove(set, free)
             end}
          ],
          opts
        )

        Bench.compare(
          "#{shape}, #{n} items, #{pos}: lookups",
          {":gb_sets is_member", fn _ -> :gb_sets.is_member(member, gb) end},
          [
            {"SortedSet find_index", fn _ -> SortedSet.find_index(set, member) end},
            {"SortedSet at", fn _ -> SortedSet.at(set, at) end},
            {"SortedSet slice(100)", fn _ -> SortedSet.slice(set, min(at, n - 100), 100) end}
          ],
          opts
        )
      end
    end

    # Whole-set operations at 1M: Discord's take 305 ms (from_enumerable) and
    # 113 ms (to_list) on a normal scheduler; ours run on dirty schedulers.
    million = Enum.shuffle(1..1_000_000)
    big = SortedSet.from_enumerable(million)
    gb_million = :gb_sets.from_list(million)
    whole = [samples: 5, warmup_ms: 0, min_sample_us: 0]

    Bench.compare(
      "1M integers: build from a shuffled list",
      {":gb_sets.from_list", fn _ -> :gb_sets.from_list(million) end},
      [{"SortedSet.from_enumerable", fn _ -> SortedSet.from_enumerable(million) end}],
      whole
    )

    Bench.compare(
      "1M integers: to_list",
      {":gb_sets.to_list", fn _ -> :gb_sets.to_list(gb_million) end},
      [{"SortedSet.to_list", fn _ -> SortedSet.to_list(big) end}],
      whole
    )

    IO.puts("\n## Memory at 1M items (Realtime.SortedSet.memory/1)")
    # Discord's layout: a 32-byte slot per item plus a heap copy of every binary
    # and atom (and a Vec for every tuple).
    rows =
      SortedSet.from_enumerable(
        for i <- 1..1_000_000, do: {rem(i, 7), "user" <> Integer.to_string(i), i}
      )

    for {name, s, discord} <- [
          {"small integers", big, 32},
          {"{int, binary, int} rows", rows, 32 + 3 * 32 + 11}
        ] do
      per = SortedSet.memory(s) / SortedSet.size(s)

      IO.puts(
        "#{String.pad_trailing(name, 28)} #{Float.round(per, 1)} bytes/item; Discord's layout ≥ #{discord} bytes/item; ratio #{Bench.ratio(per, discord)}"
      )
    end
  end
end

Bench.SortedSetScript.run()
