defmodule Realtime.SortedSetTest do
  use ExUnit.Case, async: true

  alias Realtime.SortedSet
  alias Realtime.Test.TermGen

  describe "API shapes, as Discord.SortedSet" do
    test "add, index_add, remove, index_remove, size, to_list" do
      set = SortedSet.new()
      assert SortedSet.add(set, 3) == set
      assert SortedSet.index_add(set, 1) == {0, set}
      assert SortedSet.index_add(set, 2) == {1, set}
      assert SortedSet.index_add(set, 2) == {nil, set}
      assert SortedSet.size(set) == 3
      assert SortedSet.to_list(set) == [1, 2, 3]
      assert SortedSet.index_remove(set, 2) == {1, set}
      assert SortedSet.index_remove(set, 2) == {nil, set}
      assert SortedSet.remove(set, 42) == set
      assert SortedSet.to_list(set) == [1, 3]
    end

    test "at and slice never raise on out-of-range or huge values" do
      set = SortedSet.from_enumerable([:c, :a, :b, :a])
      assert SortedSet.to_list(set) == [:a, :b, :c]
      assert SortedSet.at(set, 0) == :a
      assert SortedSet.at(set, 2) == :c
      assert SortedSet.at(set, 3) == nil
      assert SortedSet.at(set, -1, :none) == :none
      assert SortedSet.at(set, 2 ** 200, :none) == :none
      assert SortedSet.slice(set, 1, 10) == [:b, :c]
      assert SortedSet.slice(set, -5, 2) == [:a, :b]
      assert SortedSet.slice(set, 2 ** 100, 2 ** 100) == []
      assert SortedSet.slice(set, 0, -3) == []
      assert SortedSet.find_index(set, :b) == 1
      assert SortedSet.find_index(set, :zz) == nil
    end

    test "bucket sizes of zero or below are ArgumentError, not a crash" do
      assert_raise ArgumentError, ~r/bucket_size/, fn -> SortedSet.new(10, 0) end
      assert_raise ArgumentError, ~r/bucket_size/, fn -> SortedSet.new(10, -3) end
      assert_raise ArgumentError, ~r/bucket_size/, fn -> SortedSet.from_enumerable([1], 0) end
    end

    test "from_proper_enumerable verifies its input" do
      assert SortedSet.from_proper_enumerable([3, 1]) == {:error, :not_sorted}
      assert SortedSet.from_proper_enumerable([1, 1]) == {:error, :not_sorted}
      assert SortedSet.from_proper_enumerable([1, 1.0]) == {:error, :not_sorted}
      set = SortedSet.from_proper_enumerable([1, :a, {}, "x"])
      assert SortedSet.to_list(set) == [1, :a, {}, "x"]
    end

    test "debug and memory describe the set" do
      set = SortedSet.from_enumerable(1..10_000)
      assert SortedSet.debug(set) =~ "len: 10000"
      assert SortedSet.memory(set) > 10_000
    end
  end

  describe "terms" do
    test "1 and 1.0 are one member; the first added stays" do
      set = SortedSet.new()
      SortedSet.add(set, 1.0)
      assert SortedSet.index_add(set, 1) == {nil, set}
      assert SortedSet.to_list(set) == [1.0]
      assert SortedSet.find_index(set, 1) == 0
      assert SortedSet.index_remove(set, 1) == {0, set}
    end

    test "pids, references, ports and funs are refused clearly and leave the set usable" do
      set = SortedSet.from_enumerable([1, 2])

      for bad <- [self(), make_ref(), hd(Port.list()), fn -> :ok end, {1, [self()]}] do
        assert SortedSet.add(set, bad) == {:error, :unsupported_type}
        assert SortedSet.index_add(set, bad) == {:error, :unsupported_type}
        assert SortedSet.remove(set, bad) == set
        assert SortedSet.find_index(set, bad) == nil
      end

      assert SortedSet.from_enumerable([1, self()]) == {:error, :unsupported_type}
      assert SortedSet.to_list(set) == [1, 2]
    end

    test "improper lists, invalid UTF-8, bitstrings, bignums and maps round-trip" do
      terms = [[1 | 2], <<0xFF, 0xFE>>, <<1::3>>, 2 ** 300, -(2 ** 65), %{{1} => [2 | :x], 1.0 => 1}, :"日本"]
      set = SortedSet.from_enumerable(terms)
      assert SortedSet.to_list(set) == Enum.sort(terms)
    end

    test "terms nested up to the limit work; deeper ones are refused, not a crash" do
      nest = fn depth, wrap -> Enum.reduce(1..depth, :leaf, fn _, acc -> wrap.(acc) end) end
      set = SortedSet.new()

      for wrap <- [&{&1}, &[&1], &%{k: &1}] do
        ok = nest.(99, wrap)
        assert SortedSet.add(set, ok) == set
        assert SortedSet.find_index(set, ok) != nil
        assert SortedSet.add(set, nest.(10_000, wrap)) == {:error, :too_deep}
      end

      assert SortedSet.size(set) == 3
      assert SortedSet.to_list(set) == Enum.sort(for w <- [&{&1}, &[&1], &%{k: &1}], do: nest.(99, w))
      assert SortedSet.from_enumerable([nest.(10_000, &{&1})]) == {:error, :too_deep}
    end
  end

  describe "against a model" do
    @steps 3_000

    test "random operations on random terms agree with a sorted, deduplicated list" do
      seed = TermGen.seed()
      run(TermGen.new(seed), SortedSet.new(100, 16), [], seed, @steps)
    end

    defp run(_st, set, model, seed, 0), do: assert(SortedSet.to_list(set) === model, "seed #{seed}")

    defp run(st, set, model, seed, steps_left) do
      step = @steps - steps_left
      where = "seed #{seed}, step #{step} (rerun with SEED=#{seed})"
      {op, st} = TermGen.int(st, 10)
      {term, st} = TermGen.term(st)
      # Half the time, operate on a present member (or an == variant of it).
      {term, st} = maybe_existing(st, model, term)
      {model, st} = step(op, st, set, model, term, where)

      assert SortedSet.size(set) == length(model), where
      if rem(step, 50) == 0, do: assert(SortedSet.to_list(set) === model, where)
      run(st, set, model, seed, steps_left - 1)
    end

    defp maybe_existing(st, [], term), do: {term, st}

    defp maybe_existing(st, model, term) do
      {i, st} = TermGen.int(st, 2 * length(model))
      {Enum.at(model, i, term), st}
    end

    defp step(op, st, set, model, term, where) when op in 0..3 do
      present = Enum.any?(model, &(&1 == term))
      new_model = if present, do: model, else: Enum.sort([term | model])
      expected = if present, do: nil, else: Enum.find_index(new_model, &(&1 === term))
      assert SortedSet.index_add(set, term) == {expected, set}, where
      {new_model, st}
    end

    defp step(op, st, set, model, term, where) when op in 4..5 do
      index = Enum.find_index(model, &(&1 == term))
      assert SortedSet.index_remove(set, term) == {index, set}, where
      {if(index, do: List.delete_at(model, index), else: model), st}
    end

    defp step(6, st, set, model, term, where) do
      assert SortedSet.find_index(set, term) == Enum.find_index(model, &(&1 == term)), where
      {model, st}
    end

    defp step(7, st, set, model, _term, where) do
      {i, st} = TermGen.int(st, length(model) + 3)
      assert SortedSet.at(set, i, :none) === Enum.at(model, i, :none), where
      {model, st}
    end

    defp step(_, st, set, model, _term, where) do
      {start, st} = TermGen.int(st, length(model) + 3)
      {amount, st} = TermGen.int(st, 40)
      assert SortedSet.slice(set, start, amount) === Enum.slice(model, start, amount), where
      {model, st}
    end
  end

  describe "concurrency" do
    test "8 processes mutating one set all succeed and agree with a model" do
      set = SortedSet.new(500, 32)
      parent = self()

      pids =
        for p <- 0..7 do
          spawn_link(fn ->
            # Each process adds its own 2,000 keys and a shared range, then
            # removes its odd keys.
            for i <- 0..1_999 do
              assert {index, ^set} = SortedSet.index_add(set, {p, i})
              assert is_integer(index)
              SortedSet.add(set, {:shared, rem(i, 500)})
            end

            for i <- 0..1_999, rem(i, 2) == 1, do: assert({_, ^set} = SortedSet.index_remove(set, {p, i}))
            send(parent, {:done, p})
          end)
        end

      for p <- 0..7, do: assert_receive({:done, ^p}, 30_000)
      assert length(pids) == 8

      model =
        (for(p <- 0..7, i <- 0..1_999, rem(i, 2) == 0, do: {p, i}) ++ for(i <- 0..499, do: {:shared, i}))
        |> Enum.sort()

      assert SortedSet.to_list(set) == model
      assert SortedSet.size(set) == length(model)
    end
  end

  describe "large sets" do
    test "a million items build, list and index correctly" do
      set = SortedSet.from_enumerable(Enum.shuffle(1..1_000_000))
      assert SortedSet.size(set) == 1_000_000
      assert SortedSet.to_list(set) == Enum.to_list(1..1_000_000)
      assert SortedSet.at(set, 999_999) == 1_000_000
      assert SortedSet.find_index(set, 500_000) == 499_999
      assert SortedSet.slice(set, 10, 3) == [11, 12, 13]
    end
  end

  test "at_many answers several positions in one call, default for those out of range" do
    set = SortedSet.from_enumerable([:b, 3, "x", {1}, :a])
    assert SortedSet.at_many(set, [0, 4, 2, 5, -1, 0x1_0000_0000_0000_0000, 1], :none) == [3, "x", :b, :none, :none, :none, :a]
    assert SortedSet.at_many(set, []) == []
    # A member that is itself :error or {:ok, _} comes back as it is.
    set = SortedSet.from_enumerable([:error, {:ok, 1}])
    assert SortedSet.at_many(set, [0, 1, 2]) == [:error, {:ok, 1}, nil]
    assert_raise ArgumentError, ~r/indices must be integers/, fn -> SortedSet.at_many(set, [0, :x]) end
    # A long list moves to a dirty scheduler and still answers in order.
    big = SortedSet.from_proper_enumerable(Enum.to_list(0..49_999))
    assert SortedSet.at_many(big, Enum.to_list(49_999..0//-1)) == Enum.to_list(49_999..0//-1)
  end
end
