# mix bench cluster [ROUNDS] [SESSIONS] [EVENTS]
#
# One guild's fanout with its sessions spread over 3 nodes on this machine
# (this VM and two :peer nodes), against the same sessions all on this node,
# in interleaved rounds. The sender is a plain process doing what a guild's
# dispatch does: Realtime.Fanout.send for local sessions and
# Realtime.Fanout.Remote.send for the others (one distribution message per
# node with recipients). Each event carries a shared 1 KB binary.
#
# Prints delivered events/s (all recipients' deliveries over the time until
# the last one arrived), the p99 delivery delay (every 10th event, OS clock),
# and the distribution messages sent per event against one per remote
# recipient (:net_kernel.node_info/1 counts them).
#
# Needs epmd (started here) and loopback. Note that the 3 nodes share this
# machine's cores, so "3 nodes" here measures the protocol's cost, not the
# capacity that 3 machines would add.

defmodule Bench.ClusterScript do
  alias Realtime.{Bench, Bitmap, Fanout}
  alias Realtime.Bench.Sink
  alias Realtime.Fanout.Remote

  def run(args) do
    [rounds, sessions, events] =
      [5, 3000, 300] |> Enum.with_index() |> Enum.map(fn {default, i} -> if a = Enum.at(args, i), do: String.to_integer(a), else: default end)

    {_, 0} = System.cmd("epmd", ["-daemon"])
    {:ok, _} = :net_kernel.start(:"bench_#{System.unique_integer([:positive])}@127.0.0.1", %{name_domain: :longnames, hidden: true})
    cookie = Atom.to_charlist(Node.get_cookie())

    peers =
      for i <- 1..2 do
        {:ok, _, node} = :peer.start_link(%{name: ~c"bench_peer#{i}", host: ~c"127.0.0.1", longnames: true, args: [~c"-setcookie", cookie]})
        :ok = :erpc.call(node, :code, :add_pathsa, [:code.get_path()])
        :ok = :erpc.call(node, Sink, :start_fanout, [])
        node
      end

    IO.puts("\n## One guild's fanout: #{sessions} sessions, #{events} events of 1 KB, #{rounds} interleaved rounds")
    cases = [{"1 node (baseline)", [node()]}, {"3 nodes", [node() | peers]}]

    runs =
      for r <- 1..rounds, {name, nodes} <- if(rem(r, 2) == 0, do: Enum.reverse(cases), else: cases) do
        {name, round(nodes, sessions, events, peers)}
      end

    by = Enum.group_by(runs, &elem(&1, 0), &elem(&1, 1))
    base = by["1 node (baseline)"]
    IO.puts(Enum.map_join(["case", "delivered/s", "ratio (spread)", "p99 delay", "dist msgs/event"], "", &String.pad_trailing(&1, 24)))

    for {name, _} <- cases do
      rs = by[name]
      ratios = Enum.zip_with(rs, base, &(&1.rate / &2.rate)) |> Enum.sort()
      med = fn key -> rs |> Enum.map(& &1[key]) |> Enum.sort() |> Bench.percentile(50) end

      IO.puts(
        Enum.map_join(
          [
            name,
            "#{round(med.(:rate))}",
            "#{f(Bench.percentile(ratios, 50))}x (#{f(hd(ratios))}..#{f(List.last(ratios))})",
            Bench.fmt(med.(:p99_us) * 1000),
            "#{f(med.(:dist_per_event))} (one per recipient: #{med.(:remote_recipients)})"
          ],
          "",
          &String.pad_trailing(&1, 24)
        )
      )
    end
  end

  defp round(nodes, sessions, events, peers) do
    per = div(sessions, length(nodes))
    me = self()
    sinks = Enum.flat_map(nodes, fn n -> :erpc.call(n, Sink, :spawn_many, [per, events, me]) end)
    table = Fanout.new()

    {remote, _} =
      Enum.reduce(sinks, {Remote.new(), 0}, fn
        pid, {remote, slot} when node(pid) == node() -> Fanout.put(table, slot, pid) && {remote, slot + 1}
        pid, {remote, slot} -> {Remote.put(remote, slot, pid), slot + 1}
      end)

    everyone = Bitmap.from_list(Enum.to_list(0..(length(sinks) - 1)))
    payload = :binary.copy(<<1>>, 1024)
    sent_before = Enum.map(peers, &sent_to/1)
    t0 = System.os_time(:microsecond)

    for i <- 1..events do
      message = {:ev, i, System.os_time(:microsecond), payload}
      Fanout.send(table, everyone, message) + Remote.send(remote, everyone, message)
    end

    {last, delays} = collect(length(sinks), 0, [])
    # Counted once everything arrived, so nothing is still in a send buffer.
    dist = Enum.zip_with(Enum.map(peers, &sent_to/1), sent_before, &-/2) |> Enum.sum()
    sorted = Enum.sort(delays)

    %{
      rate: length(sinks) * events / max(last - t0, 1) * 1_000_000,
      p99_us: Bench.percentile(sorted, 99),
      dist_per_event: dist / events,
      remote_recipients: map_size(remote.pids)
    }
  end

  defp collect(0, last, delays), do: {last, delays}

  defp collect(n, last, delays) do
    receive do
      {:sink_done, _pid, at, ds} -> collect(n - 1, max(at, last), ds ++ delays)
    after
      60_000 -> raise "sinks did not finish within 60 s (#{n} left)"
    end
  end

  defp sent_to(node) do
    {:ok, info} = :net_kernel.node_info(node)
    info[:out]
  end

  defp f(x), do: :io_lib.format("~.2f", [x]) |> to_string()
end

Bench.ClusterScript.run(System.argv())
