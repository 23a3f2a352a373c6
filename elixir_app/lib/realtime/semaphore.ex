defmodule Realtime.Semaphore do
  @moduledoc """
  Named counting semaphores in ETS, in the manner of Discord's `semaphore`
  library: `acquire/2` takes one of `max` slots of a name or says the
  semaphore is full, with one atomic `:ets.update_counter/4` in the calling
  process. No process is asked on the way in.

  A slot frees itself when its holder dies: every acquisition is recorded
  under the holder's pid, and this module's process monitors holders and
  gives back what a dead one held. A slot can also be leased for a time
  (`acquire_lease/3`), which is how a rate such as "one identify per 5 s"
  is built from a semaphore of one slot.

  Names are any terms. The table is created by this module's process,
  which is started in the application's supervision tree.
  """
  use GenServer

  @counts Realtime.Semaphore.Counts
  @holders Realtime.Semaphore.Holders

  @doc false
  def start_link(_opts), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @doc """
  Takes a slot of `name` (at most `max` held at once) for the calling
  process, until `release/1` or its death. Returns a ref to release it
  with, or `:full`.
  """
  @spec acquire(term, pos_integer) :: {:ok, reference} | :full
  def acquire(name, max), do: take(name, max, self())

  @doc """
  Takes a slot of `name` for `ms` milliseconds, whoever asks: it is freed
  when the time is up, not when the caller exits. Returns `:ok` or `:full`.
  """
  @spec acquire_lease(term, pos_integer, non_neg_integer) :: :ok | :full
  def acquire_lease(name, max, ms) do
    case take(name, max, Process.whereis(__MODULE__)) do
      {:ok, ref} ->
        Process.send_after(__MODULE__, {:expire, ref}, ms)
        :ok

      :full ->
        :full
    end
  end

  defp take(name, max, holder) do
    # One atomic step: add 1 unless that would pass `max` (then it stays at max).
    [before, _] = :ets.update_counter(@counts, name, [{2, 0}, {2, 1, max, max}], {name, 0})

    if before < max do
      ref = make_ref()
      :ets.insert(@holders, {ref, name, holder})
      if holder != Process.whereis(__MODULE__), do: GenServer.cast(__MODULE__, {:monitor, holder})
      {:ok, ref}
    else
      :full
    end
  end

  @doc "Gives back a slot taken by `acquire/2`. Releasing twice is a no-op."
  @spec release(reference) :: :ok
  def release(ref) do
    case :ets.take(@holders, ref) do
      [{^ref, name, _holder}] -> give_back(name)
      [] -> :ok
    end
  end

  defp give_back(name) do
    :ets.update_counter(@counts, name, {2, -1, 0, 0})
    :ok
  end

  @doc "How many slots of `name` are held."
  @spec count(term) :: non_neg_integer
  def count(name) do
    case :ets.lookup(@counts, name) do
      [{_, n}] -> n
      [] -> 0
    end
  end

  @impl true
  def init(nil) do
    :ets.new(@counts, [:named_table, :set, :public, write_concurrency: true])
    :ets.new(@holders, [:named_table, :set, :public, write_concurrency: true])
    {:ok, %{}}
  end

  @impl true
  def handle_cast({:monitor, pid}, monitored) do
    if Map.has_key?(monitored, pid),
      do: {:noreply, monitored},
      else: {:noreply, Map.put(monitored, pid, Process.monitor(pid))}
  end

  @impl true
  def handle_info({:expire, ref}, monitored) do
    release(ref)
    {:noreply, monitored}
  end

  def handle_info({:DOWN, _, :process, pid, _}, monitored) do
    for ref <- :ets.select(@holders, [{{:"$1", :_, pid}, [], [:"$1"]}]), do: release(ref)
    {:noreply, Map.delete(monitored, pid)}
  end
end
