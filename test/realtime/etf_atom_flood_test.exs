defmodule Realtime.ETFAtomFloodTest do
  # Not async: the atom table is VM-wide, and other tests load code (which
  # adds atoms) while they run.
  use ExUnit.Case, async: false

  alias Realtime.ETF

  test "decoding 100k unknown atoms leaves the atom table unchanged" do
    atoms = for i <- 1..100_000, do: <<115, 12, "zz_unknown", i::16>>
    flood = IO.iodata_to_binary([<<131, 108, 100_000::32>>, atoms, <<106>>])
    # Load everything the call path needs before counting.
    {:ok, _} = ETF.decode(flood)
    before = :erlang.system_info(:atom_count)
    assert {:ok, list} = ETF.decode(flood)
    assert :erlang.system_info(:atom_count) == before
    assert length(list) == 100_000 and Enum.all?(list, &is_binary/1)

    for name <- Enum.take_random(list, 1_000) do
      assert_raise ArgumentError, fn -> String.to_existing_atom(name) end
    end
  end
end
