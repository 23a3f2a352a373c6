defmodule Realtime.BitmapTest do
  use ExUnit.Case, async: true

  alias Realtime.Bitmap
  alias Realtime.Test.TermGen

  # Slots cluster in a few 65,536-wide chunks, some dense and some sparse,
  # so both representations and the switches between them are exercised.
  defp slot(st) do
    {chunk, st} = TermGen.int(st, 4)
    {low, st} = TermGen.int(st, if(chunk < 2, do: 9_000, else: 65_536))
    {chunk * 65_536 + low, st}
  end

  defp same(bitmap, set, where) do
    assert Bitmap.to_list(bitmap) == Enum.sort(set), where
    assert Bitmap.size(bitmap) == MapSet.size(set), where
  end

  test "operations agree with a MapSet model on seeded random steps" do
    seed = TermGen.seed()

    {_, _, _, _, _} =
      Enum.reduce(1..6_000, {TermGen.new(seed), Bitmap.new(), MapSet.new(), Bitmap.new(), MapSet.new()}, fn step,
                                                                                                           {st, a, ma, b, mb} ->
        where = "seed #{seed}, step #{step} (rerun with SEED=#{seed})"
        {x, st} = slot(st)
        {op, st} = TermGen.int(st, 12)

        {ma, mb} =
          case op do
            o when o in 0..3 -> {Bitmap.put(a, x) && MapSet.put(ma, x), mb}
            4 -> {Bitmap.delete(a, x) && MapSet.delete(ma, x), mb}
            o when o in 5..7 -> {ma, Bitmap.put(b, x) && MapSet.put(mb, x)}
            8 -> {ma, Bitmap.delete(b, x) && MapSet.delete(mb, x)}
            9 -> assert(Bitmap.member?(a, x) == MapSet.member?(ma, x), where) && {ma, mb}
            _ -> {ma, mb}
          end

        if rem(step, 500) == 0 do
          same(a, ma, where)
          same(Bitmap.union(a, b), MapSet.union(ma, mb), where)
          same(Bitmap.intersection(a, b), MapSet.intersection(ma, mb), where)
          same(Bitmap.difference(a, b), MapSet.difference(ma, mb), where)
          assert Bitmap.intersection_size(a, b) == MapSet.size(MapSet.intersection(ma, mb)), where
          assert {:ok, back} = Bitmap.from_binary(Bitmap.to_binary(a))
          same(back, ma, where)
          c = Bitmap.copy(a)
          same(Bitmap.union_in_place(c, b), MapSet.union(ma, mb), where)
          same(Bitmap.intersection_in_place(Bitmap.copy(a), b), MapSet.intersection(ma, mb), where)
          same(Bitmap.difference_in_place(Bitmap.copy(a), b), MapSet.difference(ma, mb), where)
          same(a, ma, where)
        end

        {st, a, ma, b, mb}
      end)
  end

  test "an operand may be the target itself" do
    a = Bitmap.from_list([1, 2, 3])
    assert Bitmap.to_list(Bitmap.union_in_place(a, a)) == [1, 2, 3]
    assert Bitmap.intersection_size(a, a) == 3
    assert Bitmap.to_list(Bitmap.difference_in_place(a, a)) == []
  end

  test "from_list dedups, sorts and handles the full u32 range and big inputs" do
    assert Bitmap.to_list(Bitmap.from_list([5, 0, 4_294_967_295, 5])) == [0, 5, 4_294_967_295]
    big = Bitmap.from_list(Enum.to_list(0..999_999))
    assert Bitmap.size(big) == 1_000_000
    assert length(Bitmap.to_list(big)) == 1_000_000
    assert_raise ArgumentError, fn -> Bitmap.from_list([-1]) end
    assert_raise ArgumentError, fn -> Bitmap.put(big, 2 ** 32) end
  end

  test "from_binary refuses untrusted bytes" do
    bin = Bitmap.to_binary(Bitmap.from_list(Enum.to_list(0..5_000) ++ [70_000]))

    for cut <- Enum.take_every(0..(byte_size(bin) - 1), 7) do
      assert Bitmap.from_binary(binary_part(bin, 0, cut)) == {:error, :invalid_bitmap}
    end

    seed = TermGen.seed()

    Enum.reduce(1..2_000, TermGen.new(seed), fn _, st ->
      {len, st} = TermGen.int(st, 40)
      {bytes, st} = Enum.reduce(1..len//1, {"RBM1", st}, fn _, {acc, st} -> with {b, st} <- TermGen.int(st, 256), do: {acc <> <<b>>, st} end)

      case Bitmap.from_binary(bytes) do
        {:ok, b} -> assert is_list(Bitmap.to_list(b)), "seed #{seed}"
        {:error, :invalid_bitmap} -> :ok
      end

      st
    end)
  end

  test "memory of a 1M-slot view is reported" do
    dense = Bitmap.from_list(Enum.take_every(0..999_999, 3))
    # 16 chunks of 8 KiB bitsets.
    assert Bitmap.memory(dense) in 131_072..140_000
  end

  test "concurrent writers and readers all succeed" do
    b = Bitmap.new()

    tasks =
      for p <- 0..7 do
        Task.async(fn ->
          for i <- 0..4_999, do: Bitmap.put(b, p * 5_000 + i)
          Bitmap.size(b)
        end)
      end

    Enum.each(tasks, &Task.await(&1, 30_000))
    assert Bitmap.size(b) == 40_000
  end
end
