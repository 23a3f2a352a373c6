defmodule Realtime.Application do
  @moduledoc """
  The OTP application. Its supervision tree is the architecture:

      Realtime.Supervisor
      ├── Realtime.Metrics.Sampler          samples the VM and guilds once a second; system monitor
      ├── Realtime.Fanout.Supervisor        delivery processes for fanout
      ├── Realtime.WindowCounter            windowed counters (REST rate limits, session starts)
      ├── Realtime.Semaphore                counting semaphores (identify concurrency)
      ├── Realtime.Cluster.Membership       members (configured ∩ connected nodes) → the hash ring
      ├── Realtime.Cluster.Watcher          watches local sessions for guilds on other nodes, in batches
      ├── Realtime.Store                    opens the durable store (SQLite or PostgreSQL), migrates it
      ├── Realtime.Directory                users, tokens, channel → guild (ETS)
      ├── Realtime.Guild.Registry           guild id → pid (see Realtime.Guild.Placement)
      ├── Realtime.Push.Supervisor          (rest_for_one) preferences, the bounded buffer, senders to the sink
      ├── Realtime.Guild.Supervisor         (rest_for_one)
      │   ├── Realtime.Guild.DynamicSupervisor  one Realtime.Guild per guild, each loaded from the store
      │   └── Realtime.Guild.Loader         imports the seed once, then starts the stored guilds
      ├── Realtime.Gateway.SessionRegistry  session id → pid
      ├── Realtime.Gateway.SessionSupervisor  one Realtime.Gateway.Session per session
      ├── Realtime.Gateway.Listener         Cowboy: WebSocket gateway and REST (unless disabled)
      └── Realtime.Metrics.Endpoint         Cowboy on METRICS_PORT: /metrics, /status (unless disabled)

  Configuration (application env): `:listener` (`false` to not listen, as in
  tests; otherwise the port comes from `PORT`, default 4000), `:store` and
  `:data_dir` (see `Realtime.Store`), `:seed` (see `Realtime.Seed`),
  `:heartbeat_interval`, `:resume_window`, `:replay_buffer`, `:rate_limit`
  (`{frames, window_ms}`, default `{120, 60_000}`), `:max_guilds_per_shard`,
  `:passive_members` (default 75,000), `:passive_update_ms` (default 1,000),
  `:announce` (`false` to not print the start banner), `:cluster_nodes` (see
  `Realtime.Cluster.Membership`).
  """
  use Application

  @impl true
  @spec start(Application.start_type(), term) :: {:ok, pid} | {:error, term}
  def start(_type, _args) do
    # Load every module now, as a release does: stored rows are decoded with
    # `binary_to_term(_, [:safe])`, which only accepts atoms that exist, and
    # in interactive mode a module's atoms exist once it is loaded.
    for module <- Application.spec(:realtime, :modules), do: Code.ensure_loaded!(module)
    Realtime.Snowflake.init()
    Realtime.Metrics.init()
    seed = Realtime.Seed.configured()
    port = String.to_integer(System.get_env("PORT", "4000"))
    metrics_port = String.to_integer(System.get_env("METRICS_PORT", "9568"))
    listen? = Application.get_env(:realtime, :listener, true)
    if listen?, do: Application.put_env(:realtime, :gateway_url, "ws://127.0.0.1:#{port}")

    children =
      [
        Realtime.Metrics.Sampler,
        Realtime.Fanout.Supervisor,
        Realtime.WindowCounter,
        Realtime.Semaphore,
        Realtime.Cluster.Membership,
        Realtime.Cluster.Watcher,
        Realtime.Store,
        {Realtime.Directory, seed},
        {Registry, keys: :unique, name: Realtime.Guild.Registry},
        Realtime.Push,
        {Realtime.Guild.Supervisor, seed.guilds},
        {Registry, keys: :unique, name: Realtime.Gateway.SessionRegistry},
        {DynamicSupervisor, name: Realtime.Gateway.SessionSupervisor, strategy: :one_for_one}
      ] ++ if(listen?, do: [{Realtime.Gateway.Listener, port: port}, {Realtime.Metrics.Endpoint, port: metrics_port}], else: [])

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Realtime.Supervisor) do
      # Only now may other nodes hand guilds to this one.
      :ok = Realtime.Cluster.Membership.ready()
      if listen? and Application.get_env(:realtime, :announce, true), do: announce(port, metrics_port, seed)
      {:ok, pid}
    end
  end

  defp announce(port, metrics_port, seed) do
    bot = Enum.find(seed.users, & &1.token)

    IO.puts("""
    Realtime gateway is up.
      WebSocket gateway: ws://127.0.0.1:#{port}/?v=10&encoding=json
      REST base:         http://127.0.0.1:#{port}/api/v10
      Demo bot token:    #{bot.token}
      Store:             #{Realtime.Store.where()}
      Metrics:           http://127.0.0.1:#{metrics_port}/metrics (status page: /status)
    """)
  end
end
