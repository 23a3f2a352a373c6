# mix bench sorted_set_discord [ROUNDS] [SEED]
#
# Realtime.SortedSet against Discord's sorted_set_nif (2.0.1), side by side
# in one VM, through each library's public API, on the same keys:
#
#   * 1,000,000 integers and 250,000 {int, 16-byte binary, int} rows;
#   * add, remove, find_index and at with 20,000 random keys from a seeded
#     generator (adds are of absent keys, removes take them out again), and
#     with one hot key repeated;
#   * build from a sorted list (from_proper_enumerable) and to_list.
#
# Rounds interleave the two libraries (which goes first alternates); the
# table gives the median of our time / Discord's time per round, and the
# spread. Goal: ≤ 0.33 on every single op. Then, against :gb_sets:
# add with random keys (goal ≤ 0.6) and to_list (goal ≤ 2).
#
# Discord's library is cloned and built by
# benches/discord/build_sorted_set_nif.sh into _build/discord/ (run here if
# missing); its code never enters this repository.

dir = Path.expand("_build/discord/sorted_set_nif")
so = Path.join(dir, "native/sorted_set_nif/target/release/libsorted_set_nif")

unless File.exists?(so <> ".so") do
  IO.puts("building Discord's sorted_set_nif (benches/discord/build_sorted_set_nif.sh) ...")
  {_, 0} = System.cmd("benches/discord/build_sorted_set_nif.sh", [], into: IO.stream())
end

:persistent_term.put(:discord_sorted_set_nif, so)

defmodule Discord.SortedSet.NifBridge do
  # Our stand-in for the module `use Rustler` would generate: the same
  # functions, loaded from the library built above.
  @on_load :load
  def load, do: :erlang.load_nif(String.to_charlist(:persistent_term.get(:discord_sorted_set_nif)), 0)
  for {name, arity} <- [empty: 2, new: 2, append_bucket: 2, size: 1, add: 2, remove: 2, at: 2, slice: 3, find_index: 2, debug: 1, to_list: 1, jemalloc_allocation_info: 0] do
    args = Macro.generate_arguments(arity, __MODULE__)
    def unquote(name)(unquote_splicing(args)), do: :erlang.nif_error(:nif_not_loaded)
  end
end

Code.require_file(Path.join(dir, "lib/sorted_set/types.ex"))
Code.require_file(Path.join(dir, "lib/sorted_set.ex"))

