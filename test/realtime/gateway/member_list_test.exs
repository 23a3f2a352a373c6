defmodule Realtime.Gateway.MemberListTest do
  use Realtime.Test.GatewayCase, async: false

  alias Realtime.{Directory, Fanout, Guild}
  alias Realtime.Test.TermGen

  @ada 1_200_000_000_000_000_001
  @first_generated 1_300_000_000_000_000_001
  @hoisted_roles [1_100_000_000_000_000_011, 1_100_000_000_000_000_012, 1_100_000_000_000_000_013]
  @windows [0, 100, 500]

  # The list of #general computed from scratch from the guild's state.
  defp truth do
    state = :sys.get_state(guild_pid(@hq))
    hoisted = for {id, r} <- state.guild.roles, r.hoist, into: %{}, do: {id, r.position}

    keys =
      for {uid, m} <- state.guild.members do
        {:ok, u} = Directory.user(uid)
        online = Realtime.Guild.Presence.online?(state, uid)
        ranks = for r <- m.roles, p = hoisted[r], do: -p
        rank = if online, do: Enum.min(ranks, fn -> :online end), else: :offline
        {rank, m.nick || u.global_name || u.username, uid}
      end

    keys
    |> Enum.sort_by(fn {rank, name, uid} -> {group_order(rank), name, uid} end)
    |> Enum.chunk_by(&elem(&1, 0))
    |> Enum.flat_map(fn [{rank, _, _} | _] = group ->
      [{"group", group_id(rank, hoisted), length(group)} | Enum.map(group, fn {_, _, uid} -> {"member", to_string(uid)} end)]
    end)
  end

  # Hoisted roles (highest position first), then online, then offline.
  defp group_order(:online), do: {1, 0}
  defp group_order(:offline), do: {2, 0}
  defp group_order(rank), do: {0, rank}

  defp group_id(:online, _), do: "online"
  defp group_id(:offline, _), do: "offline"
  defp group_id(rank, hoisted), do: Enum.find_value(hoisted, fn {r, p} -> if -p == rank, do: to_string(r) end)

  defp row(%{"group" => %{"id" => id, "count" => n}}), do: {"group", id, n}
  defp row(%{"member" => %{"user" => %{"id" => id}}}), do: {"member", id}

  defp apply_ops(copies, ops) do
    Enum.reduce(ops, copies, fn op, copies ->
      case op do
        %{"op" => "SYNC", "range" => [s, _], "items" => items} -> Map.put(copies, s, Enum.map(items, &row/1))
        %{"op" => "INVALIDATE", "range" => [s, _]} -> Map.delete(copies, s)
        %{"op" => "INSERT", "index" => i, "item" => item} -> in_window(copies, i, &(&1 |> List.insert_at(&2, row(item)) |> Enum.take(100)))
        %{"op" => "UPDATE", "index" => i, "item" => item} -> in_window(copies, i, &List.replace_at(&1, &2, row(item)))
        %{"op" => "DELETE", "index" => i} -> in_window(copies, i, &List.delete_at(&1, &2))
      end
    end)
  end

  defp in_window(copies, i, fun) do
    s = div(i, 100) * 100
    Map.update!(copies, s, &fun.(&1, i - s))
  end

  # Everything the gateway sent in answer to what we did so far. A first
  # heartbeat's ACK proves the socket read our frames; then each hop is
  # flushed in order (session, guild, fanout, session again); a second ACK
  # comes back behind whatever the socket was sent.
  defp drain(c, session) do
    Client.send_frame(c, 1, nil)
    first = collect(c, [])
    :sys.get_state(session)
    :sys.get_state(guild_pid(@hq))
    Fanout.sync()
    :sys.get_state(session)
    Client.send_frame(c, 1, nil)
    first ++ collect(c, [])
  end

  defp collect(c, acc) do
    case Client.recv(c) do
      {:frame, %{"op" => 11}} -> Enum.reverse(acc)
      {:frame, %{"t" => "GUILD_MEMBER_LIST_UPDATE", "d" => d}} -> collect(c, [d | acc])
      {:frame, _} -> collect(c, acc)
    end
  end

  test "a client applying every GUILD_MEMBER_LIST_UPDATE keeps exactly the server's rows", %{port: port} do
    # Each step is fenced with a heartbeat: lift the frame limit for this test.
    Application.put_env(:realtime, :rate_limit, {10_000, 60_000})
    on_exit(fn -> Application.delete_env(:realtime, :rate_limit) end)
    # The random changes are undone afterwards.
    on_exit(fn -> restore_guild(@hq) end)
    # Sessions left by earlier tests would change who is online mid-test.
    assert no_sessions?()
    c = Client.connect(port)
    ready = Client.identify(c, @demo)
    for _ <- 1..2, do: Client.await_dispatch(c, "GUILD_CREATE")
    [{session, _}] = Registry.lookup(Realtime.Gateway.SessionRegistry, ready["d"]["session_id"])

    Client.send_frame(c, 14, %{"guild_id" => to_string(@hq), "channels" => %{to_string(@general) => [[0, 199], [500, 599]]}})
    copies = c |> drain(session) |> Enum.flat_map(& &1["ops"]) |> then(&apply_ops(%{}, &1))
    assert Map.keys(copies) |> Enum.sort() == @windows
    check(copies, "after SYNC")

    seed = TermGen.seed()

    Enum.reduce(1..300, {TermGen.new(seed), copies}, fn step, {st, copies} ->
      where = "seed #{seed}, step #{step} (rerun with SEED=#{seed})"
      {i, st} = TermGen.int(st, 1200)
      uid = @first_generated + i
      {what, st} = TermGen.int(st, 5)

      st =
        case what do
          0 ->
            {status, st} = TermGen.pick(st, ["online", "idle", "offline"])
            Guild.update_presence(guild_pid(@hq), uid, %{"status" => status, "activities" => []})
            st

          1 ->
            {nick, st} = TermGen.pick(st, [nil, "aaa", "Zed", "mid", "member5"])
            Guild.update_member(guild_pid(@hq), @ada, uid, %{nick: nick})
            st

          2 ->
            {roles, st} = TermGen.pick(st, [[] | Enum.map(@hoisted_roles, &[&1])])
            Guild.update_member(guild_pid(@hq), @ada, uid, %{roles: roles})
            st

          _ ->
            case Guild.remove_member(guild_pid(@hq), @ada, uid) do
              :ok -> :ok
              {:error, :unknown_member} -> {:ok, _} = Guild.add_member(guild_pid(@hq), uid)
            end

            st
        end

      updates = drain(c, session)
      assert Enum.all?(updates, &(&1["id"] == "everyone" and is_integer(&1["member_count"]))), where
      copies = apply_ops(copies, Enum.flat_map(updates, & &1["ops"]))
      check(copies, where)
      {st, copies}
    end)
  end

  defp no_sessions?(tries \\ 200) do
    cond do
      DynamicSupervisor.count_children(Realtime.Gateway.SessionSupervisor).active == 0 -> true
      tries == 0 -> false
      true -> Process.sleep(20) && no_sessions?(tries - 1)
    end
  end

  defp check(copies, where) do
    t = truth()

    for {s, rows} <- copies do
      assert rows == Enum.slice(t, s, 100), "#{where}, window #{s}"
    end
  end

  test "limits: unknown channels and extra ranges are ignored; dropped ranges are invalidated", %{port: port} do
    c = Client.connect(port)
    ready = Client.identify(c, @demo)
    for _ <- 1..2, do: Client.await_dispatch(c, "GUILD_CREATE")
    [{session, _}] = Registry.lookup(Realtime.Gateway.SessionRegistry, ready["d"]["session_id"])

    Client.send_frame(c, 14, %{"guild_id" => to_string(@hq), "channels" => %{"42" => [[0, 99]], to_string(@general) => [[0, 99], [100, 199], [200, 299], [300, 399]]}})
    updates = drain(c, session)
    assert range_ops(updates) == [{"SYNC", [0, 99]}, {"SYNC", [100, 199]}, {"SYNC", [200, 299]}]
    assert Enum.all?(updates, &(Enum.sum(Enum.map(&1["groups"], fn g -> g["count"] end)) == &1["member_count"]))

    Client.send_frame(c, 14, %{"guild_id" => to_string(@hq), "channels" => %{to_string(@general) => [[0, 99]]}})
    assert Enum.sort(range_ops(drain(c, session))) == [{"INVALIDATE", [100, 199]}, {"INVALIDATE", [200, 299]}]

    # Garbage subscriptions are ignored; the guild and the connection go on.
    guild = guild_pid(@hq)
    Client.send_frame(c, 14, %{"guild_id" => to_string(@hq), "channels" => %{to_string(@general) => "nope"}})
    Client.send_frame(c, 37, %{"subscriptions" => %{to_string(@hq) => %{"channels" => %{to_string(@staff) => [[-5, "x"]]}}}})
    Client.send_frame(c, 37, %{"subscriptions" => %{to_string(@hq) => %{"channels" => %{to_string(@general) => [[0, 99], [300, 399]]}}}})
    assert range_ops(drain(c, session)) == [{"SYNC", [300, 399]}]
    assert guild_pid(@hq) == guild
  end

  # SYNC and INVALIDATE ops, leaving out row ops that other connections
  # coming and going (online status) may cause meanwhile.
  defp range_ops(updates) do
    for u <- updates, %{"op" => op, "range" => range} <- u["ops"], op in ["SYNC", "INVALIDATE"], do: {op, range}
  end
end
