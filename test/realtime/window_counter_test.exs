defmodule Realtime.WindowCounterTest do
  use ExUnit.Case, async: true

  alias Realtime.WindowCounter

  test "counts within a window and opens a new one when it has run out" do
    t = WindowCounter.new_table()
    assert WindowCounter.hit(:k, 1_000, 0, t) == {1, 1_000}
    assert WindowCounter.hit(:k, 1_000, 999, t) == {2, 1_000}
    assert WindowCounter.peek(:k, 1_000, 999, t) == {2, 1_000}
    # The window opened at the first hit; a hit at its end opens the next.
    assert WindowCounter.hit(:k, 1_000, 1_000, t) == {1, 2_000}
    assert WindowCounter.peek(:other, 1_000, 5, t) == {0, 1_005}
  end

  test "concurrent hits are all counted, exactly, also when they race to restart a window" do
    t = WindowCounter.new_table()
    WindowCounter.hit(:k, 100, 0, t)

    # 16 processes hit 500 times each at a time when the window has run out:
    # exactly one restarts it, and all 8,000 hits land in the new window.
    results =
      1..16
      |> Enum.map(fn _ -> Task.async(fn -> for _ <- 1..500, do: WindowCounter.hit(:k, 100, 1_000, t) end) end)
      |> Enum.flat_map(&Task.await/1)

    assert Enum.all?(results, fn {_, ends} -> ends == 1_100 end)
    assert results |> Enum.map(&elem(&1, 0)) |> Enum.sort() == Enum.to_list(1..8_000)
  end
end
