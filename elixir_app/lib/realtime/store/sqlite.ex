defmodule Realtime.Store.SQLite do
  @moduledoc """
  The embedded store: one SQLite file (`realtime.db`) in WAL mode, one
  writer thread and `:readers` reader threads (default 2).

  Durability follows `synchronous`:

    * `:normal` (default): a commit is written to the WAL before it is
      acknowledged, and the WAL is synced to disk at checkpoints. A crash of
      the process or the VM loses nothing acknowledged; a power loss or an
      OS crash can lose the last commits before the checkpoint.
    * `:full`: every commit is synced before it is acknowledged, so a power
      loss loses nothing acknowledged either, at the price of one sync per
      group commit.

  A file that is not a database, or a SQLite database of another
  application, is refused with an error naming the file; it is never
  re-initialised.
  """
  @behaviour Realtime.Store

  @impl true
  @spec open(map) :: {:ok, Realtime.Store.handle(), [String.t()]} | {:error, Realtime.Store.reason()}
  def open(%{path: path} = config) do
    with :ok <- File.mkdir_p(Path.dirname(path)) |> dir_error(path) do
      Realtime.Native.store_open(:sqlite, %{
        path: path,
        synchronous: Map.get(config, :synchronous, :normal),
        readers: Map.get(config, :readers, 2),
        max_batch: Map.get(config, :max_batch, 2_000),
        linger_us: Map.get(config, :linger_us, 0)
      })
    end
  end

  defp dir_error(:ok, _path), do: :ok
  defp dir_error({:error, reason}, path), do: {:error, {:unavailable, "#{Path.dirname(path)}: #{:file.format_error(reason)}"}}

  @impl true
  defdelegate write(store, key, ops, tag), to: Realtime.Store.Threads

  @impl true
  defdelegate read(store, query, tag), to: Realtime.Store.Threads

  @impl true
  @spec describe(map) :: String.t()
  def describe(%{path: path} = config), do: "SQLite #{path} (synchronous=#{config |> Map.get(:synchronous, :normal) |> to_string() |> String.upcase()})"
end
