defmodule Realtime.Bench.Sink do
  @moduledoc """
  Stand-ins for sessions in `mix bench cluster`: processes, on any node,
  that receive numbered events stamped with the OS clock (shared by nodes on
  one machine), keep the delivery delay of every 10th, and report when the
  last event arrives.
  """

  @doc "Starts `Realtime.Fanout.Supervisor` on this node, detached from the caller (for peer nodes)."
  @spec start_fanout() :: :ok
  def start_fanout do
    {:ok, pid} = Realtime.Fanout.Supervisor.start_link([])
    Process.unlink(pid)
    :ok
  end

  @doc """
  Spawns `n` sinks that expect events `{:ev, i, sent_us, payload}` for `i`
  in `1..events` and send `{:sink_done, pid, done_us, delays_us}` to
  `report_to` after the last.
  """
  @spec spawn_many(pos_integer, pos_integer, pid) :: [pid]
  def spawn_many(n, events, report_to), do: for(_ <- 1..n, do: spawn(fn -> loop(events, report_to, []) end))

  defp loop(events, report_to, delays) do
    receive do
      {:ev, i, sent_us, _payload} ->
        now = System.os_time(:microsecond)
        delays = if rem(i, 10) == 0, do: [now - sent_us | delays], else: delays
        if i == events, do: send(report_to, {:sink_done, self(), now, delays}), else: loop(events, report_to, delays)
    end
  end
end
