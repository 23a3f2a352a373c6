defmodule Realtime.Push.Sender do
  @moduledoc """
  One of the processes that deliver pushes: it asks `Realtime.Push.Buffer`
  for a batch, leaves out what the user muted, and hands the rest to the
  sink. A failed delivery is retried after a capped exponential backoff
  with jitter (`backoff_ms * 2^attempt`, at most `backoff_max_ms`, then a
  random part of it); after `attempts` tries the batch goes to the
  dead-letter count, never into an unbounded retry list. The sender asks
  for more only when it is done, so a slow sink slows the senders and the
  buffer, which is bounded, drops instead.
  """
  use GenServer
  require Realtime.Metrics, as: Metrics

  alias Realtime.Push.{Buffer, Preferences}

  @doc false
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts)

  @impl true
  def init(opts) do
    state = Map.new(opts)
    Buffer.ask(state.buffer, state.batch)
    {:ok, state}
  end

  @impl true
  def handle_info({:push_batch, jobs}, state) do
    {keep, muted} = Enum.split_with(jobs, &(not muted?(&1)))
    if muted != [], do: Metrics.inc(:push_dropped, "muted", length(muted))
    if keep != [], do: deliver(keep, state, 0)
    Buffer.ask(state.buffer, state.batch)
    {:noreply, state}
  end

  defp muted?({user_id, guild_id, channel_id, _}), do: Preferences.muted?(user_id, guild_id, channel_id)

  defp deliver(batch, state, attempt) do
    {sink, config} = state.sink

    case sink.deliver(batch, config) do
      :ok ->
        Metrics.inc(:push_delivered, nil, length(batch))

      {:error, _reason} when attempt + 1 < state.attempts ->
        Metrics.inc(:push_retries)
        Process.sleep(backoff(attempt, state))
        deliver(batch, state, attempt + 1)

      {:error, _reason} ->
        Metrics.inc(:push_dead_letter, nil, length(batch))
    end
  end

  @doc "The wait before retry `attempt` (0-based): capped exponential, with jitter in its upper half."
  @spec backoff(non_neg_integer, map) :: pos_integer
  def backoff(attempt, %{backoff_ms: base, backoff_max_ms: max}) do
    ceiling = min(max, base * Bitwise.bsl(1, min(attempt, 30)))
    div(ceiling, 2) + :rand.uniform(max(div(ceiling, 2), 1))
  end
end
