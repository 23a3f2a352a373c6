defmodule Realtime.Metrics.EndpointTest do
  @moduledoc """
  The operators' port with real traffic on the gateway: `/metrics` checked
  by Prometheus' own promtool, the alert rules checked and unit-tested by
  promtool, and the status page driven in headless Chromium.
  """
  use Realtime.Test.GatewayCase, async: false

  alias Realtime.{Guild, JSON}
  alias Realtime.Guild.Placement
  alias Realtime.Metrics.{Endpoint, Sampler}

  @promtool Path.expand("../../../_vendor/bin/promtool", __DIR__)
  @rules Path.expand("../../fixtures/prometheus", __DIR__)
  @python Path.expand("../../../.venv/bin/python", __DIR__)
  @browser Path.expand("../../support/status_page_browser.py", __DIR__)
  @ada 1_200_000_000_000_000_001

  setup_all do
    ref = :"metrics_#{System.unique_integer([:positive])}"
    {:ok, _} = Supervisor.start_child(Realtime.Supervisor, {Endpoint, port: 0, ref: ref})

    on_exit(fn ->
      Supervisor.terminate_child(Realtime.Supervisor, {:ranch_embedded_sup, ref})
      Supervisor.delete_child(Realtime.Supervisor, {:ranch_embedded_sup, ref})
    end)

    {:ok, metrics_port: Endpoint.port(ref)}
  end

  defp get(port, path) do
    {:ok, conn} = :gun.open(~c"127.0.0.1", port, %{protocols: [:http], retry: 0})
    {:ok, :http} = :gun.await_up(conn, 5_000)
    ref = :gun.get(conn, path)
    {:response, :nofin, status, headers} = :gun.await(conn, ref, 5_000)
    {:ok, body} = :gun.await_body(conn, ref, 5_000)
    :gun.close(conn)
    {status, Map.new(headers), body}
  end

  defp value(text, series) do
    case Regex.run(~r/^#{Regex.escape(series)} (\S+)$/m, text) do
      [_, v] -> v |> Float.parse() |> elem(0)
      nil -> flunk("no series #{series}")
    end
  end

  defp connected(port) do
    c = Client.connect(port)
    Client.identify(c, @demo)
    for _ <- 1..2, do: Client.await_dispatch(c, "GUILD_CREATE")
    c
  end

  test "gateway traffic shows in /metrics, which promtool accepts", %{port: port, metrics_port: mport} do
    {200, _, before} = get(mport, "/metrics")
    c = connected(port)
    {:ok, hq} = Placement.lookup(@hq)
    {:ok, _} = Guild.create_message(hq, @general, @ada, "counted")
    Client.await_dispatch(c, "MESSAGE_CREATE")
    bad = Client.connect(port)
    {:frame, %{"op" => 10}} = Client.recv(bad)
    Client.send_frame(bad, 2, %{"token" => "not-a-token", "intents" => 1, "properties" => %{}})
    assert {:close, 4004} = Client.recv(bad)
    Sampler.sample()

    {200, headers, text} = get(mport, "/metrics")
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    grew = fn series -> value(text, series) > value(before, series) end
    assert grew.("realtime_gateway_identifies_total")
    assert grew.("realtime_gateway_connections_total")
    assert grew.(~s(realtime_gateway_events_dispatched_total{type="MESSAGE_CREATE"}))
    assert grew.(~s(realtime_gateway_events_delivered_total{type="MESSAGE_CREATE"}))
    assert grew.(~s(realtime_gateway_close_codes_total{code="4004"}))
    assert grew.("realtime_gateway_identify_seconds_count")
    assert grew.("realtime_gateway_delivery_seconds_count")
    assert grew.(~s(realtime_gateway_out_bytes_total{stage="sent"}))
    assert value(text, ~s(realtime_gateway_sessions{state="connected"})) >= 1
    assert value(text, "realtime_guilds") == 2
    assert value(text, ~s(realtime_beam_memory_bytes{type="total"})) > 0
    assert value(text, ~s(realtime_nif_memory_bytes{kind="allocated"})) > 0

    path = Path.join(System.tmp_dir!(), "metrics-#{System.unique_integer([:positive])}.txt")
    File.write!(path, text)
    {out, status} = System.cmd("sh", ["-c", "#{@promtool} check metrics < #{path}"], stderr_to_stdout: true)
    File.rm(path)
    assert status == 0, out
  end

  test "system monitor reports are counted by where they came from", %{metrics_port: mport} do
    send(Sampler, {:monitor, self(), :long_gc, [timeout: 80, heap_size: 1]})
    info = [timeout: 25, in: {Realtime.Fanout, :send, 3}, out: {Realtime.Fanout, :send, 3}]
    send(Sampler, {:monitor, Process.whereis(Realtime.Directory), :long_schedule, info})
    Sampler.sample()
    {200, _, text} = get(mport, "/metrics")
    assert value(text, ~s(realtime_system_monitor_events_total{event="long_schedule",source="Realtime.Fanout"})) >= 1
    assert text =~ ~s(realtime_system_monitor_events_total{event="long_gc",source=)
  end

  test "promtool accepts the alert rules, and its rule tests make them fire" do
    {out, status} = System.cmd(@promtool, ["check", "rules", "../../../priv/prometheus/alerts.yml"], cd: @rules, stderr_to_stdout: true)
    assert status == 0 and out =~ "SUCCESS: 7 rules found", out
    {out, status} = System.cmd(@promtool, ["test", "rules", "alerts_test.yml"], cd: @rules, stderr_to_stdout: true)
    assert status == 0 and out =~ "SUCCESS", out
  end

  @tag :tmp_dir
  @tag timeout: 120_000
  test "the status page updates every second in a real browser, and shows the traffic", %{port: port, metrics_port: mport, tmp_dir: tmp} do
    _c = connected(port)
    shot = Path.join(tmp, "status.png")
    browser = Task.async(fn -> System.cmd(@python, [@browser, "http://127.0.0.1:#{mport}/status", shot, "8"], stderr_to_stdout: true) end)

    # Quiet first, then about 40 messages a second for four seconds.
    Process.sleep(3_000)
    {:ok, hq} = Placement.lookup(@hq)
    for i <- 1..160 do
      Process.sleep(25)
      {:ok, _} = Guild.create_message(hq, @general, @ada, "status #{i}")
    end

    {out, status} = Task.await(browser, 90_000)
    assert status == 0, out
    %{"title" => "Realtime status", "readings" => readings} = out |> String.split("\n", trim: true) |> List.last() |> JSON.decode() |> elem(1)

    assert readings |> Enum.map(& &1["updated"]) |> Enum.uniq() |> length() >= 3, inspect(readings)
    events = Enum.map(readings, &String.to_integer(&1["events"]))
    assert Enum.any?(events, &(&1 == 0)) and Enum.any?(events, &(&1 >= 10)), inspect(events)
    assert Enum.all?(readings, &(String.to_integer(&1["sessions"]) >= 1))
    assert List.last(readings)["plot"] != hd(readings)["plot"]
    assert <<137, "PNG", _::binary>> = File.read!(shot)
  end
end
