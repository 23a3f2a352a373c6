defmodule Realtime.Cluster.WatcherTest do
  use ExUnit.Case, async: false

  alias Realtime.Cluster.Watcher
  alias Realtime.Test.ClusterPeers

  @sessions 2_000

  test "sessions that end on another node arrive in a few batches, and a lost node is one message" do
    {peer, node} = ClusterPeers.start!("watched_#{System.unique_integer([:positive])}")
    :ok = :erpc.call(node, ClusterPeers, :start_detached, [Watcher])
    sessions = :erpc.call(node, ClusterPeers, :spawn_recorders, [@sessions])
    # The test process plays a guild: watcher per session, monitor per node.
    true = :erlang.monitor_node(node, true)
    for s <- sessions, do: Watcher.watch(s, self())
    # Once the watcher answers this, it has handled every watch request
    # (they came before on the same connection).
    _ = :erpc.call(node, :sys, :get_state, [Watcher])

    {ended, alive} = Enum.split(sessions, 1_500)
    for s <- ended, do: Process.exit(s, :kill)

    batches = collect_batches(MapSet.new(ended), [])
    assert batches |> List.flatten() |> Enum.sort() == Enum.sort(ended)
    # 1,500 exits within a few batch windows: a handful of messages.
    assert length(batches) <= 5, "#{length(batches)} messages for 1,500 exits"

    :peer.stop(peer)
    assert_receive {:nodedown, ^node}, 10_000
    # No message per remaining session.
    refute_receive {:sessions_down, _}, 200
    assert length(alive) == 500
  end

  defp collect_batches(waiting, acc) do
    if MapSet.size(waiting) == 0 do
      Enum.reverse(acc)
    else
      receive do
        {:sessions_down, pids} -> collect_batches(MapSet.difference(waiting, MapSet.new(pids)), [pids | acc])
      after
        10_000 -> flunk("#{MapSet.size(waiting)} ended sessions were never reported")
      end
    end
  end
end
