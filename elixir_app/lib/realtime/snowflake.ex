defmodule Realtime.Snowflake do
  @moduledoc """
  Discord-style snowflake ids: milliseconds since 2015-01-01 in the top 42
  bits, then 10 bits of worker, then a 12-bit counter. Ids are strictly
  increasing within a VM (an atomic compare-and-swap on the last one), so
  that a channel's history sorts in the order its messages were made.
  """
  import Bitwise

  @epoch 1_420_070_400_000

  @key {__MODULE__, :last}

  @doc "Sets up the counter `next/0` uses; the application calls it at start."
  @spec init() :: :ok
  def init, do: :persistent_term.put(@key, :atomics.new(1, signed: true))

  @doc """
  A fresh id, greater than every id this VM made before: ids are the order
  of events. Within a millisecond they count up from the clock's id (and a
  clock that steps back does not make them go back).
  """
  @spec next() :: pos_integer
  def next do
    advance(:persistent_term.get(@key), (System.os_time(:millisecond) - @epoch) <<< 22 ||| 1 <<< 12)
  end

  defp advance(ref, from_clock) do
    last = :atomics.get(ref, 1)
    id = max(from_clock, last + 1)
    if :atomics.compare_exchange(ref, 1, last, id) == :ok, do: id, else: advance(ref, from_clock)
  end

  @doc "The time an id was made, as an ISO 8601 timestamp (`2026-11-29T00:36:33.785Z`)."
  @spec timestamp(pos_integer) :: String.t()
  def timestamp(id) do
    # Built directly as a binary: every message payload carries one, and
    # DateTime.to_iso8601/1 or :calendar's formatter cost several times more.
    ms = (id >>> 22) + @epoch
    {{y, mo, d}, {h, mi, s}} = :calendar.system_time_to_universal_time(div(ms, 1000), :second)
    frac = rem(ms, 1000)

    <<pad2(div(y, 100))::binary, pad2(rem(y, 100))::binary, ?-, pad2(mo)::binary, ?-, pad2(d)::binary, ?T, pad2(h)::binary, ?:,
      pad2(mi)::binary, ?:, pad2(s)::binary, ?., ?0 + div(frac, 100), pad2(rem(frac, 100))::binary, ?Z>>
  end

  @two_digits List.to_tuple(for n <- 0..99, do: n |> Integer.to_string() |> String.pad_leading(2, "0"))
  defp pad2(n), do: elem(@two_digits, n)
end