defmodule Bench.SortedSetDiscordScript do
  alias Realtime.{Bench, SortedSet}

  @keys 20_000

  def run(args) do
    rounds = String.to_integer(Enum.at(args, 0, "7"))
    seed = String.to_integer(Enum.at(args, 1, "#{:erlang.phash2(:os.timestamp())}"))
    IO.puts("seed #{seed}, #{rounds} rounds, #{@keys} random keys per op")
    :rand.seed(:exsss, seed)

    shapes = [
      {"1M integers", 1_000_000, fn i -> i end},
      {"250k {int, 16-byte binary, int} rows", 250_000, fn i -> {rem(i, 1_000), String.pad_leading(Integer.to_string(i), 16, "0"), i} end}
    ]

    for {shape, n, make} <- shapes, do: run_shape(shape, n, make, rounds)
  end

  # Members are the even numbers 0, 2, ..; fresh keys are odd.
  defp run_shape(shape, n, make, rounds) do
    sorted = Enum.sort(for i <- 0..(n - 1), do: make.(2 * i))
    ours = SortedSet.from_proper_enumerable(sorted)
    theirs = Discord.SortedSet.from_proper_enumerable(sorted)
    fresh = for _ <- 1..@keys, do: make.(2 * :rand.uniform(n) + 1)
    fresh = Enum.uniq(fresh)
    members = for _ <- 1..@keys, do: make.(2 * (:rand.uniform(n) - 1))
    indices = for _ <- 1..@keys, do: :rand.uniform(n) - 1
    removes = Enum.shuffle(fresh)
    hot = make.(2 * div(n, 2) + 1)
    hot_member = make.(2 * div(n, 2))
    hot_list = List.duplicate(hot, @keys)
    hot_members = List.duplicate(hot_member, @keys)
    hot_indices = List.duplicate(div(n, 2), @keys)

    impls = [
      ours: %{set: ours, mod: SortedSet},
      discord: %{set: theirs, mod: Discord.SortedSet}
    ]

    # {name, per-op count, fun(impl) -> elapsed ns}
    ops = [
      {"add, random keys", length(fresh), fn i -> time(fn -> each(fresh, &i.mod.add(i.set, &1)) end) end},
      {"remove, random keys", length(removes), fn i -> time(fn -> each(removes, &i.mod.remove(i.set, &1)) end) end},
      {"add+remove, hot key", @keys, fn i -> time(fn -> each(hot_list, fn k -> i.mod.remove(i.mod.add(i.set, k), k) end) end) end},
      {"find_index, random members", @keys, fn i -> time(fn -> each(members, &i.mod.find_index(i.set, &1)) end) end},
      {"find_index, hot member", @keys, fn i -> time(fn -> each(hot_members, &i.mod.find_index(i.set, &1)) end) end},
      {"at, random indices", @keys, fn i -> time(fn -> each(indices, &i.mod.at(i.set, &1)) end) end},
      {"at, hot index", @keys, fn i -> time(fn -> each(hot_indices, &i.mod.at(i.set, &1)) end) end},
      {"slice of 100, random starts", @keys, fn i -> time(fn -> each(indices, &i.mod.slice(i.set, min(&1, n - 100), 100)) end) end},
      {"build (from_proper_enumerable)", 1, fn i -> time(fn -> i.mod.from_proper_enumerable(sorted) end) end},
      {"to_list", 1, fn i -> time(fn -> i.mod.to_list(i.set) end) end}
    ]

    # Same answers first: a fast wrong set is no result.
    for k <- Enum.take(members, 100), do: ^k = SortedSet.at(ours, SortedSet.find_index(ours, k))
    true = SortedSet.find_index(ours, hot_member) == Discord.SortedSet.find_index(theirs, hot_member)

    results =
      for r <- 1..rounds, {name, count, fun} <- ops do
        order = if rem(r, 2) == 0, do: Enum.reverse(impls), else: impls
        times = for {who, impl} <- order, into: %{}, do: {who, fun.(impl) / count}
        {name, times}
      end

    true = SortedSet.size(ours) == n and Discord.SortedSet.size(theirs) == n
    gb_sets(shape, ours, sorted, fresh, rounds)

    IO.puts("\n## #{shape}")
    IO.puts(Enum.map_join(["op", "ours (median)", "Discord (median)", "ours / Discord (median, spread)"], "", &String.pad_trailing(&1, 34)))

    for {name, _, _} <- ops do
      runs = for {^name, t} <- results, do: t
      ratios = runs |> Enum.map(&(&1.ours / &1.discord)) |> Enum.sort()
      cols = [name, Bench.fmt(median(Enum.map(runs, & &1.ours))), Bench.fmt(median(Enum.map(runs, & &1.discord))), "#{f(median(ratios))} (#{f(hd(ratios))}..#{f(List.last(ratios))})"]
      IO.puts(Enum.map_join(cols, "", &String.pad_trailing(&1, 34)))
    end
  end

  # Against :gb_sets, the set users have without a NIF: the same random
  # adds (each threading the new set) and to_list, interleaved.
  defp gb_sets(shape, ours, sorted, fresh, rounds) do
    gb = :gb_sets.from_ordset(sorted)
    count = length(fresh)

    runs =
      for r <- 1..rounds do
        cases = [
          {"add, random keys", fn -> time(fn -> each(fresh, &SortedSet.add(ours, &1)) end) / count end,
           fn -> time(fn -> List.foldl(fresh, gb, &:gb_sets.add/2) end) / count end},
          {"to_list", fn -> time(fn -> SortedSet.to_list(ours) end) end, fn -> time(fn -> :gb_sets.to_list(gb) end) end}
        ]

        for {name, a, b} <- cases do
          {ta, tb} = if rem(r, 2) == 0, do: (tb = b.(); {a.(), tb}), else: {a.(), b.()}
          # Keep the set as it was: take the added keys out again.
          if name =~ "add", do: each(fresh, &SortedSet.remove(ours, &1))
          {name, ta, tb}
        end
      end
      |> List.flatten()

    IO.puts("\n## #{shape}: against :gb_sets")
    IO.puts(Enum.map_join(["op", "ours (median)", ":gb_sets (median)", "ours / :gb_sets (median, spread)"], "", &String.pad_trailing(&1, 34)))

    for name <- ["add, random keys", "to_list"] do
      rs = for {^name, a, b} <- runs, do: {a, b}
      ratios = rs |> Enum.map(fn {a, b} -> a / b end) |> Enum.sort()
      cols = [name, Bench.fmt(median(Enum.map(rs, &elem(&1, 0)))), Bench.fmt(median(Enum.map(rs, &elem(&1, 1)))), "#{f(median(ratios))} (#{f(hd(ratios))}..#{f(List.last(ratios))})"]
      IO.puts(Enum.map_join(cols, "", &String.pad_trailing(&1, 34)))
    end
  end

  defp each([], _fun), do: :ok
  defp each([x | rest], fun) do
    fun.(x)
    each(rest, fun)
  end

  defp time(fun) do
    t0 = System.monotonic_time(:nanosecond)
    fun.()
    System.monotonic_time(:nanosecond) - t0
  end

  defp median(list), do: list |> Enum.sort() |> Bench.percentile(50)
  defp f(x), do: :io_lib.format("~.2f", [x / 1]) |> to_string()
end

Bench.SortedSetDiscordScript.run(System.argv())
