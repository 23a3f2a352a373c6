defmodule Realtime.Guild.AudienceTest do
  use ExUnit.Case, async: true
  import Bitwise

  alias Realtime.Guild.{Audience, Permissions}
  alias Realtime.Test.TermGen

  @view 1 <<< 10

  # A random guild: members with random roles; channels with random
  # overwrites for roles and members.
  defp guild(st) do
    gid = 1_000
    roles = [gid | Enum.to_list(2_001..2_006)]
    {members, st} =
      Enum.map_reduce(1..300, st, fn uid, st ->
        {mask, st} = TermGen.int(st, 64)
        {{uid, %{user_id: uid, roles: for({r, i} <- Enum.with_index(tl(roles)), (mask >>> i &&& 1) == 1, do: r), nick: nil}}, st}
      end)

    {role_perms, st} = Enum.map_reduce(roles, st, fn r, st -> {p, st} = TermGen.int(st, 3); {{r, %{id: r, permissions: if(p == 0, do: 0, else: @view), position: 0}}, st} end)

    {channels, st} =
      Enum.map_reduce(1..4, st, fn c, st ->
        {n, st} = TermGen.int(st, 4)
        {ows, st} =
          Enum.map_reduce(1..n, st, fn _, st ->
            {pick, st} = TermGen.int(st, 2)
            {id, st} = if pick == 0, do: TermGen.pick(st, roles), else: TermGen.int(st, 300) |> then(fn {i, st} -> {i + 1, st} end)
            {allow?, st} = TermGen.int(st, 2)
            {%{id: id, type: pick, allow: if(allow? == 1, do: @view, else: 0), deny: if(allow? == 1, do: 0, else: @view)}, st}
          end)

        {{c, %{id: c, permission_overwrites: ows}}, st}
      end)

    {%{id: gid, owner_id: 999_999, roles: Map.new(role_perms), members: Map.new(members), channels: Map.new(channels)}, st}
  end

  test "push targets are the mentioned, visible, offline members, as a per-member model says (seeded)" do
    seed = TermGen.seed()

    Enum.reduce(1..40, TermGen.new(seed), fn round, st ->
      {g, st} = guild(st)
      {online, st} = Enum.map_reduce(1..60, st, fn _, st -> TermGen.int(st, 300) |> then(fn {i, st} -> {i + 1, st} end) end)
      a = Enum.reduce(online, Audience.new(g), &Audience.session_up(&2, &1))
      # One of them goes away again.
      a = Audience.session_down(a, hd(online))
      online = MapSet.new(online) |> then(fn s -> if Enum.count(online, &(&1 == hd(online))) > 1, do: s, else: MapSet.delete(s, hd(online)) end)
      {users, st} = Enum.map_reduce(1..10, st, fn _, st -> TermGen.int(st, 320) end)
      {role, st} = TermGen.pick(st, Map.keys(g.roles))
      {everyone, st} = TermGen.int(st, 4)
      mentions = %{users: users, roles: [role], everyone: everyone == 0}
      {channel, st} = TermGen.pick(st, Map.keys(g.channels))

      model =
        for {uid, m} <- g.members,
            mentions.everyone or uid in users or role in m.roles,
            Permissions.has?(Permissions.in_channel(g, m, g.channels[channel]), @view),
            not MapSet.member?(online, uid),
            do: uid

      {got, capped} = Audience.push_targets(a, channel, mentions, 1_000)
      assert Enum.sort(got) == Enum.sort(model), "seed #{seed}, round #{round}"
      assert capped == 0
      {few, capped} = Audience.push_targets(a, channel, mentions, 3)
      assert length(few) == min(3, length(model)) and capped == max(length(model) - 3, 0), "seed #{seed}, round #{round}"
      st
    end)
  end

  test "one member's change updates the bitmaps as a rebuild would (seeded)" do
    seed = TermGen.seed()

    Enum.reduce(1..20, TermGen.new(seed), fn round, st ->
      {g, st} = guild(st)
      a = Audience.new(g)

      # Members leave, change roles, and join.
      {g, a, st} =
        Enum.reduce(1..30, {g, a, st}, fn _, {g, a, st} ->
          {uid, st} = TermGen.int(st, 320)
          {what, st} = TermGen.int(st, 3)
          {roles, st} = TermGen.int(st, 64)
          role_ids = for {r, i} <- Enum.with_index(Enum.to_list(2_001..2_006)), (roles >>> i &&& 1) == 1, do: r
          members = if what == 0, do: Map.delete(g.members, uid + 1), else: Map.put(g.members, uid + 1, %{user_id: uid + 1, roles: role_ids, nick: nil})
          g = %{g | members: members}
          {g, Audience.member_changed(a, g, uid + 1), st}
        end)

      fresh = Audience.new(g)
      for channel <- Map.keys(g.channels), role <- Map.keys(g.roles), everyone <- [true, false] do
        mentions = %{users: Enum.to_list(1..320), roles: [role], everyone: everyone}
        {got, _} = Audience.push_targets(a, channel, mentions, 1_000)
        {want, _} = Audience.push_targets(fresh, channel, mentions, 1_000)
        assert Enum.sort(got) == Enum.sort(want), "seed #{seed}, round #{round}"
      end

      st
    end)
  end

  test "a guild that does not push has no audience, and no targets" do
    assert Audience.rebuild(nil, %{}) == nil
    assert nil |> Audience.session_up(1) |> Audience.member_changed(%{}, 1) == nil
    assert Audience.push_targets(nil, 1, %{users: [1], roles: [], everyone: true}, 10) == {[], 0}
  end
end
