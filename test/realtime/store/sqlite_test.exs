defmodule Realtime.Store.SQLiteTest do
  @moduledoc "The store contract on SQLite files, and what only a file can go through."
  use Realtime.Test.StoreContract, open: &Realtime.Store.SQLiteTest.open/1

  @moduletag :tmp_dir

  def open(name) do
    path = Path.join([System.tmp_dir!(), "realtime-sqlite-#{System.unique_integer([:positive])}", name, "realtime.db"])
    config = %{path: path, synchronous: :normal}
    {:ok, s, [_ | _]} = Store.open(Store.SQLite, config)
    {s, fn -> with {:ok, s, m} <- Store.open(Store.SQLite, config), do: {s, m} end}
  end

  test "a file that is not a database, or another application's, is refused by name and left alone", %{tmp_dir: dir} do
    garbage = Path.join(dir, "garbage.db")
    File.write!(garbage, :binary.copy("not sqlite", 1_000))
    assert {:error, {:corrupt, message}} = Store.open(Store.SQLite, %{path: garbage})
    assert message =~ garbage
    assert File.read!(garbage) == :binary.copy("not sqlite", 1_000)
  end

  test "with synchronous=FULL every commit is synced, and the contract holds", %{tmp_dir: dir} do
    {:ok, s, _} = Store.open(Store.SQLite, %{path: Path.join(dir, "full.db"), synchronous: :full})
    assert Store.write(s, 1, [{:put, :guilds, 0, 1, "g"}]) == :ok
    assert Store.read(s, {:get, :guilds, 0, 1}) == {:ok, "g"}
  end
end
