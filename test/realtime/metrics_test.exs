defmodule Realtime.MetricsTest do
  use ExUnit.Case, async: true
  require Realtime.Metrics, as: Metrics

  alias Realtime.Metrics.Prometheus

  test "counters count, gauges go up and down, and undeclared labels count as other" do
    before = Metrics.value(:dispatched, "TYPING_START")
    for _ <- 1..5, do: Metrics.inc(:dispatched, "TYPING_START")
    t = "TYPING_START"
    Metrics.inc(:dispatched, t, 3)
    assert Metrics.value(:dispatched, "TYPING_START") >= before + 8

    other = Metrics.value(:dispatched, "other")
    Metrics.inc(:dispatched, "SOMETHING_NEW")
    assert Metrics.value(:dispatched, "other") >= other + 1
  end

  test "counters hold under concurrent increments from every scheduler" do
    before = Metrics.value(:slow_consumers)
    1..8 |> Enum.map(fn _ -> Task.async(fn -> for _ <- 1..10_000, do: Metrics.inc(:slow_consumers) end) end) |> Enum.each(&Task.await/1)
    assert Metrics.value(:slow_consumers) - before >= 80_000
  end

  test "histograms record values and read back quantiles and cumulative buckets" do
    for us <- 1..1_000, do: Metrics.observe(:member_list, nil, us * 10)
    assert_in_delta Metrics.quantile(:member_list, nil, 0.5), 0.005, 0.0015
    %{histograms: hs} = Metrics.read()
    {_, _, [{[], bounds, cumulative, count, sum}]} = Enum.find(hs, &(elem(&1, 0) == "realtime_guild_member_list_update_seconds"))
    assert count >= 1_000 and sum > 0
    assert cumulative == Enum.sort(cumulative) and List.last(cumulative) <= count
    assert length(bounds) == length(cumulative)
  end

  test "the exposition has HELP and TYPE lines, labelled series and histogram buckets" do
    text = IO.iodata_to_binary(Prometheus.render(Metrics.read(), %{}, [{{:long_gc, "Realtime.Guild"}, 2}]))
    assert text =~ "# TYPE realtime_gateway_events_dispatched_total counter\n"
    assert text =~ ~s(realtime_gateway_events_dispatched_total{type="MESSAGE_CREATE"} )
    assert text =~ "# TYPE realtime_gateway_identify_seconds histogram\n"
    assert text =~ ~s(realtime_gateway_identify_seconds_bucket{le="+Inf"} )
    assert text =~ ~s(realtime_system_monitor_events_total{event="long_gc",source="Realtime.Guild"} 2\n)
  end
end
