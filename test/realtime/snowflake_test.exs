defmodule Realtime.SnowflakeTest do
  use ExUnit.Case, async: true
  import Bitwise

  alias Realtime.Snowflake
  alias Realtime.Test.TermGen

  test "timestamps read the same as DateTime.to_iso8601/1, for 10,000 seeded ids from 2015 to 2084" do
    seed = TermGen.seed()

    Enum.reduce(1..10_000, TermGen.new(seed), fn _, st ->
      {ms, st} = TermGen.int(st, 1 <<< 41)
      id = ms <<< 22
      want = (ms + 1_420_070_400_000) |> DateTime.from_unix!(:millisecond) |> DateTime.to_iso8601()
      assert Snowflake.timestamp(id) == want, "seed #{seed}: id #{id}"
      st
    end)
  end

  test "ids are unique and increase in each process, also when many processes take them at once" do
    runs = 1..8 |> Enum.map(fn _ -> Task.async(fn -> for _ <- 1..20_000, do: Snowflake.next() end) end) |> Enum.map(&Task.await/1)
    assert Enum.all?(runs, &(&1 == Enum.sort(&1)))
    all = List.flatten(runs)
    assert length(Enum.uniq(all)) == 160_000
  end
end
