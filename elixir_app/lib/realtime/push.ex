defmodule Realtime.Push do
  @moduledoc """
  Push notifications for members a message mentions while they are
  offline: no session, or only passive ones. The guild computes who, with
  bitmaps, as it dispatches (`Realtime.Guild.Audience`), and hands the
  jobs here; `Realtime.Push.Buffer` holds them (bounded, dropping the
  oldest) and `Realtime.Push.Sender`s deliver them in batches to a sink.

  A message reaches at most `cap_per_message` members (10,000 by default;
  the rest are counted in `realtime_push_capped_total`), so an `@everyone`
  in a huge guild cannot flood the buffer.

  ## Configuration

    * `REALTIME_PUSH_WEBHOOK=https://...` - POST batches there
      (`Realtime.Push.Webhook`);
    * `REALTIME_PUSH_FILE=path` - append JSON lines there
      (`Realtime.Push.FileSink`);
    * application env `:push` (a keyword list) overrides: `:sink`
      (`{module, config}`), `:capacity` (100,000), `:policy`
      (`:drop_oldest` or `:drop_newest`), `:senders` (4), `:batch` (500),
      `:attempts` (5), `:backoff_ms` (200), `:backoff_max_ms` (10,000),
      `:cap_per_message` (10,000).

  Without a sink, nothing is computed or queued.
  """
  require Realtime.Metrics, as: Metrics

  alias Realtime.Push.{Buffer, Preferences, Sender}

  @defaults [capacity: 100_000, policy: :drop_oldest, senders: 4, batch: 500, attempts: 5, backoff_ms: 200, backoff_max_ms: 10_000, cap_per_message: 10_000]

  @doc "The settings in force, with the sink (`nil` when pushes are off)."
  @spec config() :: keyword
  def config do
    sink =
      cond do
        url = System.get_env("REALTIME_PUSH_WEBHOOK") -> {Realtime.Push.Webhook, %{url: url}}
        path = System.get_env("REALTIME_PUSH_FILE") -> {Realtime.Push.FileSink, %{path: path}}
        true -> nil
      end

    Keyword.merge(@defaults ++ [sink: sink], Application.get_env(:realtime, :push, []))
  end

  @doc "Whether a sink is configured."
  @spec enabled?() :: boolean
  def enabled?, do: :persistent_term.get({__MODULE__, :enabled}, false)

  @doc "The most members one message is pushed to."
  @spec cap() :: non_neg_integer
  def cap, do: :persistent_term.get({__MODULE__, :cap}, 10_000)

  @doc """
  Queues pushes about `msg` (a guild message) to `user_ids`; `capped` more
  were left out by the cap.
  """
  @spec notify(map, [integer], non_neg_integer) :: :ok
  def notify(_msg, [], 0), do: :ok

  def notify(msg, user_ids, capped) do
    if capped > 0, do: Metrics.inc(:push_capped, nil, capped)
    Metrics.inc(:push_enqueued, nil, length(user_ids))
    Buffer.push(Realtime.Push.Job.for_message(msg, user_ids))
  end

  @doc false
  def child_spec(_opts) do
    config = config()
    :persistent_term.put({__MODULE__, :enabled}, config[:sink] != nil)
    :persistent_term.put({__MODULE__, :cap}, config[:cap_per_message])
    senders = if config[:sink], do: for(i <- 1..config[:senders], do: Supervisor.child_spec({Sender, Map.new(config) |> Map.put(:buffer, Buffer)}, id: {Sender, i})), else: []
    children = [Preferences, {Buffer, capacity: config[:capacity], policy: config[:policy]} | senders]
    %{id: __MODULE__, type: :supervisor, start: {Supervisor, :start_link, [children, [strategy: :rest_for_one, name: Realtime.Push.Supervisor]]}}
  end
end
