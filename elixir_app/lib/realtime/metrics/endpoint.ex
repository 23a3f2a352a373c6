defmodule Realtime.Metrics.Endpoint do
  @moduledoc """
  The operators' port (`METRICS_PORT`, default 9568, on loopback by
  default: metrics are not for the public internet):

    * `GET /metrics` - Prometheus text exposition 0.0.4;
    * `GET /status` - a live status page (`priv/status/index.html`: plain
      HTML and JS, no framework, no CDN), which polls
    * `GET /status.json` - the latest sample, once a second.

  Nothing here samples on request: `/metrics` reads counters and
  histograms, and the probes come from `Realtime.Metrics.Sampler`.
  """
  @behaviour :cowboy_handler

  alias Realtime.JSON
  alias Realtime.Metrics
  alias Realtime.Metrics.{Prometheus, Sampler}

  @doc "A child spec for the listener. Options: `:port` (0 picks one), `:ip`, `:ref`."
  @spec child_spec(keyword) :: Supervisor.child_spec()
  def child_spec(opts) do
    ref = Keyword.get(opts, :ref, __MODULE__)
    dispatch = :cowboy_router.compile([{:_, [{"/[...]", __MODULE__, []}]}])
    socket_opts = [ip: Keyword.get(opts, :ip, {127, 0, 0, 1}), port: Keyword.get(opts, :port, 9568)]
    :ranch.child_spec(ref, :ranch_tcp, %{socket_opts: socket_opts, num_acceptors: 2}, :cowboy_clear, %{env: %{dispatch: dispatch}})
  end

  @doc "The port a running listener is bound to."
  @spec port(atom) :: :inet.port_number()
  def port(ref \\ __MODULE__), do: :ranch.get_port(ref)

  @impl true
  def init(req, opts) do
    req =
      case {:cowboy_req.method(req), :cowboy_req.path(req)} do
        {"GET", "/metrics"} ->
          body = Prometheus.render(Metrics.read(), Sampler.latest(), Sampler.monitor_events())
          :cowboy_req.reply(200, %{"content-type" => Prometheus.content_type()}, body, req)

        {"GET", "/status.json"} ->
          :cowboy_req.reply(200, %{"content-type" => "application/json", "cache-control" => "no-store"}, JSON.encode(status()), req)

        {"GET", path} when path in ["/status", "/status/"] ->
          page = File.read!(Path.join(:code.priv_dir(:realtime), "status/index.html"))
          :cowboy_req.reply(200, %{"content-type" => "text/html; charset=utf-8"}, page, req)

        _ ->
          :cowboy_req.reply(404, %{"content-type" => "text/plain"}, "not found\n", req)
      end

    {:ok, req, opts}
  end

  @doc "What the status page shows: the latest sample, with string keys."
  @spec status() :: map
  def status do
    s = Sampler.latest()

    if s == %{} do
      %{"ready" => false}
    else
      %{
        "ready" => true,
        "at" => s.at,
        "sessions" => stringify(s.sessions),
        "events_per_second" => s.events_per_second,
        "deliveries_per_second" => s.deliveries_per_second,
        "identify_p99_seconds" => s.identify_p99,
        "dispatch_p99_seconds" => s.dispatch_p99,
        "busiest_guilds" => Enum.map(s.busiest_guilds, &stringify/1),
        "guilds" => stringify(s.guilds),
        "memory" => stringify(s.memory),
        "nif_memory" => stringify(s.nif_memory),
        "schedulers" => Enum.map(s.schedulers, &%{"kind" => to_string(&1.kind), "id" => &1.id, "utilization" => &1.utilization}),
        "scheduler_total" => s.scheduler_total,
        "run_queues" => s.run_queues,
        "processes" => s.processes
      }
    end
  end

  defp stringify(map), do: Map.new(map, fn {k, v} -> {to_string(k), v} end)
end
