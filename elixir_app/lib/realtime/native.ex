defmodule Realtime.Native do
  @moduledoc """
  The NIF library: raw entry points into the Rust binding crate.

  Users call the public modules (`Realtime.SortedSet` and friends), which
  validate arguments and choose between normal and dirty-scheduler entry
  points. This module only loads the library and declares the stubs.

  The library is built by `mix compile` into `priv/native/`. If it is missing
  or was built for another NIF version, every stub raises an error that says
  what happened and what to run, never a bare `:nif_not_loaded`.
  """

  @on_load :load_nif

  @doc false
  @spec load_nif() :: :ok
  def load_nif do
    path = :filename.join(:code.priv_dir(:realtime), ~c"native/librealtime_nif")

    case :erlang.load_nif(path, 0) do
      :ok ->
        :persistent_term.erase({__MODULE__, :load_error})
        :ok

      {:error, reason} ->
        # Returning :ok keeps the module loaded, so callers get our message
        # instead of `undef`.
        :persistent_term.put({__MODULE__, :load_error}, reason)
        :ok
    end
  end

  @doc """
  Bytes allocated by all NIFs of this library (`:allocated`), the highest
  that figure has been (`:peak`), and the number of live allocations.

  This memory is invisible to `:erlang.memory/0`.
  """
  @spec memory() :: %{allocated: non_neg_integer, peak: non_neg_integer, allocations: non_neg_integer}
  def memory, do: not_loaded()

  # Realtime.SortedSet. Normal-scheduler calls return :reschedule when the
  # set is locked or the input is large; sorted_set_dirty/4 then does the same
  # operation on a dirty scheduler.
  @doc false
  def sorted_set_new(_bucket_size), do: not_loaded()
  @doc false
  def sorted_set_from_list(_list, _bucket_size, _sorted?), do: not_loaded()
  @doc false
  def sorted_set_size(_set), do: not_loaded()
  @doc false
  def sorted_set_add(_set, _term), do: not_loaded()
  @doc false
  def sorted_set_remove(_set, _term), do: not_loaded()
  @doc false
  def sorted_set_find_index(_set, _term), do: not_loaded()
  @doc false
  def sorted_set_at(_set, _index), do: not_loaded()
  def sorted_set_at_many(_set, _indices), do: not_loaded()
  @doc false
  def sorted_set_slice(_set, _start, _amount), do: not_loaded()
  @doc false
  def sorted_set_dirty(_set, _op, _a, _b), do: not_loaded()
  @doc false
  def sorted_set_memory(_set), do: not_loaded()
  @doc false
  def sorted_set_debug(_set), do: not_loaded()

  # Realtime.ETF
  @doc false
  def etf_encode(_term, _compressed, _string_ext), do: not_loaded()
  @doc false
  def etf_encode_dirty(_term, _compressed, _string_ext), do: not_loaded()
  @doc false
  def etf_decode(_binary, _limits, _create_atoms, _return_used), do: not_loaded()
  @doc false
  def etf_decode_dirty(_binary, _limits, _create_atoms, _return_used), do: not_loaded()

  # Realtime.JSON
  @doc false
  def json_encode(_term, _snowflakes_as_strings), do: not_loaded()
  @doc false
  def json_encode_dirty(_term, _snowflakes_as_strings), do: not_loaded()
  @doc false
  def json_decode(_binary, _limits), do: not_loaded()
  @doc false
  def json_decode_dirty(_binary, _limits), do: not_loaded()

  # Realtime.HashRing. Building runs on a dirty scheduler; lookups are
  # lock-free reads of an immutable ring.
  @doc false
  def hash_ring_new(_nodes, _replicas, _overrides), do: not_loaded()
  @doc false
  def hash_ring_find_node(_ring, _key), do: not_loaded()
  @doc false
  def hash_ring_find_nodes(_ring, _key, _n), do: not_loaded()
  @doc false
  def hash_ring_nodes(_ring), do: not_loaded()
  @doc false
  def hash_ring_hash(_key), do: not_loaded()

  # Realtime.Bitmap
  @doc false
  def bitmap_new(), do: not_loaded()
  @doc false
  def bitmap_from_list(_slots), do: not_loaded()
  @doc false
  def bitmap_from_list_dirty(_slots), do: not_loaded()
  @doc false
  def bitmap_put(_b, _slot), do: not_loaded()
  @doc false
  def bitmap_delete(_b, _slot), do: not_loaded()
  @doc false
  def bitmap_member(_b, _slot), do: not_loaded()
  @doc false
  def bitmap_size(_b), do: not_loaded()
  @doc false
  def bitmap_to_list(_b), do: not_loaded()
  @doc false
  def bitmap_take(_b, _n), do: not_loaded()
  @doc false
  def bitmap_combine(_a, _b, _op, _in_place), do: not_loaded()
  @doc false
  def bitmap_combine_dirty(_a, _b, _op, _in_place), do: not_loaded()
  @doc false
  def bitmap_intersection_size(_a, _b), do: not_loaded()
  @doc false
  def bitmap_copy(_b), do: not_loaded()
  @doc false
  def bitmap_to_binary(_b), do: not_loaded()
  @doc false
  def bitmap_from_binary(_bin), do: not_loaded()
  @doc false
  def bitmap_memory(_b), do: not_loaded()
  @doc false
  def bitmap_dirty(_op, _b, _arg), do: not_loaded()

  # Realtime.Fanout
  @doc false
  def fanout_new(), do: not_loaded()
  @doc false
  def fanout_put(_table, _slot, _pid), do: not_loaded()
  @doc false
  def fanout_delete(_table, _slot), do: not_loaded()
  @doc false
  def fanout_resolve(_table, _bitmap, _cursor, _shards), do: not_loaded()
  @doc false
  def fanout_pids(_table, _bitmap), do: not_loaded()

  # Realtime.Gateway.Compression (zstd-stream)
  @doc false
  def zstd_stream_new(), do: not_loaded()
  @doc false
  def zstd_stream_compress(_stream, _data), do: not_loaded()
  @doc false
  def zstd_stream_compress_dirty(_stream, _data), do: not_loaded()

  # Realtime.Metrics: HDR histograms sharded by scheduler thread.
  @doc false
  def histogram_new(_shards, _max, _sigfig), do: not_loaded()
  @doc false
  def histogram_record(_h, _value), do: not_loaded()
  @doc false
  def histogram_snapshot(_h, _bounds), do: not_loaded()
  @doc false
  def histogram_quantile(_h, _quantile), do: not_loaded()

  # Realtime.Store: open on a dirty I/O scheduler; writes and reads queue
  # work for the store's threads, which answer with a message.
  @doc false
  def store_open(_kind, _config), do: not_loaded()
  @doc false
  def store_write(_store, _key, _ops, _tag), do: not_loaded()
  @doc false
  def store_write_dirty(_store, _key, _ops, _tag), do: not_loaded()
  @doc false
  def store_read(_store, _query, _tag), do: not_loaded()

  defp not_loaded do
    reason = :persistent_term.get({__MODULE__, :load_error}, :unknown)

    raise RuntimeError, """
    the Realtime NIF library is not loaded: #{inspect(reason)}
    Build it with `mix compile` (after bin/setup); if it was built for another
    Erlang/OTP, run `rm -rf priv/native && mix compile`, so that
    priv/native/librealtime_nif.so exists and matches this Erlang/OTP.
    """
  end
end
