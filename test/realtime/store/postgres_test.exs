defmodule Realtime.Store.PostgresTest do
  @moduledoc """
  The store contract on a real PostgreSQL server that the test starts
  (initdb + pg_ctl in a temporary directory, Unix socket only) and stops;
  each test gets a database of its own. Then what only a server can go
  through: a database of something else, and an outage.
  """
  use Realtime.Test.StoreContract, open: &Realtime.Store.PostgresTest.open/1

  alias Realtime.Test.PostgresServer

  setup_all do
    server = PostgresServer.start()
    :persistent_term.put({__MODULE__, :server}, server)
    on_exit(fn -> PostgresServer.stop(server) end)
    {:ok, server: server}
  end

  defp server, do: :persistent_term.get({__MODULE__, :server})

  def open(name) do
    db = "#{name}_#{System.unique_integer([:positive])}"
    PostgresServer.psql!(server(), "CREATE DATABASE #{db}")
    config = %{url: String.replace(server().url, "dbname=postgres", "dbname=#{db}"), writers: 2, readers: 2}
    {:ok, s, [_ | _]} = Store.open(Store.Postgres, config)
    {s, fn -> with {:ok, s, m} <- Store.open(Store.Postgres, config), do: {s, m} end}
  end

  test "a database with tables of something else is refused, by name" do
    PostgresServer.psql!(server(), "CREATE DATABASE foreign_app")
    PostgresServer.psql!(server(), "CREATE TABLE messages (x int)", "foreign_app")
    url = String.replace(server().url, "dbname=postgres", "dbname=foreign_app")
    assert {:error, {:foreign, message}} = Store.open(Store.Postgres, %{url: url})
    assert message =~ "foreign_app"
  end

  test "while the server is down, writes and reads fail cleanly; when it is back they succeed, without reopening" do
    {s, _} = open("outage")
    :ok = Store.write(s, 1, [{:put, :guilds, 0, 1, "before"}])
    PostgresServer.stop_server(server())

    try do
      assert {:error, {:unavailable, _}} = Store.write(s, 1, [{:put, :guilds, 0, 2, "during"}])
      assert {:error, {:unavailable, _}} = Store.read(s, {:get, :guilds, 0, 1})
    after
      PostgresServer.start_server(server())
    end

    assert Store.write(s, 1, [{:put, :guilds, 0, 3, "after"}]) == :ok
    assert Store.read(s, {:rows, :guilds, 0}) == {:ok, [{1, "before"}, {3, "after"}]}
  end
end
