defmodule Realtime.Guild.LoaderTest do
  use ExUnit.Case, async: true

  alias Realtime.Guild.Loader

  test "plan starts the owned guilds that do not run and stops the running ones owned elsewhere" do
    owned? = &(rem(&1, 2) == 0)
    assert Loader.plan([1, 2, 3, 4, 6], [2, 3, 5], owned?) == {[4, 6], [3, 5]}
    assert Loader.plan([2, 4], [2, 4], owned?) == {[], []}
    assert Loader.plan([], [], owned?) == {[], []}
  end
end
