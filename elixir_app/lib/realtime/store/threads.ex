defmodule Realtime.Store.Threads do
  @moduledoc """
  The durable adapters' side of the store NIF: writes and reads are queued
  for the Rust store's writer and reader threads, which answer the calling
  process with a message. Shared by `Realtime.Store.SQLite` and
  `Realtime.Store.Postgres`.
  """

  require Realtime.Metrics, as: Metrics

  alias Realtime.Native

  @doc "Queues `ops` for the writer of `key`; many ops are decoded on a dirty scheduler."
  @spec write(reference, non_neg_integer, [Realtime.Store.op()], non_neg_integer) :: :ok
  def write(store, key, ops, tag) do
    with :reschedule <- Native.store_write(store, key, ops, tag) do
      Metrics.inc(:dirty, "store")
      Native.store_write_dirty(store, key, ops, tag)
    end
  end

  @doc "Queues `query` for a reader thread."
  @spec read(reference, Realtime.Store.query(), non_neg_integer) :: :ok
  def read(store, query, tag), do: Native.store_read(store, query, tag)
end
