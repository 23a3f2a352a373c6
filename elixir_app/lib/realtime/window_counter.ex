defmodule Realtime.WindowCounter do
  @moduledoc """
  Counters over time windows, shared by every process: "how many requests
  in this window, and when does it end". The REST rate limits and the
  gateway's session-start limit count with it.

  A window opens at a key's first hit and lasts the period given with it.
  Counters are rows `{key, count, ends_at}` of one public ETS table,
  updated with `:ets.update_counter/4` by the counting processes
  themselves, so no process sits on the hot path. A window that has run out
  is restarted with a compare-and-swap (`:ets.select_replace/2` on the
  exact row read): of two hits that find it expired, exactly one restarts
  it and both are counted in the new window. This module's process owns the
  table and sweeps expired rows now and then.

  Times are `System.monotonic_time(:millisecond)` unless a caller passes
  its own clock, as tests do.
  """
  use GenServer

  @table __MODULE__
  @sweep_every 10_000

  @doc false
  def start_link(_opts), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @doc """
  Counts one hit on `key`: returns the count in the current window (this
  hit included) and when the window ends, opening a window of `period` ms
  at `now` if there is none or it has run out.
  """
  @spec hit(term, pos_integer, integer, :ets.table()) :: {pos_integer, integer}
  def hit(key, period, now \\ now(), table \\ @table), do: hit(table, key, period, now, 8)

  defp hit(table, key, period, now, tries) do
    [count, ends_at] = :ets.update_counter(table, key, [{2, 1}, {3, 0}], {key, 0, now + period})

    cond do
      ends_at > now ->
        {count, ends_at}

      :ets.select_replace(table, [{{key, count, ends_at}, [], [{:const, {key, 1, now + period}}]}]) == 1 ->
        {1, now + period}

      # Another hit changed the row since it was read: read it again. One
      # that keeps losing the race is counted in the new window instead of
      # looping.
      tries > 0 ->
        hit(table, key, period, now, tries - 1)

      true ->
        {count, now + period}
    end
  end

  @doc "The current window of `key` without counting: `{count, ends_at}`, `{0, now + period}` if none."
  @spec peek(term, pos_integer, integer, :ets.table()) :: {non_neg_integer, integer}
  def peek(key, period, now \\ now(), table \\ @table) do
    case :ets.lookup(table, key) do
      [{_, count, ends_at}] when ends_at > now -> {count, ends_at}
      _ -> {0, now + period}
    end
  end

  @doc "The clock windows are measured on, in milliseconds."
  @spec now() :: integer
  def now, do: System.monotonic_time(:millisecond)

  @doc "A private counter table for tests; the shared one is `#{inspect(@table)}`."
  @spec new_table() :: :ets.table()
  def new_table, do: :ets.new(__MODULE__, [:set, :public, write_concurrency: true])

  @impl true
  def init(nil) do
    :ets.new(@table, [:named_table, :set, :public, write_concurrency: true, read_concurrency: true])
    Process.send_after(self(), :sweep, @sweep_every)
    {:ok, nil}
  end

  @impl true
  def handle_info(:sweep, state) do
    now = now()
    :ets.select_delete(@table, [{{:_, :_, :"$1"}, [{:<, :"$1", now}], [true]}])
    Process.send_after(self(), :sweep, @sweep_every)
    {:noreply, state}
  end
end
