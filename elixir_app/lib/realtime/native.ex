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
