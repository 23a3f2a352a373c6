defmodule Realtime.Store.Postgres do
  @moduledoc """
  The shared store: PostgreSQL, which several nodes can use at once. A pool
  of `:writers` (default 4) and `:readers` (default 4) connections, one per
  store thread; a guild's writes always go to the same writer, so they are
  committed in order. A commit is acknowledged once PostgreSQL has it
  (`synchronous_commit` as the server is set, `on` by default: durable).

  A connection that fails is made again at the next request: while the
  server is down, writes and reads answer `{:error, {:unavailable, _}}`, and
  they succeed again when it is back, without a restart.
  """
  @behaviour Realtime.Store

  @impl true
  @spec open(map) :: {:ok, Realtime.Store.handle(), [String.t()]} | {:error, Realtime.Store.reason()}
  def open(%{url: url} = config) do
    Realtime.Native.store_open(:postgres, %{
      url: url,
      writers: Map.get(config, :writers, 4),
      readers: Map.get(config, :readers, 4),
      max_batch: Map.get(config, :max_batch, 2_000),
      linger_us: Map.get(config, :linger_us, 0)
    })
  end

  @impl true
  defdelegate write(store, key, ops, tag), to: Realtime.Store.Threads

  @impl true
  defdelegate read(store, query, tag), to: Realtime.Store.Threads

  @impl true
  @spec describe(map) :: String.t()
  def describe(%{url: url}), do: "PostgreSQL " <> String.replace(url, ~r/:[^:@\/]*@/, ":***@")
end
