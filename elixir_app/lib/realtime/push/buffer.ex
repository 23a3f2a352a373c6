defmodule Realtime.Push.Buffer do
  @moduledoc """
  A bounded buffer of push jobs between the guilds that make them and the
  senders that deliver them, with the semantics of Discord's `dispenser`:

    * it holds at most `capacity` jobs; past that it drops, by `policy`,
      the oldest (`:drop_oldest`, the default: the newest mention matters
      most) or the newest (`:drop_newest`), and counts what it dropped;
    * senders ask for up to `n` jobs (`ask/2`) and are sent a batch as soon
      as there is one (`{:push_batch, jobs}`); demand waits here while the
      buffer is empty, so nothing is pushed at a sender that did not ask.

  Memory is bounded by the capacity, whatever the sinks do. Built on plain
  OTP (GenStage is a hex package).
  """
  use GenServer
  require Realtime.Metrics, as: Metrics

  defstruct queue: :queue.new(), size: 0, capacity: 100_000, policy: :drop_oldest, dropped: 0, demand: :queue.new()

  @doc false
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: Keyword.get(opts, :name, __MODULE__))

  @doc "Adds jobs (oldest first)."
  @spec push(GenServer.server(), [term]) :: :ok
  def push(buffer \\ __MODULE__, jobs), do: GenServer.cast(buffer, {:push, jobs})

  @doc "Asks for up to `n` jobs; they arrive as `{:push_batch, jobs}` when there are any."
  @spec ask(GenServer.server(), pos_integer) :: :ok
  def ask(buffer \\ __MODULE__, n), do: GenServer.cast(buffer, {:ask, self(), n})

  @doc "How many jobs are held, the capacity, and how many were dropped."
  @spec stats(GenServer.server(), timeout) :: %{size: non_neg_integer, capacity: pos_integer, dropped: non_neg_integer}
  def stats(buffer \\ __MODULE__, timeout \\ 5_000), do: GenServer.call(buffer, :stats, timeout)

  @impl true
  def init(opts) do
    {:ok, %__MODULE__{capacity: Keyword.get(opts, :capacity, 100_000), policy: Keyword.get(opts, :policy, :drop_oldest)}}
  end

  @impl true
  def handle_cast({:push, jobs}, b), do: {:noreply, b |> add(jobs) |> serve()}
  def handle_cast({:ask, pid, n}, b), do: {:noreply, serve(%{b | demand: :queue.in({pid, n}, b.demand)})}

  @impl true
  def handle_call(:stats, _from, b), do: {:reply, %{size: b.size, capacity: b.capacity, dropped: b.dropped}, b}

  # Pure: the buffer after adding `jobs` under the drop policy.
  @doc false
  @spec add(%__MODULE__{}, [term]) :: %__MODULE__{}
  def add(b, jobs) do
    {queue, size} = Enum.reduce(jobs, {b.queue, b.size}, fn job, {q, n} -> {:queue.in(job, q), n + 1} end)
    over = size - b.capacity

    if over > 0 do
      Metrics.inc(:push_dropped, "overflow", over)
      queue = drop(queue, over, b.policy)
      %{b | queue: queue, size: b.capacity, dropped: b.dropped + over}
    else
      %{b | queue: queue, size: size}
    end
  end

  defp drop(queue, n, :drop_oldest), do: elem(:queue.split(n, queue), 1)
  defp drop(queue, n, :drop_newest), do: elem(:queue.split(:queue.len(queue) - n, queue), 0)

  # Hands jobs to waiting senders, oldest demand first, while there are both.
  defp serve(%{size: 0} = b), do: b

  defp serve(b) do
    case :queue.out(b.demand) do
      {:empty, _} ->
        b

      {{:value, {pid, n}}, demand} ->
        take = min(n, b.size)
        {batch, rest} = :queue.split(take, b.queue)
        send(pid, {:push_batch, :queue.to_list(batch)})
        serve(%{b | queue: rest, size: b.size - take, demand: demand})
    end
  end
end
