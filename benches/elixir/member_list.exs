# mix bench member_list [ROUNDS]
#
# A guild of 1,000,000 members, 250,000 online, 50 hoisted roles, and 1,000
# subscribers on 100-row windows of its member list. Per presence change
# and per join, the guild-process time to update the list, compute every
# subscriber group's ops and encode them (JSON and ETF) once per group.
# Baseline in the same run: the same list as a sorted Elixir list with
# :ordsets (Discord's first approach), index found by a scan.

defmodule Bench.MemberListScript do
  alias Realtime.{Bench, ETF, JSON}
  alias Realtime.Guild.MemberList

  @members 1_000_000
  @online 250_000
  @roles 50
  @subscribers 1_000

  def run do
    :rand.seed(:exsss, 7)
    hoisted = Map.new(1..@roles, &{&1, &1})
    member = fn uid -> %{user_id: uid, roles: if(rem(uid, 10) == 0, do: [rem(uid, @roles) + 1], else: [])} end
    name = fn uid -> "user" <> Integer.to_string(:erlang.phash2(uid, 1_000_000_000)) end
    key = fn uid, online -> MemberList.key(member.(uid), name.(uid), hoisted, online) end

    {us, list} =
      :timer.tc(fn -> MemberList.from_members("everyone", for(uid <- 1..@members, do: {uid, key.(uid, uid <= @online)})) end)

    IO.puts("built a #{@members}-member list in #{Float.round(us / 1.0e6, 2)} s")

    # Subscribers mostly watch the top of the list: 1,000 of them over 20
    # windows, 3 windows each, in 50 distinct window sets.
    groups = for g <- 0..49, do: Enum.map([0, rem(g, 19) + 1, rem(g * 7, 19) + 1] |> Enum.uniq(), &(&1 * 100))
    windows = groups |> List.flatten() |> Enum.uniq()
    per_group = div(@subscribers, length(groups))
    # One window set in ten speaks ETF (the gateway encodes an update only
    # in the encodings its recipients read).
    etf_windows = groups |> Enum.take_every(10) |> List.flatten() |> MapSet.new()
    IO.puts("#{@subscribers} subscribers in #{length(groups)} window sets (#{per_group} each), #{length(windows)} distinct windows (#{MapSet.size(etf_windows)} with ETF subscribers), one update per touched window")

    render = fn
      {:group, rank, n} -> %{"group" => %{"id" => MemberList.group_id(rank, hoisted), "count" => n}}
      {:member, uid} -> %{"member" => %{"user" => %{"id" => Integer.to_string(uid)}, "roles" => [], "presence" => %{"status" => "online"}}}
    end

    op = fn
      {:insert, i, row} -> %{"op" => "INSERT", "index" => i, "item" => render.(row)}
      {:update, i, row} -> %{"op" => "UPDATE", "index" => i, "item" => render.(row)}
      {:delete, i} -> %{"op" => "DELETE", "index" => i}
    end

    change = fn list, uid, new_key ->
      {steps, list} = MemberList.put(list, uid, new_key, windows)

      for w <- windows do
        case MemberList.ops_for_window(steps, w) do
          [] -> :ok
          ops ->
            d = %{"guild_id" => "1", "id" => "everyone", "member_count" => @members, "online_count" => @online, "groups" => [], "ops" => Enum.map(ops, op)}
            {JSON.encode(d), if(w in etf_windows, do: ETF.encode(d))}
        end
      end

      list
    end

    # The list's set is a mutable resource, but its bookkeeping (keys, group
    # counts) is an immutable struct: thread it through the samples in the
    # process dictionary. Each sample toggles one member and toggles them
    # back, so the size stays fixed.
    Process.put(:list, list)

    step = fn uid, new_key ->
      Process.put(:list, change.(Process.get(:list), uid, new_key))
    end

    presence = fn i ->
      uid = rem(i * 7919, @members) + 1
      online = uid <= @online
      step.(uid, key.(uid, not online))
      step.(uid, key.(uid, online))
    end

    # Worst case: members at the very top (online, in the highest hoisted
    # role), whose moves shift every subscribed window.
    top = list.set |> Realtime.SortedSet.slice(0, 200) |> Enum.flat_map(fn {_, name, uid} when is_binary(name) -> [uid]; _ -> [] end)

    top_presence = fn i ->
      uid = Enum.at(top, rem(i, length(top)))
      step.(uid, key.(uid, false))
      step.(uid, key.(uid, true))
    end

    join = fn i ->
      uid = @members + 1 + rem(i, 1000)
      {_, l} = MemberList.remove(Process.get(:list), uid, windows)
      Process.put(:list, l)
      step.(uid, key.(uid, rem(i, 4) == 0))
    end

    # Baseline: an :ordsets list of the same keys.
    ordset = list.set |> Realtime.SortedSet.to_list() |> :ordsets.from_list()

    ordsets_change = fn _uid, old, new ->
      s = :ordsets.del_element(old, ordset)
      _ = Enum.find_index(s, &(&1 == new))
      :ordsets.add_element(new, s)
    end

    whole = [samples: 200, warmup_ms: 200, min_sample_us: 0]

    rounds = String.to_integer(List.first(System.argv()) || "5")

    Bench.rounds(
      "presence change (offline ↔ online, and back), per change incl. ops and encoding",
      {":ordsets list (scan for index)", fn i ->
        uid = rem(i * 7919, @members) + 1
        online = uid <= @online
        ordsets_change.(uid, key.(uid, online), key.(uid, not online))
      end},
      [
        {"MemberList on SortedSet (2 changes per sample)", presence},
        {"  same, members at the top of the list (worst case)", top_presence}
      ],
      rounds,
      Keyword.put(whole, :samples, 50)
    )

    # The worst case alone, sample by sample, for its tail: one sample is
    # one change (a move away from the top and back is two).
    times = for i <- 1..2_000, do: elem(:timer.tc(fn -> top_presence.(i) end), 0) / 2
    sorted = Enum.sort(times)
    IO.puts("\nworst case, per change over 2,000 samples: median #{Bench.fmt(Bench.percentile(sorted, 50) * 1000)}, p99 #{Bench.fmt(Bench.percentile(sorted, 99) * 1000)} (goal: p99 ≤ 50 µs)")

    Bench.rounds(
      "join (and leave, to keep the size)",
      {":ordsets list (scan for index)", fn i -> ordsets_change.(i, key.(@members + 1, false), key.(@members + 1 + rem(i, 1000), false)) end},
      [{"MemberList on SortedSet (leave + join per sample)", join}],
      rounds,
      Keyword.put(whole, :samples, 50)
    )
  end
end

Bench.MemberListScript.run()
